//! The "Personal Access Tokens" pages: the list, create, the secret shown once, the
//! token page with its scopes and history, revoke, regenerate and delete.

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::web::{Path, Query};
use askama::Template;
use pat_actix::ApiError;
use pat_actix::views::EventView;
use pat_core::model::{PageRequest, Role, ScopeId, StatusFilter, TokenId, TokenStatus};
use pat_core::{CreateTokenRequest, CreationAllowance, ListTokensRequest, ServiceError};

use crate::display::{PickerInput, ScopePicker, TokenRow, operation_options};
use crate::plumbing::{
    Chrome, FormData, PageResult, Posted, SignedIn, WebError, html, ok, see_other,
};

/// Tokens per list page.
const PAGE_SIZE: u32 = 20;
/// History entries on the token page.
const HISTORY_SIZE: u32 = 50;
/// The expiry the create form suggests (capped by the current maximum).
const DEFAULT_DAYS: u32 = 30;

type Params = Query<HashMap<String, String>>;

/// Parses a token id from the path; any malformed id is simply not found.
pub fn token_id(raw: &str) -> Result<TokenId, WebError> {
    TokenId::from_str(raw).map_err(|_| WebError::Refused(ApiError::not_found()))
}

/// The confirmation text of a finished action, by the `done` query value.
pub fn notice(params: &HashMap<String, String>) -> Option<&'static str> {
    Some(match params.get("done")?.as_str() {
        "revoked" => "The token was revoked. Requests using it are refused from now on.",
        "deleted" => "The token was deleted.",
        "deleted_all" => "All your tokens were deleted.",
        "scopes" => "The token's scopes were changed.",
        "settings" => "Settings saved.",
        "user_added" => "User added.",
        "user_updated" => "User updated.",
        _ => return None,
    })
}

/// A status tab of the list.
pub struct Tab {
    /// Shown text.
    pub label: &'static str,
    /// Link.
    pub href: String,
    /// The tab being shown.
    pub current: bool,
}

/// The four status tabs, `current` marked, each linking to `href(status)`.
pub fn status_tabs(current: &str, href: impl Fn(&str) -> String) -> Vec<Tab> {
    [
        ("active", "Active"),
        ("expired", "Expired"),
        ("revoked", "Revoked"),
        ("all", "All"),
    ]
    .into_iter()
    .map(|(name, label)| Tab {
        label,
        href: href(name),
        current: name == current,
    })
    .collect()
}

/// The status filter of `?status=`, defaulting to active.
pub fn status_param(params: &HashMap<String, String>) -> (&'static str, StatusFilter) {
    match params.get("status").map(String::as_str) {
        Some("expired") => ("expired", StatusFilter::Only(TokenStatus::Expired)),
        Some("revoked") => ("revoked", StatusFilter::Only(TokenStatus::Revoked)),
        Some("all") => ("all", StatusFilter::All),
        _ => ("active", StatusFilter::Only(TokenStatus::Active)),
    }
}

/// `?page=`, defaulting to 1.
pub fn page_param(params: &HashMap<String, String>, size: u32) -> Result<PageRequest, WebError> {
    let number = params
        .get("page")
        .map_or(Ok(1), |p| p.parse::<u32>())
        .map_err(|_| {
            ApiError::unprocessable("invalid_page", "page must be a whole number from 1")
        })?;
    PageRequest::new(number, size)
        .map_err(|e| WebError::Refused(ApiError::unprocessable("invalid_page", e.to_string())))
}

/// Previous/next links of a paged list.
pub struct Pager {
    /// 1-based current page.
    pub page: u32,
    /// Pages in all (at least 1).
    pub pages: u32,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
}

impl Pager {
    /// Links for `page` of `total` items, `href(n)` giving page n's address.
    pub fn new(page: u32, size: u32, total: u64, href: impl Fn(u32) -> String) -> Self {
        let pages = u32::try_from(total.div_ceil(u64::from(size)))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            page,
            pages,
            prev: (page > 1).then(|| href(page - 1)),
            next: (page < pages).then(|| href(page + 1)),
        }
    }
}

/// Percent-encodes a query value.
pub fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// Why the create button is missing or disabled, if it is.
pub enum CreateState {
    /// The button works.
    Allowed,
    /// Disabled: the active limit is reached.
    AtLimit(String),
    /// No button: PATs are switched off.
    Disabled,
    /// No button: the role may not create tokens.
    NotForRole,
}

/// The list page.
#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    csrf: String,
    tabs: Vec<Tab>,
    status: &'static str,
    q: String,
    rows: Vec<TokenRow>,
    total: u64,
    pager: Pager,
    create: CreateState,
    notice: Option<&'static str>,
    empty: String,
}

async fn create_state(who: &SignedIn) -> Result<CreateState, WebError> {
    Ok(
        match who.state.service.creation_allowance(&who.actor).await? {
            CreationAllowance::Allowed => CreateState::Allowed,
            CreationAllowance::NotForRole(_) => CreateState::NotForRole,
            CreationAllowance::PatsDisabled => CreateState::Disabled,
            CreationAllowance::AtLimit { active, .. } => CreateState::AtLimit(format!(
                "You have {active} active tokens, the most allowed. Revoke or delete one to create another."
            )),
        },
    )
}

/// `GET /tokens`: the caller's tokens by status tab, with name search and paging.
pub async fn list(who: SignedIn, params: Params) -> PageResult {
    let (status, filter) = status_param(&params);
    let q = params
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    let request = ListTokensRequest {
        owner: None,
        status: filter,
        name_contains: (!q.is_empty()).then(|| q.clone()),
        page: page_param(&params, PAGE_SIZE)?,
    };
    let service = &who.state.service;
    let page = service.list_tokens(&who.actor, request).await?;
    let now = service.now();
    let search = if q.is_empty() {
        String::new()
    } else {
        format!("&q={}", query_value(&q))
    };
    let tabs = status_tabs(status, |name| format!("/tokens?status={name}{search}"));
    let pager = Pager::new(page.page, PAGE_SIZE, page.total_items, |n| {
        format!("/tokens?status={status}{search}&page={n}")
    });
    ok(&TokensPage {
        chrome: who.chrome("Personal access tokens"),
        csrf: who.csrf.clone(),
        tabs,
        status,
        rows: page.items.iter().map(|t| TokenRow::new(t, now)).collect(),
        total: page.total_items,
        pager,
        create: create_state(&who).await?,
        notice: notice(&params),
        empty: empty_message(status, &q),
        q,
    })
}

/// What an empty list says, and what to do about it.
fn empty_message(status: &str, q: &str) -> String {
    if !q.is_empty() {
        return format!(
            "No {status} token's name contains \u{201c}{q}\u{201d}. Clear the search to see them all."
        );
    }
    match status {
        "active" => "You have no active tokens. Generate one to let a script or tool call the API as you.",
        "expired" => "No expired tokens. Tokens land here when their expiry passes; regenerate one to use it again.",
        "revoked" => "No revoked tokens.",
        _ => "You have no tokens yet. Generate one to let a script or tool call the API as you.",
    }
    .to_owned()
}

/// Errors of the create form, next to their fields.
#[derive(Default)]
struct FieldErrors {
    name: Option<String>,
    description: Option<String>,
    expires: Option<String>,
    scopes: Option<String>,
    form: Option<String>,
}

/// The create form.
#[derive(Template)]
#[template(path = "token_new.html")]
struct CreatePage {
    chrome: Chrome,
    csrf: String,
    name: String,
    description: String,
    days: String,
    max_days: u32,
    picker: ScopePicker,
    errors: FieldErrors,
}

fn picker_input(form: &FormData) -> PickerInput {
    let mut input = PickerInput {
        full_access: form.checked("full_access"),
        checked: form.all("scope").map(str::to_owned).collect(),
        custom_resource: form.get("custom_resource").trim().to_owned(),
        custom_ops: form.all("custom_op").map(str::to_owned).collect(),
        custom_ids: form.get("custom_ids").to_owned(),
        ..PickerInput::default()
    };
    for (key, value) in form.fields() {
        if let Some(resource) = key.strip_prefix("ids:") {
            input.ids.insert(resource.to_owned(), value.to_owned());
        }
    }
    input
}

async fn create_page(
    who: &SignedIn,
    status: StatusCode,
    form: &FormData,
    days: String,
    errors: FieldErrors,
) -> PageResult {
    let service = &who.state.service;
    let max_days = service.current_settings().await?.max_lifetime_days;
    let days = if days.is_empty() {
        DEFAULT_DAYS.min(max_days).to_string()
    } else {
        days
    };
    Ok(html(
        status,
        &CreatePage {
            chrome: who.chrome("New personal access token"),
            csrf: who.csrf.clone(),
            name: form.get("name").to_owned(),
            description: form.get("description").to_owned(),
            days,
            max_days,
            picker: ScopePicker::new(service.catalog(), who.role(), &picker_input(form)),
            errors,
        },
    ))
}

/// `GET /tokens/new`: the create form (or why creation is not possible now).
pub async fn new_form(who: SignedIn) -> PageResult {
    match create_state(&who).await? {
        CreateState::Allowed => {}
        CreateState::AtLimit(reason) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "active_limit", reason).into());
        }
        CreateState::Disabled => return Err(ServiceError::PatsDisabled.into()),
        CreateState::NotForRole => {
            return Err(ServiceError::ForbiddenRole {
                role: who.role(),
                action: "create tokens",
            }
            .into());
        }
    }
    create_page(
        &who,
        StatusCode::OK,
        &FormData::default(),
        String::new(),
        FieldErrors::default(),
    )
    .await
}

/// Puts a refusal next to the field it is about; anything else is the form's.
fn field_errors(err: &ServiceError) -> Option<FieldErrors> {
    let text = Some(err.to_string());
    let mut errors = FieldErrors::default();
    match err {
        ServiceError::InvalidName(_) | ServiceError::DuplicateName { .. } => errors.name = text,
        ServiceError::InvalidDescription(_) => errors.description = text,
        ServiceError::InvalidExpiry(_) => errors.expires = text,
        ServiceError::InvalidScope(_)
        | ServiceError::NoScopes
        | ServiceError::TooManyScopes { .. }
        | ServiceError::ScopeEscalation(_) => errors.scopes = text,
        ServiceError::ActiveLimit { .. }
        | ServiceError::PatsDisabled
        | ServiceError::ForbiddenRole { .. } => errors.form = text,
        _ => return None,
    }
    Some(errors)
}

/// Parses the expiry field: whole days.
fn days_field(raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| format!("enter a whole number of days, got {:?}", raw.trim()))
}

/// `POST /tokens/new`: creates the token, keeps its secret for the token page (shown
/// once there) and redirects, so the secret is in no URL and reload shows nothing new.
pub async fn create(posted: Posted) -> PageResult {
    let Posted { who, form } = posted;
    let days_text = form.get("expires_in_days").trim().to_owned();
    let expires_in_days = match days_field(&days_text) {
        Ok(days) => days,
        Err(message) => {
            let errors = FieldErrors {
                expires: Some(message),
                ..FieldErrors::default()
            };
            return create_page(
                &who,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                days_text,
                errors,
            )
            .await;
        }
    };
    let request = CreateTokenRequest {
        name: form.get("name").to_owned(),
        description: form.get("description").to_owned(),
        expires_in_days,
        scopes: picker_input(&form).scope_texts(),
    };
    match who.state.service.create_token(&who.actor, request).await {
        Ok(issued) => {
            let id = issued.token.id;
            who.state
                .sessions
                .hold_secret(&who.session_id, id, issued.secret);
            Ok(see_other(&format!("/tokens/{id}")))
        }
        Err(err) => match field_errors(&err) {
            Some(errors) => {
                let status = ApiError::from(err).status();
                create_page(&who, status, &form, days_text, errors).await
            }
            None => Err(err.into()),
        },
    }
}

/// The token page.
#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage {
    chrome: Chrome,
    csrf: String,
    token: TokenRow,
    secret: Option<String>,
    events: Vec<EventView>,
    max_days: u32,
    default_days: u32,
    operations: Vec<(&'static str, &'static str)>,
    resources: Vec<String>,
    may_regenerate: bool,
    /// Collaborators may not broaden a token, so they get no add-scope form.
    may_add_scopes: bool,
    scope_error: Option<String>,
    regenerate_error: Option<String>,
    notice: Option<&'static str>,
}

/// Form errors shown on the token page.
#[derive(Default)]
struct TokenPageErrors {
    scope: Option<String>,
    regenerate: Option<String>,
}

async fn token_page(
    who: &SignedIn,
    id: TokenId,
    status: StatusCode,
    errors: TokenPageErrors,
    notice: Option<&'static str>,
) -> PageResult {
    let service = &who.state.service;
    let token = service.get_token(&who.actor, id).await?;
    if token.owner != who.actor.user.id {
        // Admins reach others' tokens from the admin pages, not this one.
        return Err(ApiError::not_found().into());
    }
    let events = service
        .token_events(
            &who.actor,
            id,
            PageRequest::new(1, HISTORY_SIZE).map_err(ServiceError::from)?,
        )
        .await?;
    let max_days = service.current_settings().await?.max_lifetime_days;
    let resources = match service.catalog().names() {
        Some(names) => names
            .filter(|n| who.role() == Role::Admin || *n != "admin")
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let secret = service_secret(who, id);
    Ok(html(
        status,
        &TokenPage {
            chrome: who.chrome(token.name.as_str()),
            csrf: who.csrf.clone(),
            token: TokenRow::new(&token, service.now()),
            secret,
            events: events.items.iter().map(EventView::from).collect(),
            max_days,
            default_days: DEFAULT_DAYS.min(max_days),
            operations: operation_options(),
            resources,
            may_regenerate: who.role() != Role::Collaborator,
            may_add_scopes: who.role() != Role::Collaborator,
            scope_error: errors.scope,
            regenerate_error: errors.regenerate,
            notice,
        },
    ))
}

/// The secret held for this session and token, taken: it is shown this once.
fn service_secret(who: &SignedIn, id: TokenId) -> Option<String> {
    who.state
        .sessions
        .take_secret(&who.session_id, id)
        .map(|secret| secret.expose().to_owned())
}

/// `GET /tokens/{id}`: details, scopes, history; the new secret once after create or
/// regenerate.
pub async fn show(who: SignedIn, id: Path<String>, params: Params) -> PageResult {
    token_page(
        &who,
        token_id(&id)?,
        StatusCode::OK,
        TokenPageErrors::default(),
        notice(&params),
    )
    .await
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    who.state.service.revoke_token(&who.actor, id).await?;
    Ok(see_other(&format!("/tokens/{id}?done=revoked")))
}

/// `POST /tokens/{id}/regenerate`: a new secret with a new expiry; the old one stops
/// working at once.
pub async fn regenerate(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let Posted { who, form } = posted;
    let refused = |message: String| TokenPageErrors {
        regenerate: Some(message),
        ..TokenPageErrors::default()
    };
    let days = match days_field(form.get("expires_in_days")) {
        Ok(days) => days,
        Err(message) => {
            return token_page(
                &who,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                refused(message),
                None,
            )
            .await;
        }
    };
    match who
        .state
        .service
        .regenerate_token(&who.actor, id, days)
        .await
    {
        Ok(issued) => {
            who.state
                .sessions
                .hold_secret(&who.session_id, id, issued.secret);
            Ok(see_other(&format!("/tokens/{id}")))
        }
        Err(err @ (ServiceError::InvalidExpiry(_) | ServiceError::ActiveLimit { .. })) => {
            let status = ApiError::from(err.clone()).status();
            token_page(&who, id, status, refused(err.to_string()), None).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /tokens/{id}/scopes`: adds one scope from the add-scope form.
pub async fn add_scope(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let Posted { who, form } = posted;
    let resource = form.get("resource").trim();
    let operation = form.get("operation").trim();
    let ids: Vec<&str> = form
        .get("ids")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let scope = if form.checked("full_access") {
        "*:*".to_owned()
    } else if ids.is_empty() {
        format!("{resource}:{operation}")
    } else {
        format!("{resource}:{operation}:{}", ids.join(","))
    };
    match who.state.service.add_scopes(&who.actor, id, &[scope]).await {
        Ok(_) => Ok(see_other(&format!("/tokens/{id}?done=scopes"))),
        Err(err) if field_errors(&err).is_some_and(|e| e.scopes.is_some()) => {
            let errors = TokenPageErrors {
                scope: Some(err.to_string()),
                ..TokenPageErrors::default()
            };
            token_page(&who, id, StatusCode::UNPROCESSABLE_ENTITY, errors, None).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /tokens/{id}/scopes/{scope_id}/remove`.
pub async fn remove_scope(posted: Posted, path: Path<(String, String)>) -> PageResult {
    let (id, scope) = path.into_inner();
    let id = token_id(&id)?;
    let scope = ScopeId::from_str(&scope).map_err(|_| WebError::Refused(ApiError::not_found()))?;
    let who = posted.who;
    who.state
        .service
        .remove_scope(&who.actor, id, scope)
        .await?;
    Ok(see_other(&format!("/tokens/{id}?done=scopes")))
}

/// `POST /tokens/{id}/scopes/clear`: removes every scope (the token then allows
/// nothing until scopes are added).
pub async fn clear_scopes(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    who.state.service.clear_scopes(&who.actor, id).await?;
    Ok(see_other(&format!("/tokens/{id}?done=scopes")))
}

/// A confirmation step for destructive actions, usable without JavaScript.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// Layout.
    pub chrome: Chrome,
    /// CSRF token for the form.
    pub csrf: String,
    /// What will happen.
    pub message: String,
    /// Where the form posts.
    pub action: String,
    /// The confirming button's text.
    pub button: &'static str,
    /// Where "Cancel" goes.
    pub cancel: String,
}

/// `GET /tokens/{id}/delete`: asks before deleting.
pub async fn confirm_delete(who: SignedIn, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let token = who.state.service.get_token(&who.actor, id).await?;
    ok(&ConfirmPage {
        chrome: who.chrome("Delete token"),
        csrf: who.csrf.clone(),
        message: format!(
            "Delete the token \u{201c}{}\u{201d}? Anything using it stops working, and its history is kept only in the audit log.",
            token.name.as_str()
        ),
        action: format!("/tokens/{id}/delete"),
        button: "Delete this token",
        cancel: format!("/tokens/{id}"),
    })
}

/// `POST /tokens/{id}/delete`.
pub async fn delete(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let who = posted.who;
    who.state.service.delete_token(&who.actor, id).await?;
    Ok(see_other("/tokens?status=all&done=deleted"))
}

/// `GET /tokens/delete-all`: asks before deleting every token.
pub async fn confirm_delete_all(who: SignedIn) -> PageResult {
    ok(&ConfirmPage {
        chrome: who.chrome("Delete all tokens"),
        csrf: who.csrf.clone(),
        message:
            "Delete all your personal access tokens? Everything using any of them stops working."
                .to_owned(),
        action: "/tokens/delete-all".to_owned(),
        button: "Delete all my tokens",
        cancel: "/tokens".to_owned(),
    })
}

/// `POST /tokens/delete-all`.
pub async fn delete_all(posted: Posted) -> PageResult {
    let who = posted.who;
    who.state.service.delete_all_tokens(&who.actor).await?;
    Ok(see_other("/tokens?status=all&done=deleted_all"))
}
