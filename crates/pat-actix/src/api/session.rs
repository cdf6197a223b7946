//! Signing in and out, and who the caller is.

use super::*;

/// Signs in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginBody,
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn login(state: Data<ApiState>, req: HttpRequest, body: JsonBody) -> ApiResult {
    refuse_cross_site(&req)?;
    let login = LoginBody::read(&body)?;
    let signed_in = state
        .service
        .sign_in(&login.email, &login.password, client_ip(&req))
        .await?;
    Ok(HttpResponse::Ok()
        .cookie(state.session_cookie(&signed_in.secret))
        .json(SessionView {
            user: UserView::from(&signed_in.user),
            csrf_token: signed_in.csrf_token,
        }))
}

/// Signs out: the session ends on the server.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn logout(state: Data<ApiState>, caller: Caller) -> ApiResult {
    if let Via::Session(session) = &caller.via {
        state.service.sign_out(session).await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(state.session_removal_cookie())
        .finish())
}

/// The caller: user, and the presenting token if a token was used. Needs no scope.
#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = MeView), (status = 401, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn me(caller: Caller) -> ApiResult {
    let principal = match &caller.via {
        Via::Token(principal) => Some(principal),
        Via::Session(_) => None,
    };
    let mut answer = HttpResponse::Ok();
    if let Some(principal) = principal {
        answer.insert_header(("X-Pat-Token-Generation", principal.generation.to_string()));
    }
    Ok(answer.json(MeView::new(caller.user(), principal)))
}

/// The caller's session: what a password change and "sign out everywhere" need, which
/// a token may never do.
///
/// # Errors
/// 403 `session_required` for a token caller.
fn require_session(caller: &Caller) -> Result<&pat_core::LiveSession, ApiError> {
    match &caller.via {
        Via::Session(session) => Ok(session),
        Via::Token(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "session_required",
            "only a signed-in browser session may do this (sign in at /login), never a token",
        )),
    }
}

/// Changes the signed-in user's password, given the current one. Every session of the
/// user ends, this one too; the answer starts a new one (a new cookie and CSRF token).
/// A session only: a token cannot change a password.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "session", request_body = ChangePasswordBody,
    security(("session" = [])),
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem), (status = 503, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn change_password(
    state: Data<ApiState>,
    req: HttpRequest,
    caller: Caller,
    body: JsonBody,
) -> ApiResult {
    let session = require_session(&caller)?;
    let change = ChangePasswordBody::read(&body)?;
    let renewed = state
        .service
        .change_own_password(
            session,
            &change.current_password,
            &change.new_password,
            client_ip(&req),
        )
        .await?;
    Ok(HttpResponse::Ok()
        .cookie(state.session_cookie(&renewed.secret))
        .json(SessionView {
            user: UserView::from(&renewed.user),
            csrf_token: renewed.csrf_token,
        }))
}

/// Ends every session of the signed-in user, this one included ("sign out
/// everywhere"). A session only.
#[utoipa::path(delete, path = "/api/v1/me/sessions", tag = "session",
    security(("session" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn end_all_sessions(state: Data<ApiState>, caller: Caller) -> ApiResult {
    let session = require_session(&caller)?;
    state.service.sign_out_everywhere(session).await?;
    Ok(HttpResponse::NoContent()
        .cookie(state.session_removal_cookie())
        .finish())
}
