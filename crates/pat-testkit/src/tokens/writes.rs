//! Checks of `TokenStore` changes to a token: details, revoke, regenerate.

use super::*;

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
    revoke_as_owner(&stores, gamma.id, base_time()).await;

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

/// `regenerate` keeps the id, name and scopes, gives the new hash, hint and expiry,
/// clears the revocation and sets `updated_at`; the old hash finds nothing any more.
pub async fn regenerate_replaces_the_secret_and_clears_revocation(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let mut original = token(owner.id, "t", base_time(), MONTH);
    original.scopes = [&original.scopes[..], &[scope("files:read:f1")]]
        .concat()
        .into();
    insert(&stores, &original).await;
    revoke_as_owner(&stores, original.id, at(Duration::hours(1))).await;

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
    revoke_as_owner(&stores, c.id, now).await;
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

/// `regenerate` refuses, under its lock, a token revoked for a reason its owner may not
/// undo (an admin, a leak report, reuse): `NotRevivable`, and the token stays revoked.
/// One its owner revoked is brought back.
pub async fn regenerate_refuses_a_token_its_owner_may_not_revive(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let now = at(Duration::hours(1));
    for reason in [
        RevocationReason::Admin,
        RevocationReason::LeakReport,
        RevocationReason::ReuseDetected,
    ] {
        let t = token(owner.id, reason.as_str(), base_time(), MONTH);
        insert(&stores, &t).await;
        stores
            .tokens
            .revoke(t.id, reason, base_time(), &Journal::default())
            .await
            .expect("revoke must succeed");
        let result = stores
            .tokens
            .regenerate(
                &regeneration(t.id, now, MONTH),
                ROOMY_LIMIT,
                now,
                &Journal::default(),
            )
            .await;
        assert_eq!(result, Err(StoreError::NotRevivable(reason)), "{reason}");
        let stored = fetch(&stores, t.id).await;
        assert_eq!(stored.revoked_reason, Some(reason), "still revoked");
        assert_eq!(stored.secret_hash, t.secret_hash, "the old hash is kept");
    }
    let own = token(owner.id, "own", base_time(), MONTH);
    insert(&stores, &own).await;
    revoke_as_owner(&stores, own.id, base_time()).await;
    let back = stores
        .tokens
        .regenerate(
            &regeneration(own.id, now, MONTH),
            ROOMY_LIMIT,
            now,
            &Journal::default(),
        )
        .await
        .expect("the owner's own revocation may be undone");
    assert_eq!(back.revoked_reason, None);
}

/// Every change to an unknown id is `NotFound`: `update_details`, `revoke`,
/// `regenerate`, `add_scopes`, `clear_scopes` (and `delete`, in its own test).
pub async fn every_change_to_an_unknown_token_is_not_found(stores: Stores) {
    let (id, now, journal) = (unknown_token_id(), base_time(), Journal::default());
    let tokens = &stores.tokens;
    let answers = [
        (
            "update_details",
            tokens
                .update_details(id, &name("x"), &description(""), now, &journal)
                .await
                .map(drop),
        ),
        (
            "revoke",
            tokens
                .revoke(id, RevocationReason::Owner, now, &journal)
                .await
                .map(drop),
        ),
        (
            "regenerate",
            tokens
                .regenerate(&regeneration(id, now, MONTH), ROOMY_LIMIT, now, &journal)
                .await
                .map(drop),
        ),
        (
            "add_scopes",
            tokens
                .add_scopes(id, &[scope("jobs:read")], 10, now, &journal)
                .await
                .map(drop),
        ),
        (
            "clear_scopes",
            tokens.clear_scopes(id, now, &journal).await.map(drop),
        ),
    ];
    for (change, answer) in answers {
        assert_eq!(
            answer,
            Err(StoreError::NotFound),
            "{change} of an unknown id"
        );
    }
}
