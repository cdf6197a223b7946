//! The port implementations: thin translations between rows and the domain.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use pat_core::model::{
    Attempt, AuditEvent, AuditQuery, DeliveryStatus, DueReminder, MessageId, OutboxMessage, Page,
    PageRequest, ReminderKind, RevocationReason, Role, ScopeId, StatusFilter, Token, TokenId,
    TokenQuery, TokenStatus, User, UserId,
};
use pat_core::policy::{Description, Settings, TokenName};
use pat_core::ports::{
    AuditLog, CredentialLookup, CredentialRecord, Journal, Outbox, Regeneration, SettingsStore,
    StoreError, TokenStore, UserCredentials, UserDirectory,
};
use pat_core::scope::Scope;
use pat_core::token::SecretHash;

use crate::convert::{
    AuditRow, Lock, OutboxRow, ScopeRow, SettingsRow, TokenRow, TxError, UserRow, fold_email,
    hash_text, micros, store_error, to_i32, unique_violation, write_tx,
};
use crate::schema::{audit_events, outbox, settings, token_scopes, tokens, users};
use crate::{AnyConnection, DieselStore};

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

/// Most secret hashes one `IN (…)` query carries.
const HASHES_PER_QUERY: usize = 500;

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

/// Writes a change's journal inside the change's transaction: its audit events, and its
/// notices unless one with the same dedupe key is queued (checked first: a unique
/// violation would abort a PostgreSQL transaction).
fn write_journal(conn: &mut AnyConnection, journal: &Journal) -> Result<(), TxError> {
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

/// The filters of a token listing, built afresh for the count and for the page.
fn token_listing(query: &TokenQuery) -> tokens::BoxedQuery<'static, Db> {
    let now = micros(query.now);
    let mut q = tokens::table
        .filter(tokens::owner_id.eq(query.owner.to_string()))
        .into_boxed::<Db>();
    q = match query.status {
        StatusFilter::All => q,
        StatusFilter::Only(TokenStatus::Revoked) => q.filter(tokens::revoked_at.is_not_null()),
        StatusFilter::Only(TokenStatus::Active) => q
            .filter(tokens::revoked_at.is_null())
            .filter(tokens::expires_at.gt(now)),
        StatusFilter::Only(TokenStatus::Expired) => q
            .filter(tokens::revoked_at.is_null())
            .filter(tokens::expires_at.le(now)),
    };
    if let Some(needle) = &query.name_contains {
        q = q.filter(tokens::name_folded.like(like_pattern(needle)).escape('\\'));
    }
    q
}

/// `%needle%` with LIKE's wildcards in the needle matched literally.
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl CredentialLookup for DieselStore {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        let hash = hash_text(hash);
        // One blocking task, three cached point reads: token ⋈ owner by the unique
        // hash index, the token's scopes, and the settings row.
        self.run(move |conn| {
            // One read transaction: SQLite takes its file lock once, not per statement.
            conn.transaction(|conn| lookup_in(conn, &hash).map_err(TxError::Store))
                .map_err(StoreError::from)
        })
        .await
    }
}

fn lookup_in(conn: &mut AnyConnection, hash: &str) -> Result<Option<CredentialRecord>, StoreError> {
    {
        {
            let Some((token, owner)) = tokens::table
                .left_join(users::table)
                .filter(tokens::secret_hash.eq(hash))
                .select((TokenRow::as_select(), Option::<UserRow>::as_select()))
                .first::<(TokenRow, Option<UserRow>)>(conn)
                .optional()
                .map_err(store_error)?
            else {
                return Ok(None);
            };
            let scopes = scopes_of(conn, &token.id)?;
            let settings = settings::table
                .find(1)
                .select(SettingsRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map_or(Ok(Settings::default()), SettingsRow::into_settings)?;
            Ok(Some(CredentialRecord {
                token: token.into_token(scopes)?,
                owner: owner.map(UserRow::into_user).transpose()?,
                pats_enabled: settings.pats_enabled,
            }))
        }
    }
}

#[async_trait]
impl TokenStore for DieselStore {
    async fn insert(
        &self,
        token: &Token,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let row = TokenRow::from_token(token);
        let journal = journal.clone();
        let scopes = token.scopes.clone();
        let id = token.id;
        self.run(move |conn| {
            let owner = row.owner_id.clone();
            write_tx(conn, Lock::Owner(&owner), |conn| {
                let same_name: i64 = tokens::table
                    .filter(tokens::owner_id.eq(&row.owner_id))
                    .filter(tokens::name_folded.eq(&row.name_folded))
                    .count()
                    .get_result(conn)?;
                if same_name > 0 {
                    return Err(StoreError::DuplicateName.into());
                }
                if active_count(conn, &row.owner_id, micros(now), None)? >= i64::from(active_limit)
                {
                    return Err(StoreError::ActiveLimit {
                        limit: active_limit,
                    }
                    .into());
                }
                diesel::insert_into(tokens::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(name_error)?;
                insert_scopes(conn, id, 0, &scopes)?;
                write_journal(conn, &journal)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn get(&self, id: TokenId) -> Result<Option<Token>, StoreError> {
        self.run(move |conn| load_token(conn, &id.to_string()))
            .await
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<Token>, StoreError> {
        let hash = hash_text(hash);
        self.run(move |conn| {
            let row = tokens::table
                .filter(tokens::secret_hash.eq(hash))
                .select(TokenRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?;
            one_token(conn, row)
        })
        .await
    }

    async fn find_by_hashes(&self, hashes: &[SecretHash]) -> Result<Vec<Token>, StoreError> {
        let mut texts: Vec<String> = hashes.iter().map(hash_text).collect();
        texts.sort_unstable();
        texts.dedup();
        self.run(move |conn| {
            let mut found = Vec::new();
            // Well below SQLite's and PostgreSQL's bound-parameter limits.
            for chunk in texts.chunks(HASHES_PER_QUERY) {
                let rows = tokens::table
                    .filter(tokens::secret_hash.eq_any(chunk))
                    .select(TokenRow::as_select())
                    .load(conn)
                    .map_err(store_error)?;
                found.extend(with_scopes(conn, rows)?);
            }
            Ok(found)
        })
        .await
    }

    async fn list(&self, query: &TokenQuery) -> Result<Page<Token>, StoreError> {
        let query = query.clone();
        self.run(move |conn| {
            let total: i64 = token_listing(&query)
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            let (offset, limit) = page_bounds(query.page);
            let rows = token_listing(&query)
                .order((tokens::created_at.desc(), tokens::id.desc()))
                .offset(offset)
                .limit(limit)
                .select(TokenRow::as_select())
                .load(conn)
                .map_err(store_error)?;
            Ok(Page::new(
                with_scopes(conn, rows)?,
                query.page,
                count(total),
            ))
        })
        .await
    }

    async fn count_active(&self, owner: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(move |conn| {
            Ok(count(active_count(
                conn,
                &owner.to_string(),
                micros(now),
                None,
            )?))
        })
        .await
    }

    async fn update_details(
        &self,
        id: TokenId,
        name: &TokenName,
        description: &Description,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let (name, description) = (name.clone(), description.clone());
        let journal = journal.clone();
        self.run(move |conn| {
            let id = id.to_string();
            write_tx(conn, Lock::Token(&id), |conn| {
                let current = existing_token(conn, &id)?;
                let taken: i64 = tokens::table
                    .filter(tokens::owner_id.eq(current.owner.to_string()))
                    .filter(tokens::name_folded.eq(name.folded()))
                    .filter(tokens::id.ne(&id))
                    .count()
                    .get_result(conn)?;
                if taken > 0 {
                    return Err(StoreError::DuplicateName.into());
                }
                diesel::update(tokens::table.find(&id))
                    .set((
                        tokens::name.eq(name.as_str()),
                        tokens::name_folded.eq(name.folded()),
                        tokens::description.eq(description.as_str()),
                        tokens::updated_at.eq(micros(now)),
                    ))
                    .execute(conn)
                    .map_err(name_error)?;
                write_journal(conn, &journal)?;
                existing_token(conn, &id)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn revoke(
        &self,
        id: TokenId,
        reason: RevocationReason,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let id = id.to_string();
            write_tx(conn, Lock::Token(&id), |conn| {
                let revoked =
                    diesel::update(tokens::table.find(&id).filter(tokens::revoked_at.is_null()))
                        .set((
                            tokens::revoked_at.eq(micros(now)),
                            tokens::revoked_reason.eq(reason.as_str()),
                            tokens::updated_at.eq(micros(now)),
                        ))
                        .execute(conn)?;
                if revoked == 1 {
                    write_journal(conn, &journal)?;
                }
                existing_token(conn, &id)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn regenerate(
        &self,
        regeneration: &Regeneration,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let regeneration = regeneration.clone();
        let journal = journal.clone();
        self.run(move |conn| {
            let id = regeneration.id.to_string();
            write_tx(conn, Lock::Token(&id), |conn| {
                let owner = existing_token(conn, &id)?.owner.to_string();
                take_owner_lock(conn, &owner)?;
                if active_count(conn, &owner, micros(now), Some(&id))? >= i64::from(active_limit) {
                    return Err(StoreError::ActiveLimit {
                        limit: active_limit,
                    }
                    .into());
                }
                diesel::update(tokens::table.find(&id))
                    .set((
                        tokens::secret_hash.eq(hash_text(&regeneration.secret_hash)),
                        tokens::hint.eq(&regeneration.hint),
                        tokens::expires_at.eq(micros(regeneration.expires_at)),
                        tokens::revoked_at.eq(None::<i64>),
                        tokens::revoked_reason.eq(None::<String>),
                        tokens::generation.eq(tokens::generation + 1),
                        tokens::expiring_soon_sent_for.eq(None::<i32>),
                        tokens::expired_sent_for.eq(None::<i32>),
                        tokens::updated_at.eq(micros(now)),
                    ))
                    .execute(conn)?;
                write_journal(conn, &journal)?;
                existing_token(conn, &id)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn add_scopes(
        &self,
        id: TokenId,
        scopes: &[Scope],
        max_scopes: usize,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let scopes = scopes.to_vec();
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Token(&key), |conn| {
                let current = existing_token(conn, &key)?;
                let mut new: Vec<Scope> = Vec::new();
                for scope in &scopes {
                    let held = current
                        .scopes
                        .iter()
                        .chain(&new)
                        .any(|s| s.spec == scope.spec);
                    if !held {
                        new.push(scope.clone());
                    }
                }
                if current.scopes.len() + new.len() > max_scopes {
                    return Err(StoreError::ScopeLimit { limit: max_scopes }.into());
                }
                let next_position = token_scopes::table
                    .filter(token_scopes::token_id.eq(&key))
                    .select(diesel::dsl::max(token_scopes::position))
                    .first::<Option<i32>>(conn)?
                    .map_or(0, |p| usize::try_from(p).unwrap_or(0) + 1);
                insert_scopes(conn, id, next_position, &new)?;
                touch(conn, &key, now)?;
                write_journal(conn, &journal)?;
                existing_token(conn, &key)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn remove_scope(
        &self,
        id: TokenId,
        scope: ScopeId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Token(&key), |conn| {
                existing_token(conn, &key)?;
                let removed = diesel::delete(
                    token_scopes::table
                        .filter(token_scopes::token_id.eq(&key))
                        .filter(token_scopes::id.eq(scope.to_string())),
                )
                .execute(conn)?;
                if removed == 0 {
                    return Err(StoreError::NotFound.into());
                }
                touch(conn, &key, now)?;
                write_journal(conn, &journal)?;
                existing_token(conn, &key)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn clear_scopes(
        &self,
        id: TokenId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Token(&key), |conn| {
                existing_token(conn, &key)?;
                diesel::delete(token_scopes::table.filter(token_scopes::token_id.eq(&key)))
                    .execute(conn)?;
                touch(conn, &key, now)?;
                write_journal(conn, &journal)?;
                existing_token(conn, &key)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn delete(&self, id: TokenId, journal: &Journal) -> Result<(), StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Token(&key), |conn| {
                // Scopes go with the token (ON DELETE CASCADE).
                if diesel::delete(tokens::table.find(&key)).execute(conn)? == 0 {
                    return Err(StoreError::NotFound.into());
                }
                write_journal(conn, &journal)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn record_use(
        &self,
        id: TokenId,
        at: DateTime<Utc>,
        ip: Option<IpAddr>,
        not_since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.run(move |conn| {
            // One conditional UPDATE: concurrent authentications write at most once.
            let written = diesel::update(
                tokens::table.find(id.to_string()).filter(
                    tokens::last_used_at
                        .is_null()
                        .or(tokens::last_used_at.lt(micros(not_since))),
                ),
            )
            .set((
                tokens::last_used_at.eq(micros(at)),
                tokens::last_used_ip.eq(ip.map(|ip| ip.to_string())),
            ))
            .execute(conn)
            .map_err(store_error)?;
            Ok(written == 1)
        })
        .await
    }

    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        warning: Duration,
        limit: u32,
    ) -> Result<Vec<DueReminder>, StoreError> {
        self.run(move |conn| {
            let (now_us, horizon) = (micros(now), micros(now + warning));
            // Served by the partial index tokens_reminder_queue: only unrevoked tokens
            // whose "expired" notice is still owed, within the warning horizon.
            let rows = tokens::table
                .filter(tokens::revoked_at.is_null())
                .filter(tokens::expired_sent_for.is_null())
                .filter(tokens::expires_at.le(horizon))
                .filter(
                    tokens::expires_at
                        .le(now_us)
                        .or(tokens::expiring_soon_sent_for.is_null()),
                )
                .order((tokens::expires_at.asc(), tokens::id.asc()))
                .limit(i64::from(limit))
                .select(TokenRow::as_select())
                .load(conn)
                .map_err(store_error)?;
            Ok(with_scopes(conn, rows)?
                .into_iter()
                .map(|token| DueReminder {
                    kind: if token.expires_at <= now {
                        ReminderKind::Expired
                    } else {
                        ReminderKind::ExpiringSoon
                    },
                    token,
                })
                .collect())
        })
        .await
    }

    async fn mark_reminded(
        &self,
        id: TokenId,
        kind: ReminderKind,
        generation: u32,
    ) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let target = tokens::table
                .find(id.to_string())
                .filter(tokens::generation.eq(to_i32(generation)));
            let value = Some(to_i32(generation));
            let written = match kind {
                ReminderKind::ExpiringSoon => diesel::update(target)
                    .set(tokens::expiring_soon_sent_for.eq(value))
                    .execute(conn),
                ReminderKind::Expired => diesel::update(target)
                    .set(tokens::expired_sent_for.eq(value))
                    .execute(conn),
            }
            .map_err(store_error)?;
            Ok(written == 1)
        })
        .await
    }
}

#[async_trait]
impl Outbox for DieselStore {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool, StoreError> {
        let row = OutboxRow::from_message(message);
        self.run(move |conn| {
            let known: i64 = outbox::table
                .filter(outbox::dedupe_key.eq(&row.dedupe_key))
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            if known > 0 {
                return Ok(false);
            }
            match diesel::insert_into(outbox::table)
                .values(&row)
                .execute(conn)
            {
                Ok(_) => Ok(true),
                // Another process queued the same notice between the two statements.
                Err(e) if unique_violation(&e).is_some_and(|index| index.contains("dedupe")) => {
                    Ok(false)
                }
                Err(e) => Err(store_error(e)),
            }
        })
        .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.run(move |conn| {
            let candidates: Vec<OutboxRow> = outbox::table
                .filter(outbox::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(outbox::next_attempt_at.le(micros(now)))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .limit(i64::from(limit))
                .select(OutboxRow::as_select())
                .load(conn)
                .map_err(store_error)?;
            let mut claimed = Vec::with_capacity(candidates.len());
            for mut row in candidates {
                // Claim only if nobody moved it since we read it (no lock needed).
                let taken = diesel::update(
                    outbox::table
                        .find(&row.id)
                        .filter(outbox::status.eq(DeliveryStatus::Pending.as_str()))
                        .filter(outbox::next_attempt_at.eq(row.next_attempt_at)),
                )
                .set(outbox::next_attempt_at.eq(micros(lease_until)))
                .execute(conn)
                .map_err(store_error)?;
                if taken == 1 {
                    row.next_attempt_at = micros(lease_until);
                    claimed.push(row.into_message()?);
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn record(&self, id: MessageId, attempt: &Attempt) -> Result<(), StoreError> {
        let attempt = attempt.clone();
        self.run(move |conn| {
            let target = outbox::table.find(id.to_string());
            let changed = match attempt {
                Attempt::Sent { at } => diesel::update(target)
                    .set((
                        outbox::status.eq(DeliveryStatus::Sent.as_str()),
                        outbox::sent_at.eq(Some(micros(at))),
                        outbox::attempts.eq(outbox::attempts + 1),
                    ))
                    .execute(conn),
                Attempt::Retry {
                    next_attempt_at,
                    error,
                } => diesel::update(target)
                    .set((
                        outbox::next_attempt_at.eq(micros(next_attempt_at)),
                        outbox::last_error.eq(Some(error)),
                        outbox::attempts.eq(outbox::attempts + 1),
                    ))
                    .execute(conn),
                Attempt::Failed { error } => diesel::update(target)
                    .set((
                        outbox::status.eq(DeliveryStatus::Failed.as_str()),
                        outbox::last_error.eq(Some(error)),
                        outbox::attempts.eq(outbox::attempts + 1),
                    ))
                    .execute(conn),
            }
            .map_err(store_error)?;
            match changed {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, StoreError> {
        self.run(move |conn| {
            let filtered = || {
                let mut q = outbox::table.into_boxed::<Db>();
                if let Some(status) = status {
                    q = q.filter(outbox::status.eq(status.as_str()));
                }
                q
            };
            let total: i64 = filtered().count().get_result(conn).map_err(store_error)?;
            let (offset, limit) = page_bounds(page);
            let items = filtered()
                .order((outbox::created_at.desc(), outbox::id.desc()))
                .offset(offset)
                .limit(limit)
                .select(OutboxRow::as_select())
                .load(conn)
                .map_err(store_error)?
                .into_iter()
                .map(OutboxRow::into_message)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::new(items, page, count(total)))
        })
        .await
    }
}

/// Rows per multi-row INSERT: 16 columns × 1000 stays under both backends' bind limits.
const IMPORT_CHUNK: usize = 1000;

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
    })
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

#[async_trait]
impl UserDirectory for DieselStore {
    async fn insert(
        &self,
        user: &User,
        password_hash: Option<&str>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let row = UserRow::from_user(user, password_hash);
        let journal = journal.clone();
        self.run(move |conn| {
            conn.transaction(|conn| {
                diesel::insert_into(users::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| match unique_violation(&e) {
                        Some(index) if index.contains("email") => {
                            TxError::Store(StoreError::DuplicateEmail)
                        }
                        _ => e.into(),
                    })?;
                write_journal(conn, &journal)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.run(move |conn| {
            users::table
                .find(id.to_string())
                .select(UserRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map(UserRow::into_user)
                .transpose()
        })
        .await
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UserCredentials>, StoreError> {
        let folded = fold_email(email);
        self.run(move |conn| {
            let Some(row) = users::table
                .filter(users::email_folded.eq(folded))
                .select(UserRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
            else {
                return Ok(None);
            };
            let password_hash = row.password_hash.clone();
            Ok(Some(UserCredentials {
                user: row.into_user()?,
                password_hash,
            }))
        })
        .await
    }

    async fn update(
        &self,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
        journal: &Journal,
    ) -> Result<User, StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Owner(&key), |conn| {
                if let Some(role) = role {
                    diesel::update(users::table.find(&key))
                        .set(users::role.eq(role.as_str()))
                        .execute(conn)?;
                }
                if let Some(active) = active {
                    diesel::update(users::table.find(&key))
                        .set(users::active.eq(i32::from(active)))
                        .execute(conn)?;
                }
                let row = users::table
                    .find(&key)
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or(StoreError::NotFound)?;
                write_journal(conn, &journal)?;
                Ok(row.into_user()?)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<(), StoreError> {
        let hash = password_hash.to_owned();
        self.run(move |conn| {
            match diesel::update(users::table.find(id.to_string()))
                .set(users::password_hash.eq(Some(hash)))
                .execute(conn)
                .map_err(store_error)?
            {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.run(move |conn| {
            let total: i64 = users::table.count().get_result(conn).map_err(store_error)?;
            let (offset, limit) = page_bounds(page);
            let users = users::table
                .order((users::email_folded.asc(), users::id.asc()))
                .offset(offset)
                .limit(limit)
                .select(UserRow::as_select())
                .load(conn)
                .map_err(store_error)?
                .into_iter()
                .map(UserRow::into_user)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::new(users, page, count(total)))
        })
        .await
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        self.run(|conn| {
            let admins: i64 = users::table
                .filter(users::role.eq(Role::Admin.as_str()))
                .filter(users::active.eq(1))
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            Ok(count(admins))
        })
        .await
    }
}

#[async_trait]
impl SettingsStore for DieselStore {
    async fn get(&self) -> Result<Settings, StoreError> {
        self.run(|conn| {
            settings::table
                .find(1)
                .select(SettingsRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map_or(Ok(Settings::default()), SettingsRow::into_settings)
        })
        .await
    }

    async fn put(&self, new: &Settings, journal: &Journal) -> Result<(), StoreError> {
        let row = SettingsRow::from_settings(new);
        let journal = journal.clone();
        self.run(move |conn| {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = conn.transaction(|conn| {
                    let updated = diesel::update(settings::table.find(1))
                        .set(&row)
                        .execute(conn)?;
                    if updated == 0 {
                        diesel::insert_into(settings::table)
                            .values(&row)
                            .execute(conn)?;
                    }
                    write_journal(conn, &journal)
                });
                match result {
                    // Another writer inserted the row first: update it on the next pass.
                    Err(TxError::Db(e)) if attempt < 2 && unique_violation(&e).is_some() => {
                        continue;
                    }
                    other => return other.map_err(StoreError::from),
                }
            }
        })
        .await
    }
}

fn audit_listing(query: &AuditQuery) -> audit_events::BoxedQuery<'static, Db> {
    let mut q = audit_events::table.into_boxed::<Db>();
    if let Some(token) = query.token_id {
        q = q.filter(audit_events::token_id.eq(token.to_string()));
    }
    if let Some(owner) = query.owner {
        q = q.filter(audit_events::owner_id.eq(owner.to_string()));
    }
    if let Some(action) = &query.action {
        q = q.filter(audit_events::action.eq(action.clone()));
    }
    q
}

#[async_trait]
impl AuditLog for DieselStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = AuditRow::from_event(event);
        self.run(move |conn| {
            diesel::insert_into(audit_events::table)
                .values(&row)
                .execute(conn)
                .map(drop)
                .map_err(store_error)
        })
        .await
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let query = query.clone();
        self.run(move |conn| {
            let total: i64 = audit_listing(&query)
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            let (offset, limit) = page_bounds(query.page);
            let events = audit_listing(&query)
                .order((audit_events::at.desc(), audit_events::id.desc()))
                .offset(offset)
                .limit(limit)
                .select(AuditRow::as_select())
                .load(conn)
                .map_err(store_error)?
                .into_iter()
                .map(AuditRow::into_event)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::new(events, query.page, count(total)))
        })
        .await
    }
}
