//! Who may do what through `PatService`: admins, members, collaborators, tokens
//! with and without scopes; and what the audit log records.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod common;

use common::*;

#[test]
fn admins_reach_every_users_tokens_and_others_do_not() {
    let h = Harness::new();
    let alice = h.member();
    let bob = h.user("bob@example.com", Role::Member);
    let token = h.issue(&alice, "alice-ci", &["jobs:list"]);
    let listed = run(h.service.list_tokens(
        &h.admin,
        ListTokensRequest {
            owner: Some(alice.user.id),
            ..Default::default()
        },
    ))
    .expect("admin lists");
    assert_eq!(listed.total_items, 1);
    assert_eq!(
        run(h.service.list_tokens(
            &bob,
            ListTokensRequest {
                owner: Some(alice.user.id),
                ..Default::default()
            }
        ))
        .unwrap_err(),
        QueryError::Denied(Denied::AdminOnly)
    );
    let id = token.token.id;
    assert_eq!(
        run(h.service.get_token(&bob, id)).unwrap_err(),
        QueryError::NotFound
    );
    assert_eq!(
        run(h.service.revoke_token(&bob, id)).unwrap_err(),
        TokenChangeError::NotFound
    );
    assert_eq!(
        run(h.service.delete_token(&bob, id)).unwrap_err(),
        TokenChangeError::NotFound
    );
    assert_eq!(
        run(h.service.update_token(&bob, id, Some("x"), None)).unwrap_err(),
        TokenChangeError::NotFound
    );
    assert_eq!(
        run(h.service.add_scopes(&bob, id, &["*:*".into()])).unwrap_err(),
        AddScopesError::NotFound
    );
    assert_eq!(
        run(h.service.clear_scopes(&bob, id)).unwrap_err(),
        TokenChangeError::NotFound
    );
    assert_eq!(
        run(h.service.regenerate_token(&bob, id, 30, None)).unwrap_err(),
        RegenerateError::NotFound
    );
    assert_eq!(
        run(h.service.token_events(&bob, id, PageRequest::default())).unwrap_err(),
        QueryError::NotFound
    );
    assert!(h.auth(&token).is_ok(), "bob changed nothing");
    // An admin may not mint a secret that acts as someone else.
    assert_eq!(
        run(h.service.regenerate_token(&h.admin, id, 30, None)).unwrap_err(),
        RegenerateError::NotFound
    );
    run(h.service.revoke_token(&h.admin, id)).expect("admin revokes");
    assert_eq!(h.auth(&token).unwrap_err(), AuthError::Revoked);
    run(h.service.delete_token(&h.admin, id)).expect("admin deletes");
}

#[test]
fn only_admins_change_settings_users_or_read_the_audit_log() {
    let h = Harness::new();
    let member = h.member();
    assert_eq!(
        run(h.service.update_settings(&member, Settings::default())).unwrap_err(),
        SettingsChangeError::Denied(Denied::AdminOnly)
    );
    assert_eq!(
        run(h.service.audit_log(&member, AuditQuery::default())).unwrap_err(),
        QueryError::Denied(Denied::AdminOnly)
    );
    assert_eq!(
        run(h.service.list_users(Some(&member), PageRequest::default())).unwrap_err(),
        QueryError::Denied(Denied::AdminOnly)
    );
    let bad = Settings {
        max_lifetime_days: 400,
        ..Settings::default()
    };
    let err = run(h.service.update_settings(&h.admin, bad)).unwrap_err();
    assert!(err.to_string().contains("between 1 and 366"), "{err}");
    assert_eq!(
        run(h.service.current_settings()).expect("settings"),
        Settings::default()
    );
}

#[test]
fn the_last_active_admin_cannot_be_demoted_or_disabled() {
    let h = Harness::new();
    let id = h.admin.user.id;
    assert!(matches!(
        run(h
            .service
            .update_user(Some(&h.admin), id, Some(Role::Member), None)),
        Err(UserChangeError::Invalid(UserError::LastAdmin))
    ));
    assert!(matches!(
        run(h.service.update_user(Some(&h.admin), id, None, Some(false))),
        Err(UserChangeError::Invalid(UserError::LastAdmin))
    ));
    h.user("second@example.com", Role::Admin);
    run(h
        .service
        .update_user(Some(&h.admin), id, Some(Role::Member), None))
    .expect("another admin exists");
}

#[test]
fn users_need_a_valid_unique_email() {
    let h = Harness::new();
    for bad in ["", "no-at-sign", "@example.com", "a b@example.com"] {
        let err = run(h.service.create_user(
            None,
            NewUser {
                email: bad.into(),
                name: "X".into(),
                role: Role::Member,
            },
            None,
        ))
        .unwrap_err();
        assert!(
            matches!(err, UserChangeError::Invalid(UserError::InvalidEmail(_))),
            "{bad}"
        );
    }
    let err = run(h.service.create_user(
        None,
        NewUser {
            email: "ADMIN@example.com".into(),
            name: "X".into(),
            role: Role::Member,
        },
        None,
    ))
    .unwrap_err();
    assert_eq!(err, UserChangeError::DuplicateEmail);
}

#[test]
fn a_token_manages_tokens_only_with_tokens_scopes() {
    let h = Harness::new();
    let member = h.member();
    let plain = h.issue(&member, "plain", &["jobs:list"]);
    let actor = h.as_pat(&plain);
    let missing = |op: &str| Denied::MissingScope {
        required: format!("tokens:{op}"),
    };
    assert_eq!(
        h.create(&actor, "x", 1, &["jobs:list"]).unwrap_err(),
        CreateTokenError::Denied(missing("create"))
    );
    assert_eq!(
        run(h.service.list_tokens(&actor, ListTokensRequest::default())).unwrap_err(),
        QueryError::Denied(missing("list"))
    );
    assert_eq!(
        run(h.service.get_token(&actor, plain.token.id)).unwrap_err(),
        QueryError::Denied(missing("read"))
    );
    assert_eq!(
        run(h.service.revoke_token(&actor, plain.token.id)).unwrap_err(),
        TokenChangeError::Denied(missing("update"))
    );
    assert_eq!(
        run(h.service.delete_token(&actor, plain.token.id)).unwrap_err(),
        TokenChangeError::Denied(missing("delete"))
    );
    assert_eq!(
        run(h.service.delete_all_tokens(&actor)).unwrap_err(),
        TokenChangeError::Denied(missing("delete"))
    );
    let reader = h.issue(&member, "reader", &["tokens:list", "tokens:read"]);
    let reader = h.as_pat(&reader);
    assert_eq!(h.list(&reader, StatusFilter::All).len(), 2);
}

#[test]
fn a_token_cannot_mint_a_broader_or_longer_lived_token() {
    let h = Harness::new();
    let member = h.member();
    let minter = h
        .create(
            &member,
            "minter",
            10,
            &["tokens:create", "tokens:update", "jobs:list"],
        )
        .expect("create");
    let actor = h.as_pat(&minter);
    assert!(matches!(
        h.create(&actor, "broader", 5, &["jobs:*"]),
        Err(CreateTokenError::Escalation(Escalation::ScopeNotHeld(_)))
    ));
    assert!(matches!(
        h.create(&actor, "full", 5, &["*:*"]),
        Err(CreateTokenError::Escalation(Escalation::ScopeNotHeld(_)))
    ));
    let err = h.create(&actor, "longer", 11, &["jobs:list"]).unwrap_err();
    assert!(
        matches!(
            err,
            CreateTokenError::Escalation(Escalation::OutlivesCaller { .. })
        ),
        "{err:?}"
    );
    let child = h
        .create(&actor, "child", 10, &["jobs:list:j1"])
        .expect("a narrower, shorter token is fine");
    assert!(matches!(
        run(h
            .service
            .add_scopes(&actor, child.token.id, &["jobs:delete".into()])),
        Err(AddScopesError::Escalation(_))
    ));
    assert!(matches!(
        run(h
            .service
            .add_scopes(&actor, minter.token.id, &["*:*".into()])),
        Err(AddScopesError::Escalation(_)),
    ));
    assert!(matches!(
        run(h.service.regenerate_token(&actor, child.token.id, 30, None)),
        Err(RegenerateError::Escalation(
            Escalation::OutlivesCaller { .. }
        ))
    ));
    run(h.service.regenerate_token(&actor, child.token.id, 5, None))
        .expect("shorter regeneration is fine");
}

#[test]
fn last_use_is_written_at_most_once_a_minute() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    // Written behind: what the store holds after the service flushed what it noted.
    let used_at = |h: &Harness| {
        run(h.service.flush_last_uses()).expect("flush");
        run(h.store.get(issued.token.id))
            .expect("get")
            .expect("exists")
            .last_used_at
    };
    h.auth(&issued).expect("auth");
    assert_eq!(used_at(&h), Some(start()));
    h.clock.advance(Duration::seconds(59));
    h.auth(&issued).expect("auth");
    assert_eq!(used_at(&h), Some(start()), "no write within the minute");
    h.clock.advance(Duration::seconds(1));
    h.auth(&issued).expect("auth");
    assert_eq!(
        used_at(&h),
        Some(start()),
        "still none at exactly one minute"
    );
    h.clock.advance(Duration::seconds(1));
    h.auth(&issued).expect("auth");
    assert_eq!(used_at(&h), Some(start() + Duration::seconds(61)));
    let token = run(h.store.get(issued.token.id))
        .expect("get")
        .expect("exists");
    assert_eq!(token.last_used_ip, IP);
}

#[test]
fn every_authentication_failure_has_its_reason_in_the_audit_log() {
    let h = Harness::new();
    let member = h.member();
    let malformed = run(h.service.authenticate("pat_not-a-token", IP)).unwrap_err();
    assert_eq!(malformed, AuthError::Malformed);
    let unknown = h.service.codec().encode(&[1; 32]);
    assert_eq!(
        run(h.service.authenticate(unknown.expose(), IP)).unwrap_err(),
        AuthError::Unknown
    );
    let expiring = h
        .create(&member, "short", 1, &["jobs:list"])
        .expect("create");
    let inactive_owner = h.user("gone@example.com", Role::Member);
    let orphan = h.issue(&inactive_owner, "orphan", &["jobs:list"]);
    run(h
        .service
        .update_user(Some(&h.admin), inactive_owner.user.id, None, Some(false)))
    .expect("deactivate");
    assert_eq!(h.auth(&orphan).unwrap_err(), AuthError::UserInactive);
    h.clock.advance(Duration::days(1));
    assert_eq!(
        h.auth(&expiring).unwrap_err(),
        AuthError::Expired,
        "expired at exactly expires_at"
    );
    let reasons: Vec<AuthFailure> = h
        .actions()
        .into_iter()
        .filter_map(|a| match a {
            AuditAction::AuthFailed(reason) => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            AuthFailure::Malformed,
            AuthFailure::Unknown,
            AuthFailure::UserInactive,
            AuthFailure::Expired
        ]
    );
}

#[test]
fn every_lifecycle_change_is_audited_without_the_secret() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    let id = issued.token.id;
    run(h.service.update_token(&member, id, Some("ci2"), None)).expect("update");
    let with_scope = run(h.service.add_scopes(&member, id, &["jobs:read".into()])).expect("add");
    run(h.service.remove_scope(&member, id, with_scope.scopes[1].id)).expect("remove");
    run(h.service.clear_scopes(&member, id)).expect("clear");
    run(h.service.revoke_token(&member, id)).expect("revoke");
    let regenerated = run(h.service.regenerate_token(&member, id, 30, None)).expect("regenerate");
    run(h.service.delete_token(&member, id)).expect("delete");
    let history =
        run(h.service.token_events(&h.admin, id, PageRequest::default())).expect("history");
    let actions: Vec<AuditAction> = history
        .items
        .iter()
        .rev()
        .map(|e| e.action.clone())
        .collect();
    assert_eq!(
        actions,
        vec![
            AuditAction::TokenCreated,
            AuditAction::TokenUpdated,
            AuditAction::ScopesAdded,
            AuditAction::ScopeRemoved,
            AuditAction::ScopesCleared,
            AuditAction::TokenRevoked,
            AuditAction::TokenRegenerated,
            AuditAction::TokenDeleted,
        ]
    );
    assert!(
        history
            .items
            .iter()
            .all(|e| e.actor == Some(member.user.id) && e.ip == IP)
    );
    for event in &history.items {
        assert!(!event.detail.contains(issued.secret.expose()));
        assert!(!event.detail.contains(regenerated.secret.expose()));
    }
    h.set(|s| s.max_active_per_user = 3);
    assert!(h.actions().contains(&AuditAction::SettingsChanged));
}

#[test]
fn a_token_does_admin_work_only_for_an_admin_with_admin_scopes() {
    let h = Harness::new();
    let member = h.member();
    let plain = h.issue(&h.admin, "admin-plain", &["tokens:list"]);
    let plain = h.as_pat(&plain);
    assert_eq!(
        run(h.service.admin_settings(&plain)).unwrap_err(),
        QueryError::Denied(Denied::MissingScope {
            required: "admin:read".into()
        })
    );
    let scoped = h.issue(&h.admin, "admin-scoped", &["admin:read", "admin:update"]);
    let scoped = h.as_pat(&scoped);
    assert!(run(h.service.admin_settings(&scoped)).is_ok());
    assert!(run(h.service.update_settings(&scoped, Settings::default())).is_ok());
    assert_eq!(
        run(h.service.list_users(Some(&scoped), PageRequest::default()))
            .map(|p| p.total_items)
            .expect("admin:read lists users"),
        2
    );
    let theirs = h.issue(&member, "theirs", &["jobs:list"]);
    assert_eq!(
        run(h.service.admin_revoke_token(&member, theirs.token.id)).unwrap_err(),
        TokenChangeError::Denied(Denied::AdminOnly),
        "the admin endpoints refuse non-admins even on their own tokens"
    );
    assert_eq!(
        run(h.service.admin_delete_token(&member, theirs.token.id)).unwrap_err(),
        TokenChangeError::Denied(Denied::AdminOnly)
    );
    run(h.service.admin_revoke_token(&h.admin, theirs.token.id)).expect("admin revokes");
}

#[test]
fn the_presenting_token_reads_and_revokes_itself_without_scopes() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "self", &["jobs:list"]);
    let actor = h.as_pat(&issued);
    let token = run(h.service.presented_token(&actor)).expect("own details");
    assert_eq!(token.id, issued.token.id);
    assert_eq!(
        run(h.service.presented_token(&member)).unwrap_err(),
        QueryError::NotFound,
        "a session presents no token"
    );
    run(h.service.revoke_presented_token(&actor)).expect("revokes itself");
    assert_eq!(h.auth(&issued).unwrap_err(), AuthError::Revoked);
}

#[test]
fn admin_endpoints_need_admin_scopes_not_token_scopes() {
    let h = Harness::new();
    let member = h.member();
    let theirs = h.issue(&member, "theirs", &["jobs:list"]);
    let admin_pat = h.issue(&h.admin, "ops", &["admin:update", "admin:delete"]);
    let admin_pat = h.as_pat(&admin_pat);
    run(h.service.admin_revoke_token(&admin_pat, theirs.token.id)).expect("admin:update is enough");
    run(h.service.admin_delete_token(&admin_pat, theirs.token.id)).expect("admin:delete is enough");
    assert!(
        matches!(
            run(h.service.revoke_token(
                &admin_pat,
                h.issue(&member, "other", &["jobs:list"]).token.id
            )),
            Err(TokenChangeError::Denied(Denied::MissingScope { .. }))
        ),
        "the owner-facing endpoint still wants tokens:update"
    );
}
