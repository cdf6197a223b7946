//! `TokenStore`: tokens and their scopes, every write locked and journaled.

use super::*;

/// Most secret hashes one `IN (…)` query carries.
pub(super) const HASHES_PER_QUERY: usize = 500;

/// The filters of a token listing, built afresh for the count and for the page.
pub(super) fn token_listing(query: &TokenQuery) -> tokens::BoxedQuery<'static, Db> {
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
pub(super) fn like_pattern(needle: &str) -> String {
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
        self.token_write(id, journal, move |conn, key| {
            let current = existing_token(conn, key)?;
            let taken: i64 = tokens::table
                .filter(tokens::owner_id.eq(current.owner.to_string()))
                .filter(tokens::name_folded.eq(name.folded()))
                .filter(tokens::id.ne(key))
                .count()
                .get_result(conn)?;
            if taken > 0 {
                return Err(StoreError::DuplicateName.into());
            }
            diesel::update(tokens::table.find(key))
                .set((
                    tokens::name.eq(name.as_str()),
                    tokens::name_folded.eq(name.folded()),
                    tokens::description.eq(description.as_str()),
                    tokens::updated_at.eq(micros(now)),
                ))
                .execute(conn)
                .map_err(name_error)?;
            Ok(true)
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
        self.token_write(id, journal, move |conn, key| {
            revoke_in(conn, key, reason, now)
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
        self.token_write(regeneration.id, journal, move |conn, key| {
            let current = existing_token(conn, key)?;
            if let Some(reason) = current.revival_refused()
                && regeneration.lifts != Some(reason)
            {
                return Err(StoreError::NotRevivable(reason).into());
            }
            let owner = current.owner.to_string();
            take_owner_lock(conn, &owner)?;
            if active_count(conn, &owner, micros(now), Some(key))? >= i64::from(active_limit) {
                return Err(StoreError::ActiveLimit {
                    limit: active_limit,
                }
                .into());
            }
            let grace_until = super::history::retire(conn, &current, &regeneration, now)?;
            diesel::update(tokens::table.find(key))
                .set((
                    tokens::secret_hash.eq(hash_text(&regeneration.secret_hash)),
                    tokens::hint.eq(&regeneration.hint),
                    tokens::expires_at.eq(micros(regeneration.expires_at)),
                    tokens::revoked_at.eq(None::<i64>),
                    tokens::revoked_reason.eq(None::<String>),
                    tokens::generation.eq(tokens::generation + 1),
                    tokens::expiring_soon_sent_for.eq(None::<i32>),
                    tokens::expired_sent_for.eq(None::<i32>),
                    tokens::previous_secret_valid_until
                        .eq((grace_until > now).then_some(micros(grace_until))),
                    tokens::reuse_detected_at.eq(None::<i64>),
                    tokens::updated_at.eq(micros(now)),
                ))
                .execute(conn)?;
            Ok(true)
        })
        .await
    }

    async fn record_reuse(
        &self,
        id: TokenId,
        revoke: bool,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.token_write(id, journal, move |conn, key| {
            // Revoked before (another instance got there first): nothing to note again.
            if revoke && !revoke_in(conn, key, RevocationReason::ReuseDetected, now)? {
                return Ok(false);
            }
            let noted = diesel::update(tokens::table.find(key))
                .set(tokens::reuse_detected_at.eq(micros(now)))
                .execute(conn)?;
            if noted == 0 {
                existing_token(conn, key)?;
            }
            Ok(true)
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
        self.token_write(id, journal, move |conn, key| {
            let current = existing_token(conn, key)?;
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
            let would_hold = current.scopes.len() + new.len();
            if would_hold > max_scopes {
                return Err(StoreError::ScopeLimit {
                    limit: max_scopes,
                    would_hold,
                }
                .into());
            }
            let next_position = token_scopes::table
                .filter(token_scopes::token_id.eq(key))
                .select(diesel::dsl::max(token_scopes::position))
                .first::<Option<i32>>(conn)?
                .map_or(0, |p| usize::try_from(p).unwrap_or(0) + 1);
            insert_scopes(conn, id, next_position, &new)?;
            touch(conn, key, now)?;
            Ok(true)
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
        self.token_write(id, journal, move |conn, key| {
            existing_token(conn, key)?;
            let removed = diesel::delete(
                token_scopes::table
                    .filter(token_scopes::token_id.eq(key))
                    .filter(token_scopes::id.eq(scope.to_string())),
            )
            .execute(conn)?;
            if removed == 0 {
                return Err(StoreError::NotFound.into());
            }
            touch(conn, key, now)?;
            Ok(true)
        })
        .await
    }

    async fn clear_scopes(
        &self,
        id: TokenId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.token_write(id, journal, move |conn, key| {
            existing_token(conn, key)?;
            diesel::delete(token_scopes::table.filter(token_scopes::token_id.eq(key)))
                .execute(conn)?;
            touch(conn, key, now)?;
            Ok(true)
        })
        .await
    }

    async fn delete(&self, id: TokenId, journal: &Journal) -> Result<(), StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Token(&key), |conn| {
                // Scopes go with the token (ON DELETE CASCADE); its retired secrets too.
                if diesel::delete(tokens::table.find(&key)).execute(conn)? == 0 {
                    return Err(StoreError::NotFound.into());
                }
                super::history::forget_token(conn, &key)?;
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
        let used = LastUse {
            token: id,
            at,
            ip,
            not_since,
        };
        self.run(move |conn| Ok(record_use_in(conn, &used).map_err(store_error)? == 1))
            .await
    }

    async fn record_uses(&self, uses: &[LastUse]) -> Result<usize, StoreError> {
        let uses = uses.to_vec();
        self.run(move |conn| {
            // One transaction: SQLite takes its write lock once for the whole batch.
            conn.transaction(|conn| {
                let mut written = 0;
                for used in &uses {
                    written += record_use_in(conn, used)?;
                }
                Ok::<_, diesel::result::Error>(written)
            })
            .map_err(store_error)
        })
        .await
    }

    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        warning: Duration,
        limit: u32,
    ) -> Result<Vec<Token>, StoreError> {
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
            with_scopes(conn, rows)
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

impl DieselStore {
    /// One write to a token, the skeleton every token change shares: in a write
    /// transaction under the token's lock, `change` runs (and says whether it changed
    /// anything), then the journal is written if it did, and the token is read back as
    /// stored. `change` may run again when the transaction is retried.
    async fn token_write(
        &self,
        id: TokenId,
        journal: &Journal,
        mut change: impl FnMut(&mut AnyConnection, &str) -> Result<bool, TxError> + Send + 'static,
    ) -> Result<Token, StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Token(&key), |conn| {
                if change(conn, &key)? {
                    write_journal(conn, &journal)?;
                }
                existing_token(conn, &key)
            })
            .map_err(StoreError::from)
        })
        .await
    }
}

/// Revokes `key` for `reason` unless it is revoked already; whether it did. An unknown
/// id is `NotFound`.
fn revoke_in(
    conn: &mut AnyConnection,
    key: &str,
    reason: RevocationReason,
    now: DateTime<Utc>,
) -> Result<bool, TxError> {
    let revoked = diesel::update(tokens::table.find(key).filter(tokens::revoked_at.is_null()))
        .set((
            tokens::revoked_at.eq(micros(now)),
            tokens::revoked_reason.eq(reason.as_str()),
            tokens::updated_at.eq(micros(now)),
        ))
        .execute(conn)?;
    if revoked == 0 {
        // Unknown (NotFound), or revoked before: kept as it is, nothing journaled.
        existing_token(conn, key)?;
    }
    Ok(revoked == 1)
}

/// One conditional UPDATE: concurrent uses write at most once per interval. Returns the
/// rows written (0 or 1).
fn record_use_in(conn: &mut AnyConnection, used: &LastUse) -> QueryResult<usize> {
    diesel::update(
        tokens::table.find(used.token.to_string()).filter(
            tokens::last_used_at
                .is_null()
                .or(tokens::last_used_at.lt(micros(used.not_since))),
        ),
    )
    .set((
        tokens::last_used_at.eq(micros(used.at)),
        tokens::last_used_ip.eq(used.ip.map(|ip| ip.to_string())),
    ))
    .execute(conn)
}
