//! Driver errors as domain errors, and write transactions: the lock each write takes,
//! and the retries of a transaction that lost a serialization race or a deadlock.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::Text;
use pat_core::ports::{Cause, StoreError};

use crate::AnyConnection;

/// How many times a transaction that lost a serialization race or a deadlock is retried.
const TRANSIENT_RETRIES: usize = 3;

/// Maps a driver error that no caller translated more specifically.
pub(crate) fn store_error(err: DieselError) -> StoreError {
    match &err {
        DieselError::NotFound => StoreError::NotFound,
        DieselError::DatabaseError(kind, info) => {
            let message = info.message().to_lowercase();
            let unreachable = matches!(kind, DatabaseErrorKind::ClosedConnection)
                || message.contains("terminating connection")
                || message.contains("server closed the connection")
                || message.contains("no connection to the server")
                || message.contains("connection refused")
                || message.contains("database is locked");
            if unreachable {
                StoreError::Unavailable(Cause::new(err))
            } else {
                StoreError::Other(Cause::new(err))
            }
        }
        DieselError::BrokenTransactionManager => StoreError::Unavailable(Cause::new(err)),
        _ => StoreError::Other(Cause::new(err)),
    }
}

/// True for errors a retry of the same transaction can cure.
fn is_transient(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => info.message().contains("deadlock detected"),
        _ => false,
    }
}

/// A unique-index violation, with the index (or SQLite's column list) it names.
pub(crate) fn unique_violation(err: &DieselError) -> Option<String> {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Some(
            info.constraint_name()
                .map(str::to_owned)
                .unwrap_or_else(|| info.message().to_owned()),
        ),
        _ => None,
    }
}

/// An error inside a transaction: a domain refusal, or the driver's.
#[derive(Debug)]
pub(crate) enum TxError {
    Store(StoreError),
    Db(DieselError),
}

impl From<DieselError> for TxError {
    fn from(err: DieselError) -> Self {
        TxError::Db(err)
    }
}

impl From<StoreError> for TxError {
    fn from(err: StoreError) -> Self {
        TxError::Store(err)
    }
}

impl From<TxError> for StoreError {
    fn from(err: TxError) -> Self {
        match err {
            TxError::Store(e) => e,
            TxError::Db(e) => store_error(e),
        }
    }
}

/// The row a write transaction locks first.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock<'a> {
    /// A user's row: serializes limit-checked writes for one owner.
    Owner(&'a str),
    /// A token's row: serializes changes to one token.
    Token(&'a str),
}

/// Runs `work` in a transaction whose first statement locks `lock`'s row, retrying
/// serialization failures and deadlocks. `work` may run more than once.
pub(crate) fn write_tx<T>(
    conn: &mut AnyConnection,
    lock: Lock<'_>,
    mut work: impl FnMut(&mut AnyConnection) -> Result<T, TxError>,
) -> Result<T, TxError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = conn.transaction(|conn| {
            take_lock(conn, lock)?;
            work(conn)
        });
        match result {
            Err(TxError::Db(err)) if is_transient(&err) && attempt < TRANSIENT_RETRIES => continue,
            other => return other,
        }
    }
}

fn take_lock(conn: &mut AnyConnection, lock: Lock<'_>) -> Result<(), TxError> {
    let postgres = matches!(conn, AnyConnection::Postgres(_));
    let (sql, id) = match (lock, postgres) {
        (Lock::Owner(id), true) => ("SELECT id FROM users WHERE id = $1 FOR UPDATE", id),
        (Lock::Token(id), true) => ("SELECT id FROM tokens WHERE id = $1 FOR UPDATE", id),
        // SQLite locks the whole database for a writer; a write as the first statement
        // takes that lock under the busy timeout instead of upgrading a read later.
        (Lock::Owner(id), false) => ("UPDATE users SET id = id WHERE id = ?", id),
        (Lock::Token(id), false) => ("UPDATE tokens SET id = id WHERE id = ?", id),
    };
    diesel::sql_query(sql).bind::<Text, _>(id).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::Connection;

    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    fn memory() -> AnyConnection {
        let mut conn = diesel::SqliteConnection::establish(":memory:").expect("in-memory sqlite");
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "CREATE TABLE users (id TEXT PRIMARY KEY); INSERT INTO users VALUES ('u');",
        )
        .expect("schema");
        AnyConnection::Sqlite(conn)
    }

    #[test]
    fn serialization_failures_and_deadlocks_are_retried_a_bounded_number_of_times() {
        let mut conn = memory();
        let mut calls = 0;
        let result = write_tx(&mut conn, Lock::Owner("u"), |_| {
            calls += 1;
            if calls == 1 {
                Err(db_error(
                    DatabaseErrorKind::SerializationFailure,
                    "could not serialize",
                )
                .into())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result.expect("second attempt succeeds"), 2);

        let mut calls = 0;
        let result: Result<(), TxError> = write_tx(&mut conn, Lock::Owner("u"), |_| {
            calls += 1;
            Err(db_error(DatabaseErrorKind::Unknown, "deadlock detected").into())
        });
        assert!(result.is_err());
        assert_eq!(
            calls, TRANSIENT_RETRIES,
            "gives up after {TRANSIENT_RETRIES} attempts"
        );

        let mut calls = 0;
        let result: Result<(), TxError> = write_tx(&mut conn, Lock::Owner("u"), |_| {
            calls += 1;
            Err(StoreError::NotFound.into())
        });
        assert!(matches!(result, Err(TxError::Store(StoreError::NotFound))));
        assert_eq!(calls, 1, "domain refusals are not retried");
    }

    #[test]
    fn lost_connections_map_to_unavailable() {
        for err in [
            db_error(DatabaseErrorKind::ClosedConnection, "closed"),
            db_error(
                DatabaseErrorKind::Unknown,
                "server closed the connection unexpectedly",
            ),
            db_error(DatabaseErrorKind::Unknown, "database is locked"),
        ] {
            assert!(matches!(store_error(err), StoreError::Unavailable(_)));
        }
        assert!(matches!(
            store_error(db_error(DatabaseErrorKind::CheckViolation, "check")),
            StoreError::Other(_)
        ));
        assert_eq!(store_error(DieselError::NotFound), StoreError::NotFound);
    }
}
