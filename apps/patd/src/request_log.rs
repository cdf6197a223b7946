//! The request log: one INFO line per request inside its root span — tracing-actix-web's
//! fields, but with the client address patd itself believes (the TCP peer, or
//! `X-Forwarded-For` only through trusted proxies), never the first `X-Forwarded-For`
//! entry a client wrote.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

/// The root span of every request (see the module docs).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let client_ip = pat_actix::client_ip(request.request())
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let user_agent = request
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // A set-password link's path is its secret: the log names the route instead.
        let target = if route.starts_with("/set-password/") {
            route.clone()
        } else {
            request
                .uri()
                .path_and_query()
                .map_or("", |p| p.as_str())
                .to_owned()
        };
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %target,
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.status_code = Empty,
            otel.name = %format!("{} {route}", request.method()),
            otel.kind = "server",
            otel.status_code = Empty,
            request_id = %request_id,
            exception.message = Empty,
            exception.details = Empty,
        )
    }

    /// Records the outcome on the span, and writes the request log's one line, at INFO
    /// whatever the status: an operator who quiets the log to `warn` gets no line per
    /// request — not even per refused one, so a flood of bad tokens cannot fill a disk
    /// (5xx causes are logged at ERROR where they happen).
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        span.in_scope(|| tracing::info!(status = status.as_u16(), "request"));
    }
}
