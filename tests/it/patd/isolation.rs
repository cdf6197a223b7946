//! One user's tokens are invisible and untouchable to another, by session and by PAT;
//! only admins reach across users.

use serde_json::json;

use super::harness::{Auth, Backend, item_ids, scope_id, scope_texts, spawn_app};

/// User A, by session and by a `*:*` PAT, gets 404 `not_found` from every token endpoint
/// given user B's token id (or B's scope id), and B's token is unchanged afterwards.
pub(super) fn user_a_cannot_touch_user_b_tokens_through_any_endpoint(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let bob = app.user_session("member");
    let bobs = app.create_token(&bob, "bob's", 30, &["jobs:list", "jobs:read"]);
    let before = app.token(&bob, &bobs.id());
    let b = bobs.id();
    let b_scope = scope_id(&bobs.token, "jobs:read");
    let alices = app.create_token(&alice, "alice's", 30, &["*:*", "jobs:read"]);
    let a = alices.id();

    for (label, caller) in [
        ("session", Auth::from(&alice)),
        ("PAT", Auth::Bearer(&alices.secret)),
    ] {
        let attempts = [
            app.get(&format!("/api/v1/tokens/{b}"), caller),
            app.json(
                "PATCH",
                &format!("/api/v1/tokens/{b}"),
                caller,
                &json!({"name": "pwned"}),
            ),
            app.post_empty(&format!("/api/v1/tokens/{b}/revoke"), caller),
            app.post(
                &format!("/api/v1/tokens/{b}/regenerate"),
                caller,
                &json!({"expires_in_days": 7}),
            ),
            app.post(
                &format!("/api/v1/tokens/{b}/scopes"),
                caller,
                &json!({"scopes": ["jobs:delete"]}),
            ),
            app.delete(&format!("/api/v1/tokens/{b}/scopes/{b_scope}"), caller),
            app.delete(&format!("/api/v1/tokens/{b}/scopes"), caller),
            app.get(&format!("/api/v1/tokens/{b}/events"), caller),
            app.delete(&format!("/api/v1/tokens/{b}"), caller),
            // B's scope id through A's own token.
            app.delete(&format!("/api/v1/tokens/{a}/scopes/{b_scope}"), caller),
        ];
        for reply in &attempts {
            assert!(
                !reply.body.contains(&bobs.secret) && !reply.body.contains("bob's"),
                "{label} {}: reveals B's token: {}",
                reply.request,
                reply.body
            );
            reply.expect_problem(404, "not_found");
        }
        // Admin routes are refused to a member whatever the token holds.
        for reply in [
            app.get(
                &format!("/api/v1/admin/users/{}/tokens", bob.user_id()),
                caller,
            ),
            app.post_empty(&format!("/api/v1/admin/tokens/{b}/revoke"), caller),
            app.delete(&format!("/api/v1/admin/tokens/{b}"), caller),
        ] {
            reply.expect_problem(403, "forbidden");
        }
        let listed = app.list_tokens(caller, "?status=all");
        assert_eq!(
            item_ids(&listed),
            [a.as_str()],
            "{label}: A lists only A's token"
        );
        let searched = app.list_tokens(caller, "?q=bob");
        assert_eq!(
            searched["total_items"], 0,
            "{label}: search stays in A's tokens"
        );
    }

    // A's own token kept its scopes (B's scope id did not match anything of A's).
    assert_eq!(scope_texts(&app.token(&alice, &a)), ["*:*", "jobs:read"]);
    // A deleting all of A's tokens leaves B's alone.
    app.delete("/api/v1/tokens", &alice).expect(204);

    let after = app.token(&bob, &b);
    assert_eq!(after, before, "B's token changed");
    assert_eq!(after["status"], "active");
    app.assert_works(&bobs.secret);
    assert!(app.allows(&bobs.secret, "jobs:list"));
    assert!(app.allows(&bobs.secret, "jobs:read"));
    assert!(!app.allows(&bobs.secret, "jobs:delete"));
}

/// The admin lists, revokes and deletes another user's tokens; the audit log says who.
pub(super) fn admin_revokes_and_deletes_another_users_token(backend: Backend) {
    let app = spawn_app(backend);
    let user = app.create_user("member");
    let alice = app.login(&user.email, &user.password);
    let first = app.create_token(&alice, "first", 7, &["jobs:list"]);
    let second = app.create_token(&alice, "second", 7, &["jobs:list"]);

    let listed = app
        .get(
            &format!("/api/v1/admin/users/{}/tokens", user.id),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(item_ids(&listed), [second.id(), first.id()]);
    let searched = app
        .get(
            &format!("/api/v1/admin/users/{}/tokens?q=FIR", user.id),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(item_ids(&searched), [first.id()]);

    let revoked = app
        .post_empty(
            &format!("/api/v1/admin/tokens/{}/revoke", first.id()),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["id"], first.id().as_str());
    app.assert_refused(&first.secret);
    assert_eq!(app.token(&alice, &first.id())["status"], "revoked");
    let revoked_only = app
        .get(
            &format!("/api/v1/admin/users/{}/tokens?status=revoked", user.id),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(item_ids(&revoked_only), [first.id()]);

    app.delete(&format!("/api/v1/admin/tokens/{}", second.id()), &app.admin)
        .expect(204);
    app.get(&format!("/api/v1/tokens/{}", second.id()), &alice)
        .expect_problem(404, "not_found");
    app.assert_refused(&second.secret);
    app.delete(&format!("/api/v1/admin/tokens/{}", second.id()), &app.admin)
        .expect_problem(404, "not_found");

    let audit = app
        .get(
            &format!("/api/v1/admin/audit?token_id={}", first.id()),
            &app.admin,
        )
        .expect_json(200);
    let events = audit["items"].as_array().expect("items");
    assert!(events.len() >= 2, "created and revoked: {audit}");
    assert!(
        events.iter().all(|e| e["token_id"] == first.id().as_str()),
        "filtered by token: {audit}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["actor_id"] == app.admin.user_id().as_str()),
        "the admin's revoke is audited with the admin as actor: {audit}"
    );
    let by_owner = app
        .get(
            &format!("/api/v1/admin/audit?owner_id={}", user.id),
            &app.admin,
        )
        .expect_json(200);
    assert!(
        by_owner["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["owner_id"] == user.id.as_str()),
        "filtered by owner: {by_owner}"
    );
    assert!(
        item_ids(&by_owner).len() >= 4,
        "both tokens' events: {by_owner}"
    );
}

/// A member gets 403 `forbidden` from every admin endpoint.
pub(super) fn members_are_refused_every_admin_endpoint(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let other = app.create_user("member");
    let others = {
        let session = app.login(&other.email, &other.password);
        app.create_token(&session, "other's", 7, &["jobs:list"])
    };
    let settings = app.settings();
    let attempts = [
        app.get("/api/v1/admin/settings", &alice),
        app.json("PUT", "/api/v1/admin/settings", &alice, &json!({
            "pats_enabled": false, "max_lifetime_days": 180,
            "max_active_per_user": 5, "expiry_warning_days": 7
        })),
        app.get("/api/v1/admin/users", &alice),
        app.post(
            "/api/v1/admin/users",
            &alice,
            &json!({"email": "sneaky@example.com", "name": "Sneaky", "role": "admin", "password": "Sneaky-Password-123"}),
        ),
        app.json(
            "PATCH",
            &format!("/api/v1/admin/users/{}", alice.user_id()),
            &alice,
            &json!({"role": "admin"}),
        ),
        app.get(&format!("/api/v1/admin/users/{}/tokens", other.id), &alice),
        app.post_empty(&format!("/api/v1/admin/tokens/{}/revoke", others.id()), &alice),
        app.delete(&format!("/api/v1/admin/tokens/{}", others.id()), &alice),
        app.get("/api/v1/admin/audit", &alice),
    ];
    for reply in &attempts {
        reply.expect_problem(403, "forbidden");
    }
    assert_eq!(app.settings(), settings, "settings unchanged");
    assert_eq!(
        app.get("/api/v1/me", &alice).expect_json(200)["user"]["role"],
        "member"
    );
    app.assert_works(&others.secret);
    app.post(
        "/api/v1/session",
        Auth::Anonymous,
        &json!({"email": "sneaky@example.com", "password": "Sneaky-Password-123"}),
    )
    .expect_problem(401, "invalid_credentials");
}
