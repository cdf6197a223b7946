//! `authenticate` (parse + HMAC + in-memory lookup + checks) against one bare
//! HMAC-SHA256 of the same token string, in the same run; and a previous secret during
//! its grace period (found in the secret history after the current secrets miss).
//!
//! Run: `cargo bench -p pat-core --bench authenticate`

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::hint::black_box;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use pat_core::cache::{CacheLimits, Freshness, VerificationCache};
use pat_core::model::{Actor, Role};
use pat_core::ports::ManualClock;
use pat_core::ports::RecordingNotifier;
use pat_core::{CreateTokenRequest, NewUser, PatService, ServerKey};
use pat_store_memory::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::Sha256;

const KEY: [u8; 32] = [42; 32];

/// Polls a future that the in-memory store completes at once, without an executor's
/// overhead in the figure.
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the in-memory store never waits"),
    }
}

/// A service over `store`; with `cached`, the verification cache in front of it.
fn service(store: &Arc<MemoryStore>, cached: bool) -> PatService {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    let mut builder = PatService::builder()
        .storage(pat_core::ports::Storage::from_store(store.clone()))
        .notifier(Arc::new(RecordingNotifier::default()))
        .clock(Arc::new(ManualClock::new(start)))
        .rng(StdRng::seed_from_u64(1))
        .server_key(ServerKey::new(KEY.to_vec()).expect("key"));
    if cached {
        builder = builder.verification_cache(Arc::new(VerificationCache::new(
            CacheLimits::default(),
            Freshness::Local,
        )));
    }
    builder.build().expect("service")
}

fn bench(c: &mut Criterion) {
    let store = Arc::new(MemoryStore::new());
    let plain = service(&store, false);
    // Many users each at the active limit, so the lookup is not in a tiny map.
    let mut secret = String::new();
    for u in 0..2_000 {
        let user = ready(plain.create_user(
            None,
            NewUser {
                email: format!("user{u}@example.com"),
                name: format!("User {u}"),
                role: Role::Member,
            },
            None,
        ))
        .expect("user");
        let actor = Actor::session(user, None);
        for t in 0..5 {
            let issued = ready(plain.create_token(
                &actor,
                CreateTokenRequest {
                    name: format!("t{t}"),
                    expires_in_days: 90,
                    scopes: vec!["jobs:list".into(), "channels:publish:c1,c2".into()],
                    ..Default::default()
                },
            ))
            .expect("token");
            secret = issued.secret.expose().to_owned();
        }
    }
    ready(plain.authenticate(&secret, None)).expect("the token authenticates");
    // One more token regenerated with a grace period: its previous secret is found in
    // the secret history, read only when the current secrets miss.
    let rotating = ready(plain.create_user(
        None,
        NewUser {
            email: "rotating@example.com".to_owned(),
            name: "Rotating".to_owned(),
            role: Role::Member,
        },
        None,
    ))
    .expect("user");
    let rotating = Actor::session(rotating, None);
    let before = ready(plain.create_token(
        &rotating,
        CreateTokenRequest {
            name: "rotating".to_owned(),
            expires_in_days: 90,
            scopes: vec!["jobs:list".into()],
            ..Default::default()
        },
    ))
    .expect("token");
    ready(plain.regenerate_token(&rotating, before.token.id, 90, Some(60))).expect("regenerated");
    let previous = before.secret.expose().to_owned();
    assert_eq!(
        ready(plain.authenticate(&previous, None))
            .expect("works in its grace")
            .generation,
        1
    );
    let cached = service(&store, true);
    let service = plain;
    ready(cached.authenticate(&secret, None)).expect("the token authenticates");

    let mut group = c.benchmark_group("verify");
    group.bench_function("hmac_sha256_bare", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(black_box(&KEY)).expect("any key length");
            mac.update(black_box(secret.as_bytes()));
            black_box(mac.finalize().into_bytes())
        })
    });
    let prekeyed = Hmac::<Sha256>::new_from_slice(&KEY).expect("any key length");
    group.bench_function("hmac_sha256_prekeyed", |b| {
        b.iter(|| {
            let mut mac = prekeyed.clone();
            mac.update(black_box(secret.as_bytes()));
            black_box(mac.finalize().into_bytes())
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| black_box(service.codec().parse(black_box(&secret)).is_ok()))
    });
    group.bench_function("authenticate_memory_10k", |b| {
        b.iter(|| black_box(ready(service.authenticate(black_box(&secret), None)).is_ok()))
    });
    // The default in patd: the verification cache answers a token checked before.
    group.bench_function("authenticate_cached", |b| {
        b.iter(|| black_box(ready(cached.authenticate(black_box(&secret), None)).is_ok()))
    });
    // A previous secret in its grace period: a current-secret miss, then the history.
    group.bench_function("authenticate_previous_secret_memory", |b| {
        b.iter(|| black_box(ready(service.authenticate(black_box(&previous), None)).is_ok()))
    });
    group.bench_function("authenticate_previous_secret_cached", |b| {
        b.iter(|| black_box(ready(cached.authenticate(black_box(&previous), None)).is_ok()))
    });
    // Issue 20's per-request rule: is the client in the token's allowlist? The worst
    // case: 20 ranges, the address in none of them.
    let ranges: Vec<String> = (0..20).map(|i| format!("10.{i}.0.0/16")).collect();
    let allowlist = pat_core::allowlist::IpAllowlist::parse(&ranges).expect("ranges");
    let outside: std::net::IpAddr = "192.0.2.1".parse().expect("address");
    group.bench_function("allowlist_20_ranges_miss", |b| {
        b.iter(|| black_box(allowlist.allows(black_box(outside))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
