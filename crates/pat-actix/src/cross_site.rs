//! JSON bodies only on JSON endpoints: a cross-site HTML form can send `text/plain`,
//! never `application/json` without a CORS preflight. (Refusing cross-site writes by
//! `Origin` and `Sec-Fetch-Site` is `pat_http::refuse_cross_site`, shared with the UI.)

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use pat_http::ApiError;

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

#[cfg(test)]
mod tests {
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
}
