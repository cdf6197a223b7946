//! `SecretHistory`: the secrets regenerations retired, written in the regeneration's
//! transaction.

use pat_core::ports::{RetiredSecret, SecretHistory};

use super::*;
use crate::convert::RetiredRow;
use crate::schema::retired_secrets;

/// Inside a regeneration of `current` (read under its lock): ends the grace of the
/// token's earlier retired secrets at `now`, and retires its current secret; returns
/// until when that one still works. A token that is not active at `now` (revoked
/// meanwhile) gives no grace and is remembered for no time, nor are earlier secrets
/// still in their grace: a secret stopped by revocation is not reuse.
pub(super) fn retire(
    conn: &mut AnyConnection,
    current: &Token,
    regeneration: &Regeneration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TxError> {
    let token = current.id.to_string();
    let live = current.status(now) == TokenStatus::Active;
    let earlier = retired_secrets::table
        .filter(retired_secrets::token_id.eq(&token))
        .filter(retired_secrets::grace_until.gt(micros(now)));
    if live {
        diesel::update(earlier)
            .set(retired_secrets::grace_until.eq(micros(now)))
            .execute(conn)?;
    } else {
        diesel::update(earlier)
            .set((
                retired_secrets::grace_until.eq(micros(now)),
                retired_secrets::keep_until.eq(micros(now)),
            ))
            .execute(conn)?;
    }
    let (grace_until, keep_until) = if live {
        (regeneration.grace_until, regeneration.keep_retired_until)
    } else {
        (now, now)
    };
    let row = RetiredRow::from_retired(&RetiredSecret {
        secret_hash: current.secret_hash,
        token: current.id,
        generation: current.generation,
        retired_at: now,
        grace_until,
        keep_until,
    });
    diesel::insert_into(retired_secrets::table)
        .values(&row)
        .execute(conn)?;
    Ok(grace_until)
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
