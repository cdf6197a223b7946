//! Every rule of the token policy, through `PatService` over the in-memory store.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pat_core::model::{
    Actor, AuditAction, AuditQuery, AuthFailure, DeliveryStatus, NoticeKind, PageRequest,
    RevocationReason, Role, StatusFilter, TokenStatus, User,
};
use pat_core::policy::{NameError, Settings};
use pat_core::ports::{ManualClock, NotifyError, TokenStore};
use pat_core::scope::{ResourceCatalog, ScopeError};
use pat_core::{
    AuthError, CreateTokenRequest, IssuedToken, ListTokensRequest, NewUser, PatService, ServerKey,
    ServiceError,
};
use pat_store_memory::{MemoryStore, RecordingNotifier};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn run<F: Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

struct Harness {
    service: PatService,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    notifier: Arc<RecordingNotifier>,
    admin: Actor,
}

const IP: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));

impl Harness {
    fn new() -> Self {
        Self::with_catalog(ResourceCatalog::open())
    }

    fn with_catalog(catalog: ResourceCatalog) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(start()));
        let notifier = Arc::new(RecordingNotifier::default());
        let service = PatService::builder()
            .storage(pat_core::ports::Storage::from_store(store.clone()))
            .notifier(notifier.clone())
            .clock(clock.clone())
            .rng(StdRng::seed_from_u64(7))
            .server_key(ServerKey::new(vec![42; 32]).expect("key"))
            .catalog(catalog)
            .build()
            .expect("complete builder");
        let admin_user = run(service.create_user(
            None,
            NewUser {
                email: "admin@example.com".into(),
                name: "Admin".into(),
                role: Role::Admin,
            },
            None,
        ))
        .expect("admin");
        Self {
            service,
            store,
            clock,
            notifier,
            admin: Actor::session(admin_user, IP),
        }
    }

    fn user(&self, email: &str, role: Role) -> Actor {
        let user = run(self.service.create_user(
            Some(&self.admin),
            NewUser {
                email: email.into(),
                name: email.into(),
                role,
            },
            None,
        ))
        .expect("new user");
        Actor::session(user, IP)
    }

    fn member(&self) -> Actor {
        self.user("member@example.com", Role::Member)
    }

    fn create(
        &self,
        actor: &Actor,
        name: &str,
        days: i64,
        scopes: &[&str],
    ) -> Result<IssuedToken, ServiceError> {
        run(self.service.create_token(
            actor,
            CreateTokenRequest {
                name: name.into(),
                description: String::new(),
                expires_in_days: days,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
        ))
    }

    fn issue(&self, actor: &Actor, name: &str, scopes: &[&str]) -> IssuedToken {
        self.create(actor, name, 30, scopes).expect("token created")
    }

    fn auth(&self, issued: &IssuedToken) -> Result<pat_core::model::Principal, AuthError> {
        run(self.service.authenticate(issued.secret.expose(), IP))
    }

    fn as_pat(&self, issued: &IssuedToken) -> Actor {
        Actor::from_principal(&self.auth(issued).expect("token authenticates"), IP)
    }

    fn set(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = run(self.service.current_settings()).expect("settings");
        change(&mut settings);
        run(self.service.update_settings(&self.admin, settings)).expect("settings saved");
    }

    fn list(&self, actor: &Actor, status: StatusFilter) -> Vec<String> {
        let page = run(self.service.list_tokens(
            actor,
            ListTokensRequest {
                status,
                ..Default::default()
            },
        ))
        .expect("list");
        page.items
            .iter()
            .map(|t| t.name.as_str().to_owned())
            .collect()
    }

    fn actions(&self) -> Vec<AuditAction> {
        let page = run(self.service.audit_log(
            &self.admin,
            AuditQuery {
                page: PageRequest::new(1, 100).expect("page"),
                ..Default::default()
            },
        ))
        .expect("audit");
        page.items.into_iter().rev().map(|e| e.action).collect()
    }
}

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
        ServiceError::InvalidName(NameError::Empty)
    );
    assert_eq!(
        h.create(&member, &"n".repeat(65), 30, &["jobs:list"])
            .unwrap_err(),
        ServiceError::InvalidName(NameError::TooLong { got: 65 })
    );
    assert_eq!(
        h.create(&member, "a\tb", 30, &["jobs:list"]).unwrap_err(),
        ServiceError::InvalidName(NameError::ControlCharacter)
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
    assert!(matches!(err, ServiceError::InvalidDescription(_)));
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
            matches!(err, ServiceError::InvalidExpiry(_)),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains("between 1 and 180"), "{err}");
    }
    assert!(h.create(&member, "max", 180, &["jobs:list"]).is_ok());
    h.set(|s| s.max_lifetime_days = 30);
    assert!(matches!(
        h.create(&member, "long", 31, &["jobs:list"]),
        Err(ServiceError::InvalidExpiry(_))
    ));
    assert!(h.create(&member, "short", 30, &["jobs:list"]).is_ok());
}

#[test]
fn scopes_are_required_bounded_and_validated() {
    let h = Harness::with_catalog(ResourceCatalog::listed(["jobs"]).expect("catalog"));
    let member = h.member();
    assert_eq!(
        h.create(&member, "none", 30, &[]).unwrap_err(),
        ServiceError::NoScopes
    );
    assert!(matches!(
        h.create(&member, "bad", 30, &["jobs"]),
        Err(ServiceError::InvalidScope(ScopeError::Shape { .. }))
    ));
    assert!(matches!(
        h.create(&member, "other", 30, &["files:read"]),
        Err(ServiceError::InvalidScope(
            ScopeError::UnknownResource { .. }
        ))
    ));
    let many: Vec<String> = (0..51).map(|i| format!("jobs:read:j{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        h.create(&member, "many", 30, &many).unwrap_err(),
        ServiceError::TooManyScopes { max: 50, got: 51 }
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
        ServiceError::ActiveLimit { limit: 5 }
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
        ServiceError::ActiveLimit { limit: 1 }
    );
}

#[test]
fn names_are_unique_per_owner_ignoring_case() {
    let h = Harness::new();
    let member = h.member();
    h.issue(&member, "Deploy", &["jobs:list"]);
    assert_eq!(
        h.create(&member, "deploy", 30, &["jobs:list"]).unwrap_err(),
        ServiceError::DuplicateName {
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
        Err(ServiceError::ForbiddenRole {
            role: Role::Collaborator,
            ..
        })
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
        run(h.service.regenerate_token(&demoted, issued.token.id, 30)),
        Err(ServiceError::ForbiddenRole { .. })
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
    let fresh = run(h.service.regenerate_token(&member, issued.token.id, 60))
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
        run(h.service.regenerate_token(&member, issued.token.id, 181)),
        Err(ServiceError::InvalidExpiry(_))
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
        run(h.service.regenerate_token(&member, spare.token.id, 30)).unwrap_err(),
        ServiceError::ActiveLimit { limit: 5 }
    );
    let active = h.list(&member, StatusFilter::Only(TokenStatus::Active));
    let some_active = run(h.service.list_tokens(&member, ListTokensRequest::default()))
        .expect("list")
        .items
        .into_iter()
        .find(|t| t.name.as_str() == active[0])
        .expect("an active token");
    run(h.service.regenerate_token(&member, some_active.id, 30))
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
        Err(ServiceError::DuplicateName { .. })
    ));
    assert!(matches!(
        run(h.service.update_token(&member, a.token.id, Some(""), None)),
        Err(ServiceError::InvalidName(NameError::Empty))
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
        ServiceError::NotFound
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
        ServiceError::ScopeNotFound
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
        ServiceError::PatsDisabled
    );
    assert_eq!(h.auth(&issued).unwrap_err(), AuthError::PatsDisabled);
    assert_eq!(
        run(h.service.regenerate_token(&member, issued.token.id, 30)).unwrap_err(),
        ServiceError::PatsDisabled
    );
    assert_eq!(h.list(&member, StatusFilter::All), vec!["ci"]);
    run(h.service.revoke_token(&h.admin, issued.token.id)).expect("admin revokes");
    run(h.service.delete_token(&h.admin, issued.token.id)).expect("admin deletes");
    h.set(|s| s.pats_enabled = true);
    assert!(h.create(&member, "new", 30, &["jobs:list"]).is_ok());
}

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
        ServiceError::Forbidden
    );
    let id = token.token.id;
    assert_eq!(
        run(h.service.get_token(&bob, id)).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.revoke_token(&bob, id)).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.delete_token(&bob, id)).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.update_token(&bob, id, Some("x"), None)).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.add_scopes(&bob, id, &["*:*".into()])).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.clear_scopes(&bob, id)).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.regenerate_token(&bob, id, 30)).unwrap_err(),
        ServiceError::NotFound
    );
    assert_eq!(
        run(h.service.token_events(&bob, id, PageRequest::default())).unwrap_err(),
        ServiceError::NotFound
    );
    assert!(h.auth(&token).is_ok(), "bob changed nothing");
    // An admin may not mint a secret that acts as someone else.
    assert_eq!(
        run(h.service.regenerate_token(&h.admin, id, 30)).unwrap_err(),
        ServiceError::NotFound
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
        ServiceError::Forbidden
    );
    assert_eq!(
        run(h.service.audit_log(&member, AuditQuery::default())).unwrap_err(),
        ServiceError::Forbidden
    );
    assert_eq!(
        run(h.service.list_users(Some(&member), PageRequest::default())).unwrap_err(),
        ServiceError::Forbidden
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
        Err(ServiceError::InvalidUser(_))
    ));
    assert!(matches!(
        run(h.service.update_user(Some(&h.admin), id, None, Some(false))),
        Err(ServiceError::InvalidUser(_))
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
        assert!(matches!(err, ServiceError::InvalidUser(_)), "{bad}");
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
    assert_eq!(err, ServiceError::DuplicateEmail);
}

#[test]
fn a_token_manages_tokens_only_with_tokens_scopes() {
    let h = Harness::new();
    let member = h.member();
    let plain = h.issue(&member, "plain", &["jobs:list"]);
    let actor = h.as_pat(&plain);
    let missing = |op: &str| ServiceError::MissingScope {
        required: format!("tokens:{op}"),
    };
    assert_eq!(
        h.create(&actor, "x", 1, &["jobs:list"]).unwrap_err(),
        missing("create")
    );
    assert_eq!(
        run(h.service.list_tokens(&actor, ListTokensRequest::default())).unwrap_err(),
        missing("list")
    );
    assert_eq!(
        run(h.service.get_token(&actor, plain.token.id)).unwrap_err(),
        missing("read")
    );
    assert_eq!(
        run(h.service.revoke_token(&actor, plain.token.id)).unwrap_err(),
        missing("update")
    );
    assert_eq!(
        run(h.service.delete_token(&actor, plain.token.id)).unwrap_err(),
        missing("delete")
    );
    assert_eq!(
        run(h.service.delete_all_tokens(&actor)).unwrap_err(),
        missing("delete")
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
        Err(ServiceError::ScopeEscalation(_))
    ));
    assert!(matches!(
        h.create(&actor, "full", 5, &["*:*"]),
        Err(ServiceError::ScopeEscalation(_))
    ));
    let err = h.create(&actor, "longer", 11, &["jobs:list"]).unwrap_err();
    assert!(matches!(err, ServiceError::ScopeEscalation(_)), "{err:?}");
    let child = h
        .create(&actor, "child", 10, &["jobs:list:j1"])
        .expect("a narrower, shorter token is fine");
    assert!(matches!(
        run(h
            .service
            .add_scopes(&actor, child.token.id, &["jobs:delete".into()])),
        Err(ServiceError::ScopeEscalation(_))
    ));
    assert!(matches!(
        run(h
            .service
            .add_scopes(&actor, minter.token.id, &["*:*".into()])),
        Err(ServiceError::ScopeEscalation(_)),
    ));
    assert!(matches!(
        run(h.service.regenerate_token(&actor, child.token.id, 30)),
        Err(ServiceError::ScopeEscalation(_))
    ));
    run(h.service.regenerate_token(&actor, child.token.id, 5))
        .expect("shorter regeneration is fine");
}

#[test]
fn last_use_is_written_at_most_once_a_minute() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "ci", &["jobs:list"]);
    let used_at = |h: &Harness| {
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
    let regenerated = run(h.service.regenerate_token(&member, id, 30)).expect("regenerate");
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
    let fresh = run(h.service.regenerate_token(&member, issued.token.id, 3)).expect("regenerate");
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
fn a_token_does_admin_work_only_for_an_admin_with_admin_scopes() {
    let h = Harness::new();
    let member = h.member();
    let plain = h.issue(&h.admin, "admin-plain", &["tokens:list"]);
    let plain = h.as_pat(&plain);
    assert_eq!(
        run(h.service.admin_settings(&plain)).unwrap_err(),
        ServiceError::MissingScope {
            required: "admin:read".into()
        }
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
        ServiceError::Forbidden,
        "the admin endpoints refuse non-admins even on their own tokens"
    );
    assert_eq!(
        run(h.service.admin_delete_token(&member, theirs.token.id)).unwrap_err(),
        ServiceError::Forbidden
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
        ServiceError::NotFound,
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
            Err(ServiceError::MissingScope { .. })
        ),
        "the owner-facing endpoint still wants tokens:update"
    );
}

#[test]
fn a_token_revoked_by_its_owner_comes_back_but_not_one_an_admin_or_a_leak_report_stopped() {
    let h = Harness::new();
    let member = h.member();
    let own = h.issue(&member, "own", &["jobs:list"]);
    let revoked = run(h.service.revoke_token(&member, own.token.id)).expect("revoke");
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Owner));
    let back = run(h.service.regenerate_token(&member, own.token.id, 10)).expect("revived");
    assert_eq!(back.token.revoked_reason, None);
    h.auth(&back).expect("the new secret works");

    let by_admin = h.issue(&member, "by admin", &["jobs:list"]);
    let revoked = run(h.service.revoke_token(&h.admin, by_admin.token.id)).expect("admin");
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Admin));
    assert!(matches!(
        run(h.service.regenerate_token(&member, by_admin.token.id, 10)),
        Err(ServiceError::RevokedByAdmin)
    ));

    let leaked = h.issue(&member, "leaked", &["jobs:list"]);
    let report = vec![leaked.secret.expose().to_owned()];
    assert_eq!(run(h.service.report_leaks(&report, IP)).expect("report"), 1);
    let token = run(h.service.get_token(&member, leaked.token.id)).expect("get");
    assert_eq!(token.revoked_reason, Some(RevocationReason::LeakReport));
    assert!(!token.may_be_regenerated());
    assert!(matches!(
        run(h.service.regenerate_token(&member, leaked.token.id, 10)),
        Err(ServiceError::RevokedAsLeaked)
    ));
    assert_eq!(h.auth(&leaked).unwrap_err(), AuthError::Revoked);

    // A token revoking itself is its owner's revocation.
    let automation = h.issue(&member, "self", &["jobs:list"]);
    let revoked =
        run(h.service.revoke_presented_token(&h.as_pat(&automation))).expect("revoke itself");
    assert_eq!(revoked.revoked_reason, Some(RevocationReason::Owner));
}

#[test]
fn owners_are_mailed_on_every_regeneration() {
    let h = Harness::new();
    let member = h.member();
    let issued = h.issue(&member, "rotated", &["jobs:list"]);
    run(h.service.regenerate_token(&member, issued.token.id, 10)).expect("first");
    run(h.service.regenerate_token(&member, issued.token.id, 20)).expect("second");
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
        Err(ServiceError::MissingScope { .. })
    ));
    h.set(|s| s.pats_enabled = false);
    assert_eq!(allowance(&member), CreationAllowance::PatsDisabled);
}
