//! Defences against requests a browser sends on another site's behalf: JSON bodies only
//! on JSON endpoints (a cross-site HTML form can send `text/plain`, never
//! `application/json` without a CORS preflight), and cookie-authenticated writes refused
//! when the browser says they come from elsewhere (`Origin`, `Sec-Fetch-Site`).

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HOST, ORIGIN};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::problem::ApiError;
use crate::state::ApiState;

/// The body of a JSON endpoint: read only when the request says `Content-Type:
/// application/json` (or a `+json` type), else 415 `unsupported_media_type`.
#[derive(Debug, Clone)]
pub struct JsonBody(Bytes);

impl Deref for JsonBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Whether a `Content-Type` value is JSON: `application/json` or `application/*+json`,
/// with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !is_json(&content_type) {
            return Box::pin(async move {
                Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "this endpoint takes a JSON body: send Content-Type: application/json (got {:?})",
                        if content_type.is_empty() {
                            "no Content-Type"
                        } else {
                            content_type.as_str()
                        }
                    ),
                ))
            });
        }
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            body.await.map(JsonBody).map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    crate::limits::body_too_large()
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        format!("the request body could not be read: {e}"),
                    )
                }
            })
        })
    }
}

/// Refuses a request a browser sent from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none`, or an `Origin` that is neither this request's own `Host`
/// nor the configured public origin ([`ApiConfig::public_origin`](crate::ApiConfig)).
/// Requests without either header (non-browser clients, old browsers), or with
/// `Origin: null` alone, pass: the CSRF token, the `SameSite=Strict` cookie and the
/// JSON-only bodies still guard them.
///
/// # Errors
/// 403 `csrf` naming the header that gave the request away.
pub fn refuse_cross_site(req: &HttpRequest) -> Result<(), ApiError> {
    check_site(req, false)
}

/// For a write whose credentials came as HTTP Basic — which browsers cache and attach
/// on their own once a 401 offered Basic — [`refuse_cross_site`], and stricter:
/// `Origin: null` without `Sec-Fetch-Site: same-origin` is refused too (an old browser's
/// cross-site form in a sandboxed frame sends just that). git and curl send neither
/// header and pass.
///
/// # Errors
/// 403 `csrf`.
pub(crate) fn refuse_ambient_basic(req: &HttpRequest) -> Result<(), ApiError> {
    let safe = matches!(
        *req.method(),
        actix_web::http::Method::GET
            | actix_web::http::Method::HEAD
            | actix_web::http::Method::OPTIONS
    );
    if safe || !sent_as_basic(req) {
        return Ok(());
    }
    check_site(req, true)
}

/// Whether the request's credentials came as HTTP Basic.
fn sent_as_basic(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().get(..6))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "))
}

fn check_site(req: &HttpRequest, null_is_foreign: bool) -> Result<(), ApiError> {
    let refused = |why: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!(
                "cross-site requests may not sign in, or write with a session or with Basic credentials the browser kept: {why}; send the request from this server's own pages, or use Authorization: Bearer"
            ),
        )
    };
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refused(format!("Sec-Fetch-Site is {site}")));
    }
    // `Origin: null` says nothing for a session: browsers send it for same-origin form
    // posts too when the page's referrer policy is `no-referrer` (as patd's pages' is),
    // and `Sec-Fetch-Site` above already decided for browsers that send it.
    if header(ORIGIN.as_str()) == Some("null") {
        let same_origin = header("sec-fetch-site") == Some("same-origin");
        return if null_is_foreign && !same_origin {
            Err(refused("Origin is null".to_owned()))
        } else {
            Ok(())
        };
    }
    let Some(origin) = header(ORIGIN.as_str()) else {
        return Ok(());
    };
    let own_host = header(HOST.as_str())
        .map(|host| origin_authority(origin) == Some(host))
        .unwrap_or(false);
    let public = req
        .app_data::<web::Data<ApiState>>()
        .and_then(|state| state.config.public_origin.clone())
        .is_some_and(|public| public.eq_ignore_ascii_case(origin.trim_end_matches('/')));
    if own_host || public {
        Ok(())
    } else {
        Err(refused(format!("Origin {origin} is not this server")))
    }
}

/// `host[:port]` of an origin `scheme://host[:port]`; `None` for `null` and the like.
fn origin_authority(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(rest.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn json_content_types_are_json_and_others_are_not() {
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json+plain",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }

    #[test]
    fn only_same_origin_browser_requests_pass() {
        let with = |headers: &[(&str, &str)]| {
            headers
                .iter()
                .fold(
                    TestRequest::post().insert_header(("host", "patd.example:8080")),
                    |req, (k, v)| req.insert_header((*k, *v)),
                )
                .to_http_request()
        };
        assert!(refuse_cross_site(&with(&[])).is_ok(), "no browser headers");
        assert!(refuse_cross_site(&with(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(refuse_cross_site(&with(&[("sec-fetch-site", "none")])).is_ok());
        assert!(refuse_cross_site(&with(&[("origin", "http://patd.example:8080")])).is_ok());
        assert!(
            refuse_cross_site(&with(&[
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok(),
            "a same-origin form post from a no-referrer page"
        );
        let basic_write = |headers: &[(&str, &str)]| {
            headers
                .iter()
                .fold(
                    TestRequest::post()
                        .insert_header(("host", "patd.example:8080"))
                        .insert_header(("authorization", "Basic eDpwYXRfeA==")),
                    |req, (k, v)| req.insert_header((*k, *v)),
                )
                .to_http_request()
        };
        assert!(refuse_ambient_basic(&basic_write(&[])).is_ok(), "git, curl");
        assert!(refuse_ambient_basic(&basic_write(&[("origin", "null")])).is_err());
        assert!(
            refuse_ambient_basic(&basic_write(&[
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        for (name, value) in [
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-site"),
            ("origin", "https://evil.example"),
            ("origin", "http://patd.example:8081"),
        ] {
            let refused = refuse_cross_site(&with(&[(name, value)])).expect_err(value);
            assert_eq!(refused.code(), "csrf");
        }
    }
}
