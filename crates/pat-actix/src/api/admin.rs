//! Admin endpoints: settings, users, any user's tokens, the audit log, the outbox.

use super::*;

/// The admin settings.
#[utoipa::path(get, path = "/api/v1/admin/settings", tag = "admin", responses((status = 200, body = SettingsView), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get_settings(state: Data<ApiState>, caller: Caller) -> ApiResult {
    Ok(HttpResponse::Ok().json(SettingsView::from(
        state.service.admin_settings(&caller.actor).await?,
    )))
}

/// Replaces the admin settings.
#[utoipa::path(put, path = "/api/v1/admin/settings", tag = "admin", request_body = SettingsView,
    responses((status = 200, body = SettingsView), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn put_settings(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    // The values an older client leaves out; the write itself checks the caller.
    let current = state.service.current_settings().await?;
    let settings = SettingsView::read(&body, current)?;
    let saved = state
        .service
        .update_settings(&caller.actor, settings.into())
        .await?;
    Ok(HttpResponse::Ok().json(SettingsView::from(saved)))
}

/// Users, by email.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", responses((status = 200, body = PageView<UserView>), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_users(state: Data<ApiState>, caller: Caller, params: Params) -> ApiResult {
    let page = state
        .service
        .list_users(Some(&caller.actor), page_of(&params)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageView::new(page, |u| UserView::from(u))))
}

/// Adds a user.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn create_user(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    // Before any hashing: a caller who may not add users costs no argon2 run.
    state.service.may_create_users(&caller.actor)?;
    let (new, password) = NewUserBody::read(&body)?.try_into_domain()?;
    let hash = state
        .service
        .hash_new_password(&password, &new.email)
        .await?;
    let user = state
        .service
        .create_user(Some(&caller.actor), new, Some(&hash))
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

/// Changes a user's role or active flag; deactivation ends their sessions.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", request_body = UpdateUserBody,
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn update_user(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = user_id(&id)?;
    let (role, active) = UpdateUserBody::read(&body)?.try_into_domain()?;
    let user = state
        .service
        .update_user(Some(&caller.actor), id, role, active)
        .await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Sets a user's password; all their sessions end.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/password", tag = "admin", request_body = SetPasswordBody,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn set_user_password(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = user_id(&id)?;
    let password = SetPasswordBody::read(&body)?.password;
    state
        .service
        .set_user_password(Some(&caller.actor), id, &password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Any user's tokens.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/tokens", tag = "admin", responses((status = 200, body = PageView<TokenView>), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn user_tokens(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    params: Params,
) -> ApiResult {
    let owner = user_id(&id)?;
    let request = list_request(&params, Some(owner))?;
    let page = state.service.list_tokens(&caller.actor, request).await?;
    let now = state.service.now();
    Ok(HttpResponse::Ok().json(PageView::new(page, |t| TokenView::new(t, now))))
}

/// Revokes any user's token.
#[utoipa::path(post, path = "/api/v1/admin/tokens/{id}/revoke", tag = "admin", responses((status = 200, body = TokenView), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn admin_revoke(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .admin_revoke_token(&caller.actor, token_id(&id)?)
        .await?;
    token_answer(&state, &token)
}

/// Lifts a reuse revocation after review: the token, revoked because a secret it had
/// before was used again, gets a new secret and lifetime and is active again; the owner
/// is mailed. Only for tokens revoked with reason `reuse_detected` (409
/// `not_revoked_for_reuse` otherwise).
#[utoipa::path(post, path = "/api/v1/admin/tokens/{id}/regenerate", tag = "admin", request_body = LiftReuseBody,
    responses((status = 200, body = IssuedView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn admin_regenerate(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let days = LiftReuseBody::read(&body, max_days(&state).await?)?.expires_in_days;
    let issued = state
        .service
        .admin_lift_reuse_revocation(&caller.actor, id, days)
        .await?;
    issued_answer(&state, &issued)
}

/// Deletes any user's token.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin", responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn admin_delete(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    state
        .service
        .admin_delete_token(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin",
    params(("token_id" = Option<String>, Query), ("owner_id" = Option<String>, Query), ("action" = Option<String>, Query),
           ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "1-based page, 1..=1000000, default 1"), ("page_size" = Option<u32>, Query, minimum = 1, maximum = 100, description = "items per page, 1..=100, default 20")),
    responses((status = 200, body = PageView<EventView>), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn audit(state: Data<ApiState>, caller: Caller, params: Params) -> ApiResult {
    let query = AuditQuery {
        token_id: params.get("token_id").map(|t| token_id(t)).transpose()?,
        owner: params.get("owner_id").map(|u| user_id(u)).transpose()?,
        action: params.get("action").cloned(),
        page: page_of(&params)?,
    };
    let page = state.service.audit_log(&caller.actor, query).await?;
    Ok(HttpResponse::Ok().json(PageView::new(page, |e| EventView::from(e))))
}

/// The mail outbox: pending, sent and failed notices with their last error (admins).
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin",
    params(("status" = Option<DeliveryStatusParam>, Query, description = "pending, sent or failed; none for all"), ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "1-based page, 1..=1000000, default 1"), ("page_size" = Option<u32>, Query, minimum = 1, maximum = 100, description = "items per page, 1..=100, default 20")),
    responses((status = 200, body = PageView<OutboxView>), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn outbox(state: Data<ApiState>, caller: Caller, params: Params) -> ApiResult {
    let status = param(&params, "status")
        .map(|s| {
            DeliveryStatus::from_str(s).map_err(|e| ApiError::unprocessable("invalid_query", e))
        })
        .transpose()?;
    let page = state
        .service
        .outbox(&caller.actor, status, page_of(&params)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageView::new(page, |m| OutboxView::from(m))))
}
