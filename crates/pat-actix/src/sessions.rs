//! Server-side browser sessions: the cookie's names, the store that ends them on
//! logout or deactivation, and a new secret held for its one showing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pat_core::model::{TokenId, UserId};
use pat_core::token::TokenSecret;
use rand::TryRng;

use crate::problem::ApiError;

/// The session cookie's name over plain HTTP.
pub const SESSION_COOKIE: &str = "patd_session";
/// The session cookie's name with secure cookies (HTTPS): the `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, `Path=/` and without `Domain`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-patd_session";
/// Most sessions one user keeps; signing in once more ends the oldest.
pub const MAX_SESSIONS_PER_USER: usize = 10;

/// One signed-in browser session, kept on the server.
#[derive(Debug, Clone)]
struct Session {
    user_id: UserId,
    csrf_token: String,
    expires: Instant,
}

/// A new token's secret waiting to be shown once in the session that made it.
struct HeldSecret {
    token_id: TokenId,
    secret: TokenSecret,
    until: Instant,
}

/// How long a held secret waits to be shown before it is dropped unseen.
const HELD_SECRET_TTL: Duration = Duration::from_secs(600);

/// Server-side sessions: logout or deactivation ends them at once.
pub struct SessionStore {
    ttl: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    held: Mutex<HashMap<String, HeldSecret>>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A session just created: the cookie value and the CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value.
    pub id: String,
    /// What writes must send as `X-CSRF-Token`.
    pub csrf_token: String,
}

/// 32 random bytes from the OS, URL-safe base64: session ids and CSRF tokens.
///
/// # Errors
/// `internal` if the OS random number generator fails.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0_u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl SessionStore {
    /// Sessions that last `ttl` after login.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            sessions: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, HeldSecret>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a new token's secret for the next page of `session_id` that shows token
    /// `token_id`, so the secret never travels in a URL (the web UI's show-once page).
    pub fn hold_secret(&self, session_id: &str, token_id: TokenId, secret: TokenSecret) {
        let now = Instant::now();
        let mut held = self.held();
        held.retain(|_, h| h.until > now);
        held.insert(
            session_id.to_owned(),
            HeldSecret {
                token_id,
                secret,
                until: now + HELD_SECRET_TTL,
            },
        );
    }

    /// The held secret of `token_id` for `session_id`, removed as it is returned: it
    /// is shown once.
    pub fn take_secret(&self, session_id: &str, token_id: TokenId) -> Option<TokenSecret> {
        let mut held = self.held();
        match held.get(session_id) {
            Some(h) if h.token_id == token_id && h.until > Instant::now() => {
                held.remove(session_id).map(|h| h.secret)
            }
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session for `user`.
    ///
    /// # Errors
    /// `internal` if the OS random number generator fails.
    pub fn start(&self, user: UserId) -> Result<NewSession, ApiError> {
        let session = NewSession {
            id: random_token()?,
            csrf_token: random_token()?,
        };
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.expires > now);
        let mut own: Vec<(Instant, String)> = sessions
            .iter()
            .filter(|(_, s)| s.user_id == user)
            .map(|(id, s)| (s.expires, id.clone()))
            .collect();
        if own.len() >= MAX_SESSIONS_PER_USER {
            // The oldest sign-ins expire first.
            own.sort();
            for (_, id) in &own[..=own.len() - MAX_SESSIONS_PER_USER] {
                sessions.remove(id);
                self.held().remove(id);
            }
        }
        sessions.insert(
            session.id.clone(),
            Session {
                user_id: user,
                csrf_token: session.csrf_token.clone(),
                expires: now + self.ttl,
            },
        );
        Ok(session)
    }

    /// The live session with this cookie value: its user and CSRF token.
    pub fn lookup(&self, id: &str) -> Option<(UserId, String)> {
        self.find(id).map(|s| (s.user_id, s.csrf_token))
    }

    fn find(&self, id: &str) -> Option<Session> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends one session.
    pub fn end(&self, id: &str) {
        self.lock().remove(id);
        self.held().remove(id);
    }

    /// The users with a live session, each once.
    pub fn users(&self) -> Vec<UserId> {
        let now = Instant::now();
        let mut users: Vec<UserId> = self
            .lock()
            .values()
            .filter(|s| s.expires > now)
            .map(|s| s.user_id)
            .collect();
        users.sort_by_key(|u| u.0);
        users.dedup();
        users
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|s| s.expires > now).count()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ends every session of `user` (deactivation).
    pub fn end_all_for(&self, user: UserId) {
        let mut sessions = self.lock();
        sessions.retain(|_, s| s.user_id != user);
        self.held().retain(|id, _| sessions.contains_key(id));
    }
}
