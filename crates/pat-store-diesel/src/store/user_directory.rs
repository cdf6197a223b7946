//! `UserDirectory`: users, password hashes, roles.

use super::*;

#[async_trait]
impl UserDirectory for DieselStore {
    async fn insert(
        &self,
        user: &User,
        password_hash: Option<&str>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let row = UserRow::from_user(user, password_hash);
        let journal = journal.clone();
        self.run(move |conn| {
            conn.transaction(|conn| {
                diesel::insert_into(users::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| match unique_violation(&e) {
                        Some(index) if index.contains("email") => {
                            TxError::Store(StoreError::DuplicateEmail)
                        }
                        _ => e.into(),
                    })?;
                write_journal(conn, &journal)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.run(move |conn| {
            users::table
                .find(id.to_string())
                .select(UserRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
                .map(UserRow::into_user)
                .transpose()
        })
        .await
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UserCredentials>, StoreError> {
        let folded = fold_email(email);
        self.run(move |conn| {
            let Some(row) = users::table
                .filter(users::email_folded.eq(folded))
                .select(UserRow::as_select())
                .first(conn)
                .optional()
                .map_err(store_error)?
            else {
                return Ok(None);
            };
            let password_hash = row.password_hash.clone();
            Ok(Some(UserCredentials {
                user: row.into_user()?,
                password_hash,
            }))
        })
        .await
    }

    async fn update(
        &self,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
        journal: &Journal,
    ) -> Result<User, StoreError> {
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Owner(&key), |conn| {
                if let Some(role) = role {
                    diesel::update(users::table.find(&key))
                        .set(users::role.eq(role.as_str()))
                        .execute(conn)?;
                }
                if let Some(active) = active {
                    diesel::update(users::table.find(&key))
                        .set(users::active.eq(i32::from(active)))
                        .execute(conn)?;
                }
                let row = users::table
                    .find(&key)
                    .select(UserRow::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or(StoreError::NotFound)?;
                write_journal(conn, &journal)?;
                Ok(row.into_user()?)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let hash = password_hash.to_owned();
        let journal = journal.clone();
        self.run(move |conn| {
            let key = id.to_string();
            write_tx(conn, Lock::Owner(&key), |conn| {
                let changed = diesel::update(users::table.find(&key))
                    .set(users::password_hash.eq(Some(&hash)))
                    .execute(conn)?;
                if changed == 0 {
                    return Err(StoreError::NotFound.into());
                }
                super::sessions::end_all_and_spend_links(conn, &key, micros(now))?;
                write_journal(conn, &journal)
            })
            .map_err(StoreError::from)
        })
        .await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.run(move |conn| {
            let total: i64 = users::table.count().get_result(conn).map_err(store_error)?;
            let (offset, limit) = page_bounds(page);
            let users = users::table
                .order((users::email_folded.asc(), users::id.asc()))
                .offset(offset)
                .limit(limit)
                .select(UserRow::as_select())
                .load(conn)
                .map_err(store_error)?
                .into_iter()
                .map(UserRow::into_user)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Page::new(users, page, count(total)))
        })
        .await
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        self.run(|conn| {
            let admins: i64 = users::table
                .filter(users::role.eq(Role::Admin.as_str()))
                .filter(users::active.eq(1))
                .count()
                .get_result(conn)
                .map_err(store_error)?;
            Ok(count(admins))
        })
        .await
    }
}
