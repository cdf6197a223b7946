//! `PatService`: every use case, over the ports. This file holds the service, its
//! builder and the access rules every family shares (`load`, admin reach, the token
//! scope a PAT needs); each use-case family has a room of its own: `authenticate`,
//! `tokens`, `rotation`, `reuse`, `scopes`, `admin`, `users`, `notices`, `sessions`,
//! `passwords`, with `ids` (randomness, ids, audit events) and `error`.

mod admin;
mod authenticate;
mod error;
mod ids;
mod last_use;
mod notices;
mod passwords;
mod reuse;
mod rotation;
mod scopes;
mod session_error;
mod sessions;
mod tokens;
mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rand_core::TryCryptoRng;
use uuid::Uuid;

use crate::cache::{Cached, VerificationCache};
use crate::limits::FailedAuthLimiter;
use crate::model::{
    Actor, Attempt, AuditAction, AuditEvent, AuditQuery, AuthFailure, Credential, DeliveryStatus,
    EventId, MessageId, Notice, NoticeKind, OutboxMessage, Page, PageRequest, Principal, Recipient,
    ReminderKind, RevocationReason, Role, ScopeId, StatusFilter, Token, TokenId, TokenQuery,
    TokenStatus, User, UserId,
};
use crate::policy::{
    Description, DescriptionError, ExpiryError, GraceError, GracePeriod, LAST_USED_WRITE_INTERVAL,
    Lifetime, MAX_SCOPES_PER_TOKEN, NameError, Settings, SettingsError, TokenName,
};
use crate::ports::{
    AttemptCounter, AuditLog, AuthObserver, AuthOutcome, Cause, Clock, ComposedLookup,
    CredentialLookup, CredentialRecord, Journal, LastUse, Notifier, NotifyError, Outbox,
    PasswordHasher, PasswordLinkStore, Regeneration, SecretHistory, SessionStore, SettingsStore,
    Storage, StoreError, SystemClock, TokenStore, UserDirectory,
};
use crate::scope::{ResourceCatalog, Scope, ScopeError, ScopeSpec};
use crate::session::SessionLimits;
use crate::token::{BODY_BYTES, SecretHash, ServerKey, TokenCodec, TokenHasher, TokenSecret};

pub use authenticate::{FAILURE_AUDIT_WINDOW, Introspection};
use authenticate::{FailureKey, RepeatedFailure};
pub use error::{
    AddScopesError, AuthError, BuildError, CreateTokenError, Denied, Escalation, InternalError,
    QueryError, RandomnessError, RegenerateError, ScopesError, SettingsChangeError,
    TokenChangeError, UserChangeError, UserError,
};
use notices::notice;
pub use notices::{MAX_DELIVERY_ATTEMPTS, ReminderRun, retry_delay};
pub use rotation::DEFAULT_ROTATION_DAYS;
use scopes::describe_scopes;
pub use session_error::{LimitError, PasswordChangeError, SignInError};
pub use sessions::{LiveSession, SignedIn};
use tokens::refuse_escalation;

/// A token secret just issued, and its token. The only value holding a secret.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The stored token.
    pub token: Token,
    /// The secret: show it once.
    pub secret: TokenSecret,
}

/// Whether a user may create a token now ([`PatService::creation_allowance`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreationAllowance {
    /// Yes.
    Allowed,
    /// No: the role may not create tokens.
    NotForRole(Role),
    /// No: personal access tokens are switched off.
    PatsDisabled,
    /// No: the user has `active` active tokens, the `limit`.
    AtLimit {
        /// Active tokens now.
        active: u64,
        /// The limit in force.
        limit: u32,
    },
}

/// What a create asks for, as given by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateTokenRequest {
    /// Name (1–64 characters).
    pub name: String,
    /// Description (0–500 characters).
    pub description: String,
    /// Lifetime in days (1..=max).
    pub expires_in_days: i64,
    /// Scopes in text form.
    pub scopes: Vec<String>,
}

/// A listing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTokensRequest {
    /// Whose tokens: `None` for the caller's own; another user's needs admin.
    pub owner: Option<UserId>,
    /// Status filter.
    pub status: StatusFilter,
    /// Case-insensitive name substring.
    pub name_contains: Option<String>,
    /// Page.
    pub page: PageRequest,
}

/// A new user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// An injected CSPRNG, object-safe.
trait SecretRng: Send {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomnessError>;
}

impl<R: TryCryptoRng + Send> SecretRng for R {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomnessError> {
        self.try_fill_bytes(buf)
            .map_err(|e| RandomnessError(Cause::found(e.to_string())))
    }
}

/// Assembles a [`PatService`].
#[derive(Default)]
pub struct PatServiceBuilder {
    outbox: Option<Arc<dyn Outbox>>,
    credentials: Option<Arc<dyn CredentialLookup>>,
    tokens: Option<Arc<dyn TokenStore>>,
    users: Option<Arc<dyn UserDirectory>>,
    settings: Option<Arc<dyn SettingsStore>>,
    audit: Option<Arc<dyn AuditLog>>,
    notifier: Option<Arc<dyn Notifier>>,
    clock: Option<Arc<dyn Clock>>,
    rng: Option<Box<dyn SecretRng>>,
    key: Option<ServerKey>,
    previous_keys: Vec<ServerKey>,
    codec: TokenCodec,
    catalog: ResourceCatalog,
    cache: Option<Arc<VerificationCache>>,
    failed_auths_per_minute: Option<u32>,
    observer: Option<Arc<dyn AuthObserver>>,
    sessions: Option<Arc<dyn SessionStore>>,
    password_links: Option<Arc<dyn PasswordLinkStore>>,
    attempts: Option<Arc<dyn AttemptCounter>>,
    history: Option<Arc<dyn SecretHistory>>,
    password_hasher: Option<Arc<dyn PasswordHasher>>,
    session_limits: SessionLimits,
}

/// Failed token authentications an address may make per minute unless the builder
/// says otherwise ([`PatServiceBuilder::failed_auths_per_minute`]).
pub const DEFAULT_FAILED_AUTHS_PER_MINUTE: u32 = 60;

impl PatServiceBuilder {
    /// Failed token authentications accepted per client address (IPv6: per /64) per
    /// minute; once used up, every token authentication from that address is refused
    /// (`AuthError::RateLimited`) until its minute ends. 0 switches the limit off.
    /// Default [`DEFAULT_FAILED_AUTHS_PER_MINUTE`].
    pub fn failed_auths_per_minute(mut self, max: u32) -> Self {
        self.failed_auths_per_minute = Some(max);
        self
    }

    /// Tells `observer` of every authentication's outcome (metrics, logs).
    pub fn auth_observer(mut self, observer: Arc<dyn AuthObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Answers presented secrets from `cache` when it can vouch for them (see
    /// [`crate::cache`]): every change this service makes empties it; a store shared with
    /// other processes needs its change watcher feeding the same cache.
    pub fn verification_cache(mut self, cache: Arc<VerificationCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Hashes and checks passwords (sign-in, password changes); without one, those
    /// fail with `HashError::Failed`.
    pub fn password_hasher(mut self, hasher: Arc<dyn PasswordHasher>) -> Self {
        self.password_hasher = Some(hasher);
        self
    }

    /// Session lifetimes, the per-user cap and the shared limits (default
    /// [`SessionLimits::default`]).
    pub fn session_limits(mut self, limits: SessionLimits) -> Self {
        self.session_limits = limits;
        self
    }

    /// Every storage port at once (see [`Storage::from_store`]).
    pub fn storage(mut self, storage: Storage) -> Self {
        self.sessions = Some(storage.sessions);
        self.password_links = Some(storage.password_links);
        self.attempts = Some(storage.attempts);
        self.history = Some(storage.history);
        self.outbox(storage.outbox)
            .credentials(storage.credentials)
            .tokens(storage.tokens)
            .users(storage.users)
            .settings(storage.settings)
            .audit(storage.audit)
    }

    /// The authentication read (default: [`ComposedLookup`] over tokens, users and
    /// settings).
    pub fn credentials(mut self, lookup: Arc<dyn CredentialLookup>) -> Self {
        self.credentials = Some(lookup);
        self
    }

    /// The durable notice queue (required).
    pub fn outbox(mut self, outbox: Arc<dyn Outbox>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// The token store (required).
    pub fn tokens(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.tokens = Some(store);
        self
    }

    /// The user directory (required).
    pub fn users(mut self, users: Arc<dyn UserDirectory>) -> Self {
        self.users = Some(users);
        self
    }

    /// The settings store (required).
    pub fn settings(mut self, settings: Arc<dyn SettingsStore>) -> Self {
        self.settings = Some(settings);
        self
    }

    /// The audit log (required).
    pub fn audit(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The notifier (required).
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The CSPRNG secrets and ids are drawn from (required), e.g. `rand::rngs::SysRng`.
    pub fn rng(mut self, rng: impl TryCryptoRng + Send + 'static) -> Self {
        self.rng = Some(Box::new(rng));
        self
    }

    /// The server key new tokens are hashed with (required).
    pub fn server_key(mut self, key: ServerKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Older keys whose tokens still authenticate (key rotation).
    pub fn previous_keys(mut self, keys: Vec<ServerKey>) -> Self {
        self.previous_keys = keys;
        self
    }

    /// The token codec (default: prefix `pat`).
    pub fn codec(mut self, codec: TokenCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The resource catalog scopes are checked against (default: open).
    pub fn catalog(mut self, catalog: ResourceCatalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// Builds the service.
    ///
    /// # Errors
    /// [`BuildError`] naming the first missing required part.
    pub fn build(self) -> Result<PatService, BuildError> {
        let key = self.key.ok_or(BuildError("server_key"))?;
        let tokens = self.tokens.ok_or(BuildError("tokens"))?;
        let users = self.users.ok_or(BuildError("users"))?;
        let settings = self.settings.ok_or(BuildError("settings"))?;
        let credentials = self.credentials.unwrap_or_else(|| {
            Arc::new(ComposedLookup {
                tokens: tokens.clone(),
                users: users.clone(),
                settings: settings.clone(),
            })
        });
        Ok(PatService {
            outbox: self.outbox.ok_or(BuildError("outbox"))?,
            credentials,
            tokens,
            users,
            settings,
            audit: self.audit.ok_or(BuildError("audit"))?,
            notifier: self.notifier.ok_or(BuildError("notifier"))?,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            rng: Mutex::new(self.rng.ok_or(BuildError("rng"))?),
            last_id: Mutex::new(0),
            hasher: TokenHasher::new(&key, &self.previous_keys),
            codec: self.codec,
            catalog: self.catalog,
            cache: self.cache,
            failures: Mutex::new(HashMap::new()),
            failed_auths: FailedAuthLimiter::new(
                self.failed_auths_per_minute
                    .unwrap_or(DEFAULT_FAILED_AUTHS_PER_MINUTE),
                std::time::Duration::from_secs(60),
            ),
            observer: self.observer,
            pending_uses: Mutex::new(HashMap::new()),
            sessions: self.sessions.ok_or(BuildError("sessions"))?,
            password_links: self.password_links.ok_or(BuildError("password_links"))?,
            attempts: self.attempts.ok_or(BuildError("attempts"))?,
            history: self.history.ok_or(BuildError("history"))?,
            password_hasher: self.password_hasher,
            session_limits: self.session_limits,
        })
    }
}

/// Every personal-access-token use case. Hosts call only this.
pub struct PatService {
    outbox: Arc<dyn Outbox>,
    credentials: Arc<dyn CredentialLookup>,
    tokens: Arc<dyn TokenStore>,
    users: Arc<dyn UserDirectory>,
    settings: Arc<dyn SettingsStore>,
    audit: Arc<dyn AuditLog>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    rng: Mutex<Box<dyn SecretRng>>,
    last_id: Mutex<u128>,
    hasher: TokenHasher,
    codec: TokenCodec,
    catalog: ResourceCatalog,
    cache: Option<Arc<VerificationCache>>,
    failures: Mutex<HashMap<FailureKey, RepeatedFailure>>,
    failed_auths: FailedAuthLimiter,
    observer: Option<Arc<dyn AuthObserver>>,
    pending_uses: Mutex<HashMap<TokenId, LastUse>>,
    sessions: Arc<dyn SessionStore>,
    password_links: Arc<dyn PasswordLinkStore>,
    attempts: Arc<dyn AttemptCounter>,
    history: Arc<dyn SecretHistory>,
    password_hasher: Option<Arc<dyn PasswordHasher>>,
    session_limits: SessionLimits,
}

/// What a token-authenticated caller needs, as a `tokens:<operation>` scope.
#[derive(Debug, Clone, Copy)]
enum TokenOp {
    Create,
    Read,
    List,
    Update,
    Delete,
}

impl TokenOp {
    fn as_str(self) -> &'static str {
        match self {
            TokenOp::Create => "create",
            TokenOp::Read => "read",
            TokenOp::List => "list",
            TokenOp::Update => "update",
            TokenOp::Delete => "delete",
        }
    }
}

/// Who may act on another user's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Only the owner.
    OwnerOnly,
    /// The owner, or an admin (list, read, revoke, delete).
    OwnerOrAdmin,
    /// An admin through the admin operations, whose `admin:<operation>` scope was
    /// checked instead of `tokens:<operation>`.
    Admin,
}

/// Empties the verification cache when dropped: after a write, however it ended.
struct InvalidateOnDrop<'a>(Option<&'a VerificationCache>);

impl Drop for InvalidateOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(cache) = self.0 {
            cache.changed();
        }
    }
}

/// Admins only; a token-authenticated admin also needs `admin:<operation>`.
fn require_admin(actor: &Actor, operation: &str) -> Result<(), Denied> {
    if actor.user.role != Role::Admin {
        return Err(Denied::AdminOnly);
    }
    if let Credential::Token { scopes, .. } = &actor.credential
        && !crate::scope::any_allows(scopes, "admin", operation, None)
    {
        return Err(Denied::MissingScope {
            required: format!("admin:{operation}"),
        });
    }
    Ok(())
}

/// Whether `actor` may act on other users' tokens for `op`: an admin's session, or an
/// admin's token holding `admin:<op>` (the role alone does not lend a token that reach).
fn has_admin_reach(actor: &Actor, op: TokenOp) -> bool {
    if actor.user.role != Role::Admin {
        return false;
    }
    match &actor.credential {
        Credential::Session => true,
        Credential::Token { scopes, .. } => {
            crate::scope::any_allows(scopes, "admin", op.as_str(), None)
        }
    }
}

fn refuse_collaborator(actor: &Actor, action: &'static str) -> Result<(), Denied> {
    if actor.user.role == Role::Collaborator {
        return Err(Denied::Role {
            role: Role::Collaborator,
            action,
        });
    }
    Ok(())
}

fn require_token_scope(actor: &Actor, op: TokenOp) -> Result<(), Denied> {
    if let Credential::Token { scopes, .. } = &actor.credential
        && !crate::scope::any_allows(scopes, "tokens", op.as_str(), None)
    {
        return Err(Denied::MissingScope {
            required: format!("tokens:{}", op.as_str()),
        });
    }
    Ok(())
}

impl PatService {
    /// Starts a builder.
    pub fn builder() -> PatServiceBuilder {
        PatServiceBuilder::default()
    }

    /// The codec (prefix) tokens are written with.
    pub fn codec(&self) -> &TokenCodec {
        &self.codec
    }

    /// The resource catalog.
    pub fn catalog(&self) -> &ResourceCatalog {
        &self.catalog
    }

    /// The verification cache's counters and sizes, when there is a cache.
    pub fn cache_stats(&self) -> Option<crate::cache::CacheStats> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    /// The time now, by the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Awaits a store write, then drops cached credentials: whatever it changed may
    /// change what a token is allowed, and the cache must not outlive that.
    ///
    /// The invalidation is a guard's `Drop`, so it also runs when the caller stops
    /// awaiting midway (a client that disconnects drops its handler's future), and on
    /// error (a write whose answer was lost may still have committed).
    async fn changing<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let _invalidate = InvalidateOnDrop(self.cache.as_deref());
        write.await
    }

    /// The settings, or `None` while personal access tokens are switched off.
    async fn enabled_settings(&self) -> Result<Option<Settings>, StoreError> {
        let settings = self.settings.get().await?;
        Ok(settings.pats_enabled.then_some(settings))
    }

    async fn load(
        &self,
        actor: &Actor,
        id: TokenId,
        op: TokenOp,
        reach: Reach,
    ) -> Result<Token, QueryError> {
        if reach != Reach::Admin {
            require_token_scope(actor, op)?;
        }
        let token = self
            .tokens
            .get(id)
            .await?
            .map(|token| self.with_pending_use(token))
            .ok_or(QueryError::NotFound)?;
        let admin_reach = reach != Reach::OwnerOnly && has_admin_reach(actor, op);
        if token.owner != actor.user.id && !admin_reach {
            return Err(QueryError::NotFound);
        }
        Ok(token)
    }
}
