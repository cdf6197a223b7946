//! Checks of `TokenStore` scope changes, deletes and last-use writes.

use super::*;

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
        Err(StoreError::ScopeLimit {
            limit: 3,
            would_hold: 4
        }),
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
        Err(StoreError::ScopeLimit {
            limit: 3,
            would_hold: 4
        }),
        "one new spec on a full token exceeds max 3"
    );
    assert_eq!(fetch(&stores, t.id).await.scopes.len(), 3);
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
    let (t2, t3) = (t1 + Duration::seconds(30), t1 + Duration::seconds(61));
    let t4 = t3 + Duration::hours(1);
    // Each use, with `not_since` a minute back: whether it is written, and what the
    // token then shows as its last use.
    let uses = [
        (
            t1,
            v4,
            true,
            (Some(t1), v4),
            "the first use of a never-used token",
        ),
        (
            t2,
            v6,
            false,
            (Some(t1), v4),
            "a use 30 s after the last one",
        ),
        (
            t3,
            v6,
            true,
            (Some(t3), v6),
            "a use 61 s after the last one",
        ),
        (
            t4,
            None,
            true,
            (Some(t4), None),
            "a use an hour later, without an address",
        ),
    ];
    for (used_at, ip, written, shown, what) in uses {
        let wrote = stores
            .tokens
            .record_use(t.id, used_at, ip, used_at - minute)
            .await
            .expect("record_use must succeed");
        assert_eq!(wrote, written, "{what}: written?");
        let stored = fetch(&stores, t.id).await;
        assert_eq!(
            (stored.last_used_at, stored.last_used_ip),
            shown,
            "{what}: the last use shown"
        );
        assert_eq!(
            stored.updated_at, t.updated_at,
            "recording a use does not change updated_at"
        );
    }
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

/// `record_uses` writes each use as `record_use` would — throttled by its `not_since`,
/// unknown ids skipped — and returns how many it wrote.
pub async fn record_uses_writes_a_batch_as_record_use_would(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let fresh = token(owner.id, "fresh", base_time(), MONTH);
    let recent = token(owner.id, "recent", base_time(), MONTH);
    insert(&stores, &fresh).await;
    insert(&stores, &recent).await;
    let t1 = at(Duration::hours(1));
    stores
        .tokens
        .record_use(recent.id, t1, None, t1 - Duration::seconds(60))
        .await
        .expect("record_use must succeed");
    let t2 = t1 + Duration::seconds(30);
    let ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)));
    let batch = [fresh.id, recent.id, unknown_token_id()].map(|token| LastUse {
        token,
        at: t2,
        ip,
        not_since: t2 - Duration::seconds(60),
    });
    let written = stores
        .tokens
        .record_uses(&batch)
        .await
        .expect("record_uses must succeed");
    assert_eq!(written, 1, "only the token not used within the interval");
    let stored = fetch(&stores, fresh.id).await;
    assert_eq!((stored.last_used_at, stored.last_used_ip), (Some(t2), ip));
    assert_eq!(
        fetch(&stores, recent.id).await.last_used_at,
        Some(t1),
        "a use within the interval is not written"
    );
}
