//! Seeds a database with users and real tokens (5 per user, every tenth revoked).
//!
//! ```sh
//! cargo run --release -p pat-store-diesel --example seed -- sqlite://target/seed.db 1000000
//! ```
//!
//! Tokens are hashed with the fixed key `SEED_KEY` (32 bytes of 0x5e); their secrets
//! are recomputable with `pat_testkit::seed::secret(codec, 1, index)`.

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
    let store = pat_store_diesel::connect(&url)?;
    store.migrate().await?;
    let started = Instant::now();
    let codec = TokenCodec::default();
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
