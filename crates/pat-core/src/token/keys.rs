//! Server keys and keyed hashing: only `HMAC-SHA256(server_key, token)` is kept at
//! rest; old keys keep verifying after a rotation; a key's fingerprint names it.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Smallest accepted server key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Why a server key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is shorter than [`MIN_KEY_BYTES`].
    #[error("a server key must be at least {MIN_KEY_BYTES} random bytes, got {got}")]
    TooShort {
        /// Length of the refused key.
        got: usize,
    },
}

/// A server key: at least 32 random bytes. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct ServerKey(Zeroizing<Vec<u8>>);

impl ServerKey {
    /// Wraps key bytes.
    ///
    /// # Errors
    /// [`KeyError::TooShort`] below [`MIN_KEY_BYTES`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(bytes.into());
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { got: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// The key bytes, for an adapter that must persist a generated key.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// A name for this key that reveals nothing of it: the hex of
    /// `HMAC-SHA256(key, "patd key check")`. Kept beside the tokens, it lets a server
    /// notice at start that it holds another key than the one the tokens were made
    /// with, instead of answering every token "unknown".
    pub fn fingerprint(&self) -> String {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(b"patd key check");
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// What the key fingerprint kept with the tokens says about the keys a server is
/// started with (see [`check_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// Nothing is kept yet: record the current key's fingerprint.
    FirstUse,
    /// The kept fingerprint is the current key's.
    Matches,
    /// The kept fingerprint is one of the previous keys': the operator rotated keys;
    /// record the current key's.
    Rotated,
    /// Neither the current nor a previous key is the one kept: every existing token
    /// would be "unknown". Refuse to start.
    Mismatch {
        /// The fingerprint kept with the tokens.
        kept: String,
        /// The current key's.
        current: String,
    },
}

/// Compares the fingerprint `kept` with the tokens to the server's `current` and
/// `previous` keys.
pub fn check_key(kept: Option<&str>, current: &ServerKey, previous: &[ServerKey]) -> KeyCheck {
    let Some(kept) = kept else {
        return KeyCheck::FirstUse;
    };
    let current_print = current.fingerprint();
    if bool::from(kept.as_bytes().ct_eq(current_print.as_bytes())) {
        KeyCheck::Matches
    } else if previous.iter().any(|key| key.fingerprint() == kept) {
        KeyCheck::Rotated
    } else {
        KeyCheck::Mismatch {
            kept: kept.to_owned(),
            current: current_print,
        }
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

/// `HMAC-SHA256(server_key, token)`: what the store keeps instead of the secret.
///
/// Equality is constant-time.
#[derive(Clone, Copy, Eq)]
pub struct SecretHash([u8; 32]);

impl std::hash::Hash for SecretHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl SecretHash {
    /// Wraps 32 bytes read back from a store.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for a store to persist.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        // Constant-time, a word at a time (subtle's byte-wise slice compare is ~4x slower).
        let words = |bytes: &[u8; 32]| {
            let mut out = [0_u64; 4];
            for (word, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut buf = [0_u8; 8];
                buf.copy_from_slice(chunk);
                *word = u64::from_ne_bytes(buf);
            }
            out
        };
        let (a, b) = (words(&self.0), words(&other.0));
        let equal = a[0].ct_eq(&b[0]) & a[1].ct_eq(&b[1]) & a[2].ct_eq(&b[2]) & a[3].ct_eq(&b[3]);
        equal.into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// Hashes tokens with the current server key, and with older keys still accepted.
#[derive(Clone)]
pub struct TokenHasher {
    // Pre-keyed MAC states: cloning one is cheaper than keying afresh per token.
    keyed: Vec<Hmac<Sha256>>,
}

impl fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHasher({} keys)", self.keyed.len())
    }
}

impl TokenHasher {
    /// A hasher that writes with `current` and also accepts tokens hashed by `previous`.
    pub fn new(current: &ServerKey, previous: &[ServerKey]) -> Self {
        let keyed = std::iter::once(current)
            .chain(previous)
            .map(|key| {
                // HMAC takes keys of any length, so this cannot fail.
                Hmac::<Sha256>::new_from_slice(key.expose()).expect("HMAC accepts any key length")
            })
            .collect();
        Self { keyed }
    }

    /// The hash stored for a new token: with the current key.
    pub fn hash(&self, token: &str) -> SecretHash {
        Self::hash_with(&self.keyed[0], token)
    }

    /// Hashes under every accepted key, current key first, for lookup during rotation.
    pub fn candidates<'a>(&'a self, token: &'a str) -> impl Iterator<Item = SecretHash> + 'a {
        self.keyed
            .iter()
            .map(move |mac| Self::hash_with(mac, token))
    }

    fn hash_with(mac: &Hmac<Sha256>, token: &str) -> SecretHash {
        let mut mac = mac.clone();
        mac.update(token.as_bytes());
        SecretHash(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            ServerKey::new(vec![1; 31]).unwrap_err(),
            KeyError::TooShort { got: 31 }
        );
    }

    #[test]
    fn hashing_is_keyed_and_rotation_keeps_old_hashes() {
        let old = ServerKey::new(vec![1; 32]).expect("key");
        let new = ServerKey::new(vec![2; 32]).expect("key");
        let before = TokenHasher::new(&old, &[]);
        let after = TokenHasher::new(&new, std::slice::from_ref(&old));
        let stored = before.hash("pat_x");
        assert_ne!(after.hash("pat_x"), stored);
        assert!(after.candidates("pat_x").any(|h| h == stored));
        assert_eq!(after.candidates("pat_x").count(), 2);
    }

    #[test]
    fn hash_matches_reference_hmac() {
        // RFC 4231 test case 2 uses a short key; here we check against a fresh MAC.
        let key = ServerKey::new(vec![0x0b; 32]).expect("key");
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose()).expect("key");
        mac.update(b"pat_abc");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            TokenHasher::new(&key, &[]).hash("pat_abc").as_bytes(),
            &expected
        );
    }

    #[test]
    fn key_fingerprints_name_a_key_and_tell_a_rotation_from_a_wrong_key() {
        let old = ServerKey::new(vec![1; 32]).expect("key");
        let new = ServerKey::new(vec![2; 32]).expect("key");
        let stranger = ServerKey::new(vec![3; 32]).expect("key");
        assert_eq!(old.fingerprint(), old.fingerprint(), "stable");
        assert_ne!(old.fingerprint(), new.fingerprint());
        assert_eq!(old.fingerprint().len(), 64);
        assert!(!old.fingerprint().contains(&hex_of(old.expose())));
        assert_eq!(check_key(None, &new, &[]), KeyCheck::FirstUse);
        assert_eq!(
            check_key(Some(&new.fingerprint()), &new, &[]),
            KeyCheck::Matches
        );
        assert_eq!(
            check_key(Some(&old.fingerprint()), &new, std::slice::from_ref(&old)),
            KeyCheck::Rotated
        );
        assert_eq!(
            check_key(Some(&stranger.fingerprint()), &new, &[old]),
            KeyCheck::Mismatch {
                kept: stranger.fingerprint(),
                current: new.fingerprint()
            }
        );
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
