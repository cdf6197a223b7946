//! Self-rotation (`PatService::rotate_presented_token`): a token gives itself a new
//! secret and lifetime, past its own expiry but never past the admin's cap.

mod common;

use common::*;
use pat_core::DEFAULT_ROTATION_DAYS;

#[test]
fn a_token_with_tokens_update_rotates_itself_up_to_the_cap() {
    let h = Harness::new();
    let member = h.member();
    let issued = h
        .create(&member, "ci", 7, &["tokens:update", "jobs:list"])
        .expect("token");
    let itself = h.as_pat(&issued);

    let rotated = run(h.service.rotate_presented_token(&itself, None, None)).expect("rotated");
    assert_eq!(rotated.token.id, issued.token.id, "the same token");
    assert_eq!(
        rotated.token.expires_at,
        start() + Duration::days(DEFAULT_ROTATION_DAYS),
        "30 days by default: past its own 7, which a token minting another may not do"
    );
    assert_eq!(rotated.token.generation, issued.token.generation + 1);
    let rotated_actor = Actor::from_principal(
        &run(h.service.authenticate(rotated.secret.expose(), IP)).expect("new secret works"),
        IP,
    );
    assert_eq!(
        run(h
            .service
            .rotate_presented_token(&rotated_actor, Some(181), None))
        .map(|i| i.token.id),
        Err(RegenerateError::InvalidExpiry(
            pat_core::policy::ExpiryError {
                got: "181".to_owned(),
                max: 180
            }
        )),
        "never past the admin's cap (180 days by default)"
    );
    let longest = run(h
        .service
        .rotate_presented_token(&rotated_actor, Some(180), None))
    .expect("ok");
    assert_eq!(longest.token.expires_at, start() + Duration::days(180));
    assert!(
        h.actions()
            .iter()
            .filter(|a| **a == AuditAction::TokenRegenerated)
            .count()
            == 2,
        "each rotation is audited"
    );
    assert!(
        matches!(h.auth(&issued), Err(AuthError::RetiredSecret)),
        "the old secret stopped at once: its use now is a leak"
    );
}

#[test]
fn rotation_needs_tokens_update_and_a_token() {
    let h = Harness::new();
    let member = h.member();
    let issued = h
        .create(&member, "read only", 7, &["tokens:read"])
        .expect("token");
    assert!(matches!(
        run(h.service.rotate_presented_token(&h.as_pat(&issued), None, None)),
        Err(RegenerateError::Denied(Denied::MissingScope { required })) if required == "tokens:update"
    ));
    assert!(
        h.auth(&issued).is_ok(),
        "a refused rotation leaves the secret working"
    );
    assert!(matches!(
        run(h.service.rotate_presented_token(&member, None, None)),
        Err(RegenerateError::NotFound)
    ));
}

#[test]
fn a_regeneration_retires_the_old_secret_for_as_long_as_the_cap() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.create(&member, "ci", 7, &["jobs:list"]).expect("token");
    let old_hash = run(h.service.presented_token(&h.as_pat(&issued)))
        .expect("the token")
        .secret_hash;
    run(h
        .service
        .regenerate_token(&member, issued.token.id, 7, None))
    .expect("regenerated");
    let retired = run(pat_core::ports::SecretHistory::find_retired(
        &*h.store, &old_hash,
    ))
    .expect("store")
    .expect("the old secret is remembered");
    assert_eq!(retired.generation, issued.token.generation);
    assert_eq!(
        retired.grace_until,
        start(),
        "no grace period yet: dead at once"
    );
    assert_eq!(
        retired.keep_until,
        start() + Duration::days(180),
        "kept as long as a token could live (the admin's cap)"
    );
    h.clock.advance(Duration::days(181));
    run(h.service.sweep_sessions()).expect("sweep");
    assert!(
        run(pat_core::ports::SecretHistory::find_retired(
            &*h.store, &old_hash
        ))
        .expect("store")
        .is_none(),
        "forgotten once no token could live that long"
    );
}

/// The reuse notices the owner was sent (after a delivery pass).
fn reuse_mails(h: &Harness) -> Vec<NoticeKind> {
    run(h.service.send_due_reminders(100)).expect("deliver the outbox");
    h.notifier
        .sent()
        .into_iter()
        .map(|n| n.kind)
        .filter(|k| matches!(k, NoticeKind::ReuseRevoked | NoticeKind::ReuseReported))
        .collect()
}

fn reuse_events(h: &Harness) -> Vec<pat_core::model::AuditEvent> {
    run(h.service.audit_log(
        &h.admin,
        AuditQuery {
            action: Some("token.reuse_detected".to_owned()),
            page: PageRequest::new(1, 100).expect("page"),
            ..Default::default()
        },
    ))
    .expect("audit")
    .items
}

#[test]
fn during_its_grace_period_the_old_secret_is_the_token_then_its_use_is_a_leak() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    let renewed = run(h
        .service
        .regenerate_token(&member, issued.token.id, 30, Some(30)))
    .expect("regenerated");
    assert_eq!(
        renewed.token.previous_secret_valid_until,
        Some(start() + Duration::minutes(30))
    );
    let old = h
        .auth(&issued)
        .expect("the old secret works during its grace");
    assert_eq!(old.token_id, issued.token.id, "as the same token");
    assert_eq!(old.scopes, issued.token.scopes, "with the same scopes");
    assert_eq!(old.generation, 1, "reported as the previous generation");
    assert_eq!(h.auth(&renewed).expect("new secret").generation, 2);
    let seen = run(h.service.introspect(issued.secret.expose())).expect("active");
    assert_eq!(seen.principal.generation, 1, "introspection says so too");

    h.clock.advance(Duration::minutes(29));
    assert!(h.auth(&issued).is_ok(), "a minute before the end");
    assert!(reuse_mails(&h).is_empty(), "use within grace is no reuse");

    h.clock.advance(Duration::minutes(1));
    let ip = Some("203.0.113.9".parse().expect("ip"));
    assert_eq!(
        run(h
            .service
            .authenticate_from(issued.secret.expose(), ip, Some("curl/8.5"))),
        Err(AuthError::RetiredSecret),
        "at the end of the grace period, a leak"
    );
    let token = run(h.service.get_token(&member, issued.token.id)).expect("token");
    assert_eq!(token.revoked_reason, Some(RevocationReason::ReuseDetected));
    assert_eq!(
        token.reuse_detected_at,
        Some(start() + Duration::minutes(30))
    );
    assert_eq!(
        h.auth(&renewed),
        Err(AuthError::Revoked),
        "the token is revoked"
    );
    let events = reuse_events(&h);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ip, ip, "the address is audited");
    assert!(
        events[0].detail.contains("curl/8.5"),
        "{}",
        events[0].detail
    );
    assert!(
        events[0].detail.contains("token revoked"),
        "{}",
        events[0].detail
    );
    assert_eq!(
        h.auth(&issued),
        Err(AuthError::Revoked),
        "now simply revoked"
    );
    assert_eq!(
        reuse_mails(&h),
        vec![NoticeKind::ReuseRevoked],
        "mailed once"
    );
    assert_eq!(reuse_events(&h).len(), 1, "and audited once");
}

#[test]
fn regenerating_again_ends_the_earlier_grace_at_once() {
    let h = Harness::new();
    let member = h.member();
    let first = h.issue(&member, "ci", &["jobs:list"]);
    let second = run(h
        .service
        .regenerate_token(&member, first.token.id, 30, Some(60)))
    .expect("regenerated");
    let third = run(h
        .service
        .regenerate_token(&member, first.token.id, 30, Some(60)))
    .expect("regenerated again");
    assert_eq!(h.auth(&second).expect("in its grace").generation, 2);
    assert_eq!(h.auth(&third).expect("current").generation, 3);
    assert_eq!(
        h.auth(&first),
        Err(AuthError::RetiredSecret),
        "only one previous secret is live"
    );
}

#[test]
fn grace_minutes_are_checked_and_never_revive_a_dead_secret() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    for bad in [-1, 1441] {
        assert_eq!(
            run(h
                .service
                .regenerate_token(&member, issued.token.id, 30, Some(bad)))
            .map(|i| i.token.id),
            Err(RegenerateError::InvalidGrace(
                pat_core::policy::GraceError {
                    got: bad.to_string(),
                    max: 1440
                }
            ))
        );
    }
    h.set(|s| s.max_grace_minutes = 10);
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&member, issued.token.id, 30, Some(11))),
        Err(RegenerateError::InvalidGrace(_))
    ));
    assert!(h.auth(&issued).is_ok(), "refusals change nothing");

    run(h.service.revoke_token(&member, issued.token.id)).expect("revoked");
    let back = run(h
        .service
        .regenerate_token(&member, issued.token.id, 30, Some(10)))
    .expect("regenerated");
    assert_eq!(
        back.token.previous_secret_valid_until, None,
        "no grace for a revoked secret"
    );
    assert_eq!(
        h.auth(&issued),
        Err(AuthError::Unknown),
        "a secret its owner revoked is refused as before, not taken for reuse"
    );
    assert!(h.auth(&back).is_ok());
}

#[test]
fn report_only_keeps_the_token_and_mails_once_per_generation() {
    let h = Harness::new();
    h.set(|s| s.revoke_on_reuse = false);
    let member = h.member();
    let first = h.issue(&member, "ci", &["jobs:list"]);
    let second = run(h
        .service
        .regenerate_token(&member, first.token.id, 30, None))
    .expect("regenerated");
    for _ in 0..3 {
        assert_eq!(h.auth(&first), Err(AuthError::RetiredSecret), "refused");
    }
    assert!(h.auth(&second).is_ok(), "the token stays active");
    let token = run(h.service.get_token(&member, first.token.id)).expect("token");
    assert_eq!(token.revoked_at, None);
    assert_eq!(token.reuse_detected_at, Some(start()));
    assert_eq!(
        reuse_events(&h).len(),
        1,
        "one record a minute per token, whatever the address"
    );
    assert!(reuse_events(&h)[0].detail.contains("report only"));
    h.clock.advance(Duration::minutes(2));
    assert_eq!(h.auth(&first), Err(AuthError::RetiredSecret));
    assert_eq!(reuse_events(&h).len(), 2, "audited again later");
    assert_eq!(
        reuse_mails(&h),
        vec![NoticeKind::ReuseReported],
        "mailed once for this generation"
    );
    let third = run(h
        .service
        .regenerate_token(&member, first.token.id, 30, None))
    .expect("regenerated");
    h.clock.advance(Duration::minutes(2));
    assert_eq!(h.auth(&second), Err(AuthError::RetiredSecret));
    assert!(h.auth(&third).is_ok());
    assert_eq!(
        reuse_mails(&h),
        vec![NoticeKind::ReuseReported, NoticeKind::ReuseReported],
        "a new generation's reuse is mailed again"
    );
}

#[test]
fn only_an_admin_lifts_a_reuse_revocation() {
    let h = Harness::new();
    let member = h.member();
    let first = h.issue(&member, "ci", &["jobs:list"]);
    let second = run(h
        .service
        .regenerate_token(&member, first.token.id, 30, None))
    .expect("regenerated");
    assert_eq!(h.auth(&first), Err(AuthError::RetiredSecret));
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&member, first.token.id, 30, None)),
        Err(RegenerateError::RevokedForReuse)
    ));
    assert!(matches!(
        run(h
            .service
            .admin_lift_reuse_revocation(&member, first.token.id, 30)),
        Err(RegenerateError::Denied(Denied::AdminOnly))
    ));
    let lifted = run(h
        .service
        .admin_lift_reuse_revocation(&h.admin, first.token.id, 30))
    .expect("an admin lifts it");
    assert_eq!(lifted.token.revoked_at, None);
    assert_eq!(lifted.token.generation, 3);
    assert_eq!(
        h.auth(&second),
        Err(AuthError::Unknown),
        "a dead secret stays dead"
    );
    let own = run(h
        .service
        .regenerate_token(&member, first.token.id, 30, None))
    .expect("the owner regenerates it to get a secret only they have seen");
    assert!(h.auth(&own).is_ok());
    assert!(matches!(
        run(h
            .service
            .admin_lift_reuse_revocation(&h.admin, first.token.id, 30)),
        Err(RegenerateError::NotRevokedForReuse)
    ));
}

#[test]
fn a_resource_server_handed_a_rotated_away_secret_triggers_reuse_detection() {
    let h = Harness::new();
    let member = h.member();
    let first = h.issue(&member, "ci", &["jobs:list"]);
    run(h
        .service
        .regenerate_token(&member, first.token.id, 30, None))
    .expect("regenerated");
    assert!(matches!(
        run(h.service.introspect(first.secret.expose())),
        Err(AuthError::RetiredSecret)
    ));
    let token = run(h.service.get_token(&member, first.token.id)).expect("token");
    assert_eq!(token.revoked_reason, Some(RevocationReason::ReuseDetected));
}

#[test]
fn a_previous_secret_may_use_its_token_but_not_rotate_it() {
    let h = Harness::new();
    let member = h.member();
    let old = h.issue(&member, "ci", &["tokens:update", "jobs:list"]);
    let new = run(h
        .service
        .rotate_presented_token(&h.as_pat(&old), None, Some(60)))
    .expect("rotated with grace");
    let previous = h.auth(&old).expect("works in its grace");
    assert!(previous.previous_secret);
    assert_eq!(
        previous.expires_at,
        start() + Duration::minutes(60),
        "its grace end, not the token's new expiry (a resource server may cache until exp)"
    );
    let as_previous = Actor::from_principal(&previous, IP);
    assert!(matches!(
        run(h
            .service
            .rotate_presented_token(&as_previous, Some(90), None)),
        Err(RegenerateError::Denied(Denied::PreviousSecret))
    ));
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&as_previous, old.token.id, 30, None)),
        Err(RegenerateError::Denied(Denied::PreviousSecret))
    ));
    assert_eq!(
        h.auth(&new).expect("current").generation,
        2,
        "nothing changed"
    );
}

#[test]
fn a_revocation_ends_a_grace_period_without_making_its_secret_a_leak() {
    let h = Harness::new();
    let member = h.member();
    let old = h.issue(&member, "ci", &["jobs:list"]);
    run(h
        .service
        .regenerate_token(&member, old.token.id, 30, Some(60)))
    .expect("regenerated");
    run(h.service.revoke_token(&member, old.token.id)).expect("revoked");
    let back = run(h
        .service
        .regenerate_token(&member, old.token.id, 30, Some(60)))
    .expect("brought back");
    assert_eq!(back.token.previous_secret_valid_until, None);
    assert_eq!(
        h.auth(&old),
        Err(AuthError::Unknown),
        "stopped by the revocation: refused, not reuse"
    );
    assert!(h.auth(&back).is_ok(), "the token was not revoked for reuse");
}

#[test]
fn an_admin_token_lifts_only_what_it_could_grant() {
    let h = Harness::new();
    let member = h.member();
    let first = h.issue(&member, "ci", &["jobs:list"]);
    run(h
        .service
        .regenerate_token(&member, first.token.id, 30, None))
    .expect("regenerated");
    assert_eq!(h.auth(&first), Err(AuthError::RetiredSecret));
    let admin_pat = h.issue(&h.admin, "admin ops", &["admin:update"]);
    assert!(matches!(
        run(h
            .service
            .admin_lift_reuse_revocation(&h.as_pat(&admin_pat), first.token.id, 30)),
        Err(RegenerateError::Escalation(_))
    ));
    let broad = h.issue(&h.admin, "admin all", &["admin:update", "jobs:list"]);
    assert!(
        run(h
            .service
            .admin_lift_reuse_revocation(&h.as_pat(&broad), first.token.id, 30))
        .is_ok(),
        "a token holding the scopes may"
    );
}
