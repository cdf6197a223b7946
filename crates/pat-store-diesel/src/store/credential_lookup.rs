//! `CredentialLookup`: a presented secret's token, owner and switch in one read.

use super::*;

#[async_trait]
impl CredentialLookup for DieselStore {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        let hash = hash_text(hash);
        // One blocking task, two cached point reads: token ⋈ owner ⋈ the settings row
        // by the unique hash index, then the token's scopes. No explicit transaction
        // (BEGIN and COMMIT would be two more statements): the scopes are read after the
        // token, so they are never older than it.
        self.run_read(move |conn| lookup_in(conn, &hash)).await
    }
}

pub(super) fn lookup_in(
    conn: &mut AnyConnection,
    hash: &str,
) -> Result<Option<CredentialRecord>, StoreError> {
    let Some((token, owner, settings)) = tokens::table
        .left_join(users::table)
        .left_join(settings::table.on(settings::id.eq(1)))
        .filter(tokens::secret_hash.eq(hash))
        .select((
            TokenRow::as_select(),
            Option::<UserRow>::as_select(),
            Option::<SettingsRow>::as_select(),
        ))
        .first::<(TokenRow, Option<UserRow>, Option<SettingsRow>)>(conn)
        .optional()
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let scopes = scopes_of(conn, &token.id)?;
    let settings = settings.map_or(Ok(Settings::default()), SettingsRow::into_settings)?;
    Ok(Some(CredentialRecord {
        token: token.into_token(scopes)?,
        owner: owner.map(UserRow::into_user).transpose()?,
        pats_enabled: settings.pats_enabled,
    }))
}
