//! Wire shapes: what the API reads and writes, translated to and from the domain.

use chrono::{DateTime, SecondsFormat, Utc};
use pat_core::IssuedToken;
use pat_core::model::{AuditEvent, OutboxMessage, Page, Principal, RevocationReason, Token, User};
use pat_core::policy::Settings;
use pat_core::scope::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::problem::ApiError;

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A granted scope.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScopeView {
    /// The scope's id (to remove it alone).
    pub id: String,
    /// Text form, e.g. `jobs:list` or `channels:publish:c1,c2`.
    pub scope: String,
    /// Resource, or `*`.
    pub resource: String,
    /// Operation, or `*`.
    pub operation: String,
    /// Target ids, or `["*"]` for any.
    pub targets: Vec<String>,
}

impl From<&Scope> for ScopeView {
    fn from(scope: &Scope) -> Self {
        Self {
            id: scope.id.to_string(),
            scope: scope.spec.to_string(),
            resource: scope.spec.resource().unwrap_or("*").to_owned(),
            operation: scope
                .spec
                .operation()
                .map_or("*", |op| op.as_str())
                .to_owned(),
            targets: scope.spec.targets().to_strings(),
        }
    }
}

/// A token, without its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    /// Id (kept across regeneration).
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// Granted scopes.
    pub scopes: Vec<ScopeView>,
    /// Created (RFC 3339 UTC).
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Expiry of the current secret.
    pub expires_at: String,
    /// When revoked, if it is.
    pub revoked_at: Option<String>,
    /// Why it was revoked: `owner` (may be regenerated), `admin`, `leak_report` or
    /// `reuse_detected` (may not); null while not revoked.
    #[schema(value_type = Option<String>, example = "owner")]
    pub revoked_reason: Option<&'static str>,
    /// Last authentication (written at most once a minute).
    pub last_used_at: Option<String>,
    /// Client address of the last authentication.
    pub last_used_ip: Option<String>,
    /// 1, plus one per regeneration.
    pub generation: u32,
    /// Last 4 characters of the secret.
    pub hint: String,
}

impl TokenView {
    /// The view of `token` with its status at `now`.
    pub fn new(token: &Token, now: DateTime<Utc>) -> Self {
        Self {
            id: token.id.to_string(),
            name: token.name.as_str().to_owned(),
            description: token.description.as_str().to_owned(),
            status: token.status(now).as_str().to_owned(),
            scopes: token.scopes.iter().map(ScopeView::from).collect(),
            created_at: time(token.created_at),
            updated_at: time(token.updated_at),
            expires_at: time(token.expires_at),
            revoked_at: token.revoked_at.map(time),
            revoked_reason: token.revoked_reason.map(RevocationReason::as_str),
            last_used_at: token.last_used_at.map(time),
            last_used_ip: token.last_used_ip.map(|ip| ip.to_string()),
            generation: token.generation,
            hint: token.hint.clone(),
        }
    }
}

/// A token just created or regenerated, with its secret: shown once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedView {
    /// The token.
    pub token: TokenView,
    /// The secret. Store it now: it is never shown again.
    pub secret: String,
}

impl IssuedView {
    /// The view of a fresh token.
    pub fn new(issued: &IssuedToken, now: DateTime<Utc>) -> Self {
        Self {
            token: TokenView::new(&issued.token, now),
            secret: issued.secret.expose().to_owned(),
        }
    }
}

/// A user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin`, `member` or `collaborator`.
    pub role: String,
    /// Inactive users cannot sign in and their tokens do not authenticate.
    pub active: bool,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            active: user.active,
        }
    }
}

/// The admin settings.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct SettingsView {
    /// Off: no token creation and no token authentication.
    pub pats_enabled: bool,
    /// Longest token lifetime, 1..=366 days.
    #[schema(minimum = 1, maximum = 366)]
    pub max_lifetime_days: u32,
    /// Most active tokens per user, 1..=100.
    #[schema(minimum = 1, maximum = 100)]
    pub max_active_per_user: u32,
    /// Days before expiry the owner is mailed, 1..=90.
    #[schema(minimum = 1, maximum = 90)]
    pub expiry_warning_days: u32,
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> Self {
        Self {
            pats_enabled: s.pats_enabled,
            max_lifetime_days: s.max_lifetime_days,
            max_active_per_user: s.max_active_per_user,
            expiry_warning_days: s.expiry_warning_days,
        }
    }
}

impl From<SettingsView> for Settings {
    fn from(s: SettingsView) -> Self {
        Self {
            pats_enabled: s.pats_enabled,
            max_lifetime_days: s.max_lifetime_days,
            max_active_per_user: s.max_active_per_user,
            expiry_warning_days: s.expiry_warning_days,
        }
    }
}

/// One audit log entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    /// Id.
    pub id: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// What, e.g. `token.created` or `auth.failed`.
    pub action: String,
    /// For `auth.failed`: why (`malformed`, `unknown`, `expired`, `revoked`, …).
    pub reason: Option<String>,
    /// Who did it.
    pub actor_id: Option<String>,
    /// Whose token or account.
    pub owner_id: Option<String>,
    /// Which token.
    pub token_id: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Extra facts.
    pub detail: String,
}

impl From<&AuditEvent> for EventView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            action: e.action.as_str().to_owned(),
            reason: e.action.reason().map(|r| r.as_str().to_owned()),
            actor_id: e.actor.map(|id| id.to_string()),
            owner_id: e.owner.map(|id| id.to_string()),
            token_id: e.token_id.map(|id| id.to_string()),
            ip: e.ip.map(|ip| ip.to_string()),
            detail: e.detail.clone(),
        }
    }
}

/// One message in the mail outbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxView {
    /// Id.
    pub id: String,
    /// `expiring_soon`, `expired`, `created` or `leak_revoked`.
    pub kind: String,
    /// Recipient address.
    pub email: String,
    /// The token it is about.
    pub token_id: String,
    /// Its name.
    pub token_name: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt (pending messages).
    pub next_attempt_at: String,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: String,
    /// Accepted by the mail server.
    pub sent_at: Option<String>,
}

impl From<&OutboxMessage> for OutboxView {
    fn from(m: &OutboxMessage) -> Self {
        Self {
            id: m.id.to_string(),
            kind: m.notice.kind.as_str().to_owned(),
            email: m.notice.recipient.email.clone(),
            token_id: m.notice.token_id.to_string(),
            token_name: m.notice.token_name.clone(),
            status: m.status.as_str().to_owned(),
            attempts: m.attempts,
            next_attempt_at: time(m.next_attempt_at),
            last_error: m.last_error.clone(),
            created_at: time(m.created_at),
            sent_at: m.sent_at.map(time),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageView<T> {
    /// The items.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// Items on all pages.
    pub total_items: u64,
    /// Pages.
    pub total_pages: u64,
}

impl<T> PageView<T> {
    /// Maps a domain page.
    pub fn new<D>(page: Page<D>, f: impl FnMut(&D) -> T) -> Self {
        let total_pages = page.total_pages();
        Self {
            items: page.items.iter().map(f).collect(),
            page: page.page,
            page_size: page.page_size,
            total_items: page.total_items,
            total_pages,
        }
    }
}

/// The presenting token, in `GET /me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeToken {
    /// Its id.
    pub id: String,
    /// Its scopes.
    pub scopes: Vec<ScopeView>,
}

/// `GET /me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeView {
    /// The caller.
    pub user: UserView,
    /// The token used, if the caller used one.
    pub token: Option<MeToken>,
}

impl MeView {
    /// The caller's view.
    pub fn new(user: &User, principal: Option<&Principal>) -> Self {
        Self {
            user: UserView::from(user),
            token: principal.map(|p| MeToken {
                id: p.token_id.to_string(),
                scopes: p.scopes.iter().map(ScopeView::from).collect(),
            }),
        }
    }
}

/// `POST /tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateTokenBody {
    /// 1–64 characters, unique among your tokens (ignoring case).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// 0–500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Whole days, 1 to the admin's maximum (default 180; at most 366).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
    /// At least one scope, e.g. `["jobs:list"]`; `*:*` is full access as you.
    #[schema(min_items = 1, max_items = 50, value_type = Vec<ScopeText>)]
    pub scopes: Vec<String>,
}

/// A scope in text form: `resource:operation` or `resource:operation:id,id`, with
/// `*` for any resource or operation.
#[derive(Debug, Clone, ToSchema)]
#[schema(
    pattern = r"^(\*|[a-z][a-z0-9_-]{0,31}):(\*|create|read|list|update|delete|share|unshare|publish|subscribe)(:(\*|[A-Za-z0-9._@-]{1,128}(,[A-Za-z0-9._@-]{1,128}){0,99}))?$",
    example = "jobs:list"
)]
pub struct ScopeText(pub String);

/// The `status` filter of token lists.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TokenStatusParam {
    /// Usable now.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Every token.
    All,
}

/// The `status` filter of the mail outbox.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeliveryStatusParam {
    /// Waiting to be sent (or retried).
    Pending,
    /// Accepted by the mail server.
    Sent,
    /// Given up on.
    Failed,
}

/// `POST /introspect`'s form body (RFC 7662).
#[derive(Debug, Clone, ToSchema)]
pub struct IntrospectForm {
    /// The token to introspect.
    pub token: String,
}

/// `PATCH /tokens/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateTokenBody {
    /// New name.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
    /// New description.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// `POST /tokens/{id}/regenerate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegenerateBody {
    /// New lifetime in whole days, 1 to the admin's maximum (default 180; at most 366).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
}

/// `POST /tokens/{id}/scopes`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ScopesBody {
    /// Scopes to add.
    #[schema(min_items = 1, max_items = 50, value_type = Vec<ScopeText>)]
    pub scopes: Vec<String>,
}

/// `POST /session`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /session` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// Who signed in.
    pub user: UserView,
    /// Send as `X-CSRF-Token` on every cookie-authenticated write.
    pub csrf_token: String,
}

/// `POST /admin/users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewUserBody {
    /// Email, unique ignoring case.
    #[schema(format = Email)]
    pub email: String,
    /// Display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// `admin`, `member` or `collaborator`.
    #[schema(pattern = "^(admin|member|collaborator)$")]
    pub role: String,
    /// 8–256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// `PATCH /admin/users/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateUserBody {
    /// New role.
    pub role: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// `POST /credentials/revoke`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LeakReportBody {
    /// Up to 1000 strings that may be leaked tokens.
    pub credentials: Vec<String>,
}

/// A JSON number as a whole number: an integer, or a number without a fraction small
/// enough to be exact (JSON Schema counts 30.0 as an integer; 30.5 is not one).
fn whole_number(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 1e15)
            .map(|f| f as i64)
    })
}

/// The JSON object of a request body, with field readers that name the field's own
/// error code when it is missing or of the wrong type.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Parses a JSON object body.
    ///
    /// # Errors
    /// 400 `invalid_json` for anything but a JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }

    /// A required string.
    ///
    /// # Errors
    /// `code` when missing or not a string.
    pub fn string(&self, field: &str, code: &'static str) -> Result<String, ApiError> {
        self.optional_string(field, code)?.ok_or_else(|| {
            ApiError::unprocessable(code, format!("{field} is required and must be a string"))
        })
    }

    /// An optional string (absent or null is `None`).
    ///
    /// # Errors
    /// `code` when present but not a string.
    pub fn optional_string(
        &self,
        field: &str,
        code: &'static str,
    ) -> Result<Option<String>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::unprocessable(
                code,
                format!("{field} must be a string, got {other}"),
            )),
        }
    }

    /// An optional boolean.
    ///
    /// # Errors
    /// `code` when present but not a boolean.
    pub fn optional_bool(&self, field: &str, code: &'static str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ApiError::unprocessable(
                code,
                format!("{field} must be true or false, got {other}"),
            )),
        }
    }

    /// A required whole number of days.
    ///
    /// # Errors
    /// `invalid_expiry` when missing, fractional, or not a number.
    pub fn days(&self, field: &str, max: u32) -> Result<i64, ApiError> {
        let refuse = |got: String| {
            ApiError::unprocessable(
                "invalid_expiry",
                format!("{field} must be a whole number between 1 and {max}, got {got}"),
            )
        };
        match self.0.get(field) {
            None | Some(Value::Null) => Err(refuse("nothing".to_owned())),
            Some(Value::Number(n)) => whole_number(n).ok_or_else(|| refuse(n.to_string())),
            Some(other) => Err(refuse(other.to_string())),
        }
    }

    /// A required list of strings.
    ///
    /// # Errors
    /// `code` when missing or not a list of strings.
    pub fn strings(&self, field: &str, code: &'static str) -> Result<Vec<String>, ApiError> {
        let refuse = || {
            ApiError::unprocessable(
                code,
                format!("{field} must be a list of strings, e.g. [\"jobs:list\"]"),
            )
        };
        match self.0.get(field) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(refuse))
                .collect(),
            _ => Err(refuse()),
        }
    }

    /// A required unsigned number.
    ///
    /// # Errors
    /// `code` when missing or not a non-negative whole number.
    pub fn number(&self, field: &str, code: &'static str) -> Result<u32, ApiError> {
        self.0
            .get(field)
            .and_then(Value::as_number)
            .and_then(whole_number)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::unprocessable(
                    code,
                    format!("{field} is required and must be a whole number"),
                )
            })
    }

    /// A required boolean.
    ///
    /// # Errors
    /// `code` when missing or not a boolean.
    pub fn boolean(&self, field: &str, code: &'static str) -> Result<bool, ApiError> {
        self.optional_bool(field, code)?.ok_or_else(|| {
            ApiError::unprocessable(
                code,
                format!("{field} is required and must be true or false"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        Fields::parse(json.as_bytes()).expect("a JSON object")
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let body = fields(r#"{"a": 30, "b": 30.0, "c": 30.5, "d": -1, "e": 4294967296, "f": "3"}"#);
        assert_eq!(body.days("a", 180).expect("integer"), 30);
        assert_eq!(body.days("b", 180).expect("30.0 is whole"), 30);
        assert_eq!(body.number("a", "x").expect("integer"), 30);
        // Found while fuzzing: days took 30.0 but number refused 180.0 as "not whole".
        assert_eq!(body.number("b", "x").expect("30.0 is whole"), 30);
        for refused in ["c", "d", "e", "f", "missing"] {
            assert_eq!(
                body.number(refused, "x").unwrap_err().code(),
                "x",
                "{refused}"
            );
        }
        for refused in ["c", "f", "missing"] {
            assert_eq!(
                body.days(refused, 180).unwrap_err().code(),
                "invalid_expiry",
                "{refused}"
            );
        }
    }
}
