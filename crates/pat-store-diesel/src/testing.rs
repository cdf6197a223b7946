//! For tests of this adapter and of hosts built on it: the throwaway PostgreSQL server
//! `scripts/test.sh` starts, its address, and a fresh empty database per test.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// The variable `scripts/test.sh` sets to its throwaway server's admin URL.
pub const POSTGRES_URL_VAR: &str = "PAT_TEST_POSTGRES_URL";

/// The admin URL of the throwaway server.
///
/// # Panics
/// When the variable is absent: a PostgreSQL test without a server fails, never passes.
pub fn admin_url() -> String {
    std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: run ./scripts/test.sh, which starts a throwaway \
             PostgreSQL, or point it at a server where this user may CREATE DATABASE"
        )
    })
}

/// Creates an empty database on the server at `admin_url` and returns its URL.
///
/// # Panics
/// When the server cannot be reached or refuses.
pub fn fresh_database(admin_url: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "pat_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = PgConnection::establish(admin_url).expect("connect to the admin database");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .expect("create a test database");
    let (server, _) = admin_url.rsplit_once('/').expect("URL has a database path");
    format!("{server}/{name}")
}

/// Terminates the other connections to the database at `url` — all of them, or only
/// those whose `application_name` is `only` (e.g. [`crate::watch::WATCHER_NAME`]): what
/// a server restart does to them. Returns how many were terminated.
///
/// # Panics
/// When the server cannot be reached or refuses.
pub fn terminate_connections(url: &str, only: Option<&str>) -> usize {
    let mut conn = PgConnection::establish(url).expect("connect to PostgreSQL");
    let filter = only.map_or(String::new(), |name| {
        format!(" AND application_name = '{}'", name.replace('\'', "''"))
    });
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid(){filter}"
    ))
    .execute(&mut conn)
    .expect("terminate the connections")
}
