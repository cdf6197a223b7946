//! # pat-http
//!
//! The HTTP plumbing both of pat-core's HTTP adapters share — the REST API
//! (`pat-actix`) and the web UI (`pat-web`) — so neither depends on the other:
//! - [`ApiError`]: every refusal as RFC 9457 problem details, with one `From` per
//!   pat-core error family (the web UI shows the same refusals as pages);
//! - [`ApiState`]: the service, the settings a host chooses ([`ApiConfig`]) and the
//!   request [`Metrics`];
//! - the session cookie ([`ApiState::session_cookie`], [`SESSION_COOKIE`]);
//! - the client address behind trusted proxies ([`client_ip`]);
//! - cross-site refusals ([`refuse_cross_site`]).
//!
//! Sessions themselves are pat-core's ([`pat_core::PatService::session`]).

mod client;
mod cross_site;
mod problem;
mod sessions;
mod state;

pub use client::{client_ip, client_ip_from, user_agent};
pub use cross_site::{refuse_ambient_basic, refuse_cross_site};
pub use problem::{ApiError, Problem};
pub use sessions::{SECURE_SESSION_COOKIE, SESSION_COOKIE, random_token};
pub use state::{ApiConfig, ApiState, Metrics};
