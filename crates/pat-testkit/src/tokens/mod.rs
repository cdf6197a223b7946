//! Checks of [`TokenStore`](pat_core::ports::TokenStore): insert and its limits,
//! lookups, listings, updates, revocation, regeneration, scopes, deletion, last use.

mod lists;
mod scopes;
mod writes;

pub use lists::*;
pub use scopes::*;
pub use writes::*;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::Duration;
use pat_core::model::{
    ReminderKind, ReminderState, RevocationReason, Role, ScopeId, StatusFilter, TokenStatus,
};
use pat_core::ports::{Journal, LastUse, StoreError};
use pat_core::token::SecretHash;

use crate::Stores;
use crate::fixtures::{at, base_time, description, name, regeneration, scope, token, user};
use crate::support::{
    ROOMY_LIMIT, assert_same_token, fetch, insert, list, names, normalized, page, query,
    revoke_as_owner, unknown_token_id,
};

const MONTH: Duration = Duration::days(30);

/// A stored token reads back field for field (scopes in any order); an unknown id is
/// `Ok(None)`.
pub async fn insert_then_get_round_trips(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut stored = token(owner.id, "Deploy prod", base_time(), MONTH);
    stored.description =
        description("Ships the app to prod — ünïcödé, \"quotes\" and 'apostrophes'");
    stored.scopes = vec![
        scope("jobs:list"),
        scope("channels:publish:c1,c2"),
        scope("*:*"),
        scope("files:*:a.b@c-d_e"),
    ]
    .into();
    stored.hint = "Zz9_".to_owned();
    stored.allowed_ips = pat_core::allowlist::IpAllowlist::parse(&[
        "203.0.113.0/24",
        "2001:db8::/48",
        "198.51.100.7",
    ])
    .expect("ranges");
    stored.ip_policy = pat_core::allowlist::IpPolicy::Report;
    stored.not_before = Some(base_time() + Duration::hours(1));
    stores
        .tokens
        .insert(&stored, 5, base_time(), &Journal::default())
        .await
        .expect("TokenStore::insert of a user's first token must succeed");

    let got = fetch(&stores, stored.id).await;
    assert_same_token(&got, &stored, "get after insert");
    assert_eq!(got.status(base_time()), TokenStatus::Active);

    let missing = stores
        .tokens
        .get(unknown_token_id())
        .await
        .expect("TokenStore::get must succeed");
    assert_eq!(
        missing, None,
        "TokenStore::get of an unknown id must be Ok(None)"
    );
}

/// A second token whose name differs only in case is refused with `DuplicateName`, and
/// nothing of it is stored.
pub async fn duplicate_name_is_refused_ignoring_case(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let first = token(owner.id, "Deploy", base_time(), MONTH);
    insert(&stores, &first).await;

    for clash in ["Deploy", "deploy", "DEPLOY", "dEpLoY"] {
        let second = token(owner.id, clash, base_time(), MONTH);
        let result = stores
            .tokens
            .insert(&second, ROOMY_LIMIT, base_time(), &Journal::default())
            .await;
        assert_eq!(
            result,
            Err(StoreError::DuplicateName),
            "inserting {clash:?} next to \"Deploy\" must be refused with DuplicateName"
        );
        let leaked = stores
            .tokens
            .get(second.id)
            .await
            .expect("TokenStore::get must succeed");
        assert_eq!(leaked, None, "a refused insert must store nothing");
        let by_hash = stores
            .tokens
            .find_by_hash(&second.secret_hash)
            .await
            .expect("find_by_hash must succeed");
        assert_eq!(by_hash, None, "a refused insert must store nothing");
    }
    let count = stores
        .tokens
        .count_active(owner.id, base_time())
        .await
        .expect("count_active must succeed");
    assert_eq!(count, 1, "only the first token may be stored");
}

/// A name stays taken while its token exists, whether that token is active, expired
/// or revoked.
pub async fn duplicate_name_is_refused_whatever_its_status(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let revoked = token(owner.id, "Revoked one", base_time(), MONTH);
    insert(&stores, &revoked).await;
    revoke_as_owner(&stores, revoked.id, at(Duration::minutes(1))).await;
    let expired = token(owner.id, "Expired one", base_time(), Duration::hours(1));
    insert(&stores, &expired).await;

    let later = at(Duration::days(2));
    for clash in ["revoked ONE", "EXPIRED one"] {
        let again = token(owner.id, clash, later, MONTH);
        let result = stores
            .tokens
            .insert(&again, ROOMY_LIMIT, later, &Journal::default())
            .await;
        assert_eq!(
            result,
            Err(StoreError::DuplicateName),
            "{clash:?} clashes with a revoked or expired token's name and must be refused with DuplicateName"
        );
    }
}

/// Names are unique per owner: another owner may use the same name.
pub async fn same_name_for_another_owner_is_accepted(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    insert(&stores, &token(alice.id, "ci", base_time(), MONTH)).await;
    let bobs = token(bob.id, "CI", base_time(), MONTH);
    stores
        .tokens
        .insert(&bobs, ROOMY_LIMIT, base_time(), &Journal::default())
        .await
        .expect("another owner's token may have the same name");
    assert_same_token(
        &fetch(&stores, bobs.id).await,
        &bobs,
        "get of the second owner's token",
    );
}

/// At `active_limit` active tokens the next insert is refused with
/// `ActiveLimit { limit }` and stores nothing; other owners are unaffected.
pub async fn insert_at_active_limit_is_refused(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let other = user(&stores, Role::Member).await;
    let now = base_time();
    for i in 0..3 {
        stores
            .tokens
            .insert(
                &token(owner.id, &format!("t{i}"), now, MONTH),
                3,
                now,
                &Journal::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("insert {} of 3 at limit 3 must succeed, got {e:?}", i + 1));
    }
    let fourth = token(owner.id, "t3", now, MONTH);
    let result = stores
        .tokens
        .insert(&fourth, 3, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::ActiveLimit { limit: 3 }),
        "a 4th active token at limit 3 must be refused"
    );
    let leaked = stores
        .tokens
        .get(fourth.id)
        .await
        .expect("TokenStore::get must succeed");
    assert_eq!(leaked, None, "a refused insert must store nothing");
    let count = stores
        .tokens
        .count_active(owner.id, now)
        .await
        .expect("count_active must succeed");
    assert_eq!(count, 3);

    let result = stores
        .tokens
        .insert(&fourth, 4, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Ok(()),
        "the same token must be accepted under a higher limit"
    );

    let others = token(other.id, "t0", now, MONTH);
    let result = stores
        .tokens
        .insert(&others, 3, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Ok(()),
        "the limit is per owner: another owner's first token must be accepted"
    );
}

/// Only tokens active at `now` count against the limit: revoked tokens and tokens at
/// or past their expiry do not.
pub async fn expired_and_revoked_tokens_do_not_count_against_limit(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let expired = token(owner.id, "expired", base_time(), Duration::hours(1));
    insert(&stores, &expired).await;
    let expires_at_now = token(
        owner.id,
        "expires exactly now",
        base_time(),
        Duration::hours(2),
    );
    insert(&stores, &expires_at_now).await;
    let revoked = token(owner.id, "revoked", base_time(), MONTH);
    insert(&stores, &revoked).await;
    revoke_as_owner(&stores, revoked.id, base_time()).await;

    let now = at(Duration::hours(2));
    for i in 0..2 {
        stores
            .tokens
            .insert(&token(owner.id, &format!("fresh {i}"), now, MONTH), 2, now, &Journal::default())
            .await
            .unwrap_or_else(|e| {
                panic!("expired, expiring-now and revoked tokens must not count against limit 2, got {e:?}")
            });
    }
    let third = token(owner.id, "fresh 2", now, MONTH);
    let result = stores
        .tokens
        .insert(&third, 2, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::ActiveLimit { limit: 2 }),
        "two active tokens reach limit 2"
    );
}

/// `count_active` counts the owner's tokens that are neither revoked nor at or past
/// their expiry.
pub async fn count_active_counts_only_the_owners_active_tokens(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let other = user(&stores, Role::Member).await;
    let empty = stores
        .tokens
        .count_active(owner.id, base_time())
        .await
        .expect("count_active must succeed");
    assert_eq!(empty, 0, "an owner without tokens has 0 active");

    insert(
        &stores,
        &token(owner.id, "a", base_time(), Duration::hours(1)),
    )
    .await;
    insert(
        &stores,
        &token(owner.id, "b", base_time(), Duration::hours(2)),
    )
    .await;
    let revoked = token(owner.id, "c", base_time(), MONTH);
    insert(&stores, &revoked).await;
    revoke_as_owner(&stores, revoked.id, base_time()).await;
    insert(&stores, &token(other.id, "a", base_time(), MONTH)).await;

    let cases = [
        (base_time(), 2, "both unrevoked tokens before expiry"),
        (
            at(Duration::minutes(59)),
            2,
            "a minute before the first expiry",
        ),
        (
            at(Duration::hours(1)),
            1,
            "at the first token's expires_at it is expired",
        ),
        (
            at(Duration::hours(2)),
            0,
            "at the second token's expires_at it is expired",
        ),
    ];
    for (now, expected, why) in cases {
        let count = stores
            .tokens
            .count_active(owner.id, now)
            .await
            .expect("count_active must succeed");
        assert_eq!(count, expected, "count_active at {now}: {why}");
    }
}

/// `CredentialLookup::lookup` returns the token with its owner and the admin switch,
/// follows settings changes at once, and is `None` for an unknown hash.
pub async fn credential_lookup_returns_token_owner_and_switch(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let stored = token(owner.id, "ci", base_time(), MONTH);
    insert(&stores, &stored).await;

    let record = stores
        .credentials
        .lookup(&stored.secret_hash)
        .await
        .expect("lookup must succeed")
        .expect("lookup must find the token by its hash");
    assert_same_token(&record.token, &stored, "lookup");
    assert_eq!(
        record.owner.as_ref(),
        Some(&owner),
        "lookup must return the owner"
    );
    assert!(record.pats_enabled, "tokens are enabled by default");

    let mut off = stores.settings.get().await.expect("settings");
    off.pats_enabled = false;
    stores
        .settings
        .put(&off, &Journal::default())
        .await
        .expect("settings saved");
    let record = stores
        .credentials
        .lookup(&stored.secret_hash)
        .await
        .expect("lookup must succeed")
        .expect("found");
    assert!(
        !record.pats_enabled,
        "lookup must see the switch turned off at once"
    );

    stores
        .users
        .update(owner.id, None, Some(false), &Journal::default())
        .await
        .expect("deactivate");
    let record = stores
        .credentials
        .lookup(&stored.secret_hash)
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(
        record.owner.map(|u| u.active),
        Some(false),
        "lookup must return the owner as stored now"
    );

    let unknown = stores
        .credentials
        .lookup(&SecretHash::from_bytes([7; 32]))
        .await
        .expect("lookup must succeed");
    assert!(unknown.is_none(), "an unknown hash must be Ok(None)");
}

/// `find_by_hash` finds a token by its exact hash only.
pub async fn find_by_hash_finds_only_exact_hash(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let a = token(owner.id, "a", base_time(), MONTH);
    let b = token(owner.id, "b", base_time(), MONTH);
    insert(&stores, &a).await;
    insert(&stores, &b).await;

    for t in [&a, &b] {
        let found = stores
            .tokens
            .find_by_hash(&t.secret_hash)
            .await
            .expect("find_by_hash must succeed")
            .unwrap_or_else(|| {
                panic!(
                    "find_by_hash must find token {:?} by its hash",
                    t.name.as_str()
                )
            });
        assert_same_token(&found, t, "find_by_hash");
    }

    let mut near = *a.secret_hash.as_bytes();
    near[31] ^= 1;
    let mut prefix_only = *a.secret_hash.as_bytes();
    prefix_only[16..].fill(0);
    for (hash, what) in [
        (
            SecretHash::from_bytes(near),
            "the hash with its last bit flipped",
        ),
        (
            SecretHash::from_bytes(prefix_only),
            "a hash sharing only the first 16 bytes",
        ),
        (SecretHash::from_bytes([0; 32]), "the all-zero hash"),
    ] {
        let found = stores
            .tokens
            .find_by_hash(&hash)
            .await
            .expect("find_by_hash must succeed");
        assert_eq!(found, None, "find_by_hash of {what} must be Ok(None)");
    }
}

/// `find_by_hashes` finds every known hash's token once, with its scopes, skipping
/// unknown hashes, also past one query's worth of hashes.
pub async fn find_by_hashes_finds_each_known_token_once(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut a = token(owner.id, "a", base_time(), MONTH);
    a.scopes = [&a.scopes[..], &[scope("files:read:f1")]].concat().into();
    let b = token(owner.id, "b", base_time(), MONTH);
    let c = token(owner.id, "c", base_time(), MONTH);
    for t in [&a, &b, &c] {
        insert(&stores, t).await;
    }
    let mut asked: Vec<SecretHash> = (0..1200_u32)
        .map(|n| {
            let mut bytes = [0xee_u8; 32];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            SecretHash::from_bytes(bytes)
        })
        .collect();
    asked.push(c.secret_hash);
    asked.insert(0, a.secret_hash);
    asked.push(a.secret_hash);
    let mut found = stores
        .tokens
        .find_by_hashes(&asked)
        .await
        .expect("find_by_hashes must succeed");
    found.sort_by(|x, y| x.name.as_str().cmp(y.name.as_str()));
    assert_eq!(found.len(), 2, "a and c, each once: {found:?}");
    assert_same_token(&found[0], &a, "find_by_hashes (a, with its scopes)");
    assert_same_token(&found[1], &c, "find_by_hashes (c)");
    let none = stores
        .tokens
        .find_by_hashes(&[])
        .await
        .expect("no hashes is no tokens");
    assert!(none.is_empty());
}
