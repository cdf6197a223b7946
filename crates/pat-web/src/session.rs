//! Sign in and sign out.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use askama::Template;
use pat_core::SignInError;
use pat_http::{ApiState, client_ip, random_token};

use crate::plumbing::{
    CSRF_FIELD, Chrome, FormData, PageResult, Posted, SignedIn, WebError, html, same_token,
    see_other,
};

/// The cookie carrying the login form's CSRF token (double submit: no session exists
/// before login).
const LOGIN_CSRF_COOKIE: &str = "patd_login_csrf";

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

fn login_cookie(value: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(LOGIN_CSRF_COOKIE, value.to_owned())
        .path("/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish()
}

fn login_page(
    state: &ApiState,
    status: StatusCode,
    email: String,
    error: Option<String>,
) -> PageResult {
    login_page_with(state, status, email, error, None)
}

fn login_page_with(
    state: &ApiState,
    status: StatusCode,
    email: String,
    error: Option<String>,
    notice: Option<&'static str>,
) -> PageResult {
    let csrf = random_token()?;
    let page = LoginPage {
        chrome: Chrome::anonymous("Sign in"),
        csrf: csrf.clone(),
        email,
        error,
        notice,
    };
    let mut response = html(status, &page);
    response
        .add_cookie(&login_cookie(&csrf, state.config.secure_cookies))
        .map_err(|e| WebError::Refused(pat_http::ApiError::internal(&e)))?;
    Ok(response)
}

/// `GET /login`: the form, or the tokens page for someone already signed in.
pub async fn show_login(req: HttpRequest, state: Data<ApiState>) -> PageResult {
    if SignedIn::from_request(&req, &mut Payload::None)
        .await
        .is_ok()
    {
        return Ok(see_other("/tokens"));
    }
    // After a set-password link: say it worked.
    let notice = req
        .query_string()
        .split('&')
        .any(|pair| pair == "done=password_set")
        .then_some("Password set. Sign in with it.");
    login_page_with(&state, StatusCode::OK, String::new(), None, notice)
}

/// `POST /login`: checks the form's token and the password, then starts a session.
pub async fn login(req: HttpRequest, form: FormData, state: Data<ApiState>) -> PageResult {
    pat_http::refuse_cross_site(&req)?;
    let expected = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let email = form.get("email").trim().to_owned();
    if !same_token(form.get(CSRF_FIELD), &expected) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            email,
            Some("The form expired. Please sign in again.".to_owned()),
        );
    }
    match state
        .service
        .sign_in(&email, form.get("password"), client_ip(&req))
        .await
    {
        Ok(signed_in) => {
            let mut response = see_other("/tokens");
            let mut gone = login_cookie("", state.config.secure_cookies);
            gone.make_removal();
            response
                .add_cookie(&state.session_cookie(&signed_in.secret))
                .and_then(|()| response.add_cookie(&gone))
                .map_err(|e| WebError::Refused(pat_http::ApiError::internal(&e)))?;
            Ok(response)
        }
        Err(SignInError::InvalidCredentials) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            email,
            Some("Incorrect email or password.".to_owned()),
        ),
        Err(err) => Err(err.into()),
    }
}

/// `POST /logout`: ends the session on the server and drops the cookie.
pub async fn logout(posted: Posted) -> PageResult {
    let who = posted.who;
    who.state.service.sign_out(&who.session).await?;
    let mut response = see_other("/login");
    // Adding a fixed, valid cookie cannot fail.
    let _ = response.add_cookie(&who.state.session_removal_cookie());
    Ok(response)
}
