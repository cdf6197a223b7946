//! Adding and removing a token's scopes.

use super::*;

/// Scopes as the audit log shows them: `scopes=jobs:list jobs:read`.
pub(super) fn describe_scopes(scopes: &[Scope]) -> String {
    let texts: Vec<String> = scopes.iter().map(|s| s.spec.to_string()).collect();
    format!("scopes={}", texts.join(" "))
}

impl PatService {
    /// Adds scopes (ones the token already holds are skipped). Collaborators may not:
    /// broadening a token is as good as creating one.
    ///
    /// # Errors
    /// `ForbiddenRole` (collaborators), `NotFound`, `InvalidScope`, `TooManyScopes`,
    /// `ScopeEscalation` (token callers).
    pub async fn add_scopes(
        &self,
        actor: &Actor,
        id: TokenId,
        scopes: &[String],
    ) -> Result<Token, AddScopesError> {
        refuse_collaborator(actor, "add scopes to tokens")?;
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        let specs = self.parse_scopes(scopes)?;
        refuse_escalation(actor, &specs, token.expires_at)?;
        let now = self.clock.now();
        let scopes = self.new_scopes(specs, now)?;
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::ScopesAdded,
            &token,
            describe_scopes(&scopes),
        ));
        Ok(self
            .changing(
                self.tokens
                    .add_scopes(id, &scopes, MAX_SCOPES_PER_TOKEN, now, &journal),
            )
            .await?)
    }

    /// Removes one scope.
    ///
    /// # Errors
    /// `NotFound` (token), `ScopeNotFound`.
    pub async fn remove_scope(
        &self,
        actor: &Actor,
        id: TokenId,
        scope: ScopeId,
    ) -> Result<Token, TokenChangeError> {
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        let Some(removed) = token.scopes.iter().find(|s| s.id == scope) else {
            return Err(TokenChangeError::ScopeNotFound);
        };
        let now = self.clock.now();
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::ScopeRemoved,
            &token,
            removed.spec.to_string(),
        ));
        self.changing(self.tokens.remove_scope(id, scope, now, &journal))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => TokenChangeError::ScopeNotFound,
                other => other.into(),
            })
    }

    /// Removes every scope: the token then authorizes nothing.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn clear_scopes(
        &self,
        actor: &Actor,
        id: TokenId,
    ) -> Result<Token, TokenChangeError> {
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        let now = self.clock.now();
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::ScopesCleared,
            &token,
            String::new(),
        ));
        Ok(self
            .changing(self.tokens.clear_scopes(id, now, &journal))
            .await?)
    }

    /// Parses a request's scope texts, in order, without duplicates; at least one. The count is
    /// checked first, and duplicates are found with a set, so a large body costs one
    /// comparison of its length, not parsing and quadratic de-duplication.
    pub(super) fn parse_scopes(&self, texts: &[String]) -> Result<Vec<ScopeSpec>, ScopesError> {
        if texts.len() > MAX_SCOPES_PER_TOKEN {
            return Err(ScopesError::TooMany {
                max: MAX_SCOPES_PER_TOKEN,
                got: texts.len(),
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(texts.len());
        let mut specs = Vec::with_capacity(texts.len());
        for text in texts {
            let spec = ScopeSpec::parse(text, &self.catalog)?;
            if seen.insert(spec.clone()) {
                specs.push(spec);
            }
        }
        if specs.is_empty() {
            return Err(ScopesError::Empty);
        }
        Ok(specs)
    }

    pub(super) fn new_scopes(
        &self,
        specs: Vec<ScopeSpec>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Scope>, RandomnessError> {
        specs
            .into_iter()
            .map(|spec| {
                Ok(Scope {
                    id: ScopeId(self.new_uuid(now)?),
                    spec,
                })
            })
            .collect()
    }
}
