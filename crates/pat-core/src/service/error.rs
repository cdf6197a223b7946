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
    /// A secret its token retired by rotation, presented after the grace period: a leak.
    #[error("the secret was rotated away")]
    RetiredSecret,
    /// The address failed too often: refused unchecked until its window ends.
    #[error("too many failed token authentications from this address; {0}")]
    RateLimited(#[from] crate::limits::RetryAfter),
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
            AuthError::RetiredSecret => Some(AuthFailure::RetiredSecret),
            AuthError::RateLimited(_) | AuthError::Storage(_) => None,
        }
    }
}

/// Why the caller may not do this at all (before anything is looked up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Admins only.
    #[error("only administrators may do this")]
    AdminOnly,
    /// The caller's role may not do this.
    #[error("the {role} role may not {action}")]
    Role {
        /// The caller's role.
        role: Role,
        /// What was refused.
        action: &'static str,
    },
    /// The presenting token lacks the scope this needs.
    #[error("the token lacks the scope {required} this needs")]
    MissingScope {
        /// The scope needed, e.g. `tokens:create`.
        required: String,
    },
    /// An admin setting their own password without the current one.
    #[error(
        "your own password is changed with the current one (your profile, or PUT /api/v1/me/password)"
    )]
    OwnPassword,
    /// A previous secret, in its grace period, asked to rotate or regenerate a token.
    #[error(
        "a previous secret in its grace period may use the token but not rotate or regenerate tokens; use the current secret"
    )]
    PreviousSecret,
}

/// The randomness source failed: no secret or id could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the random number generator failed")]
pub struct RandomnessError(#[source] pub Cause);

/// Why a request's scope list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopesError {
    /// A scope text that does not parse or names no known resource.
    #[error(transparent)]
    Invalid(#[from] ScopeError),
    /// No scope given where at least one is needed.
    #[error("a token needs at least one scope, e.g. \"jobs:list\" or \"*:*\" for full access")]
    Empty,
    /// Over the per-token scope limit.
    #[error("a token holds at most {max} scopes, got {got}")]
    TooMany {
        /// The limit.
        max: usize,
        /// Scopes the request gave, or the token would hold.
        got: usize,
    },
}

/// Why a read (a token, a listing, the audit log, the settings) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The caller may not read this.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such token (or not the caller's: existence is not revealed).
    #[error("no such token")]
    NotFound,
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for QueryError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => QueryError::NotFound,
            other => QueryError::Storage(other),
        }
    }
}

/// Why [`PatService::create_token`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateTokenError {
    /// The caller may not create tokens.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Token creation is switched off.
    #[error("personal access tokens are disabled by the administrator")]
    PatsDisabled,
    /// Bad token name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Bad description.
    #[error(transparent)]
    InvalidDescription(#[from] DescriptionError),
    /// Bad `expires_in_days`.
    #[error(transparent)]
    InvalidExpiry(#[from] ExpiryError),
    /// Bad, missing or too many scopes.
    #[error(transparent)]
    Scopes(#[from] ScopesError),
    /// A token caller asked for more than it holds.
    #[error(transparent)]
    Escalation(#[from] Escalation),
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
    /// No secret could be made.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for CreateTokenError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ActiveLimit { limit } => CreateTokenError::ActiveLimit { limit },
            StoreError::ScopeLimit { limit, would_hold } => ScopesError::TooMany {
                max: limit,
                got: would_hold,
            }
            .into(),
            other => CreateTokenError::Storage(other),
        }
    }
}

/// Why a change to an existing token (rename, revoke, delete, remove or clear scopes)
/// was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenChangeError {
    /// The caller may not change it.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such token (or not the caller's).
    #[error("no such token")]
    NotFound,
    /// No such scope on the token.
    #[error("no such scope on this token")]
    ScopeNotFound,
    /// Bad token name.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Bad description.
    #[error(transparent)]
    InvalidDescription(#[from] DescriptionError),
    /// The owner has another token of this name.
    #[error("you already have a token named {name:?}; names are unique ignoring case")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for TokenChangeError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => TokenChangeError::NotFound,
            other => TokenChangeError::Storage(other),
        }
    }
}

impl From<QueryError> for TokenChangeError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Denied(denied) => denied.into(),
            QueryError::NotFound => TokenChangeError::NotFound,
            QueryError::Storage(store) => TokenChangeError::Storage(store),
        }
    }
}

/// Why [`PatService::regenerate_token`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegenerateError {
    /// The caller may not regenerate it.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such token (or not the caller's).
    #[error("no such token")]
    NotFound,
    /// An admin revoked the token: its owner may not bring it back.
    #[error("an administrator revoked this token; it cannot be regenerated — create a new one")]
    RevokedByAdmin,
    /// The token was revoked because its secret leaked: it may not be brought back.
    #[error(
        "this token was revoked because its secret was found exposed; it cannot be regenerated — create a new one"
    )]
    RevokedAsLeaked,
    /// A secret the token had before was used after its grace period, so reuse detection
    /// revoked it: only an administrator may bring it back, after review.
    #[error(
        "this token was revoked because a secret it had before was used again after rotation (it leaked); an administrator must review it and lift the revocation (POST /api/v1/admin/tokens/{{id}}/regenerate, or the token's admin page)"
    )]
    RevokedForReuse,
    /// An admin asked to lift a reuse revocation from a token that has none.
    #[error(
        "this token was not revoked for reuse; only such a token is lifted by an administrator"
    )]
    NotRevokedForReuse,
    /// Personal access tokens are switched off.
    #[error("personal access tokens are disabled by the administrator")]
    PatsDisabled,
    /// Bad `expires_in_days`.
    #[error(transparent)]
    InvalidExpiry(#[from] ExpiryError),
    /// Bad `grace_minutes`.
    #[error(transparent)]
    InvalidGrace(#[from] GraceError),
    /// A token caller asked for more than it holds.
    #[error(transparent)]
    Escalation(#[from] Escalation),
    /// Bringing a revoked or expired token back would pass the active limit.
    #[error("you already have {limit} active tokens, the most allowed; revoke or delete one first")]
    ActiveLimit {
        /// The limit in force.
        limit: u32,
    },
    /// No secret could be made.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for RegenerateError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => RegenerateError::NotFound,
            StoreError::ActiveLimit { limit } => RegenerateError::ActiveLimit { limit },
            StoreError::NotRevivable(RevocationReason::Admin | RevocationReason::Owner) => {
                RegenerateError::RevokedByAdmin
            }
            StoreError::NotRevivable(RevocationReason::LeakReport) => {
                RegenerateError::RevokedAsLeaked
            }
            StoreError::NotRevivable(RevocationReason::ReuseDetected) => {
                RegenerateError::RevokedForReuse
            }
            other => RegenerateError::Storage(other),
        }
    }
}

impl From<QueryError> for RegenerateError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Denied(denied) => denied.into(),
            QueryError::NotFound => RegenerateError::NotFound,
            QueryError::Storage(store) => RegenerateError::Storage(store),
        }
    }
}

/// Why [`PatService::add_scopes`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddScopesError {
    /// The caller may not add scopes.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such token (or not the caller's).
    #[error("no such token")]
    NotFound,
    /// Bad, missing or too many scopes.
    #[error(transparent)]
    Scopes(#[from] ScopesError),
    /// A token caller asked for more than it holds.
    #[error(transparent)]
    Escalation(#[from] Escalation),
    /// No scope id could be made.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for AddScopesError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => AddScopesError::NotFound,
            StoreError::ScopeLimit { limit, would_hold } => ScopesError::TooMany {
                max: limit,
                got: would_hold,
            }
            .into(),
            other => AddScopesError::Storage(other),
        }
    }
}

impl From<QueryError> for AddScopesError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Denied(denied) => denied.into(),
            QueryError::NotFound => AddScopesError::NotFound,
            QueryError::Storage(store) => AddScopesError::Storage(store),
        }
    }
}

/// Why adding or changing a user (or their password) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserChangeError {
    /// The caller may not change users.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Bad user fields, or a change that would leave no active admin.
    #[error(transparent)]
    Invalid(#[from] UserError),
    /// A user with this email exists.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// No user id could be made.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store could not answer.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for UserChangeError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => UserChangeError::NotFound,
            StoreError::DuplicateEmail => UserChangeError::DuplicateEmail,
            other => UserChangeError::Storage(other),
        }
    }
}

/// Why [`PatService::update_settings`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsChangeError {
    /// Admins only.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Values out of range.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    /// The store could not answer.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// A failure that is nobody's request's fault (background work, leak reports).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalError {
    /// No id could be made.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store could not answer.
    #[error(transparent)]
    Storage(#[from] StoreError),
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
