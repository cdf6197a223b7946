//! The REST handlers under `/api/v1`: thin translations between HTTP and `PatService`,
//! one file per responsibility; the route table is `crate::routing`.

mod admin;
mod check;
mod scopes;
mod session;
mod tokens;

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::web::{Bytes, Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse};
use pat_core::ListTokensRequest;
use pat_core::model::{
    AuditQuery, DeliveryStatus, PageRequest, ScopeId, StatusFilter, TokenId, TokenStatus, UserId,
};

use crate::caller::{Caller, Via, presented_token};
use crate::cross_site::JsonBody;
use crate::views::{
    ChangePasswordBody, CreateTokenBody, DeliveryStatusParam, EventView, IntrospectForm,
    IssuedView, LeakReportBody, LiftReuseBody, LoginBody, MeView, NewUserBody, OutboxView,
    PageView, RegenerateBody, RotateBody, ScopesBody, SessionView, SetPasswordBody, SettingsView,
    TokenStatusParam, TokenView, UpdateTokenBody, UpdateUserBody, UserView,
};
use pat_http::ApiState;
use pat_http::client_ip;
use pat_http::refuse_cross_site;
use pat_http::{ApiError, Problem};

pub use admin::*;
pub use check::*;
pub use scopes::*;
pub use session::*;
pub use tokens::*;

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

/// 200 with a new secret: never stored by a cache on the way.
fn issued_answer(state: &ApiState, issued: &pat_core::IssuedToken) -> ApiResult {
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(IssuedView::new(issued, state.service.now())))
}

/// 200 with the token as the API shows it (its status as of now).
fn token_answer(state: &ApiState, token: &pat_core::model::Token) -> ApiResult {
    Ok(HttpResponse::Ok().json(TokenView::new(token, state.service.now())))
}
