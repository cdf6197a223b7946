//! Shared by the SQLite and PostgreSQL tests: a database at the first schema version.

#![allow(dead_code)] // each test binary uses the helpers it needs

/// Fills a database that has only the first migration with a user and a token the way
/// that schema stores them, so an upgrade test can check nothing is lost.
pub mod upgrade {
    /// The token written at the first schema version.
    pub const TOKEN_ID: &str = "0190f0a0-0000-7000-8000-000000000001";
    /// Its owner.
    pub const USER_ID: &str = "0190f0a0-0000-7000-8000-0000000000aa";
    /// Its secret hash, hex.
    pub const HASH: &str = "ab00000000000000000000000000000000000000000000000000000000000001";

    /// Inserts one user, one token and one scope with version-1 columns only.
    pub fn fill_version_one(conn: &mut impl diesel::connection::SimpleConnection) {
        for sql in [
            format!(
                "INSERT INTO users (id, email, email_folded, name, role, active, password_hash) \
                 VALUES ('{USER_ID}', 'Old@Example.com', 'old@example.com', 'Old', 'member', 1, NULL)"
            ),
            format!(
                "INSERT INTO tokens (id, owner_id, name, name_folded, description, created_at, \
                 updated_at, expires_at, revoked_at, last_used_at, last_used_ip, generation, \
                 secret_hash, hint) VALUES ('{TOKEN_ID}', '{USER_ID}', 'Legacy', 'legacy', 'kept', \
                 1767225600000000, 1767225600000000, 1769817600000000, NULL, NULL, NULL, 1, \
                 '{HASH}', 'abcd')"
            ),
            format!(
                "INSERT INTO token_scopes (id, token_id, position, scope) VALUES \
                 ('0190f0a0-0000-7000-8000-0000000000ff', '{TOKEN_ID}', 0, 'jobs:list')"
            ),
        ] {
            conn.batch_execute(&sql).expect("version-1 insert");
        }
    }

    /// Tokens revoked before reasons were kept, each with the audit event its
    /// revocation wrote: by the owner, by an admin, by a leak report; and one active.
    pub const REVOKED: [(&str, Option<&str>); 4] = [
        ("0190f0a0-0000-7000-8000-000000000011", Some("owner")),
        ("0190f0a0-0000-7000-8000-000000000012", Some("admin")),
        ("0190f0a0-0000-7000-8000-000000000013", Some("leak_report")),
        ("0190f0a0-0000-7000-8000-000000000014", None),
    ];

    /// Writes [`REVOKED`] with the columns and audit actions of the schema before
    /// `revoked_reason` (after [`fill_version_one`]).
    pub fn fill_revocations_before_reasons(conn: &mut impl diesel::connection::SimpleConnection) {
        const ADMIN_ID: &str = "0190f0a0-0000-7000-8000-0000000000bb";
        const AT: i64 = 1_767_312_000_000_000;
        let mut sql = vec![format!(
            "INSERT INTO users (id, email, email_folded, name, role, active, password_hash) \
             VALUES ('{ADMIN_ID}', 'admin@example.com', 'admin@example.com', 'Admin', 'admin', 1, NULL)"
        )];
        for (n, (id, reason)) in REVOKED.iter().enumerate() {
            let revoked_at = reason.map_or("NULL".to_owned(), |_| AT.to_string());
            sql.push(format!(
                "INSERT INTO tokens (id, owner_id, name, name_folded, description, created_at, \
                 updated_at, expires_at, revoked_at, last_used_at, last_used_ip, generation, \
                 secret_hash, hint) VALUES ('{id}', '{USER_ID}', 'old {n}', 'old {n}', '', \
                 1767225600000000, 1767225600000000, 1769817600000000, {revoked_at}, NULL, NULL, \
                 1, 'cd0000000000000000000000000000000000000000000000000000000000000{n}', 'abcd')"
            ));
            let (action, actor) = match reason {
                Some("owner") => ("token.revoked", USER_ID),
                Some("admin") => ("token.revoked", ADMIN_ID),
                Some(_) => ("token.leak_reported", ""),
                None => continue,
            };
            let actor = if actor.is_empty() {
                "NULL".to_owned()
            } else {
                format!("'{actor}'")
            };
            sql.push(format!(
                "INSERT INTO audit_events (id, at, action, reason, actor_id, owner_id, token_id, \
                 ip, detail) VALUES ('0190f0a0-0000-7000-8000-00000000002{n}', {AT}, '{action}', \
                 NULL, {actor}, '{USER_ID}', '{id}', NULL, '')"
            ));
        }
        for statement in sql {
            conn.batch_execute(&statement)
                .expect("insert before revoked_reason");
        }
    }

    /// Every token of [`REVOKED`] has the reason its audit event tells.
    pub async fn assert_revocation_reasons_backfilled(storage: &pat_core::ports::Storage) {
        for (id, reason) in REVOKED {
            let id = pat_core::model::TokenId(id.parse().expect("uuid"));
            let token = storage
                .tokens
                .get(id)
                .await
                .expect("read")
                .expect("token kept");
            assert_eq!(
                token.revoked_reason.map(|r| r.as_str()),
                reason,
                "{id}: the reason the audit log tells"
            );
        }
    }

    /// From a database at the first migration (`raw` is a plain connection to it): fills
    /// version-1 rows, migrates to just before `revoked_reason`, writes revocations of
    /// that schema, then upgrades the rest (`remaining` migrations) and checks the
    /// reasons were backfilled.
    pub async fn upgrade_from_version_one<C: diesel::connection::SimpleConnection>(
        store: &pat_store_diesel::DieselStore,
        mut raw: C,
        remaining: usize,
    ) {
        fill_version_one(&mut raw);
        for _ in 0..3 {
            store
                .migrate_one()
                .await
                .expect("migration")
                .expect("a pending migration");
        }
        fill_revocations_before_reasons(&mut raw);
        drop(raw);
        assert_eq!(
            store.migrate().await.expect("upgrade").len(),
            remaining,
            "only the missing migrations run"
        );
        assert_revocation_reasons_backfilled(&store.storage()).await;
    }
}
