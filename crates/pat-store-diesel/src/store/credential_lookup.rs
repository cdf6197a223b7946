//! `CredentialLookup`: a presented secret's token, owner and switch in one read.

use super::*;

#[async_trait]
impl CredentialLookup for DieselStore {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        let hash = hash_text(hash);
        // One blocking task, one cached statement by the unique hash index: the token,
        // its owner, the settings row and the scopes in one snapshot, one round trip.
        self.run_read(move |conn| lookup_in(conn, &hash)).await
    }
}

pub(super) fn lookup_in(
    conn: &mut AnyConnection,
    hash: &str,
) -> Result<Option<CredentialRecord>, StoreError> {
    // One statement, one round trip: a row per scope (or one row without any), each
    // with the token, its owner and the settings row.
    let rows = tokens::table
        .left_join(users::table)
        .left_join(settings::table.on(settings::id.eq(1)))
        .left_join(token_scopes::table.on(token_scopes::token_id.eq(tokens::id)))
        .filter(tokens::secret_hash.eq(hash))
        .order(token_scopes::position)
        .select((
            TokenRow::as_select(),
            Option::<UserRow>::as_select(),
            Option::<SettingsRow>::as_select(),
            Option::<ScopeRow>::as_select(),
        ))
        .load::<(
            TokenRow,
            Option<UserRow>,
            Option<SettingsRow>,
            Option<ScopeRow>,
        )>(conn)
        .map_err(store_error)?;
    let mut rows = rows.into_iter();
    let Some((token, owner, settings, first_scope)) = rows.next() else {
        return Ok(None);
    };
    let scopes: Vec<ScopeRow> = first_scope
        .into_iter()
        .chain(rows.filter_map(|(_, _, _, scope)| scope))
        .collect();
    let settings = settings.map_or(Ok(Settings::default()), SettingsRow::into_settings)?;
    Ok(Some(CredentialRecord {
        token: token.into_token(scopes)?,
        owner: owner.map(UserRow::into_user).transpose()?,
        pats_enabled: settings.pats_enabled,
        retired: None,
    }))
}
