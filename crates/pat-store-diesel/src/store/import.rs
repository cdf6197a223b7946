//! Bulk import of users and tokens (benchmarks, migrations from other systems).

use super::*;

/// Rows per multi-row INSERT: 17 columns × 1000 stays under both backends' bind limits.
pub(super) const IMPORT_CHUNK: usize = 1000;

/// Multi-row inserts need the concrete backend (the shared subset has none), so the
/// same body is written for each connection type.
macro_rules! import_rows {
    ($conn:expr, $users:expr, $tokens:expr, $scopes:expr) => {
        $conn.transaction(|c| {
            for chunk in $users.chunks(IMPORT_CHUNK) {
                diesel::insert_into(users::table).values(chunk).execute(c)?;
            }
            for chunk in $tokens.chunks(IMPORT_CHUNK) {
                diesel::insert_into(tokens::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for chunk in $scopes.chunks(IMPORT_CHUNK) {
                diesel::insert_into(token_scopes::table)
                    .values(chunk)
                    .execute(c)?;
            }
            Ok::<(), diesel::result::Error>(())
        })
    };
}

pub(crate) fn import(
    conn: &mut AnyConnection,
    users: &[User],
    tokens: &[Token],
    sqlite_cache_kib: u32,
) -> Result<(), StoreError> {
    let user_rows: Vec<UserRow> = users.iter().map(|u| UserRow::from_user(u, None)).collect();
    let token_rows: Vec<TokenRow> = tokens.iter().map(TokenRow::from_token).collect();
    let scope_rows: Vec<ScopeRow> = tokens
        .iter()
        .flat_map(|t| {
            t.scopes
                .iter()
                .enumerate()
                .map(|(i, s)| ScopeRow::from_scope(t.id, i, s))
        })
        .collect();
    let result = match conn {
        AnyConnection::Sqlite(c) => {
            // Random secret hashes scatter index writes: a large page cache for the bulk
            // load keeps them in memory until commit (about 4x faster at 1M tokens).
            c.batch_execute("PRAGMA cache_size = -524288")
                .map_err(store_error)?;
            let result = import_rows!(c, user_rows, token_rows, scope_rows);
            c.batch_execute(&crate::sqlite_cache_pragma(sqlite_cache_kib))
                .map_err(store_error)?;
            result
        }
        AnyConnection::Postgres(c) => import_rows!(c, user_rows, token_rows, scope_rows),
    };
    result.map_err(|e| match unique_violation(&e) {
        Some(index) if index.contains("email") => StoreError::DuplicateEmail,
        Some(index) if index.contains("name") => StoreError::DuplicateName,
        _ => store_error(e),
    })?;
    // After the commit: a secret presented before its token was imported may be kept
    // as unknown in a cache; this drops it.
    crate::watch::signal_change(conn).map_err(store_error)
}
