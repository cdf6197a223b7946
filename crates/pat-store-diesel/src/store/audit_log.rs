//! `AuditLog`: append and list audit events.

use super::*;

pub(super) fn audit_listing(query: &AuditQuery) -> audit_events::BoxedQuery<'static, Db> {
    let mut q = audit_events::table.into_boxed::<Db>();
    if let Some(token) = query.token_id {
        q = q.filter(audit_events::token_id.eq(token.to_string()));
    }
    if let Some(owner) = query.owner {
        q = q.filter(audit_events::owner_id.eq(owner.to_string()));
    }
    if let Some(action) = &query.action {
        q = q.filter(audit_events::action.eq(action.clone()));
    }
    q
}

#[async_trait]
impl AuditLog for DieselStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = AuditRow::from_event(event);
        self.run(move |conn| {
            diesel::insert_into(audit_events::table)
                .values(&row)
                .execute(conn)
                .map(drop)
                .map_err(store_error)
        })
        .await
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let query = query.clone();
        self.run(move |conn| {
            let total: i64 = audit_listing(&query)
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            let (offset, limit) = page_bounds(query.page);
            let events = audit_listing(&query)
                .order((audit_events::at.desc(), audit_events::id.desc()))
                .offset(offset)
                .limit(limit)
                .select(AuditRow::as_select())
                .load(conn)
                .map_err(store_error)?
                .into_iter()
                .map(AuditRow::into_event)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::new(events, query.page, count(total)))
        })
        .await
    }
}
