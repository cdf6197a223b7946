//! `PatService`: every use case, over the ports.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use rand_core::TryCryptoRng;
use uuid::Uuid;

use crate::cache::{Cached, CredentialCache};
use crate::model::{
    Actor, Attempt, AuditAction, AuditEvent, AuditQuery, AuthFailure, Credential, DeliveryStatus,
    EventId, MessageId, Notice, NoticeKind, OutboxMessage, Page, PageError, PageRequest, Principal,
    Recipient, ReminderKind, RevocationReason, Role, ScopeId, StatusFilter, Token, TokenId,
    TokenQuery, TokenStatus, User, UserId,
};
use crate::policy::{
    Description, DescriptionError, ExpiryError, LAST_USED_WRITE_INTERVAL, Lifetime,
    MAX_SCOPES_PER_TOKEN, NameError, Settings, SettingsError, TokenName,
};
use crate::ports::{
    AuditLog, Clock, ComposedLookup, CredentialLookup, CredentialRecord, Journal, Notifier,
    NotifyError, Outbox, Regeneration, SettingsStore, Storage, StoreError, SystemClock, TokenStore,
    UserCredentials, UserDirectory,
};
use crate::scope::{ResourceCatalog, Scope, ScopeError, ScopeSpec};
use crate::token::{BODY_BYTES, SecretHash, ServerKey, TokenCodec, TokenHasher, TokenSecret};

/// What introspection tells a resource server about an active token.
#[derive(Debug, Clone)]
pub struct Introspection {
    /// The owner, the token and its scopes and expiry.
    pub principal: Principal,
    /// When the token was created.
    pub issued_at: DateTime<Utc>,
}

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
    /// Bad user fields.
    #[error("{0}")]
    InvalidUser(String),
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
    #[error("{0}")]
    ScopeEscalation(String),
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
            StoreError::ScopeLimit { limit } => ServiceError::TooManyScopes {
                max: limit,
                got: limit + 1,
            },
            other => ServiceError::Storage(other),
        }
    }
}

/// Why [`PatServiceBuilder::build`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PatService needs a {0}; call the builder method of that name")]
pub struct BuildError(&'static str);

/// A token secret just issued, and its token. The only value holding a secret.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The stored token.
    pub token: Token,
    /// The secret: show it once.
    pub secret: TokenSecret,
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

/// What a reminder and delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderRun {
    /// Reminders newly queued in the outbox.
    pub queued: usize,
    /// Reminders whose owner is inactive or gone: marked without a message.
    pub skipped: usize,
    /// Messages the notifier accepted.
    pub sent: usize,
    /// Messages that failed for now and will be retried.
    pub retried: usize,
    /// Messages given up on (a permanent refusal, or too many attempts).
    pub failed: usize,
}

/// Attempts before a temporarily failing message is given up.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 12;
/// How long a claimed message is held before another pass may take it.
const DELIVERY_LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// Wait before attempt `attempts + 1`: 30 s doubling per attempt, at most an hour.
pub fn retry_delay(attempts: u32) -> chrono::Duration {
    let seconds = 30_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(20));
    chrono::Duration::seconds(seconds.min(3600))
}

/// An injected CSPRNG, object-safe.
trait SecretRng: Send {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String>;
}

impl<R: TryCryptoRng + Send> SecretRng for R {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), String> {
        self.try_fill_bytes(buf).map_err(|e| e.to_string())
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
    cache: Option<CredentialCache>,
}

impl PatServiceBuilder {
    /// Caches credential lookups in this process for at most `ttl` (see
    /// [`crate::cache`]): changes made here apply on the next request; changes made by
    /// other processes on the same store within `ttl`.
    pub fn credential_cache(mut self, ttl: chrono::Duration, max_entries: usize) -> Self {
        self.cache = Some(CredentialCache::new(ttl, max_entries));
        self
    }

    /// All four storage ports at once (see [`Storage::from_store`]).
    pub fn storage(self, storage: Storage) -> Self {
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
    cache: Option<CredentialCache>,
    failures: Mutex<HashMap<FailureKey, RepeatedFailure>>,
}

/// Identical authentication failures (same reason, token and address) within this
/// window are audited once, with a count: a brute-force or misconfigured client would
/// otherwise turn every refused request into an audit write.
pub const FAILURE_AUDIT_WINDOW: chrono::Duration = chrono::Duration::seconds(60);

/// Most distinct failure keys remembered (the map is emptied beyond it).
const MAX_FAILURE_KEYS: usize = 10_000;

type FailureKey = (AuthFailure, Option<TokenId>, Option<IpAddr>);

/// The last audited failure of a key and how many identical ones followed it.
#[derive(Debug, Clone, Copy)]
struct RepeatedFailure {
    audited_at: DateTime<Utc>,
    since: u32,
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

/// The token an authentication failure concerns, for its audit record.
#[derive(Debug, Clone, Copy)]
struct FailedToken {
    id: TokenId,
    owner: UserId,
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

    /// The time now, by the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Checks a presented token: format first, then store lookup, revocation, expiry,
    /// the admin switch and the owner. Failures are audited with their reason.
    ///
    /// # Errors
    /// [`AuthError`] naming why the token was refused.
    pub async fn authenticate(
        &self,
        raw: &str,
        ip: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        match self.verify(raw, ip, now).await {
            Ok(principal) => Ok(principal),
            Err((err, token)) => {
                if let Some(reason) = err.failure()
                    && let Some(detail) = self.failure_to_audit(reason, token, ip, now)
                {
                    // Boxed: keeps the audit write's state out of the success path's future.
                    let event = self.event(
                        now,
                        AuditAction::AuthFailed(reason),
                        None,
                        token.map(|t| t.owner),
                        token.map(|t| t.id),
                        ip,
                        detail,
                    );
                    Box::pin(self.audit.record(&event)).await?;
                }
                Err(err)
            }
        }
    }

    /// The audit detail for this failure, or `None` when an identical one was audited
    /// within [`FAILURE_AUDIT_WINDOW`] (it is counted, and the count goes into the next
    /// audited one).
    fn failure_to_audit(
        &self,
        reason: AuthFailure,
        token: Option<FailedToken>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let key = (reason, token.map(|t| t.id), ip);
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(seen) = failures.get_mut(&key)
            && now - seen.audited_at < FAILURE_AUDIT_WINDOW
        {
            seen.since = seen.since.saturating_add(1);
            return None;
        }
        if failures.len() >= MAX_FAILURE_KEYS {
            failures.clear();
        }
        let previous = failures.insert(
            key,
            RepeatedFailure {
                audited_at: now,
                since: 0,
            },
        );
        Some(match previous {
            Some(p) if p.since > 0 => format!(
                "{} (and {} identical failures in the {} s after {})",
                reason.as_str(),
                p.since,
                FAILURE_AUDIT_WINDOW.num_seconds(),
                p.audited_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            _ => reason.as_str().to_owned(),
        })
    }

    /// One credential lookup, through the cache when there is one.
    async fn lookup_credential(
        &self,
        hash: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.credentials.lookup(hash).await;
        };
        match cache.get(hash, now) {
            Cached::Hit(record) => Ok(record.map(Arc::unwrap_or_clone)),
            Cached::Miss { epoch } => {
                let record = self.credentials.lookup(hash).await?;
                cache.put(*hash, record.clone().map(Arc::new), epoch, now);
                Ok(record)
            }
        }
    }

    async fn verify(
        &self,
        raw: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Principal, (AuthError, Option<FailedToken>)> {
        let (token, user, hash) = self.check_credential(raw, now).await?;
        let stale = token
            .last_used_at
            .is_none_or(|at| now - at > LAST_USED_WRITE_INTERVAL);
        if stale {
            self.tokens
                .record_use(token.id, now, ip, now - LAST_USED_WRITE_INTERVAL)
                .await
                .map_err(|e| (e.into(), None))?;
            if let Some(cache) = &self.cache {
                cache.note_use(&hash, now, ip);
            }
        }
        Ok(Principal {
            user,
            token_id: token.id,
            scopes: token.scopes,
            expires_at: token.expires_at,
        })
    }

    /// Every rule a presented secret must pass, without recording its use: the token
    /// and its active owner, and the hash it was found by.
    async fn check_credential(
        &self,
        raw: &str,
        now: DateTime<Utc>,
    ) -> Result<(Token, User, SecretHash), (AuthError, Option<FailedToken>)> {
        let well_formed = self
            .codec
            .parse(raw)
            .map_err(|_| (AuthError::Malformed, None))?;
        let mut found = None;
        for hash in self.hasher.candidates(well_formed.as_str()) {
            if let Some(record) = self
                .lookup_credential(&hash, now)
                .await
                .map_err(|e| (e.into(), None))?
            {
                // The store matched on the hash; confirm in constant time.
                if record.token.secret_hash == hash {
                    found = Some((record, hash));
                    break;
                }
            }
        }
        let (
            CredentialRecord {
                token,
                owner,
                pats_enabled,
            },
            hash,
        ) = found.ok_or((AuthError::Unknown, None))?;
        let failed = FailedToken {
            id: token.id,
            owner: token.owner,
        };
        let refusal = if !pats_enabled {
            Some(AuthError::PatsDisabled)
        } else {
            match token.status(now) {
                TokenStatus::Revoked => Some(AuthError::Revoked),
                TokenStatus::Expired => Some(AuthError::Expired),
                TokenStatus::Active => None,
            }
        };
        if let Some(err) = refusal {
            return Err((err, Some(failed)));
        }
        let Some(user) = owner.filter(|user| user.active) else {
            return Err((AuthError::UserInactive, Some(failed)));
        };
        Ok((token, user, hash))
    }

    /// RFC 7662 introspection for a resource server: whether `raw` is an active token,
    /// and its claims. It applies every rule of [`PatService::authenticate`] but is not
    /// a use of the token: last use is not touched (the resource server is not the
    /// token's user), and a refusal is neither audited nor counted.
    ///
    /// # Errors
    /// The [`AuthError`] that makes the token inactive.
    pub async fn introspect(&self, raw: &str) -> Result<Introspection, AuthError> {
        let (token, user, _) = self
            .check_credential(raw, self.clock.now())
            .await
            .map_err(|(err, _)| err)?;
        Ok(Introspection {
            issued_at: token.created_at,
            principal: Principal {
                user,
                token_id: token.id,
                scopes: token.scopes,
                expires_at: token.expires_at,
            },
        })
    }

    /// The token the caller presented (needs no scope).
    ///
    /// # Errors
    /// `NotFound` when the caller did not authenticate with a token (or it is gone).
    pub async fn presented_token(&self, actor: &Actor) -> Result<Token, ServiceError> {
        let Credential::Token { token_id, .. } = &actor.credential else {
            return Err(ServiceError::NotFound);
        };
        self.tokens
            .get(*token_id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Revokes the token the caller presented (needs no scope).
    ///
    /// # Errors
    /// `NotFound` when the caller did not authenticate with a token (or it is gone).
    pub async fn revoke_presented_token(&self, actor: &Actor) -> Result<Token, ServiceError> {
        let token = self.presented_token(actor).await?;
        let now = self.clock.now();
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::TokenRevoked,
            &token,
            "self".to_owned(),
        ));
        self.changing(
            self.tokens
                .revoke(token.id, RevocationReason::Owner, now, &journal),
        )
        .await
        .map_err(not_found)
    }

    /// A user by id (for session adapters re-checking that a user is still active).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn user(&self, id: UserId) -> Result<Option<User>, ServiceError> {
        Ok(self.users.get(id).await?)
    }

    /// A user and their password hash by email, for a login adapter to verify.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn login_credentials(
        &self,
        email: &str,
    ) -> Result<Option<UserCredentials>, ServiceError> {
        Ok(self.users.find_by_email(email).await?)
    }

    /// Replaces a user's password hash (admins; `None` for the CLI path).
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`.
    pub async fn set_password_hash(
        &self,
        actor: Option<&Actor>,
        id: UserId,
        hash: &str,
    ) -> Result<(), ServiceError> {
        if let Some(actor) = actor {
            require_admin(actor, "update")?;
        }
        self.users
            .set_password_hash(id, hash)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::UserNotFound,
                other => other.into(),
            })
    }

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
    ) -> Result<IssuedToken, ServiceError> {
        require_token_scope(actor, TokenOp::Create)?;
        refuse_collaborator(actor, "create tokens")?;
        let settings = self.enabled_settings().await?;
        let name = TokenName::new(&request.name)?;
        let description = Description::new(&request.description)?;
        let lifetime = Lifetime::new(request.expires_in_days, settings.max_lifetime_days)?;
        let specs = self.parse_scopes(&request.scopes)?;
        if specs.is_empty() {
            return Err(ServiceError::NoScopes);
        }
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
        .map_err(|e| duplicate_to_name(e, &token.name))?;
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
    ) -> Result<Page<Token>, ServiceError> {
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
        Ok(self.tokens.list(&query).await?)
    }

    /// How many active tokens the caller has, and the limit (for "at the limit" UIs).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn active_count(&self, actor: &Actor) -> Result<(u64, u32), ServiceError> {
        let settings = self.settings.get().await?;
        let count = self
            .tokens
            .count_active(actor.user.id, self.clock.now())
            .await?;
        Ok((count, settings.max_active_per_user))
    }

    /// One token of the caller's (or, for admins, anyone's).
    ///
    /// # Errors
    /// `NotFound` when it does not exist or is another user's.
    pub async fn get_token(&self, actor: &Actor, id: TokenId) -> Result<Token, ServiceError> {
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
    ) -> Result<Token, ServiceError> {
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
        .map_err(|e| duplicate_to_name(e, &name))
        .map_err(not_found)
    }

    /// Revokes a token at once. Revoking a revoked token changes nothing.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn revoke_token(&self, actor: &Actor, id: TokenId) -> Result<Token, ServiceError> {
        self.revoke_reached(actor, id, Reach::OwnerOrAdmin).await
    }

    async fn revoke_reached(
        &self,
        actor: &Actor,
        id: TokenId,
        reach: Reach,
    ) -> Result<Token, ServiceError> {
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
        self.changing(self.tokens.revoke(id, reason, now, &journal))
            .await
            .map_err(not_found)
    }

    /// Gives a token a new secret and lifetime; same name, description and scopes; the
    /// old secret stops working at once, and the owner is mailed. An active, expired or
    /// owner-revoked token may be regenerated; one an admin or a leak report revoked
    /// may not.
    ///
    /// # Errors
    /// `NotFound`, `RevokedByAdmin`, `RevokedAsLeaked`, `InvalidExpiry`, `PatsDisabled`,
    /// `ForbiddenRole`, `ActiveLimit`, `MissingScope`/`ScopeEscalation` (token callers).
    pub async fn regenerate_token(
        &self,
        actor: &Actor,
        id: TokenId,
        expires_in_days: i64,
    ) -> Result<IssuedToken, ServiceError> {
        refuse_collaborator(actor, "regenerate tokens")?;
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        refuse_revival(&token)?;
        let settings = self.enabled_settings().await?;
        let lifetime = Lifetime::new(expires_in_days, settings.max_lifetime_days)?;
        let now = self.clock.now();
        let expires_at = lifetime.expires_at(now);
        let specs: Vec<ScopeSpec> = token.scopes.iter().map(|s| s.spec.clone()).collect();
        refuse_escalation(actor, &specs, expires_at)?;
        let secret = self.new_secret()?;
        let regeneration = Regeneration {
            id,
            secret_hash: self.hasher.hash(secret.expose()),
            hint: secret.hint(),
            expires_at,
        };
        // The new secret's hint, not the generation number: it is known before the
        // write, and it is what the owner sees on the token page.
        let renewed = Token {
            expires_at,
            generation: token.generation + 1,
            ..token.clone()
        };
        // The owner is told of every new secret, as of every new token.
        let journal = Journal::of(self.token_event(
            actor,
            now,
            AuditAction::TokenRegenerated,
            &token,
            format!(
                "new secret {}, expires {}",
                regeneration.hint,
                expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ))
        .with_notice(self.message(notice(NoticeKind::Regenerated, &actor.user, &renewed), now)?);
        let token = self
            .changing(self.tokens.regenerate(
                &regeneration,
                settings.max_active_per_user,
                now,
                &journal,
            ))
            .await
            .map_err(not_found)?;
        Ok(IssuedToken { token, secret })
    }

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
    ) -> Result<Token, ServiceError> {
        refuse_collaborator(actor, "add scopes to tokens")?;
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        let specs = self.parse_scopes(scopes)?;
        if specs.is_empty() {
            return Err(ServiceError::NoScopes);
        }
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
        self.changing(
            self.tokens
                .add_scopes(id, &scopes, MAX_SCOPES_PER_TOKEN, now, &journal),
        )
        .await
        .map_err(not_found)
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
    ) -> Result<Token, ServiceError> {
        let token = self
            .load(actor, id, TokenOp::Update, Reach::OwnerOnly)
            .await?;
        let Some(removed) = token.scopes.iter().find(|s| s.id == scope) else {
            return Err(ServiceError::ScopeNotFound);
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
                StoreError::NotFound => ServiceError::ScopeNotFound,
                other => other.into(),
            })
    }

    /// Removes every scope: the token then authorizes nothing.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn clear_scopes(&self, actor: &Actor, id: TokenId) -> Result<Token, ServiceError> {
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
        self.changing(self.tokens.clear_scopes(id, now, &journal))
            .await
            .map_err(not_found)
    }

    /// Deletes a token for good (its history stays in the audit log).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete_token(&self, actor: &Actor, id: TokenId) -> Result<(), ServiceError> {
        self.delete_reached(actor, id, Reach::OwnerOrAdmin).await
    }

    async fn delete_reached(
        &self,
        actor: &Actor,
        id: TokenId,
        reach: Reach,
    ) -> Result<(), ServiceError> {
        let token = self.load(actor, id, TokenOp::Delete, reach).await?;
        let journal = Journal::of(self.token_event(
            actor,
            self.clock.now(),
            AuditAction::TokenDeleted,
            &token,
            format!("name={:?}", token.name.as_str()),
        ));
        self.changing(self.tokens.delete(id, &journal))
            .await
            .map_err(not_found)
    }

    /// Deletes every token of the caller; returns how many.
    ///
    /// # Errors
    /// `MissingScope` for a token caller without `tokens:delete`.
    pub async fn delete_all_tokens(&self, actor: &Actor) -> Result<usize, ServiceError> {
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
                    Err(other) => return Err(other.into()),
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
    ) -> Result<Page<AuditEvent>, ServiceError> {
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
            Err(ServiceError::NotFound) => {
                if !has_admin_reach(actor, TokenOp::Read) {
                    query.owner = Some(actor.user.id);
                }
                let page = self.audit.list(&query).await?;
                if page.total_items == 0 {
                    return Err(ServiceError::NotFound);
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
    ) -> Result<usize, ServiceError> {
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
            // Revoked by this report, not by a request that came first.
            if after.revoked_at == Some(now) {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// The settings in force (anyone may read them: forms show the limits).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn current_settings(&self) -> Result<Settings, ServiceError> {
        Ok(self.settings.get().await?)
    }

    /// The settings, for the admin pages (admins only).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn admin_settings(&self, actor: &Actor) -> Result<Settings, ServiceError> {
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
    ) -> Result<Token, ServiceError> {
        require_admin(actor, "update")?;
        self.revoke_reached(actor, id, Reach::Admin).await
    }

    /// Deletes any user's token (admins only).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `NotFound`.
    pub async fn admin_delete_token(&self, actor: &Actor, id: TokenId) -> Result<(), ServiceError> {
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
    ) -> Result<Settings, ServiceError> {
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
                "pats_enabled={} max_lifetime_days={} max_active_per_user={} expiry_warning_days={}",
                settings.pats_enabled,
                settings.max_lifetime_days,
                settings.max_active_per_user,
                settings.expiry_warning_days
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
    ) -> Result<Page<AuditEvent>, ServiceError> {
        require_admin(actor, "read")?;
        Ok(self.audit.list(&query).await?)
    }

    /// Whether `actor` may read the operational metrics (they count authentication
    /// failures by reason, which the API's identical 401s hide).
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `MissingScope` for an admin's token without
    /// `admin:read`.
    pub fn may_read_metrics(&self, actor: &Actor) -> Result<(), ServiceError> {
        require_admin(actor, "read")
    }

    /// Whether `actor` may add users. Adapters ask before they hash the new user's
    /// password, so a caller who may not cannot make the server do that work.
    ///
    /// # Errors
    /// `Forbidden` for non-admins, `MissingScope` for an admin's token without
    /// `admin:create`.
    pub fn may_create_users(&self, actor: &Actor) -> Result<(), ServiceError> {
        require_admin(actor, "create")
    }

    /// Adds a user (admins; or `None` for the trusted bootstrap/CLI path).
    ///
    /// # Errors
    /// `Forbidden`, `InvalidUser`, `DuplicateEmail`.
    pub async fn create_user(
        &self,
        actor: Option<&Actor>,
        new: NewUser,
        password_hash: Option<&str>,
    ) -> Result<User, ServiceError> {
        if let Some(actor) = actor {
            require_admin(actor, "create")?;
        }
        let email = new.email.trim().to_owned();
        let valid_email = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            });
        if !valid_email {
            return Err(ServiceError::InvalidUser(format!(
                "email {email:?} is invalid: give an address like someone@example.com"
            )));
        }
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::InvalidUser(
                "name must be 1 to 100 characters without control characters".to_owned(),
            ));
        }
        let now = self.clock.now();
        let user = User {
            id: UserId(self.new_uuid(now)?),
            email,
            name,
            role: new.role,
            active: true,
        };
        let journal = Journal::of(self.event(
            now,
            AuditAction::UserCreated,
            actor.map(|a| a.user.id),
            Some(user.id),
            None,
            actor.and_then(|a| a.ip),
            format!("role={}", user.role),
        ));
        self.changing(self.users.insert(&user, password_hash, &journal))
            .await?;
        Ok(user)
    }

    /// Changes a user's role and/or active flag (admins; `None` for the CLI path).
    ///
    /// # Errors
    /// `Forbidden`, `UserNotFound`, `InvalidUser` when it would leave no active admin.
    pub async fn update_user(
        &self,
        actor: Option<&Actor>,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
    ) -> Result<User, ServiceError> {
        if let Some(actor) = actor {
            require_admin(actor, "update")?;
        }
        let current = self
            .users
            .get(id)
            .await?
            .ok_or(ServiceError::UserNotFound)?;
        let demotes_admin = current.role == Role::Admin
            && current.active
            && (role.is_some_and(|r| r != Role::Admin) || active == Some(false));
        if demotes_admin && self.users.count_active_admins().await? <= 1 {
            return Err(ServiceError::InvalidUser(
                "this is the last active administrator; promote another user first".to_owned(),
            ));
        }
        let journal = Journal::of(self.event(
            self.clock.now(),
            AuditAction::UserUpdated,
            actor.map(|a| a.user.id),
            Some(id),
            None,
            actor.and_then(|a| a.ip),
            format!(
                "role={} active={}",
                role.unwrap_or(current.role),
                active.unwrap_or(current.active)
            ),
        ));
        self.changing(self.users.update(id, role, active, &journal))
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ServiceError::UserNotFound,
                other => other.into(),
            })
    }

    /// One page of users (admins; `None` for the CLI path).
    ///
    /// # Errors
    /// `Forbidden`.
    pub async fn list_users(
        &self,
        actor: Option<&Actor>,
        page: PageRequest,
    ) -> Result<Page<User>, ServiceError> {
        if let Some(actor) = actor {
            require_admin(actor, "read")?;
        }
        Ok(self.users.list(page).await?)
    }

    /// Reminders due now (at most `limit`), without sending them.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn due_reminders(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::model::DueReminder>, ServiceError> {
        let settings = self.settings.get().await?;
        Ok(self
            .tokens
            .due_reminders(self.clock.now(), settings.warning_window(), limit)
            .await?)
    }

    /// Queues up to `limit` due reminders in the outbox and marks them reminded. A
    /// reminder queued twice (a crash between the two steps) is one message: the
    /// outbox keeps one per token, generation and kind.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn queue_due_reminders(
        &self,
        limit: u32,
        run: &mut ReminderRun,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        for due in self.due_reminders(limit).await? {
            match self.users.get(due.token.owner).await?.filter(|u| u.active) {
                None => run.skipped += 1,
                Some(owner) => {
                    let message =
                        self.message(notice(due.kind.notice_kind(), &owner, &due.token), now)?;
                    if self.outbox.enqueue(&message).await? {
                        run.queued += 1;
                    }
                }
            }
            self.tokens
                .mark_reminded(due.token.id, due.kind, due.token.generation)
                .await?;
        }
        Ok(())
    }

    /// Delivers up to `limit` due outbox messages through the notifier, recording each
    /// outcome: sent only after the notifier accepted it; a temporary failure retried
    /// with exponential backoff (see [`retry_delay`]); a permanent one recorded as
    /// failed without holding up the others.
    ///
    /// # Errors
    /// Storage errors only; delivery failures are counted in `run`.
    pub async fn deliver_outbox(
        &self,
        limit: u32,
        run: &mut ReminderRun,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        for message in self
            .outbox
            .claim_due(now, now + DELIVERY_LEASE, limit)
            .await?
        {
            let attempt = match self.notifier.notify(&message.notice).await {
                Ok(()) => {
                    run.sent += 1;
                    Attempt::Sent {
                        at: self.clock.now(),
                    }
                }
                Err(NotifyError::Temporary(error))
                    if message.attempts + 1 < MAX_DELIVERY_ATTEMPTS =>
                {
                    run.retried += 1;
                    Attempt::Retry {
                        next_attempt_at: self.clock.now() + retry_delay(message.attempts + 1),
                        error,
                    }
                }
                Err(NotifyError::Temporary(error)) => {
                    run.failed += 1;
                    Attempt::Failed {
                        error: format!("gave up after {MAX_DELIVERY_ATTEMPTS} attempts: {error}"),
                    }
                }
                Err(NotifyError::Permanent(error)) => {
                    run.failed += 1;
                    Attempt::Failed { error }
                }
            };
            self.outbox.record(message.id, &attempt).await?;
        }
        Ok(())
    }

    /// One pass: queue due reminders, then deliver what is due in the outbox.
    ///
    /// # Errors
    /// Storage errors only; delivery failures are counted in the result.
    pub async fn send_due_reminders(&self, limit: u32) -> Result<ReminderRun, ServiceError> {
        let mut run = ReminderRun::default();
        self.queue_due_reminders(limit, &mut run).await?;
        self.deliver_outbox(limit, &mut run).await?;
        Ok(run)
    }

    /// The outbox, newest first (admins).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn outbox(
        &self,
        actor: &Actor,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, ServiceError> {
        require_admin(actor, "read")?;
        Ok(self.outbox.list(status, page).await?)
    }

    /// A pending outbox message for `notice`, due now.
    fn message(&self, notice: Notice, now: DateTime<Utc>) -> Result<OutboxMessage, ServiceError> {
        Ok(OutboxMessage {
            id: MessageId(self.new_uuid(now)?),
            dedupe_key: notice.dedupe_key(),
            notice,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        })
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
        let _invalidate = InvalidateOnDrop(self.cache.as_ref());
        write.await
    }

    async fn enabled_settings(&self) -> Result<Settings, ServiceError> {
        let settings = self.settings.get().await?;
        if !settings.pats_enabled {
            return Err(ServiceError::PatsDisabled);
        }
        Ok(settings)
    }

    async fn load(
        &self,
        actor: &Actor,
        id: TokenId,
        op: TokenOp,
        reach: Reach,
    ) -> Result<Token, ServiceError> {
        if reach != Reach::Admin {
            require_token_scope(actor, op)?;
        }
        let token = self.tokens.get(id).await?.ok_or(ServiceError::NotFound)?;
        let admin_reach = reach != Reach::OwnerOnly && has_admin_reach(actor, op);
        if token.owner != actor.user.id && !admin_reach {
            return Err(ServiceError::NotFound);
        }
        Ok(token)
    }

    /// Parses a request's scope texts, in order, without duplicates. The count is
    /// checked first, and duplicates are found with a set, so a large body costs one
    /// comparison of its length, not parsing and quadratic de-duplication.
    fn parse_scopes(&self, texts: &[String]) -> Result<Vec<ScopeSpec>, ServiceError> {
        if texts.len() > MAX_SCOPES_PER_TOKEN {
            return Err(ServiceError::TooManyScopes {
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
        Ok(specs)
    }

    fn new_scopes(
        &self,
        specs: Vec<ScopeSpec>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Scope>, ServiceError> {
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

    fn fill_random(&self, buf: &mut [u8]) -> Result<(), ServiceError> {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(buf)
            .map_err(ServiceError::Randomness)
    }

    fn new_secret(&self) -> Result<TokenSecret, ServiceError> {
        let mut body = zeroize::Zeroizing::new([0_u8; BODY_BYTES]);
        self.fill_random(body.as_mut())?;
        Ok(self.codec.encode(&body))
    }

    fn new_uuid(&self, now: DateTime<Utc>) -> Result<Uuid, ServiceError> {
        let mut random = [0_u8; 10];
        self.fill_random(&mut random)?;
        Ok(self.monotonic_uuid(now, &random))
    }

    /// UUID v7 that sorts after every id this service issued before, even within one
    /// millisecond, so "newest first" listings keep the order things happened in.
    fn monotonic_uuid(&self, now: DateTime<Utc>, random: &[u8; 10]) -> Uuid {
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let candidate = uuid::Builder::from_unix_timestamp_millis(millis, random)
            .into_uuid()
            .as_u128();
        let mut last = self.last_id.lock().unwrap_or_else(PoisonError::into_inner);
        let next = if candidate > *last {
            candidate
        } else {
            uuid::Builder::from_u128(*last + 1)
                .with_version(uuid::Version::SortRand)
                .with_variant(uuid::Variant::RFC4122)
                .into_uuid()
                .as_u128()
        };
        *last = next;
        Uuid::from_u128(next)
    }

    /// The audit event of a change to `token` made by `actor`.
    fn token_event(
        &self,
        actor: &Actor,
        at: DateTime<Utc>,
        action: AuditAction,
        token: &Token,
        detail: String,
    ) -> AuditEvent {
        self.event(
            at,
            action,
            Some(actor.user.id),
            Some(token.owner),
            Some(token.id),
            actor.ip,
            detail,
        )
    }

    /// An audit event with a fresh time-ordered id.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        at: DateTime<Utc>,
        action: AuditAction,
        actor: Option<UserId>,
        owner: Option<UserId>,
        token_id: Option<TokenId>,
        ip: Option<IpAddr>,
        detail: String,
    ) -> AuditEvent {
        let mut random = [0_u8; 10];
        // An audit id needs uniqueness, not secrecy; fall back to the token id bits.
        if self.fill_random(&mut random).is_err() {
            random.copy_from_slice(&token_id.map(|t| t.0.into_bytes()).unwrap_or_default()[6..]);
        }
        AuditEvent {
            id: EventId(self.monotonic_uuid(at, &random)),
            at,
            action,
            actor,
            owner,
            token_id,
            ip,
            detail,
        }
    }
}

/// Empties the credential cache when dropped: after a write, however it ended.
struct InvalidateOnDrop<'a>(Option<&'a CredentialCache>);

impl Drop for InvalidateOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(cache) = self.0 {
            cache.invalidate();
        }
    }
}

fn notice(kind: NoticeKind, recipient: &User, token: &Token) -> Notice {
    Notice {
        kind,
        recipient: Recipient::from(recipient),
        token_id: token.id,
        token_name: token.name.as_str().to_owned(),
        expires_at: token.expires_at,
        generation: token.generation,
    }
}

fn describe_scopes(scopes: &[Scope]) -> String {
    let texts: Vec<String> = scopes.iter().map(|s| s.spec.to_string()).collect();
    format!("scopes={}", texts.join(" "))
}

fn duplicate_to_name(err: StoreError, name: &TokenName) -> ServiceError {
    match err {
        StoreError::DuplicateName => ServiceError::DuplicateName {
            name: name.as_str().to_owned(),
        },
        other => other.into(),
    }
}

fn not_found(err: impl Into<ServiceError>) -> ServiceError {
    match err.into() {
        ServiceError::Storage(StoreError::NotFound) => ServiceError::NotFound,
        other => other,
    }
}

/// Admins only; a token-authenticated admin also needs `admin:<operation>`.
fn require_admin(actor: &Actor, operation: &str) -> Result<(), ServiceError> {
    if actor.user.role != Role::Admin {
        return Err(ServiceError::Forbidden);
    }
    if let Credential::Token { scopes, .. } = &actor.credential
        && !crate::scope::any_allows(scopes, "admin", operation, None)
    {
        return Err(ServiceError::MissingScope {
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

/// A revoked token comes back with a new secret only from its owner's own revocation.
fn refuse_revival(token: &Token) -> Result<(), ServiceError> {
    match token.revoked_reason {
        None | Some(RevocationReason::Owner) => Ok(()),
        Some(RevocationReason::Admin) => Err(ServiceError::RevokedByAdmin),
        Some(RevocationReason::LeakReport | RevocationReason::ReuseDetected) => {
            Err(ServiceError::RevokedAsLeaked)
        }
    }
}

fn refuse_collaborator(actor: &Actor, action: &'static str) -> Result<(), ServiceError> {
    if actor.user.role == Role::Collaborator {
        return Err(ServiceError::ForbiddenRole {
            role: Role::Collaborator,
            action,
        });
    }
    Ok(())
}

fn require_token_scope(actor: &Actor, op: TokenOp) -> Result<(), ServiceError> {
    if let Credential::Token { scopes, .. } = &actor.credential
        && !crate::scope::any_allows(scopes, "tokens", op.as_str(), None)
    {
        return Err(ServiceError::MissingScope {
            required: format!("tokens:{}", op.as_str()),
        });
    }
    Ok(())
}

fn refuse_escalation(
    actor: &Actor,
    specs: &[ScopeSpec],
    expires_at: DateTime<Utc>,
) -> Result<(), ServiceError> {
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
        return Err(ServiceError::ScopeEscalation(format!(
            "the presenting token does not hold the scope {spec}, so it cannot grant it"
        )));
    }
    if expires_at > *own_expiry {
        return Err(ServiceError::ScopeEscalation(format!(
            "a token may not outlive the token that creates it (expires {})",
            own_expiry.to_rfc3339()
        )));
    }
    Ok(())
}

impl ReminderKind {
    fn notice_kind(self) -> NoticeKind {
        match self {
            ReminderKind::ExpiringSoon => NoticeKind::ExpiringSoon,
            ReminderKind::Expired => NoticeKind::Expired,
        }
    }
}
