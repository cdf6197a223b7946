//! Checks of the reminder queries of [`TokenStore`](pat_core::ports::TokenStore):
//! `due_reminders` and `mark_reminded`.

use chrono::{DateTime, Duration, Utc};
use pat_core::model::{ReminderKind, ReminderState, Role};
use pat_core::ports::Journal;

use crate::Stores;
use crate::fixtures::{at, base_time, regeneration, token, user};
use crate::support::{
    ROOMY_LIMIT, assert_same_token, fetch, insert, revoke_as_owner, unknown_token_id,
};

const WARNING: Duration = Duration::days(7);

/// The due reminders as (name, kind, generation), asserting each carries the token
/// as stored.
async fn due(stores: &Stores, now: DateTime<Utc>, limit: u32) -> Vec<(String, ReminderKind, u32)> {
    let reminders = stores
        .tokens
        .due_reminders(now, WARNING, limit)
        .await
        .expect("TokenStore::due_reminders must succeed");
    let mut out = Vec::with_capacity(reminders.len());
    for token in reminders {
        let stored = fetch(stores, token.id).await;
        assert_same_token(
            &token,
            &stored,
            "a due reminder carries the token as stored",
        );
        let kind = ReminderKind::owed(&token, now, WARNING).unwrap_or_else(|| {
            panic!(
                "the store returned {:?}, which owes no reminder",
                token.name.as_str()
            )
        });
        out.push((token.name.as_str().to_owned(), kind, token.generation));
    }
    out
}

fn expect(items: &[(&str, ReminderKind, u32)]) -> Vec<(String, ReminderKind, u32)> {
    items
        .iter()
        .map(|(n, k, g)| ((*n).to_owned(), *k, *g))
        .collect()
}

/// `ExpiringSoon` is due for active tokens with `now >= expires_at - warning` (the
/// window's edge included) not yet reminded in their generation; never for revoked
/// tokens or tokens outside the window.
pub async fn due_reminders_expiring_soon_only_for_active_tokens_inside_the_window(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let now = at(Duration::days(10));
    let until_now = now - base_time();
    let make =
        |owner, name: &str, left: Duration| token(owner, name, base_time(), until_now + left);

    insert(&stores, &make(alice.id, "in window", Duration::days(3))).await;
    insert(&stores, &make(bob.id, "window edge", WARNING)).await;
    insert(
        &stores,
        &make(alice.id, "just outside", WARNING + Duration::seconds(1)),
    )
    .await;
    insert(&stores, &make(alice.id, "far away", Duration::days(60))).await;
    let revoked = make(alice.id, "revoked", Duration::days(2));
    insert(&stores, &revoked).await;
    revoke_as_owner(&stores, revoked.id, base_time()).await;
    let reminded = make(bob.id, "already reminded", Duration::days(1));
    insert(&stores, &reminded).await;
    let marked = stores
        .tokens
        .mark_reminded(reminded.id, ReminderKind::ExpiringSoon, 1)
        .await
        .expect("mark_reminded must succeed");
    assert!(
        marked,
        "mark_reminded for the current generation must return true"
    );

    assert_eq!(
        due(&stores, now, 100).await,
        expect(&[
            ("in window", ReminderKind::ExpiringSoon, 1),
            ("window edge", ReminderKind::ExpiringSoon, 1),
        ]),
        "due_reminders at {now} with a 7-day warning, oldest expiry first"
    );
}

/// `Expired` is due for unrevoked tokens with `now >= expires_at` (expiring exactly
/// now included) not yet reminded in their generation; an expired token is never
/// `ExpiringSoon`, and a revoked one never anything.
pub async fn due_reminders_expired_only_for_unrevoked_expired_tokens(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let now = at(Duration::days(10));
    let until_now = now - base_time();
    let make = |name: &str, left: Duration| token(owner.id, name, base_time(), until_now + left);

    insert(&stores, &make("expired yesterday", -Duration::days(1))).await;
    insert(&stores, &make("expires now", Duration::zero())).await;
    let warned = make("warned, then expired", -Duration::hours(12));
    insert(&stores, &warned).await;
    stores
        .tokens
        .mark_reminded(warned.id, ReminderKind::ExpiringSoon, 1)
        .await
        .expect("mark_reminded must succeed");
    let revoked = make("revoked and expired", -Duration::days(2));
    insert(&stores, &revoked).await;
    revoke_as_owner(&stores, revoked.id, base_time()).await;
    let done = make("expired, reminded", -Duration::days(3));
    insert(&stores, &done).await;
    stores
        .tokens
        .mark_reminded(done.id, ReminderKind::Expired, 1)
        .await
        .expect("mark_reminded must succeed");

    assert_eq!(
        due(&stores, now, 100).await,
        expect(&[
            ("expired yesterday", ReminderKind::Expired, 1),
            ("warned, then expired", ReminderKind::Expired, 1),
            ("expires now", ReminderKind::Expired, 1),
        ]),
        "due_reminders at {now}, oldest expiry first"
    );
}

/// `due_reminders` returns at most `limit` reminders, oldest expiry first, across
/// owners.
pub async fn due_reminders_respect_limit_and_order_by_expiry(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let now = at(Duration::days(10));
    let until_now = now - base_time();
    for (owner, days) in [
        (bob.id, 4),
        (alice.id, 2),
        (bob.id, -1),
        (alice.id, 5),
        (bob.id, 1),
        (alice.id, 3),
    ] {
        let t = token(
            owner,
            &format!("expiry {days:+}d"),
            base_time(),
            until_now + Duration::days(days),
        );
        insert(&stores, &t).await;
    }

    let es = ReminderKind::ExpiringSoon;
    let all = [
        ("expiry -1d", ReminderKind::Expired, 1),
        ("expiry +1d", es, 1),
        ("expiry +2d", es, 1),
        ("expiry +3d", es, 1),
        ("expiry +4d", es, 1),
        ("expiry +5d", es, 1),
    ];
    assert_eq!(
        due(&stores, now, 3).await,
        expect(&all[..3]),
        "limit 3 keeps the 3 oldest expiries"
    );
    assert_eq!(due(&stores, now, 1).await, expect(&all[..1]), "limit 1");
    assert_eq!(
        due(&stores, now, 0).await,
        expect(&[]),
        "limit 0 returns nothing"
    );
    assert_eq!(
        due(&stores, now, 100).await,
        expect(&all),
        "a high limit returns every due reminder"
    );
}

/// After `mark_reminded` a reminder is no longer due; marking again for the same
/// generation is still `true`; the other kind stays due on its own schedule.
pub async fn mark_reminded_stops_the_reminder(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), Duration::days(3));
    insert(&stores, &t).await;
    let now = base_time();

    assert_eq!(
        due(&stores, now, 10).await,
        expect(&[("t", ReminderKind::ExpiringSoon, 1)])
    );
    let marked = stores
        .tokens
        .mark_reminded(t.id, ReminderKind::ExpiringSoon, 1)
        .await
        .expect("mark_reminded must succeed");
    assert!(
        marked,
        "mark_reminded for the token's current generation must return true"
    );
    assert_eq!(
        due(&stores, now, 10).await,
        expect(&[]),
        "a reminded ExpiringSoon is no longer due"
    );
    let again = stores
        .tokens
        .mark_reminded(t.id, ReminderKind::ExpiringSoon, 1)
        .await
        .expect("mark_reminded must succeed");
    assert!(
        again,
        "marking the same generation again is not a stale mark: it must return true"
    );
    assert_eq!(
        fetch(&stores, t.id).await.reminders,
        ReminderState {
            expiring_soon_sent_for: Some(1),
            expired_sent_for: None
        }
    );

    let later = t.expires_at + Duration::hours(1);
    assert_eq!(
        due(&stores, later, 10).await,
        expect(&[("t", ReminderKind::Expired, 1)]),
        "once expired, the Expired reminder is due even though ExpiringSoon was sent"
    );
    let marked = stores
        .tokens
        .mark_reminded(t.id, ReminderKind::Expired, 1)
        .await
        .expect("mark_reminded must succeed");
    assert!(marked);
    assert_eq!(
        due(&stores, later, 10).await,
        expect(&[]),
        "a reminded Expired is no longer due"
    );
    assert_eq!(
        fetch(&stores, t.id).await.reminders,
        ReminderState {
            expiring_soon_sent_for: Some(1),
            expired_sent_for: Some(1)
        }
    );
}

/// `mark_reminded` returns `false` and changes nothing for a generation other than the
/// token's, for an unknown id and for a deleted token.
pub async fn mark_reminded_with_stale_generation_is_refused(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), Duration::days(3));
    insert(&stores, &t).await;
    let now = at(Duration::hours(1));
    stores
        .tokens
        .regenerate(
            &regeneration(t.id, now, Duration::days(2)),
            ROOMY_LIMIT,
            now,
            &Journal::default(),
        )
        .await
        .expect("regenerate must succeed");

    for generation in [1, 3] {
        for kind in [ReminderKind::ExpiringSoon, ReminderKind::Expired] {
            let marked = stores
                .tokens
                .mark_reminded(t.id, kind, generation)
                .await
                .expect("mark_reminded must succeed");
            assert!(
                !marked,
                "mark_reminded({kind:?}, generation {generation}) on a generation-2 token must return false"
            );
        }
    }
    assert_eq!(
        fetch(&stores, t.id).await.reminders,
        ReminderState::default(),
        "a refused mark changes nothing"
    );
    assert_eq!(
        due(&stores, now, 10).await,
        expect(&[("t", ReminderKind::ExpiringSoon, 2)]),
        "the reminder is still due for generation 2"
    );

    let unknown = stores
        .tokens
        .mark_reminded(unknown_token_id(), ReminderKind::ExpiringSoon, 1)
        .await
        .expect("mark_reminded of an unknown id must be Ok(false), not an error");
    assert!(!unknown, "mark_reminded of an unknown id must return false");
    stores
        .tokens
        .delete(t.id, &Journal::default())
        .await
        .expect("delete must succeed");
    let gone = stores
        .tokens
        .mark_reminded(t.id, ReminderKind::ExpiringSoon, 2)
        .await
        .expect("mark_reminded of a deleted token must be Ok(false), not an error");
    assert!(!gone, "mark_reminded of a deleted token must return false");
}

/// After `regenerate`, reminders already sent for the old generation no longer count:
/// they become due again for the new generation.
pub async fn regenerated_token_is_reminded_again(stores: Stores) {
    let owner = user(&stores, Role::Member).await;
    let t = token(owner.id, "t", base_time(), Duration::days(3));
    insert(&stores, &t).await;
    let now = base_time();
    stores
        .tokens
        .mark_reminded(t.id, ReminderKind::ExpiringSoon, 1)
        .await
        .expect("mark_reminded must succeed");
    assert_eq!(due(&stores, now, 10).await, expect(&[]));

    let expired_at = t.expires_at + Duration::hours(1);
    stores
        .tokens
        .mark_reminded(t.id, ReminderKind::Expired, 1)
        .await
        .expect("mark_reminded must succeed");
    assert_eq!(due(&stores, expired_at, 10).await, expect(&[]));

    let renewed = stores
        .tokens
        .regenerate(
            &regeneration(t.id, expired_at, Duration::days(5)),
            ROOMY_LIMIT,
            expired_at,
            &Journal::default(),
        )
        .await
        .expect("regenerate must succeed");
    assert_eq!(renewed.generation, 2);
    assert_eq!(
        due(&stores, expired_at, 10).await,
        expect(&[("t", ReminderKind::ExpiringSoon, 2)]),
        "inside the window again, generation 2 gets its own ExpiringSoon"
    );
    let after = renewed.expires_at;
    assert_eq!(
        due(&stores, after, 10).await,
        expect(&[("t", ReminderKind::Expired, 2)]),
        "expired again, generation 2 gets its own Expired"
    );
}
