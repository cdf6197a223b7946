//! Who is calling: a personal access token (Bearer or Basic) or a server-side session
//! cookie with its CSRF token. Also the extractor and middleware host services use.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use zeroize::Zeroizing;

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, X_FORWARDED_FOR};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::LocalBoxFuture;
use pat_core::PatService;
use pat_core::model::{Actor, Principal, User};

use crate::problem::ApiError;
use crate::state::ApiState;

/// The header cookie-authenticated writes must carry.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// The presented token from `Authorization`, if the header is there.
///
/// `Bearer <token>`, or `Basic base64(<anything>:<token>)` so tools that only speak
/// Basic (git, package managers) can send a token as the password.
///
/// # Errors
/// `invalid_token` for a header of another scheme or a malformed Basic value.
pub fn presented_token(req: &HttpRequest) -> Result<Option<Zeroizing<String>>, ApiError> {
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid_token())?
        .trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(ApiError::invalid_token)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Some(Zeroizing::new(rest.to_owned())));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(rest)
                .map_err(|_| ApiError::invalid_token())?,
        );
        let text = std::str::from_utf8(&decoded).map_err(|_| ApiError::invalid_token())?;
        let (_, password) = text.split_once(':').ok_or_else(ApiError::invalid_token)?;
        return Ok(Some(Zeroizing::new(password.to_owned())));
    }
    Err(ApiError::invalid_token())
}

/// The client address: what the rate limits count by and what a token's `last_used_ip`
/// and the audit log record.
///
/// The TCP peer, unless the peer is one of the registered [`ApiState`]'s
/// [`trusted_proxies`](crate::ApiConfig::trusted_proxies): then the address those
/// proxies recorded in `X-Forwarded-For` (see [`client_ip_from`]). Without a registered
/// `ApiState`, always the TCP peer.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<ApiState>>()
        .map_or(&[][..], |state| state.config.trusted_proxies.as_slice());
    Some(client_ip_from(peer, req.headers(), trusted))
}

/// The client address of a request from `peer` with these headers, believing
/// `X-Forwarded-For` only as far as it was written by `trusted` proxies.
///
/// If `peer` is not trusted, it is the client: its `X-Forwarded-For` is ignored.
/// Otherwise the header's entries (all `X-Forwarded-For` lines, in order) are read
/// from the right — each one was appended by the proxy to its right — skipping trusted
/// proxies; the first address that is not a trusted proxy is the client. Entries to its
/// left are whatever the client sent and are never believed. If an entry is not an IP
/// address, or every entry is a trusted proxy, the last trusted hop reached is taken.
/// IPv4-mapped IPv6 addresses count as IPv4.
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use actix_web::http::header::{HeaderMap, HeaderValue};
///
/// let nginx: IpAddr = "10.0.0.2".parse().unwrap();
/// let mut headers = HeaderMap::new();
/// // The client claimed 6.6.6.6; nginx appended the address it saw.
/// headers.insert(
///     "x-forwarded-for".parse().unwrap(),
///     HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
/// );
/// let client = pat_actix::client_ip_from(nginx, &headers, &[nginx]);
/// assert_eq!(client, "203.0.113.7".parse::<IpAddr>().unwrap());
/// ```
pub fn client_ip_from(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.to_canonical() == ip);
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    let lines: Vec<&[u8]> = headers
        .get_all(X_FORWARDED_FOR)
        .map(|value| value.as_bytes())
        .collect();
    let entries = lines
        .iter()
        .rev()
        .flat_map(|line| line.split(|&b| b == b',').rev());
    for entry in entries {
        let Some(ip) = forwarded_address(entry) else {
            return client;
        };
        client = ip;
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

/// One `X-Forwarded-For` entry as an address: `203.0.113.7`, `2001:db8::1`, also with a
/// port (`203.0.113.7:5000`, `[2001:db8::1]:5000`).
fn forwarded_address(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    let ip = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

/// A request authenticated by a personal access token: the extractor host services
/// use. Reuses the principal [`require_scope`] already found, if any.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(principal) = req.extensions().get::<Principal>() {
                return Ok(Authenticated(principal.clone()));
            }
            let token = presented_token(&req)?.ok_or_else(ApiError::unauthenticated)?;
            let principal = authenticate_host(&req, &token).await?;
            Ok(Authenticated(principal))
        })
    }
}

/// Authenticates a host service's request through the registered service — the
/// [`ApiState`]'s, or a `web::Data<PatService>`: either way
/// [`PatService::authenticate`], so the failed-authentication limit and the outcome
/// observer the service was built with apply to every host.
async fn authenticate_host(req: &HttpRequest, token: &str) -> Result<Principal, ApiError> {
    crate::cross_site::refuse_ambient_basic(req)?;
    let ip = client_ip(req);
    if let Some(state) = req.app_data::<web::Data<ApiState>>() {
        return Ok(state.service.authenticate(token, ip).await?);
    }
    let service: Arc<PatService> = req
        .app_data::<web::Data<PatService>>()
        .map(|data| data.clone().into_inner())
        .ok_or_else(|| {
            ApiError::internal(&std::io::Error::other(
                "no web::Data<PatService> registered: call App::app_data(web::Data::from(service))",
            ))
        })?;
    Ok(service.authenticate(token, ip).await?)
}

/// Middleware for host services: authenticates the PAT and requires it to allow
/// `resource:operation` (on the target named by the `target_param` path segment, if
/// given), answering 401/403 problem+json otherwise.
///
/// ```ignore
/// web::resource("/api/v1/jobs")
///     .wrap(actix_web::middleware::from_fn(pat_actix::require_scope("jobs", "list")))
///     .route(web::get().to(list_jobs))
/// ```
pub fn require_scope(
    resource: &'static str,
    operation: &'static str,
) -> impl Fn(
    ServiceRequest,
    Next<BoxBody>,
) -> LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>
+ Clone
+ 'static {
    move |req: ServiceRequest, next: Next<BoxBody>| {
        Box::pin(async move {
            let principal = match check_scope(req.request(), resource, operation).await {
                Ok(principal) => principal,
                Err(err) => return Ok(req.error_response(err)),
            };
            req.extensions_mut().insert(principal);
            next.call(req).await
        })
    }
}

async fn check_scope(
    req: &HttpRequest,
    resource: &str,
    operation: &str,
) -> Result<Principal, ApiError> {
    let token = presented_token(req)?.ok_or_else(ApiError::unauthenticated)?;
    let principal = authenticate_host(req, &token).await?;
    if !principal.allows(resource, operation, None) {
        return Err(ApiError::missing_scope(
            format!("{resource}:{operation}"),
            format!("the token lacks the scope {resource}:{operation}"),
        ));
    }
    Ok(principal)
}

/// How the caller of the REST API authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A session cookie.
    Session(pat_core::LiveSession),
    /// A personal access token.
    Token(Principal),
}

/// The caller of a REST API endpoint: a PAT or a session (CSRF-checked for writes).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, as the domain sees them.
    pub actor: Actor,
    /// How they authenticated.
    pub via: Via,
}

impl Caller {
    /// The user.
    pub fn user(&self) -> &User {
        &self.actor.user
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<ApiState>>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::internal(&std::io::Error::other("ApiState is not registered"))
                })?;
            let ip = client_ip(&req);
            let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
            if let Some(token) = presented_token(&req)? {
                // A browser that was once given Basic credentials (the 401s offer Basic
                // for git's sake) attaches them on its own, like a cookie.
                crate::cross_site::refuse_ambient_basic(&req)?;
                let principal = state.service.authenticate(&token, ip).await?;
                return Ok(Caller {
                    actor: Actor::from_principal(&principal, ip),
                    via: Via::Token(principal),
                });
            }
            let Some(cookie) = req.cookie(state.session_cookie_name()) else {
                return Err(ApiError::unauthenticated());
            };
            let session = state
                .service
                .session(cookie.value())
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            if !safe {
                crate::cross_site::refuse_cross_site(&req)?;
                let sent = req
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !pat_core::session::same_token(sent, &session.csrf_token) {
                    return Err(ApiError::new(
                        actix_web::http::StatusCode::FORBIDDEN,
                        "csrf",
                        format!(
                            "cookie-authenticated writes must send the session's {CSRF_HEADER} header"
                        ),
                    ));
                }
            }
            Ok(Caller {
                actor: session.actor(ip),
                via: Via::Session(session),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    fn forwarded(lines: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(line));
        }
        headers
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client_and_spoofed_leftmost_ones_are_ignored() {
        let proxy = ip("127.0.0.1");
        let trusted = [proxy];
        // The client sent "X-Forwarded-For: 6.6.6.6, 7.7.7.7"; the proxy appended the peer it saw.
        let headers = forwarded(&["6.6.6.6, 7.7.7.7, 203.0.113.7"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("203.0.113.7"));
        // The same entries spread over several header lines, in order.
        let headers = forwarded(&["6.6.6.6", "7.7.7.7,203.0.113.7"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn an_untrusted_peers_forwarded_for_is_ignored() {
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(
            client_ip_from(ip("198.51.100.1"), &headers, &[ip("127.0.0.1")]),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip_from(ip("127.0.0.1"), &headers, &[]),
            ip("127.0.0.1"),
            "no trusted proxies: the peer, whatever the header says"
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_from_the_right() {
        let edge = ip("10.0.0.1");
        let inner = ip("10.0.0.2");
        let trusted = [edge, inner];
        // client -> edge -> inner -> patd
        let headers = forwarded(&["6.6.6.6, 203.0.113.7, 10.0.0.1"]);
        assert_eq!(client_ip_from(inner, &headers, &trusted), ip("203.0.113.7"));
        // Only trusted hops: the leftmost trusted one reached.
        let headers = forwarded(&["10.0.0.1"]);
        assert_eq!(client_ip_from(inner, &headers, &trusted), edge);
        // No header: the trusted peer itself.
        assert_eq!(client_ip_from(inner, &HeaderMap::new(), &trusted), inner);
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop_and_ports_and_ipv6_are_read() {
        let proxy = ip("10.0.0.2");
        let trusted = [proxy];
        let headers = forwarded(&["203.0.113.7, not-an-address"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), proxy);
        let headers = forwarded(&["unknown, [2001:db8::7]:5000"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("2001:db8::7"));
        let headers = forwarded(&["203.0.113.7:5000"]);
        assert_eq!(client_ip_from(proxy, &headers, &trusted), ip("203.0.113.7"));
        // A mapped peer address matches its IPv4 form in the trusted list.
        let headers = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(
            client_ip_from(ip("::ffff:10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
        let mut bytes = HeaderMap::new();
        bytes.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_bytes(b"\xff\xfe, 203.0.113.8").expect("opaque bytes"),
        );
        assert_eq!(
            client_ip_from(proxy, &bytes, &trusted),
            ip("203.0.113.8"),
            "non-UTF-8 on the client's side of the header does not matter"
        );
    }
}
