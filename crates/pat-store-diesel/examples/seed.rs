//! Seeds a database with users and real tokens (5 per user, every tenth revoked).
//!
//! ```sh
//! cargo run --release -p pat-store-diesel --example seed -- sqlite://target/seed.db 1000000
//! ```
//!
//! Tokens are hashed with the fixed key `SEED_KEY` (32 bytes of 0x5e; start patd with
//! `PATD_TOKEN_KEY=Xl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl5eXl4=`); their secrets are
//! recomputable with `pat_testkit::seed::secret(codec, 1, index)`.
//!
//! With a third argument, also writes that file: 10,000 `Authorization` values for a
//! load test, one per line, mixed as traffic is — 70 % valid, 10 % revoked, 10 % unknown
//! (well-formed, never issued) and 10 % malformed (bad checksum) — spread over the whole
//! data set so lookups are not all cache-hot. With `--only-mix`, seeding is skipped.

use std::fmt::Write as _;
use std::time::Instant;

use pat_core::TokenCodec;
use pat_core::token::{ServerKey, TokenHasher};
use pat_testkit::seed::{SeedPlan, generate};

/// The key seeded tokens are hashed with.
const SEED_KEY: [u8; 32] = [0x5e; 32];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: seed <database-url> <tokens>")?;
    let tokens: usize = args
        .next()
        .ok_or("usage: seed <database-url> <tokens>")?
        .parse()?;
    let mix_file = args.next();
    let only_mix = args.next().as_deref() == Some("--only-mix");
    let codec = TokenCodec::default();
    if let Some(path) = &mix_file {
        std::fs::write(path, traffic_mix(&codec, tokens))?;
        println!("wrote 10000 Authorization values to {path}");
    }
    if only_mix {
        return Ok(());
    }
    let store = pat_store_diesel::connect(&url)?;
    store.migrate().await?;
    let started = Instant::now();
    let hasher = TokenHasher::new(&ServerKey::new(SEED_KEY.to_vec())?, &[]);
    let plan = SeedPlan {
        users: tokens.div_ceil(5),
        tokens_per_user: 5,
        now: chrono::Utc::now(),
        seed: 1,
    };
    let seed = generate(plan, &codec, &hasher);
    let generated = started.elapsed();
    let count = seed.tokens.len();
    store.import(seed.users, seed.tokens).await?;
    println!(
        "seeded {count} tokens into {url} in {:.1} s ({:.1} s generating, {:.1} s inserting)",
        started.elapsed().as_secs_f64(),
        generated.as_secs_f64(),
        (started.elapsed() - generated).as_secs_f64()
    );
    Ok(())
}

/// The load-test mix over a data set of `tokens` seeded tokens (see the module docs).
fn traffic_mix(codec: &TokenCodec, tokens: usize) -> String {
    const LINES: usize = 10_000;
    let mut out = String::with_capacity(LINES * 64);
    for line in 0..LINES {
        // A spread of indexes over the whole data set (a large odd stride).
        let index = (line.wrapping_mul(7_919_993)) % tokens;
        let value = match line % 10 {
            0 => {
                // Revoked: every tenth seeded token (index % 10 == 9) is revoked.
                let revoked = index - index % 10 + 9;
                let revoked = if revoked < tokens { revoked } else { 9 };
                pat_testkit::seed::secret(codec, 1, revoked)
                    .expose()
                    .to_owned()
            }
            1 => pat_testkit::seed::secret(codec, 2, index)
                .expose()
                .to_owned(),
            2 => {
                let mut bad = pat_testkit::seed::secret(codec, 1, index)
                    .expose()
                    .to_owned();
                let last = if bad.ends_with('A') { 'B' } else { 'A' };
                bad.pop();
                bad.push(last);
                bad
            }
            _ => {
                let valid = if index % 10 == 9 { index - 1 } else { index };
                pat_testkit::seed::secret(codec, 1, valid)
                    .expose()
                    .to_owned()
            }
        };
        let _ = writeln!(out, "Bearer {value}");
    }
    out
}
