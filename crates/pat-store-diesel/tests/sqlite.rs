//! The conformance suite, migrations and seeding against SQLite (file and in-memory).

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod common;

use pat_store_diesel::{Backend, DieselStore, connect};
use pat_testkit::Stores;

/// A migrated store on a fresh database file in its own temp folder.
async fn fresh_sqlite_file() -> DieselStore {
    // The folder outlives the test process's use of it; the OS temp dir is cleaned later.
    let folder = tempfile::tempdir().expect("temp dir").keep();
    let url = format!("sqlite://{}/pat.db", folder.display());
    let store = connect(&url).expect("sqlite url");
    store.migrate().await.expect("migrations apply");
    store
}

async fn fresh_sqlite_storage() -> Stores {
    fresh_sqlite_file().await.storage()
}

async fn fresh_in_memory_storage() -> Stores {
    let store = connect("sqlite::memory:").expect("sqlite url");
    store.migrate().await.expect("migrations apply");
    store.storage()
}

mod file {
    use super::fresh_sqlite_storage;
    pat_testkit::conformance_suite!(fresh_sqlite_storage);
}

mod in_memory {
    use super::fresh_in_memory_storage;
    pat_testkit::conformance_suite!(fresh_in_memory_storage);
}

#[tokio::test]
async fn migrations_run_twice_are_a_no_op() {
    let store = fresh_sqlite_file().await;
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(store.migrate().await.expect("second run").is_empty());
}

#[tokio::test]
async fn unsupported_urls_say_what_is_allowed() {
    let err = connect("mysql://localhost/db").unwrap_err().to_string();
    assert!(
        err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );
}

#[tokio::test]
async fn a_database_at_the_first_migration_upgrades_in_place() {
    use diesel::Connection;
    use pat_core::model::TokenId;
    use pat_core::token::SecretHash;

    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("old.db");
    let store = connect(&format!("sqlite://{}", path.display())).expect("sqlite url");
    assert!(
        store
            .migrate_one()
            .await
            .expect("first migration")
            .is_some()
    );
    let raw =
        diesel::SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    // revoked_reason, server_key, change_counter.
    common::upgrade::upgrade_from_version_one(&store, raw, 7).await;
    let storage = store.storage();
    let id = TokenId(common::upgrade::TOKEN_ID.parse().expect("uuid"));
    let token = storage
        .tokens
        .get(id)
        .await
        .expect("read")
        .expect("token kept");
    assert_eq!(token.name.as_str(), "Legacy");
    assert_eq!(token.description.as_str(), "kept");
    assert_eq!(token.scopes.len(), 1);
    assert_eq!(token.reminders, Default::default());
    let mut hash = [0_u8; 32];
    hex::decode_to_slice(common::upgrade::HASH, &mut hash).expect("hex");
    let found = storage
        .tokens
        .find_by_hash(&SecretHash::from_bytes(hash))
        .await
        .expect("lookup");
    assert_eq!(found.map(|t| t.id), Some(id));
    let owner = storage
        .users
        .find_by_email("old@example.com")
        .await
        .expect("read")
        .expect("user kept");
    assert_eq!(owner.user.email, "Old@Example.com");
}

/// SQLite's plan for the hot and periodic queries names the index built for each.
#[tokio::test]
async fn hot_queries_use_their_indexes() {
    use diesel::{Connection, QueryableByName, RunQueryDsl, sql_types::Text};

    #[derive(QueryableByName)]
    struct PlanRow {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("plan.db");
    let store = connect(&format!("sqlite://{}", path.display())).expect("sqlite url");
    store.migrate().await.expect("migrations");
    let mut raw =
        diesel::SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("open");
    for (sql, index) in [
        (
            "SELECT * FROM tokens LEFT JOIN users ON users.id = tokens.owner_id WHERE tokens.secret_hash = 'x' LIMIT 1",
            "tokens_secret_hash",
        ),
        (
            "SELECT * FROM token_scopes WHERE token_id = 'x' ORDER BY position",
            "token_scopes_token_position",
        ),
        (
            "SELECT * FROM tokens WHERE owner_id = 'x' ORDER BY created_at DESC, id DESC LIMIT 20 OFFSET 0",
            "tokens_owner_created",
        ),
        (
            "SELECT * FROM tokens WHERE revoked_at IS NULL AND expired_sent_for IS NULL \
             AND expires_at <= 10 AND (expires_at <= 5 OR expiring_soon_sent_for IS NULL) \
             ORDER BY expires_at ASC, id ASC LIMIT 100",
            "tokens_reminder_queue",
        ),
        (
            "SELECT COUNT(*) FROM tokens WHERE owner_id = 'x' AND revoked_at IS NULL AND expires_at > 5",
            "tokens_owner_unrevoked",
        ),
        (
            "SELECT COUNT(*) FROM tokens WHERE owner_id = 'x' AND revoked_at IS NULL AND expires_at > 5 AND id != 'y'",
            "tokens_owner_unrevoked",
        ),
    ] {
        let plan: Vec<PlanRow> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
            .load(&mut raw)
            .expect("explain");
        let details: Vec<String> = plan.into_iter().map(|r| r.detail).collect();
        assert!(
            details.iter().any(|d| d.contains(index)),
            "{sql}\nshould use {index}, plan: {details:?}"
        );
        assert!(
            !details.iter().any(|d| d.starts_with("SCAN tokens")),
            "{sql}\nmust not scan tokens: {details:?}"
        );
    }
}
