//! Refusing requests a browser sends on another site's behalf: cookie-authenticated
//! writes (and sign-ins, and Basic credentials a browser kept) whose `Origin` or
//! `Sec-Fetch-Site` says they come from elsewhere.

use actix_web::http::StatusCode;
use actix_web::http::header::{HOST, ORIGIN};
use actix_web::{HttpRequest, web};

use crate::problem::ApiError;
use crate::state::ApiState;

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
pub fn refuse_ambient_basic(req: &HttpRequest) -> Result<(), ApiError> {
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
