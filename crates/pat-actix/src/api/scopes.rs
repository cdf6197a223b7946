//! A token's scopes: add, remove one, remove all.

use super::*;

/// Adds scopes (ones the token holds already are no-ops).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/scopes", tag = "tokens", request_body = ScopesBody,
    responses((status = 200, body = TokenView), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn add_scopes(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let scopes = ScopesBody::read(&body)?.scopes;
    let token = state.service.add_scopes(&caller.actor, id, &scopes).await?;
    token_answer(&state, &token)
}

/// Removes every scope: the token then authorizes nothing.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}/scopes", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn clear_scopes(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .clear_scopes(&caller.actor, token_id(&id)?)
        .await?;
    token_answer(&state, &token)
}

/// Removes one scope.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}/scopes/{scope_id}", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn remove_scope(
    state: Data<ApiState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> ApiResult {
    let (id, scope) = path.into_inner();
    let scope = ScopeId::from_str(&scope).map_err(|_| ApiError::not_found())?;
    let token = state
        .service
        .remove_scope(&caller.actor, token_id(&id)?, scope)
        .await?;
    token_answer(&state, &token)
}
