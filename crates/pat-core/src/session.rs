//! Browser sessions and one-time set-password links: their secrets, what the store
//! keeps of them (a SHA-256 hash, never the secret), the CSRF token derived from a
//! session's secret, and the limits sessions live by.
//!
//! A session is dead once any of these holds (checked on every use by
//! [`crate::PatService::session`], and swept by [`crate::PatService::sweep_sessions`]):
//! - it was started more than [`SessionLimits::absolute`] ago (default 12 hours),
//!   however busy it was;
//! - it was not used for [`SessionLimits::idle`] (default 2 hours; a use is recorded at
//!   most once per [`SESSION_TOUCH_INTERVAL`], so idle expiry is exact to that);
//! - its user is gone or inactive;
//! - it was ended: sign-out, sign-out everywhere, a password change (the user's other
//!   sessions), a demotion or deactivation (all the user's sessions), or it was the
//!   oldest of a user signing in an 11th time ([`SessionLimits::max_per_user`]).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Random bytes in a session or link secret.
const SECRET_BYTES: usize = 32;

/// How often a session's last use is written: uses closer together than this write
/// nothing, so idle expiry is exact to within it.
pub const SESSION_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// How long a set-password link stays usable.
pub const PASSWORD_LINK_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A session's or a link's secret: 32 random bytes as URL-safe base64 (43
/// characters). It exists only in the cookie or link and in the response that issues
/// it; the store keeps its [`SecretDigest`].
#[derive(Clone)]
pub struct SessionSecret(Zeroizing<String>);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(..)")
    }
}

impl SessionSecret {
    /// A secret from 32 random bytes.
    pub fn from_bytes(bytes: &[u8; SECRET_BYTES]) -> Self {
        Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The text the browser holds.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(self.expose())
    }

    /// The CSRF token of the session this secret opens.
    pub fn csrf_token(&self) -> String {
        csrf_token(self.expose())
    }
}

/// SHA-256 of a session's or link's secret text: what the store keeps and looks up by.
/// 256 random bits need no salt or slow hash; a reader of the database cannot turn a
/// digest back into a cookie.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretDigest(pub [u8; 32]);

impl std::fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretDigest({}..)", &self.to_hex()[..8])
    }
}

impl SecretDigest {
    /// The digest of `secret` as presented (a cookie or link value).
    pub fn of(secret: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"patd session\0");
        hasher.update(secret.as_bytes());
        Self(hasher.finalize().into())
    }

    /// Lower-case hex, as stored.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// From stored hex.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut bytes = [0_u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

/// Whether a presented secret has the shape of one this server issues (so a forged,
/// truncated or oversized cookie is refused without a store read).
pub fn well_formed(secret: &str) -> bool {
    secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The CSRF token of a session: derived from its secret with another label, so every
/// instance computes it alike without storing it, and the database does not hold it.
pub fn csrf_token(session_secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"patd csrf\0");
    hasher.update(session_secret.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn same_token(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// The limits sessions and sign-in live by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session ends this long after sign-in, however busy.
    pub absolute: Duration,
    /// A session ends after this long unused.
    pub idle: Duration,
    /// Most sessions one user keeps; signing in once more ends the oldest.
    pub max_per_user: u32,
    /// Sign-in attempts per client address (IPv6: per /64) per minute, counted in the
    /// store so every instance shares the count. 0: no limit.
    pub sign_ins_per_minute: u32,
    /// Leak reports per client address per hour, counted in the store. 0: no limit.
    pub leak_reports_per_hour: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            absolute: Duration::from_secs(12 * 3600),
            idle: Duration::from_secs(2 * 3600),
            max_per_user: 10,
            sign_ins_per_minute: 30,
            // GitHub's figure for its public token-revocation API.
            leak_reports_per_hour: 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_43_url_safe_characters_and_its_digest_and_csrf_differ() {
        let secret = SessionSecret::from_bytes(&[7; 32]);
        assert_eq!(secret.expose().len(), 43);
        assert!(well_formed(secret.expose()));
        let digest = secret.digest();
        assert_eq!(SecretDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_ne!(digest.to_hex(), secret.csrf_token());
        assert_ne!(
            SecretDigest::of("a").to_hex(),
            SecretDigest::of("b").to_hex()
        );
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn malformed_secrets_are_refused_before_any_lookup() {
        let good = SessionSecret::from_bytes(&[1; 32]);
        assert!(!well_formed(&good.expose()[..42]));
        assert!(!well_formed(&format!("{}x", good.expose())));
        assert!(!well_formed(&format!("{}=", &good.expose()[..42])));
        assert!(!well_formed(""));
        assert!(!well_formed(&"a".repeat(4096)));
    }

    #[test]
    fn tokens_compare_equal_only_when_equal_and_never_when_empty() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("", ""));
        assert!(SecretDigest::from_hex("zz").is_none());
    }
}
