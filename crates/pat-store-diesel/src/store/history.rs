//! `SecretHistory`: the secrets regenerations retired, written in the regeneration's
//! transaction.

use pat_core::ports::{RetiredSecret, SecretHistory};

use super::*;
use crate::convert::RetiredRow;
use crate::schema::retired_secrets;

/// Inside a regeneration of `current`: ends the grace of the token's earlier retired
/// secrets at `now`, and retires its current secret.
pub(super) fn retire(
    conn: &mut AnyConnection,
    current: &Token,
    regeneration: &Regeneration,
    now: DateTime<Utc>,
) -> Result<(), TxError> {
    let token = current.id.to_string();
    diesel::update(
        retired_secrets::table
            .filter(retired_secrets::token_id.eq(&token))
            .filter(retired_secrets::grace_until.gt(micros(now))),
    )
    .set(retired_secrets::grace_until.eq(micros(now)))
    .execute(conn)?;
    let row = RetiredRow::from_retired(&RetiredSecret {
        secret_hash: current.secret_hash,
        token: current.id,
        generation: current.generation,
        retired_at: now,
        grace_until: regeneration.grace_until,
        keep_until: regeneration.keep_retired_until,
    });
    diesel::insert_into(retired_secrets::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// Inside a token's deletion: forgets its retired secrets.
pub(super) fn forget_token(conn: &mut AnyConnection, token: &str) -> Result<(), TxError> {
    diesel::delete(retired_secrets::table.filter(retired_secrets::token_id.eq(token)))
        .execute(conn)?;
    Ok(())
}

#[async_trait]
impl SecretHistory for DieselStore {
    async fn find_retired(&self, hash: &SecretHash) -> Result<Option<RetiredSecret>, StoreError> {
        let hash = hash_text(hash);
        self.run_read(move |conn| {
            retired_secrets::table
                .find(&hash)
                .select(RetiredRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map(RetiredRow::into_retired)
                .transpose()
        })
        .await
    }

    async fn forget_retired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let gone = diesel::delete(
                retired_secrets::table.filter(retired_secrets::keep_until.lt(micros(now))),
            )
            .execute(conn)
            .map_err(store_error)?;
            Ok(gone as u64)
        })
        .await
    }
}
