//! Signing in and out, and who the caller is.

use super::*;

/// Signs in with email and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginBody,
    responses((status = 200, body = SessionView), (status = 401, body = Problem), (status = 429, body = Problem)))]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn login(state: Data<ApiState>, req: HttpRequest, body: JsonBody) -> ApiResult {
    refuse_cross_site(&req)?;
    state.check_login_rate(client_ip(&req))?;
    let login = LoginBody::read(&body)?;
    let (user, session) = state.sign_in(&login.email, &login.password).await?;
    Ok(HttpResponse::Ok()
        .cookie(state.session_cookie(&session))
        .json(SessionView {
            user: UserView::from(&user),
            csrf_token: session.csrf_token,
        }))
}

/// Signs out: the session ends on the server.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session", responses((status = 204)))]
#[tracing::instrument(level = "debug", skip_all)]
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
#[tracing::instrument(level = "debug", skip_all)]
pub async fn me(caller: Caller) -> ApiResult {
    let principal = match &caller.via {
        Via::Token(principal) => Some(principal),
        Via::Session { .. } => None,
    };
    Ok(HttpResponse::Ok().json(MeView::new(caller.user(), principal)))
}
