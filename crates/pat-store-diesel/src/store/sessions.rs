//! `SessionStore`, `PasswordLinkStore` and `AttemptCounter`: sessions, set-password
//! links and attempt counts every instance shares.

use pat_core::ports::{
    AttemptCounter, FoundSession, PasswordLink, PasswordLinkStore, Redemption, SessionRecord,
    SessionStore,
};
use pat_core::session::SecretDigest;

use super::*;
use crate::convert::{PasswordLinkRow, SessionRow, user_id};
use crate::schema::{attempt_counts, password_links, sessions};

/// Marks every unused set-password link of `user` used at `at` (micros).
fn spend_links(conn: &mut AnyConnection, user: &str, at: i64) -> Result<(), TxError> {
    diesel::update(
        password_links::table
            .filter(password_links::user_id.eq(user))
            .filter(password_links::used_at.is_null()),
    )
    .set(password_links::used_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// A password changed: every session of `user` ends and every unused link is spent.
pub(super) fn end_all_and_spend_links(
    conn: &mut AnyConnection,
    user: &str,
    at: i64,
) -> Result<(), TxError> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user))).execute(conn)?;
    spend_links(conn, user, at)
}

#[async_trait]
impl SessionStore for DieselStore {
    async fn start_session(
        &self,
        session: &SessionRecord,
        max_per_user: u32,
        verified_hash: &str,
    ) -> Result<bool, StoreError> {
        let row = SessionRow::from_record(session);
        let verified = verified_hash.to_owned();
        self.run(move |conn| {
            let user = row.user_id.clone();
            // The user's row lock serializes concurrent sign-ins of one user (so the cap
            // holds under races) with password changes (so a sign-in checked against
            // the old password cannot start after the change ended the sessions).
            write_tx(conn, Lock::Owner(&user), |conn| {
                let still_valid: i64 = users::table
                    .filter(users::id.eq(&user))
                    .filter(users::active.eq(1))
                    .filter(users::password_hash.eq(&verified))
                    .count()
                    .get_result(conn)?;
                if still_valid == 0 {
                    return Ok(false);
                }
                diesel::insert_into(sessions::table)
                    .values(&row)
                    .execute(conn)?;
                // The new session counts first; of the others, the newest `max - 1`
                // stay.
                let room = i64::from(max_per_user.saturating_sub(1));
                let kept: Vec<String> = sessions::table
                    .filter(sessions::user_id.eq(&user))
                    .filter(sessions::digest.ne(&row.digest))
                    .order((sessions::created_at.desc(), sessions::digest.desc()))
                    .limit(room)
                    .select(sessions::digest)
                    .load(conn)?;
                let mut excess = sessions::table
                    .filter(sessions::user_id.eq(&user))
                    .filter(sessions::digest.ne(&row.digest))
                    .into_boxed::<Db>();
                if !kept.is_empty() {
                    excess = excess.filter(sessions::digest.ne_all(kept));
                }
                let excess: Vec<String> = excess.select(sessions::digest).load(conn)?;
                if !excess.is_empty() {
                    diesel::delete(sessions::table.filter(sessions::digest.eq_any(excess)))
                        .execute(conn)?;
                }
                Ok(true)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn find_session(
        &self,
        digest: &SecretDigest,
    ) -> Result<Option<FoundSession>, StoreError> {
        let digest = digest.to_hex();
        self.run_read(move |conn| {
            let found = sessions::table
                .left_join(users::table)
                .filter(sessions::digest.eq(&digest))
                .select((SessionRow::as_select(), Option::<UserRow>::as_select()))
                .first::<(SessionRow, Option<UserRow>)>(conn)
                .optional()
                .map_err(store_error)?;
            found
                .map(|(session, user)| {
                    Ok(FoundSession {
                        session: session.into_record()?,
                        user: user.map(UserRow::into_user).transpose()?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn touch_session(
        &self,
        digest: &SecretDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let digest = digest.to_hex();
        self.run(move |conn| {
            let changed = diesel::update(sessions::table.find(&digest))
                .set(sessions::last_seen_at.eq(micros(at)))
                .execute(conn)
                .map_err(store_error)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn end_session(&self, digest: &SecretDigest) -> Result<bool, StoreError> {
        let digest = digest.to_hex();
        self.run(move |conn| {
            let ended = diesel::delete(sessions::table.find(&digest))
                .execute(conn)
                .map_err(store_error)?;
            Ok(ended > 0)
        })
        .await
    }

    async fn end_sessions_of(
        &self,
        user: UserId,
        keep: Option<&SecretDigest>,
    ) -> Result<u64, StoreError> {
        let keep = keep.map(SecretDigest::to_hex).unwrap_or_default();
        self.run(move |conn| {
            let ended = diesel::delete(
                sessions::table
                    .filter(sessions::user_id.eq(user.to_string()))
                    .filter(sessions::digest.ne(keep)),
            )
            .execute(conn)
            .map_err(store_error)?;
            Ok(ended as u64)
        })
        .await
    }

    async fn sweep_sessions(
        &self,
        started_before: DateTime<Utc>,
        seen_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let live_users = users::table.filter(users::active.eq(1)).select(users::id);
            let ended = diesel::delete(
                sessions::table.filter(
                    sessions::created_at
                        .lt(micros(started_before))
                        .or(sessions::last_seen_at.lt(micros(seen_before)))
                        .or(sessions::user_id.ne_all(live_users)),
                ),
            )
            .execute(conn)
            .map_err(store_error)?;
            Ok(ended as u64)
        })
        .await
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        self.run_read(|conn| {
            let total: i64 = sessions::table
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            Ok(count(total))
        })
        .await
    }
}

#[async_trait]
impl PasswordLinkStore for DieselStore {
    async fn insert_link(&self, link: &PasswordLink, journal: &Journal) -> Result<(), StoreError> {
        let row = PasswordLinkRow::from_link(link);
        let journal = journal.clone();
        self.run(move |conn| {
            let user = row.user_id.clone();
            write_tx(conn, Lock::Owner(&user), |conn| {
                let known: i64 = users::table
                    .filter(users::id.eq(&user))
                    .count()
                    .get_result(conn)?;
                if known == 0 {
                    return Err(StoreError::NotFound.into());
                }
                spend_links(conn, &user, row.created_at)?;
                diesel::insert_into(password_links::table)
                    .values(&row)
                    .execute(conn)?;
                write_journal(conn, &journal)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn find_link(&self, digest: &SecretDigest) -> Result<Option<PasswordLink>, StoreError> {
        let digest = digest.to_hex();
        self.run_read(move |conn| {
            password_links::table
                .find(&digest)
                .select(PasswordLinkRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map(PasswordLinkRow::into_link)
                .transpose()
        })
        .await
    }

    async fn redeem_link(
        &self,
        digest: &SecretDigest,
        password_hash: &str,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Redemption, StoreError> {
        let digest = digest.to_hex();
        let hash = password_hash.to_owned();
        let journal = journal.clone();
        self.run(move |conn| {
            conn.transaction(|conn| {
                // The conditional update is the claim: of two concurrent redemptions,
                // the second finds `used_at` set (PostgreSQL re-checks the row after the
                // first commits; SQLite runs one writer at a time).
                let claimed = diesel::update(
                    password_links::table
                        .filter(password_links::digest.eq(&digest))
                        .filter(password_links::used_at.is_null())
                        .filter(password_links::expires_at.gt(micros(now))),
                )
                .set(password_links::used_at.eq(Some(micros(now))))
                .execute(conn)?;
                let user: Option<String> = password_links::table
                    .find(&digest)
                    .select(password_links::user_id)
                    .first(conn)
                    .optional()?;
                let Some(user) = user else {
                    return Ok(Redemption::Unknown);
                };
                if claimed == 0 {
                    return Ok(Redemption::Spent);
                }
                let changed = diesel::update(users::table.find(&user))
                    .set(users::password_hash.eq(Some(&hash)))
                    .execute(conn)?;
                if changed == 0 {
                    return Err(TxError::Store(StoreError::NotFound));
                }
                end_all_and_spend_links(conn, &user, micros(now))?;
                write_journal(conn, &journal)?;
                Ok(Redemption::Done(user_id(&user)?))
            })
            .map_err(StoreError::from)
        })
        .await
    }
}

/// Counts an attempt: `$1` key, `$2` now, `$3` the oldest window start still open.
const UPSERT_ATTEMPT_POSTGRES: &str = "INSERT INTO attempt_counts (counter_key, window_start, hits) \
     VALUES ($1, $2, 1) ON CONFLICT (counter_key) DO UPDATE SET \
     hits = CASE WHEN attempt_counts.window_start <= $3 THEN 1 ELSE attempt_counts.hits + 1 END, \
     window_start = CASE WHEN attempt_counts.window_start <= $3 THEN $2 ELSE attempt_counts.window_start END";

/// [`UPSERT_ATTEMPT_POSTGRES`] with SQLite's numbered parameters.
const UPSERT_ATTEMPT_SQLITE: &str = "INSERT INTO attempt_counts (counter_key, window_start, hits) \
     VALUES (?1, ?2, 1) ON CONFLICT (counter_key) DO UPDATE SET \
     hits = CASE WHEN attempt_counts.window_start <= ?3 THEN 1 ELSE attempt_counts.hits + 1 END, \
     window_start = CASE WHEN attempt_counts.window_start <= ?3 THEN ?2 ELSE attempt_counts.window_start END";

#[async_trait]
impl AttemptCounter for DieselStore {
    async fn count_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_opened_after: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, u32), StoreError> {
        let key = key.to_owned();
        let (now, opened_after) = (micros(now), micros(window_opened_after));
        self.run(move |conn| {
            conn.transaction(|conn| {
                // An upsert first: it takes the row's lock (SQLite: the write lock), so
                // the count read after it is this attempt's. A window that opened too
                // long ago starts over at this attempt.
                let sql = if matches!(conn, AnyConnection::Postgres(_)) {
                    UPSERT_ATTEMPT_POSTGRES
                } else {
                    UPSERT_ATTEMPT_SQLITE
                };
                diesel::sql_query(sql)
                    .bind::<diesel::sql_types::Text, _>(&key)
                    .bind::<diesel::sql_types::BigInt, _>(now)
                    .bind::<diesel::sql_types::BigInt, _>(opened_after)
                    .execute(conn)?;
                let (start, hits): (i64, i32) = attempt_counts::table
                    .find(&key)
                    .select((attempt_counts::window_start, attempt_counts::hits))
                    .first(conn)?;
                let start = DateTime::from_timestamp_micros(start).ok_or(StoreError::Other(
                    pat_core::ports::Cause::found("stored attempt window start out of range"),
                ))?;
                Ok::<_, TxError>((start, u32::try_from(hits).unwrap_or(0)))
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn forget_attempts(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(move |conn| {
            let gone = diesel::delete(
                attempt_counts::table.filter(attempt_counts::window_start.lt(micros(before))),
            )
            .execute(conn)
            .map_err(store_error)?;
            Ok(gone as u64)
        })
        .await
    }
}
