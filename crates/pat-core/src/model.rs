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
}

impl Token {
    /// Whether its owner may give it a new secret: unless an admin, a leak report or a
    /// reused secret revoked it.
    pub fn may_be_regenerated(&self) -> bool {
        self.revoked_reason
            .is_none_or(RevocationReason::owner_may_regenerate)
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
    /// Its expiry.
    pub expires_at: DateTime<Utc>,
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

/// Why paging parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// Page 0.
    #[error("page starts at 1, got {0}")]
    Page(u32),
    /// Page size outside 1..=100.
    #[error("page_size must be between 1 and 100, got {0}")]
    Size(u32),
}

/// A validated page request: page ≥ 1, 1 ≤ size ≤ 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    size: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { page: 1, size: 20 }
    }
}

impl PageRequest {
    /// Largest page size.
    pub const MAX_SIZE: u32 = 100;

    /// Checks the ranges.
    ///
    /// # Errors
    /// [`PageError`] naming the bad value.
    pub fn new(page: u32, size: u32) -> Result<Self, PageError> {
        if page == 0 {
            return Err(PageError::Page(page));
        }
        if !(1..=Self::MAX_SIZE).contains(&size) {
            return Err(PageError::Size(size));
        }
        Ok(Self { page, size })
    }

    /// 1-based page number.
    pub fn page(&self) -> u32 {
        self.page
    }

    /// Items per page.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.size)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Requested page size.
    pub page_size: u32,
    /// Items across all pages.
    pub total_items: u64,
}

impl<T> Page<T> {
    /// Builds a page from its items and the total count.
    pub fn new(items: Vec<T>, request: PageRequest, total_items: u64) -> Self {
        Self {
            items,
            page: request.page(),
            page_size: request.size(),
            total_items,
        }
    }

    /// Number of pages (0 when there are no items).
    pub fn total_pages(&self) -> u64 {
        self.total_items.div_ceil(u64::from(self.page_size.max(1)))
    }

    /// Maps the items, keeping the paging.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            page_size: self.page_size,
            total_items: self.total_items,
        }
    }
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

/// Why a reminder is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// Within the warning window of expiry.
    ExpiringSoon,
    /// Expired.
    Expired,
}

impl ReminderKind {
    /// The reminder `token` is owed at `now` with a warning window of `warning`, if
    /// any: `Expired` once it has expired (not revoked, not yet reminded in this
    /// generation), else `ExpiringSoon` inside the window (not yet reminded in this
    /// generation). The one place that decides which notice a token gets.
    pub fn owed(token: &Token, now: DateTime<Utc>, warning: chrono::Duration) -> Option<Self> {
        let generation = Some(token.generation);
        match token.status(now) {
            TokenStatus::Expired if token.reminders.expired_sent_for != generation => {
                Some(ReminderKind::Expired)
            }
            TokenStatus::Active
                if now >= token.expires_at - warning
                    && token.reminders.expiring_soon_sent_for != generation =>
            {
                Some(ReminderKind::ExpiringSoon)
            }
            _ => None,
        }
    }
}

/// A reminder due: which one, for which token (decided by [`ReminderKind::owed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    /// Which reminder.
    pub kind: ReminderKind,
    /// The token, as stored.
    pub token: Token,
}

/// A message the owner of a token should receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The token expires within the warning window.
    ExpiringSoon,
    /// The token has expired.
    Expired,
    /// A new token was created (security notice).
    Created,
    /// The token was revoked after a leak report.
    LeakRevoked,
    /// The token was given a new secret (security notice).
    Regenerated,
}

/// Who a notice goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The user.
    pub user_id: UserId,
    /// Their address.
    pub email: String,
    /// Their display name.
    pub name: String,
}

impl From<&User> for Recipient {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
        }
    }
}

/// What the `Notifier` delivers: never the secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Which message.
    pub kind: NoticeKind,
    /// The owner.
    pub recipient: Recipient,
    /// The token's id.
    pub token_id: TokenId,
    /// The token's name.
    pub token_name: String,
    /// The token's expiry.
    pub expires_at: DateTime<Utc>,
    /// The generation the notice is about.
    pub generation: u32,
}

impl NoticeKind {
    /// The text form, e.g. `expiring_soon`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NoticeKind::ExpiringSoon => "expiring_soon",
            NoticeKind::Expired => "expired",
            NoticeKind::Created => "created",
            NoticeKind::LeakRevoked => "leak_revoked",
            NoticeKind::Regenerated => "regenerated",
        }
    }
}

impl FromStr for NoticeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            NoticeKind::ExpiringSoon,
            NoticeKind::Expired,
            NoticeKind::Created,
            NoticeKind::LeakRevoked,
            NoticeKind::Regenerated,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown notice kind {s:?}"))
    }
}

impl Notice {
    /// The key that makes one notice per token, generation and kind: the outbox keeps
    /// one message per key, so queueing twice sends once.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.kind.as_str(),
            self.token_id,
            self.generation
        )
    }
}

id_type!(
    /// An outbox message's id (UUID v7).
    MessageId
);

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Accepted by the mail server.
    Sent,
    /// Given up: a permanent refusal, or too many temporary ones.
    Failed,
}

impl DeliveryStatus {
    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "sent" => Ok(DeliveryStatus::Sent),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(format!(
                "delivery status {other:?} is unknown; use pending, sent or failed"
            )),
        }
    }
}

/// A notice in the durable outbox, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Id.
    pub id: MessageId,
    /// One message per key (see [`Notice::dedupe_key`]).
    pub dedupe_key: String,
    /// What to deliver.
    pub notice: Notice,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt may start (pending messages).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Accepted by the server.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The result of one delivery attempt, for the outbox to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server accepted it.
    Sent {
        /// When.
        at: DateTime<Utc>,
    },
    /// A temporary failure: try again at `next_attempt_at`.
    Retry {
        /// When to try again.
        next_attempt_at: DateTime<Utc>,
        /// Why it failed.
        error: String,
    },
    /// Given up.
    Failed {
        /// Why.
        error: String,
    },
}

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
}

impl AuditAction {
    /// Every action without a payload, for parsing stored names.
    const PLAIN: [AuditAction; 12] = [
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
    fn page_requests_are_bounded() {
        assert!(PageRequest::new(1, 1).is_ok());
        assert!(PageRequest::new(1, 100).is_ok());
        assert_eq!(PageRequest::new(0, 20), Err(PageError::Page(0)));
        assert_eq!(PageRequest::new(1, 0), Err(PageError::Size(0)));
        assert_eq!(PageRequest::new(1, 101), Err(PageError::Size(101)));
        assert_eq!(PageRequest::new(3, 20).expect("valid").offset(), 40);
    }

    #[test]
    fn total_pages_rounds_up() {
        let request = PageRequest::new(1, 20).expect("valid");
        assert_eq!(Page::<u8>::new(vec![], request, 0).total_pages(), 0);
        assert_eq!(Page::<u8>::new(vec![], request, 20).total_pages(), 1);
        assert_eq!(Page::<u8>::new(vec![], request, 21).total_pages(), 2);
    }

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
