//! The port implementations: thin translations between rows and the domain, one file
//! per port; this one holds the helpers they share.

mod audit_log;
mod credential_lookup;
mod history;
mod import;
mod outbox_store;
mod sessions;
mod settings_store;
mod token_store;
mod user_directory;

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use pat_core::model::{
    Attempt, AuditEvent, AuditQuery, DeliveryStatus, MessageId, OutboxMessage, Page, PageRequest,
    ReminderKind, RevocationReason, Role, ScopeId, StatusFilter, Token, TokenId, TokenQuery,
    TokenStatus, User, UserId,
};
use pat_core::policy::{Description, Settings, TokenName};
use pat_core::ports::{
    AuditLog, CredentialLookup, CredentialRecord, Journal, LastUse, Outbox, Regeneration,
    SettingsStore, StoreError, TokenStore, UserCredentials, UserDirectory,
};
use pat_core::scope::Scope;
use pat_core::token::SecretHash;

use crate::convert::{
    AuditRow, OutboxRow, ScopeRow, SettingsRow, TokenRow, UserRow, fold_email, hash_text, micros,
    to_i32,
};
use crate::schema::{audit_events, outbox, settings, token_scopes, tokens, users};
use crate::tx::{Lock, TxError, store_error, unique_violation, write_tx};
use crate::{AnyConnection, DieselStore};

pub(crate) use import::import;

type Db = <AnyConnection as diesel::Connection>::Backend;

fn page_bounds(page: PageRequest) -> (i64, i64) {
    let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
    (offset, i64::from(page.size()))
}

fn count(total: i64) -> u64 {
    u64::try_from(total).unwrap_or(0)
}

/// Loads the scopes of `rows` (one query) and builds the tokens, keeping row order.
fn with_scopes(conn: &mut AnyConnection, rows: Vec<TokenRow>) -> Result<Vec<Token>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let scopes: Vec<ScopeRow> = token_scopes::table
        .filter(token_scopes::token_id.eq_any(&ids))
        .order((token_scopes::token_id, token_scopes::position))
        .select(ScopeRow::as_select())
        .load(conn)
        .map_err(store_error)?;
    let mut by_token: std::collections::HashMap<String, Vec<ScopeRow>> =
        std::collections::HashMap::new();
    for scope in scopes {
        by_token
            .entry(scope.token_id.clone())
            .or_default()
            .push(scope);
    }
    rows.into_iter()
        .map(|row| {
            let mine = by_token.remove(&row.id).unwrap_or_default();
            row.into_token(mine)
        })
        .collect()
}

/// One token's scopes, in grant order (a cacheable statement, unlike `IN (…)`).
fn scopes_of(conn: &mut AnyConnection, token_id: &str) -> Result<Vec<ScopeRow>, StoreError> {
    token_scopes::table
        .filter(token_scopes::token_id.eq(token_id))
        .order(token_scopes::position)
        .select(ScopeRow::as_select())
        .load(conn)
        .map_err(store_error)
}

fn one_token(conn: &mut AnyConnection, row: Option<TokenRow>) -> Result<Option<Token>, StoreError> {
    let Some(row) = row else { return Ok(None) };
    let scopes = scopes_of(conn, &row.id)?;
    row.into_token(scopes).map(Some)
}

fn load_token(conn: &mut AnyConnection, id: &str) -> Result<Option<Token>, StoreError> {
    let row = tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
        .map_err(store_error)?;
    one_token(conn, row)
}

fn existing_token(conn: &mut AnyConnection, id: &str) -> Result<Token, TxError> {
    load_token(conn, id)?.ok_or(TxError::Store(StoreError::NotFound))
}

fn active_count(
    conn: &mut AnyConnection,
    owner: &str,
    now: i64,
    except: Option<&str>,
) -> Result<i64, TxError> {
    let mut query = tokens::table
        .filter(tokens::owner_id.eq(owner))
        .filter(tokens::revoked_at.is_null())
        .filter(tokens::expires_at.gt(now))
        .into_boxed::<Db>();
    if let Some(except) = except {
        query = query.filter(tokens::id.ne(except.to_owned()));
    }
    Ok(query.count().get_result(conn)?)
}

fn name_error(err: diesel::result::Error) -> TxError {
    match unique_violation(&err) {
        Some(index) if index.contains("name") => TxError::Store(StoreError::DuplicateName),
        _ => err.into(),
    }
}

fn insert_scopes(
    conn: &mut AnyConnection,
    token: TokenId,
    first_position: usize,
    scopes: &[Scope],
) -> Result<(), TxError> {
    // One row at a time: the shared SQL subset has no multi-row INSERT (≤ 50 scopes).
    for (i, scope) in scopes.iter().enumerate() {
        diesel::insert_into(token_scopes::table)
            .values(ScopeRow::from_scope(token, first_position + i, scope))
            .execute(conn)?;
    }
    Ok(())
}

/// Writes a change's journal inside the change's transaction: the change signal every
/// process's watcher sees ([`crate::watch`]), its audit events, and its notices unless
/// one with the same dedupe key is queued (checked first: a unique violation would abort
/// a PostgreSQL transaction).
fn write_journal(conn: &mut AnyConnection, journal: &Journal) -> Result<(), TxError> {
    crate::watch::signal_change(conn)?;
    for event in &journal.events {
        diesel::insert_into(audit_events::table)
            .values(AuditRow::from_event(event))
            .execute(conn)?;
    }
    for message in &journal.notices {
        let row = OutboxRow::from_message(message);
        let known: i64 = outbox::table
            .filter(outbox::dedupe_key.eq(&row.dedupe_key))
            .count()
            .get_result(conn)?;
        if known == 0 {
            diesel::insert_into(outbox::table)
                .values(&row)
                .execute(conn)?;
        }
    }
    Ok(())
}

fn touch(conn: &mut AnyConnection, id: &str, now: DateTime<Utc>) -> Result<(), TxError> {
    diesel::update(tokens::table.find(id))
        .set(tokens::updated_at.eq(micros(now)))
        .execute(conn)?;
    Ok(())
}

fn take_owner_lock(conn: &mut AnyConnection, owner: &str) -> Result<(), TxError> {
    if matches!(conn, AnyConnection::Postgres(_)) {
        diesel::sql_query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(owner)
            .execute(conn)?;
    }
    // SQLite: the token lock already holds the database's single write lock.
    Ok(())
}
