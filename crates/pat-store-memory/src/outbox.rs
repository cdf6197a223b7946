//! `Outbox` in memory: one message per key, leases and attempts.

use super::*;

#[async_trait]
impl Outbox for MemoryStore {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool, StoreError> {
        Ok(self.write().enqueue(message))
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut state = self.write();
        let mut due: Vec<&mut OutboxMessage> = state
            .outbox
            .iter_mut()
            .filter(|m| m.status == DeliveryStatus::Pending && m.next_attempt_at <= now)
            .collect();
        due.sort_by(|a, b| {
            a.next_attempt_at
                .cmp(&b.next_attempt_at)
                .then(a.id.cmp(&b.id))
        });
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|m| {
                m.next_attempt_at = lease_until;
                m.clone()
            })
            .collect())
    }

    async fn record(&self, id: MessageId, attempt: &Attempt) -> Result<(), StoreError> {
        let mut state = self.write();
        let message = state
            .outbox
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(StoreError::NotFound)?;
        message.attempts += 1;
        match attempt {
            Attempt::Sent { at } => {
                message.status = DeliveryStatus::Sent;
                message.sent_at = Some(*at);
            }
            Attempt::Retry {
                next_attempt_at,
                error,
            } => {
                message.next_attempt_at = *next_attempt_at;
                message.last_error = Some(error.clone());
            }
            Attempt::Failed { error } => {
                message.status = DeliveryStatus::Failed;
                message.last_error = Some(error.clone());
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, StoreError> {
        let state = self.read();
        let mut matching: Vec<&OutboxMessage> = state
            .outbox
            .iter()
            .filter(|m| status.is_none_or(|s| m.status == s))
            .collect();
        matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(page_of(matching, page))
    }
}
