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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changes_by_another_connection_empty_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("watch.db").display());
    let watched = pat_store_diesel::connect(&url).unwrap();
    watched.migrate().await.unwrap();
    let other = pat_store_diesel::connect(&url).unwrap();
    changes_elsewhere_empty_the_cache(watched, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn postgres_changes_by_another_connection_empty_the_cache() {
    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let watched = pat_store_diesel::connect(&url).unwrap();
    watched.migrate().await.unwrap();
    let other = pat_store_diesel::connect(&url).unwrap();
    changes_elsewhere_empty_the_cache(watched, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn postgres_a_killed_watcher_bypasses_the_cache_until_it_is_back() {
    use diesel::{Connection as _, RunQueryDsl as _};
    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let store = pat_store_diesel::connect(&url).unwrap();
    store.migrate().await.unwrap();
    let cache = watched_cache();
    let _watcher = store.watch_changes(cache.clone(), OPTIONS).unwrap();
    eventually("the first confirmation", || cache.is_fresh());
    let hash = keep_one(&cache);

    let mut admin = diesel::PgConnection::establish(&url).unwrap();
    let killed = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = '{WATCHER_NAME}'"
    ))
    .execute(&mut admin)
    .unwrap();
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
