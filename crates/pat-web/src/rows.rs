//! What the admin and token pages show of users, audit events and outbox messages: the
//! web UI's own shapes, independent of the REST API's JSON.

use chrono::SecondsFormat;
use pat_core::model::{AuditEvent, OutboxMessage, User};

/// A user, as the users page lists them.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin`, `member` or `collaborator`.
    pub role: &'static str,
    /// Whether the user may sign in.
    pub active: bool,
}

impl From<&User> for UserRow {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str(),
            active: user.active,
        }
    }
}

/// One audit event, as a history table shows it.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// When (RFC 3339 UTC).
    pub at: String,
    /// What, e.g. `token.created`.
    pub action: &'static str,
    /// For a failed authentication: why.
    pub reason: Option<&'static str>,
    /// Client address.
    pub ip: Option<String>,
    /// Extra facts.
    pub detail: String,
}

impl From<&AuditEvent> for EventRow {
    fn from(event: &AuditEvent) -> Self {
        Self {
            at: event.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            action: event.action.as_str(),
            reason: event.action.reason().map(|r| r.as_str()),
            ip: event.ip.map(|ip| ip.to_string()),
            detail: event.detail.clone(),
        }
    }
}

/// One outbox message, as the outbox page lists it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// `expiring_soon`, `expired`, `created`, `regenerated` or `leak_revoked`.
    pub kind: &'static str,
    /// Recipient address.
    pub email: String,
    /// The token's name.
    pub token_name: String,
    /// `pending`, `sent` or `failed`.
    pub status: &'static str,
    /// Attempts so far.
    pub attempts: u32,
    /// Next attempt.
    pub next_attempt_at: String,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: String,
    /// Accepted by the mail server.
    pub sent_at: Option<String>,
}

impl From<&OutboxMessage> for OutboxRow {
    fn from(message: &OutboxMessage) -> Self {
        let time =
            |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
        Self {
            kind: message.notice.kind.as_str(),
            email: message.notice.recipient.email.clone(),
            token_name: message.notice.token_name.clone(),
            status: message.status.as_str(),
            attempts: message.attempts,
            next_attempt_at: time(message.next_attempt_at),
            last_error: message.last_error.clone(),
            created_at: time(message.created_at),
            sent_at: message.sent_at.map(time),
        }
    }
}
