//! The domain's nouns: users, tokens, principals, pages, audit events, notices.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::policy::{Description, TokenName};
use crate::scope::Scope;
use crate::token::SecretHash;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

// After the macro: the submodules use `id_type!` too.
mod audit;
mod notices;
mod paging;

pub use audit::*;
pub use notices::*;
pub use paging::*;

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A token's id (UUID v7; kept across regeneration).
    TokenId
);
id_type!(
    /// A scope's id within its token.
    ScopeId
);
id_type!(
    /// An audit event's id (UUID v7, so ids sort by time).
    EventId
);

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, plus admin functions.
    Admin,
    /// Own tokens.
    Member,
    /// May list, revoke and delete own tokens, but not create or regenerate.
    Collaborator,
}

/// Why a role name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role {0:?} is unknown; use admin, member or collaborator")]
pub struct UnknownRole(pub String);

impl Role {
    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Collaborator => "collaborator",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "collaborator" => Ok(Role::Collaborator),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who owns tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Email, unique ignoring case.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// A token of an inactive user does not authenticate.
    pub active: bool,
}

/// A token's derived status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// Neither revoked nor expired.
    Active,
    /// Past its expiry and not revoked.
    Expired,
    /// Revoked (whatever its expiry).
    Revoked,
}

impl TokenStatus {
    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was revoked. It decides whether the owner may bring the token back
/// with a new secret: only from their own revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    /// The owner revoked it (also a token revoking itself).
    Owner,
    /// An admin revoked another user's token.
    Admin,
    /// A leak report revoked it.
    LeakReport,
    /// A secret retired by rotation was presented again.
    ReuseDetected,
}

impl RevocationReason {
    /// Every reason.
    pub const ALL: [RevocationReason; 4] = [
        RevocationReason::Owner,
        RevocationReason::Admin,
        RevocationReason::LeakReport,
        RevocationReason::ReuseDetected,
    ];

    /// The text form: `owner`, `admin`, `leak_report`, `reuse_detected`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Owner => "owner",
            RevocationReason::Admin => "admin",
            RevocationReason::LeakReport => "leak_report",
            RevocationReason::ReuseDetected => "reuse_detected",
        }
    }

    /// Whether the owner may regenerate a token revoked for this reason: only one they
    /// revoked themselves. A token an admin or a leak report stopped stays stopped.
    pub fn owner_may_regenerate(self) -> bool {
        self == RevocationReason::Owner
    }
}

impl FromStr for RevocationReason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown revocation reason {s:?}"))
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which reminders a token's current generation has had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReminderState {
    /// Generation for which "expires soon" was sent.
    pub expiring_soon_sent_for: Option<u32>,
    /// Generation for which "expired" was sent.
    pub expired_sent_for: Option<u32>,
}

/// A stored token. The secret itself is never kept, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Id, kept across regeneration.
    pub id: TokenId,
    /// Owner.
    pub owner: UserId,
    /// Name, unique per owner ignoring case.
    pub name: TokenName,
    /// Description.
    pub description: Description,
    /// Granted scopes; empty authorizes nothing. Shared, so authentication can hand
    /// them to a principal without copying.
    pub scopes: Arc<[Scope]>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed (name, description, scopes, revoke, regenerate).
    pub updated_at: DateTime<Utc>,
    /// Expiry of the current secret.
    pub expires_at: DateTime<Utc>,
    /// Set once revoked; cleared by regeneration.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked (with `revoked_at`; `None` while not revoked).
    pub revoked_reason: Option<RevocationReason>,
    /// Last authentication (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Client address of the last authentication.
    pub last_used_ip: Option<IpAddr>,
    /// 1 at creation, +1 per regeneration.
    pub generation: u32,
    /// `HMAC-SHA256(server_key, secret)`.
    pub secret_hash: SecretHash,
    /// Last 4 characters of the secret.
    pub hint: String,
    /// Reminders already sent.
    pub reminders: ReminderState,
    /// Until when the secret the last regeneration retired still authenticates (`None`:
    /// it stopped at once).
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// When a secret rotated away was last presented after its grace period (cleared by
    /// the next regeneration).
    pub reuse_detected_at: Option<DateTime<Utc>>,
    /// Where the token may be used from (empty: anywhere).
    pub allowed_ips: crate::allowlist::IpAllowlist,
    /// What a request from outside `allowed_ips` meets.
    pub ip_policy: crate::allowlist::IpPolicy,
    /// Refused until then, if set (before `expires_at`).
    pub not_before: Option<DateTime<Utc>>,
}

impl Token {
    /// Until when the previous secret still authenticates, if it does at `now`.
    pub fn previous_secret_live_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.previous_secret_valid_until
            .filter(|until| *until > now && self.status(now) == TokenStatus::Active)
    }

    /// Whether its owner may give it a new secret: unless an admin, a leak report or a
    /// reused secret revoked it.
    pub fn may_be_regenerated(&self) -> bool {
        self.revival_refused().is_none()
    }

    /// Why its owner may not give it a new secret, if they may not: the revocation
    /// reason an admin, a leak report or a reused secret left.
    pub fn revival_refused(&self) -> Option<RevocationReason> {
        self.revoked_reason
            .filter(|reason| !reason.owner_may_regenerate())
    }

    /// The status at `now`: revoked, else expired when `now >= expires_at`, else active.
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if now >= self.expires_at {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A session (web UI, password login) or a trusted host call: the user's full rights.
    Session,
    /// A personal access token, limited by its scopes and its expiry.
    Token {
        /// The presenting token.
        token_id: TokenId,
        /// Its scopes.
        scopes: Arc<[Scope]>,
        /// Its expiry: nothing it creates may outlive it.
        expires_at: DateTime<Utc>,
        /// The secret presented is the one before the last regeneration, in its grace
        /// period: it may use the token, not rotate it.
        previous_secret: bool,
    },
}

/// Who is asking the service to do something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user: User,
    /// How they authenticated.
    pub credential: Credential,
    /// Client address, for the audit log.
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// A session-authenticated actor.
    pub fn session(user: User, ip: Option<IpAddr>) -> Self {
        Self {
            user,
            credential: Credential::Session,
            ip,
        }
    }

    /// A token-authenticated actor, from a successful authentication.
    pub fn from_principal(principal: &Principal, ip: Option<IpAddr>) -> Self {
        Self {
            user: principal.user.clone(),
            credential: Credential::Token {
                token_id: principal.token_id,
                scopes: principal.scopes.clone(),
                expires_at: principal.expires_at,
                previous_secret: principal.previous_secret,
            },
            ip,
        }
    }
}

/// A successfully authenticated token and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's owner.
    pub user: User,
    /// The token.
    pub token_id: TokenId,
    /// Its scopes.
    pub scopes: Arc<[Scope]>,
    /// Until when the secret presented works: the token's expiry, or for a previous
    /// secret the end of its grace period if that comes first.
    pub expires_at: DateTime<Utc>,
    /// The generation of the secret presented: the token's current one, or the one
    /// before during a grace period.
    pub generation: u32,
    /// Whether the secret presented is the one before the last regeneration.
    pub previous_secret: bool,
}

impl Principal {
    /// Does any of the token's scopes permit this? Deny-by-default.
    pub fn allows(&self, resource: &str, operation: &str, target: Option<&str>) -> bool {
        crate::scope::any_allows(&self.scopes, resource, operation, target)
    }
}

/// Which tokens a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every status.
    #[default]
    All,
    /// Only this status.
    Only(TokenStatus),
}

/// A token listing: whose, which status, which names, which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenQuery {
    /// Owner whose tokens to list.
    pub owner: UserId,
    /// Status filter, evaluated at `now`.
    pub status: StatusFilter,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// The time statuses are derived at.
    pub now: DateTime<Utc>,
    /// Which page; newest first.
    pub page: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse() {
        for role in [Role::Admin, Role::Member, Role::Collaborator] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("member")
        );
    }
}
