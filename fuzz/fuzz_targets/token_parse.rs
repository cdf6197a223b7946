//! `TokenCodec::parse` on arbitrary text, and the codec's round trip.
//!
//! The first byte picks a mode; the rest is the input:
//! - 0: the bytes as text (lossily, so non-UTF-8 still reaches the parser);
//! - 1: `<prefix>_` + the bytes as a body + the right checksum, so the checks after the
//!   checksum are reached too (a random string almost never has a valid CRC);
//! - 2: 32 bytes encoded, then parsed back, decoded and mutated.
//!
//! Checked: parse never panics; its errors agree with the input (a `WrongLength` names
//! a different length, a `BadCharacter` position holds a bad character) and never quote
//! it; an encoded token parses, decodes to the bytes it was made from and re-encodes
//! identically; a token that parses re-encodes identically when its body is a 256-bit
//! number; any one-character change is caught by the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pat_core::token::{
    BODY_BYTES, BODY_CHARS, CHECKSUM_CHARS, HINT_CHARS, MalformedToken, TokenCodec, hint_of,
};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let codec = codec_from(mode >> 2);
    match mode & 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            let _ = check_parse(&codec, &text);
            let _ = check_parse(&TokenCodec::default(), &text);
        }
        1 => {
            let body = String::from_utf8_lossy(rest);
            let mut text = format!("{}_{body}", codec.prefix());
            let checksum = base62(u64::from(crc32fast::hash(text.as_bytes())), CHECKSUM_CHARS);
            text.push_str(&checksum);
            let result = check_parse(&codec, &text);
            let alphanumeric = body.bytes().all(|b| b.is_ascii_alphanumeric());
            assert_eq!(
                result.is_ok(),
                body.len() == BODY_CHARS && alphanumeric,
                "a right checksum over a 43-character base62 body parses, nothing else does: {text:?}"
            );
        }
        _ => {
            let Some(random) = rest.get(..BODY_BYTES) else {
                return;
            };
            let random: [u8; BODY_BYTES] = random.try_into().expect("32 bytes");
            round_trip(&codec, &random, &rest[BODY_BYTES..]);
        }
    }
});

/// The default codec, or one of a few other valid prefixes.
fn codec_from(selector: u8) -> TokenCodec {
    let prefix = ["pat", "ab", "glpat", "x1234567", "ghp"][usize::from(selector) % 5];
    TokenCodec::new(prefix).expect("a valid prefix")
}

/// Parses `text` and checks what parse says about it.
fn check_parse(codec: &TokenCodec, text: &str) -> Result<(), MalformedToken> {
    let hint = hint_of(text);
    assert!(hint.len() <= HINT_CHARS && text.ends_with(&hint));
    let expected = codec.token_len();
    match codec.parse(text) {
        Ok(token) => {
            assert_eq!(token.as_str(), text);
            assert_eq!(text.len(), expected);
            assert!(text.starts_with(codec.prefix()));
            let body = &text[codec.prefix().len() + 1..expected - CHECKSUM_CHARS];
            // 62^43 > 2^256: some well-formed bodies are no 32 bytes; those cannot have
            // been issued, but every other one must be what encode writes.
            if let Some(bytes) = decode_body(body) {
                assert_eq!(
                    codec.encode(&bytes).expose(),
                    text,
                    "re-encodes identically"
                );
            }
            assert!(
                !format!("{token:?}").contains(body),
                "Debug hides the secret"
            );
            Ok(())
        }
        Err(err) => {
            match &err {
                MalformedToken::WrongLength { expected: e, got } => {
                    assert_eq!(*e, expected);
                    assert_ne!(*got, expected, "{err} for {text:?}");
                }
                MalformedToken::WrongPrefix { expected: e } => assert_eq!(e, codec.prefix()),
                MalformedToken::BadCharacter { position } => {
                    assert!(*position > codec.prefix().len(), "{err} for {text:?}");
                    let at = text.as_bytes()[*position];
                    assert!(!at.is_ascii_alphanumeric(), "{err} for {text:?}");
                }
                MalformedToken::BadChecksum => assert_eq!(text.len(), expected),
            }
            let message = err.to_string();
            // Messages have no run of 16 characters without a space: one that contains
            // such a text quotes the input.
            if text.len() >= 16 && !text.contains(' ') {
                assert!(!message.contains(text), "an error never quotes the token");
            }
            Err(err)
        }
    }
}

/// Encodes `random`, parses it back, and mutates one character as `edit` says.
fn round_trip(codec: &TokenCodec, random: &[u8; BODY_BYTES], edit: &[u8]) {
    let secret = codec.encode(random);
    let text = secret.expose();
    assert_eq!(text.len(), codec.token_len());
    assert_eq!(secret.hint(), hint_of(text));
    let parsed = codec.parse(text).expect("an encoded token parses");
    assert_eq!(parsed.as_str(), text);
    let body = &text[codec.prefix().len() + 1..text.len() - CHECKSUM_CHARS];
    assert_eq!(
        decode_body(body).as_ref(),
        Some(random),
        "encode loses nothing"
    );
    assert_eq!(
        codec.encode(random).expose(),
        text,
        "encode is deterministic"
    );
    assert!(
        !format!("{secret:?}{secret}").contains(body),
        "the secret never prints"
    );

    // One character changed to another of the alphabet: the checksum catches it.
    if let [at, to, ..] = *edit {
        let at = usize::from(at) % text.len();
        let mut bytes = text.as_bytes().to_vec();
        let replacement = ALPHABET[usize::from(to) % ALPHABET.len()];
        if at > codec.prefix().len() && bytes[at] != replacement {
            bytes[at] = replacement;
            let typo = String::from_utf8(bytes).expect("ASCII");
            assert_eq!(codec.parse(&typo).unwrap_err(), MalformedToken::BadChecksum);
        }
    }
}

/// The 32 bytes a base62 body stands for, or `None` when its value needs more.
fn decode_body(body: &str) -> Option<[u8; BODY_BYTES]> {
    let mut number = [0_u8; BODY_BYTES];
    for c in body.bytes() {
        let digit = ALPHABET.iter().position(|&a| a == c)?;
        let mut carry = u32::try_from(digit).ok()?;
        for byte in number.iter_mut().rev() {
            let value = u32::from(*byte) * 62 + carry;
            *byte = (value & 0xFF) as u8;
            carry = value >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(number)
}

/// `value` in `width` base62 digits, most significant first.
fn base62(mut value: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(digits).expect("ASCII")
}
