//! Checks of the secret history: what [`TokenStore::regenerate`] retires and
//! [`SecretHistory`](pat_core::ports::SecretHistory) gives back.
//!
//! [`TokenStore::regenerate`]: pat_core::ports::TokenStore::regenerate

use chrono::Duration;
use pat_core::model::{AuditAction, AuditQuery, NoticeKind, PageRequest, RevocationReason, Role};
use pat_core::ports::{Journal, RetiredSecret, StoreError};
use pat_core::token::SecretHash;

use crate::Stores;
use crate::audit::event;
use crate::fixtures::{at, base_time, regeneration, secret_hash, token, user};
use crate::outbox::message;
use crate::support::{ROOMY_LIMIT, fetch, insert, unknown_token_id};

const MONTH: Duration = Duration::days(30);

async fn retired(stores: &Stores, hash: &SecretHash) -> Option<RetiredSecret> {
    stores
        .history
        .find_retired(hash)
        .await
        .expect("SecretHistory::find_retired must succeed")
}

/// A regeneration retires the old secret with its generation, grace and keep times;
/// the new secret is not retired.
pub async fn regenerate_retires_the_old_secret(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "rotated", base_time(), MONTH);
    insert(&stores, &t).await;
    let now = at(Duration::hours(1));
    let mut change = regeneration(t.id, now, MONTH);
    change.grace_until = now + Duration::minutes(10);
    change.keep_retired_until = now + Duration::days(180);
    stores
        .tokens
        .regenerate(&change, ROOMY_LIMIT, now, &Journal::default())
        .await
        .expect("regenerate must succeed");
    assert_eq!(
        retired(&stores, &t.secret_hash).await,
        Some(RetiredSecret {
            secret_hash: t.secret_hash,
            token: t.id,
            generation: t.generation,
            retired_at: now,
            grace_until: now + Duration::minutes(10),
            keep_until: now + Duration::days(180),
        }),
        "the old secret is retired with the generation it had"
    );
    assert_eq!(
        retired(&stores, &change.secret_hash).await,
        None,
        "the new one is current"
    );
    assert_eq!(
        retired(&stores, &secret_hash()).await,
        None,
        "an unknown hash"
    );
}

/// One retired secret in grace at a time: a second regeneration ends the first one's
/// grace at its own time.
pub async fn a_second_regeneration_ends_the_earlier_grace(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "twice", base_time(), MONTH);
    insert(&stores, &t).await;
    let first_at = at(Duration::hours(1));
    let mut first = regeneration(t.id, first_at, MONTH);
    first.grace_until = first_at + Duration::hours(24);
    stores
        .tokens
        .regenerate(&first, ROOMY_LIMIT, first_at, &Journal::default())
        .await
        .expect("first regeneration");
    let second_at = at(Duration::hours(2));
    let mut second = regeneration(t.id, second_at, MONTH);
    second.grace_until = second_at + Duration::hours(24);
    stores
        .tokens
        .regenerate(&second, ROOMY_LIMIT, second_at, &Journal::default())
        .await
        .expect("second regeneration");
    let oldest = retired(&stores, &t.secret_hash)
        .await
        .expect("retired first");
    assert_eq!(
        oldest.grace_until, second_at,
        "its grace ended at the second regeneration"
    );
    let middle = retired(&stores, &first.secret_hash)
        .await
        .expect("retired second");
    assert_eq!(middle.generation, t.generation + 1);
    assert_eq!(middle.grace_until, second_at + Duration::hours(24));
}

/// Deleting a token forgets its retired secrets; `forget_retired` drops those kept
/// only until before its time.
pub async fn retired_secrets_are_forgotten_with_their_token_or_in_time(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let kept = token(owner.id, "kept", base_time(), MONTH);
    let deleted = token(owner.id, "deleted", base_time(), MONTH);
    for t in [&kept, &deleted] {
        insert(&stores, t).await;
        let mut change = regeneration(t.id, base_time(), MONTH);
        change.keep_retired_until = at(Duration::days(10));
        stores
            .tokens
            .regenerate(&change, ROOMY_LIMIT, base_time(), &Journal::default())
            .await
            .expect("regenerate");
    }
    stores
        .tokens
        .delete(deleted.id, &Journal::default())
        .await
        .expect("delete");
    assert_eq!(
        retired(&stores, &deleted.secret_hash).await,
        None,
        "gone with its token"
    );
    let forget = |now| stores.history.forget_retired(now);
    assert_eq!(
        forget(at(Duration::days(10))).await,
        Ok(0),
        "kept until then"
    );
    assert!(retired(&stores, &kept.secret_hash).await.is_some());
    assert_eq!(forget(at(Duration::days(11))).await, Ok(1));
    assert_eq!(retired(&stores, &kept.secret_hash).await, None);
}

/// A regeneration with a grace period shows until when the previous secret works; one
/// without shows none; either clears an earlier reuse sighting.
pub async fn regenerate_records_the_previous_secrets_grace(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "graceful", base_time(), MONTH);
    insert(&stores, &t).await;
    let first_at = at(Duration::hours(1));
    stores
        .tokens
        .record_reuse(t.id, false, first_at, &Journal::default())
        .await
        .expect("record_reuse must succeed");
    let mut first = regeneration(t.id, first_at, MONTH);
    first.grace_until = first_at + Duration::minutes(30);
    let renewed = stores
        .tokens
        .regenerate(&first, ROOMY_LIMIT, first_at, &Journal::default())
        .await
        .expect("regenerate must succeed");
    assert_eq!(
        renewed.previous_secret_valid_until,
        Some(first_at + Duration::minutes(30))
    );
    assert_eq!(renewed.reuse_detected_at, None, "a new secret starts clean");
    assert_eq!(fetch(&stores, t.id).await, renewed, "as stored");
    let second_at = at(Duration::hours(2));
    let renewed = stores
        .tokens
        .regenerate(
            &regeneration(t.id, second_at, MONTH),
            ROOMY_LIMIT,
            second_at,
            &Journal::default(),
        )
        .await
        .expect("regenerate must succeed");
    assert_eq!(
        renewed.previous_secret_valid_until, None,
        "no grace: the previous secret stopped at once"
    );

    // Revoked between the caller's read and the write: checked under the lock, the
    // revoked secret gets no grace and is remembered for no time (it is not reuse).
    let revoked = token(owner.id, "revoked meanwhile", base_time(), MONTH);
    insert(&stores, &revoked).await;
    let third_at = at(Duration::hours(3));
    stores
        .tokens
        .revoke(
            revoked.id,
            RevocationReason::Owner,
            third_at,
            &Journal::default(),
        )
        .await
        .expect("revoke must succeed");
    let mut late = regeneration(revoked.id, third_at, MONTH);
    late.grace_until = third_at + Duration::minutes(30);
    let back = stores
        .tokens
        .regenerate(&late, ROOMY_LIMIT, third_at, &Journal::default())
        .await
        .expect("regenerate must succeed");
    assert_eq!(back.previous_secret_valid_until, None);
    let kept = retired(&stores, &revoked.secret_hash)
        .await
        .expect("recorded");
    assert_eq!((kept.grace_until, kept.keep_until), (third_at, third_at));
}

async fn reuse_events(stores: &Stores) -> usize {
    let query = AuditQuery {
        action: Some(AuditAction::TokenReuseDetected.as_str().to_owned()),
        page: PageRequest::new(1, 100).expect("page"),
        ..AuditQuery::default()
    };
    stores
        .audit
        .list(&query)
        .await
        .expect("AuditLog::list must succeed")
        .items
        .len()
}

fn reuse_journal() -> Journal {
    Journal::of(event(
        base_time(),
        AuditAction::TokenReuseDetected,
        None,
        None,
    ))
    .with_notice(message(NoticeKind::ReuseRevoked, 0))
}

/// `record_reuse`: report only notes the time and keeps the token; revoking revokes
/// with reason `reuse_detected` once (a second revocation writes no journal); only a
/// regeneration that `lifts` that reason brings the token back.
pub async fn record_reuse_reports_or_revokes_once(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "leaky", base_time(), MONTH);
    insert(&stores, &t).await;
    let seen = at(Duration::hours(1));
    let reported = stores
        .tokens
        .record_reuse(t.id, false, seen, &reuse_journal())
        .await
        .expect("record_reuse must succeed");
    assert_eq!(reported.reuse_detected_at, Some(seen));
    assert_eq!(reported.revoked_at, None, "report only keeps the token");
    assert_eq!(reuse_events(&stores).await, 1);

    let revoked_at = at(Duration::hours(2));
    let revoked = stores
        .tokens
        .record_reuse(t.id, true, revoked_at, &reuse_journal())
        .await
        .expect("record_reuse must succeed");
    assert_eq!(revoked.revoked_at, Some(revoked_at));
    assert_eq!(
        revoked.revoked_reason,
        Some(RevocationReason::ReuseDetected)
    );
    assert_eq!(revoked.reuse_detected_at, Some(revoked_at));
    assert_eq!(reuse_events(&stores).await, 2);
    let again = stores
        .tokens
        .record_reuse(t.id, true, at(Duration::hours(3)), &reuse_journal())
        .await
        .expect("record_reuse must succeed");
    assert_eq!(again.revoked_at, Some(revoked_at), "revoked once");
    assert_eq!(reuse_events(&stores).await, 2, "nothing journaled twice");

    let later = at(Duration::hours(4));
    let refused = stores
        .tokens
        .regenerate(
            &regeneration(t.id, later, MONTH),
            ROOMY_LIMIT,
            later,
            &Journal::default(),
        )
        .await;
    assert_eq!(
        refused,
        Err(StoreError::NotRevivable(RevocationReason::ReuseDetected))
    );
    let mut lift = regeneration(t.id, later, MONTH);
    lift.lifts = Some(RevocationReason::ReuseDetected);
    let back = stores
        .tokens
        .regenerate(&lift, ROOMY_LIMIT, later, &Journal::default())
        .await
        .expect("a lifting regeneration must succeed");
    assert_eq!(back.revoked_at, None);
    assert_eq!(back.revoked_reason, None);

    let unknown = stores
        .tokens
        .record_reuse(unknown_token_id(), true, later, &Journal::default())
        .await;
    assert_eq!(unknown, Err(StoreError::NotFound));
}
