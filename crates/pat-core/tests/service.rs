//! Every rule of the token policy, through `PatService` over the in-memory store:
//! the token lifecycle.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

mod common;

use common::*;

#[test]
fn created_token_authenticates_with_its_scopes() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list", "channels:publish:c1"]);
    assert_eq!(
        issued.token.status(h.clock.now_for_test()),
        TokenStatus::Active
    );
    assert_eq!(issued.token.expires_at, start() + Duration::days(30));
    assert_eq!(issued.token.generation, 1);
    assert_eq!(issued.token.hint, issued.secret.expose()[49..]);
    let principal = h.auth(&issued).expect("authenticates");
    assert_eq!(principal.user.id, member.user.id);
    assert!(principal.allows("jobs", "list", None));
    assert!(principal.allows("channels", "publish", Some("c1")));
    assert!(!principal.allows("channels", "publish", Some("c2")));
    assert!(!principal.allows("jobs", "delete", None));
}

trait NowForTest {
    fn now_for_test(&self) -> DateTime<Utc>;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> DateTime<Utc> {
        pat_core::ports::Clock::now(self)
    }
}

#[test]
fn invalid_names_and_descriptions_are_refused_with_reasons() {
    let h = Harness::new();
    let member = h.member();
    assert_eq!(
        h.create(&member, "  ", 30, &["jobs:list"]).unwrap_err(),
        CreateTokenError::InvalidName(NameError::Empty)
    );
    assert_eq!(
        h.create(&member, &"n".repeat(65), 30, &["jobs:list"])
            .unwrap_err(),
        CreateTokenError::InvalidName(NameError::TooLong { got: 65 })
    );
    assert_eq!(
        h.create(&member, "a\tb", 30, &["jobs:list"]).unwrap_err(),
        CreateTokenError::InvalidName(NameError::ControlCharacter)
    );
    let err = run(h.service.create_token(
        &member,
        CreateTokenRequest {
            name: "ok".into(),
            description: "d".repeat(501),
            expires_in_days: 30,
            scopes: vec!["jobs:list".into()],
        },
    ))
    .unwrap_err();
    assert!(matches!(err, CreateTokenError::InvalidDescription(_)));
    assert!(err.to_string().contains("500"), "{err}");
    assert!(
        h.list(&member, StatusFilter::All).is_empty(),
        "nothing was stored"
    );
}

#[test]
fn expiry_must_be_within_one_to_max_days() {
    let h = Harness::new();
    let member = h.member();
    for bad in [0, -1, 181, 365] {
        let err = h.create(&member, "t", bad, &["jobs:list"]).unwrap_err();
        assert!(
            matches!(err, CreateTokenError::InvalidExpiry(_)),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("between 1 and 180"), "{err}");
    }
    assert!(h.create(&member, "max", 180, &["jobs:list"]).is_ok());
    h.set(|s| s.max_lifetime_days = 30);
    assert!(matches!(
        h.create(&member, "long", 31, &["jobs:list"]),
        Err(CreateTokenError::InvalidExpiry(_))
    ));
    assert!(h.create(&member, "short", 30, &["jobs:list"]).is_ok());
}

#[test]
fn scopes_are_required_bounded_and_validated() {
    let h = Harness::with_catalog(ResourceCatalog::listed(["jobs"]).expect("catalog"));
    let member = h.member();
    assert_eq!(
        h.create(&member, "none", 30, &[]).unwrap_err(),
        CreateTokenError::Scopes(ScopesError::Empty)
    );
    assert!(matches!(
        h.create(&member, "bad", 30, &["jobs"]),
        Err(CreateTokenError::Scopes(ScopesError::Invalid(
            ScopeError::Shape { .. }
        )))
    ));
    assert!(matches!(
        h.create(&member, "other", 30, &["files:read"]),
        Err(CreateTokenError::Scopes(ScopesError::Invalid(
            ScopeError::UnknownResource { .. }
        )))
    ));
    let many: Vec<String> = (0..51).map(|i| format!("jobs:read:j{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        h.create(&member, "many", 30, &many).unwrap_err(),
        CreateTokenError::Scopes(ScopesError::TooMany { max: 50, got: 51 })
    );
    assert!(h.create(&member, "fifty", 30, &many[..50]).is_ok());
    let dup = h.issue(&member, "dup", &["jobs:list", "jobs:list"]);
    assert_eq!(dup.token.scopes.len(), 1, "duplicate scopes collapse");
}

#[test]
fn sixth_active_token_is_refused_until_one_is_revoked_or_expires() {
    let h = Harness::new();
    let member = h.member();
    let first = h.issue(&member, "t0", &["jobs:list"]);
    for i in 1..5 {
        h.create(&member, &format!("t{i}"), 10 + i, &["jobs:list"])
            .expect("within limit");
    }
    assert_eq!(
        h.create(&member, "t5", 30, &["jobs:list"]).unwrap_err(),
        CreateTokenError::ActiveLimit { limit: 5 }
    );
    run(h.service.revoke_token(&member, first.token.id)).expect("revoke");
    h.create(&member, "t5", 30, &["jobs:list"])
        .expect("a revoked token frees a slot");
    assert!(h.create(&member, "t6", 30, &["jobs:list"]).is_err());
    h.clock.advance(Duration::days(11));
    h.create(&member, "t6", 30, &["jobs:list"])
        .expect("an expired token frees a slot");
    let other = h.user("other@example.com", Role::Member);
    h.issue(&other, "t0", &["jobs:list"]);
    h.set(|s| s.max_active_per_user = 1);
    assert_eq!(
        h.create(&other, "second", 30, &["jobs:list"]).unwrap_err(),
        CreateTokenError::ActiveLimit { limit: 1 }
    );
}

#[test]
fn names_are_unique_per_owner_ignoring_case() {
    let h = Harness::new();
    let member = h.member();
    h.issue(&member, "Deploy", &["jobs:list"]);
    assert_eq!(
        h.create(&member, "deploy", 30, &["jobs:list"]).unwrap_err(),
        CreateTokenError::DuplicateName {
            name: "deploy".into()
        }
    );
    let other = h.user("other@example.com", Role::Member);
    assert!(h.create(&other, "deploy", 30, &["jobs:list"]).is_ok());
}

#[test]
fn collaborators_may_not_create_or_regenerate_but_may_list_revoke_delete() {
    let h = Harness::new();
    let member = h.member();
    let collaborator = h.user("collab@example.com", Role::Collaborator);
    assert!(matches!(
        h.create(&collaborator, "x", 30, &["jobs:list"]),
        Err(CreateTokenError::Denied(Denied::Role {
            role: Role::Collaborator,
            ..
        }))
    ));
    // A collaborator may hold tokens made before a role change.
    let issued = h.issue(&member, "old", &["jobs:list"]);
    run(h.service.update_user(
        Some(&h.admin),
        member.user.id,
        Some(Role::Collaborator),
        None,
    ))
    .expect("demote");
    let demoted = Actor::session(
        User {
            role: Role::Collaborator,
            ..member.user.clone()
        },
        IP,
    );
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&demoted, issued.token.id, 30, None)),
        Err(RegenerateError::Denied(Denied::Role { .. }))
    ));
    assert_eq!(h.list(&demoted, StatusFilter::All), vec!["old"]);
    run(h.service.revoke_token(&demoted, issued.token.id)).expect("revoke own");
    run(h.service.delete_token(&demoted, issued.token.id)).expect("delete own");
}

#[test]
fn revoke_is_immediate_and_idempotent() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    let revoked = run(h.service.revoke_token(&member, issued.token.id)).expect("revoke");
    assert_eq!(revoked.revoked_at, Some(start()));
    assert_eq!(h.auth(&issued).unwrap_err(), AuthError::Revoked);
    h.clock.advance(Duration::minutes(5));
    let again = run(h.service.revoke_token(&member, issued.token.id)).expect("revoke again");
    assert_eq!(
        again.revoked_at,
        Some(start()),
        "first revocation time is kept"
    );
    assert_eq!(
        h.list(&member, StatusFilter::Only(TokenStatus::Revoked)),
        vec!["ci"]
    );
}

#[test]
fn regenerate_replaces_the_secret_and_keeps_the_rest() {
    let h = Harness::new();
    let member = h.member();
    let issued = run(h.service.create_token(
        &member,
        CreateTokenRequest {
            name: "deploy".into(),
            description: "for CI".into(),
            expires_in_days: 10,
            scopes: vec!["jobs:list".into(), "jobs:read:j1".into()],
        },
    ))
    .expect("create");
    run(h.service.revoke_token(&member, issued.token.id)).expect("revoke");
    h.clock.advance(Duration::days(20));
    let fresh = run(h
        .service
        .regenerate_token(&member, issued.token.id, 60, None))
    .expect("regenerate from any status");
    assert_eq!(fresh.token.id, issued.token.id);
    assert_eq!(fresh.token.name, issued.token.name);
    assert_eq!(fresh.token.description, issued.token.description);
    assert_eq!(fresh.token.scopes, issued.token.scopes);
    assert_eq!(fresh.token.generation, 2);
    assert_eq!(fresh.token.revoked_at, None);
    assert_eq!(fresh.token.expires_at, start() + Duration::days(80));
    assert_ne!(fresh.secret.expose(), issued.secret.expose());
    assert_eq!(
        h.auth(&issued).unwrap_err(),
        AuthError::Unknown,
        "old secret dead at once"
    );
    let principal = h.auth(&fresh).expect("new secret works");
    assert_eq!(principal.scopes, issued.token.scopes);
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&member, issued.token.id, 181, None)),
        Err(RegenerateError::InvalidExpiry(_))
    ));
}

#[test]
fn regenerate_counts_against_the_active_limit() {
    let h = Harness::new();
    let member = h.member();
    let spare = h.issue(&member, "spare", &["jobs:list"]);
    run(h.service.revoke_token(&member, spare.token.id)).expect("revoke");
    for i in 0..5 {
        h.issue(&member, &format!("t{i}"), &["jobs:list"]);
    }
    assert_eq!(
        run(h
            .service
            .regenerate_token(&member, spare.token.id, 30, None))
        .unwrap_err(),
        RegenerateError::ActiveLimit { limit: 5 }
    );
    let active = h.list(&member, StatusFilter::Only(TokenStatus::Active));
    let some_active = run(h.service.list_tokens(&member, ListTokensRequest::default()))
        .expect("list")
        .items
        .into_iter()
        .find(|t| t.name.as_str() == active[0])
        .expect("an active token");
    run(h
        .service
        .regenerate_token(&member, some_active.id, 30, None))
    .expect("regenerating an active token keeps the count");
}

#[test]
fn update_renames_and_redescribes() {
    let h = Harness::new();
    let member = h.member();
    let a = h.issue(&member, "a", &["jobs:list"]);
    h.issue(&member, "b", &["jobs:list"]);
    let updated = run(h
        .service
        .update_token(&member, a.token.id, Some("renamed"), Some("why")))
    .expect("update");
    assert_eq!(updated.name.as_str(), "renamed");
    assert_eq!(updated.description.as_str(), "why");
    assert!(matches!(
        run(h.service.update_token(&member, a.token.id, Some("B"), None)),
        Err(TokenChangeError::DuplicateName { .. })
    ));
    assert!(matches!(
        run(h.service.update_token(&member, a.token.id, Some(""), None)),
        Err(TokenChangeError::InvalidName(NameError::Empty))
    ));
    let kept =
        run(h.service.update_token(&member, a.token.id, None, Some(""))).expect("description only");
    assert_eq!(kept.name.as_str(), "renamed");
}

#[test]
fn delete_and_delete_all_remove_only_own_tokens() {
    let h = Harness::new();
    let member = h.member();
    let other = h.user("other@example.com", Role::Member);
    let a = h.issue(&member, "a", &["jobs:list"]);
    h.issue(&member, "b", &["jobs:list"]);
    let theirs = h.issue(&other, "theirs", &["jobs:list"]);
    run(h.service.delete_token(&member, a.token.id)).expect("delete");
    assert_eq!(h.auth(&a).unwrap_err(), AuthError::Unknown);
    assert_eq!(
        run(h.service.get_token(&member, a.token.id)).unwrap_err(),
        QueryError::NotFound
    );
    assert_eq!(
        run(h.service.delete_all_tokens(&member)).expect("delete all"),
        1
    );
    assert!(h.list(&member, StatusFilter::All).is_empty());
    assert!(h.auth(&theirs).is_ok(), "another user's token survives");
    let deleted = h
        .actions()
        .into_iter()
        .filter(|a| *a == AuditAction::TokenDeleted)
        .count();
    assert_eq!(deleted, 2, "deletions stay in the audit log");
}

#[test]
fn scopes_can_be_added_removed_and_cleared() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    let added = run(h.service.add_scopes(
        &member,
        issued.token.id,
        &["jobs:list".into(), "jobs:read".into()],
    ))
    .expect("add");
    assert_eq!(added.scopes.len(), 2, "an existing scope is a no-op");
    assert!(h.auth(&issued).expect("auth").allows("jobs", "read", None));
    let list_scope = added.scopes[0].id;
    let removed =
        run(h.service.remove_scope(&member, issued.token.id, list_scope)).expect("remove");
    assert_eq!(removed.scopes.len(), 1);
    assert!(!h.auth(&issued).expect("auth").allows("jobs", "list", None));
    assert_eq!(
        run(h.service.remove_scope(&member, issued.token.id, list_scope)).unwrap_err(),
        TokenChangeError::ScopeNotFound
    );
    let cleared = run(h.service.clear_scopes(&member, issued.token.id)).expect("clear");
    assert!(cleared.scopes.is_empty());
    let principal = h
        .auth(&issued)
        .expect("a scopeless token still authenticates");
    assert!(
        !principal.allows("jobs", "read", None),
        "but authorizes nothing"
    );
}

#[test]
fn switching_pats_off_stops_creation_and_authentication_but_not_cleanup() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    h.set(|s| s.pats_enabled = false);
    assert_eq!(
        h.create(&member, "new", 30, &["jobs:list"]).unwrap_err(),
        CreateTokenError::PatsDisabled
    );
    assert_eq!(h.auth(&issued).unwrap_err(), AuthError::PatsDisabled);
    assert_eq!(
        run(h
            .service
            .regenerate_token(&member, issued.token.id, 30, None))
        .unwrap_err(),
        RegenerateError::PatsDisabled
    );
    assert_eq!(h.list(&member, StatusFilter::All), vec!["ci"]);
    run(h.service.revoke_token(&h.admin, issued.token.id)).expect("admin revokes");
    run(h.service.delete_token(&h.admin, issued.token.id)).expect("admin deletes");
    h.set(|s| s.pats_enabled = true);
    assert!(h.create(&member, "new", 30, &["jobs:list"]).is_ok());
}

#[test]
fn listing_filters_by_status_and_name_newest_first() {
    let h = Harness::new();
    let member = h.member();
    let a = h.create(&member, "alpha-ci", 1, &["jobs:list"]).expect("a");
    h.clock.advance(Duration::seconds(1));
    let b = h.issue(&member, "beta", &["jobs:list"]);
    h.clock.advance(Duration::seconds(1));
    h.issue(&member, "Gamma-CI", &["jobs:list"]);
    run(h.service.revoke_token(&member, b.token.id)).expect("revoke");
    h.clock.advance(Duration::days(1));
    assert_eq!(a.token.expires_at, start() + Duration::days(1));
    assert_eq!(
        h.list(&member, StatusFilter::All),
        vec!["Gamma-CI", "beta", "alpha-ci"]
    );
    assert_eq!(
        h.list(&member, StatusFilter::Only(TokenStatus::Active)),
        vec!["Gamma-CI"]
    );
    assert_eq!(
        h.list(&member, StatusFilter::Only(TokenStatus::Revoked)),
        vec!["beta"]
    );
    assert_eq!(
        h.list(&member, StatusFilter::Only(TokenStatus::Expired)),
        vec!["alpha-ci"]
    );
    let searched = run(h.service.list_tokens(
        &member,
        ListTokensRequest {
            name_contains: Some("ci".into()),
            page: PageRequest::new(1, 1).expect("page"),
            ..Default::default()
        },
    ))
    .expect("search");
    assert_eq!(searched.total_items, 2);
    assert_eq!(searched.total_pages(), 2);
    assert_eq!(searched.items[0].name.as_str(), "Gamma-CI");
}

#[test]
fn rotated_keys_still_authenticate_old_tokens() {
    let store = Arc::new(MemoryStore::new());
    let notifier = Arc::new(RecordingNotifier::default());
    let build = |key: u8, previous: Vec<ServerKey>| {
        PatService::builder()
            .storage(pat_core::ports::Storage::from_store(store.clone()))
            .notifier(notifier.clone())
            .rng(StdRng::seed_from_u64(u64::from(key)))
            .server_key(ServerKey::new(vec![key; 32]).expect("key"))
            .previous_keys(previous)
            .build()
            .expect("service")
    };
    let old = build(1, vec![]);
    let user = run(old.create_user(
        None,
        NewUser {
            email: "a@example.com".into(),
            name: "A".into(),
            role: Role::Member,
        },
        None,
    ))
    .expect("user");
    let issued = run(old.create_token(
        &Actor::session(user, None),
        CreateTokenRequest {
            name: "t".into(),
            expires_in_days: 30,
            scopes: vec!["jobs:list".into()],
            ..Default::default()
        },
    ))
    .expect("token");
    let rotated = build(2, vec![ServerKey::new(vec![1; 32]).expect("key")]);
    assert!(run(rotated.authenticate(issued.secret.expose(), None)).is_ok());
    let forgotten = build(2, vec![]);
    assert_eq!(
        run(forgotten.authenticate(issued.secret.expose(), None)).unwrap_err(),
        AuthError::Unknown
    );
}

#[test]
fn builder_names_what_is_missing() {
    let err = PatService::builder().build().err().expect("incomplete");
    assert!(err.to_string().contains("server_key"), "{err}");
}

#[test]
fn a_token_revoked_by_its_owner_comes_back_but_not_one_an_admin_or_a_leak_report_stopped() {
    let h = Harness::new();
    let member = h.member();
    let own = h.issue(&member, "own", &["jobs:list"]);
    let revoked = run(h.service.revoke_token(&member, own.token.id)).expect("revoke");
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Owner));
    let back = run(h.service.regenerate_token(&member, own.token.id, 10, None)).expect("revived");
    assert_eq!(back.token.revoked_reason, None);
    h.auth(&back).expect("the new secret works");

    let by_admin = h.issue(&member, "by admin", &["jobs:list"]);
    let revoked = run(h.service.revoke_token(&h.admin, by_admin.token.id)).expect("admin");
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Admin));
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&member, by_admin.token.id, 10, None)),
        Err(RegenerateError::RevokedByAdmin)
    ));

    let leaked = h.issue(&member, "leaked", &["jobs:list"]);
    let report = vec![leaked.secret.expose().to_owned()];
    assert_eq!(run(h.service.report_leaks(&report, IP)).expect("report"), 1);
    let token = run(h.service.get_token(&member, leaked.token.id)).expect("get");
    assert_eq!(token.revoked_reason, Some(RevocationReason::LeakReport));
    assert!(!token.may_be_regenerated());
    assert!(matches!(
        run(h
            .service
            .regenerate_token(&member, leaked.token.id, 10, None)),
        Err(RegenerateError::RevokedAsLeaked)
    ));
    assert_eq!(h.auth(&leaked).unwrap_err(), AuthError::Revoked);

    // A token revoking itself is its owner's revocation.
    let automation = h.issue(&member, "self", &["jobs:list"]);
    let revoked =
        run(h.service.revoke_presented_token(&h.as_pat(&automation))).expect("revoke itself");
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Owner));
}

#[test]
fn creation_allowance_says_why_a_user_may_not_create_now() {
    use pat_core::CreationAllowance;
    let h = Harness::new();
    let member = h.member();
    let allowance = |actor: &Actor| run(h.service.creation_allowance(actor)).expect("asked");
    assert_eq!(allowance(&member), CreationAllowance::Allowed);
    let collaborator = h.user("collab@example.com", Role::Collaborator);
    assert_eq!(
        allowance(&collaborator),
        CreationAllowance::NotForRole(Role::Collaborator)
    );
    let issued: Vec<_> = (0..5)
        .map(|n| h.issue(&member, &format!("t{n}"), &["jobs:list"]))
        .collect();
    assert_eq!(
        allowance(&member),
        CreationAllowance::AtLimit {
            active: 5,
            limit: 5
        }
    );
    assert!(matches!(
        run(h.service.creation_allowance(&h.as_pat(&issued[0]))),
        Err(QueryError::Denied(Denied::MissingScope { .. }))
    ));
    h.set(|s| s.pats_enabled = false);
    assert_eq!(allowance(&member), CreationAllowance::PatsDisabled);
}

#[test]
fn too_many_scopes_says_how_many_the_token_would_hold() {
    let h = Harness::new();
    let member = h.member();
    let specs: Vec<String> = (0..48).map(|n| format!("r{n}:read")).collect();
    let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let issued = h.issue(&member, "nearly full", &refs);
    let more: Vec<String> = (0..5).map(|n| format!("more{n}:read")).collect();
    let err = run(h.service.add_scopes(&member, issued.token.id, &more)).unwrap_err();
    assert_eq!(
        err,
        AddScopesError::Scopes(ScopesError::TooMany { max: 50, got: 53 })
    );
}
