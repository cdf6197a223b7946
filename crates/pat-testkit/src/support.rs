//! Small helpers the checks share; not part of the public API.

use chrono::{DateTime, Utc};
use pat_core::model::{
    Page, PageRequest, RevocationReason, StatusFilter, Token, TokenId, TokenQuery, UserId,
};
use pat_core::ports::Journal;

use crate::Stores;
use crate::fixtures::unique_uuid;

/// A limit high enough never to matter, yet inside the settings' range.
pub(crate) const ROOMY_LIMIT: u32 = 100;

/// A page request the checks know to be valid.
pub(crate) fn page(number: u32, size: u32) -> PageRequest {
    PageRequest::new(number, size).expect("test page request must be valid")
}

/// An id no store holds.
pub(crate) fn unknown_token_id() -> TokenId {
    TokenId(unique_uuid())
}

/// Stores `token` at its creation time with a limit that never matters.
pub(crate) async fn insert(stores: &Stores, token: &Token) {
    stores
        .tokens
        .insert(token, ROOMY_LIMIT, token.created_at, &Journal::default())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "TokenStore::insert of token {:?} must succeed, got {e:?}",
                token.name.as_str()
            )
        });
}

/// Revokes token `id` as its owner would, at `at`; the store must accept.
pub(crate) async fn revoke_as_owner(stores: &Stores, id: TokenId, at: DateTime<Utc>) {
    stores
        .tokens
        .revoke(id, RevocationReason::Owner, at, &Journal::default())
        .await
        .unwrap_or_else(|e| panic!("TokenStore::revoke must succeed, got {e:?}"));
}

/// The stored token with this id, which must exist.
pub(crate) async fn fetch(stores: &Stores, id: TokenId) -> Token {
    stores
        .tokens
        .get(id)
        .await
        .expect("TokenStore::get must succeed")
        .unwrap_or_else(|| panic!("TokenStore::get({id}) must find the stored token"))
}

/// `token` with its scopes in id order: the ports do not promise an order of scopes.
pub(crate) fn normalized(token: &Token) -> Token {
    let mut scopes = token.scopes.to_vec();
    scopes.sort_by_key(|s| s.id);
    Token {
        scopes: scopes.into(),
        ..token.clone()
    }
}

/// Asserts two tokens are equal, ignoring the order of their scopes.
pub(crate) fn assert_same_token(actual: &Token, expected: &Token, context: &str) {
    assert_eq!(
        normalized(actual),
        normalized(expected),
        "{context}: the store returned another token than expected"
    );
}

/// The names of `tokens`, in order, for readable assertion messages.
pub(crate) fn names(tokens: &[Token]) -> Vec<String> {
    tokens.iter().map(|t| t.name.as_str().to_owned()).collect()
}

/// A token listing.
pub(crate) fn query(
    owner: UserId,
    status: StatusFilter,
    name_contains: Option<&str>,
    now: DateTime<Utc>,
    page: PageRequest,
) -> TokenQuery {
    TokenQuery {
        owner,
        status,
        name_contains: name_contains.map(str::to_owned),
        now,
        page,
    }
}

/// Lists tokens, asserting the page echoes the request.
pub(crate) async fn list(stores: &Stores, query: &TokenQuery) -> Page<Token> {
    let page = stores
        .tokens
        .list(query)
        .await
        .expect("TokenStore::list must succeed");
    assert_eq!(
        (page.page, page.page_size),
        (query.page.page(), query.page.size()),
        "TokenStore::list must echo the requested page and page size"
    );
    page
}
