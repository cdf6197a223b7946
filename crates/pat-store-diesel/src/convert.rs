//! Rows ↔ domain types, driver errors → `StoreError`, and the locked write transaction.

use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use pat_core::allowlist::{IpAllowlist, IpPolicy};
use pat_core::model::{
    AuditAction, AuditEvent, DeliveryStatus, EventId, MessageId, Notice, NoticeKind, OutboxMessage,
    Recipient, ReminderState, RevocationReason, Role, ScopeId, Token, TokenId, User, UserId,
};
use pat_core::policy::{Description, Settings, TokenName};
use pat_core::ports::{Cause, PasswordLink, RetiredSecret, SessionRecord, StoreError};
use pat_core::scope::{ResourceCatalog, Scope, ScopeSpec};
use pat_core::session::SecretDigest;
use pat_core::token::SecretHash;
use uuid::Uuid;

use crate::schema::{
    audit_events, outbox, password_links, retired_secrets, sessions, settings, token_scopes,
    tokens, users,
};

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("timestamp", &micros.to_string()))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(Cause::found(format!(
        "stored {what} {value:?} cannot be read back"
    )))
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| corrupt("id", text))
}

/// A stored user id.
pub(crate) fn user_id(text: &str) -> Result<UserId, StoreError> {
    uuid(text).map(UserId)
}

fn ip(text: Option<String>) -> Result<Option<IpAddr>, StoreError> {
    text.map(|t| IpAddr::from_str(&t).map_err(|_| corrupt("ip address", &t)))
        .transpose()
}

/// A stored allowlist: comma-separated ranges, empty for anywhere.
fn allowlist(text: &str) -> Result<IpAllowlist, StoreError> {
    let ranges: Vec<&str> = text.split(',').filter(|r| !r.is_empty()).collect();
    IpAllowlist::parse(&ranges).map_err(|_| corrupt("allowed ips", text))
}

fn generation(value: i32) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt("generation", &value.to_string()))
}

pub(crate) fn hash_text(hash: &SecretHash) -> String {
    hex::encode(hash.as_bytes())
}

pub(crate) fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A `tokens` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub(crate) struct TokenRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub name_folded: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub generation: i32,
    pub secret_hash: String,
    pub hint: String,
    pub expiring_soon_sent_for: Option<i32>,
    pub expired_sent_for: Option<i32>,
    pub previous_secret_valid_until: Option<i64>,
    pub reuse_detected_at: Option<i64>,
    pub allowed_ips: String,
    pub ip_policy: String,
    pub not_before: Option<i64>,
}

impl TokenRow {
    pub(crate) fn from_token(token: &Token) -> Self {
        Self {
            id: token.id.to_string(),
            owner_id: token.owner.to_string(),
            name: token.name.as_str().to_owned(),
            name_folded: token.name.folded(),
            description: token.description.as_str().to_owned(),
            created_at: micros(token.created_at),
            updated_at: micros(token.updated_at),
            expires_at: micros(token.expires_at),
            revoked_at: token.revoked_at.map(micros),
            revoked_reason: token.revoked_reason.map(|r| r.as_str().to_owned()),
            last_used_at: token.last_used_at.map(micros),
            last_used_ip: token.last_used_ip.map(|ip| ip.to_string()),
            generation: to_i32(token.generation),
            secret_hash: hash_text(&token.secret_hash),
            hint: token.hint.clone(),
            expiring_soon_sent_for: token.reminders.expiring_soon_sent_for.map(to_i32),
            expired_sent_for: token.reminders.expired_sent_for.map(to_i32),
            previous_secret_valid_until: token.previous_secret_valid_until.map(micros),
            reuse_detected_at: token.reuse_detected_at.map(micros),
            allowed_ips: token.allowed_ips.to_string(),
            ip_policy: token.ip_policy.as_str().to_owned(),
            not_before: token.not_before.map(micros),
        }
    }

    pub(crate) fn into_token(self, scopes: Vec<ScopeRow>) -> Result<Token, StoreError> {
        let mut hash = [0_u8; 32];
        hex::decode_to_slice(&self.secret_hash, &mut hash)
            .map_err(|_| corrupt("secret hash", "<hidden>"))?;
        let scopes = scopes
            .into_iter()
            .map(ScopeRow::into_scope)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Token {
            id: TokenId(uuid(&self.id)?),
            owner: UserId(uuid(&self.owner_id)?),
            name: TokenName::new(&self.name).map_err(|_| corrupt("token name", &self.name))?,
            description: Description::new(&self.description)
                .map_err(|_| corrupt("description", &self.description))?,
            scopes: scopes.into(),
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
            expires_at: time(self.expires_at)?,
            revoked_at: self.revoked_at.map(time).transpose()?,
            revoked_reason: self
                .revoked_reason
                .as_deref()
                .map(|r| RevocationReason::from_str(r).map_err(|_| corrupt("revoked reason", r)))
                .transpose()?,
            last_used_at: self.last_used_at.map(time).transpose()?,
            last_used_ip: ip(self.last_used_ip)?,
            generation: generation(self.generation)?,
            secret_hash: SecretHash::from_bytes(hash),
            hint: self.hint,
            reminders: ReminderState {
                expiring_soon_sent_for: self.expiring_soon_sent_for.map(generation).transpose()?,
                expired_sent_for: self.expired_sent_for.map(generation).transpose()?,
            },
            previous_secret_valid_until: self.previous_secret_valid_until.map(time).transpose()?,
            reuse_detected_at: self.reuse_detected_at.map(time).transpose()?,
            allowed_ips: allowlist(&self.allowed_ips)?,
            ip_policy: IpPolicy::from_str(&self.ip_policy)
                .map_err(|_| corrupt("ip policy", &self.ip_policy))?,
            not_before: self.not_before.map(time).transpose()?,
        })
    }
}

/// A `token_scopes` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = token_scopes)]
pub(crate) struct ScopeRow {
    pub id: String,
    pub token_id: String,
    pub position: i32,
    pub scope: String,
}

impl ScopeRow {
    pub(crate) fn from_scope(token: TokenId, position: usize, scope: &Scope) -> Self {
        Self {
            id: scope.id.to_string(),
            token_id: token.to_string(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            scope: scope.spec.to_string(),
        }
    }

    fn into_scope(self) -> Result<Scope, StoreError> {
        // Stored scopes were checked against the catalog when granted; read them back
        // even if the catalog has changed since.
        let spec = ScopeSpec::parse(&self.scope, &ResourceCatalog::open())
            .map_err(|_| corrupt("scope", &self.scope))?;
        Ok(Scope {
            id: ScopeId(uuid(&self.id)?),
            spec,
        })
    }
}

/// A `users` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: String,
    pub email: String,
    pub email_folded: String,
    pub name: String,
    pub role: String,
    pub active: i32,
    pub password_hash: Option<String>,
}

impl UserRow {
    pub(crate) fn from_user(user: &User, password_hash: Option<&str>) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.clone(),
            email_folded: fold_email(&user.email),
            name: user.name.clone(),
            role: user.role.as_str().to_owned(),
            active: i32::from(user.active),
            password_hash: password_hash.map(str::to_owned),
        }
    }

    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId(uuid(&self.id)?),
            role: Role::from_str(&self.role).map_err(|_| corrupt("role", &self.role))?,
            email: self.email,
            name: self.name,
            active: self.active != 0,
        })
    }
}

pub(crate) fn fold_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The `settings` row.
#[derive(Debug, Clone, Copy, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = settings)]
pub(crate) struct SettingsRow {
    pub id: i32,
    pub pats_enabled: i32,
    pub max_lifetime_days: i32,
    pub max_active_per_user: i32,
    pub expiry_warning_days: i32,
    pub max_grace_minutes: i32,
    pub revoke_on_reuse: i32,
}

impl SettingsRow {
    pub(crate) fn from_settings(s: &Settings) -> Self {
        Self {
            id: 1,
            pats_enabled: i32::from(s.pats_enabled),
            max_lifetime_days: to_i32(s.max_lifetime_days),
            max_active_per_user: to_i32(s.max_active_per_user),
            expiry_warning_days: to_i32(s.expiry_warning_days),
            max_grace_minutes: to_i32(s.max_grace_minutes),
            revoke_on_reuse: i32::from(s.revoke_on_reuse),
        }
    }

    pub(crate) fn into_settings(self) -> Result<Settings, StoreError> {
        let days = |v: i32, what: &str| u32::try_from(v).map_err(|_| corrupt(what, &v.to_string()));
        Ok(Settings {
            pats_enabled: self.pats_enabled != 0,
            max_lifetime_days: days(self.max_lifetime_days, "max_lifetime_days")?,
            max_active_per_user: days(self.max_active_per_user, "max_active_per_user")?,
            expiry_warning_days: days(self.expiry_warning_days, "expiry_warning_days")?,
            max_grace_minutes: days(self.max_grace_minutes, "max_grace_minutes")?,
            revoke_on_reuse: self.revoke_on_reuse != 0,
        })
    }
}

/// An `audit_events` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub(crate) struct AuditRow {
    pub id: String,
    pub at: i64,
    pub action: String,
    pub reason: Option<String>,
    pub actor_id: Option<String>,
    pub owner_id: Option<String>,
    pub token_id: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

impl AuditRow {
    pub(crate) fn from_event(event: &AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: micros(event.at),
            action: event.action.as_str().to_owned(),
            reason: event.action.reason().map(|r| r.as_str().to_owned()),
            actor_id: event.actor.map(|id| id.to_string()),
            owner_id: event.owner.map(|id| id.to_string()),
            token_id: event.token_id.map(|id| id.to_string()),
            ip: event.ip.map(|ip| ip.to_string()),
            detail: event.detail.clone(),
        }
    }

    pub(crate) fn into_event(self) -> Result<AuditEvent, StoreError> {
        let action = AuditAction::from_stored(&self.action, self.reason.as_deref())
            .ok_or_else(|| corrupt("audit action", &self.action))?;
        let user = |id: Option<String>| id.map(|t| uuid(&t).map(UserId)).transpose();
        Ok(AuditEvent {
            id: EventId(uuid(&self.id)?),
            at: time(self.at)?,
            action,
            actor: user(self.actor_id)?,
            owner: user(self.owner_id)?,
            token_id: self.token_id.map(|t| uuid(&t).map(TokenId)).transpose()?,
            ip: ip(self.ip)?,
            detail: self.detail,
        })
    }
}

/// An `outbox` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub(crate) struct OutboxRow {
    pub id: String,
    pub dedupe_key: String,
    pub kind: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub token_id: String,
    pub token_name: String,
    pub expires_at: i64,
    pub generation: i32,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

impl OutboxRow {
    pub(crate) fn from_message(m: &OutboxMessage) -> Self {
        Self {
            id: m.id.to_string(),
            dedupe_key: m.dedupe_key.clone(),
            kind: m.notice.kind.as_str().to_owned(),
            user_id: m.notice.recipient.user_id.to_string(),
            email: m.notice.recipient.email.clone(),
            name: m.notice.recipient.name.clone(),
            token_id: m.notice.token_id.to_string(),
            token_name: m.notice.token_name.clone(),
            expires_at: micros(m.notice.expires_at),
            generation: to_i32(m.notice.generation),
            status: m.status.as_str().to_owned(),
            attempts: to_i32(m.attempts),
            next_attempt_at: micros(m.next_attempt_at),
            last_error: m.last_error.clone(),
            created_at: micros(m.created_at),
            sent_at: m.sent_at.map(micros),
        }
    }

    pub(crate) fn into_message(self) -> Result<OutboxMessage, StoreError> {
        Ok(OutboxMessage {
            id: MessageId(uuid(&self.id)?),
            dedupe_key: self.dedupe_key,
            notice: Notice {
                kind: NoticeKind::from_str(&self.kind)
                    .map_err(|_| corrupt("notice kind", &self.kind))?,
                recipient: Recipient {
                    user_id: UserId(uuid(&self.user_id)?),
                    email: self.email,
                    name: self.name,
                },
                token_id: TokenId(uuid(&self.token_id)?),
                token_name: self.token_name,
                expires_at: time(self.expires_at)?,
                generation: generation(self.generation)?,
            },
            status: DeliveryStatus::from_str(&self.status)
                .map_err(|_| corrupt("delivery status", &self.status))?,
            attempts: generation(self.attempts)?,
            next_attempt_at: time(self.next_attempt_at)?,
            last_error: self.last_error,
            created_at: time(self.created_at)?,
            sent_at: self.sent_at.map(time).transpose()?,
        })
    }
}

fn digest(text: &str) -> Result<SecretDigest, StoreError> {
    SecretDigest::from_hex(text).ok_or_else(|| corrupt("digest", text))
}

/// A `sessions` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub digest: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl SessionRow {
    pub(crate) fn from_record(session: &SessionRecord) -> Self {
        Self {
            digest: session.digest.to_hex(),
            user_id: session.user.to_string(),
            created_at: micros(session.created_at),
            last_seen_at: micros(session.last_seen_at),
        }
    }

    pub(crate) fn into_record(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            digest: digest(&self.digest)?,
            user: UserId(uuid(&self.user_id)?),
            created_at: time(self.created_at)?,
            last_seen_at: time(self.last_seen_at)?,
        })
    }
}

/// A `password_links` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_links)]
pub(crate) struct PasswordLinkRow {
    pub digest: String,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl PasswordLinkRow {
    pub(crate) fn from_link(link: &PasswordLink) -> Self {
        Self {
            digest: link.digest.to_hex(),
            user_id: link.user.to_string(),
            created_at: micros(link.created_at),
            expires_at: micros(link.expires_at),
            used_at: link.used_at.map(micros),
        }
    }

    pub(crate) fn into_link(self) -> Result<PasswordLink, StoreError> {
        Ok(PasswordLink {
            digest: digest(&self.digest)?,
            user: UserId(uuid(&self.user_id)?),
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
            used_at: self.used_at.map(time).transpose()?,
        })
    }
}

/// A `retired_secrets` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = retired_secrets)]
pub(crate) struct RetiredRow {
    pub secret_hash: String,
    pub token_id: String,
    pub generation: i32,
    pub retired_at: i64,
    pub grace_until: i64,
    pub keep_until: i64,
}

impl RetiredRow {
    pub(crate) fn from_retired(retired: &RetiredSecret) -> Self {
        Self {
            secret_hash: hash_text(&retired.secret_hash),
            token_id: retired.token.to_string(),
            generation: to_i32(retired.generation),
            retired_at: micros(retired.retired_at),
            grace_until: micros(retired.grace_until),
            keep_until: micros(retired.keep_until),
        }
    }

    pub(crate) fn into_retired(self) -> Result<RetiredSecret, StoreError> {
        let mut hash = [0_u8; 32];
        hex::decode_to_slice(&self.secret_hash, &mut hash)
            .map_err(|_| corrupt("secret hash", &self.secret_hash))?;
        Ok(RetiredSecret {
            secret_hash: SecretHash::from_bytes(hash),
            token: TokenId(uuid(&self.token_id)?),
            generation: generation(self.generation)?,
            retired_at: time(self.retired_at)?,
            grace_until: time(self.grace_until)?,
            keep_until: time(self.keep_until)?,
        })
    }
}
