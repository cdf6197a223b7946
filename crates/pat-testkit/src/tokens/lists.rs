//! Checks of `TokenStore::list`: paging, order, status and name filters.

use super::*;

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
            revoke_as_owner(&stores, t.id, at(Duration::minutes(10))).await;
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
