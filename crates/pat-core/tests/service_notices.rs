//! Reminders, the outbox and the owner's security notices, through `PatService`.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod common;

use common::*;

#[test]
fn reminders_are_selected_once_per_generation() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    let revoked = h.issue(&member, "revoked", &["jobs:list"]);
    run(h.service.revoke_token(&member, revoked.token.id)).expect("revoke");
    let kinds = |h: &Harness| -> Vec<NoticeKind> {
        h.notifier
            .sent()
            .into_iter()
            .filter(|n| n.kind != NoticeKind::Created)
            .map(|n| n.kind)
            .collect()
    };
    let queued = |h: &Harness| run(h.service.send_due_reminders(100)).expect("run").queued;
    h.clock.advance(Duration::days(23) - Duration::seconds(1));
    assert_eq!(queued(&h), 0, "not yet in the window");
    h.clock.advance(Duration::seconds(1));
    assert_eq!(queued(&h), 1);
    assert_eq!(queued(&h), 0, "once only");
    assert_eq!(kinds(&h), vec![NoticeKind::ExpiringSoon]);
    h.clock.advance(Duration::days(7));
    assert_eq!(queued(&h), 1);
    assert_eq!(queued(&h), 0);
    assert_eq!(
        kinds(&h),
        vec![NoticeKind::ExpiringSoon, NoticeKind::Expired]
    );
    let fresh = run(h
        .service
        .regenerate_token(&member, issued.token.id, 3, None))
    .expect("regenerate");
    assert_eq!(fresh.token.generation, 2);
    let due = run(h.service.due_reminders(100)).expect("due");
    assert_eq!(
        due.len(),
        1,
        "a new generation is reminded again (3 days is inside the window)"
    );
    assert_eq!(due[0].token.id, issued.token.id);
}

#[test]
fn a_failed_reminder_stays_due_until_delivered() {
    let h = Harness::new();
    let member = h.member();
    h.issue(&member, "ci", &["jobs:list"]);
    h.clock.advance(Duration::days(25));
    h.notifier
        .fail_with(Some(NotifyError::Temporary("421 try later".into())));
    let first = run(h.service.send_due_reminders(100)).expect("run");
    assert_eq!(
        (first.queued, first.sent, first.retried),
        (1, 0, 2),
        "created + expiring both wait"
    );
    h.notifier.fail_with(None);
    let early = run(h.service.send_due_reminders(100)).expect("run");
    assert_eq!(early.sent, 0, "the retry waits for its backoff");
    h.clock.advance(Duration::seconds(30));
    let second = run(h.service.send_due_reminders(100)).expect("run");
    assert_eq!((second.queued, second.sent, second.retried), (0, 2, 0));
    let third = run(h.service.send_due_reminders(100)).expect("run");
    assert_eq!(third.sent, 0, "delivered once");
    let outbox = run(h.service.outbox(&h.admin, None, PageRequest::default())).expect("outbox");
    assert!(
        outbox
            .items
            .iter()
            .all(|m| m.status == DeliveryStatus::Sent && m.attempts == 2)
    );
}

#[test]
fn a_permanent_refusal_is_recorded_and_retries_back_off_then_give_up() {
    let h = Harness::new();
    let member = h.member();
    h.issue(&member, "ci", &["jobs:list"]);
    h.notifier
        .fail_with(Some(NotifyError::Permanent("550 no such user".into())));
    let refused = run(h.service.send_due_reminders(100)).expect("run");
    assert_eq!(refused.failed, 1);
    let failed = run(h.service.outbox(
        &h.admin,
        Some(DeliveryStatus::Failed),
        PageRequest::default(),
    ))
    .expect("outbox");
    assert_eq!(
        failed.items[0].last_error.as_deref(),
        Some("550 no such user")
    );
    assert_eq!(pat_core::service::retry_delay(1), Duration::seconds(30));
    assert_eq!(pat_core::service::retry_delay(2), Duration::seconds(60));
    assert_eq!(
        pat_core::service::retry_delay(20),
        Duration::hours(1),
        "capped at an hour"
    );
    h.issue(&member, "second", &["jobs:list"]);
    h.notifier
        .fail_with(Some(NotifyError::Temporary("451 later".into())));
    for _ in 0..pat_core::service::MAX_DELIVERY_ATTEMPTS {
        run(h.service.send_due_reminders(100)).expect("run");
        h.clock.advance(Duration::hours(1));
    }
    let failed = run(h.service.outbox(
        &h.admin,
        Some(DeliveryStatus::Failed),
        PageRequest::default(),
    ))
    .expect("outbox");
    assert_eq!(failed.total_items, 2, "gave up after the last attempt");
    assert!(
        failed.items[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("gave up after 12 attempts")
    );
}

#[test]
fn owners_are_told_of_new_tokens_and_leak_revocations() {
    let h = Harness::new();
    let member = h.member();
    let leaked = h.issue(&member, "leaked", &["jobs:list"]);
    let safe = h.issue(&member, "safe", &["jobs:list"]);
    let report = vec![
        leaked.secret.expose().to_owned(),
        "garbage".to_owned(),
        h.service.codec().encode(&[5; 32]).expose().to_owned(),
    ];
    assert_eq!(run(h.service.report_leaks(&report, IP)).expect("report"), 1);
    run(h.service.send_due_reminders(100)).expect("deliver the outbox");
    assert_eq!(h.auth(&leaked).unwrap_err(), AuthError::Revoked);
    assert!(h.auth(&safe).is_ok());
    let kinds: Vec<NoticeKind> = h.notifier.sent().into_iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds,
        vec![
            NoticeKind::Created,
            NoticeKind::Created,
            NoticeKind::LeakRevoked
        ]
    );
    assert!(h.actions().contains(&AuditAction::LeakReported));
    assert_eq!(
        run(h.service.report_leaks(&report, IP)).expect("again"),
        0,
        "already revoked"
    );
}

#[test]
fn owners_are_mailed_on_every_regeneration() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "rotated", &["jobs:list"]);
    run(h
        .service
        .regenerate_token(&member, issued.token.id, 10, None))
    .expect("first");
    run(h
        .service
        .regenerate_token(&member, issued.token.id, 20, None))
    .expect("second");
    run(h.service.send_due_reminders(100)).expect("deliver the outbox");
    let sent = h.notifier.sent();
    let regenerated: Vec<(u32, DateTime<Utc>)> = sent
        .iter()
        .filter(|n| n.kind == NoticeKind::Regenerated)
        .map(|n| (n.generation, n.expires_at))
        .collect();
    assert_eq!(
        regenerated,
        vec![
            (2, start() + Duration::days(10)),
            (3, start() + Duration::days(20))
        ],
        "one notice per new secret, naming its generation and expiry"
    );
    assert!(
        sent.iter()
            .all(|n| n.recipient.email == "member@example.com")
    );
}
