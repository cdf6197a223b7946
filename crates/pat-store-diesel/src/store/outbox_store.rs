//! `Outbox`: the durable mail queue with leases and attempts.

use super::*;

#[async_trait]
impl Outbox for DieselStore {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool, StoreError> {
        let row = OutboxRow::from_message(message);
        self.run(move |conn| {
            let known: i64 = outbox::table
                .filter(outbox::dedupe_key.eq(&row.dedupe_key))
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            if known > 0 {
                return Ok(false);
            }
            match diesel::insert_into(outbox::table)
                .values(&row)
                .execute(conn)
            {
                Ok(_) => Ok(true),
                // Another process queued the same notice between the two statements.
                Err(e) if unique_violation(&e).is_some_and(|index| index.contains("dedupe")) => {
                    Ok(false)
                }
                Err(e) => Err(store_error(e)),
            }
        })
        .await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.run(move |conn| {
            let candidates: Vec<OutboxRow> = outbox::table
                .filter(outbox::status.eq(DeliveryStatus::Pending.as_str()))
                .filter(outbox::next_attempt_at.le(micros(now)))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .limit(i64::from(limit))
                .select(OutboxRow::as_select())
                .load(conn)
                .map_err(store_error)?;
            let mut claimed = Vec::with_capacity(candidates.len());
            for mut row in candidates {
                // Claim only if nobody moved it since we read it (no lock needed).
                let taken = diesel::update(
                    outbox::table
                        .find(&row.id)
                        .filter(outbox::status.eq(DeliveryStatus::Pending.as_str()))
                        .filter(outbox::next_attempt_at.eq(row.next_attempt_at)),
                )
                .set(outbox::next_attempt_at.eq(micros(lease_until)))
                .execute(conn)
                .map_err(store_error)?;
                if taken == 1 {
                    row.next_attempt_at = micros(lease_until);
                    claimed.push(row.into_message()?);
                }
            }
            Ok(claimed)
        })
        .await
    }

    async fn record(&self, id: MessageId, attempt: &Attempt) -> Result<(), StoreError> {
        let attempt = attempt.clone();
        self.run(move |conn| {
            let target = outbox::table.find(id.to_string());
            let changed = match attempt {
                Attempt::Sent { at } => diesel::update(target)
                    .set((
                        outbox::status.eq(DeliveryStatus::Sent.as_str()),
                        outbox::sent_at.eq(Some(micros(at))),
                        outbox::attempts.eq(outbox::attempts + 1),
                    ))
                    .execute(conn),
                Attempt::Retry {
                    next_attempt_at,
                    error,
                } => diesel::update(target)
                    .set((
                        outbox::next_attempt_at.eq(micros(next_attempt_at)),
                        outbox::last_error.eq(Some(error)),
                        outbox::attempts.eq(outbox::attempts + 1),
                    ))
                    .execute(conn),
                Attempt::Failed { error } => diesel::update(target)
                    .set((
                        outbox::status.eq(DeliveryStatus::Failed.as_str()),
                        outbox::last_error.eq(Some(error)),
                        outbox::attempts.eq(outbox::attempts + 1),
                    ))
                    .execute(conn),
            }
            .map_err(store_error)?;
            match changed {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, StoreError> {
        self.run(move |conn| {
            let filtered = || {
                let mut q = outbox::table.into_boxed::<Db>();
                if let Some(status) = status {
                    q = q.filter(outbox::status.eq(status.as_str()));
                }
                q
            };
            let total: i64 = filtered().count().get_result(conn).map_err(store_error)?;
            let (offset, limit) = page_bounds(page);
            let items = filtered()
                .order((outbox::created_at.desc(), outbox::id.desc()))
                .offset(offset)
                .limit(limit)
                .select(OutboxRow::as_select())
                .load(conn)
                .map_err(store_error)?
                .into_iter()
                .map(OutboxRow::into_message)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::new(items, page, count(total)))
        })
        .await
    }
}
