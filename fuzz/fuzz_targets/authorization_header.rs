//! `pat_actix::presented_token` over arbitrary `Authorization` header values, on a real
//! `HttpRequest` (actix's `TestRequest`).
//!
//! The first byte picks a mode; the rest is the input:
//! - 0: the bytes as the header value (values actix would refuse are skipped);
//! - 1: `Bearer <input>`, with the scheme's case from the mode byte;
//! - 2: `Basic base64(<user>:<input>)`, the user taken from the input up to a `:`.
//!
//! Checked: nothing panics; a present header is either a token or 401 `invalid_token`
//! (never "no credentials"); what a client sends as a Bearer token or a Basic password
//! comes out unchanged.
#![no_main]

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, HeaderValue};
use actix_web::test::TestRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use pat_actix::presented_token;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        let request = TestRequest::default().to_http_request();
        assert!(
            matches!(presented_token(&request), Ok(None)),
            "no header, no token"
        );
        return;
    };
    match mode % 3 {
        0 => {
            present(rest);
        }
        1 => {
            let Ok(token) = std::str::from_utf8(rest) else {
                return;
            };
            let scheme = if mode & 0x80 == 0 { "Bearer" } else { "bEARER" };
            let value = format!("{scheme} {token}");
            let got = present(value.as_bytes());
            // What a client can send: a visible-ASCII token without surrounding space.
            let sendable = !token.is_empty()
                && token.trim() == token
                && token
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
            if sendable {
                assert_eq!(got.as_deref(), Some(token), "Bearer {token:?}");
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let (user, password) = text.split_once(':').unwrap_or(("user", &text));
            let value = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
            let got = present(value.as_bytes()).expect("a Basic header of user:password");
            assert_eq!(got, password, "Basic password of {text:?}");
        }
    }
});

/// `presented_token` of a request with this `Authorization` value; `None` when refused
/// (or when actix would not accept the value at all).
fn present(value: &[u8]) -> Option<String> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let request = TestRequest::default()
        .insert_header((AUTHORIZATION, value))
        .to_http_request();
    match presented_token(&request) {
        Ok(Some(token)) => Some(token.as_str().to_owned()),
        Ok(None) => panic!("a present Authorization header was read as no credentials"),
        Err(err) => {
            assert_eq!(
                (err.status(), err.code()),
                (StatusCode::UNAUTHORIZED, "invalid_token")
            );
            None
        }
    }
}
