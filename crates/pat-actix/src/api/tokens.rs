//! The caller's tokens: create, list, read, rename, revoke, regenerate, delete, history.

use super::*;

/// Creates a token; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenBody,
    responses((status = 201, body = IssuedView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_token(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    let request = CreateTokenBody::read(&body, max_days(&state).await?)?.into_domain();
    let issued = state.service.create_token(&caller.actor, request).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(IssuedView::new(&issued, state.service.now())))
}

/// The caller's tokens, newest first; never secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    params(("status" = Option<TokenStatusParam>, Query, description = "active, expired, revoked or all (the default)"),
           ("q" = Option<String>, Query, description = "name contains, ignoring case"),
           ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "1-based page, 1..=1000000, default 1"), ("page_size" = Option<u32>, Query, minimum = 1, maximum = 100, description = "items per page, 1..=100, default 20")),
    responses((status = 200, body = PageView<TokenView>), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_tokens(state: Data<ApiState>, caller: Caller, params: Params) -> ApiResult {
    let page = state
        .service
        .list_tokens(&caller.actor, list_request(&params, None)?)
        .await?;
    let now = state.service.now();
    Ok(HttpResponse::Ok().json(PageView::new(page, |t| TokenView::new(t, now))))
}

/// Deletes every token of the caller.
#[utoipa::path(delete, path = "/api/v1/tokens", tag = "tokens", responses((status = 204)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_all_tokens(state: Data<ApiState>, caller: Caller) -> ApiResult {
    state.service.delete_all_tokens(&caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn require_token_caller(caller: &Caller) -> Result<(), ApiError> {
    match caller.via {
        Via::Token(_) => Ok(()),
        Via::Session { .. } => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "pat_required",
            "this endpoint is about the presenting token: call it with Authorization: Bearer <token>",
        )),
    }
}

/// The presenting token's own details. Needs no scope.
#[utoipa::path(get, path = "/api/v1/tokens/self", tag = "tokens", responses((status = 200, body = TokenView), (status = 400, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_self(state: Data<ApiState>, caller: Caller) -> ApiResult {
    require_token_caller(&caller)?;
    let token = state.service.presented_token(&caller.actor).await?;
    token_answer(&state, &token)
}

/// The presenting token revokes itself. Needs no scope.
#[utoipa::path(delete, path = "/api/v1/tokens/self", tag = "tokens", responses((status = 204), (status = 400, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_self(state: Data<ApiState>, caller: Caller) -> ApiResult {
    require_token_caller(&caller)?;
    state.service.revoke_presented_token(&caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The presenting token rotates itself (for automation): a new secret and lifetime, up
/// to the admin's cap; the old secret keeps working for `grace_minutes` (default: it
/// stops at once). Needs `tokens:update`.
#[utoipa::path(post, path = "/api/v1/tokens/self/rotate", tag = "tokens", request_body = RotateBody,
    responses((status = 200, body = IssuedView), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn rotate_self(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    require_token_caller(&caller)?;
    let asked = RotateBody::read(&body, state.service.current_settings().await?)?;
    let issued = state
        .service
        .rotate_presented_token(&caller.actor, asked.expires_in_days, asked.grace_minutes)
        .await?;
    issued_answer(&state, &issued)
}

/// One token.
#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_token(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .get_token(&caller.actor, token_id(&id)?)
        .await?;
    token_answer(&state, &token)
}

/// Renames or re-describes a token.
#[utoipa::path(patch, path = "/api/v1/tokens/{id}", tag = "tokens", request_body = UpdateTokenBody,
    responses((status = 200, body = TokenView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update_token(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let change = UpdateTokenBody::read(&body)?;
    let token = state
        .service
        .update_token(
            &caller.actor,
            id,
            change.name.as_deref(),
            change.description.as_deref(),
        )
        .await?;
    token_answer(&state, &token)
}

/// Deletes a token (its history stays in the audit log).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", responses((status = 204), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn delete_token(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    state
        .service
        .delete_token(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a token at once (idempotent).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke_token(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .revoke_token(&caller.actor, token_id(&id)?)
        .await?;
    token_answer(&state, &token)
}

/// Gives a token a new secret and lifetime; the old secret keeps working for
/// `grace_minutes` (default: it stops at once), and any earlier grace period ends.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/regenerate", tag = "tokens", request_body = RegenerateBody,
    responses((status = 200, body = IssuedView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn regenerate_token(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let asked = RegenerateBody::read(&body, state.service.current_settings().await?)?;
    let issued = state
        .service
        .regenerate_token(
            &caller.actor,
            id,
            asked.expires_in_days,
            asked.grace_minutes,
        )
        .await?;
    issued_answer(&state, &issued)
}

/// A token's history, newest first.
#[utoipa::path(get, path = "/api/v1/tokens/{id}/events", tag = "tokens", responses((status = 200, body = PageView<EventView>), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn token_events(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    params: Params,
) -> ApiResult {
    let page = state
        .service
        .token_events(&caller.actor, token_id(&id)?, page_of(&params)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageView::new(page, |e| EventView::from(e))))
}
