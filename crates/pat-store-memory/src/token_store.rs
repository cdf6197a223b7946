//! `TokenStore` in memory: the same rules as the SQL adapter, under one lock.

use super::*;

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert(
        &self,
        token: &Token,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        if state.name_taken(token.owner, &token.name, None) {
            return Err(StoreError::DuplicateName);
        }
        if state.active_count(token.owner, now, None) >= active_limit as usize {
            return Err(StoreError::ActiveLimit {
                limit: active_limit,
            });
        }
        if state.tokens.contains_key(&token.id)
            || state.by_hash.contains_key(token.secret_hash.as_bytes())
        {
            return Err(StoreError::Other(pat_core::ports::Cause::found(
                "token id or secret hash already stored",
            )));
        }
        state
            .by_hash
            .insert(*token.secret_hash.as_bytes(), token.id);
        state
            .by_owner
            .entry(token.owner)
            .or_default()
            .push(token.id);
        state.tokens.insert(token.id, token.clone());
        state.write_journal(journal);
        Ok(())
    }

    async fn get(&self, id: TokenId) -> Result<Option<Token>, StoreError> {
        Ok(self.read().tokens.get(&id).cloned())
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<Token>, StoreError> {
        let state = self.read();
        Ok(state
            .by_hash
            .get(hash.as_bytes())
            .and_then(|id| state.tokens.get(id))
            .cloned())
    }

    async fn find_by_hashes(&self, hashes: &[SecretHash]) -> Result<Vec<Token>, StoreError> {
        let state = self.read();
        let mut ids: Vec<TokenId> = hashes
            .iter()
            .filter_map(|hash| state.by_hash.get(hash.as_bytes()).copied())
            .collect();
        ids.sort_by_key(|id| id.0);
        ids.dedup();
        Ok(ids
            .iter()
            .filter_map(|id| state.tokens.get(id).cloned())
            .collect())
    }

    async fn list(&self, query: &TokenQuery) -> Result<Page<Token>, StoreError> {
        let state = self.read();
        let needle = query.name_contains.as_ref().map(|q| q.to_lowercase());
        let mut matching: Vec<&Token> = state
            .owned_by(query.owner)
            .filter(|t| match query.status {
                StatusFilter::All => true,
                StatusFilter::Only(status) => t.status(query.now) == status,
            })
            .filter(|t| {
                needle
                    .as_ref()
                    .is_none_or(|n| t.name.folded().contains(n.as_str()))
            })
            .collect();
        matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(page_of(matching, query.page))
    }

    async fn count_active(&self, owner: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.read().active_count(owner, now, None) as u64)
    }

    async fn update_details(
        &self,
        id: TokenId,
        name: &TokenName,
        description: &Description,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let owner = state.token_mut(id)?.owner;
        if state.name_taken(owner, name, Some(id)) {
            return Err(StoreError::DuplicateName);
        }
        let token = state.token_mut(id)?;
        token.name = name.clone();
        token.description = description.clone();
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn revoke(
        &self,
        id: TokenId,
        reason: RevocationReason,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        if token.revoked_at.is_some() {
            return Ok(token.clone());
        }
        token.revoked_at = Some(now);
        token.revoked_reason = Some(reason);
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn regenerate(
        &self,
        regeneration: &Regeneration,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let current = state.token_mut(regeneration.id)?;
        if let Some(reason) = current.revival_refused()
            && regeneration.lifts != Some(reason)
        {
            return Err(StoreError::NotRevivable(reason));
        }
        let owner = current.owner;
        if state.active_count(owner, now, Some(regeneration.id)) >= active_limit as usize {
            return Err(StoreError::ActiveLimit {
                limit: active_limit,
            });
        }
        let token = state.token_mut(regeneration.id)?;
        let old_hash = *token.secret_hash.as_bytes();
        // Checked under the lock: a secret that stopped meanwhile (revoked) is not
        // brought back by a grace period, nor remembered as one rotation retired.
        let live = token.status(now) == TokenStatus::Active;
        let retired = RetiredSecret {
            secret_hash: token.secret_hash,
            token: token.id,
            generation: token.generation,
            retired_at: now,
            grace_until: if live { regeneration.grace_until } else { now },
            keep_until: if live {
                regeneration.keep_retired_until
            } else {
                now
            },
        };
        token.secret_hash = regeneration.secret_hash;
        token.hint = regeneration.hint.clone();
        token.expires_at = regeneration.expires_at;
        token.revoked_at = None;
        token.revoked_reason = None;
        token.generation += 1;
        token.reminders = ReminderState::default();
        token.previous_secret_valid_until =
            (retired.grace_until > now).then_some(retired.grace_until);
        token.reuse_detected_at = None;
        token.updated_at = now;
        let token = token.clone();
        state.by_hash.remove(&old_hash);
        state
            .by_hash
            .insert(*token.secret_hash.as_bytes(), token.id);
        // One previous secret in grace at a time: earlier ones end now (and one that
        // stopped with a revocation of the token is forgotten: not reuse).
        for earlier in state.retired.values_mut() {
            if earlier.token == token.id && earlier.grace_until > now {
                earlier.grace_until = now;
                if !live {
                    earlier.keep_until = now;
                }
            }
        }
        state.retired.insert(old_hash, retired);
        state.write_journal(journal);
        Ok(token)
    }

    async fn record_reuse(
        &self,
        id: TokenId,
        revoke: bool,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        if revoke && token.revoked_at.is_some() {
            return Ok(token.clone());
        }
        token.reuse_detected_at = Some(now);
        if revoke {
            token.revoked_at = Some(now);
            token.revoked_reason = Some(RevocationReason::ReuseDetected);
            token.updated_at = now;
        }
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn add_scopes(
        &self,
        id: TokenId,
        scopes: &[Scope],
        max_scopes: usize,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        let new: Vec<&Scope> = scopes
            .iter()
            .filter(|s| !token.scopes.iter().any(|held| held.spec == s.spec))
            .collect();
        let would_hold = token.scopes.len() + new.len();
        if would_hold > max_scopes {
            return Err(StoreError::ScopeLimit {
                limit: max_scopes,
                would_hold,
            });
        }
        token.scopes = token.scopes.iter().chain(new).cloned().collect();
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn remove_scope(
        &self,
        id: TokenId,
        scope: ScopeId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        if !token.scopes.iter().any(|s| s.id == scope) {
            return Err(StoreError::NotFound);
        }
        token.scopes = token
            .scopes
            .iter()
            .filter(|s| s.id != scope)
            .cloned()
            .collect();
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn clear_scopes(
        &self,
        id: TokenId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        token.scopes = Arc::from([]);
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn delete(&self, id: TokenId, journal: &Journal) -> Result<(), StoreError> {
        let mut state = self.write();
        state.remove(id).ok_or(StoreError::NotFound)?;
        state.write_journal(journal);
        Ok(())
    }

    async fn record_use(
        &self,
        id: TokenId,
        at: DateTime<Utc>,
        ip: Option<IpAddr>,
        not_since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.write();
        let Some(token) = state.tokens.get_mut(&id) else {
            return Ok(false);
        };
        if token.last_used_at.is_some_and(|last| last >= not_since) {
            return Ok(false);
        }
        token.last_used_at = Some(at);
        token.last_used_ip = ip;
        Ok(true)
    }

    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        warning: Duration,
        limit: u32,
    ) -> Result<Vec<Token>, StoreError> {
        let state = self.read();
        let mut due: Vec<Token> = state
            .tokens
            .values()
            .filter(|token| {
                let generation = Some(token.generation);
                let owed = if token.expires_at <= now {
                    token.reminders.expired_sent_for != generation
                } else {
                    token.reminders.expiring_soon_sent_for != generation
                };
                token.revoked_at.is_none() && token.expires_at <= now + warning && owed
            })
            .cloned()
            .collect();
        due.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn mark_reminded(
        &self,
        id: TokenId,
        kind: ReminderKind,
        generation: u32,
    ) -> Result<bool, StoreError> {
        let mut state = self.write();
        let Some(token) = state.tokens.get_mut(&id) else {
            return Ok(false);
        };
        if token.generation != generation {
            return Ok(false);
        }
        let slot = match kind {
            ReminderKind::ExpiringSoon => &mut token.reminders.expiring_soon_sent_for,
            ReminderKind::Expired => &mut token.reminders.expired_sent_for,
        };
        *slot = Some(generation);
        Ok(true)
    }
}
