//! The "Personal Access Tokens" pages: the list, create, the secret shown once, the
//! token page with its scopes and history, revoke, regenerate and delete.

mod edits;
mod listing;

pub use edits::*;
pub use listing::*;

use std::collections::HashMap;
use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::web::{Path, Query};
use askama::Template;
use pat_core::model::{PageRequest, Role, ScopeId, StatusFilter, TokenId, TokenStatus};
use pat_core::{
    AddScopesError, CreateTokenError, CreateTokenRequest, CreationAllowance, Denied,
    ListTokensRequest, RegenerateError,
};
use pat_http::ApiError;

use crate::display::{PickerInput, ScopePicker, TokenRow, operation_options};
use crate::plumbing::{
    Chrome, FormData, PageResult, Posted, SignedIn, WebError, html, ok, see_other,
};
use crate::rows::EventRow;

/// Tokens per list page.
const PAGE_SIZE: u32 = 20;
/// History entries on the token page.
const HISTORY_SIZE: u32 = 50;
/// The expiry the create form suggests (capped by the current maximum).
const DEFAULT_DAYS: u32 = 30;

type Params = Query<HashMap<String, String>>;

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
        CreateState::Disabled => return Err(CreateTokenError::PatsDisabled.into()),
        CreateState::NotForRole => {
            return Err(Denied::Role {
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
fn field_errors(err: &CreateTokenError) -> Option<FieldErrors> {
    use CreateTokenError as E;
    let text = Some(err.to_string());
    let mut errors = FieldErrors::default();
    match err {
        E::InvalidName(_) | E::DuplicateName { .. } => errors.name = text,
        E::InvalidDescription(_) => errors.description = text,
        E::InvalidExpiry(_) => errors.expires = text,
        E::Scopes(_) | E::Escalation(_) => errors.scopes = text,
        E::ActiveLimit { .. } | E::PatsDisabled | E::Denied(Denied::Role { .. }) => {
            errors.form = text;
        }
        E::Denied(_) | E::Randomness(_) | E::Storage(_) => return None,
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
        // The secret is shown in this response (never stored, `no-store`), so any
        // instance serves it, once.
        Ok(issued) => {
            token_page(
                &who,
                issued.token.id,
                StatusCode::CREATED,
                TokenPageErrors::default(),
                None,
                Some(issued.secret),
            )
            .await
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
    events: Vec<EventRow>,
    max_days: u32,
    default_days: u32,
    /// The admin's longest grace period for the previous secret (0: none offered).
    max_grace_minutes: u32,
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
    secret: Option<pat_core::TokenSecret>,
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
            PageRequest::new(1, HISTORY_SIZE).map_err(WebError::invalid_page)?,
        )
        .await?;
    let settings = service.current_settings().await?;
    let max_days = settings.max_lifetime_days;
    let resources = match service.catalog().names() {
        Some(names) => names
            .filter(|n| who.role() == Role::Admin || *n != "admin")
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let secret = secret.map(|s| s.expose().to_owned());
    Ok(html(
        status,
        &TokenPage {
            chrome: who.chrome(token.name.as_str()),
            csrf: who.csrf.clone(),
            token: TokenRow::new(&token, service.now()),
            secret,
            events: events.items.iter().map(EventRow::from).collect(),
            max_days,
            default_days: DEFAULT_DAYS.min(max_days),
            max_grace_minutes: settings.max_grace_minutes,
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

/// `GET /tokens/{id}`: details, scopes, history.
pub async fn show(who: SignedIn, id: Path<String>, params: Params) -> PageResult {
    token_page(
        &who,
        token_id(&id)?,
        StatusCode::OK,
        TokenPageErrors::default(),
        notice(&params),
        None,
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
/// working at once, or when the grace period asked for ends.
pub async fn regenerate(posted: Posted, id: Path<String>) -> PageResult {
    let id = token_id(&id)?;
    let Posted { who, form } = posted;
    let refused = |message: String| TokenPageErrors {
        regenerate: Some(message),
        ..TokenPageErrors::default()
    };
    let asked = days_field(form.get("expires_in_days")).and_then(|days| {
        let grace = match form.get("grace_minutes").trim() {
            "" => None,
            raw => Some(raw.parse::<i64>().map_err(|_| {
                format!("enter a whole number of minutes for the grace period, got {raw:?}")
            })?),
        };
        Ok((days, grace))
    });
    let (days, grace) = match asked {
        Ok(asked) => asked,
        Err(message) => {
            return token_page(
                &who,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                refused(message),
                None,
                None,
            )
            .await;
        }
    };
    match who
        .state
        .service
        .regenerate_token(&who.actor, id, days, grace)
        .await
    {
        Ok(issued) => {
            token_page(
                &who,
                id,
                StatusCode::OK,
                TokenPageErrors::default(),
                None,
                Some(issued.secret),
            )
            .await
        }
        Err(
            err @ (RegenerateError::InvalidExpiry(_)
            | RegenerateError::InvalidGrace(_)
            | RegenerateError::ActiveLimit { .. }),
        ) => {
            let status = ApiError::from(err.clone()).status();
            token_page(&who, id, status, refused(err.to_string()), None, None).await
        }
        Err(err) => Err(err.into()),
    }
}
