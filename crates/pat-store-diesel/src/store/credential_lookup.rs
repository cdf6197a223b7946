//! `CredentialLookup`: a presented secret's token, owner and switch in one read.

use super::*;

#[async_trait]
impl CredentialLookup for DieselStore {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        let hash = hash_text(hash);
        // One blocking task, three cached point reads: token ⋈ owner by the unique
        // hash index, the token's scopes, and the settings row.
        self.run(move |conn| {
            // One read transaction: SQLite takes its file lock once, not per statement.
            conn.transaction(|conn| lookup_in(conn, &hash).map_err(TxError::Store))
                .map_err(StoreError::from)
        })
        .await
    }
}

pub(super) fn lookup_in(
    conn: &mut AnyConnection,
    hash: &str,
) -> Result<Option<CredentialRecord>, StoreError> {
    let Some((token, owner)) = tokens::table
        .left_join(users::table)
        .filter(tokens::secret_hash.eq(hash))
        .select((TokenRow::as_select(), Option::<UserRow>::as_select()))
        .first::<(TokenRow, Option<UserRow>)>(conn)
        .optional()
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let scopes = scopes_of(conn, &token.id)?;
    let settings = settings::table
        .find(1)
        .select(SettingsRow::as_select())
        .first(conn)
        .optional()
        .map_err(store_error)?
        .map_or(Ok(Settings::default()), SettingsRow::into_settings)?;
    Ok(Some(CredentialRecord {
        token: token.into_token(scopes)?,
        owner: owner.map(UserRow::into_user).transpose()?,
        pats_enabled: settings.pats_enabled,
    }))
}
