//! Who is calling: a personal access token (Bearer or Basic) or a server-side session
//! cookie with its CSRF token. Also the extractor and middleware host services use.

use std::sync::Arc;
use zeroize::Zeroizing;

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::future::LocalBoxFuture;
use pat_core::PatService;
use pat_core::model::{Actor, Principal, User};

use pat_http::ApiError;
use pat_http::{ApiState, client_ip};

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
    pat_http::refuse_ambient_basic(req)?;
    let ip = client_ip(req);
    if let Some(state) = req.app_data::<web::Data<ApiState>>() {
        return Ok(state
            .service
            .authenticate_from(token, ip, pat_http::user_agent(req))
            .await?);
    }
    let service: Arc<PatService> = req
        .app_data::<web::Data<PatService>>()
        .map(|data| data.clone().into_inner())
        .ok_or_else(|| {
            ApiError::internal(&std::io::Error::other(
                "no web::Data<PatService> registered: call App::app_data(web::Data::from(service))",
            ))
        })?;
    Ok(service
        .authenticate_from(token, ip, pat_http::user_agent(req))
        .await?)
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
                pat_http::refuse_ambient_basic(&req)?;
                let principal = state
                    .service
                    .authenticate_from(&token, ip, pat_http::user_agent(&req))
                    .await?;
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
                pat_http::refuse_cross_site(&req)?;
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
