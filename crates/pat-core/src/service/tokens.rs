//! Token lifecycle: create, list, read, rename, revoke, delete, history,
//! leak reports.

use super::*;

/// A token caller may grant only scopes it holds, and nothing that outlives it.
pub(super) fn refuse_escalation(
    actor: &Actor,
    specs: &[ScopeSpec],
    expires_at: DateTime<Utc>,
) -> Result<(), Escalation> {
    let Credential::Token {
        scopes,
        expires_at: own_expiry,
        ..
    } = &actor.credential
    else {
        return Ok(());
    };
    if let Some(spec) = specs
        .iter()
        .find(|spec| !scopes.iter().any(|held| held.spec.covers(spec)))
    {
        return Err(Escalation::ScopeNotHeld(spec.clone()));
    }
    if expires_at > *own_expiry {
        return Err(Escalation::OutlivesCaller {
            caller_expires_at: *own_expiry,
        });
    }
    Ok(())
}

impl PatService {
    /// Creates a token for the actor.
    ///
    /// # Errors
    /// Validation errors for name, description, expiry and scopes; `PatsDisabled`,
    /// `ForbiddenRole` (collaborators), `MissingScope`/`ScopeEscalation` (token
    /// callers), `ActiveLimit`, `DuplicateName`.
    pub async fn create_token(
        &self,
        actor: &Actor,
        request: CreateTokenRequest,
    ) -> Result<IssuedToken, CreateTokenError> {
        require_token_scope(actor, TokenOp::Create)?;
        refuse_collaborator(actor, "create tokens")?;
        let settings = self
            .enabled_settings()
            .await?
            .ok_or(CreateTokenError::PatsDisabled)?;
        let name = TokenName::new(&request.name)?;
        let description = Description::new(&request.description)?;
        let lifetime = Lifetime::new(request.expires_in_days, settings.max_lifetime_days)?;
        let specs = self.parse_scopes(&request.scopes)?;
        let now = self.clock.now();
        let expires_at = lifetime.expires_at(now);
        refuse_escalation(actor, &specs, expires_at)?;
        let scopes = self.new_scopes(specs, now)?;
        let secret = self.new_secret()?;
        let token = Token {
            id: TokenId(self.new_uuid(now)?),
            owner: actor.user.id,
            name,
            description,
            scopes: scopes.into(),
            created_at: now,
            updated_at: now,
            expires_at,
            revoked_at: None,
            revoked_reason: None,
            last_used_at: None,
            last_used_ip: None,
            generation: 1,
            secret_hash: self.hasher.hash(secret.expose()),
            hint: secret.hint(),
            reminders: Default::default(),
            previous_secret_valid_until: None,
            reuse_detected_at: None,
            allowed_ips: Default::default(),
            ip_policy: Default::default(),
            not_before: None,
        };
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::TokenCreated,
            &token,
            describe_scopes(&token.scopes),
        ))
        .with_notice(self.message(notice(NoticeKind::Created, &actor.user, &token), now)?);
        self.changing(
            self.tokens
                .insert(&token, settings.max_active_per_user, now, &journal),
        )
        .await
        .map_err(|err| match err {
            StoreError::DuplicateName => CreateTokenError::DuplicateName {
                name: token.name.as_str().to_owned(),
            },
            other => other.into(),
        })?;
        Ok(IssuedToken { token, secret })
    }

    /// Lists the caller's tokens, or (admins) another user's.
    ///
    /// # Errors
    /// `Forbidden` for a non-admin asking for another user's; `MissingScope` for a
    /// token caller without `tokens:list`.
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        request: ListTokensRequest,
    ) -> Result<Page<Token>, QueryError> {
        require_token_scope(actor, TokenOp::List)?;
        let owner = match request.owner {
            Some(owner) if owner != actor.user.id => {
                require_admin(actor, "read")?;
                owner
            }
            _ => actor.user.id,
        };
        let query = TokenQuery {
            owner,
            status: request.status,
            name_contains: request
                .name_contains
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty()),
            now: self.clock.now(),
            page: request.page,
        };
        let mut page = self.tokens.list(&query).await?;
        page.items = page
            .items
            .into_iter()
            .map(|token| self.with_pending_use(token))
            .collect();
        Ok(page)
    }

    /// Whether `actor` may create a token now, and if not, why: the one rule UIs ask
    /// before they offer creation (role, the PAT switch, the active limit), the same
    /// checks [`PatService::create_token`] makes.
    ///
    /// # Errors
    /// `MissingScope` for a token caller without `tokens:create`; storage errors.
    pub async fn creation_allowance(&self, actor: &Actor) -> Result<CreationAllowance, QueryError> {
        require_token_scope(actor, TokenOp::Create)?;
        if actor.user.role == Role::Collaborator {
            return Ok(CreationAllowance::NotForRole(actor.user.role));
        }
        let settings = self.settings.get().await?;
        if !settings.pats_enabled {
            return Ok(CreationAllowance::PatsDisabled);
        }
        let active = self
            .tokens
            .count_active(actor.user.id, self.clock.now())
            .await?;
        let limit = settings.max_active_per_user;
        if active >= u64::from(limit) {
            return Ok(CreationAllowance::AtLimit { active, limit });
        }
        Ok(CreationAllowance::Allowed)
    }

    /// One token of the caller's (or, for admins, anyone's).
    ///
    /// # Errors
    /// `NotFound` when it does not exist or is another user's.
    pub async fn get_token(&self, actor: &Actor, id: TokenId) -> Result<Token, QueryError> {
        self.load(actor, id, TokenOp::Read, Reach::OwnerOrAdmin)
            .await
    }

    /// Renames and/or re-describes a token; `None` keeps a field.
    ///
    /// # Errors
    /// `NotFound`, `InvalidName`, `InvalidDescription`, `DuplicateName`.
    pub async fn update_token(
        &self,
        actor: &Actor,
        id: TokenId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Token, TokenChangeError> {
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        let name = match name {
            Some(name) => TokenName::new(name)?,
            None => token.name.clone(),
        };
        let description = match description {
            Some(description) => Description::new(description)?,
            None => token.description.clone(),
        };
        let now = self.clock.now();
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::TokenUpdated,
            &token,
            format!("name={:?}", name.as_str()),
        ));
        self.changing(
            self.tokens
                .update_details(id, &name, &description, now, &journal),
        )
        .await
        .map_err(|err| match err {
            StoreError::DuplicateName => TokenChangeError::DuplicateName {
                name: name.as_str().to_owned(),
            },
            other => other.into(),
        })
    }

    /// Revokes a token at once. Revoking a revoked token changes nothing.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        id: TokenId,
    ) -> Result<Token, TokenChangeError> {
        self.revoke_reached(actor, id, Reach::OwnerOrAdmin).await
    }

    pub(super) async fn revoke_reached(
        &self,
        actor: &Actor,
        id: TokenId,
        reach: Reach,
    ) -> Result<Token, TokenChangeError> {
        let token = self.load(actor, id, TokenOp::Update, reach).await?;
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let reason = if token.owner == actor.user.id {
            RevocationReason::Owner
        } else {
            RevocationReason::Admin
        };
        let now = self.clock.now();
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::TokenRevoked,
            &token,
            format!("reason={reason}"),
        ));
        Ok(self
            .changing(self.tokens.revoke(id, reason, now, &journal))
            .await?)
    }

    /// Deletes a token for good (its history stays in the audit log).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete_token(&self, actor: &Actor, id: TokenId) -> Result<(), TokenChangeError> {
        self.delete_reached(actor, id, Reach::OwnerOrAdmin).await
    }

    pub(super) async fn delete_reached(
        &self,
        actor: &Actor,
        id: TokenId,
        reach: Reach,
    ) -> Result<(), TokenChangeError> {
        let token = self.load(actor, id, TokenOp::Delete, reach).await?;
        let journal = Journal::of(self.token_event(
            actor,
            self.clock.now(),
            AuditAction::TokenDeleted,
            &token,
            format!("name={:?}", token.name.as_str()),
        ));
        Ok(self.changing(self.tokens.delete(id, &journal)).await?)
    }

    /// Deletes every token of the caller; returns how many.
    ///
    /// # Errors
    /// `MissingScope` for a token caller without `tokens:delete`.
    pub async fn delete_all_tokens(&self, actor: &Actor) -> Result<usize, TokenChangeError> {
        require_token_scope(actor, TokenOp::Delete)?;
        // One token per transaction, each with its own audit event: a crash midway
        // leaves some tokens, never a deletion without its record.
        let mut deleted = 0;
        loop {
            let now = self.clock.now();
            let batch = self
                .tokens
                .list(&TokenQuery {
                    owner: actor.user.id,
                    status: StatusFilter::All,
                    name_contains: None,
                    now,
                    page: PageRequest::default(),
                })
                .await?;
            if batch.items.is_empty() {
                return Ok(deleted);
            }
            for token in &batch.items {
                let journal = Journal::of(self.token_event(
                    actor,
                    now,
                    AuditAction::TokenDeleted,
                    token,
                    "delete all".to_owned(),
                ));
                match self.changing(self.tokens.delete(token.id, &journal)).await {
                    Ok(()) => deleted += 1,
                    // Deleted meanwhile by another request, which recorded it.
                    Err(StoreError::NotFound) => {}
                    Err(other) => return Err(TokenChangeError::Storage(other)),
                }
            }
        }
    }

    /// A token's history, newest first.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn token_events(
        &self,
        actor: &Actor,
        id: TokenId,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, QueryError> {
        let mut query = AuditQuery {
            token_id: Some(id),
            page,
            ..AuditQuery::default()
        };
        match self
            .load(actor, id, TokenOp::Read, Reach::OwnerOrAdmin)
            .await
        {
            Ok(_) => {}
            // A deleted token's history stays readable by its owner and by admins.
            Err(QueryError::NotFound) => {
                if !has_admin_reach(actor, TokenOp::Read) {
                    query.owner = Some(actor.user.id);
                }
                let page = self.audit.list(&query).await?;
                if page.total_items == 0 {
                    return Err(QueryError::NotFound);
                }
                return Ok(page);
            }
            Err(other) => return Err(other),
        }
        Ok(self.audit.list(&query).await?)
    }

    /// Reports leaked secrets: each valid one is revoked, audited and its owner told.
    /// Returns how many were revoked; unknown or malformed strings are ignored.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn report_leaks(
        &self,
        credentials: &[String],
        ip: Option<IpAddr>,
    ) -> Result<usize, InternalError> {
        let now = self.clock.now();
        // Every well-formed credential's hash under every accepted key, looked up in
        // one batch: a report of 1000 strings is one store query, not 1000.
        let hashes: Vec<SecretHash> = credentials
            .iter()
            .filter_map(|raw| self.codec.parse(raw.trim()).ok())
            .flat_map(|well_formed| {
                self.hasher
                    .candidates(well_formed.as_str())
                    .collect::<Vec<_>>()
            })
            .collect();
        if hashes.is_empty() {
            return Ok(0);
        }
        let mut found = self.tokens.find_by_hashes(&hashes).await?;
        // In the order tokens were made, so the audit log reads naturally.
        found.sort_by_key(|token| token.id.0);
        let mut revoked = 0;
        for token in found {
            if token.status(now) != TokenStatus::Active {
                continue;
            }
            let mut journal = Journal::of(self.event(
                now,
                AuditAction::LeakReported,
                None,
                Some(token.owner),
                Some(token.id),
                ip,
                "revoked after a leak report".to_owned(),
            ));
            if let Some(owner) = self.users.get(token.owner).await? {
                journal = journal.with_notice(
                    self.message(notice(NoticeKind::LeakRevoked, &owner, &token), now)?,
                );
            }
            let after = self
                .changing(
                    self.tokens
                        .revoke(token.id, RevocationReason::LeakReport, now, &journal),
                )
                .await?;
            // Revoked by this report, not by a request that came first (compared to the
            // microsecond: a store may keep no finer time).
            if after.revoked_reason == Some(RevocationReason::LeakReport)
                && after
                    .revoked_at
                    .is_some_and(|at| at.timestamp_micros() == now.timestamp_micros())
            {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}
