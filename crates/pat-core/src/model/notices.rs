//! Reminders, notices and the outbox's messages.

use super::*;

/// Why a reminder is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReminderKind {
    /// Within the warning window of expiry.
    ExpiringSoon,
    /// Expired.
    Expired,
}

impl ReminderKind {
    /// The reminder `token` is owed at `now` with a warning window of `warning`, if
    /// any: `Expired` once it has expired (not revoked, not yet reminded in this
    /// generation), else `ExpiringSoon` inside the window (not yet reminded in this
    /// generation). The one place that decides which notice a token gets.
    pub fn owed(token: &Token, now: DateTime<Utc>, warning: chrono::Duration) -> Option<Self> {
        let generation = Some(token.generation);
        match token.status(now) {
            TokenStatus::Expired if token.reminders.expired_sent_for != generation => {
                Some(ReminderKind::Expired)
            }
            TokenStatus::Active
                if now >= token.expires_at - warning
                    && token.reminders.expiring_soon_sent_for != generation =>
            {
                Some(ReminderKind::ExpiringSoon)
            }
            _ => None,
        }
    }
}

/// A reminder due: which one, for which token (decided by [`ReminderKind::owed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    /// Which reminder.
    pub kind: ReminderKind,
    /// The token, as stored.
    pub token: Token,
}

/// A message the owner of a token should receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The token expires within the warning window.
    ExpiringSoon,
    /// The token has expired.
    Expired,
    /// A new token was created (security notice).
    Created,
    /// The token was revoked after a leak report.
    LeakRevoked,
    /// The token was given a new secret (security notice).
    Regenerated,
    /// A secret rotated away was used again, and the token was revoked.
    ReuseRevoked,
    /// A secret rotated away was used again; the admin's report-only mode kept the
    /// token active.
    ReuseReported,
}

/// Who a notice goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The user.
    pub user_id: UserId,
    /// Their address.
    pub email: String,
    /// Their display name.
    pub name: String,
}

impl From<&User> for Recipient {
    fn from(user: &User) -> Self {
        Self {
            user_id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
        }
    }
}

/// What the `Notifier` delivers: never the secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Which message.
    pub kind: NoticeKind,
    /// The owner.
    pub recipient: Recipient,
    /// The token's id.
    pub token_id: TokenId,
    /// The token's name.
    pub token_name: String,
    /// The token's expiry.
    pub expires_at: DateTime<Utc>,
    /// The generation the notice is about.
    pub generation: u32,
}

impl NoticeKind {
    /// The text form, e.g. `expiring_soon`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NoticeKind::ExpiringSoon => "expiring_soon",
            NoticeKind::Expired => "expired",
            NoticeKind::Created => "created",
            NoticeKind::LeakRevoked => "leak_revoked",
            NoticeKind::Regenerated => "regenerated",
            NoticeKind::ReuseRevoked => "reuse_revoked",
            NoticeKind::ReuseReported => "reuse_reported",
        }
    }
}

impl FromStr for NoticeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            NoticeKind::ExpiringSoon,
            NoticeKind::Expired,
            NoticeKind::Created,
            NoticeKind::LeakRevoked,
            NoticeKind::Regenerated,
            NoticeKind::ReuseRevoked,
            NoticeKind::ReuseReported,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown notice kind {s:?}"))
    }
}

impl Notice {
    /// The key that makes one notice per token, generation and kind: the outbox keeps
    /// one message per key, so queueing twice sends once. Both reuse notices share one
    /// key: a generation's reuse is mailed once, whichever mode was in force.
    pub fn dedupe_key(&self) -> String {
        let kind = match &self.kind {
            NoticeKind::ReuseRevoked | NoticeKind::ReuseReported => "reuse_detected",
            other => other.as_str(),
        };
        format!("{kind}:{}:{}", self.token_id, self.generation)
    }
}

id_type!(
    /// An outbox message's id (UUID v7).
    MessageId
);

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Accepted by the mail server.
    Sent,
    /// Given up: a permanent refusal, or too many temporary ones.
    Failed,
}

impl DeliveryStatus {
    /// The text form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "sent" => Ok(DeliveryStatus::Sent),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(format!(
                "delivery status {other:?} is unknown; use pending, sent or failed"
            )),
        }
    }
}

/// A notice in the durable outbox, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Id.
    pub id: MessageId,
    /// One message per key (see [`Notice::dedupe_key`]).
    pub dedupe_key: String,
    /// What to deliver.
    pub notice: Notice,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt may start (pending messages).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Accepted by the server.
    pub sent_at: Option<DateTime<Utc>>,
}

/// The result of one delivery attempt, for the outbox to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The server accepted it.
    Sent {
        /// When.
        at: DateTime<Utc>,
    },
    /// A temporary failure: try again at `next_attempt_at`.
    Retry {
        /// When to try again.
        next_attempt_at: DateTime<Utc>,
        /// Why it failed.
        error: String,
    },
    /// Given up.
    Failed {
        /// Why.
        error: String,
    },
}
