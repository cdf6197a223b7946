//! The admin pages: settings, users, any user's tokens, the audit log and the mail
//! outbox. The service refuses non-admins; these pages only translate.

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::web::{Path, Query};
use askama::Template;
use pat_core::model::{AuditQuery, DeliveryStatus, Role, UserId};
use pat_core::policy::Settings;
use pat_core::{
    ListTokensRequest, NewUser, PasswordChangeError, SettingsChangeError, UserChangeError,
};
use pat_http::ApiError;

use crate::display::TokenRow;
use crate::plumbing::{
    Chrome, FormData, PageResult, Posted, SignedIn, WebError, html, ok, see_other,
};
use crate::rows::{EventRow, OutboxRow, UserRow};
use crate::tokens::{
    ConfirmPage, Pager, Tab, notice, page_param, status_param, status_tabs, token_id,
};

/// Rows per admin list page.
const PAGE_SIZE: u32 = 50;

type Params = Query<HashMap<String, String>>;

fn user_id(raw: &str) -> Result<UserId, WebError> {
    UserId::from_str(raw).map_err(|_| WebError::Refused(ApiError::not_found()))
}

/// The settings page.
#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    csrf: String,
    pats_enabled: bool,
    max_lifetime_days: String,
    max_active_per_user: String,
    expiry_warning_days: String,
    max_grace_minutes: String,
    revoke_on_reuse: bool,
    error: Option<String>,
    notice: Option<&'static str>,
}

/// `GET /admin`: the PAT switch and limits.
pub async fn settings(who: SignedIn, params: Params) -> PageResult {
    let current = who.state.service.admin_settings(&who.actor).await?;
    ok(&SettingsPage {
        chrome: who.chrome("Admin: settings"),
        csrf: who.csrf.clone(),
        pats_enabled: current.pats_enabled,
        max_lifetime_days: current.max_lifetime_days.to_string(),
        max_active_per_user: current.max_active_per_user.to_string(),
        expiry_warning_days: current.expiry_warning_days.to_string(),
        max_grace_minutes: current.max_grace_minutes.to_string(),
        revoke_on_reuse: current.revoke_on_reuse,
        error: None,
        notice: notice(&params),
    })
}

fn number(form: &FormData, field: &str, label: &str) -> Result<u32, String> {
    let raw = form.get(field).trim();
    raw.parse()
        .map_err(|_| format!("{label} must be a whole number, got {raw:?}"))
}

/// `POST /admin/settings`: saves every setting at once.
pub async fn save_settings(posted: Posted) -> PageResult {
    let Posted { who, form } = posted;
    let parsed = (|| {
        Ok::<_, String>(Settings {
            pats_enabled: form.checked("pats_enabled"),
            max_lifetime_days: number(&form, "max_lifetime_days", "Maximum lifetime")?,
            max_active_per_user: number(&form, "max_active_per_user", "Maximum active tokens")?,
            expiry_warning_days: number(&form, "expiry_warning_days", "Warning days")?,
            max_grace_minutes: number(&form, "max_grace_minutes", "Longest grace period")?,
            revoke_on_reuse: form.checked("revoke_on_reuse"),
        })
    })();
    let error = match parsed {
        Ok(settings) => match who
            .state
            .service
            .update_settings(&who.actor, settings)
            .await
        {
            Ok(_) => return Ok(see_other("/admin?done=settings")),
            Err(err @ SettingsChangeError::Invalid(_)) => err.to_string(),
            Err(err) => return Err(err.into()),
        },
        Err(message) => message,
    };
    Ok(html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &SettingsPage {
            chrome: who.chrome("Admin: settings"),
            csrf: who.csrf.clone(),
            pats_enabled: form.checked("pats_enabled"),
            max_lifetime_days: form.get("max_lifetime_days").to_owned(),
            max_active_per_user: form.get("max_active_per_user").to_owned(),
            expiry_warning_days: form.get("expiry_warning_days").to_owned(),
            max_grace_minutes: form.get("max_grace_minutes").to_owned(),
            revoke_on_reuse: form.checked("revoke_on_reuse"),
            error: Some(error),
            notice: None,
        },
    ))
}

/// The users page.
#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    csrf: String,
    users: Vec<UserRow>,
    pager: Pager,
    email: String,
    name: String,
    role: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

async fn users_page(
    who: &SignedIn,
    params: &HashMap<String, String>,
    status: StatusCode,
    form: &FormData,
    error: Option<String>,
) -> PageResult {
    let page = who
        .state
        .service
        .list_users(Some(&who.actor), page_param(params, PAGE_SIZE)?)
        .await?;
    let role = form.get("role");
    Ok(html(
        status,
        &UsersPage {
            chrome: who.chrome("Admin: users"),
            csrf: who.csrf.clone(),
            users: page.items.iter().map(UserRow::from).collect(),
            pager: Pager::new(page.page, PAGE_SIZE, page.total_items, |n| {
                format!("/admin/users?page={n}")
            }),
            email: form.get("email").to_owned(),
            name: form.get("name").to_owned(),
            role: if role.is_empty() { "member" } else { role }.to_owned(),
            error,
            notice: notice(params),
        },
    ))
}

/// `GET /admin/users`.
pub async fn users(who: SignedIn, params: Params) -> PageResult {
    users_page(&who, &params, StatusCode::OK, &FormData::default(), None).await
}

/// `POST /admin/users`: adds a user with a password.
pub async fn add_user(posted: Posted) -> PageResult {
    let Posted { who, form } = posted;
    // Before any hashing: a caller who may not add users costs no argon2 run.
    who.state.service.may_create_users(&who.actor)?;
    let attempt = async {
        let role = Role::from_str(form.get("role"))
            .map_err(|e| ApiError::unprocessable("invalid_user", e.to_string()))?;
        let hash = who
            .state
            .service
            .hash_new_password(form.get("password"), form.get("email"))
            .await?;
        let new = NewUser {
            email: form.get("email").trim().to_owned(),
            name: form.get("name").trim().to_owned(),
            role,
        };
        Ok::<_, ApiError>(
            who.state
                .service
                .create_user(Some(&who.actor), new, Some(&hash))
                .await?,
        )
    };
    // Refusals of what was typed are shown beside the form; anything else is an error.
    let error = match attempt.await {
        Ok(_) => return Ok(see_other("/admin/users?done=user_added")),
        Err(err)
            if err.status() == StatusCode::UNPROCESSABLE_ENTITY
                || err.status() == StatusCode::CONFLICT =>
        {
            err.detail().to_owned()
        }
        Err(err) => return Err(err.into()),
    };
    users_page(
        &who,
        &HashMap::new(),
        StatusCode::UNPROCESSABLE_ENTITY,
        &form,
        Some(error),
    )
    .await
}

/// `POST /admin/users/{id}`: changes the role and/or the active flag; deactivation
/// ends the user's sessions at once.
pub async fn update_user(posted: Posted, id: Path<String>) -> PageResult {
    let id = user_id(&id)?;
    let Posted { who, form } = posted;
    let role = match form.get("role") {
        "" => None,
        raw => Some(Role::from_str(raw).map_err(|e| {
            WebError::Refused(ApiError::unprocessable("invalid_user", e.to_string()))
        })?),
    };
    let active = match form.get("active") {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        other => {
            return Err(ApiError::unprocessable(
                "invalid_user",
                format!("active must be true or false, got {other:?}"),
            )
            .into());
        }
    };
    who.state
        .service
        .update_user(Some(&who.actor), id, role, active)
        .await?;
    Ok(see_other("/admin/users?done=user_updated"))
}

/// `POST /admin/users/{id}/password`: sets a user's password; their sessions end.
pub async fn set_user_password(posted: Posted, id: Path<String>) -> PageResult {
    let id = user_id(&id)?;
    let Posted { who, form } = posted;
    match who
        .state
        .service
        .set_user_password(Some(&who.actor), id, form.get("password"))
        .await
    {
        Ok(_) => Ok(see_other("/admin/users?done=password_set")),
        Err(err @ PasswordChangeError::Weak(_)) => {
            users_page(
                &who,
                &HashMap::new(),
                StatusCode::UNPROCESSABLE_ENTITY,
                &FormData::default(),
                Some(err.to_string()),
            )
            .await
        }
        Err(err) => Err(err.into()),
    }
}

/// One user's tokens, for an admin.
#[derive(Template)]
#[template(path = "admin_user_tokens.html")]
struct UserTokensPage {
    chrome: Chrome,
    csrf: String,
    user: UserRow,
    tabs: Vec<Tab>,
    rows: Vec<TokenRow>,
    pager: Pager,
    notice: Option<&'static str>,
}

/// `GET /admin/users/{id}/tokens`.
pub async fn user_tokens(who: SignedIn, id: Path<String>, params: Params) -> PageResult {
    let owner = user_id(&id)?;
    let service = &who.state.service;
    let user = service
        .user(owner)
        .await?
        .ok_or(UserChangeError::NotFound)?;
    let (status, filter) = status_param(&params);
    let page = service
        .list_tokens(
            &who.actor,
            ListTokensRequest {
                owner: Some(owner),
                status: filter,
                name_contains: None,
                page: page_param(&params, PAGE_SIZE)?,
            },
        )
        .await?;
    let now = service.now();
    let base = format!("/admin/users/{owner}/tokens");
    ok(&UserTokensPage {
        chrome: who.chrome(&format!("Admin: tokens of {}", user.email)),
        csrf: who.csrf.clone(),
        user: UserRow::from(&user),
        tabs: status_tabs(status, |name| format!("{base}?status={name}")),
        rows: page.items.iter().map(|t| TokenRow::new(t, now)).collect(),
        pager: Pager::new(page.page, PAGE_SIZE, page.total_items, |n| {
            format!("{base}?status={status}&page={n}")
        }),
        notice: notice(&params),
    })
}

/// `POST /admin/tokens/{id}/revoke`: revokes any user's token.
pub async fn revoke_token(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    let token = who.state.service.admin_revoke_token(&who.actor, id).await?;
    Ok(see_other(&format!(
        "/admin/users/{}/tokens?status=all&done=revoked",
        token.owner
    )))
}

/// `POST /admin/tokens/{id}/lift-reuse`: after review, lifts a reuse revocation. The
/// token comes back with a new secret that is shown to nobody (the page discards it):
/// its owner, mailed, regenerates it to get one only they have seen.
pub async fn lift_reuse(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    let days = i64::from(
        who.state
            .service
            .current_settings()
            .await?
            .max_lifetime_days
            .min(30),
    );
    let lifted = who
        .state
        .service
        .admin_lift_reuse_revocation(&who.actor, id, days)
        .await?;
    Ok(see_other(&format!(
        "/admin/users/{}/tokens?status=all&done=lifted",
        lifted.token.owner
    )))
}

/// `GET /admin/tokens/{id}/delete`: asks before deleting another user's token.
pub async fn confirm_delete_token(who: SignedIn, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let token = who.state.service.get_token(&who.actor, id).await?;
    ok(&ConfirmPage {
        chrome: who.chrome("Delete token"),
        csrf: who.csrf.clone(),
        message: format!(
            "Delete the token \u{201c}{}\u{201d} of this user? Anything using it stops working.",
            token.name.as_str()
        ),
        action: format!("/admin/tokens/{id}/delete"),
        button: "Delete this token",
        cancel: format!("/admin/users/{}/tokens?status=all", token.owner),
    })
}

/// `POST /admin/tokens/{id}/delete`: deletes any user's token.
pub async fn delete_token(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    let service = &who.state.service;
    let owner = service.get_token(&who.actor, id).await?.owner;
    service.admin_delete_token(&who.actor, id).await?;
    Ok(see_other(&format!(
        "/admin/users/{owner}/tokens?status=all&done=deleted"
    )))
}

/// The audit log page.
#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    events: Vec<EventRow>,
    pager: Pager,
}

/// `GET /admin/audit`: every recorded event, newest first.
pub async fn audit(who: SignedIn, params: Params) -> PageResult {
    let page = who
        .state
        .service
        .audit_log(
            &who.actor,
            AuditQuery {
                token_id: None,
                owner: None,
                action: None,
                page: page_param(&params, PAGE_SIZE)?,
            },
        )
        .await?;
    ok(&AuditPage {
        chrome: who.chrome("Admin: audit log"),
        events: page.items.iter().map(EventRow::from).collect(),
        pager: Pager::new(page.page, PAGE_SIZE, page.total_items, |n| {
            format!("/admin/audit?page={n}")
        }),
    })
}

/// The mail outbox page.
#[derive(Template)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    messages: Vec<OutboxRow>,
    pager: Pager,
}

/// `GET /admin/outbox`: queued, sent and failed notices.
pub async fn outbox(who: SignedIn, params: Params) -> PageResult {
    let status = match params.get("status").map(String::as_str) {
        None | Some("" | "all") => None,
        Some(raw) => Some(DeliveryStatus::from_str(raw).map_err(|e| {
            WebError::Refused(ApiError::unprocessable("invalid_query", e.to_string()))
        })?),
    };
    let page = who
        .state
        .service
        .outbox(&who.actor, status, page_param(&params, PAGE_SIZE)?)
        .await?;
    ok(&OutboxPage {
        chrome: who.chrome("Admin: mail outbox"),
        messages: page.items.iter().map(OutboxRow::from).collect(),
        pager: Pager::new(page.page, PAGE_SIZE, page.total_items, |n| {
            format!("/admin/outbox?page={n}")
        }),
    })
}
