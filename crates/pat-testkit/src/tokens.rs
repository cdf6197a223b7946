//! Checks of [`TokenStore`](pat_core::ports::TokenStore): insert and its limits,
//! lookups, listings, updates, revocation, regeneration, scopes, deletion, last use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::Duration;
use pat_core::model::{
    ReminderKind, ReminderState, RevocationReason, Role, ScopeId, StatusFilter, TokenStatus,
};
use pat_core::ports::{Journal, StoreError};
use pat_core::token::SecretHash;

use crate::Stores;
use crate::fixtures::{at, base_time, description, name, regeneration, scope, token, user};
use crate::support::{
    ROOMY_LIMIT, assert_same_token, fetch, insert, list, names, normalized, page, query,
    unknown_token_id,
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
    stores
        .tokens
        .revoke(
            revoked.id,
            RevocationReason::Owner,
            at(Duration::minutes(1)),
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");
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
    stores
        .tokens
        .revoke(
            revoked.id,
            RevocationReason::Owner,
            base_time(),
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");

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
    stores
        .tokens
        .revoke(
            revoked.id,
            RevocationReason::Owner,
            base_time(),
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");
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

/// `list` returns one owner's tokens newest first, a page at a time, with the total.
pub async fn list_pages_newest_first(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let other = user(&stores, Role::Member).await;
    let tokens: Vec<_> = (0..5)
        .map(|i| token(owner.id, &format!("t{i}"), at(Duration::minutes(i)), MONTH))
        .collect();
    for i in [2, 0, 4, 1, 3] {
        insert(&stores, &tokens[i]).await;
    }
    insert(
        &stores,
        &token(other.id, "t9", at(Duration::minutes(9)), MONTH),
    )
    .await;

    let now = at(Duration::hours(1));
    let expected: [&[&str]; 4] = [&["t4", "t3"], &["t2", "t1"], &["t0"], &[]];
    for (number, want) in (1..).zip(expected) {
        let got = list(
            &stores,
            &query(owner.id, StatusFilter::All, None, now, page(number, 2)),
        )
        .await;
        assert_eq!(
            names(&got.items),
            want,
            "page {number} of 2 tokens each, newest first"
        );
        assert_eq!(
            got.total_items, 5,
            "total_items counts every page (page {number})"
        );
    }
    let all = list(
        &stores,
        &query(owner.id, StatusFilter::All, None, now, page(1, 100)),
    )
    .await;
    for (got, want) in all.items.iter().zip(tokens.iter().rev()) {
        assert_same_token(got, want, "list items are the stored tokens");
    }
}

/// Tokens created at the same instant are listed by id, greatest (newest) first.
pub async fn list_breaks_creation_time_ties_by_id_newest_first(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let now = base_time();
    let tokens: Vec<_> = ["first", "second", "third"]
        .into_iter()
        .map(|n| token(owner.id, n, now, MONTH))
        .collect();
    for i in [1, 2, 0] {
        insert(&stores, &tokens[i]).await;
    }
    let got = list(
        &stores,
        &query(owner.id, StatusFilter::All, None, now, page(1, 10)),
    )
    .await;
    assert_eq!(
        names(&got.items),
        ["third", "second", "first"],
        "equal created_at: the greater id comes first (ids of later tokens are greater)"
    );
}

/// The status filter keeps active, expired (unrevoked, `now >= expires_at`) or revoked
/// (whatever the expiry) tokens, and the total counts only the matches.
pub async fn list_filters_by_status(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let now = at(Duration::days(1));
    let specs = [
        ("active", Duration::days(30), false),
        ("expired", Duration::hours(1), false),
        ("expires now", Duration::zero(), false),
        ("revoked", Duration::days(30), true),
        ("revoked and expired", Duration::hours(1), true),
    ];
    for (i, (name, expires_in, revoke)) in (0..).zip(specs) {
        let mut t = token(owner.id, name, at(Duration::seconds(i)), expires_in);
        if expires_in.is_zero() {
            // Expiring exactly at `now`: status is expired from that instant on.
            t.expires_at = now;
        }
        insert(&stores, &t).await;
        if revoke {
            stores
                .tokens
                .revoke(
                    t.id,
                    RevocationReason::Owner,
                    at(Duration::minutes(10)),
                    &Journal::default(),
                )
                .await
                .expect("revoke must succeed");
        }
    }

    let cases: [(StatusFilter, &[&str]); 4] = [
        (StatusFilter::Only(TokenStatus::Active), &["active"]),
        (
            StatusFilter::Only(TokenStatus::Expired),
            &["expires now", "expired"],
        ),
        (
            StatusFilter::Only(TokenStatus::Revoked),
            &["revoked and expired", "revoked"],
        ),
        (
            StatusFilter::All,
            &[
                "revoked and expired",
                "revoked",
                "expires now",
                "expired",
                "active",
            ],
        ),
    ];
    for (status, want) in cases {
        let got = list(&stores, &query(owner.id, status, None, now, page(1, 20))).await;
        assert_eq!(
            names(&got.items),
            want,
            "list with status {status:?} at {now}"
        );
        assert_eq!(
            got.total_items,
            want.len() as u64,
            "total_items with status {status:?}"
        );
    }
    let small = list(
        &stores,
        &query(
            owner.id,
            StatusFilter::Only(TokenStatus::Revoked),
            None,
            now,
            page(2, 1),
        ),
    )
    .await;
    assert_eq!(
        names(&small.items),
        ["revoked"],
        "filtered listings page too"
    );
    assert_eq!(small.total_items, 2);
}

/// `name_contains` keeps names holding the text anywhere, ignoring case.
pub async fn list_filters_by_name_substring_ignoring_case(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    for (i, n) in (0..).zip(["Deploy-Prod", "deploy-staging", "CI", "Redeploy", "Docs"]) {
        insert(
            &stores,
            &token(owner.id, n, at(Duration::seconds(i)), MONTH),
        )
        .await;
    }
    let now = at(Duration::hours(1));
    let cases: [(&str, &[&str]); 6] = [
        ("DEPLOY", &["Redeploy", "deploy-staging", "Deploy-Prod"]),
        ("deploy-", &["deploy-staging", "Deploy-Prod"]),
        ("ci", &["CI"]),
        ("o", &["Docs", "Redeploy", "deploy-staging", "Deploy-Prod"]),
        ("Docs", &["Docs"]),
        ("zzz", &[]),
    ];
    for (needle, want) in cases {
        let got = list(
            &stores,
            &query(owner.id, StatusFilter::All, Some(needle), now, page(1, 20)),
        )
        .await;
        assert_eq!(names(&got.items), want, "name_contains {needle:?}");
        assert_eq!(
            got.total_items,
            want.len() as u64,
            "total_items with name_contains {needle:?}"
        );
    }
    let both = list(
        &stores,
        &query(
            owner.id,
            StatusFilter::Only(TokenStatus::Expired),
            Some("deploy"),
            now,
            page(1, 20),
        ),
    )
    .await;
    assert_eq!(
        names(&both.items),
        Vec::<String>::new(),
        "name and status filters combine"
    );
}

/// `name_contains` is plain text: `%`, `_`, `*`, `\` and quotes match only themselves.
pub async fn list_name_filter_matches_wildcard_characters_literally(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let all = [
        "100% done",
        "a_b",
        "axb",
        "star*",
        "back\\slash",
        "it's",
        "plain",
    ];
    for (i, n) in (0..).zip(all) {
        insert(
            &stores,
            &token(owner.id, n, at(Duration::seconds(i)), MONTH),
        )
        .await;
    }
    let now = at(Duration::hours(1));
    let cases: [(&str, &[&str]); 6] = [
        ("%", &["100% done"]),
        ("_", &["a_b"]),
        ("*", &["star*"]),
        ("\\", &["back\\slash"]),
        ("'", &["it's"]),
        ("a_", &["a_b"]),
    ];
    for (needle, want) in cases {
        let got = list(
            &stores,
            &query(owner.id, StatusFilter::All, Some(needle), now, page(1, 20)),
        )
        .await;
        assert_eq!(
            names(&got.items),
            want,
            "name_contains {needle:?} must match the character literally"
        );
    }
}

/// `update_details` sets name, description and `updated_at`, keeps everything else,
/// and returns the token as stored.
pub async fn update_details_sets_name_description_and_updated_at(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let original = token(owner.id, "old name", base_time(), MONTH);
    insert(&stores, &original).await;

    let later = at(Duration::hours(3));
    let updated = stores
        .tokens
        .update_details(
            original.id,
            &name("New Name"),
            &description("now described"),
            later,
            &Journal::default(),
        )
        .await
        .expect("update_details of a stored token must succeed");
    let mut expected = original.clone();
    expected.name = name("New Name");
    expected.description = description("now described");
    expected.updated_at = later;
    assert_same_token(&updated, &expected, "update_details result");
    assert_same_token(
        &fetch(&stores, original.id).await,
        &expected,
        "get after update_details",
    );

    let freed = token(owner.id, "OLD NAME", later, MONTH);
    let result = stores
        .tokens
        .insert(&freed, ROOMY_LIMIT, later, &Journal::default())
        .await;
    assert_eq!(
        result,
        Ok(()),
        "the old name is free once the token is renamed"
    );
}

/// `update_details` of an unknown id is `NotFound`.
pub async fn update_details_of_unknown_token_is_not_found(stores: Stores) {
    let result = stores
        .tokens
        .update_details(
            unknown_token_id(),
            &name("x"),
            &description(""),
            base_time(),
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "update_details of an unknown id"
    );
}

/// Renaming to the name of another token of the same owner (ignoring case, whatever
/// that token's status) is `DuplicateName` and changes nothing.
pub async fn update_details_refuses_a_name_another_token_of_the_owner_has(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let alpha = token(owner.id, "alpha", base_time(), MONTH);
    let beta = token(owner.id, "beta", base_time(), MONTH);
    let gamma = token(owner.id, "gamma", base_time(), MONTH);
    for t in [&alpha, &beta, &gamma] {
        insert(&stores, t).await;
    }
    stores
        .tokens
        .revoke(
            gamma.id,
            RevocationReason::Owner,
            base_time(),
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");

    for clash in ["ALPHA", "alpha", "Gamma"] {
        let result = stores
            .tokens
            .update_details(
                beta.id,
                &name(clash),
                &description("changed"),
                at(Duration::hours(1)),
                &Journal::default(),
            )
            .await;
        assert_eq!(
            result,
            Err(StoreError::DuplicateName),
            "renaming \"beta\" to {clash:?}"
        );
    }
    assert_same_token(
        &fetch(&stores, beta.id).await,
        &beta,
        "a refused update_details changes nothing",
    );
}

/// Another owner's token names do not clash.
pub async fn update_details_accepts_a_name_another_owner_uses(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    insert(&stores, &token(alice.id, "shared", base_time(), MONTH)).await;
    let bobs = token(bob.id, "mine", base_time(), MONTH);
    insert(&stores, &bobs).await;
    let updated = stores
        .tokens
        .update_details(
            bobs.id,
            &name("Shared"),
            &description(""),
            at(Duration::hours(1)),
            &Journal::default(),
        )
        .await
        .expect("a name another owner uses must be accepted");
    assert_eq!(updated.name.as_str(), "Shared");
}

/// A token may be renamed to its own name in another case (or to the same name).
pub async fn update_details_may_change_the_case_of_its_own_name(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "deploy", base_time(), MONTH);
    insert(&stores, &t).await;
    for new in ["Deploy", "Deploy", "DEPLOY"] {
        let updated = stores
            .tokens
            .update_details(
                t.id,
                &name(new),
                &description("d"),
                at(Duration::hours(1)),
                &Journal::default(),
            )
            .await
            .unwrap_or_else(|e| {
                panic!("renaming a token to its own name as {new:?} must succeed, got {e:?}")
            });
        assert_eq!(updated.name.as_str(), new, "the new case is stored");
    }
    assert_eq!(fetch(&stores, t.id).await.name.as_str(), "DEPLOY");
}

/// `revoke` sets `revoked_at`, its reason (and `updated_at`) the first time; revoking
/// again keeps the first time and reason.
pub async fn revoke_is_idempotent_and_keeps_first_time(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), MONTH);
    insert(&stores, &t).await;

    let first = at(Duration::hours(1));
    let revoked = stores
        .tokens
        .revoke(
            t.id,
            RevocationReason::LeakReport,
            first,
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");
    let mut expected = t.clone();
    expected.revoked_at = Some(first);
    expected.revoked_reason = Some(RevocationReason::LeakReport);
    expected.updated_at = first;
    assert_same_token(&revoked, &expected, "revoke result");
    assert_eq!(revoked.status(first), TokenStatus::Revoked);

    let again = stores
        .tokens
        .revoke(
            t.id,
            RevocationReason::Admin,
            at(Duration::hours(2)),
            &Journal::default(),
        )
        .await
        .expect("a second revoke must succeed");
    assert_eq!(
        (again.revoked_at, again.revoked_reason),
        (Some(first), Some(RevocationReason::LeakReport)),
        "a second revoke keeps the first revocation time and reason"
    );
    let stored = fetch(&stores, t.id).await;
    assert_eq!(
        (stored.revoked_at, stored.revoked_reason),
        (Some(first), Some(RevocationReason::LeakReport)),
        "a second revoke keeps the first revocation time and reason"
    );
    let count = stores
        .tokens
        .count_active(owner.id, first)
        .await
        .expect("count_active must succeed");
    assert_eq!(count, 0, "a revoked token is not active");
}

/// `revoke` of an unknown id is `NotFound`.
pub async fn revoke_of_unknown_token_is_not_found(stores: Stores) {
    let result = stores
        .tokens
        .revoke(
            unknown_token_id(),
            RevocationReason::Owner,
            base_time(),
            &Journal::default(),
        )
        .await;
    assert_eq!(result, Err(StoreError::NotFound), "revoke of an unknown id");
}

/// `regenerate` keeps the id, name and scopes, gives the new hash, hint and expiry,
/// clears the revocation and sets `updated_at`; the old hash finds nothing any more.
pub async fn regenerate_replaces_the_secret_and_clears_revocation(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut original = token(owner.id, "t", base_time(), MONTH);
    original.scopes = [&original.scopes[..], &[scope("files:read:f1")]]
        .concat()
        .into();
    insert(&stores, &original).await;
    stores
        .tokens
        .revoke(
            original.id,
            RevocationReason::Admin,
            at(Duration::hours(1)),
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");

    let now = at(Duration::hours(2));
    let new = regeneration(original.id, now, Duration::days(60));
    let regenerated = stores
        .tokens
        .regenerate(&new, ROOMY_LIMIT, now, &Journal::default())
        .await
        .expect("regenerate of a revoked token under the limit must succeed");
    assert_eq!(regenerated.id, original.id, "regeneration keeps the id");
    assert_eq!(
        regenerated.secret_hash, new.secret_hash,
        "regeneration stores the new hash"
    );
    assert_eq!(
        regenerated.hint, new.hint,
        "regeneration stores the new hint"
    );
    assert_eq!(
        regenerated.expires_at, new.expires_at,
        "regeneration stores the new expiry"
    );
    assert_eq!(
        (regenerated.revoked_at, regenerated.revoked_reason),
        (None, None),
        "regeneration clears revoked_at and its reason"
    );
    assert_eq!(
        fetch(&stores, original.id).await.revoked_reason,
        None,
        "the stored reason is cleared too"
    );
    assert_eq!(regenerated.updated_at, now, "regeneration sets updated_at");
    assert_eq!(
        regenerated.created_at, original.created_at,
        "regeneration keeps created_at"
    );
    assert_eq!(
        regenerated.name, original.name,
        "regeneration keeps the name"
    );
    assert_eq!(
        regenerated.owner, original.owner,
        "regeneration keeps the owner"
    );
    assert_eq!(
        normalized(&regenerated).scopes,
        normalized(&original).scopes,
        "regeneration keeps the scopes"
    );
    assert_eq!(regenerated.status(now), TokenStatus::Active);
    assert_same_token(
        &fetch(&stores, original.id).await,
        &regenerated,
        "get after regenerate",
    );

    let old = stores
        .tokens
        .find_by_hash(&original.secret_hash)
        .await
        .expect("find_by_hash must succeed");
    assert_eq!(old, None, "the old hash must no longer find the token");
    let found = stores
        .tokens
        .find_by_hash(&new.secret_hash)
        .await
        .expect("find_by_hash must succeed")
        .expect("the new hash must find the regenerated token");
    assert_eq!(found.id, original.id);
}

/// `regenerate` adds 1 to the generation and resets the reminder state.
pub async fn regenerate_bumps_generation_and_resets_reminders(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), Duration::days(3));
    insert(&stores, &t).await;
    for kind in [ReminderKind::ExpiringSoon, ReminderKind::Expired] {
        let marked = stores
            .tokens
            .mark_reminded(t.id, kind, 1)
            .await
            .expect("mark_reminded must succeed");
        assert!(
            marked,
            "mark_reminded({kind:?}) for the current generation 1 must return true"
        );
    }
    let marked = fetch(&stores, t.id).await;
    assert_eq!(
        marked.reminders,
        ReminderState {
            expiring_soon_sent_for: Some(1),
            expired_sent_for: Some(1)
        },
        "mark_reminded records the generation per kind"
    );

    let mut generation = 1;
    for hours in [1, 2] {
        let now = at(Duration::hours(hours));
        let regenerated = stores
            .tokens
            .regenerate(
                &regeneration(t.id, now, MONTH),
                ROOMY_LIMIT,
                now,
                &Journal::default(),
            )
            .await
            .expect("regenerate must succeed");
        generation += 1;
        assert_eq!(
            regenerated.generation, generation,
            "each regeneration adds 1 to the generation"
        );
        assert_eq!(
            regenerated.reminders,
            ReminderState::default(),
            "regeneration resets the reminder state"
        );
        assert_eq!(fetch(&stores, t.id).await.generation, generation);
    }
}

/// `regenerate` is refused with `ActiveLimit` when the owner has `active_limit` active
/// tokens besides this one; the token itself never counts.
pub async fn regenerate_counts_against_limit_excluding_itself(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let a = token(owner.id, "a", base_time(), MONTH);
    let b = token(owner.id, "b", base_time(), MONTH);
    insert(&stores, &a).await;
    insert(&stores, &b).await;
    let now = at(Duration::hours(1));

    let result = stores
        .tokens
        .regenerate(&regeneration(a.id, now, MONTH), 2, now, &Journal::default())
        .await;
    assert!(
        result.is_ok(),
        "active a and b at limit 2: regenerating a must succeed (a excludes itself), got {result:?}"
    );
    let result = stores
        .tokens
        .regenerate(&regeneration(a.id, now, MONTH), 1, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::ActiveLimit { limit: 1 }),
        "b alone reaches limit 1 when regenerating a"
    );

    let c = token(owner.id, "c", base_time(), MONTH);
    insert(&stores, &c).await;
    stores
        .tokens
        .revoke(c.id, RevocationReason::Owner, now, &Journal::default())
        .await
        .expect("revoke must succeed");
    let before = fetch(&stores, c.id).await;
    let attempt = regeneration(c.id, now, MONTH);
    let result = stores
        .tokens
        .regenerate(&attempt, 2, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::ActiveLimit { limit: 2 }),
        "a and b reach limit 2 when regenerating revoked c"
    );
    assert_same_token(
        &fetch(&stores, c.id).await,
        &before,
        "a refused regenerate changes nothing",
    );
    let by_new = stores
        .tokens
        .find_by_hash(&attempt.secret_hash)
        .await
        .expect("find_by_hash must succeed");
    assert_eq!(
        by_new, None,
        "a refused regenerate must not store the new hash"
    );

    let result = stores
        .tokens
        .regenerate(&regeneration(c.id, now, MONTH), 3, now, &Journal::default())
        .await;
    assert!(
        result.is_ok(),
        "regenerating c under limit 3 must succeed, got {result:?}"
    );

    let expired = token(owner.id, "expired", base_time(), Duration::minutes(30));
    insert(&stores, &expired).await;
    let result = stores
        .tokens
        .regenerate(
            &regeneration(expired.id, now, MONTH),
            3,
            now,
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::ActiveLimit { limit: 3 }),
        "a, b and c reach limit 3 when regenerating an expired token"
    );
}

/// `regenerate` of an unknown id is `NotFound`.
pub async fn regenerate_of_unknown_token_is_not_found(stores: Stores) {
    let now = base_time();
    let result = stores
        .tokens
        .regenerate(
            &regeneration(unknown_token_id(), now, MONTH),
            ROOMY_LIMIT,
            now,
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "regenerate of an unknown id"
    );
}

/// `add_scopes` adds only specs the token does not hold (equal specs, written in any
/// order, are no-ops) and sets `updated_at`.
pub async fn add_scopes_skips_existing_specs(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut t = token(owner.id, "t", base_time(), MONTH);
    t.scopes = vec![scope("jobs:list"), scope("channels:publish:a,b")].into();
    insert(&stores, &t).await;

    let now = at(Duration::hours(1));
    let read = scope("jobs:read");
    let added = stores
        .tokens
        .add_scopes(
            t.id,
            &[
                scope("jobs:list"),
                read.clone(),
                scope("channels:publish:b,a"),
            ],
            10,
            now,
            &Journal::default(),
        )
        .await
        .expect("add_scopes must succeed");
    let mut expected = t.clone();
    expected.scopes = [&t.scopes[..], &[read]].concat().into();
    expected.updated_at = now;
    assert_same_token(
        &added,
        &expected,
        "add_scopes keeps existing scopes with their ids and adds only new specs",
    );
    assert_same_token(
        &fetch(&stores, t.id).await,
        &expected,
        "get after add_scopes",
    );
}

/// `add_scopes` refuses with `ScopeLimit` when the new total would exceed
/// `max_scopes`, changing nothing; reaching it exactly is fine, and existing specs do
/// not count as new.
pub async fn add_scopes_respects_max(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), MONTH);
    insert(&stores, &t).await;
    let now = at(Duration::hours(1));

    let result = stores
        .tokens
        .add_scopes(
            t.id,
            &[scope("a:read"), scope("b:read"), scope("c:read")],
            3,
            now,
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::ScopeLimit { limit: 3 }),
        "1 + 3 scopes exceed max 3"
    );
    assert_same_token(
        &fetch(&stores, t.id).await,
        &t,
        "a refused add_scopes changes nothing",
    );

    let result = stores
        .tokens
        .add_scopes(
            t.id,
            &[scope("a:read"), scope("b:read")],
            3,
            now,
            &Journal::default(),
        )
        .await;
    let full = result.expect("1 + 2 scopes reach max 3 exactly, which is allowed");
    assert_eq!(full.scopes.len(), 3);

    let result = stores
        .tokens
        .add_scopes(
            t.id,
            &[scope("jobs:list"), scope("a:read")],
            3,
            now,
            &Journal::default(),
        )
        .await;
    let same =
        result.expect("adding only specs the token holds adds nothing, so max 3 is not exceeded");
    assert_eq!(same.scopes.len(), 3);

    let result = stores
        .tokens
        .add_scopes(
            t.id,
            &[scope("a:read"), scope("d:read")],
            3,
            now,
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::ScopeLimit { limit: 3 }),
        "one new spec on a full token exceeds max 3"
    );
    assert_eq!(fetch(&stores, t.id).await.scopes.len(), 3);
}

/// `add_scopes` on an unknown id is `NotFound`.
pub async fn add_scopes_to_unknown_token_is_not_found(stores: Stores) {
    let result = stores
        .tokens
        .add_scopes(
            unknown_token_id(),
            &[scope("jobs:read")],
            10,
            base_time(),
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "add_scopes on an unknown id"
    );
}

/// `remove_scope` removes exactly that scope and sets `updated_at`.
pub async fn remove_scope_removes_only_that_scope(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut t = token(owner.id, "t", base_time(), MONTH);
    let keep = scope("jobs:list");
    let drop = scope("jobs:read");
    t.scopes = vec![keep.clone(), drop.clone()].into();
    insert(&stores, &t).await;

    let now = at(Duration::hours(1));
    let removed = stores
        .tokens
        .remove_scope(t.id, drop.id, now, &Journal::default())
        .await
        .expect("remove_scope must succeed");
    let mut expected = t.clone();
    expected.scopes = vec![keep].into();
    expected.updated_at = now;
    assert_same_token(&removed, &expected, "remove_scope result");
    assert_same_token(
        &fetch(&stores, t.id).await,
        &expected,
        "get after remove_scope",
    );

    let again = stores
        .tokens
        .remove_scope(t.id, drop.id, now, &Journal::default())
        .await;
    assert_eq!(
        again,
        Err(StoreError::NotFound),
        "removing an already removed scope"
    );
}

/// `remove_scope` is `NotFound` for an unknown token, an unknown scope, and a scope of
/// another token.
pub async fn remove_scope_of_unknown_token_or_scope_is_not_found(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let a = token(owner.id, "a", base_time(), MONTH);
    let b = token(owner.id, "b", base_time(), MONTH);
    insert(&stores, &a).await;
    insert(&stores, &b).await;
    let now = at(Duration::hours(1));

    let result = stores
        .tokens
        .remove_scope(unknown_token_id(), a.scopes[0].id, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "remove_scope on an unknown token"
    );
    let result = stores
        .tokens
        .remove_scope(
            a.id,
            ScopeId(crate::fixtures::unique_uuid()),
            now,
            &Journal::default(),
        )
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "remove_scope of an unknown scope"
    );
    let result = stores
        .tokens
        .remove_scope(a.id, b.scopes[0].id, now, &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "remove_scope of another token's scope"
    );
    assert_same_token(
        &fetch(&stores, b.id).await,
        &b,
        "the other token keeps its scope",
    );
    assert_same_token(
        &fetch(&stores, a.id).await,
        &a,
        "a refused remove_scope changes nothing",
    );
}

/// `clear_scopes` leaves the token with no scopes and sets `updated_at`; scopes can be
/// added again afterwards.
pub async fn clear_scopes_removes_every_scope(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut t = token(owner.id, "t", base_time(), MONTH);
    t.scopes = vec![scope("jobs:list"), scope("jobs:read"), scope("*:*")].into();
    insert(&stores, &t).await;

    let now = at(Duration::hours(1));
    let cleared = stores
        .tokens
        .clear_scopes(t.id, now, &Journal::default())
        .await
        .expect("clear_scopes must succeed");
    let mut expected = t.clone();
    expected.scopes = Vec::new().into();
    expected.updated_at = now;
    assert_same_token(&cleared, &expected, "clear_scopes result");
    assert_same_token(
        &fetch(&stores, t.id).await,
        &expected,
        "get after clear_scopes",
    );

    let again = stores
        .tokens
        .clear_scopes(t.id, now, &Journal::default())
        .await
        .expect("clearing an empty token must succeed");
    assert!(again.scopes.is_empty());
    let re_added = stores
        .tokens
        .add_scopes(t.id, &[scope("jobs:list")], 10, now, &Journal::default())
        .await
        .expect("add_scopes after clear_scopes must succeed");
    assert_eq!(re_added.scopes.len(), 1);
}

/// `clear_scopes` of an unknown id is `NotFound`.
pub async fn clear_scopes_of_unknown_token_is_not_found(stores: Stores) {
    let result = stores
        .tokens
        .clear_scopes(unknown_token_id(), base_time(), &Journal::default())
        .await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "clear_scopes of an unknown id"
    );
}

/// `delete` removes the token and its scopes: it is found by no lookup, its name is
/// free, and the very same token (ids included) can be stored again.
pub async fn delete_removes_the_token_and_its_scopes(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut t = token(owner.id, "doomed", base_time(), MONTH);
    t.scopes = [&t.scopes[..], &[scope("files:read")]].concat().into();
    let keep = token(owner.id, "kept", base_time(), MONTH);
    insert(&stores, &t).await;
    insert(&stores, &keep).await;

    stores
        .tokens
        .delete(t.id, &Journal::default())
        .await
        .expect("delete of a stored token must succeed");
    assert_eq!(
        stores.tokens.get(t.id).await.expect("get must succeed"),
        None,
        "get after delete"
    );
    let by_hash = stores
        .tokens
        .find_by_hash(&t.secret_hash)
        .await
        .expect("find_by_hash must succeed");
    assert_eq!(by_hash, None, "find_by_hash after delete");
    let listed = list(
        &stores,
        &query(owner.id, StatusFilter::All, None, base_time(), page(1, 10)),
    )
    .await;
    assert_eq!(names(&listed.items), ["kept"], "list after delete");
    assert_eq!(listed.total_items, 1);
    let count = stores
        .tokens
        .count_active(owner.id, base_time())
        .await
        .expect("count_active must succeed");
    assert_eq!(count, 1, "a deleted token is not counted");
    assert_same_token(
        &fetch(&stores, keep.id).await,
        &keep,
        "delete leaves other tokens alone",
    );

    stores
        .tokens
        .insert(&t, ROOMY_LIMIT, base_time(), &Journal::default())
        .await
        .expect("after delete, the same token with the same scope ids can be stored again");
    assert_same_token(&fetch(&stores, t.id).await, &t, "get after re-insert");
}

/// `delete` of an unknown id (or a deleted one) is `NotFound`.
pub async fn delete_of_unknown_token_is_not_found(stores: Stores) {
    let result = stores
        .tokens
        .delete(unknown_token_id(), &Journal::default())
        .await;
    assert_eq!(result, Err(StoreError::NotFound), "delete of an unknown id");

    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), MONTH);
    insert(&stores, &t).await;
    stores
        .tokens
        .delete(t.id, &Journal::default())
        .await
        .expect("delete must succeed");
    let result = stores.tokens.delete(t.id, &Journal::default()).await;
    assert_eq!(
        result,
        Err(StoreError::NotFound),
        "a second delete of the same id"
    );
}

/// `record_use` writes `last_used_at`/`last_used_ip` only when the last use is absent
/// or older than `not_since`, says whether it wrote, and leaves `updated_at` alone.
pub async fn record_use_is_throttled(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), MONTH);
    insert(&stores, &t).await;
    let v4 = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    let v6 = Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    let minute = Duration::seconds(60);

    let t1 = at(Duration::hours(1));
    let wrote = stores
        .tokens
        .record_use(t.id, t1, v4, t1 - minute)
        .await
        .expect("record_use must succeed");
    assert!(wrote, "the first use of a never-used token must be written");
    let stored = fetch(&stores, t.id).await;
    assert_eq!(
        (stored.last_used_at, stored.last_used_ip),
        (Some(t1), v4),
        "the first use is recorded"
    );
    assert_eq!(
        stored.updated_at, t.updated_at,
        "recording a use does not change updated_at"
    );

    let t2 = t1 + Duration::seconds(30);
    let wrote = stores
        .tokens
        .record_use(t.id, t2, v6, t2 - minute)
        .await
        .expect("record_use must succeed");
    assert!(
        !wrote,
        "a use 30 s after the last one, with not_since 60 s back, must not be written"
    );
    let stored = fetch(&stores, t.id).await;
    assert_eq!(
        (stored.last_used_at, stored.last_used_ip),
        (Some(t1), v4),
        "a throttled use changes nothing"
    );

    let t3 = t1 + Duration::seconds(61);
    let wrote = stores
        .tokens
        .record_use(t.id, t3, v6, t3 - minute)
        .await
        .expect("record_use must succeed");
    assert!(
        wrote,
        "a use 61 s after the last one, with not_since 60 s back, must be written"
    );
    let stored = fetch(&stores, t.id).await;
    assert_eq!(
        (stored.last_used_at, stored.last_used_ip),
        (Some(t3), v6),
        "the later use is recorded"
    );

    let t4 = t3 + Duration::hours(1);
    let wrote = stores
        .tokens
        .record_use(t.id, t4, None, t4 - minute)
        .await
        .expect("record_use must succeed");
    assert!(wrote, "a use an hour later must be written");
    let stored = fetch(&stores, t.id).await;
    assert_eq!(
        (stored.last_used_at, stored.last_used_ip),
        (Some(t4), None),
        "a use without an address records none"
    );
}

/// `record_use` of an unknown id is `Ok(false)`.
pub async fn record_use_of_unknown_token_is_ok_false(stores: Stores) {
    let now = base_time();
    let wrote = stores
        .tokens
        .record_use(unknown_token_id(), now, None, now - Duration::seconds(60))
        .await
        .expect("record_use of an unknown id must be Ok(false), not an error");
    assert!(!wrote, "record_use of an unknown id must be Ok(false)");
}
