//! Authentication and introspection of presented tokens, and the failure-audit throttle.

use super::*;

/// What introspection tells a resource server about an active token.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// The owner, the token and its scopes and expiry.
    pub principal: Principal,
    /// When the token was created.
    pub issued_at: DateTime<Utc>,
}

/// Identical authentication failures (same reason, token and address) within this
/// window are audited once, with a count: a brute-force or misconfigured client would
/// otherwise turn every refused request into an audit write.
pub const FAILURE_AUDIT_WINDOW: chrono::Duration = chrono::Duration::seconds(60);

/// Most distinct failure keys remembered (the map is emptied beyond it).
pub(super) const MAX_FAILURE_KEYS: usize = 10_000;

pub(super) type FailureKey = (AuthFailure, Option<TokenId>, Option<IpAddr>);

/// The last audited failure of a key and how many identical ones followed it.
#[derive(Debug, Clone, Copy)]
pub(super) struct RepeatedFailure {
    audited_at: DateTime<Utc>,
    since: u32,
}

/// The token an authentication failure concerns, for its audit record.
#[derive(Debug, Clone)]
pub(super) struct FailedToken {
    /// What the store answered for the presented hash.
    pub(super) record: Arc<CredentialRecord>,
}

impl FailedToken {
    pub(super) fn id(&self) -> TokenId {
        self.record.token.id
    }

    pub(super) fn owner(&self) -> UserId {
        self.record.token.owner
    }
}

/// What a checked token lets its holder do.
fn principal(record: &CredentialRecord, user: User) -> Principal {
    Principal {
        user,
        token_id: record.token.id,
        scopes: record.token.scopes.clone(),
        expires_at: record
            .retired
            .as_ref()
            .map_or(record.token.expires_at, |retired| {
                record.token.expires_at.min(retired.grace_until)
            }),
        generation: record
            .retired
            .as_ref()
            .map_or(record.token.generation, |retired| retired.generation),
        previous_secret: record.retired.is_some(),
    }
}

/// Why a found record does not authenticate at `now`, if it does not: the admin
/// switch, revocation, a retired secret past its grace period, expiry, then the owner.
pub(super) fn refusal(record: &CredentialRecord, now: DateTime<Utc>) -> Option<AuthError> {
    if !record.pats_enabled {
        return Some(AuthError::PatsDisabled);
    }
    if record
        .retired
        .as_ref()
        .is_some_and(|retired| now >= retired.keep_until)
    {
        // Forgotten (a kept answer may outlive the keep time): as any unknown secret.
        return Some(AuthError::Unknown);
    }
    let status = record.token.status(now);
    if status != TokenStatus::Revoked
        && record
            .retired
            .as_ref()
            .is_some_and(|retired| now >= retired.grace_until)
    {
        return Some(AuthError::RetiredSecret);
    }
    match status {
        TokenStatus::Revoked => Some(AuthError::Revoked),
        TokenStatus::Expired => Some(AuthError::Expired),
        TokenStatus::Active if !record.owner.as_ref().is_some_and(|user| user.active) => {
            Some(AuthError::UserInactive)
        }
        TokenStatus::Active => None,
    }
}

impl PatService {
    /// Checks a presented token: the address's failed-authentication limit, then the
    /// format, the store lookup, revocation, expiry, the admin switch and the owner.
    /// Failures are audited with their reason and counted against the address; every
    /// outcome is told to the [`AuthObserver`]. The one authentication path: every
    /// adapter that checks a token calls this.
    ///
    /// # Errors
    /// [`AuthError`] naming why the token was refused.
    pub async fn authenticate(
        &self,
        raw: &str,
        ip: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        self.authenticate_from(raw, ip, None).await
    }

    /// [`PatService::authenticate`] with the client's user agent, which the audit
    /// records when a secret rotated away is presented again.
    ///
    /// # Errors
    /// [`AuthError`] naming why the token was refused.
    pub async fn authenticate_from(
        &self,
        raw: &str,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Principal, AuthError> {
        if let Err(retry) = self.failed_auths.check(ip) {
            self.observe(AuthOutcome::RateLimited);
            return Err(AuthError::RateLimited(retry));
        }
        let result = self.authenticate_unlimited(raw, ip, user_agent).await;
        let outcome = match &result {
            Ok(_) => AuthOutcome::Success,
            Err(err) => err
                .failure()
                .map_or(AuthOutcome::Error, AuthOutcome::Failed),
        };
        self.observe(outcome);
        if matches!(outcome, AuthOutcome::Failed(_))
            && self.failed_auths.record_failure(ip)
            && let (Some(observer), Some(ip)) = (&self.observer, ip)
        {
            observer.address_refused(ip);
        }
        result
    }

    fn observe(&self, outcome: AuthOutcome) {
        if let Some(observer) = &self.observer {
            observer.outcome(outcome);
        }
    }

    /// [`PatService::authenticate`] without the address limit and the observer.
    async fn authenticate_unlimited(
        &self,
        raw: &str,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
    ) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        match self.verify(raw, ip, now).await {
            Ok(principal) => Ok(principal),
            Err((AuthError::RetiredSecret, Some(token))) => {
                // Boxed: keeps the reuse write's state out of the success path's future.
                Box::pin(self.reuse_detected(&token, ip, user_agent, now)).await?;
                Err(AuthError::RetiredSecret)
            }
            Err((err, token)) => {
                if let Some(reason) = err.failure()
                    && let Some(detail) = self.failure_to_audit(reason, token.as_ref(), ip, now)
                {
                    let event = self.event(
                        now,
                        AuditAction::AuthFailed(reason),
                        None,
                        token.as_ref().map(FailedToken::owner),
                        token.as_ref().map(FailedToken::id),
                        ip,
                        detail,
                    );
                    // Boxed: keeps the audit write's state out of the success path's future.
                    Box::pin(self.audit.record(&event)).await?;
                }
                Err(err)
            }
        }
    }

    /// The audit detail for this failure, or `None` when an identical one was audited
    /// within [`FAILURE_AUDIT_WINDOW`] (it is counted, and the count goes into the next
    /// audited one).
    pub(super) fn failure_to_audit(
        &self,
        reason: AuthFailure,
        token: Option<&FailedToken>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let key = (reason, token.map(FailedToken::id), ip);
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(seen) = failures.get_mut(&key)
            && now - seen.audited_at < FAILURE_AUDIT_WINDOW
        {
            seen.since = seen.since.saturating_add(1);
            return None;
        }
        if failures.len() >= MAX_FAILURE_KEYS {
            failures.clear();
        }
        let previous = failures.insert(
            key,
            RepeatedFailure {
                audited_at: now,
                since: 0,
            },
        );
        Some(match previous {
            Some(p) if p.since > 0 => format!(
                "{} (and {} identical failures in the {} s after {})",
                reason.as_str(),
                p.since,
                FAILURE_AUDIT_WINDOW.num_seconds(),
                p.audited_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            _ => reason.as_str().to_owned(),
        })
    }

    /// One credential lookup, through the cache when there is one and it can vouch.
    pub(super) async fn lookup_credential(
        &self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<CredentialRecord>>, StoreError> {
        let Some(cache) = &self.cache else {
            return Ok(self.find_credential(hash, now).await?.map(Arc::new));
        };
        match cache.get(hash) {
            Cached::Hit(record) => Ok(record),
            Cached::Bypass => Ok(self.find_credential(hash, now).await?.map(Arc::new)),
            Cached::Miss { epoch } => {
                let record = self.find_credential(hash, now).await?.map(Arc::new);
                let accepts = record
                    .as_deref()
                    .is_some_and(|found| refusal(found, now).is_none());
                cache.put(*hash, record.clone(), accepts, epoch);
                Ok(record)
            }
        }
    }

    /// What the store knows of `hash` at `now`: the token whose current secret it is,
    /// else the token that retired it and still remembers it (marked `retired`). The
    /// history is read only when the current secrets miss, so a current secret costs
    /// what it always did.
    async fn find_credential(
        &self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        if let Some(record) = self.credentials.lookup(hash).await? {
            return Ok(Some(record));
        }
        let Some(retired) = self
            .history
            .find_retired(hash)
            .await?
            .filter(|retired| retired.keep_until > now)
        else {
            return Ok(None);
        };
        let Some(token) = self.tokens.get(retired.token).await? else {
            return Ok(None);
        };
        Ok(self
            .credentials
            .lookup(&token.secret_hash)
            .await?
            .map(|record| CredentialRecord {
                retired: Some(retired),
                ..record
            }))
    }

    pub(super) async fn verify(
        &self,
        raw: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Principal, (AuthError, Option<FailedToken>)> {
        let (record, user, hash) = self.check_credential(raw, now).await?;
        let token = &record.token;
        let stale = token
            .last_used_at
            .is_none_or(|at| now - at > LAST_USED_WRITE_INTERVAL);
        if stale {
            // Written behind, off the request path (`flush_last_uses`).
            self.note_use(token.id, now, ip);
            if let Some(cache) = &self.cache {
                cache.note_use(&hash, now, ip);
            }
        }
        Ok(principal(&record, user))
    }

    /// Every rule a presented secret must pass, without recording its use: the record
    /// (shared with the cache), its active owner, and the hash it was found by.
    pub(super) async fn check_credential(
        &self,
        raw: &str,
        now: DateTime<Utc>,
    ) -> Result<(Arc<CredentialRecord>, User, SecretHash), (AuthError, Option<FailedToken>)> {
        let well_formed = self
            .codec
            .parse(raw)
            .map_err(|_| (AuthError::Malformed, None))?;
        let mut found = None;
        for hash in self.hasher.candidates(well_formed.as_str()) {
            if let Some(record) = self
                .lookup_credential(&hash, now)
                .await
                .map_err(|e| (e.into(), None))?
            {
                // The store matched on the hash; confirm in constant time.
                let presented = record
                    .retired
                    .as_ref()
                    .map_or(record.token.secret_hash, |retired| retired.secret_hash);
                if presented == hash {
                    found = Some((record, hash));
                    break;
                }
            }
        }
        let (record, hash) = found.ok_or((AuthError::Unknown, None))?;
        if let Some(err) = refusal(&record, now) {
            return Err((err, Some(FailedToken { record })));
        }
        // Only the owner is copied; the token stays shared with the cache.
        let Some(user) = record.owner.clone() else {
            return Err((AuthError::UserInactive, Some(FailedToken { record })));
        };
        Ok((record, user, hash))
    }

    /// RFC 7662 introspection for a resource server: whether `raw` is an active token,
    /// and its claims. It applies every rule of [`PatService::authenticate`] but is not
    /// a use of the token: last use is not touched (the resource server is not the
    /// token's user), and a refusal is neither audited nor counted — except a secret
    /// rotated away and presented after its grace period: someone handed the resource
    /// server a leaked secret, and reuse detection acts as on authentication.
    ///
    /// # Errors
    /// The [`AuthError`] that makes the token inactive.
    pub async fn introspect(&self, raw: &str) -> Result<Introspection, AuthError> {
        let now = self.clock.now();
        let (record, user, _) = match self.check_credential(raw, now).await {
            Ok(checked) => checked,
            // A resource server was handed a leaked secret: that is a use of it.
            Err((AuthError::RetiredSecret, Some(token))) => {
                self.reuse_detected(&token, None, None, now).await?;
                return Err(AuthError::RetiredSecret);
            }
            Err((err, _)) => return Err(err),
        };
        Ok(Introspection {
            issued_at: record.token.created_at,
            principal: principal(&record, user),
        })
    }

    /// The token the caller presented (needs no scope).
    ///
    /// # Errors
    /// `NotFound` when the caller did not authenticate with a token (or it is gone).
    pub async fn presented_token(&self, actor: &Actor) -> Result<Token, QueryError> {
        let Credential::Token { token_id, .. } = &actor.credential else {
            return Err(QueryError::NotFound);
        };
        self.tokens
            .get(*token_id)
            .await?
            .map(|token| self.with_pending_use(token))
            .ok_or(QueryError::NotFound)
    }

    /// Revokes the token the caller presented (needs no scope).
    ///
    /// # Errors
    /// `NotFound` when the caller did not authenticate with a token (or it is gone).
    pub async fn revoke_presented_token(&self, actor: &Actor) -> Result<Token, TokenChangeError> {
        let token = self.presented_token(actor).await?;
        let now = self.clock.now();
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::TokenRevoked,
            &token,
            "self".to_owned(),
        ));
        Ok(self
            .changing(
                self.tokens
                    .revoke(token.id, RevocationReason::Owner, now, &journal),
            )
            .await?)
    }
}
