//! Expiry reminders and the durable outbox's delivery.

use super::*;

/// What a reminder and delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderRun {
    /// Reminders newly queued in the outbox.
    pub queued: usize,
    /// Reminders whose owner is inactive or gone: marked without a message.
    pub skipped: usize,
    /// Messages the notifier accepted.
    pub sent: usize,
    /// Messages that failed for now and will be retried.
    pub retried: usize,
    /// Messages given up on (a permanent refusal, or too many attempts).
    pub failed: usize,
}

/// Attempts before a temporarily failing message is given up.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 12;

/// How long a claimed message is held before another pass may take it.
pub(super) const DELIVERY_LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// Wait before attempt `attempts + 1`: 30 s doubling per attempt, at most an hour.
pub fn retry_delay(attempts: u32) -> chrono::Duration {
    let seconds = 30_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(20));
    chrono::Duration::seconds(seconds.min(3600))
}

/// The notice of `kind` about `token`, for `recipient`.
pub(super) fn notice(kind: NoticeKind, recipient: &User, token: &Token) -> Notice {
    Notice {
        kind,
        recipient: Recipient::from(recipient),
        token_id: token.id,
        token_name: token.name.as_str().to_owned(),
        expires_at: token.expires_at,
        generation: token.generation,
    }
}

impl ReminderKind {
    fn notice_kind(self) -> NoticeKind {
        match self {
            ReminderKind::ExpiringSoon => NoticeKind::ExpiringSoon,
            ReminderKind::Expired => NoticeKind::Expired,
        }
    }
}

impl PatService {
    /// Reminders due now (at most `limit`), without sending them.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn due_reminders(
        &self,
        limit: u32,
    ) -> Result<Vec<crate::model::DueReminder>, StoreError> {
        let settings = self.settings.get().await?;
        let (now, warning) = (self.clock.now(), settings.warning_window());
        Ok(self
            .tokens
            .due_reminders(now, warning, limit)
            .await?
            .into_iter()
            .filter_map(|token| {
                let kind = ReminderKind::owed(&token, now, warning)?;
                Some(crate::model::DueReminder { kind, token })
            })
            .collect())
    }

    /// Queues up to `limit` due reminders in the outbox and marks them reminded. A
    /// reminder queued twice (a crash between the two steps) is one message: the
    /// outbox keeps one per token, generation and kind.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn queue_due_reminders(
        &self,
        limit: u32,
        run: &mut ReminderRun,
    ) -> Result<(), InternalError> {
        let now = self.clock.now();
        for due in self.due_reminders(limit).await? {
            match self.users.get(due.token.owner).await?.filter(|u| u.active) {
                None => run.skipped += 1,
                Some(owner) => {
                    let message =
                        self.message(notice(due.kind.notice_kind(), &owner, &due.token), now)?;
                    if self.outbox.enqueue(&message).await? {
                        run.queued += 1;
                    }
                }
            }
            self.tokens
                .mark_reminded(due.token.id, due.kind, due.token.generation)
                .await?;
        }
        Ok(())
    }

    /// Delivers up to `limit` due outbox messages through the notifier, recording each
    /// outcome: sent only after the notifier accepted it; a temporary failure retried
    /// with exponential backoff (see [`retry_delay`]); a permanent one recorded as
    /// failed without holding up the others.
    ///
    /// # Errors
    /// Storage errors only; delivery failures are counted in `run`.
    pub async fn deliver_outbox(
        &self,
        limit: u32,
        run: &mut ReminderRun,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        for message in self
            .outbox
            .claim_due(now, now + DELIVERY_LEASE, limit)
            .await?
        {
            let attempt = match self.notifier.notify(&message.notice).await {
                Ok(()) => {
                    run.sent += 1;
                    Attempt::Sent {
                        at: self.clock.now(),
                    }
                }
                Err(NotifyError::Temporary(error))
                    if message.attempts + 1 < MAX_DELIVERY_ATTEMPTS =>
                {
                    run.retried += 1;
                    Attempt::Retry {
                        next_attempt_at: self.clock.now() + retry_delay(message.attempts + 1),
                        error,
                    }
                }
                Err(NotifyError::Temporary(error)) => {
                    run.failed += 1;
                    Attempt::Failed {
                        error: format!("gave up after {MAX_DELIVERY_ATTEMPTS} attempts: {error}"),
                    }
                }
                Err(NotifyError::Permanent(error)) => {
                    run.failed += 1;
                    Attempt::Failed { error }
                }
            };
            self.outbox.record(message.id, &attempt).await?;
        }
        Ok(())
    }

    /// One pass: queue due reminders, then deliver what is due in the outbox.
    ///
    /// # Errors
    /// Storage errors only; delivery failures are counted in the result.
    pub async fn send_due_reminders(&self, limit: u32) -> Result<ReminderRun, InternalError> {
        let mut run = ReminderRun::default();
        self.queue_due_reminders(limit, &mut run).await?;
        self.deliver_outbox(limit, &mut run).await?;
        Ok(run)
    }

    /// The outbox, newest first (admins).
    ///
    /// # Errors
    /// `Forbidden` for non-admins.
    pub async fn outbox(
        &self,
        actor: &Actor,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, QueryError> {
        require_admin(actor, "read")?;
        Ok(self.outbox.list(status, page).await?)
    }

    /// A pending outbox message for `notice`, due now.
    pub(super) fn message(
        &self,
        notice: Notice,
        now: DateTime<Utc>,
    ) -> Result<OutboxMessage, RandomnessError> {
        Ok(OutboxMessage {
            id: MessageId(self.new_uuid(now)?),
            dedupe_key: notice.dedupe_key(),
            notice,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        })
    }
}
