//! What `PatService`'s operations refuse with.

use super::*;

/// Why an authentication failed. Over HTTP every variant is the same 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Not a well-formed token (length, prefix, alphabet or checksum).
    #[error("the token is malformed")]
    Malformed,
    /// Well-formed but unknown.
    #[error("the token is unknown")]
    Unknown,
    /// Expired.
    #[error("the token has expired")]
    Expired,
    /// Revoked.
    #[error("the token has been revoked")]
    Revoked,
    /// Personal access tokens are switched off.
    #[error("personal access tokens are disabled by the administrator")]
    PatsDisabled,
    /// The owner is deactivated.
    #[error("the token's owner is deactivated")]
    UserInactive,
    /// The store could not answer.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl AuthError {
    /// The audit reason, for the failures that are the caller's.
    pub fn failure(&self) -> Option<AuthFailure> {
        match self {
            AuthError::Malformed => Some(AuthFailure::Malformed),
            AuthError::Unknown => Some(AuthFailure::Unknown),
            AuthError::Expired => Some(AuthFailure::Expired),
            AuthError::Revoked => Some(AuthFailure::Revoked),
            AuthError::PatsDisabled => Some(AuthFailure::PatsDisabled),
            AuthError::UserInactive => Some(AuthFailure::UserInactive),
            AuthError::Storage(_) => None,
        }
    }
}

/// Why a management operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// Bad token name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Bad description.
    #[error(transparent)]
    InvalidDescription(#[from] DescriptionError),
    /// Bad `expires_in_days`.
    #[error(transparent)]
    InvalidExpiry(#[from] ExpiryError),
    /// Bad scope text.
    #[error(transparent)]
    InvalidScope(#[from] ScopeError),
    /// A new token needs at least one scope.
    #[error("a token needs at least one scope, e.g. \"jobs:list\" or \"*:*\" for full access")]
    NoScopes,
    /// Over the per-token scope limit.
    #[error("a token holds at most {max} scopes, got {got}")]
    TooManyScopes {
        /// The limit.
        max: usize,
        /// Scopes the token would hold.
        got: usize,
    },
    /// Bad paging.
    #[error(transparent)]
    InvalidPage(#[from] PageError),
    /// Bad settings.
    #[error(transparent)]
    InvalidSettings(#[from] SettingsError),
    /// Bad user fields, or a change that would leave no active admin.
    #[error(transparent)]
    InvalidUser(#[from] UserError),
    /// The owner is at the active limit.
    #[error("you already have {limit} active tokens, the most allowed; revoke or delete one first")]
    ActiveLimit {
        /// The limit in force.
        limit: u32,
    },
    /// The owner has a token of this name.
    #[error("you already have a token named {name:?}; names are unique ignoring case")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A user with this email exists.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// Token creation is switched off.
    #[error("personal access tokens are disabled by the administrator")]
    PatsDisabled,
    /// The caller's role may not do this.
    #[error("the {role} role may not {action}")]
    ForbiddenRole {
        /// The caller's role.
        role: Role,
        /// What was refused.
        action: &'static str,
    },
    /// Admins only.
    #[error("only administrators may do this")]
    Forbidden,
    /// The presenting token lacks the scope this needs.
    #[error("the token lacks the scope {required} this needs")]
    MissingScope {
        /// The scope needed, e.g. `tokens:create`.
        required: String,
    },
    /// The token was revoked by an admin: its owner may not bring it back.
    #[error("an administrator revoked this token; it cannot be regenerated — create a new one")]
    RevokedByAdmin,
    /// The token was revoked because its secret leaked: it may not be brought back.
    #[error(
        "this token was revoked because its secret was found exposed; it cannot be regenerated — create a new one"
    )]
    RevokedAsLeaked,
    /// A token may not grant what it does not hold, nor outlive itself.
    #[error(transparent)]
    ScopeEscalation(#[from] Escalation),
    /// No such token (or not the caller's: existence is not revealed).
    #[error("no such token")]
    NotFound,
    /// No such user.
    #[error("no such user")]
    UserNotFound,
    /// No such scope on the token.
    #[error("no such scope on this token")]
    ScopeNotFound,
    /// The randomness source failed.
    #[error("the random number generator failed: {0}")]
    Randomness(String),
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::DuplicateEmail => ServiceError::DuplicateEmail,
            StoreError::ActiveLimit { limit } => ServiceError::ActiveLimit { limit },
            StoreError::NotRevivable(RevocationReason::Admin | RevocationReason::Owner) => {
                ServiceError::RevokedByAdmin
            }
            StoreError::NotRevivable(
                RevocationReason::LeakReport | RevocationReason::ReuseDetected,
            ) => ServiceError::RevokedAsLeaked,
            StoreError::ScopeLimit { limit, would_hold } => ServiceError::TooManyScopes {
                max: limit,
                got: would_hold,
            },
            other => ServiceError::Storage(other),
        }
    }
}

/// Why [`PatServiceBuilder::build`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PatService needs a {0}; call the builder method of that name")]
pub struct BuildError(pub(super) &'static str);

/// How a token caller tried to grant more than it holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Escalation {
    /// A scope the presenting token does not cover.
    #[error("the presenting token does not hold the scope {0}, so it cannot grant it")]
    ScopeNotHeld(ScopeSpec),
    /// A lifetime past the presenting token's own expiry.
    #[error(
        "a token may not outlive the token that creates it (expires {})",
        .caller_expires_at.to_rfc3339()
    )]
    OutlivesCaller {
        /// When the presenting token expires.
        caller_expires_at: DateTime<Utc>,
    },
}

/// Why a user could not be added or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// Not an address like `someone@example.com` (or over 254 characters).
    #[error("email {0:?} is invalid: give an address like someone@example.com")]
    InvalidEmail(String),
    /// Empty, over 100 characters, or with control characters.
    #[error("name must be 1 to 100 characters without control characters")]
    InvalidName,
    /// The change would leave no active administrator.
    #[error("this is the last active administrator; promote another user first")]
    LastAdmin,
}
