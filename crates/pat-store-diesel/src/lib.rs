//! # pat-store-diesel
//!
//! Every pat-core storage port on Diesel 2, for **SQLite** (the embedded default) and
//! **PostgreSQL** (for scale), written once against a [`diesel::MultiConnection`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = pat_store_diesel::connect("sqlite://data/patd.db")?;
//! store.migrate().await?;
//! let storage = store.storage(); // four `Arc<dyn …>` ports for `PatService::builder()`
//! # Ok(()) }
//! ```
//!
//! - Blocking Diesel calls run on tokio's blocking pool, never on the executor threads.
//! - Every write is one transaction that takes its lock first: on SQLite the first
//!   statement is a write (so the busy timeout applies and no read ever upgrades); on
//!   PostgreSQL it is a `SELECT … FOR UPDATE` of the owner's (or the token's) row, which
//!   makes the active-limit check race-free. Serialization failures and deadlocks are
//!   retried a bounded number of times.
//! - Times are stored as microseconds since the Unix epoch (UTC), ids as UUID text,
//!   booleans as 0/1: the subset of types both backends share.

mod convert;
mod key_check;
mod schema;
mod store;
pub mod testing;
mod tx;
pub mod watch;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, ConnectionError, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use pat_core::ports::{Cause, Storage, StoreError};

/// Migrations for SQLite, embedded in the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// Migrations for PostgreSQL, embedded in the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

mod any {
    // The derive writes public helper items without docs.
    #![allow(missing_docs)]

    use diesel::{PgConnection, SqliteConnection};

    /// A connection to either backend; queries are written once against it.
    #[derive(diesel::MultiConnection)]
    pub enum AnyConnection {
        /// PostgreSQL.
        Postgres(PgConnection),
        /// SQLite.
        Sqlite(SqliteConnection),
    }
}

pub use any::AnyConnection;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (file or in-memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Why a database URL could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Neither `sqlite://…` nor `postgres://…`.
    #[error(
        "database URL must start with sqlite:// (e.g. sqlite://data/patd.db or \
         sqlite::memory:) or postgres:// (e.g. postgres://user:pass@host/db)"
    )]
    UnsupportedUrl,
    /// The SQLite file's folder could not be created.
    #[error("cannot create the folder for the SQLite database {path}: {source}")]
    Folder {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Default [`PoolOptions::sqlite_cache_kib`]. The file's pages are in the kernel's page
/// cache anyway, and in WAL mode a connection drops its page cache whenever another one
/// has written; a small cache keeps memory flat at no measured cost (docs/benchmarks.md).
pub const DEFAULT_SQLITE_CACHE_KIB: u32 = 256;

/// The statement that gives an SQLite connection a page cache of `kib` KiB.
pub(crate) fn sqlite_cache_pragma(kib: u32) -> String {
    format!("PRAGMA cache_size = -{kib};")
}

/// Pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Most open connections (SQLite in-memory always uses 1).
    pub max_size: u32,
    /// How long a caller waits for a connection before `StoreError::Unavailable`.
    pub connection_timeout: Duration,
    /// Page cache of each SQLite connection, in KiB (`PRAGMA cache_size = -N`); the
    /// pool's SQLite memory is bounded by about `max_size` times this. SQLite's own
    /// default is 2000; ignored for PostgreSQL.
    pub sqlite_cache_kib: u32,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 8,
            connection_timeout: Duration::from_secs(5),
            sqlite_cache_kib: DEFAULT_SQLITE_CACHE_KIB,
        }
    }
}

#[derive(Debug, Clone)]
enum Target {
    Sqlite(String),
    Postgres(String),
}

/// Opens connections for the pool (and the change watcher) and sets each SQLite
/// connection up.
#[derive(Debug, Clone)]
struct Manager {
    target: Target,
    sqlite_cache_kib: u32,
}

/// A pooled connection, and whether a failure on it showed it dead (the server went
/// away): the pool then drops it instead of lending it again. This replaces a ping at
/// every check-out, which would cost PostgreSQL a round trip per request.
pub(crate) struct Pooled {
    conn: AnyConnection,
    dead: bool,
}

impl Manager {
    /// A new connection, set up (SQLite's pragmas).
    fn open(&self) -> Result<AnyConnection, ConnectionError> {
        match &self.target {
            Target::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgres),
            Target::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                let journal = if path == ":memory:" { "MEMORY" } else { "WAL" };
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = {journal}; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; {cache}",
                    cache = sqlite_cache_pragma(self.sqlite_cache_kib)
                ))
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ConnectionError;

    fn connect(&self) -> Result<Pooled, ConnectionError> {
        Ok(Pooled {
            conn: self.open()?,
            dead: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), ConnectionError> {
        pooled
            .conn
            .batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.dead || pooled.conn.is_broken()
    }
}

/// Every storage port on one pooled database. Cheap to clone.
#[derive(Clone)]
pub struct DieselStore {
    pool: r2d2::Pool<Manager>,
    /// Opens connections outside the pool (the change watcher's).
    manager: Manager,
    backend: Backend,
    sqlite_cache_kib: u32,
}

impl std::fmt::Debug for DieselStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DieselStore({:?})", self.backend)
    }
}

/// Opens a pool for `url` with default [`PoolOptions`]. No connection is made yet.
///
/// URLs: `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite::memory:`,
/// `postgres://…` or `postgresql://…`.
///
/// # Errors
/// [`ConnectError`] for an unsupported URL or an SQLite folder that cannot be made.
pub fn connect(url: &str) -> Result<DieselStore, ConnectError> {
    connect_with(url, PoolOptions::default())
}

/// [`connect`] with explicit pool settings.
///
/// # Errors
/// As [`connect`].
pub fn connect_with(url: &str, options: PoolOptions) -> Result<DieselStore, ConnectError> {
    let (target, max_size) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        (Target::Postgres(url.to_owned()), options.max_size)
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path == ":memory:" {
            // Each in-memory connection is its own database: keep exactly one.
            (Target::Sqlite(path.to_owned()), 1)
        } else {
            if let Some(folder) = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(folder).map_err(|source| ConnectError::Folder {
                    path: folder.display().to_string(),
                    source,
                })?;
            }
            (Target::Sqlite(path.to_owned()), options.max_size)
        }
    } else {
        return Err(ConnectError::UnsupportedUrl);
    };
    let backend = match target {
        Target::Sqlite(_) => Backend::Sqlite,
        Target::Postgres(_) => Backend::Postgres,
    };
    let manager = Manager {
        target,
        sqlite_cache_kib: options.sqlite_cache_kib,
    };
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(options.connection_timeout)
        // No ping per check-out: a connection a failure shows dead is dropped instead
        // (`Pooled`), and reads are retried on another (`run_read`).
        .test_on_check_out(false)
        .build_unchecked(manager.clone());
    Ok(DieselStore {
        pool,
        manager,
        backend,
        sqlite_cache_kib: options.sqlite_cache_kib,
    })
}

impl DieselStore {
    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every pending embedded migration; returns the versions applied (empty
    /// when the schema is current, so running it twice is a no-op).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached,
    /// [`StoreError::Other`] when a migration fails.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.run(|conn| {
            let applied = match conn {
                AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS),
                AnyConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS),
            }
            .map_err(|e| StoreError::Other(Cause::boxed(e)))?;
            Ok(applied.into_iter().map(|v| v.to_string()).collect())
        })
        .await
    }

    /// Applies only the next pending migration (for upgrade tests and careful operators).
    ///
    /// # Errors
    /// As [`DieselStore::migrate`].
    pub async fn migrate_one(&self) -> Result<Option<String>, StoreError> {
        fn next<DB: diesel::backend::Backend>(
            conn: &mut impl MigrationHarness<DB>,
            source: EmbeddedMigrations,
        ) -> Result<Option<String>, StoreError> {
            let pending = conn
                .pending_migrations(source)
                .map_err(|e| StoreError::Other(Cause::boxed(e)))?;
            let Some(migration) = pending.into_iter().next() else {
                return Ok(None);
            };
            let version = conn
                .run_migration(&*migration)
                .map_err(|e| StoreError::Other(Cause::boxed(e)))?;
            Ok(Some(version.to_string()))
        }
        self.run(|conn| match conn {
            AnyConnection::Sqlite(c) => next(c, SQLITE_MIGRATIONS),
            AnyConnection::Postgres(c) => next(c, POSTGRES_MIGRATIONS),
        })
        .await
    }

    /// Inserts users and tokens in bulk, in one transaction, without the per-token
    /// policy checks (active limit, name rules): for seeding benchmarks and importing
    /// from another system whose data already obeys them.
    ///
    /// # Errors
    /// [`StoreError::DuplicateName`] / [`StoreError::DuplicateEmail`] as for single
    /// inserts; nothing is written then.
    pub async fn import(
        &self,
        users: Vec<pat_core::model::User>,
        tokens: Vec<pat_core::model::Token>,
    ) -> Result<(), StoreError> {
        let cache_kib = self.sqlite_cache_kib;
        self.run(move |conn| store::import(conn, &users, &tokens, cache_kib))
            .await
    }

    /// The four ports as `Arc<dyn …>`, for `PatService::builder().storage(…)`.
    pub fn storage(&self) -> Storage {
        Storage::from_store(Arc::new(self.clone()))
    }

    /// Runs blocking database work on tokio's blocking pool with a pooled connection; a
    /// connection the work found unreachable is dropped, not lent again.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || with_pooled(&pool, work))
            .await
            .map_err(|e| StoreError::Other(Cause::new(e)))?
    }

    /// [`DieselStore::run`] for reads, which are safe to repeat: one that finds its
    /// connection dead (the server restarted or dropped it) runs again on another, until
    /// every idle connection has been tried and a fresh one made — so a restart costs no
    /// failed read, and no check-out costs a ping.
    async fn run_read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut tries = pool.max_size() + 1;
            loop {
                tries -= 1;
                match with_pooled(&pool, &work) {
                    Err(StoreError::Unavailable(cause)) if tries > 0 && is_dead(&cause) => continue,
                    other => return other,
                }
            }
        })
        .await
        .map_err(|e| StoreError::Other(Cause::new(e)))?
    }
}

/// Runs `work` on a connection from `pool`, marking it dead when the server proved
/// unreachable on it.
fn with_pooled<T>(
    pool: &r2d2::Pool<Manager>,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut pooled = pool
        .get()
        .map_err(|e| StoreError::Unavailable(Cause::new(e)))?;
    let result = work(&mut pooled.conn);
    if matches!(&result, Err(StoreError::Unavailable(cause)) if is_dead(cause)) {
        pooled.dead = true;
    }
    result
}

/// Whether an unavailability came from a connection the server no longer serves (not
/// from waiting for the pool).
fn is_dead(cause: &Cause) -> bool {
    std::error::Error::source(cause).is_some_and(|err| err.is::<diesel::result::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::{QueryableByName, RunQueryDsl, sql_types::Integer};

    #[derive(QueryableByName)]
    struct CacheSize {
        #[diesel(sql_type = Integer)]
        cache_size: i32,
    }

    async fn cache_size(store: &DieselStore) -> i32 {
        store
            .run(|conn| match conn {
                AnyConnection::Sqlite(c) => diesel::sql_query("PRAGMA cache_size")
                    .get_result::<CacheSize>(c)
                    .map(|row| row.cache_size)
                    .map_err(|e| StoreError::Other(Cause::new(e))),
                AnyConnection::Postgres(_) => unreachable!("an SQLite store"),
            })
            .await
            .expect("pragma")
    }

    /// Every pooled SQLite connection gets the configured page cache, and a bulk import
    /// (which raises it for the load) puts it back.
    #[tokio::test]
    async fn sqlite_connections_use_the_configured_page_cache() {
        let folder = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/cache.db", folder.path().display());
        let default = connect(&url).expect("sqlite url");
        assert_eq!(cache_size(&default).await, -256);

        let options = PoolOptions {
            max_size: 1,
            sqlite_cache_kib: 300,
            ..PoolOptions::default()
        };
        let store = connect_with(&url, options).expect("sqlite url");
        store.migrate().await.expect("migrations");
        assert_eq!(cache_size(&store).await, -300);
        store
            .import(Vec::new(), Vec::new())
            .await
            .expect("empty import");
        assert_eq!(cache_size(&store).await, -300);
    }
}
