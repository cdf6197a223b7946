//! The conformance suite and migrations against a real PostgreSQL.
//!
//! Ignored by a plain `cargo test` (no server); `scripts/test.sh` starts a throwaway
//! PostgreSQL, sets `PAT_TEST_POSTGRES_URL` and runs them with `--include-ignored`.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod common;

use pat_store_diesel::{Backend, DieselStore, PoolOptions, connect_with};
use pat_testkit::Stores;

fn fresh_store() -> DieselStore {
    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let options = PoolOptions {
        max_size: 6,
        ..PoolOptions::default()
    };
    connect_with(&url, options).expect("postgres url")
}

async fn fresh_postgres_storage() -> Stores {
    let store = fresh_store();
    store.migrate().await.expect("migrations apply");
    store.storage()
}

pat_testkit::conformance_suite!(
    fresh_postgres_storage,
    ignore = "needs PostgreSQL: run ./scripts/test.sh (starts a throwaway server) or set PAT_TEST_POSTGRES_URL"
);

#[tokio::test]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn postgres_migrations_run_twice_are_a_no_op() {
    let store = fresh_store();
    assert_eq!(store.backend(), Backend::Postgres);
    assert_eq!(store.migrate().await.expect("first run").len(), 10);
    assert!(store.migrate().await.expect("second run").is_empty());
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL"]
async fn a_postgres_database_at_the_first_migration_upgrades_in_place() {
    use diesel::Connection;
    use pat_core::model::TokenId;

    let url = pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url());
    let store = connect_with(&url, PoolOptions::default()).expect("postgres url");
    assert!(
        store
            .migrate_one()
            .await
            .expect("first migration")
            .is_some()
    );
    let raw = diesel::PgConnection::establish(&url).expect("open");
    // revoked_reason, server_key (PostgreSQL announces changes with NOTIFY: no counter).
    common::upgrade::upgrade_from_version_one(&store, raw, 6).await;
    let storage = store.storage();
    let id = TokenId(common::upgrade::TOKEN_ID.parse().expect("uuid"));
    let token = storage
        .tokens
        .get(id)
        .await
        .expect("read")
        .expect("token kept");
    assert_eq!(token.name.as_str(), "Legacy");
    assert_eq!(token.scopes.len(), 1);
    assert!(
        storage
            .users
            .find_by_email("OLD@example.com")
            .await
            .expect("read")
            .is_some()
    );
}
