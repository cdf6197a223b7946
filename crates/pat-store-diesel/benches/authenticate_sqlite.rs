//! `authenticate` against SQLite with 1,000 and with 1,000,000 tokens stored: the
//! cost must stay flat (an indexed lookup, not a scan).
//!
//! Run: `cargo bench -p pat-store-diesel --bench authenticate_sqlite`
//! (seeds `target/bench-data/sqlite-{1k,1m}.db` once; later runs reuse them).

#![allow(clippy::unwrap_used)] // a benchmark's set-up fails loudly

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use pat_core::ports::ManualClock;
use pat_core::ports::RecordingNotifier;
use pat_core::token::{ServerKey, TokenHasher};
use pat_core::{PatService, TokenCodec};
use pat_testkit::seed::{REVOKED_EVERY, SeedPlan, generate, secret};

const KEY: [u8; 32] = [0x5e; 32];
const SEED: u64 = 1;

fn database(
    runtime: &tokio::runtime::Runtime,
    tokens: usize,
    label: &str,
) -> pat_store_diesel::DieselStore {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(format!("sqlite-{label}.db"));
    let fresh = !path.exists();
    let store = pat_store_diesel::connect(&format!("sqlite://{}", path.display())).unwrap();
    runtime.block_on(async {
        store.migrate().await.unwrap();
        if fresh {
            let hasher = TokenHasher::new(&ServerKey::new(KEY.to_vec()).unwrap(), &[]);
            let plan = SeedPlan {
                users: tokens / 5,
                tokens_per_user: 5,
                now: start(),
                seed: SEED,
            };
            let seed = generate(plan, &TokenCodec::default(), &hasher);
            store.import(seed.users, seed.tokens).await.unwrap();
        }
    });
    store
}

fn start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
}

fn service(store: &pat_store_diesel::DieselStore) -> PatService {
    PatService::builder()
        .storage(store.storage())
        .notifier(Arc::new(RecordingNotifier::default()))
        .clock(Arc::new(ManualClock::new(
            start() + chrono::Duration::hours(1),
        )))
        .rng(rand::rngs::SysRng)
        .server_key(ServerKey::new(KEY.to_vec()).unwrap())
        .build()
        .unwrap()
}

/// 1,024 active tokens spread evenly over the data set.
fn secrets(tokens: usize) -> Vec<String> {
    let codec = TokenCodec::default();
    (0..1024)
        .map(|i| i * (tokens / 1024))
        .map(|index| {
            if index % REVOKED_EVERY == REVOKED_EVERY - 1 {
                index - 1
            } else {
                index
            }
        })
        .map(|index| secret(&codec, SEED, index).expose().to_owned())
        .collect()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("authenticate_sqlite");
    // The floor under any blocking database call: one hop to the blocking pool and back.
    group.bench_function("spawn_blocking_round_trip", |b| {
        b.iter(|| runtime.block_on(async { tokio::task::spawn_blocking(|| ()).await.unwrap() }))
    });
    for (tokens, label) in [(1_000, "1k"), (1_000_000, "1m")] {
        let store = database(&runtime, tokens, label);
        let service = service(&store);
        let secrets = secrets(tokens);
        runtime.block_on(async {
            for s in &secrets {
                service
                    .authenticate(s, None)
                    .await
                    .expect("seeded tokens authenticate");
            }
        });
        let mut next = 0;
        group.bench_function(label, |b| {
            b.iter(|| {
                next = (next + 1) % secrets.len();
                runtime
                    .block_on(service.authenticate(&secrets[next], None))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
