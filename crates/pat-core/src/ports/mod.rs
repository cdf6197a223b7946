//! The outbound ports: what the service needs from the world, as traits.
//!
//! Each method's `# Errors` section is a contract every adapter MUST keep; the
//! `pat-testkit` conformance suite checks it.

#[cfg(feature = "test-doubles")]
mod recording;
#[cfg(feature = "test-doubles")]
pub use recording::RecordingNotifier;

mod clock;
mod error;
mod history;
mod sessions;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Cause, StoreError};
pub use history::{RetiredSecret, SecretHistory};
pub use sessions::{
    AttemptCounter, FoundSession, HashError, PasswordHasher, PasswordLink, PasswordLinkStore,
    Redemption, SessionRecord, SessionStore,
};

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::model::{
    Attempt, AuditEvent, AuditQuery, DeliveryStatus, MessageId, Notice, OutboxMessage, Page,
    PageRequest, ReminderKind, RevocationReason, Role, ScopeId, Token, TokenId, TokenQuery, User,
    UserId,
};
use crate::policy::{Description, Settings, TokenName};
use crate::scope::Scope;
use crate::token::SecretHash;

/// The storage ports of one store, as a host picks them at run time.
#[derive(Clone)]
pub struct Storage {
    /// The durable queue of notices.
    pub outbox: Arc<dyn Outbox>,
    /// The authentication read (token, owner, switch) in one round trip.
    pub credentials: Arc<dyn CredentialLookup>,
    /// Tokens and their scopes.
    pub tokens: Arc<dyn TokenStore>,
    /// Users.
    pub users: Arc<dyn UserDirectory>,
    /// Admin settings.
    pub settings: Arc<dyn SettingsStore>,
    /// Audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Browser sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Set-password links.
    pub password_links: Arc<dyn PasswordLinkStore>,
    /// Sign-in and leak-report attempt counts.
    pub attempts: Arc<dyn AttemptCounter>,
    /// Secrets retired by regeneration.
    pub history: Arc<dyn SecretHistory>,
}

impl Storage {
    /// All ports from one value that implements them all.
    pub fn from_store<S>(store: Arc<S>) -> Self
    where
        S: CredentialLookup
            + TokenStore
            + UserDirectory
            + SettingsStore
            + AuditLog
            + Outbox
            + SessionStore
            + PasswordLinkStore
            + AttemptCounter
            + SecretHistory
            + 'static,
    {
        Self {
            history: store.clone(),
            sessions: store.clone(),
            password_links: store.clone(),
            attempts: store.clone(),
            outbox: store.clone(),
            credentials: store.clone(),
            tokens: store.clone(),
            users: store.clone(),
            settings: store.clone(),
            audit: store,
        }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage { .. }")
    }
}

/// One use of a token, waiting to be recorded (see [`TokenStore::record_uses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastUse {
    /// The token used.
    pub token: TokenId,
    /// When.
    pub at: DateTime<Utc>,
    /// From where.
    pub ip: Option<IpAddr>,
    /// Written only if the last recorded use is older than this.
    pub not_since: DateTime<Utc>,
}

/// A new secret for an existing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regeneration {
    /// Which token.
    pub id: TokenId,
    /// Hash of the new secret.
    pub secret_hash: SecretHash,
    /// Hint of the new secret.
    pub hint: String,
    /// Expiry of the new secret.
    pub expires_at: DateTime<Utc>,
    /// Until when the retired secret still authenticates (`now`: not at all).
    pub grace_until: DateTime<Utc>,
    /// Until when the retired secret is remembered.
    pub keep_retired_until: DateTime<Utc>,
    /// A revocation this regeneration may undo although the owner may not
    /// ([`Token::revival_refused`]): an admin lifting a reuse revocation after review.
    pub lifts: Option<RevocationReason>,
}

/// What a change writes in the same transaction as itself: the audit events that record
/// it and the notices it causes. A crash leaves the change with its journal, or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// Appended to the audit log.
    pub events: Vec<AuditEvent>,
    /// Queued in the outbox, each unless a message with its `dedupe_key` exists.
    pub notices: Vec<OutboxMessage>,
}

impl Journal {
    /// A journal of one audit event.
    pub fn of(event: AuditEvent) -> Self {
        Self {
            events: vec![event],
            notices: Vec::new(),
        }
    }

    /// This journal, also queueing `notice`.
    #[must_use]
    pub fn with_notice(mut self, notice: OutboxMessage) -> Self {
        self.notices.push(notice);
        self
    }
}

/// Tokens and their scopes. Every change takes a [`Journal`] and writes it in the same
/// atomic step as the change; a refused change writes none of it.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Inserts `token` unless its owner already has `active_limit` tokens active at `now`.
    /// The check and the insert are one atomic step: N concurrent inserts for one owner
    /// leave at most `active_limit` active.
    ///
    /// # Errors
    /// MUST return [`StoreError::ActiveLimit`] at the limit and
    /// [`StoreError::DuplicateName`] when the owner has a token of the same name
    /// (ignoring case), whatever its status.
    async fn insert(
        &self,
        token: &Token,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError>;

    /// The token with this id.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn get(&self, id: TokenId) -> Result<Option<Token>, StoreError>;

    /// The token whose secret hash is `hash`.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<Token>, StoreError>;

    /// Every token whose secret hash is among `hashes`, each once, in no particular
    /// order; unknown hashes are skipped. One round trip for a whole leak report.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn find_by_hashes(&self, hashes: &[SecretHash]) -> Result<Vec<Token>, StoreError>;

    /// One page of an owner's tokens, newest first (by `created_at`, then id).
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn list(&self, query: &TokenQuery) -> Result<Page<Token>, StoreError>;

    /// How many of the owner's tokens are active at `now`.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn count_active(&self, owner: UserId, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Sets name and description; sets `updated_at = now`. Returns the updated token.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id and
    /// [`StoreError::DuplicateName`] when another token of the owner has the name.
    async fn update_details(
        &self,
        id: TokenId,
        name: &TokenName,
        description: &Description,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// Sets `revoked_at = now` and `revoked_reason = reason` unless already revoked
    /// (the first time and its reason are kept); writes `journal` only when this call
    /// revoked the token.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn revoke(
        &self,
        id: TokenId,
        reason: RevocationReason,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// Gives the token a new secret and expiry, clears `revoked_at` and its reason, resets the
    /// reminder state and adds 1 to its generation; retires the old secret into the
    /// [`SecretHistory`] (its hash, the old generation, `grace_until`,
    /// `keep_retired_until`), sets `previous_secret_valid_until` to `grace_until` when
    /// it is after `now` (else `None`), clears `reuse_detected_at`, and ends, at `now`,
    /// the grace period of any secret the token retired before. A token not active at
    /// `now` when read under the lock (revoked meanwhile, expired) gets no grace period:
    /// its secret and any earlier one still in grace are kept until `now` only (a secret
    /// stopped by revocation is not reuse). All of it unless its owner already has
    /// `active_limit` *other* active tokens at `now` (atomic, as for [`TokenStore::insert`]),
    /// or it was revoked for a reason its owner may not undo
    /// ([`Token::revival_refused`], checked under the same lock, so a revocation
    /// that lands between the caller's read and this write still holds).
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id,
    /// [`StoreError::ActiveLimit`] at the limit and [`StoreError::NotRevivable`] for a
    /// token revoked by an admin, a leak report or reuse detection (unless
    /// `regeneration.lifts` names that reason).
    async fn regenerate(
        &self,
        regeneration: &Regeneration,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// A secret the token retired was presented after its grace period: sets
    /// `reuse_detected_at` to `now` and, when `revoke`, revokes the token with reason
    /// `reuse_detected` unless it is revoked already. The journal is written unless
    /// `revoke` found the token revoked (another instance got there first).
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn record_reuse(
        &self,
        id: TokenId,
        revoke: bool,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// Adds the scopes whose spec the token does not already hold (an existing spec is
    /// a no-op).
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id and
    /// [`StoreError::ScopeLimit`] when the token would exceed `max_scopes`.
    async fn add_scopes(
        &self,
        id: TokenId,
        scopes: &[Scope],
        max_scopes: usize,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// Removes one scope.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] when the token or the scope is unknown.
    async fn remove_scope(
        &self,
        id: TokenId,
        scope: ScopeId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// Removes every scope; the token then authorizes nothing.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn clear_scopes(
        &self,
        id: TokenId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError>;

    /// Deletes the token, its scopes and its retired secrets.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn delete(&self, id: TokenId, journal: &Journal) -> Result<(), StoreError>;

    /// Records a use at `at` from `ip` only if the last recorded use is older than
    /// `not_since` (or absent). Returns whether it wrote.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; an unknown id is
    /// `Ok(false)`.
    async fn record_use(
        &self,
        id: TokenId,
        at: DateTime<Utc>,
        ip: Option<IpAddr>,
        not_since: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records several uses in one go (the service's write-behind of last uses), each
    /// exactly as [`TokenStore::record_use`] would; returns how many were written. A
    /// store that can, writes them in one transaction.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; unknown ids are
    /// skipped.
    async fn record_uses(&self, uses: &[LastUse]) -> Result<usize, StoreError> {
        let mut written = 0;
        for used in uses {
            if self
                .record_use(used.token, used.at, used.ip, used.not_since)
                .await?
            {
                written += 1;
            }
        }
        Ok(written)
    }

    /// Up to `limit` tokens that may owe a reminder at `now`, oldest expiry first:
    /// unrevoked, `expires_at <= now + warning`, and not yet reminded in their current
    /// generation of what their expiry calls for — the "expired" notice once
    /// `expires_at <= now`, else the "expires soon" one. An index-backed selection; which
    /// notice each gets is the core's decision ([`ReminderKind::owed`]).
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        warning: Duration,
        limit: u32,
    ) -> Result<Vec<Token>, StoreError>;

    /// Marks a reminder sent for `generation`. Returns `false` (and changes nothing)
    /// when the token is gone or has moved on to another generation.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn mark_reminded(
        &self,
        id: TokenId,
        kind: ReminderKind,
        generation: u32,
    ) -> Result<bool, StoreError>;
}

/// Everything authentication reads about a presented token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    /// The token whose secret hash matched.
    pub token: Token,
    /// Its owner, if the user still exists.
    pub owner: Option<User>,
    /// The admin switch: off means no authentication by token.
    pub pats_enabled: bool,
    /// Set when the hash presented is not the token's current secret but one a
    /// regeneration retired ([`SecretHistory`]); `None` from [`CredentialLookup`].
    pub retired: Option<RetiredSecret>,
}

/// The hot path's one read: a token by its secret hash, with its owner and the admin
/// switch. Stores that hold all three answer in one round trip; [`ComposedLookup`]
/// builds it from the other ports for stores that cannot.
#[async_trait]
pub trait CredentialLookup: Send + Sync {
    /// The token whose secret hash is `hash`, its owner and `pats_enabled`.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; an unknown hash is
    /// `Ok(None)`.
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError>;
}

/// [`CredentialLookup`] from three separate ports (e.g. users in another system).
pub struct ComposedLookup {
    /// Where tokens are.
    pub tokens: Arc<dyn TokenStore>,
    /// Where users are.
    pub users: Arc<dyn UserDirectory>,
    /// Where settings are.
    pub settings: Arc<dyn SettingsStore>,
}

#[async_trait]
impl CredentialLookup for ComposedLookup {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        let Some(token) = self.tokens.find_by_hash(hash).await? else {
            return Ok(None);
        };
        let owner = self.users.get(token.owner).await?;
        let pats_enabled = self.settings.get().await?.pats_enabled;
        Ok(Some(CredentialRecord {
            token,
            owner,
            pats_enabled,
            retired: None,
        }))
    }
}

/// A user and their password hash (PHC string), for login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// PHC-format password hash, if the user can log in with a password.
    pub password_hash: Option<String>,
}

/// The people who own tokens. Each change writes its [`Journal`] in the same atomic step.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// Adds a user.
    ///
    /// # Errors
    /// MUST return [`StoreError::DuplicateEmail`] when the email exists (ignoring case).
    async fn insert(
        &self,
        user: &User,
        password_hash: Option<&str>,
        journal: &Journal,
    ) -> Result<(), StoreError>;

    /// The user with this id.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with this email (ignoring case) and their password hash.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn find_by_email(&self, email: &str) -> Result<Option<UserCredentials>, StoreError>;

    /// Changes role and/or active flag; `None` leaves a field as is.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn update(
        &self,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
        journal: &Journal,
    ) -> Result<User, StoreError>;

    /// Replaces the password hash and, in the same atomic step, ends every session of
    /// the user, spends their unused set-password links (used at `now`) and writes
    /// `journal`: whoever knew the old password, held a session or a link, is out.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id (and write nothing).
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError>;

    /// One page of users, ordered by email.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn list(&self, page: PageRequest) -> Result<Page<User>, StoreError>;

    /// How many active admins exist.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn count_active_admins(&self) -> Result<u64, StoreError>;
}

/// The admin settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The settings in force; [`Settings::default`] when none were saved.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn get(&self) -> Result<Settings, StoreError>;

    /// Replaces the settings, writing `journal` in the same atomic step.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn put(&self, settings: &Settings, journal: &Journal) -> Result<(), StoreError>;
}

/// The append-only record of what happened. Changes write their events through their
/// store's [`Journal`]; [`AuditLog::record`] is for events without a change (refused
/// authentications).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// One page of events matching `query`, newest first (by time, then id).
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError>;
}

/// The durable queue of notices: nothing queued is lost, nothing is sent twice but in
/// the window between the server's acceptance and [`Outbox::record`].
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Queues `message` unless one with its `dedupe_key` exists; returns whether it was
    /// queued.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; a known key is `Ok(false)`.
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool, StoreError>;

    /// Claims up to `limit` pending messages with `next_attempt_at <= now`, oldest first,
    /// by moving their `next_attempt_at` to `lease_until`: another process calling
    /// this meanwhile does not get them, and a crashed claimer's messages come due again.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError>;

    /// Records one attempt: `attempts + 1`, and `Sent` → status sent with `sent_at`;
    /// `Retry` → the new `next_attempt_at` and `last_error`; `Failed` → status failed
    /// with `last_error`.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] for an unknown id.
    async fn record(&self, id: MessageId, attempt: &Attempt) -> Result<(), StoreError>;

    /// One page of messages, newest first (by `created_at`, then id), optionally only
    /// those with `status`.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, StoreError>;
}

/// Why a notice was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Try again later (connection refused, 4xx).
    #[error("temporary delivery failure: {0}")]
    Temporary(String),
    /// Will never succeed (bad address, 5xx).
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// How one token authentication ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The token authenticated.
    Success,
    /// The caller's failure, with its reason.
    Failed(crate::model::AuthFailure),
    /// Refused unchecked: the address is over its failed-authentication limit.
    RateLimited,
    /// The server's failure (the store could not answer).
    Error,
}

impl AuthOutcome {
    /// A stable label: `success`, the failure's reason, `rate_limited` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthOutcome::Success => "success",
            AuthOutcome::Failed(failure) => failure.as_str(),
            AuthOutcome::RateLimited => "rate_limited",
            AuthOutcome::Error => "error",
        }
    }
}

/// Told of every token authentication [`crate::PatService::authenticate`] makes, so an
/// adapter can count outcomes and log refused addresses; the rules themselves stay in
/// the service, whichever adapter calls it.
pub trait AuthObserver: Send + Sync {
    /// One authentication ended so.
    fn outcome(&self, outcome: AuthOutcome);

    /// `ip` used up its failed authentications: it is refused until its window ends.
    fn address_refused(&self, ip: IpAddr) {
        let _ = ip;
    }
}

/// Delivers notices to token owners (mail, log, …).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one notice; `Ok` only once the transport accepted it.
    ///
    /// # Errors
    /// [`NotifyError::Temporary`] when a retry may work, else [`NotifyError::Permanent`].
    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError>;
}
