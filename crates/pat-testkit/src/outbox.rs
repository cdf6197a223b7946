//! Checks of [`Outbox`](pat_core::ports::Outbox): one message per key, claiming with a
//! lease, recording attempts, listing.

use chrono::Duration;
use pat_core::model::{
    Attempt, DeliveryStatus, MessageId, Notice, NoticeKind, OutboxMessage, PageRequest, Recipient,
    TokenId, UserId,
};
use pat_core::ports::StoreError;

use crate::Stores;
use crate::fixtures::{at, unique_uuid};

pub(crate) fn message(kind: NoticeKind, minutes: i64) -> OutboxMessage {
    let notice = Notice {
        kind,
        recipient: Recipient {
            user_id: UserId(unique_uuid()),
            email: "owner@example.com".to_owned(),
            name: "Owner".to_owned(),
        },
        token_id: TokenId(unique_uuid()),
        token_name: "ci".to_owned(),
        expires_at: at(Duration::days(30)),
        generation: 1,
    };
    OutboxMessage {
        id: MessageId(unique_uuid()),
        dedupe_key: notice.dedupe_key(),
        notice,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: at(Duration::minutes(minutes)),
        last_error: None,
        created_at: at(Duration::minutes(minutes)),
        sent_at: None,
    }
}

pub(crate) async fn only(stores: &Stores, status: Option<DeliveryStatus>) -> Vec<OutboxMessage> {
    stores
        .outbox
        .list(status, PageRequest::new(1, 100).expect("page"))
        .await
        .expect("list must succeed")
        .items
}

/// A message round-trips; a second one with the same dedupe key is refused as `Ok(false)`.
pub async fn outbox_keeps_one_message_per_key(stores: Stores) {
    let first = message(NoticeKind::ExpiringSoon, 0);
    assert!(
        stores.outbox.enqueue(&first).await.expect("enqueue"),
        "a new key is queued"
    );
    let mut again = message(NoticeKind::ExpiringSoon, 1);
    again.dedupe_key = first.dedupe_key.clone();
    assert!(
        !stores.outbox.enqueue(&again).await.expect("enqueue"),
        "a known key must be Ok(false)"
    );
    assert_eq!(
        only(&stores, None).await,
        vec![first],
        "the stored message reads back field for field"
    );
}

/// `claim_due` takes due pending messages oldest first up to the limit, and a claimed
/// message is not claimed again until its lease ends.
pub async fn claim_due_takes_due_messages_once_per_lease(stores: Stores) {
    let early = message(NoticeKind::Created, 0);
    let later = message(NoticeKind::Expired, 5);
    let future = message(NoticeKind::LeakRevoked, 60);
    for m in [&later, &future, &early] {
        stores.outbox.enqueue(m).await.expect("enqueue");
    }
    let now = at(Duration::minutes(10));
    let lease = at(Duration::minutes(15));
    let first = stores.outbox.claim_due(now, lease, 1).await.expect("claim");
    assert_eq!(
        first.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![early.id],
        "oldest first, limit 1"
    );
    assert_eq!(
        first[0].next_attempt_at, lease,
        "a claimed message carries its lease"
    );
    let second = stores
        .outbox
        .claim_due(now, lease, 10)
        .await
        .expect("claim");
    assert_eq!(
        second.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![later.id],
        "not the claimed one, not the future one"
    );
    assert!(
        stores
            .outbox
            .claim_due(now, lease, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let after_lease = stores
        .outbox
        .claim_due(at(Duration::minutes(15)), at(Duration::minutes(20)), 10)
        .await
        .expect("claim");
    assert_eq!(
        after_lease.len(),
        2,
        "an unrecorded claim comes due again when its lease ends"
    );
}

/// Attempts are counted; sent, retried and failed outcomes are recorded; an unknown id
/// is `NotFound`.
pub async fn record_tracks_each_attempt(stores: Stores) {
    let retried = message(NoticeKind::ExpiringSoon, 0);
    let sent = message(NoticeKind::Created, 0);
    let failed = message(NoticeKind::Expired, 0);
    for m in [&retried, &sent, &failed] {
        stores.outbox.enqueue(m).await.expect("enqueue");
    }
    let next = at(Duration::minutes(30));
    stores
        .outbox
        .record(
            retried.id,
            &Attempt::Retry {
                next_attempt_at: next,
                error: "451 later".to_owned(),
            },
        )
        .await
        .expect("record retry");
    stores
        .outbox
        .record(
            sent.id,
            &Attempt::Sent {
                at: at(Duration::minutes(1)),
            },
        )
        .await
        .expect("record sent");
    stores
        .outbox
        .record(
            failed.id,
            &Attempt::Failed {
                error: "550 no such user".to_owned(),
            },
        )
        .await
        .expect("record failure");

    let pending = only(&stores, Some(DeliveryStatus::Pending)).await;
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].attempts, pending[0].next_attempt_at), (1, next));
    assert_eq!(pending[0].last_error.as_deref(), Some("451 later"));
    let done = only(&stores, Some(DeliveryStatus::Sent)).await;
    assert_eq!(done.len(), 1);
    assert_eq!(
        (done[0].id, done[0].sent_at),
        (sent.id, Some(at(Duration::minutes(1))))
    );
    let gave_up = only(&stores, Some(DeliveryStatus::Failed)).await;
    assert_eq!(gave_up[0].last_error.as_deref(), Some("550 no such user"));
    assert!(
        stores
            .outbox
            .claim_due(at(Duration::hours(2)), at(Duration::hours(3)), 10)
            .await
            .expect("claim")
            .iter()
            .all(|m| m.id == retried.id),
        "sent and failed messages are never claimed"
    );
    assert_eq!(
        stores
            .outbox
            .record(
                MessageId(unique_uuid()),
                &Attempt::Sent {
                    at: at(Duration::zero())
                }
            )
            .await,
        Err(StoreError::NotFound)
    );
}

/// Listing is newest first with totals.
pub async fn outbox_lists_newest_first(stores: Stores) {
    let old = message(NoticeKind::Created, 0);
    let new = message(NoticeKind::Created, 1);
    stores.outbox.enqueue(&old).await.expect("enqueue");
    stores.outbox.enqueue(&new).await.expect("enqueue");
    let page = stores
        .outbox
        .list(None, PageRequest::new(1, 1).expect("page"))
        .await
        .expect("list");
    assert_eq!(page.total_items, 2);
    assert_eq!(page.items[0].id, new.id);
}
