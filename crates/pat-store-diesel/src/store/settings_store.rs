//! `SettingsStore`: the one settings row.

use super::*;

#[async_trait]
impl SettingsStore for DieselStore {
    async fn get(&self) -> Result<Settings, StoreError> {
        self.run(|conn| {
            settings::table
                .find(1)
                .select(SettingsRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map_or(Ok(Settings::default()), SettingsRow::into_settings)
        })
        .await
    }

    async fn put(&self, new: &Settings, journal: &Journal) -> Result<(), StoreError> {
        let row = SettingsRow::from_settings(new);
        let journal = journal.clone();
        self.run(move |conn| {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = conn.transaction(|conn| {
                    let updated = diesel::update(settings::table.find(1))
                        .set(&row)
                        .execute(conn)?;
                    if updated == 0 {
                        diesel::insert_into(settings::table)
                            .values(&row)
                            .execute(conn)?;
                    }
                    write_journal(conn, &journal)
                });
                match result {
                    // Another writer inserted the row first: update it on the next pass.
                    Err(TxError::Db(e)) if attempt < 2 && unique_violation(&e).is_some() => {
                        continue;
                    }
                    other => return other.map_err(StoreError::from),
                }
            }
        })
        .await
    }
}
