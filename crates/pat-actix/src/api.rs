//! The REST handlers under `/api/v1`: thin translations between HTTP and `PatService`.

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes, Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use pat_core::model::{
    AuditQuery, DeliveryStatus, PageRequest, Role, ScopeId, StatusFilter, TokenId, TokenStatus,
    UserId,
};
use pat_core::{CreateTokenRequest, ListTokensRequest, NewUser};

use crate::caller::{Caller, Via, authenticate_counted, client_ip, presented_token};
use crate::cross_site::{JsonBody, refuse_cross_site};
use crate::passwords::{check_password_rules, hash_password, on_password_thread};
use crate::problem::{ApiError, Problem};
use crate::state::ApiState;
use crate::views::{
    CreateTokenBody, DeliveryStatusParam, EventView, Fields, IntrospectForm, IssuedView,
    LeakReportBody, LoginBody, MeView, NewUserBody, OutboxView, PageView, RegenerateBody,
    ScopesBody, SessionView, SettingsView, TokenStatusParam, TokenView, UpdateTokenBody,
    UpdateUserBody, UserView,
};

/// Most credentials one leak report may carry.
pub const MAX_LEAK_REPORT: usize = 1000;

type Params = Query<HashMap<String, String>>;

/// The highest page number a list accepts (far beyond any real list).
const MAX_PAGE: u32 = 1_000_000;
type ApiResult = Result<HttpResponse, ApiError>;

fn token_id(raw: &str) -> Result<TokenId, ApiError> {
    TokenId::from_str(raw).map_err(|_| ApiError::not_found())
}

fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::from_str(raw).map_err(|_| ApiError::not_found())
}

fn page_of(params: &HashMap<String, String>) -> Result<PageRequest, ApiError> {
    let number = |key: &str, default: u32| -> Result<u32, ApiError> {
        params.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                ApiError::unprocessable(
                    "invalid_page",
                    format!("{key} must be a whole number, got {v:?}"),
                )
            })
        })
    };
    let page = number("page", 1)?;
    if page > MAX_PAGE {
        return Err(ApiError::unprocessable(
            "invalid_page",
            format!("page must be from 1 to {MAX_PAGE}, got {page}"),
        ));
    }
    PageRequest::new(page, number("page_size", 20)?)
        .map_err(|e| ApiError::unprocessable("invalid_page", e.to_string()))
}

/// A query parameter's value; an empty value (`?status=`, what HTML forms send for an
/// untouched field) counts as absent.
fn param<'a>(params: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

fn status_of(params: &HashMap<String, String>) -> Result<StatusFilter, ApiError> {
    match param(params, "status") {
        None | Some("all") => Ok(StatusFilter::All),
        Some("active") => Ok(StatusFilter::Only(TokenStatus::Active)),
        Some("expired") => Ok(StatusFilter::Only(TokenStatus::Expired)),
        Some("revoked") => Ok(StatusFilter::Only(TokenStatus::Revoked)),
        Some(other) => Err(ApiError::unprocessable(
            "invalid_query",
            format!("status must be active, expired, revoked or all, got {other:?}"),
        )),
    }
}

fn role_of(raw: &str) -> Result<Role, ApiError> {
    Role::from_str(raw).map_err(|e| ApiError::unprocessable("invalid_user", e.to_string()))
}

fn list_request(
    params: &HashMap<String, String>,
    owner: Option<UserId>,
) -> Result<ListTokensRequest, ApiError> {
    Ok(ListTokensRequest {
        owner,
        status: status_of(params)?,
        name_contains: params.get("q").cloned(),
        page: page_of(params)?,
    })
}

async fn max_days(state: &ApiState) -> Result<u32, ApiError> {
    Ok(state.service.current_settings().await?.max_lifetime_days)
}

/// Signs in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginBody,
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login(state: Data<ApiState>, req: HttpRequest, body: JsonBody) -> ApiResult {
    refuse_cross_site(&req)?;
    state.check_login_rate(client_ip(&req))?;
    let fields = Fields::parse(&body)?;
    let email = fields.string("email", "invalid_credentials")?;
    let password = fields.string("password", "invalid_credentials")?;
    let (user, session) = state.sign_in(&email, &password).await?;
    Ok(HttpResponse::Ok()
        .cookie(state.session_cookie(&session))
        .json(SessionView {
            user: UserView::from(&user),
            csrf_token: session.csrf_token,
        }))
}

/// Signs out: the session ends on the server.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204)))]
pub async fn logout(state: Data<ApiState>, caller: Caller) -> ApiResult {
    if let Via::Session { id } = &caller.via {
        state.sessions.end(id);
    }
    Ok(HttpResponse::NoContent()
        .cookie(state.session_removal_cookie())
        .finish())
}

/// The caller: user, and the presenting token if a token was used. Needs no scope.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = MeView), (status = 401, body = Problem)))]
pub async fn me(caller: Caller) -> ApiResult {
    let principal = match &caller.via {
        Via::Token(principal) => Some(principal),
        Via::Session { .. } => None,
    };
    Ok(HttpResponse::Ok().json(MeView::new(caller.user(), principal)))
}

/// Creates a token; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenBody,
    responses((status = 201, body = IssuedView), (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_token(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    let fields = Fields::parse(&body)?;
    let request = CreateTokenRequest {
        name: fields.string("name", "invalid_name")?,
        description: fields
            .optional_string("description", "invalid_description")?
            .unwrap_or_default(),
        expires_in_days: fields.days("expires_in_days", max_days(&state).await?)?,
        scopes: fields.strings("scopes", "invalid_scope")?,
    };
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
pub async fn get_self(state: Data<ApiState>, caller: Caller) -> ApiResult {
    require_token_caller(&caller)?;
    let token = state.service.presented_token(&caller.actor).await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// The presenting token revokes itself. Needs no scope.
#[utoipa::path(delete, path = "/api/v1/tokens/self", tag = "tokens", responses((status = 204), (status = 400, body = Problem)))]
pub async fn revoke_self(state: Data<ApiState>, caller: Caller) -> ApiResult {
    require_token_caller(&caller)?;
    state.service.revoke_presented_token(&caller.actor).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One token.
#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
pub async fn get_token(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .get_token(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// Renames or re-describes a token.
#[utoipa::path(patch, path = "/api/v1/tokens/{id}", tag = "tokens", request_body = UpdateTokenBody,
    responses((status = 200, body = TokenView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_token(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let fields = Fields::parse(&body)?;
    let name = fields.optional_string("name", "invalid_name")?;
    let description = fields.optional_string("description", "invalid_description")?;
    let token = state
        .service
        .update_token(&caller.actor, id, name.as_deref(), description.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// Deletes a token (its history stays in the audit log).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_token(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    state
        .service
        .delete_token(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes a token at once (idempotent).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/revoke", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
pub async fn revoke_token(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .revoke_token(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// Gives a token a new secret and lifetime; the old secret stops working at once.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/regenerate", tag = "tokens", request_body = RegenerateBody,
    responses((status = 200, body = IssuedView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn regenerate_token(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let fields = Fields::parse(&body)?;
    let days = fields.days("expires_in_days", max_days(&state).await?)?;
    let issued = state
        .service
        .regenerate_token(&caller.actor, id, days)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(IssuedView::new(&issued, state.service.now())))
}

/// Adds scopes (ones the token holds already are no-ops).
#[utoipa::path(post, path = "/api/v1/tokens/{id}/scopes", tag = "tokens", request_body = ScopesBody,
    responses((status = 200, body = TokenView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_scopes(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = token_id(&id)?;
    let scopes = Fields::parse(&body)?.strings("scopes", "invalid_scope")?;
    let token = state.service.add_scopes(&caller.actor, id, &scopes).await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// Removes every scope: the token then authorizes nothing.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}/scopes", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
pub async fn clear_scopes(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .clear_scopes(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// Removes one scope.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}/scopes/{scope_id}", tag = "tokens", responses((status = 200, body = TokenView), (status = 404, body = Problem)))]
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
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// A token's history, newest first.
#[utoipa::path(get, path = "/api/v1/tokens/{id}/events", tag = "tokens", responses((status = 200, body = PageView<EventView>), (status = 404, body = Problem)))]
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

/// The admin settings.
#[utoipa::path(get, path = "/api/v1/admin/settings", tag = "admin", responses((status = 200, body = SettingsView), (status = 403, body = Problem)))]
pub async fn get_settings(state: Data<ApiState>, caller: Caller) -> ApiResult {
    Ok(HttpResponse::Ok().json(SettingsView::from(
        state.service.admin_settings(&caller.actor).await?,
    )))
}

/// Replaces the admin settings.
#[utoipa::path(put, path = "/api/v1/admin/settings", tag = "admin", request_body = SettingsView,
    responses((status = 200, body = SettingsView), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_settings(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    let fields = Fields::parse(&body)?;
    let settings = SettingsView {
        pats_enabled: fields.boolean("pats_enabled", "invalid_settings")?,
        max_lifetime_days: fields.number("max_lifetime_days", "invalid_settings")?,
        max_active_per_user: fields.number("max_active_per_user", "invalid_settings")?,
        expiry_warning_days: fields.number("expiry_warning_days", "invalid_settings")?,
    };
    let saved = state
        .service
        .update_settings(&caller.actor, settings.into())
        .await?;
    Ok(HttpResponse::Ok().json(SettingsView::from(saved)))
}

/// Users, by email.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", responses((status = 200, body = PageView<UserView>), (status = 403, body = Problem)))]
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
pub async fn create_user(state: Data<ApiState>, caller: Caller, body: JsonBody) -> ApiResult {
    // Before any hashing: a caller who may not add users costs no argon2 run.
    state.service.may_create_users(&caller.actor)?;
    let fields = Fields::parse(&body)?;
    let new = NewUser {
        email: fields.string("email", "invalid_user")?,
        name: fields.string("name", "invalid_user")?,
        role: role_of(&fields.string("role", "invalid_user")?)?,
    };
    let password = fields.string("password", "invalid_user")?;
    check_password_rules(&password)?;
    let hash = on_password_thread(move || hash_password(&password)).await??;
    let user = state
        .service
        .create_user(Some(&caller.actor), new, Some(&hash))
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

/// Changes a user's role or active flag; deactivation ends their sessions.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", request_body = UpdateUserBody,
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_user(
    state: Data<ApiState>,
    caller: Caller,
    id: Path<String>,
    body: JsonBody,
) -> ApiResult {
    let id = user_id(&id)?;
    let fields = Fields::parse(&body)?;
    let role = fields
        .optional_string("role", "invalid_user")?
        .map(|r| role_of(&r))
        .transpose()?;
    let active = fields.optional_bool("active", "invalid_user")?;
    let user = state
        .service
        .update_user(Some(&caller.actor), id, role, active)
        .await?;
    if !user.active {
        state.sessions.end_all_for(user.id);
    }
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Any user's tokens.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}/tokens", tag = "admin", responses((status = 200, body = PageView<TokenView>), (status = 403, body = Problem)))]
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
pub async fn admin_revoke(state: Data<ApiState>, caller: Caller, id: Path<String>) -> ApiResult {
    let token = state
        .service
        .admin_revoke_token(&caller.actor, token_id(&id)?)
        .await?;
    Ok(HttpResponse::Ok().json(TokenView::new(&token, state.service.now())))
}

/// Deletes any user's token.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin", responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
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

/// Forward-auth for proxies (nginx `auth_request`, Traefik, Envoy): 204 with the user
/// and token ids when the presented token allows `resource:operation[:target]`.
#[utoipa::path(get, path = "/api/v1/auth/check", tag = "check",
    params(("resource" = Option<String>, Query), ("operation" = Option<String>, Query), ("target" = Option<String>, Query)),
    responses((status = 204, headers(("X-Pat-User-Id" = String), ("X-Pat-Token-Id" = String))), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn auth_check(state: Data<ApiState>, req: HttpRequest, params: Params) -> ApiResult {
    let token = presented_token(&req)?.ok_or_else(ApiError::unauthenticated)?;
    let principal = authenticate_counted(&state, &token, client_ip(&req)).await?;
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
        .finish())
}

/// RFC 7662 token introspection, for resource servers holding `introspection:read`.
/// Asking is not a use of the token: its last use is not touched. Refusals carry the
/// RFC 6749 §5.2 `error` member beside problem+json's fields.
#[utoipa::path(post, path = "/api/v1/introspect", tag = "check",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded", description = "token=<the token>"),
    responses((status = 200, description = "{\"active\": false} or the token's claims"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
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
pub async fn report_leaks(state: Data<ApiState>, req: HttpRequest, body: JsonBody) -> ApiResult {
    let ip = client_ip(&req);
    state.leak_limiter.check(ip)?;
    let credentials = Fields::parse(&body)?.strings("credentials", "invalid_request")?;
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

/// Registers every `/api/v1` route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(crate::limits::payload_config())
            // First: the forward-auth hot path, matched before any pattern with a
            // `{param}` (those cost a regex match each).
            .service(resource("/auth/check").get(auth_check))
            .service(resource("/session").post(login).delete(logout))
            .service(resource("/me").get(me))
            .service(
                resource("/tokens")
                    .post(create_token)
                    .get(list_tokens)
                    .delete(delete_all_tokens),
            )
            .service(resource("/tokens/self").get(get_self).delete(revoke_self))
            .service(
                resource("/tokens/{id}")
                    .get(get_token)
                    .patch(update_token)
                    .delete(delete_token),
            )
            .service(resource("/tokens/{id}/revoke").post(revoke_token))
            .service(resource("/tokens/{id}/regenerate").post(regenerate_token))
            .service(
                resource("/tokens/{id}/scopes")
                    .post(add_scopes)
                    .delete(clear_scopes),
            )
            .service(resource("/tokens/{id}/scopes/{scope_id}").delete(remove_scope))
            .service(resource("/tokens/{id}/events").get(token_events))
            .service(
                resource("/admin/settings")
                    .get(get_settings)
                    .put(put_settings),
            )
            .service(resource("/admin/users").get(list_users).post(create_user))
            .service(resource("/admin/users/{id}").patch(update_user))
            .service(resource("/admin/users/{id}/tokens").get(user_tokens))
            .service(resource("/admin/tokens/{id}/revoke").post(admin_revoke))
            .service(resource("/admin/tokens/{id}").delete(admin_delete))
            .service(resource("/admin/audit").get(audit))
            .service(resource("/admin/outbox").get(outbox))
            .service(resource("/introspect").post(introspect))
            .service(resource("/credentials/revoke").post(report_leaks))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::not_found())
            })),
    );
}

/// A path whose methods are its routes; any other method is 405 problem+json with
/// `Allow` (not a misleading 404).
fn resource(path: &str) -> Builder {
    Builder {
        path: path.to_owned(),
        resource: web::resource(path),
        allowed: Vec::new(),
    }
}

/// Collects a path's routes and the methods they allow.
struct Builder {
    path: String,
    resource: actix_web::Resource,
    allowed: Vec<&'static str>,
}

macro_rules! method {
    ($name:ident, $route:ident, $text:literal) => {
        fn $name<F, Args>(mut self, handler: F) -> Self
        where
            F: actix_web::Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: actix_web::Responder + 'static,
        {
            self.resource = self.resource.route(web::$route().to(handler));
            self.allowed.push($text);
            self
        }
    };
}

impl Builder {
    method!(get, get, "GET");
    method!(post, post, "POST");
    method!(put, put, "PUT");
    method!(patch, patch, "PATCH");
    method!(delete, delete, "DELETE");
}

impl actix_web::dev::HttpServiceFactory for Builder {
    fn register(self, config: &mut actix_web::dev::AppService) {
        let allow = self.allowed.join(", ");
        let path = self.path;
        self.resource
            .default_service(web::to(move || {
                let allow = allow.clone();
                let path = path.clone();
                async move {
                    let mut response = actix_web::ResponseError::error_response(&ApiError::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "method_not_allowed",
                        format!("/api/v1{path} allows {allow}"),
                    ));
                    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
                        response
                            .headers_mut()
                            .insert(actix_web::http::header::ALLOW, value);
                    }
                    response
                }
            }))
            .register(config);
    }
}
