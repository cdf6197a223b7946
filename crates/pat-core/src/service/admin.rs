//! Admin settings, admin reach over any token, the audit log, metrics access.

use super::*;

impl PatService {
    /// The settings in force (anyone may read them: forms show the limits).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn current_settings(&self) -> Result<Settings, StoreError> {
        self.settings.get().await
    }

    /// The settings, for the admin pages (admins only).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn admin_settings(&self, actor: &Actor) -> Result<Settings, QueryError> {
        require_admin(actor, "read")?;
        Ok(self.settings.get().await?)
    }

    /// Revokes any user's token (admins only).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`.
    pub async fn admin_revoke_token(
        &self,
        actor: &Actor,
        id: TokenId,
    ) -> Result<Token, TokenChangeError> {
        require_admin(actor, "update")?;
        self.revoke_reached(actor, id, Reach::Admin).await
    }

    /// Lifts a reuse revocation after review (admins only): the token, revoked because a
    /// secret it had before was presented again, gets a new secret and lifetime as on
    /// regenerate and is active again; its owner is mailed. The new secret is shown to
    /// the admin once: hand it over, or let the owner regenerate it to get one only
    /// they have seen.
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`, `NotRevokedForReuse`, and the
    /// regenerate errors (`InvalidExpiry`, `PatsDisabled`, `ActiveLimit`, ...).
    pub async fn admin_lift_reuse_revocation(
        &self,
        actor: &Actor,
        id: TokenId,
        expires_in_days: i64,
    ) -> Result<IssuedToken, RegenerateError> {
        require_admin(actor, "update")?;
        let renewal = rotation::Renewal {
            expires_in_days: Some(expires_in_days),
            grace_minutes: None,
            rotation: rotation::Rotation::LiftReuse,
        };
        self.regenerate(actor, id, renewal).await
    }

    /// Deletes any user's token (admins only).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`.
    pub async fn admin_delete_token(
        &self,
        actor: &Actor,
        id: TokenId,
    ) -> Result<(), TokenChangeError> {
        require_admin(actor, "delete")?;
        self.delete_reached(actor, id, Reach::Admin).await
    }

    /// Replaces the admin settings.
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `InvalidSettings` for values out of range.
    pub async fn update_settings(
        &self,
        actor: &Actor,
        settings: Settings,
    ) -> Result<Settings, SettingsChangeError> {
        require_admin(actor, "update")?;
        let settings = settings.validate()?;
        let journal = Journal::of(self.event(
            self.clock.now(),
            AuditAction::SettingsChanged,
            Some(actor.user.id),
            None,
            None,
            actor.ip,
            format!(
                "pats_enabled={} max_lifetime_days={} max_active_per_user={} expiry_warning_days={} max_grace_minutes={} revoke_on_reuse={}",
                settings.pats_enabled,
                settings.max_lifetime_days,
                settings.max_active_per_user,
                settings.expiry_warning_days,
                settings.max_grace_minutes,
                settings.revoke_on_reuse
            ),
        ));
        self.changing(self.settings.put(&settings, &journal))
            .await?;
        Ok(settings)
    }

    /// The whole audit log (admins).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn audit_log(
        &self,
        actor: &Actor,
        query: AuditQuery,
    ) -> Result<Page<AuditEvent>, QueryError> {
        require_admin(actor, "read")?;
        Ok(self.audit.list(&query).await?)
    }

    /// Whether `actor` may read the operational metrics (they count authentication
    /// failures by reason, which the API's identical 401s hide).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `MissingScope` for an admin's token without
    /// `admin:read`.
    pub fn may_read_metrics(&self, actor: &Actor) -> Result<(), Denied> {
        require_admin(actor, "read")
    }
}
