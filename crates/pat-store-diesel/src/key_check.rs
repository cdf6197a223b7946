//! The server key's fingerprint kept beside the tokens, and what start-up needs to
//! check it: operator-level queries outside the domain ports.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use pat_core::ports::StoreError;

use crate::DieselStore;
use crate::convert::micros;
use crate::schema::{server_key, tokens};
use crate::tx::store_error;

impl DieselStore {
    /// The fingerprint of the key the tokens were made with, if one was recorded.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn key_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.run(|conn| {
            server_key::table
                .find(1)
                .select(server_key::fingerprint)
                .first::<String>(conn)
                .optional()
                .map_err(store_error)
        })
        .await
    }

    /// Records `fingerprint` as the key the tokens are made with from now on.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn record_key_fingerprint(
        &self,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let fingerprint = fingerprint.to_owned();
        self.run(move |conn| {
            conn.transaction(|conn| {
                diesel::delete(server_key::table).execute(conn)?;
                diesel::insert_into(server_key::table)
                    .values((
                        server_key::id.eq(1),
                        server_key::fingerprint.eq(&fingerprint),
                        server_key::recorded_at.eq(micros(now)),
                    ))
                    .execute(conn)
            })
            .map(drop)
            .map_err(store_error)
        })
        .await
    }

    /// How many tokens the database holds, of any status.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn token_count(&self) -> Result<u64, StoreError> {
        self.run(|conn| {
            let count: i64 = tokens::table
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }
}
