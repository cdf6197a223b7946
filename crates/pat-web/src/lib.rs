//! # pat-web
//!
//! The server-rendered web UI of `pat-core`, for actix-web: sign in, the "Personal
//! Access Tokens" pages (list by status, create with a scope picker, the secret shown
//! once, the token page with scopes, history, revoke, regenerate, delete) and the admin
//! pages (settings, users, any user's tokens, audit log, mail outbox).
//!
//! Pages work without JavaScript; the only script adds the Copy button. Every form
//! carries a CSRF token and every page is sent `Cache-Control: no-store`. A new secret
//! is shown in the response to the create or regenerate form itself and kept nowhere,
//! so any instance serves it, it is never in a URL, and reload or history cannot show
//! it again.
//!
//! The UI shares `pat_http::ApiState` (the service, which holds sessions) with the REST
//! API (`pat-actix`), without depending on it: register the state with
//! `App::app_data` and call [`configure`] after the API's `configure`.

mod admin;
mod display;
mod plumbing;
mod profile;
mod rows;
mod session;
mod tokens;

pub use plumbing::{CSRF_FIELD, WebError};

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const STYLESHEET: &str = include_str!("../static/app.css");
const SCRIPT: &str = include_str!("../static/app.js");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

/// Registers every page and the vendored assets under `/`, `/login`, `/logout`,
/// `/tokens…`, `/admin…` and `/static/…`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/",
        web::get().to(|| async { plumbing::see_other("/tokens") }),
    )
    .route(
        "/static/app.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", STYLESHEET) }),
    )
    .route(
        "/static/app.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
    )
    .route("/login", web::get().to(session::show_login))
    .route("/login", web::post().to(session::login))
    .route("/logout", web::post().to(session::logout))
    .route("/profile", web::get().to(profile::show))
    .route(
        "/profile/password",
        web::post().to(profile::change_password),
    )
    .route(
        "/profile/sign-out-everywhere",
        web::post().to(profile::sign_out_everywhere),
    )
    .route("/set-password/{link}", web::get().to(profile::show_link))
    .route("/set-password/{link}", web::post().to(profile::use_link))
    .route("/tokens", web::get().to(tokens::list))
    .route("/tokens/new", web::get().to(tokens::new_form))
    .route("/tokens/new", web::post().to(tokens::create))
    .route(
        "/tokens/delete-all",
        web::get().to(tokens::confirm_delete_all),
    )
    .route("/tokens/delete-all", web::post().to(tokens::delete_all))
    .route("/tokens/{id}", web::get().to(tokens::show))
    .route("/tokens/{id}/revoke", web::post().to(tokens::revoke))
    .route(
        "/tokens/{id}/regenerate",
        web::post().to(tokens::regenerate),
    )
    .route("/tokens/{id}/delete", web::get().to(tokens::confirm_delete))
    .route("/tokens/{id}/delete", web::post().to(tokens::delete))
    .route("/tokens/{id}/scopes", web::post().to(tokens::add_scope))
    .route(
        "/tokens/{id}/scopes/clear",
        web::post().to(tokens::clear_scopes),
    )
    .route(
        "/tokens/{id}/scopes/{scope}/remove",
        web::post().to(tokens::remove_scope),
    )
    .route("/admin", web::get().to(admin::settings))
    .route("/admin/settings", web::post().to(admin::save_settings))
    .route("/admin/users", web::get().to(admin::users))
    .route("/admin/users", web::post().to(admin::add_user))
    .route("/admin/users/{id}", web::post().to(admin::update_user))
    .route(
        "/admin/users/{id}/password",
        web::post().to(admin::set_user_password),
    )
    .route(
        "/admin/users/{id}/tokens",
        web::get().to(admin::user_tokens),
    )
    .route(
        "/admin/tokens/{id}/revoke",
        web::post().to(admin::revoke_token),
    )
    .route(
        "/admin/tokens/{id}/lift-reuse",
        web::post().to(admin::lift_reuse),
    )
    .route(
        "/admin/tokens/{id}/delete",
        web::get().to(admin::confirm_delete_token),
    )
    .route(
        "/admin/tokens/{id}/delete",
        web::post().to(admin::delete_token),
    )
    .route("/admin/audit", web::get().to(admin::audit))
    .route("/admin/outbox", web::get().to(admin::outbox));
}
