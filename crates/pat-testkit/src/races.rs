//! Concurrency checks: the limit and uniqueness checks of
//! [`TokenStore`](pat_core::ports::TokenStore) are atomic with their writes.
//!
//! They spawn tokio tasks, so they need a tokio runtime (multi-threaded to race for
//! real, as [`conformance_suite!`](crate::conformance_suite) provides).

use std::sync::Arc;

use chrono::Duration;
use pat_core::model::{Role, StatusFilter};
use pat_core::ports::{Journal, StoreError};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::Stores;
use crate::fixtures::{base_time, regeneration, token, user};
use crate::support::{ROOMY_LIMIT, insert, list, page, query, revoke_as_owner};

/// Simultaneous callers per race.
const RACERS: usize = 120;

/// Waits for every task; counts successes and the errors `refusal` accepts, and
/// panics on any other outcome.
async fn tally<T: std::fmt::Debug>(
    handles: Vec<JoinHandle<Result<T, StoreError>>>,
    refusal: &StoreError,
    what: &str,
) -> (usize, usize) {
    let (mut won, mut refused) = (0, 0);
    for handle in handles {
        match handle.await.expect("a racing task panicked") {
            Ok(_) => won += 1,
            Err(e) if e == *refusal => refused += 1,
            Err(e) => panic!("{what}: expected Ok or {refusal:?}, got {e:?}"),
        }
    }
    (won, refused)
}

/// 120 simultaneous inserts of differently named tokens for one owner at limit 5:
/// exactly 5 succeed, the rest get `ActiveLimit { limit: 5 }`.
pub async fn concurrent_creates_respect_active_limit(stores: Stores) {
    const LIMIT: u32 = 5;
    let owner = user(&stores, Role::Member).await;
    let now = base_time();
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles = (0..RACERS)
        .map(|i| {
            let tokens = Arc::clone(&stores.tokens);
            let barrier = Arc::clone(&barrier);
            let t = token(owner.id, &format!("racer {i}"), now, Duration::days(30));
            tokio::spawn(async move {
                barrier.wait().await;
                tokens.insert(&t, LIMIT, now, &Journal::default()).await
            })
        })
        .collect();
    let (won, refused) = tally(
        handles,
        &StoreError::ActiveLimit { limit: LIMIT },
        "racing insert",
    )
    .await;
    assert_eq!(
        (won, refused),
        (LIMIT as usize, RACERS - LIMIT as usize),
        "of {RACERS} simultaneous inserts at limit {LIMIT}, exactly {LIMIT} must succeed"
    );
    let count = stores
        .tokens
        .count_active(owner.id, now)
        .await
        .expect("count_active must succeed");
    assert_eq!(count, u64::from(LIMIT), "count_active after the race");
    let listed = list(
        &stores,
        &query(owner.id, StatusFilter::All, None, now, page(1, 100)),
    )
    .await;
    assert_eq!(
        listed.total_items,
        u64::from(LIMIT),
        "only the winners are stored"
    );
}

/// 120 simultaneous inserts of one name in different cases: exactly one succeeds, the
/// rest get `DuplicateName`.
pub async fn concurrent_creates_with_one_name_admit_one(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let now = base_time();
    let barrier = Arc::new(Barrier::new(RACERS));
    let handles = (0..RACERS)
        .map(|i| {
            let tokens = Arc::clone(&stores.tokens);
            let barrier = Arc::clone(&barrier);
            // Each racer writes "deploy" with its own pattern of capitals.
            let name: String = "deploy"
                .chars()
                .enumerate()
                .map(|(bit, c)| {
                    if i & (1 << bit) == 0 {
                        c
                    } else {
                        c.to_ascii_uppercase()
                    }
                })
                .collect();
            let t = token(owner.id, &name, now, Duration::days(30));
            tokio::spawn(async move {
                barrier.wait().await;
                tokens
                    .insert(&t, ROOMY_LIMIT, now, &Journal::default())
                    .await
            })
        })
        .collect();
    let (won, refused) = tally(
        handles,
        &StoreError::DuplicateName,
        "racing insert of one name",
    )
    .await;
    assert_eq!(
        (won, refused),
        (1, RACERS - 1),
        "of {RACERS} simultaneous inserts of one name, exactly one must succeed"
    );
    let listed = list(
        &stores,
        &query(owner.id, StatusFilter::All, None, now, page(1, 100)),
    )
    .await;
    assert_eq!(listed.total_items, 1, "only the winner is stored");
}

/// 2 active and 40 revoked tokens, all 40 regenerated at once at limit 5: exactly 3
/// succeed, the rest get `ActiveLimit { limit: 5 }`.
pub async fn concurrent_regenerations_respect_active_limit(stores: Stores) {
    const LIMIT: u32 = 5;
    const REVOKED: usize = 40;
    let owner = user(&stores, Role::Member).await;
    let now = base_time() + Duration::hours(1);
    for i in 0..2 {
        insert(
            &stores,
            &token(
                owner.id,
                &format!("active {i}"),
                base_time(),
                Duration::days(30),
            ),
        )
        .await;
    }
    let mut revoked = Vec::with_capacity(REVOKED);
    for i in 0..REVOKED {
        let t = token(
            owner.id,
            &format!("revoked {i}"),
            base_time(),
            Duration::days(30),
        );
        insert(&stores, &t).await;
        revoke_as_owner(&stores, t.id, base_time()).await;
        revoked.push(t.id);
    }

    let barrier = Arc::new(Barrier::new(REVOKED));
    let handles = revoked
        .iter()
        .map(|&id| {
            let tokens = Arc::clone(&stores.tokens);
            let barrier = Arc::clone(&barrier);
            let new = regeneration(id, now, Duration::days(30));
            tokio::spawn(async move {
                barrier.wait().await;
                tokens
                    .regenerate(&new, LIMIT, now, &Journal::default())
                    .await
            })
        })
        .collect();
    let (won, refused) = tally(
        handles,
        &StoreError::ActiveLimit { limit: LIMIT },
        "racing regenerate",
    )
    .await;
    assert_eq!(
        (won, refused),
        (3, REVOKED - 3),
        "with 2 active tokens, {REVOKED} simultaneous regenerations at limit {LIMIT} must let exactly 3 through"
    );
    let count = stores
        .tokens
        .count_active(owner.id, now)
        .await
        .expect("count_active must succeed");
    assert_eq!(count, u64::from(LIMIT), "count_active after the race");
}
