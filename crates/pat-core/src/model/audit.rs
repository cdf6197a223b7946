//! The audit log: actions, authentication failure reasons, events, queries.

use super::*;

/// What happened, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAction {
    /// A token was created.
    TokenCreated,
    /// A token got a new secret.
    TokenRegenerated,
    /// A token was revoked.
    TokenRevoked,
    /// A token was deleted.
    TokenDeleted,
    /// A token's name or description changed.
    TokenUpdated,
    /// Scopes were added.
    ScopesAdded,
    /// One scope was removed.
    ScopeRemoved,
    /// Every scope was removed.
    ScopesCleared,
    /// Admin settings changed.
    SettingsChanged,
    /// A leak report revoked a token.
    LeakReported,
    /// An authentication attempt failed, and why.
    AuthFailed(AuthFailure),
    /// A user was added.
    UserCreated,
    /// A user's role or active flag changed.
    UserUpdated,
    /// A user's password was set or changed (by themselves, an admin or a link).
    PasswordChanged,
    /// A one-time set-password link was issued for a user.
    PasswordLinkIssued,
    /// A secret rotated away was presented after its grace period: it leaked.
    TokenReuseDetected,
}

impl AuditAction {
    /// A stable text name, e.g. `token.created`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRegenerated => "token.regenerated",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenDeleted => "token.deleted",
            AuditAction::TokenUpdated => "token.updated",
            AuditAction::ScopesAdded => "token.scopes_added",
            AuditAction::ScopeRemoved => "token.scope_removed",
            AuditAction::ScopesCleared => "token.scopes_cleared",
            AuditAction::SettingsChanged => "settings.changed",
            AuditAction::LeakReported => "token.leak_reported",
            AuditAction::AuthFailed(_) => "auth.failed",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserUpdated => "user.updated",
            AuditAction::PasswordChanged => "user.password_changed",
            AuditAction::PasswordLinkIssued => "user.password_link_issued",
            AuditAction::TokenReuseDetected => "token.reuse_detected",
        }
    }
}

/// Why an authentication failed (kept in the audit log, never told to the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// Not a well-formed token.
    Malformed,
    /// Well-formed but not in the store.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// The admin switched tokens off.
    PatsDisabled,
    /// The owner is deactivated.
    UserInactive,
    /// A secret rotated away, presented after its grace period (audited as
    /// `token.reuse_detected`).
    RetiredSecret,
}

impl AuditAction {
    /// Every action without a payload, for parsing stored names.
    const PLAIN: [AuditAction; 15] = [
        AuditAction::TokenCreated,
        AuditAction::TokenRegenerated,
        AuditAction::TokenRevoked,
        AuditAction::TokenDeleted,
        AuditAction::TokenUpdated,
        AuditAction::ScopesAdded,
        AuditAction::ScopeRemoved,
        AuditAction::ScopesCleared,
        AuditAction::SettingsChanged,
        AuditAction::LeakReported,
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
        AuditAction::PasswordChanged,
        AuditAction::PasswordLinkIssued,
        AuditAction::TokenReuseDetected,
    ];

    /// The authentication failure reason, for `auth.failed`.
    pub fn reason(&self) -> Option<AuthFailure> {
        match self {
            AuditAction::AuthFailed(reason) => Some(*reason),
            _ => None,
        }
    }

    /// Rebuilds an action from its stored name and reason (the inverse of
    /// [`AuditAction::as_str`] and [`AuditAction::reason`]); `None` if unknown.
    pub fn from_stored(name: &str, reason: Option<&str>) -> Option<Self> {
        if name == "auth.failed" {
            return reason?.parse().ok().map(AuditAction::AuthFailed);
        }
        Self::PLAIN
            .into_iter()
            .find(|action| action.as_str() == name)
    }
}

impl FromStr for AuthFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AuthFailure::Malformed,
            AuthFailure::Unknown,
            AuthFailure::Expired,
            AuthFailure::Revoked,
            AuthFailure::PatsDisabled,
            AuthFailure::UserInactive,
            AuthFailure::RetiredSecret,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == s)
        .ok_or_else(|| format!("unknown authentication failure reason {s:?}"))
    }
}

impl AuthFailure {
    /// The text form, e.g. `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Malformed => "malformed",
            AuthFailure::Unknown => "unknown",
            AuthFailure::Expired => "expired",
            AuthFailure::Revoked => "revoked",
            AuthFailure::PatsDisabled => "pats_disabled",
            AuthFailure::UserInactive => "user_inactive",
            AuthFailure::RetiredSecret => "retired_secret",
        }
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Id (time-ordered).
    pub id: EventId,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: AuditAction,
    /// Who did it (none for anonymous callers, e.g. failed authentication).
    pub actor: Option<UserId>,
    /// Whose token or account it concerned.
    pub owner: Option<UserId>,
    /// Which token.
    pub token_id: Option<TokenId>,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Extra facts in plain words (e.g. the scopes added); never a secret.
    pub detail: String,
}

/// Which audit events a listing wants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only events about this token.
    pub token_id: Option<TokenId>,
    /// Only events about this owner's tokens or account.
    pub owner: Option<UserId>,
    /// Only events with this action name (see [`AuditAction::as_str`]).
    pub action: Option<String>,
    /// Which page; newest first.
    pub page: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_audit_actions_round_trip() {
        let mut all = AuditAction::PLAIN.to_vec();
        all.push(AuditAction::AuthFailed(AuthFailure::Revoked));
        for action in all {
            let reason = action.reason().map(AuthFailure::as_str);
            assert_eq!(
                AuditAction::from_stored(action.as_str(), reason),
                Some(action)
            );
        }
        assert_eq!(AuditAction::from_stored("auth.failed", None), None);
        assert_eq!(AuditAction::from_stored("nope", None), None);
    }
}
