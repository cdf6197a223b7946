//! Checks of [`AuditLog`](pat_core::ports::AuditLog).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Duration, Utc};
use pat_core::model::{
    AuditAction, AuditEvent, AuditQuery, AuthFailure, EventId, Role, TokenId, UserId,
};

use crate::Stores;
use crate::fixtures::{at, unique_uuid, user};
use crate::support::page;

pub(crate) fn event(
    at: DateTime<Utc>,
    action: AuditAction,
    owner: Option<UserId>,
    token_id: Option<TokenId>,
) -> AuditEvent {
    AuditEvent {
        id: EventId(unique_uuid()),
        at,
        action,
        actor: owner,
        owner,
        token_id,
        ip: None,
        detail: String::new(),
    }
}

async fn record(stores: &Stores, event: &AuditEvent) {
    stores
        .audit
        .record(event)
        .await
        .expect("AuditLog::record must succeed");
}

async fn list_ids(stores: &Stores, query: &AuditQuery) -> (Vec<EventId>, u64) {
    let page = stores
        .audit
        .list(query)
        .await
        .expect("AuditLog::list must succeed");
    assert_eq!(
        (page.page, page.page_size),
        (query.page.page(), query.page.size()),
        "AuditLog::list must echo the requested page"
    );
    (page.items.iter().map(|e| e.id).collect(), page.total_items)
}

/// Recorded events read back field for field (every action, with its failure reason),
/// newest first by time, then by id; events may name tokens the store does not hold.
pub async fn audit_record_then_list_newest_first(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let admin = user(&stores, Role::Admin).await;
    let gone_token = TokenId(unique_uuid());
    let actions = [
        AuditAction::TokenCreated,
        AuditAction::TokenRegenerated,
        AuditAction::TokenRevoked,
        AuditAction::TokenDeleted,
        AuditAction::TokenUpdated,
        AuditAction::ScopesAdded,
        AuditAction::ScopeRemoved,
        AuditAction::ScopesCleared,
        AuditAction::SettingsChanged,
        AuditAction::LeakReported,
        AuditAction::AuthFailed(AuthFailure::Malformed),
        AuditAction::AuthFailed(AuthFailure::Unknown),
        AuditAction::AuthFailed(AuthFailure::Expired),
        AuditAction::AuthFailed(AuthFailure::Revoked),
        AuditAction::AuthFailed(AuthFailure::PatsDisabled),
        AuditAction::AuthFailed(AuthFailure::UserInactive),
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
    ];
    let mut events = Vec::new();
    for (i, action) in (0..).zip(actions) {
        let mut e = event(
            at(Duration::seconds(i)),
            action,
            Some(alice.id),
            Some(gone_token),
        );
        e.actor = if i % 2 == 0 { Some(admin.id) } else { None };
        e.ip = match i % 3 {
            0 => None,
            1 => Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))),
            _ => Some(IpAddr::V6(Ipv6Addr::new(
                0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42,
            ))),
        };
        e.detail = format!("scopes: jobs:list, files:read — ünïcode \"{i}\"");
        events.push(e);
    }
    // Two more at the same instant as the newest: the greater id comes first.
    let tied_at = events.last().map(|e| e.at).expect("there are events");
    let tie_a = event(tied_at, AuditAction::TokenCreated, None, None);
    let tie_b = event(tied_at, AuditAction::TokenCreated, None, None);
    events.push(tie_a);
    events.push(tie_b);

    let mut order: Vec<usize> = (0..events.len()).collect();
    order.rotate_left(7);
    order.swap(0, 5);
    for i in order {
        record(&stores, &events[i]).await;
    }

    let got = stores
        .audit
        .list(&AuditQuery {
            page: page(1, 100),
            ..AuditQuery::default()
        })
        .await
        .expect("AuditLog::list must succeed");
    assert_eq!(
        got.total_items,
        events.len() as u64,
        "every recorded event is counted"
    );
    let mut newest_first = events.clone();
    newest_first.reverse();
    assert_eq!(
        got.items, newest_first,
        "events read back as recorded, newest first (by time, then id)"
    );
}

/// The token, owner and action filters each keep only matching events, and combine.
pub async fn audit_list_filters_by_token_owner_and_action(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let admin = user(&stores, Role::Admin).await;
    let t1 = TokenId(unique_uuid());
    let t2 = TokenId(unique_uuid());

    let e0 = event(
        at(Duration::seconds(0)),
        AuditAction::TokenCreated,
        Some(alice.id),
        Some(t1),
    );
    let e1 = event(
        at(Duration::seconds(1)),
        AuditAction::TokenRevoked,
        Some(alice.id),
        Some(t1),
    );
    let e2 = event(
        at(Duration::seconds(2)),
        AuditAction::TokenCreated,
        Some(bob.id),
        Some(t2),
    );
    let mut e3 = event(
        at(Duration::seconds(3)),
        AuditAction::UserUpdated,
        Some(bob.id),
        None,
    );
    e3.actor = Some(alice.id);
    let mut e4 = event(
        at(Duration::seconds(4)),
        AuditAction::AuthFailed(AuthFailure::Revoked),
        Some(alice.id),
        Some(t1),
    );
    e4.actor = None;
    let mut e5 = event(
        at(Duration::seconds(5)),
        AuditAction::AuthFailed(AuthFailure::Unknown),
        None,
        None,
    );
    e5.actor = None;
    let mut e6 = event(
        at(Duration::seconds(6)),
        AuditAction::SettingsChanged,
        None,
        None,
    );
    e6.actor = Some(admin.id);
    let all = [&e0, &e1, &e2, &e3, &e4, &e5, &e6];
    for e in all {
        record(&stores, e).await;
    }

    let q = |token_id, owner, action: Option<&str>| AuditQuery {
        token_id,
        owner,
        action: action.map(str::to_owned),
        page: page(1, 50),
    };
    let cases = [
        (
            q(Some(t1), None, None),
            vec![e4.id, e1.id, e0.id],
            "token t1",
        ),
        (q(Some(t2), None, None), vec![e2.id], "token t2"),
        (
            q(Some(TokenId(unique_uuid())), None, None),
            vec![],
            "an unknown token",
        ),
        (
            q(None, Some(alice.id), None),
            vec![e4.id, e1.id, e0.id],
            "owner alice (not events she merely acted in)",
        ),
        (q(None, Some(bob.id), None), vec![e3.id, e2.id], "owner bob"),
        (
            q(None, Some(admin.id), None),
            vec![],
            "owner admin, who only acted",
        ),
        (
            q(None, None, Some("token.created")),
            vec![e2.id, e0.id],
            "action token.created",
        ),
        (
            q(None, None, Some("auth.failed")),
            vec![e5.id, e4.id],
            "action auth.failed, whatever the reason",
        ),
        (
            q(None, None, Some("settings.changed")),
            vec![e6.id],
            "action settings.changed",
        ),
        (
            q(None, None, Some("token")),
            vec![],
            "an action name is matched whole, not as a prefix",
        ),
        (
            q(None, None, Some("TOKEN.CREATED")),
            vec![],
            "an action name is matched exactly",
        ),
        (
            q(Some(t1), Some(alice.id), Some("token.revoked")),
            vec![e1.id],
            "token, owner and action combined",
        ),
        (
            q(Some(t1), Some(bob.id), None),
            vec![],
            "token t1 and owner bob match nothing",
        ),
        (
            q(None, None, None),
            all.iter().rev().map(|e| e.id).collect(),
            "no filter",
        ),
    ];
    for (query, want, what) in cases {
        let (got, total) = list_ids(&stores, &query).await;
        assert_eq!(got, want, "AuditLog::list filtered by {what}");
        assert_eq!(total, want.len() as u64, "total_items filtered by {what}");
    }
}

/// Listings page newest first with the total of all matching events.
pub async fn audit_list_pages_with_totals(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let mut alices = Vec::new();
    for i in 0..7 {
        let e = event(
            at(Duration::minutes(i)),
            AuditAction::TokenCreated,
            Some(alice.id),
            None,
        );
        record(&stores, &e).await;
        alices.push(e.id);
        record(
            &stores,
            &event(
                at(Duration::minutes(i)),
                AuditAction::TokenCreated,
                Some(bob.id),
                None,
            ),
        )
        .await;
    }
    alices.reverse();

    let expected: [&[EventId]; 4] = [&alices[0..3], &alices[3..6], &alices[6..7], &[]];
    for (number, want) in (1..).zip(expected) {
        let query = AuditQuery {
            owner: Some(alice.id),
            page: page(number, 3),
            ..AuditQuery::default()
        };
        let (got, total) = list_ids(&stores, &query).await;
        assert_eq!(got, want, "page {number} of 3 events each, newest first");
        assert_eq!(
            total, 7,
            "total_items counts every matching event (page {number})"
        );
    }
    let (got, total) = list_ids(
        &stores,
        &AuditQuery {
            page: page(2, 10),
            ..AuditQuery::default()
        },
    )
    .await;
    assert_eq!((got.len(), total), (4, 14), "page 2 of 10 over 14 events");
}
