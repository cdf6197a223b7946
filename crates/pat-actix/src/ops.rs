//! Operations endpoints (`/healthz`, `/readyz`, `/metrics`) and the request-metrics
//! middleware.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpResponse, web};

use crate::caller::Caller;
use pat_http::ApiError;
use pat_http::ApiState;

/// 200 while the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// 200 when the token store answers, 503 otherwise.
pub async fn readyz(state: Data<ApiState>) -> HttpResponse {
    match state.service.current_settings().await {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}

/// Prometheus text exposition, on the API's address: for an admin's session or an
/// admin's token with `admin:read` only. The counters tell authentication failures
/// apart by reason, which the identical 401s hide from everyone else.
pub async fn metrics(state: Data<ApiState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    state.service.may_read_metrics(&caller.actor)?;
    Ok(exposition(&state).await)
}

/// Prometheus text exposition without authentication: only for a listener of its own
/// (`patd`'s `metrics_listen`), which the operator keeps on a private network.
pub async fn open_metrics(state: Data<ApiState>) -> HttpResponse {
    exposition(&state).await
}

async fn exposition(state: &ApiState) -> HttpResponse {
    let mut body = state.metrics.render();
    body.push_str("# HELP patd_password_hashes_total argon2 runs (password hashes and checks).\n");
    body.push_str("# TYPE patd_password_hashes_total counter\n");
    body.push_str(&format!(
        "patd_password_hashes_total {}\n",
        pat_argon2::password_hashes()
    ));
    // Sessions are in the store: every instance reports the same count. Left out
    // while the store cannot answer (the request metrics still tell that story).
    if let Ok(sessions) = state.service.session_count().await {
        body.push_str("# HELP patd_sessions Signed-in browser sessions in the store.\n");
        body.push_str("# TYPE patd_sessions gauge\n");
        body.push_str(&format!("patd_sessions {sessions}\n"));
    }
    if let Some(cache) = state.service.cache_stats() {
        push_cache_metrics(&mut body, &cache);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}

/// The verification cache's counters and sizes.
fn push_cache_metrics(body: &mut String, cache: &pat_core::cache::CacheStats) {
    let series: [(&str, &str, &str, u64); 7] = [
        (
            "patd_auth_cache_hits_total",
            "counter",
            "Token checks answered from the verification cache.",
            cache.hits,
        ),
        (
            "patd_auth_cache_misses_total",
            "counter",
            "Token checks the store answered, then kept.",
            cache.misses,
        ),
        (
            "patd_auth_cache_bypasses_total",
            "counter",
            "Token checks the store answered while the change watcher could not vouch for the cache.",
            cache.bypasses,
        ),
        (
            "patd_auth_cache_invalidations_total",
            "counter",
            "Times the cache was emptied for a change.",
            cache.invalidations,
        ),
        (
            "patd_auth_cache_entries",
            "gauge",
            "Tokens kept that authenticate.",
            cache.entries,
        ),
        (
            "patd_auth_cache_bytes",
            "gauge",
            "Their estimated bytes.",
            cache.bytes,
        ),
        (
            "patd_auth_cache_refusals",
            "gauge",
            "Refused secrets kept (unknown, revoked, expired).",
            cache.refusals,
        ),
    ];
    for (name, kind, help, value) in series {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
}

/// The `method` label: the standard methods by name, any other as `OTHER`, so made-up
/// methods cannot add series without end.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(standard, _)| standard == method)
        .map_or("OTHER", |(_, label)| label)
}

/// Counts every request by method, matched route and status, with its latency.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<Data<ApiState>>().cloned();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.request(
            method,
            &route,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// Registers `/metrics` without authentication, for a metrics-only listener.
pub fn configure_metrics_listener(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(open_metrics));
}

/// Registers `/healthz`, `/readyz` and `/metrics` (admins only).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for made_up in ["FOO", "BREW", "X1"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("a method token");
            assert_eq!(method_label(&method), "OTHER");
        }
    }
}
