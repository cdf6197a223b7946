//! What other services call: forward-auth, introspection, and public leak reports.

use super::*;

/// Most credentials one leak report may carry.
pub const MAX_LEAK_REPORT: usize = 1000;

/// Forward-auth for proxies (nginx `auth_request`, Traefik, Envoy): 204 with the user
/// and token ids when the presented token allows `resource:operation[:target]`.
#[utoipa::path(get, path = "/api/v1/auth/check", tag = "check",
    params(("resource" = Option<String>, Query), ("operation" = Option<String>, Query), ("target" = Option<String>, Query)),
    responses((status = 204, headers(("X-Pat-User-Id" = String), ("X-Pat-Token-Id" = String),
        ("X-Pat-Token-Generation" = String, description = "the generation of the secret presented: the token's current one, or the previous one during a grace period"))), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn auth_check(state: Data<ApiState>, req: HttpRequest, params: Params) -> ApiResult {
    let token = presented_token(&req)?.ok_or_else(ApiError::unauthenticated)?;
    let principal = state
        .service
        .authenticate_from(&token, client_ip(&req), pat_http::user_agent(&req))
        .await?;
    match (param(&params, "resource"), param(&params, "operation")) {
        // Authentication only, yet a token with no scope authorizes nothing: not even
        // "any valid token" (docs/api.md).
        (None, None) if principal.scopes.is_empty() => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing_scope",
                "the token holds no scope, so it authorizes nothing",
            ));
        }
        (None, None) => {}
        (Some(resource), Some(operation)) => {
            let target = param(&params, "target");
            if !principal.allows(resource, operation, target) {
                return Err(ApiError::missing_scope(
                    format!("{resource}:{operation}"),
                    format!("the token does not allow {resource}:{operation}"),
                ));
            }
        }
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_query",
                "give both resource and operation (and optionally target), or neither",
            ));
        }
    }
    Ok(HttpResponse::NoContent()
        .insert_header(("X-Pat-User-Id", principal.user.id.to_string()))
        .insert_header(("X-Pat-Token-Id", principal.token_id.to_string()))
        .insert_header(("X-Pat-Token-Generation", principal.generation.to_string()))
        .finish())
}

/// RFC 7662 token introspection, for resource servers holding `introspection:read`.
/// Asking is not a use of the token: its last use is not touched. Refusals carry the
/// RFC 6749 §5.2 `error` member beside problem+json's fields.
#[utoipa::path(post, path = "/api/v1/introspect", tag = "check",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded", description = "token=<the token>"),
    responses((status = 200, description = "{\"active\": false} or the token's claims"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn introspect(
    state: Data<ApiState>,
    caller: Result<Caller, ApiError>,
    body: Bytes,
) -> ApiResult {
    let caller = caller.map_err(ApiError::for_oauth)?;
    introspect_for(&state, caller, &body)
        .await
        .map_err(ApiError::for_oauth)
}

async fn introspect_for(state: &ApiState, caller: Caller, body: &[u8]) -> ApiResult {
    let allowed = match &caller.via {
        Via::Token(principal) => principal.allows("introspection", "read", None),
        Via::Session { .. } => false,
    };
    if !allowed {
        return Err(ApiError::missing_scope(
            "introspection:read",
            "introspection needs a token with the scope introspection:read",
        ));
    }
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("expected a form body token=…: {e}"),
        )
    })?;
    let Some(token) = form.get("token") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form body needs the field token=<the token to introspect> (RFC 7662)",
        ));
    };
    match state.service.introspect(token).await {
        Ok(found) => {
            let principal = &found.principal;
            let scope: Vec<String> = principal
                .scopes
                .iter()
                .map(|s| s.spec.to_string())
                .collect();
            Ok(HttpResponse::Ok().json(serde_json::json!({
                "active": true,
                "scope": scope.join(" "),
                "sub": principal.user.id.to_string(),
                "username": principal.user.email,
                "exp": principal.expires_at.timestamp(),
                "iat": found.issued_at.timestamp(),
                "token_type": "Bearer",
                "token_id": principal.token_id.to_string(),
                "token_generation": principal.generation,
            })))
        }
        Err(pat_core::AuthError::Storage(e)) => Err(pat_core::AuthError::Storage(e).into()),
        Err(_) => Ok(HttpResponse::Ok().json(serde_json::json!({ "active": false }))),
    }
}

/// Public leak report: revokes the listed tokens that are valid and tells their
/// owners. Always 202, whatever the strings were.
#[utoipa::path(post, path = "/api/v1/credentials/revoke", tag = "check", request_body = LeakReportBody,
    security(()),
    responses((status = 202), (status = 422, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn report_leaks(state: Data<ApiState>, req: HttpRequest, body: JsonBody) -> ApiResult {
    let ip = client_ip(&req);
    state.service.count_leak_report(ip).await?;
    let credentials = LeakReportBody::read(&body)?.credentials;
    if credentials.len() > MAX_LEAK_REPORT {
        return Err(ApiError::unprocessable(
            "too_many_credentials",
            format!(
                "a report carries at most {MAX_LEAK_REPORT} credentials, got {}",
                credentials.len()
            ),
        ));
    }
    state.service.report_leaks(&credentials, ip).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "status": "accepted" })))
}
