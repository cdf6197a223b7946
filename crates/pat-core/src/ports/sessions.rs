//! The sign-in ports: sessions, set-password links and attempt counts kept in the
//! store (so any instance serves any session and limits hold across instances), and
//! the password hasher.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Cause, Journal, StoreError};
use crate::model::{User, UserId};
use crate::session::SecretDigest;

/// One browser session as stored: the digest of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's secret.
    pub digest: SecretDigest,
    /// Whose session.
    pub user: UserId,
    /// When it was signed in.
    pub created_at: DateTime<Utc>,
    /// Its last recorded use.
    pub last_seen_at: DateTime<Utc>,
}

/// A session with its user as they are now (`None` when the user is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSession {
    /// The session.
    pub session: SessionRecord,
    /// Its user.
    pub user: Option<User>,
}

/// Browser sessions. Every method is one atomic step.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores `session` if its user is active and their password hash is still
    /// `verified_hash` (the one the sign-in checked: a password changed meanwhile wins),
    /// then ends the user's oldest sessions (by `created_at`) beyond `max_per_user`, in
    /// one atomic step serialized with password changes. Returns whether it stored it.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn start_session(
        &self,
        session: &SessionRecord,
        max_per_user: u32,
        verified_hash: &str,
    ) -> Result<bool, StoreError>;

    /// The session with this digest and its user, in one round trip.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn find_session(&self, digest: &SecretDigest)
    -> Result<Option<FoundSession>, StoreError>;

    /// Records a use at `at`; returns whether the session exists.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn touch_session(
        &self,
        digest: &SecretDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Ends one session; returns whether it existed.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn end_session(&self, digest: &SecretDigest) -> Result<bool, StoreError>;

    /// Ends every session of `user` but `keep`; returns how many ended.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn end_sessions_of(
        &self,
        user: UserId,
        keep: Option<&SecretDigest>,
    ) -> Result<u64, StoreError>;

    /// Ends the sessions started before `started_before`, last used before
    /// `seen_before`, or whose user is gone or inactive; returns how many ended.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn sweep_sessions(
        &self,
        started_before: DateTime<Utc>,
        seen_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// How many sessions are stored.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn count_sessions(&self) -> Result<u64, StoreError>;
}

/// A one-time set-password link as stored: the digest of its secret, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLink {
    /// SHA-256 of the link's secret.
    pub digest: SecretDigest,
    /// Whose password it sets.
    pub user: UserId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// It is refused from this time on.
    pub expires_at: DateTime<Utc>,
    /// When it was used; a link is used once.
    pub used_at: Option<DateTime<Utc>>,
}

/// What [`PasswordLinkStore::redeem_link`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The link was unused and unexpired: the password is set, the link used, and the
    /// user's sessions ended.
    Done(UserId),
    /// No link has this digest.
    Unknown,
    /// The link was used before, or expired: nothing changed.
    Spent,
}

/// One-time set-password links.
#[async_trait]
pub trait PasswordLinkStore: Send + Sync {
    /// Stores a new link, spends the user's other unused links (used at the new
    /// link's `created_at`: the newest link is the only one that works) and writes
    /// `journal`, in one atomic step.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the user is unknown.
    async fn insert_link(&self, link: &PasswordLink, journal: &Journal) -> Result<(), StoreError>;

    /// The link with this digest.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn find_link(&self, digest: &SecretDigest) -> Result<Option<PasswordLink>, StoreError>;

    /// In one atomic step, if the link is unused and expires after `now`: marks it (and
    /// the user's other unused links) used at `now`, sets its user's password hash, ends
    /// all the user's sessions and writes `journal`. Two concurrent redemptions of one
    /// link: exactly one is `Done`.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn redeem_link(
        &self,
        digest: &SecretDigest,
        password_hash: &str,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Redemption, StoreError>;
}

/// Attempts counted per key in windows that start with a key's first attempt, in the
/// store: the sign-in and leak-report limits every instance shares.
#[async_trait]
pub trait AttemptCounter: Send + Sync {
    /// Counts one attempt of `key` at `now`: in the key's current window if it started
    /// after `window_opened_after`, else in a new window starting at `now`. Returns the
    /// window's start and its count after this attempt (atomic: N concurrent calls in
    /// one window return 1..=N).
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn count_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_opened_after: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, u32), StoreError>;

    /// Forgets windows that started before `before`; returns how many.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn forget_attempts(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Why password work could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Too much password work is waiting: retry after this many seconds.
    #[error("the server is busy checking passwords; retry in {retry_after_secs} s")]
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The hasher failed.
    #[error("password hashing failed")]
    Failed(#[source] Cause),
}

/// Password hashing (argon2id in `pat-argon2`): slow on purpose, so adapters bound how
/// much of it may wait.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string for `password`.
    ///
    /// # Errors
    /// [`HashError::Busy`] when the work queue is full; [`HashError::Failed`].
    async fn hash(&self, password: &str) -> Result<String, HashError>;

    /// Whether `password` matches `hash`. `None` (an unknown email, a user without a
    /// password) costs the same work as a real check and is `false`: timing does not
    /// tell which accounts exist.
    ///
    /// # Errors
    /// [`HashError::Busy`] when the work queue is full; [`HashError::Failed`].
    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError>;
}
