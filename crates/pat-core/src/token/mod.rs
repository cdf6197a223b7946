//! The token format, its codec and its keyed hashing.
//!
//! A token reads `<prefix>_<body><checksum>`: the prefix names the issuer
//! (`pat` by default), the body is 32 bytes from a CSPRNG written as exactly 43 base62
//! characters, and the checksum is the CRC32 of `<prefix>_<body>` written as exactly 6
//! base62 characters. The checksum lets a parser (or a secret scanner) reject typos and
//! look-alikes before any store lookup. At rest only `HMAC-SHA256(server_key, token)` is
//! kept.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

mod keys;

pub use keys::{KeyCheck, KeyError, MIN_KEY_BYTES, SecretHash, ServerKey, TokenHasher, check_key};

/// The base62 alphabet, in ascending order of digit value.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random bytes in a token body.
pub const BODY_BYTES: usize = 32;
/// Base62 characters in a token body (62^43 > 2^256).
pub const BODY_CHARS: usize = 43;
/// Base62 characters in the checksum (62^6 > 2^32).
pub const CHECKSUM_CHARS: usize = 6;
/// Characters of the token shown as its non-secret hint.
pub const HINT_CHARS: usize = 4;
/// The prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "pat";

/// Why a token prefix was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "token prefix {got:?} is invalid: it must be 2 to 8 characters, a lowercase letter \
     followed by lowercase letters or digits (e.g. \"pat\")"
)]
pub struct InvalidPrefix {
    /// The refused prefix.
    pub got: String,
}

/// Why a string is not a well-formed token. Found before any store lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    /// The string has the wrong length for this prefix.
    #[error("a token is exactly {expected} characters long, got {got}")]
    WrongLength {
        /// Length a token with the configured prefix has.
        expected: usize,
        /// Length of the presented string.
        got: usize,
    },
    /// The string does not start with `<prefix>_`.
    #[error("a token starts with \"{expected}_\"")]
    WrongPrefix {
        /// The configured prefix.
        expected: String,
    },
    /// A character outside `0-9A-Za-z` follows the prefix.
    #[error(
        "a token has only the characters 0-9, A-Z and a-z after its prefix; position {position} is not one"
    )]
    BadCharacter {
        /// Zero-based byte position of the first offending character.
        position: usize,
    },
    /// The checksum does not match the rest of the token (a typo or a look-alike).
    #[error("the token's checksum does not match: it was mistyped or is not a token")]
    BadChecksum,
}

/// A freshly issued token secret. Shown once, then dropped (and zeroized).
///
/// Neither `Debug` nor `Display` print the secret; call [`TokenSecret::expose`] at the
/// single place that must hand it to the owner.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(Zeroizing<String>);

impl TokenSecret {
    /// The secret text, for the one response that shows it to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The non-secret hint: the last [`HINT_CHARS`] characters.
    pub fn hint(&self) -> String {
        hint_of(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSecret(<redacted …{}>)", self.hint())
    }
}

impl fmt::Display for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted token …{}>", self.hint())
    }
}

/// The non-secret hint of a token string: its last [`HINT_CHARS`] characters.
pub fn hint_of(token: &str) -> String {
    let start = token.len().saturating_sub(HINT_CHARS);
    token.get(start..).unwrap_or_default().to_owned()
}

/// A token string that passed [`TokenCodec::parse`]: prefix, length, alphabet and
/// checksum are right. It may still be unknown to the store.
#[derive(Clone, Copy)]
pub struct WellFormedToken<'a>(&'a str);

impl<'a> WellFormedToken<'a> {
    /// The token text; hash it, never log it.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for WellFormedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WellFormedToken(<redacted …{}>)", hint_of(self.0))
    }
}

/// Writes and parses tokens for one prefix.
#[derive(Debug, Clone)]
pub struct TokenCodec {
    prefix: String,
}

impl Default for TokenCodec {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl TokenCodec {
    /// A codec for `prefix`, which must match `[a-z][a-z0-9]{1,7}`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] when the prefix does not match that pattern.
    pub fn new(prefix: &str) -> Result<Self, InvalidPrefix> {
        let bytes = prefix.as_bytes();
        let valid = (2..=8).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes[1..]
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid {
            return Err(InvalidPrefix {
                got: prefix.to_owned(),
            });
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    /// The configured prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The exact length of every token this codec writes.
    pub fn token_len(&self) -> usize {
        self.prefix.len() + 1 + BODY_CHARS + CHECKSUM_CHARS
    }

    /// Writes the token for 32 random bytes.
    pub fn encode(&self, random: &[u8; BODY_BYTES]) -> TokenSecret {
        let mut text = Zeroizing::new(String::with_capacity(self.token_len()));
        text.push_str(&self.prefix);
        text.push('_');
        let body = Zeroizing::new(base62_fixed(random));
        for &digit in body.iter() {
            text.push(char::from(ALPHABET[usize::from(digit)]));
        }
        let checksum = crc32fast::hash(text.as_bytes());
        for digit in base62_u32(checksum) {
            text.push(char::from(ALPHABET[usize::from(digit)]));
        }
        TokenSecret(text)
    }

    /// Checks length, prefix, alphabet and checksum, in that order.
    ///
    /// # Errors
    /// [`MalformedToken`] naming the first check that failed.
    pub fn parse<'a>(&self, raw: &'a str) -> Result<WellFormedToken<'a>, MalformedToken> {
        let expected = self.token_len();
        if raw.len() != expected {
            let got = raw.chars().count();
            if got != expected {
                return Err(MalformedToken::WrongLength { expected, got });
            }
            // As many characters as a token, some of them multi-byte: the prefix or
            // alphabet check below names the first, before any byte arithmetic.
        }
        let bytes = raw.as_bytes();
        let head = self.prefix.len();
        if !bytes.starts_with(self.prefix.as_bytes()) || bytes[head] != b'_' {
            return Err(MalformedToken::WrongPrefix {
                expected: self.prefix.clone(),
            });
        }
        if let Some(offset) = bytes[head + 1..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
        {
            return Err(MalformedToken::BadCharacter {
                position: head + 1 + offset,
            });
        }
        let (signed, checksum) = bytes.split_at(expected - CHECKSUM_CHARS);
        let mut presented = 0_u64;
        for &c in checksum {
            presented = presented * 62 + u64::from(digit_value(c));
        }
        let computed = u64::from(crc32fast::hash(signed));
        if presented.ct_eq(&computed).unwrap_u8() != 1 {
            return Err(MalformedToken::BadChecksum);
        }
        Ok(WellFormedToken(raw))
    }
}

fn digit_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'Z' => c - b'A' + 10,
        b'a'..=b'z' => c - b'a' + 36,
        // parse() checked the alphabet before calling this.
        _ => 0,
    }
}

/// Base62 digits of a 256-bit big-endian number, most significant first, zero-padded.
fn base62_fixed(bytes: &[u8; BODY_BYTES]) -> [u8; BODY_CHARS] {
    let mut number = Zeroizing::new(*bytes);
    let mut digits = [0_u8; BODY_CHARS];
    for slot in digits.iter_mut().rev() {
        let mut remainder = 0_u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            // value < 62 * 256, so the quotient fits a byte.
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        *slot = remainder as u8;
    }
    digits
}

fn base62_u32(mut value: u32) -> [u8; CHECKSUM_CHARS] {
    let mut digits = [0_u8; CHECKSUM_CHARS];
    for slot in digits.iter_mut().rev() {
        *slot = (value % 62) as u8;
        value /= 62;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> TokenCodec {
        TokenCodec::default()
    }

    #[test]
    fn encoded_token_has_the_documented_shape() {
        let token = codec().encode(&[7; 32]);
        let text = token.expose();
        assert_eq!(text.len(), 3 + 1 + 43 + 6);
        assert!(text.starts_with("pat_"));
        assert!(text[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(codec().parse(text).is_ok());
    }

    #[test]
    fn zero_and_max_bodies_keep_fixed_width() {
        for bytes in [[0_u8; 32], [255_u8; 32]] {
            let token = codec().encode(&bytes);
            assert_eq!(token.expose().len(), 53);
            codec().parse(token.expose()).expect("round trip");
        }
        assert!(
            codec().encode(&[0; 32]).expose()[4..47]
                .bytes()
                .all(|b| b == b'0')
        );
    }

    #[test]
    fn base62_matches_known_values() {
        let mut one = [0_u8; 32];
        one[31] = 61;
        assert_eq!(base62_fixed(&one)[42], 61);
        one[31] = 62;
        let digits = base62_fixed(&one);
        assert_eq!((digits[41], digits[42]), (1, 0));
        assert_eq!(base62_u32(u32::MAX), [4, 42, 41, 15, 12, 3]);
    }

    #[test]
    fn each_malformation_is_named() {
        let good = codec().encode(&[1; 32]);
        let good = good.expose();
        assert_eq!(
            codec().parse(&good[1..]).unwrap_err(),
            MalformedToken::WrongLength {
                expected: 53,
                got: 52
            }
        );
        let other = format!("ghp{}", &good[3..]);
        assert!(matches!(
            codec().parse(&other),
            Err(MalformedToken::WrongPrefix { .. })
        ));
        let bad_char = format!("{}-{}", &good[..10], &good[11..]);
        assert_eq!(
            codec().parse(&bad_char).unwrap_err(),
            MalformedToken::BadCharacter { position: 10 }
        );
        let flipped = format!(
            "{}{}",
            &good[..52],
            if good.ends_with('A') { 'B' } else { 'A' }
        );
        assert_eq!(
            codec().parse(&flipped).unwrap_err(),
            MalformedToken::BadChecksum
        );
    }

    #[test]
    fn non_ascii_of_token_length_is_a_bad_character_not_a_wrong_length() {
        let good = codec().encode(&[1; 32]);
        let good = good.expose();
        // 53 characters, 54 bytes: found by fuzzing, once "exactly 53 characters, got 53".
        let accented = format!("{}é{}", &good[..10], &good[11..]);
        assert_eq!(
            codec().parse(&accented).unwrap_err(),
            MalformedToken::BadCharacter { position: 10 }
        );
        let in_prefix = format!("pä{}", &good[2..]);
        assert!(matches!(
            codec().parse(&in_prefix),
            Err(MalformedToken::WrongPrefix { .. })
        ));
        let longer = format!("{}é", &good[..52]);
        assert_eq!(
            codec().parse(&format!("{longer}x")).unwrap_err(),
            MalformedToken::WrongLength {
                expected: 53,
                got: 54
            }
        );
    }

    #[test]
    fn errors_say_what_is_allowed() {
        let err = codec().parse("nope").unwrap_err().to_string();
        assert!(err.contains("53"), "{err}");
        let err = TokenCodec::new("Bad_").unwrap_err().to_string();
        assert!(err.contains("lowercase letter"), "{err}");
    }

    #[test]
    fn prefix_rules() {
        for ok in ["pat", "ab", "x1234567", "glpat"] {
            assert!(TokenCodec::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "1ab", "abcdefghi", "PAT", "pa_t", "pä"] {
            assert!(TokenCodec::new(bad).is_err(), "{bad}");
        }
        let codec = TokenCodec::new("glpat").expect("valid prefix");
        let token = codec.encode(&[3; 32]);
        assert!(token.expose().starts_with("glpat_"));
        assert!(codec.parse(token.expose()).is_ok());
        assert!(TokenCodec::default().parse(token.expose()).is_err());
    }

    #[test]
    fn secrets_never_print() {
        let token = codec().encode(&[9; 32]);
        let body = &token.expose()[4..40];
        assert!(!format!("{token:?}").contains(body));
        assert!(!format!("{token}").contains(body));
        let parsed = codec().parse(token.expose()).expect("well formed");
        assert!(!format!("{parsed:?}").contains(body));
        let key = ServerKey::new(vec![0xAB; 32]).expect("long enough");
        assert_eq!(format!("{key:?}"), "ServerKey(<redacted>)");
    }
}
