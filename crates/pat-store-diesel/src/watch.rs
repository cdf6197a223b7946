//! The change watcher: tells this process's verification cache about every change any
//! process commits to the database (another instance, the CLI, this process's own pool),
//! and vouches for the cache only while it can prove its channel alive.
//!
//! - Every change transaction signals ([`signal_change`], from the journal writer):
//!   PostgreSQL `NOTIFY pat_changes`, delivered exactly when the change commits;
//!   SQLite bumps the one-row `pat_changes` counter.
//! - The watcher holds a connection of its own on a thread of its own. PostgreSQL: it
//!   `LISTEN`s, drains notifications every `poll`, and every `bound / 4` runs a query:
//!   its answer proves every change committed before it started has been delivered, so
//!   the cache may serve until that start plus `bound`. SQLite: every `poll` it reads
//!   `PRAGMA data_version` (which moves when another connection commits) and, when it
//!   moved, the counter; each successful poll vouches until its start plus `bound`.
//! - Whatever goes wrong (connection lost, a query fails, the thread stalls), the
//!   cache's confirmation runs out within `bound` and every check reads the store until
//!   the watcher has reconnected and emptied the cache: never stale, only slower.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use pat_core::cache::VerificationCache;

use crate::{AnyConnection, DieselStore};

/// The PostgreSQL channel changes are announced on.
const CHANNEL: &str = "pat_changes";

/// The watcher connection's `application_name` on PostgreSQL.
pub const WATCHER_NAME: &str = "pat-change-watcher";

/// Signals a change inside the current transaction (see the module documentation).
pub(crate) fn signal_change(conn: &mut AnyConnection) -> Result<(), diesel::result::Error> {
    match conn {
        AnyConnection::Postgres(_) => conn.batch_execute(&format!("NOTIFY {CHANNEL}")),
        AnyConnection::Sqlite(_) => {
            conn.batch_execute("UPDATE pat_changes SET counter = counter + 1 WHERE id = 1")
        }
    }
}

/// Why the watcher's channel broke (logged; the watcher reconnects).
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("cannot connect: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
}

/// How often the watcher looks, and how long its word holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// How often it looks for changes: the usual delay before another process's change
    /// reaches this cache.
    pub poll: Duration,
    /// How long a confirmation holds: the longest any change can go unseen, whatever
    /// fails.
    pub bound: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(5),
            bound: Duration::from_secs(1),
        }
    }
}

/// A running watcher. Dropping it stops the thread and suspends the cache.
#[derive(Debug)]
pub struct ChangeWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    cache: Arc<VerificationCache>,
}

impl Drop for ChangeWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.cache.suspend();
    }
}

impl DieselStore {
    /// Starts the change watcher feeding `cache` (built with `Freshness::Watched`).
    ///
    /// # Errors
    /// When the operating system refuses a thread.
    pub fn watch_changes(
        &self,
        cache: Arc<VerificationCache>,
        options: WatchOptions,
    ) -> std::io::Result<ChangeWatcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = Watcher {
            store: self.clone(),
            cache: cache.clone(),
            options,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("pat-change-watcher".to_owned())
            .spawn(move || watcher.run())?;
        Ok(ChangeWatcher {
            stop,
            thread: Some(thread),
            cache,
        })
    }
}

struct Watcher {
    store: DieselStore,
    cache: Arc<VerificationCache>,
    options: WatchOptions,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Watches until stopped, reconnecting (with a growing pause, at most `bound`)
    /// whenever the channel breaks.
    fn run(self) {
        let mut pause = self.options.poll;
        while !self.stopped() {
            let mut listening = false;
            let result = self
                .store
                .manager
                .open()
                .map_err(WatchError::from)
                .and_then(|conn| self.watch(conn, &mut listening));
            self.cache.suspend();
            match result {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "the change watcher lost its channel; checks read the store until it is back");
                }
            }
            // A channel that was up is re-opened at once; one that cannot be opened is
            // retried less and less often (at most every `bound`).
            if listening {
                pause = self.options.poll;
            }
            self.sleep(pause);
            pause = (pause * 2).min(self.options.bound);
        }
    }

    /// Sleeps `pause`, waking early when stopped.
    fn sleep(&self, pause: Duration) {
        let until = Instant::now() + pause;
        while !self.stopped() && Instant::now() < until {
            std::thread::sleep(self.options.poll.min(until - Instant::now()));
        }
    }

    /// Watches on `conn` until stopped (`Ok`) or the channel breaks (`Err`); sets
    /// `listening` once the channel is open.
    fn watch(&self, mut conn: AnyConnection, listening: &mut bool) -> Result<(), WatchError> {
        match &mut conn {
            AnyConnection::Postgres(pg) => self.watch_postgres(pg, listening),
            AnyConnection::Sqlite(_) => self.watch_sqlite(&mut conn, listening),
        }
    }

    fn watch_postgres(
        &self,
        conn: &mut diesel::PgConnection,
        listening: &mut bool,
    ) -> Result<(), WatchError> {
        // Named, so an operator (or a test) can find it in pg_stat_activity.
        conn.batch_execute(&format!(
            "SET application_name = '{WATCHER_NAME}'; LISTEN {CHANNEL}"
        ))?;
        *listening = true;
        // Whatever changed while no one listened.
        self.cache.changed();
        let heartbeat = (self.options.bound / 4).max(self.options.poll);
        let mut last_beat: Option<Instant> = None;
        while !self.stopped() {
            let beat = last_beat.is_none_or(|at| at.elapsed() >= heartbeat);
            let started = Instant::now();
            if beat {
                conn.batch_execute("SELECT 1")?;
                last_beat = Some(started);
            }
            let mut changed = false;
            for notification in conn.notifications_iter() {
                notification?;
                changed = true;
            }
            if changed {
                self.cache.changed();
            }
            if beat {
                self.cache
                    .confirm_fresh(self.options.bound.saturating_sub(started.elapsed()));
            }
            std::thread::sleep(self.options.poll);
        }
        Ok(())
    }

    fn watch_sqlite(
        &self,
        conn: &mut AnyConnection,
        listening: &mut bool,
    ) -> Result<(), WatchError> {
        let mut version = data_version(conn)?;
        let mut counter = change_counter(conn)?;
        *listening = true;
        // Whatever changed before this connection looked.
        self.cache.changed();
        while !self.stopped() {
            let started = Instant::now();
            let now_version = data_version(conn)?;
            if now_version != version {
                version = now_version;
                let now_counter = change_counter(conn)?;
                if now_counter != counter {
                    counter = now_counter;
                    self.cache.changed();
                }
            }
            self.cache
                .confirm_fresh(self.options.bound.saturating_sub(started.elapsed()));
            std::thread::sleep(self.options.poll);
        }
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// SQLite's count of commits made by other connections, as this one sees it.
fn data_version(conn: &mut AnyConnection) -> Result<i64, WatchError> {
    Ok(
        diesel::sql_query("SELECT data_version AS value FROM pragma_data_version")
            .get_result::<Number>(conn)?
            .value,
    )
}

/// The change counter every change bumps.
fn change_counter(conn: &mut AnyConnection) -> Result<i64, WatchError> {
    Ok(
        diesel::sql_query("SELECT counter AS value FROM pat_changes WHERE id = 1")
            .get_result::<Number>(conn)?
            .value,
    )
}
