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
}
