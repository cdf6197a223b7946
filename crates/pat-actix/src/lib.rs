//! # pat-actix
//!
//! actix-web adapter for `pat-core`:
//! - the REST API of `../../docs/api.md` ([`configure`]), with RFC 9457 problem+json
//!   errors, session login with CSRF protection, and PAT authentication by
//!   `Authorization: Bearer` or `Basic` (the token as the password);
//! - for host services, the [`Authenticated`] extractor and the [`require_scope`]
//!   middleware, so any actix app can accept PATs and guard routes by scope
//!   (see `examples/jobs.rs`);
//! - abuse limits: a client address that keeps failing token authentication is refused
//!   for a while (the service's own rule: `PatServiceBuilder::failed_auths_per_minute`,
//!   answered 429 here), sign-in and leak-report limits (counted in the store by
//!   pat-core, so every instance shares them), client addresses behind
//!   trusted proxies ([`client_ip`]), and request size limits ([`request_limits`]).
//!   Registering [`ApiState::with_metrics`]'s metrics as the service's
//!   `auth_observer` counts every authentication's outcome.
//!
//! Only this crate knows HTTP and JSON; every rule is `PatService`'s.

mod api;
mod caller;
mod cross_site;
mod limits;
mod openapi;
mod ops;
mod routing;
pub mod views;

pub use api::MAX_LEAK_REPORT;
pub use caller::{Authenticated, CSRF_HEADER, Caller, Via, presented_token, require_scope};
pub use cross_site::JsonBody;
pub use limits::{
    MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS_BYTES, MAX_URI_BYTES, request_limits,
};
pub use openapi::ApiDoc;
pub use ops::{configure_metrics_listener, record_metrics};
// The plumbing shared with the web UI, re-exported so hosts need one crate.
pub use pat_http::{
    ApiConfig, ApiError, ApiState, Metrics, Problem, SECURE_SESSION_COOKIE, SESSION_COOKIE,
    client_ip, client_ip_from, random_token, refuse_cross_site,
};

use actix_web::web;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

/// Registers the whole API on an app: `/api/v1/…`, the OpenAPI document and Swagger UI,
/// `/healthz`, `/readyz` and `/metrics`. Register `state` with `App::app_data`, wrap
/// the app in `actix_web::middleware::from_fn(pat_actix::record_metrics)` for metrics
/// and in `from_fn(pat_actix::request_limits)` for the URL and header limits and
/// problem+json 413s (bodies over [`MAX_BODY_BYTES`] are refused either way).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/v1/openapi.json", ApiDoc::openapi()))
        .route(
            "/api/docs",
            web::get().to(|| async {
                actix_web::HttpResponse::PermanentRedirect()
                    .insert_header(("Location", "/api/docs/"))
                    .finish()
            }),
        );
    ops::routes(cfg);
    routing::routes(cfg);
}
