//! The profile page (`/profile`: who you are, change your password, sign out
//! everywhere) and the one-time set-password link's page (`/set-password/{link}`).

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::web::{Data, Path, Query};
use askama::Template;
use pat_core::PasswordChangeError;
use pat_http::{ApiState, client_ip};

use crate::plumbing::{Chrome, FormData, PageResult, Posted, SignedIn, WebError, html, see_other};

/// The profile page.
#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    csrf: String,
    email: String,
    name: String,
    role: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn profile_page(
    who: &SignedIn,
    status: StatusCode,
    notice: Option<&'static str>,
    error: Option<String>,
) -> PageResult {
    let user = &who.actor.user;
    Ok(html(
        status,
        &ProfilePage {
            chrome: who.chrome("Profile"),
            csrf: who.csrf.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.to_string(),
            notice,
            error,
        },
    ))
}

/// `GET /profile`.
pub async fn show(who: SignedIn, params: Query<HashMap<String, String>>) -> PageResult {
    let notice = match params.get("done").map(String::as_str) {
        Some("password") => Some("Password changed. You were signed out everywhere else."),
        _ => None,
    };
    profile_page(&who, StatusCode::OK, notice, None)
}

/// A refusal the form shows beside itself (422), or `None` for an error page.
fn form_error(err: &PasswordChangeError) -> Option<String> {
    match err {
        PasswordChangeError::InvalidPassword | PasswordChangeError::Weak(_) => {
            Some(err.to_string())
        }
        _ => None,
    }
}

/// `POST /profile/password`: changes the password, given the current one; the user's
/// other sessions end.
pub async fn change_password(req: HttpRequest, posted: Posted) -> PageResult {
    let Posted { who, form } = posted;
    let changed = who
        .state
        .service
        .change_own_password(
            &who.session,
            form.get("current_password"),
            form.get("new_password"),
            client_ip(&req),
        )
        .await;
    match changed {
        // Every session ended; this browser continues in the new one.
        Ok(renewed) => {
            let mut response = see_other("/profile?done=password");
            response
                .add_cookie(&who.state.session_cookie(&renewed.secret))
                .map_err(|e| WebError::Refused(pat_http::ApiError::internal(&e)))?;
            Ok(response)
        }
        Err(err) => match form_error(&err) {
            Some(message) => {
                profile_page(&who, StatusCode::UNPROCESSABLE_ENTITY, None, Some(message))
            }
            None => Err(err.into()),
        },
    }
}

/// `POST /profile/sign-out-everywhere`: ends every session of the user, this one too.
pub async fn sign_out_everywhere(posted: Posted) -> PageResult {
    let who = posted.who;
    who.state.service.sign_out_everywhere(&who.session).await?;
    let mut response = see_other("/login");
    // Adding a fixed, valid cookie cannot fail.
    let _ = response.add_cookie(&who.state.session_removal_cookie());
    Ok(response)
}

/// The set-password link's page.
#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    chrome: Chrome,
    link: String,
    email: String,
    usable: bool,
    error: Option<String>,
}

fn link_page(
    link: &str,
    status: StatusCode,
    email: Option<String>,
    error: Option<String>,
) -> PageResult {
    Ok(html(
        status,
        &SetPasswordPage {
            chrome: Chrome::anonymous("Set your password"),
            link: link.to_owned(),
            usable: email.is_some(),
            email: email.unwrap_or_default(),
            error,
        },
    ))
}

/// A link that cannot be used: 404 unknown, 410 used or expired, the page saying so.
fn unusable_link(link: &str, err: PasswordChangeError) -> PageResult {
    match err {
        PasswordChangeError::UnknownLink => {
            link_page(link, StatusCode::NOT_FOUND, None, Some(err.to_string()))
        }
        PasswordChangeError::SpentLink => {
            link_page(link, StatusCode::GONE, None, Some(err.to_string()))
        }
        other => Err(other.into()),
    }
}

/// `GET /set-password/{link}`: the form, while the link is usable.
pub async fn show_link(state: Data<ApiState>, link: Path<String>) -> PageResult {
    match state.service.password_link_user(&link).await {
        Ok(user) => link_page(&link, StatusCode::OK, Some(user.email), None),
        Err(err) => unusable_link(&link, err),
    }
}

/// `POST /set-password/{link}`: sets the password and uses the link up; a weak
/// password leaves it usable.
pub async fn use_link(
    req: HttpRequest,
    state: Data<ApiState>,
    link: Path<String>,
    form: FormData,
) -> PageResult {
    pat_http::refuse_cross_site(&req).map_err(WebError::Refused)?;
    match state
        .service
        .set_password_with_link(&link, form.get("new_password"))
        .await
    {
        Ok(_) => Ok(see_other("/login?done=password_set")),
        Err(err @ PasswordChangeError::Weak(_)) => {
            let email = state
                .service
                .password_link_user(&link)
                .await
                .ok()
                .map(|u| u.email);
            link_page(
                &link,
                StatusCode::UNPROCESSABLE_ENTITY,
                email,
                Some(err.to_string()),
            )
        }
        Err(err) => unusable_link(&link, err),
    }
}
