//! Wire shapes: what the API reads and writes, translated to and from the domain.

use chrono::{DateTime, SecondsFormat, Utc};
use pat_core::IssuedToken;
use pat_core::model::{AuditEvent, OutboxMessage, Page, Principal, RevocationReason, Token, User};
use pat_core::policy::Settings;
use pat_core::scope::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use pat_http::ApiError;

mod bodies;
mod requests;

pub use bodies::*;

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
    /// Until when the secret before the last regeneration still works (a grace
    /// period); null when it no longer does.
    pub previous_secret_expires_at: Option<String>,
    /// When a secret rotated away was last used after its grace period (a leak); null
    /// when not since the last regeneration.
    pub reuse_detected_at: Option<String>,
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
            previous_secret_expires_at: token.previous_secret_live_until(now).map(time),
            reuse_detected_at: token.reuse_detected_at.map(time),
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
    /// Until when the previous secret keeps working (the grace period asked for); null
    /// when it stopped at once.
    pub previous_secret_expires_at: Option<String>,
}

impl IssuedView {
    /// The view of a fresh token.
    pub fn new(issued: &IssuedToken, now: DateTime<Utc>) -> Self {
        Self {
            token: TokenView::new(&issued.token, now),
            secret: issued.secret.expose().to_owned(),
            previous_secret_expires_at: issued.token.previous_secret_live_until(now).map(time),
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
    /// Longest grace period a regeneration may give the previous secret, 0..=10080
    /// minutes (absent on `PUT`: unchanged).
    #[schema(minimum = 0, maximum = 10080, required = false)]
    pub max_grace_minutes: u32,
    /// Revoke a token whose rotated-away secret is used after its grace period (off:
    /// report only; absent on `PUT`: unchanged).
    #[schema(required = false)]
    pub revoke_on_reuse: bool,
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> Self {
        Self {
            pats_enabled: s.pats_enabled,
            max_lifetime_days: s.max_lifetime_days,
            max_active_per_user: s.max_active_per_user,
            expiry_warning_days: s.expiry_warning_days,
            max_grace_minutes: s.max_grace_minutes,
            revoke_on_reuse: s.revoke_on_reuse,
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
            max_grace_minutes: s.max_grace_minutes,
            revoke_on_reuse: s.revoke_on_reuse,
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
    /// The generation of the secret presented: the token's current one, or the one
    /// before it during a grace period.
    pub generation: u32,
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
                generation: p.generation,
            }),
        }
    }
}

/// `POST /session` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// Who signed in.
    pub user: UserView,
    /// Send as `X-CSRF-Token` on every cookie-authenticated write.
    pub csrf_token: String,
}
