//! The change watcher against real databases: a change committed through another pool
//! (another process, as far as the database can tell) empties the cache; a write that
//! changes no answer (a last use) does not; a killed watcher connection bypasses the
//! cache until the watcher is back; a stopped watcher leaves the cache bypassed.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use pat_core::cache::{CacheLimits, Cached, Freshness, VerificationCache};
use pat_core::policy::Settings;
use pat_core::ports::Journal;
use pat_core::token::SecretHash;
use pat_store_diesel::DieselStore;
use pat_store_diesel::watch::{WATCHER_NAME, WatchOptions};

const OPTIONS: WatchOptions = WatchOptions {
    poll: Duration::from_millis(2),
    bound: Duration::from_millis(400),
};

fn watched_cache() -> Arc<VerificationCache> {
    Arc::new(VerificationCache::new(
        CacheLimits::default(),
        Freshness::Watched,
    ))
}

/// Waits (at most 10 s) until `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in 10 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Keeps an answer for a made-up hash, so a change can be seen to drop it.
fn keep_one(cache: &VerificationCache) -> SecretHash {
    let hash = SecretHash::from_bytes([7; 32]);
    let Cached::Miss { epoch } = cache.get(&hash) else {
        panic!("a fresh cache misses");
    };
    cache.put(hash, None, false, epoch);
    assert_eq!(cache.get(&hash), Cached::Hit(None));
    hash
}

async fn changes_elsewhere_empty_the_cache(watched: DieselStore, other: DieselStore) {
    let cache = watched_cache();
    let watcher = watched.watch_changes(cache.clone(), OPTIONS).unwrap();
    eventually("the first confirmation", || cache.is_fresh());

    let hash = keep_one(&cache);
    // A last use changes no answer: the cache keeps what it has.
    let stores = other.storage();
    let _ = stores
        .tokens
        .record_use(
            pat_core::model::TokenId(uuid_like()),
            Utc::now(),
            None,
            Utc::now(),
        )
        .await;
    std::thread::sleep(OPTIONS.poll * 20);
    assert_eq!(cache.get(&hash), Cached::Hit(None), "no change, no drop");

    // A change through the other pool: the watcher sees it.
    stores
        .settings
        .put(&Settings::default(), &Journal::default())
        .await
        .unwrap();
    eventually("the other pool's change reaching the cache", || {
        matches!(cache.get(&hash), Cached::Miss { .. })
    });

    drop(watcher);
    assert_eq!(
        cache.get(&hash),
        Cached::Bypass,
        "a stopped watcher vouches for nothing"
    );
}

fn uuid_like() -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
}

/// Two pools on the database at `url` (migrated), as two processes would have.
async fn two_pools(url: &str) -> (DieselStore, DieselStore) {
    let watched = pat_store_diesel::connect(url).unwrap();
    watched.migrate().await.unwrap();
    (watched, pat_store_diesel::connect(url).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changes_by_another_connection_empty_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("watch.db").display());
    let (watched, other) = two_pools(&url).await;
    changes_elsewhere_empty_the_cache(watched, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn postgres_changes_by_another_connection_empty_the_cache() {
    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let (watched, other) = two_pools(&url).await;
    changes_elsewhere_empty_the_cache(watched, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn postgres_a_killed_watcher_bypasses_the_cache_until_it_is_back() {
    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let store = pat_store_diesel::connect(&url).unwrap();
    store.migrate().await.unwrap();
    let cache = watched_cache();
    let _watcher = store.watch_changes(cache.clone(), OPTIONS).unwrap();
    eventually("the first confirmation", || cache.is_fresh());
    let hash = keep_one(&cache);

    let killed = pat_store_diesel::testing::terminate_connections(&url, Some(WATCHER_NAME));
    assert_eq!(killed, 1, "one watcher connection");
    eventually("the cache being bypassed or emptied", || {
        !matches!(cache.get(&hash), Cached::Hit(_))
    });
    eventually("the watcher coming back", || cache.is_fresh());
    assert!(
        matches!(cache.get(&hash), Cached::Miss { .. }),
        "what was kept before the loss is gone"
    );
}

/// No ping at check-out: after every pooled connection was terminated (a database
/// restart, as the pool sees it), a read runs again on a fresh connection instead of
/// failing, and a write fails once at most — its dead connection is not lent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn postgres_dead_pooled_connections_are_dropped_not_pinged() {
    use pat_core::ports::CredentialLookup;
    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let options = pat_store_diesel::PoolOptions {
        max_size: 4,
        ..pat_store_diesel::PoolOptions::default()
    };
    let store = pat_store_diesel::connect_with(&url, options).unwrap();
    store.migrate().await.unwrap();
    let stores = store.storage();
    // Fill the pool with idle connections.
    let lookups: Vec<_> = (0..4)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.lookup(&SecretHash::from_bytes([n; 32])).await })
        })
        .collect();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap().unwrap(), None);
    }

    pat_store_diesel::testing::terminate_connections(&url, None);

    for n in 0..8 {
        assert_eq!(
            store.lookup(&SecretHash::from_bytes([n; 32])).await,
            Ok(None),
            "read {n} after the restart"
        );
    }
    let mut failures = 0;
    for _ in 0..8 {
        if stores
            .settings
            .put(&Settings::default(), &Journal::default())
            .await
            .is_err()
        {
            failures += 1;
        }
    }
    assert!(
        failures <= 4,
        "each dead connection fails one write at most: {failures}"
    );
}
