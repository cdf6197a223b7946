//! Request size limits (body, URL, headers) answered with problem+json. The
//! per-address limits are pat-core's (`pat_core::limits`).

use actix_web::HttpRequest;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use pat_http::ApiError;

/// Largest request body the REST API reads (JSON and form bodies): 128 KiB. A leak
/// report of the allowed 1000 credentials is ~56 KB, and ~66 KB pretty-printed with
/// the longest token prefix: over 64 KiB, hence twice that.
pub const MAX_BODY_BYTES: usize = 128 * 1024;
/// Longest request target (path and query) [`request_limits`] lets through: 8 KiB.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Longest single header (name and value) [`request_limits`] lets through: 8 KiB.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Most bytes all headers together may take for [`request_limits`]: 32 KiB.
pub const MAX_HEADERS_BYTES: usize = 32 * 1024;

/// The payload limit of the `/api/v1` scope ([`MAX_BODY_BYTES`]).
pub(crate) fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_BODY_BYTES)
}

/// Middleware for the whole app (`App::wrap(from_fn(pat_actix::request_limits))`):
/// answers a request target over [`MAX_URI_BYTES`] with 414 `uri_too_long`, a header
/// over [`MAX_HEADER_BYTES`] or headers over [`MAX_HEADERS_BYTES`] with 431
/// `headers_too_large`, and turns the framework's bare 413 for a body over the payload
/// limit into 413 `body_too_large` problem+json. Request heads over 128 KiB never get
/// this far: actix-web answers them 431 itself and closes the connection.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn request_limits(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(refused) = check_head(req.request()) {
        return Ok(req.error_response(refused));
    }
    let response = next.call(req).await?;
    let overflow = response
        .response()
        .error()
        .and_then(actix_web::Error::as_error::<PayloadError>)
        .is_some_and(|e| matches!(e, PayloadError::Overflow));
    if overflow {
        return Ok(response.error_response(body_too_large()));
    }
    Ok(response.map_into_boxed_body())
}

/// 413 `body_too_large`.
pub(crate) fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the request body is over {} KiB; send less (a leak report carries at most 1000 credentials)",
            MAX_BODY_BYTES / 1024
        ),
    )
}

/// Refuses a request target or headers over the limits.
fn check_head(req: &HttpRequest) -> Result<(), ApiError> {
    let uri = req.uri();
    let uri_bytes = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the URL is {uri_bytes} bytes; at most {MAX_URI_BYTES} are accepted (send data in the body)"
            ),
        ));
    }
    let mut total = 0;
    for (name, value) in req.headers() {
        let bytes = name.as_str().len() + value.len();
        if bytes > MAX_HEADER_BYTES {
            return Err(ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!(
                    "the {name} header is {bytes} bytes; at most {MAX_HEADER_BYTES} are accepted per header"
                ),
            ));
        }
        total += bytes;
    }
    if total > MAX_HEADERS_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the headers take {total} bytes; at most {MAX_HEADERS_BYTES} are accepted in all"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse, web};

    use super::*;

    async fn echo_len(body: web::Bytes) -> HttpResponse {
        HttpResponse::Ok().body(body.len().to_string())
    }

    #[actix_web::test]
    async fn oversized_bodies_urls_and_headers_get_problem_json() {
        let app = actix_test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(request_limits))
                .service(
                    web::scope("/api")
                        .app_data(payload_config())
                        .route("/echo", web::post().to(echo_len)),
                ),
        )
        .await;
        let post = |body: Vec<u8>| {
            actix_test::TestRequest::post()
                .uri("/api/echo")
                .set_payload(body)
        };

        let fits =
            actix_test::call_service(&app, post(vec![b'x'; MAX_BODY_BYTES]).to_request()).await;
        assert_eq!(fits.status(), 200);

        let cases = [
            (
                post(vec![b'x'; MAX_BODY_BYTES + 1]).to_request(),
                413,
                "body_too_large",
            ),
            (
                actix_test::TestRequest::get()
                    .uri(&format!("/api/echo?q={}", "a".repeat(MAX_URI_BYTES)))
                    .to_request(),
                414,
                "uri_too_long",
            ),
            (
                actix_test::TestRequest::get()
                    .uri("/api/echo")
                    .insert_header(("authorization", "x".repeat(MAX_HEADER_BYTES)))
                    .to_request(),
                431,
                "headers_too_large",
            ),
            (
                (0..5)
                    .fold(actix_test::TestRequest::get().uri("/api/echo"), |req, i| {
                        req.insert_header((format!("x-filler-{i}"), "y".repeat(7 * 1024)))
                    })
                    .to_request(),
                431,
                "headers_too_large",
            ),
        ];
        for (request, status, code) in cases {
            let response = actix_test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(
                response.headers().get("content-type").expect("type"),
                "application/problem+json"
            );
            let body: serde_json::Value = actix_test::read_body_json(response).await;
            assert_eq!(body["code"], code);
            assert_eq!(body["status"], status);
        }
    }
}
