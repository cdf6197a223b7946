//! Operations endpoints (`/healthz`, `/readyz`, `/metrics`) and the request-metrics
//! middleware.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpResponse, web};

use crate::state::ApiState;

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

/// Prometheus text exposition.
pub async fn metrics(state: Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
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
    let method = req.method().to_string();
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.request(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}
