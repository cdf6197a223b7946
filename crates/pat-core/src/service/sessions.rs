//! Sign-in and browser sessions: the rules of [`crate::session`], over the
//! [`SessionStore`](crate::ports::SessionStore) and the password hasher. Adapters hold
//! only the cookie.

use super::*;
use crate::limits::SharedLimit;
use crate::policy::MAX_PASSWORD_CHARS;
use crate::ports::{HashError, PasswordHasher, SessionRecord};
use crate::session::{SESSION_TOUCH_INTERVAL, SecretDigest, SessionSecret, well_formed};

/// A sign-in that succeeded: the new session's secret (the cookie) and its CSRF token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who signed in.
    pub user: User,
    /// The cookie's value: give it to the browser, keep it nowhere.
    pub secret: SessionSecret,
    /// What the session's writes must send back.
    pub csrf_token: String,
}

/// A live session, as a request presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSession {
    /// Its user, as they are now.
    pub user: User,
    /// The digest the store knows it by.
    pub digest: SecretDigest,
    /// Its CSRF token.
    pub csrf_token: String,
}

impl LiveSession {
    /// The session's user as an actor calling from `ip`.
    pub fn actor(&self, ip: Option<IpAddr>) -> Actor {
        Actor::session(self.user.clone(), ip)
    }
}

impl PatService {
    /// The sign-in limit in force.
    fn sign_in_limit(&self) -> SharedLimit {
        SharedLimit {
            name: "sign_in",
            max: self.session_limits.sign_ins_per_minute,
            window: std::time::Duration::from_secs(60),
        }
    }

    /// Counts one leak report from `ip` against the hourly limit every instance shares.
    /// Adapters call it before they read the report, so a flood costs one counter
    /// write per request.
    ///
    /// # Errors
    /// `RateLimited` once the address used up its hour; storage failures.
    pub async fn count_leak_report(&self, ip: Option<IpAddr>) -> Result<(), LimitError> {
        let limit = SharedLimit {
            name: "leak_report",
            max: self.session_limits.leak_reports_per_hour,
            window: std::time::Duration::from_secs(3600),
        };
        self.count_attempt(limit, ip).await
    }

    /// Counts one attempt from `ip` against `limit`, in the store.
    pub(super) async fn count_attempt(
        &self,
        limit: SharedLimit,
        ip: Option<IpAddr>,
    ) -> Result<(), LimitError> {
        match ip {
            Some(ip) => self.count_attempt_of(limit, &limit.key(ip)).await,
            None => Ok(()),
        }
    }

    /// Counts one attempt of `key` against `limit`, in the store.
    pub(super) async fn count_attempt_of(
        &self,
        limit: SharedLimit,
        key: &str,
    ) -> Result<(), LimitError> {
        if limit.max == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        let (start, count) = self
            .attempts
            .count_attempt(key, now, now - limit.span())
            .await?;
        Ok(limit.judge(start, count, now)?)
    }

    pub(super) fn password_hasher(&self) -> Result<&dyn PasswordHasher, HashError> {
        self.password_hasher.as_deref().ok_or_else(|| {
            HashError::Failed(Cause::found(
                "no password hasher was configured (PatServiceBuilder::password_hasher)",
            ))
        })
    }

    /// 256 random bits as a session's or a link's secret.
    pub(super) fn new_session_secret(&self) -> Result<SessionSecret, RandomnessError> {
        let mut bytes = zeroize::Zeroizing::new([0_u8; 32]);
        self.fill_random(bytes.as_mut())?;
        Ok(SessionSecret::from_bytes(&bytes))
    }

    /// Checks an email and password and starts a session. Counted against the sign-in
    /// limit of `ip` first; an unknown email costs the same password work as a wrong
    /// password. The user's oldest sessions beyond the per-user cap end.
    ///
    /// # Errors
    /// `InvalidCredentials` for an unknown email, a wrong password, a user without a
    /// password or an inactive user (one answer for all); `RateLimited`; `Hashing`
    /// (busy); storage and randomness failures.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<SignedIn, SignInError> {
        self.count_attempt(self.sign_in_limit(), ip).await?;
        // No password this server accepts is longer: refuse without hashing megabytes.
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(SignInError::InvalidCredentials);
        }
        let found = self.users.find_by_email(email.trim()).await?;
        let hash = found.as_ref().and_then(|f| f.password_hash.as_deref());
        let matches = self.password_hasher()?.verify(password, hash).await?;
        let Some(found) = found.filter(|f| f.user.active) else {
            return Err(SignInError::InvalidCredentials);
        };
        let Some(verified) = found.password_hash.as_deref().filter(|_| matches) else {
            return Err(SignInError::InvalidCredentials);
        };
        self.start_session(found.user.clone(), verified)
            .await?
            .ok_or(SignInError::InvalidCredentials)
    }

    /// Starts a session for `user` unless their password is no longer `verified_hash`
    /// (changed while it was being checked): `None` then.
    pub(super) async fn start_session(
        &self,
        user: User,
        verified_hash: &str,
    ) -> Result<Option<SignedIn>, SignInError> {
        let secret = self.new_session_secret()?;
        let now = self.clock.now();
        let record = SessionRecord {
            digest: secret.digest(),
            user: user.id,
            created_at: now,
            last_seen_at: now,
        };
        let started = self
            .sessions
            .start_session(&record, self.session_limits.max_per_user, verified_hash)
            .await?;
        Ok(started.then(|| SignedIn {
            csrf_token: secret.csrf_token(),
            user,
            secret,
        }))
    }

    /// The live session a cookie presents, or `None`: malformed, unknown, past its
    /// absolute or idle expiry, or its user gone or inactive (a dead session found here
    /// is ended). A use is recorded at most once per [`SESSION_TOUCH_INTERVAL`].
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn session(&self, secret: &str) -> Result<Option<LiveSession>, StoreError> {
        if !well_formed(secret) {
            return Ok(None);
        }
        let digest = SecretDigest::of(secret);
        let Some(found) = self.sessions.find_session(&digest).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let limits = &self.session_limits;
        let within = |since: DateTime<Utc>, limit: std::time::Duration| {
            chrono::Duration::from_std(limit).is_ok_and(|limit| now < since + limit)
        };
        let user = found.user.filter(|user| {
            user.active
                && within(found.session.created_at, limits.absolute)
                && within(found.session.last_seen_at, limits.idle)
        });
        let Some(user) = user else {
            self.sessions.end_session(&digest).await?;
            return Ok(None);
        };
        if !within(found.session.last_seen_at, SESSION_TOUCH_INTERVAL) {
            self.sessions.touch_session(&digest, now).await?;
        }
        Ok(Some(LiveSession {
            user,
            digest,
            csrf_token: crate::session::csrf_token(secret),
        }))
    }

    /// Ends one session (sign-out).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn sign_out(&self, session: &LiveSession) -> Result<(), StoreError> {
        self.sessions.end_session(&session.digest).await.map(drop)
    }

    /// Ends every session of the session's user, this one included; returns how many.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn sign_out_everywhere(&self, session: &LiveSession) -> Result<u64, StoreError> {
        self.sessions.end_sessions_of(session.user.id, None).await
    }

    /// Ends the sessions past their absolute or idle expiry and those of users who are
    /// gone or inactive (whichever instance or the CLI changed them), and forgets
    /// attempt counts older than a day and retired secrets past their keep time.
    /// Hosts call it every few seconds; returns how many sessions ended.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn sweep_sessions(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let ago = |d: std::time::Duration| now - chrono::Duration::from_std(d).unwrap_or_default();
        let ended = self
            .sessions
            .sweep_sessions(
                ago(self.session_limits.absolute),
                ago(self.session_limits.idle),
            )
            .await?;
        self.attempts
            .forget_attempts(now - chrono::Duration::days(1))
            .await?;
        self.history.forget_retired(now).await?;
        Ok(ended)
    }

    /// How many sessions the store holds (the `patd_sessions` gauge).
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn session_count(&self) -> Result<u64, StoreError> {
        self.sessions.count_sessions().await
    }
}
