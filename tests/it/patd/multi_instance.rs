//! Several patd instances on one database (behind a load balancer): what one instance
//! changes, the others apply within the change bound (their verification caches hear of
//! it through their change watchers; see cache.rs), and every decision that is not a
//! token check (settings, limits, sessions) on their very next request. Sessions are in
//! the store: any instance serves any session.

use std::time::Instant;

use serde_json::json;

use super::harness::{Backend, item_ids, spawn_app};

/// Two instances share one database and token key: a user created on A logs in on B; a
/// token created on either works on both; revoking on one is refused by the other on its
/// next request; the PAT switch, the active-token limit, the lifetime cap and a user's
/// deactivation set on one apply on the other; a session made on one works on the other.
pub(super) fn multi_instance_tokens_revocations_settings_and_users_are_shared(backend: Backend) {
    let a = spawn_app(backend);
    let b = a.spawn_peer();
    assert_ne!(a.address, b.address);

    // A user created on A logs in on B; each session works on both instances.
    let user = a.create_user("member");
    let on_a = a.login(&user.email, &user.password);
    let on_b = b.login(&user.email, &user.password);
    assert_eq!(on_b.user_id(), user.id);
    assert_eq!(
        b.get("/api/v1/me", &on_a).expect(200).json()["user"]["id"],
        user.id
    );
    assert_eq!(
        a.get("/api/v1/me", &on_b).expect(200).json()["user"]["id"],
        user.id
    );

    // A token created on A works on B, with exactly its scopes; and the other way round.
    let from_a = a.create_token(&on_a, "from a", 7, &["jobs:list"]);
    b.assert_works(&from_a.secret);
    assert!(b.allows(&from_a.secret, "jobs:list"));
    assert!(!b.allows(&from_a.secret, "jobs:delete"));
    let check = b.auth_check(&from_a.secret, "jobs:list").expect(204);
    assert_eq!(check.header("x-pat-user-id"), Some(user.id.as_str()));
    assert_eq!(check.header("x-pat-token-id"), Some(from_a.id().as_str()));
    let from_b = b.create_token(&on_b, "from b", 7, &["jobs:list"]);
    a.assert_works(&from_b.secret);
    assert_eq!(
        item_ids(&a.list_tokens(&on_a, "")),
        [from_b.id(), from_a.id()]
    );

    // Revoked on A: B refuses it within the bound, and the other way round.
    b.assert_works(&from_a.secret);
    a.revoke(&on_a, &from_a.id());
    b.assert_refused_within_the_bound(&from_a.secret, Instant::now());
    b.auth_check(&from_a.secret, "jobs:list")
        .expect_problem(401, "invalid_token");
    assert_eq!(b.token(&on_b, &from_a.id())["status"], "revoked");
    let second = a.create_token(&on_a, "second", 7, &["jobs:list"]);
    a.assert_works(&second.secret);
    b.revoke(&on_b, &second.id());
    a.assert_refused_within_the_bound(&second.secret, Instant::now());

    // The PAT switch thrown on A stops tokens on B within the bound; back on, they work
    // again.
    b.assert_works(&from_b.secret);
    a.change_settings(&json!({"pats_enabled": false}));
    b.assert_refused_within_the_bound(&from_b.secret, Instant::now());
    assert_eq!(b.settings()["pats_enabled"], false);
    b.try_create_token(
        &on_b,
        &json!({"name": "while off", "expires_in_days": 7, "scopes": ["jobs:list"]}),
    )
    .expect_problem(403, "pats_disabled");
    a.change_settings(&json!({"pats_enabled": true}));
    works_within_the_bound(&b, &from_b.secret);

    // The lifetime cap and the active-token limit set on A bound creation on B.
    a.change_settings(&json!({"max_lifetime_days": 10, "max_active_per_user": 2}));
    b.try_create_token(
        &on_b,
        &json!({"name": "too long", "expires_in_days": 11, "scopes": ["jobs:list"]}),
    )
    .expect_problem(422, "invalid_expiry");
    b.create_token(&on_b, "second active", 10, &["jobs:list"]);
    b.try_create_token(
        &on_b,
        &json!({"name": "third active", "expires_in_days": 1, "scopes": ["jobs:list"]}),
    )
    .expect_problem(409, "active_token_limit");
    // Raised on B, A lets the user create one more.
    b.change_settings(&json!({"max_active_per_user": 3}));
    a.create_token(&on_a, "third active", 1, &["jobs:list"]);

    // Deactivated on A: B ends the user's session and refuses their tokens.
    b.get("/api/v1/me", &on_b).expect(200);
    a.json(
        "PATCH",
        &format!("/api/v1/admin/users/{}", user.id),
        &a.admin,
        &json!({"active": false}),
    )
    .expect_json(200);
    b.get("/api/v1/me", &on_b)
        .expect_problem(401, "unauthenticated");
    b.assert_refused_within_the_bound(&from_b.secret, Instant::now());
}

/// A token refused for a change made elsewhere works again within the bound once the
/// change is undone.
fn works_within_the_bound(app: &super::harness::TestApp, secret: &str) {
    let undone = Instant::now();
    while app.me_bearer(secret).status != 200 {
        assert!(
            undone.elapsed() <= super::harness::CHANGE_BOUND * 2,
            "still refused {:?} after the change was undone",
            undone.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
