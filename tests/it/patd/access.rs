//! Who may do what: bad and missing credentials, CSRF, `/auth/check`, `/tokens/self`,
//! scopes a PAT needs, collaborators, the PAT switch, and no escalation by PAT.

use serde_json::{Value, json};

use super::harness::{Auth, Backend, issued, item_ids, scope_texts, spawn_app};

/// Malformed, unknown, revoked, expired, PATs-disabled and inactive-owner tokens all get
/// 401 `invalid_token` with one identical body, as Bearer, as Basic and on `/auth/check`.
pub(super) fn every_bad_token_gets_one_identical_401(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let inactive = app.create_user("member");
    let inactive_session = app.login(&inactive.email, &inactive.password);

    let good = app.create_token(&alice, "good", 7, &["jobs:list"]);
    let revoked = app.create_token(&alice, "revoked", 7, &["jobs:list"]);
    app.revoke(&alice, &revoked.id());
    let expired = app.create_token(&alice, "expired", 7, &["jobs:list"]);
    app.expire_in_database(&expired.id());
    assert_eq!(app.token(&alice, &expired.id())["status"], "expired");
    let deleted = app.create_token(&alice, "deleted", 7, &["jobs:list"]);
    app.delete(&format!("/api/v1/tokens/{}", deleted.id()), &alice)
        .expect(204);
    let owner_inactive = app.create_token(&inactive_session, "orphan", 7, &["jobs:list"]);
    app.assert_works(&owner_inactive.secret);
    app.json(
        "PATCH",
        &format!("/api/v1/admin/users/{}", inactive.id),
        &app.admin,
        &json!({"active": false}),
    )
    .expect_json(200);

    // One character changed: the checksum no longer matches.
    let mut tampered = good.secret.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).expect("ASCII");

    let mut bad: Vec<(&str, String)> = vec![
        ("garbage", "garbage".to_owned()),
        ("wrong prefix", good.secret.replacen("pat_", "xyz_", 1)),
        ("truncated", good.secret[..good.secret.len() - 1].to_owned()),
        ("bad checksum", tampered),
        ("unknown (deleted)", deleted.secret.clone()),
        ("revoked", revoked.secret.clone()),
        ("expired", expired.secret.clone()),
        ("owner inactive", owner_inactive.secret.clone()),
    ];
    let reference = app.assert_refused("garbage");
    let check = |label: &str, secret: &str| {
        let body = app.assert_refused(secret);
        assert_eq!(body, reference, "401 body for {label} differs");
        let basic = app.get("/api/v1/me", Auth::Basic("user", secret));
        assert_eq!(
            basic.expect_problem(401, "invalid_token"),
            reference,
            "401 body for {label} as Basic differs"
        );
        let check = app.auth_check(secret, "jobs:list");
        assert_eq!(
            check.expect_problem(401, "invalid_token"),
            reference,
            "auth/check 401 body for {label} differs"
        );
    };
    for (label, secret) in &bad {
        check(label, secret);
    }
    app.assert_works(&good.secret);

    app.change_settings(&json!({"pats_enabled": false}));
    bad.push(("pats disabled", good.secret.clone()));
    let (label, secret) = bad.last().expect("just pushed");
    check(label, secret);
}

/// No credentials at all is 401 `unauthenticated`, not `invalid_token`.
pub(super) fn no_credentials_is_401_unauthenticated(backend: Backend) {
    let app = spawn_app(backend);
    for path in [
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/tokens/self",
        "/api/v1/auth/check",
        "/api/v1/auth/check?resource=jobs&operation=list",
        "/api/v1/admin/settings",
        "/api/v1/admin/users",
    ] {
        app.get(path, Auth::Anonymous)
            .expect_problem(401, "unauthenticated");
    }
    app.try_create_token(
        Auth::Anonymous,
        &json!({"name": "x", "expires_in_days": 7, "scopes": ["jobs:list"]}),
    )
    .expect_problem(401, "unauthenticated");
    app.delete("/api/v1/tokens", Auth::Anonymous)
        .expect_problem(401, "unauthenticated");
}

/// `/auth/check` answers 204 with the user and token ids, 403 `missing_scope` otherwise.
pub(super) fn auth_check_answers_204_with_user_and_token_headers(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let issued = app.create_token(
        &alice,
        "gateway",
        7,
        &["jobs:list", "channels:publish:c1,c2"],
    );
    for scope in ["jobs:list", "channels:publish:c2", ""] {
        let reply = app.auth_check(&issued.secret, scope).expect(204);
        assert_eq!(
            reply.header("x-pat-user-id"),
            Some(alice.user_id().as_str()),
            "X-Pat-User-Id for {scope:?}"
        );
        assert_eq!(
            reply.header("x-pat-token-id"),
            Some(issued.id().as_str()),
            "X-Pat-Token-Id for {scope:?}"
        );
        assert!(reply.body.is_empty(), "204 has no body: {:?}", reply.body);
    }
    let basic = app.get(
        "/api/v1/auth/check?resource=jobs&operation=list",
        Auth::Basic("gateway", &issued.secret),
    );
    assert_eq!(
        basic.expect(204).header("x-pat-token-id"),
        Some(issued.id().as_str())
    );

    for scope in [
        "jobs:delete",
        "builds:list",
        "channels:publish:c3",
        "channels:subscribe:c1",
    ] {
        let reply = app.auth_check(&issued.secret, scope);
        reply.expect_problem(403, "missing_scope");
        assert_eq!(
            reply.header("x-pat-user-id"),
            None,
            "no identity on a refusal"
        );
    }
}

/// A cookie-authenticated write without (or with a wrong) `X-CSRF-Token` is 403 `csrf`.
pub(super) fn cookie_write_without_csrf_header_is_refused(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let kept = app.create_token(&alice, "kept", 7, &["jobs:list"]);
    let body = json!({"name": "forged", "expires_in_days": 7, "scopes": ["jobs:list"]});

    app.try_create_token(alice.without_csrf(), &body)
        .expect_problem(403, "csrf");
    app.try_create_token(Auth::Cookie(&alice, Some("not-the-token")), &body)
        .expect_problem(403, "csrf");
    app.post_empty(
        &format!("/api/v1/tokens/{}/revoke", kept.id()),
        alice.without_csrf(),
    )
    .expect_problem(403, "csrf");
    app.delete("/api/v1/tokens", alice.without_csrf())
        .expect_problem(403, "csrf");
    app.json(
        "PUT",
        "/api/v1/admin/settings",
        app.admin.without_csrf(),
        &json!({"pats_enabled": false, "max_lifetime_days": 180, "max_active_per_user": 5, "expiry_warning_days": 7}),
    )
    .expect_problem(403, "csrf");

    // Reads need no CSRF token, and nothing above happened.
    let page = app.list_tokens(alice.without_csrf(), "");
    assert_eq!(item_ids(&page), [kept.id()]);
    assert_eq!(page["items"][0]["status"], "active");
    assert_eq!(app.settings()["pats_enabled"], true);
    app.assert_works(&kept.secret);
}

/// `/tokens/self` shows the presenting PAT (no scope needed) and lets it revoke itself.
pub(super) fn tokens_self_shows_and_revokes_the_presenting_token(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let other = app.create_token(&alice, "other", 7, &["jobs:list"]);
    let issued = app.create_token(&alice, "self", 7, &["jobs:list"]);
    let me = app
        .get("/api/v1/tokens/self", Auth::Bearer(&issued.secret))
        .expect_json(200);
    assert_eq!(me["id"], issued.id().as_str());
    assert_eq!(me["name"], "self");
    assert_eq!(scope_texts(&me), ["jobs:list"]);
    app.get("/api/v1/tokens/self", &alice)
        .expect_problem(400, "pat_required");

    app.delete("/api/v1/tokens/self", Auth::Bearer(&issued.secret))
        .expect(204);
    app.assert_refused(&issued.secret);
    assert_eq!(app.token(&alice, &issued.id())["status"], "revoked");
    app.assert_works(&other.secret);
}

/// A PAT manages tokens only with `tokens:<op>` scopes and reaches admin endpoints only as
/// an admin holding `admin:<op>`.
pub(super) fn a_pat_needs_tokens_and_admin_scopes(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let plain = app.create_token(&alice, "plain", 7, &["jobs:list"]);
    let id = plain.id();
    let by_plain = Auth::Bearer(&plain.secret);
    app.get("/api/v1/tokens", by_plain)
        .expect_problem(403, "missing_scope");
    app.get(&format!("/api/v1/tokens/{id}"), by_plain)
        .expect_problem(403, "missing_scope");
    app.try_create_token(
        by_plain,
        &json!({"name": "child", "expires_in_days": 1, "scopes": ["jobs:list"]}),
    )
    .expect_problem(403, "missing_scope");
    app.json(
        "PATCH",
        &format!("/api/v1/tokens/{id}"),
        by_plain,
        &json!({"name": "renamed"}),
    )
    .expect_problem(403, "missing_scope");
    app.post_empty(&format!("/api/v1/tokens/{id}/revoke"), by_plain)
        .expect_problem(403, "missing_scope");
    app.delete(&format!("/api/v1/tokens/{id}"), by_plain)
        .expect_problem(403, "missing_scope");
    app.delete("/api/v1/tokens", by_plain)
        .expect_problem(403, "missing_scope");
    let unchanged = app.token(&alice, &id);
    assert_eq!(unchanged["name"], "plain");
    assert_eq!(unchanged["status"], "active");

    let lister = app.create_token(&alice, "lister", 7, &["tokens:list", "tokens:read"]);
    let page = app.list_tokens(Auth::Bearer(&lister.secret), "");
    assert_eq!(page["total_items"], 2);
    let read = app.token(Auth::Bearer(&lister.secret), &id);
    assert_eq!(read["name"], "plain");
    app.post_empty(
        &format!("/api/v1/tokens/{id}/revoke"),
        Auth::Bearer(&lister.secret),
    )
    .expect_problem(403, "missing_scope");

    let member_admin_scope = app.create_token(&alice, "not admin", 7, &["admin:read"]);
    app.get(
        "/api/v1/admin/settings",
        Auth::Bearer(&member_admin_scope.secret),
    )
    .expect_problem(403, "forbidden");

    let admin_plain = app.create_token(&app.admin, "admin plain", 7, &["jobs:list"]);
    app.get("/api/v1/admin/settings", Auth::Bearer(&admin_plain.secret))
        .expect_problem(403, "missing_scope");
    let admin_read = app.create_token(&app.admin, "admin read", 7, &["admin:read"]);
    let settings = app
        .get("/api/v1/admin/settings", Auth::Bearer(&admin_read.secret))
        .expect_json(200);
    assert_eq!(settings["max_active_per_user"], 5);
    app.json(
        "PUT",
        "/api/v1/admin/settings",
        Auth::Bearer(&admin_read.secret),
        &settings,
    )
    .expect_problem(403, "missing_scope");
    app.post_empty(
        &format!("/api/v1/admin/tokens/{id}/revoke"),
        Auth::Bearer(&admin_read.secret),
    )
    .expect_problem(403, "missing_scope");
    let admin_update = app.create_token(&app.admin, "admin update", 7, &["admin:update"]);
    let revoked = app
        .post_empty(
            &format!("/api/v1/admin/tokens/{id}/revoke"),
            Auth::Bearer(&admin_update.secret),
        )
        .expect_json(200);
    assert_eq!(revoked["status"], "revoked");
    app.assert_refused(&plain.secret);
}

/// Collaborators may not create or regenerate (not even with a PAT holding
/// `tokens:create`), but may list, revoke and delete their own tokens.
pub(super) fn collaborator_cannot_create_or_regenerate_but_may_list_revoke_and_delete(
    backend: Backend,
) {
    let app = spawn_app(backend);
    let collaborator = app.user_session("collaborator");
    app.try_create_token(
        &collaborator,
        &json!({"name": "mine", "expires_in_days": 7, "scopes": ["jobs:list"]}),
    )
    .expect_problem(403, "forbidden_role");
    assert_eq!(app.list_tokens(&collaborator, "")["total_items"], 0);

    // A member with tokens becomes a collaborator.
    let user = app.create_user("member");
    let member = app.login(&user.email, &user.password);
    let minter = app.create_token(
        &member,
        "minter",
        30,
        &["tokens:create", "tokens:update", "jobs:list"],
    );
    let spare = app.create_token(&member, "spare", 30, &["jobs:list"]);
    let changed = app
        .json(
            "PATCH",
            &format!("/api/v1/admin/users/{}", user.id),
            &app.admin,
            &json!({"role": "collaborator"}),
        )
        .expect_json(200);
    assert_eq!(changed["role"], "collaborator");
    let demoted = app.login(&user.email, &user.password);
    assert_eq!(demoted.user["role"], "collaborator");

    let body = json!({"name": "new", "expires_in_days": 7, "scopes": ["jobs:list"]});
    app.try_create_token(&demoted, &body)
        .expect_problem(403, "forbidden_role");
    app.try_create_token(Auth::Bearer(&minter.secret), &body)
        .expect_problem(403, "forbidden_role");
    app.post(
        &format!("/api/v1/tokens/{}/regenerate", spare.id()),
        &demoted,
        &json!({"expires_in_days": 7}),
    )
    .expect_problem(403, "forbidden_role");
    app.post(
        &format!("/api/v1/tokens/{}/regenerate", spare.id()),
        Auth::Bearer(&minter.secret),
        &json!({"expires_in_days": 7}),
    )
    .expect_problem(403, "forbidden_role");
    app.assert_works(&spare.secret);

    let page = app.list_tokens(&demoted, "");
    assert_eq!(item_ids(&page), [spare.id(), minter.id()]);
    let revoked = app.revoke(&demoted, &spare.id());
    assert_eq!(revoked["status"], "revoked");
    app.assert_refused(&spare.secret);
    app.delete(&format!("/api/v1/tokens/{}", minter.id()), &demoted)
        .expect(204);
    app.assert_refused(&minter.secret);
    assert_eq!(item_ids(&app.list_tokens(&demoted, "")), [spare.id()]);
}

/// With `pats_enabled = false` nobody can create or regenerate and no PAT authenticates;
/// the admin can still list and revoke; switching back restores unrevoked tokens.
pub(super) fn pats_disabled_stops_creation_and_authentication(backend: Backend) {
    let app = spawn_app(backend);
    let user = app.create_user("member");
    let alice = app.login(&user.email, &user.password);
    let kept = app.create_token(&alice, "kept", 7, &["jobs:list"]);
    let doomed = app.create_token(&alice, "doomed", 7, &["jobs:list"]);
    let admins = app.create_token(&app.admin, "admin's", 7, &["*:*"]);
    app.assert_works(&kept.secret);

    let settings = app.change_settings(&json!({"pats_enabled": false}));
    assert_eq!(settings["pats_enabled"], false);
    assert_eq!(app.settings()["pats_enabled"], false);

    let body = json!({"name": "new", "expires_in_days": 7, "scopes": ["jobs:list"]});
    app.try_create_token(&alice, &body)
        .expect_problem(403, "pats_disabled");
    app.try_create_token(&app.admin, &body)
        .expect_problem(403, "pats_disabled");
    app.post(
        &format!("/api/v1/tokens/{}/regenerate", kept.id()),
        &alice,
        &json!({"expires_in_days": 7}),
    )
    .expect_problem(403, "pats_disabled");
    for secret in [&kept.secret, &doomed.secret, &admins.secret] {
        app.assert_refused(secret);
        app.auth_check(secret, "jobs:list")
            .expect_problem(401, "invalid_token");
    }
    app.try_create_token(Auth::Bearer(&admins.secret), &body)
        .expect_problem(401, "invalid_token");
    // Sessions still work.
    app.get("/api/v1/me", &alice).expect(200);

    let listed = app
        .get(
            &format!("/api/v1/admin/users/{}/tokens", user.id),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(item_ids(&listed), [doomed.id(), kept.id()]);
    let revoked = app
        .post_empty(
            &format!("/api/v1/admin/tokens/{}/revoke", doomed.id()),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(revoked["status"], "revoked");

    app.change_settings(&json!({"pats_enabled": true}));
    app.assert_works(&kept.secret);
    app.assert_works(&admins.secret);
    app.assert_refused(&doomed.secret);
    app.try_create_token(&alice, &body).expect(201);
}

/// A request made with a PAT may not create, regenerate or widen a token beyond its own
/// scopes, nor give one a longer life than its own.
pub(super) fn a_pat_cannot_mint_a_broader_or_longer_lived_pat(backend: Backend) {
    let app = spawn_app(backend);
    // Report-only reuse detection: the old secret's refusal is checked here without
    // revoking the token (reuse detection has tests of its own in rotation.rs).
    app.change_settings(&json!({"revoke_on_reuse": false}));
    let alice = app.user_session("member");
    let minter = app.create_token(
        &alice,
        "minter",
        10,
        &["tokens:create", "jobs:list", "channels:publish:c1"],
    );
    let by_minter = Auth::Bearer(&minter.secret);
    let create = |scopes: Value, days: i64| {
        app.try_create_token(
            by_minter,
            &json!({"name": format!("child {scopes} {days}"), "expires_in_days": days, "scopes": scopes}),
        )
    };
    for broader in [
        json!(["jobs:read"]),
        json!(["jobs:*"]),
        json!(["*:*"]),
        json!(["channels:publish"]),
        json!(["channels:publish:c1,c2"]),
        json!(["jobs:list", "tokens:delete"]),
    ] {
        create(broader, 5).expect_problem(403, "scope_escalation");
    }
    create(json!(["jobs:list"]), 11).expect_problem(403, "scope_escalation");
    create(json!(["jobs:list"]), 180).expect_problem(403, "scope_escalation");
    assert_eq!(
        app.list_tokens(&alice, "")["total_items"],
        1,
        "nothing was minted"
    );

    let child = issued(&create(json!(["jobs:list", "channels:publish:c1"]), 9).expect_json(201));
    assert!(app.allows(&child.secret, "jobs:list"));
    assert!(app.allows(&child.secret, "channels:publish:c1"));
    assert!(!app.allows(&child.secret, "channels:publish:c2"));
    app.delete(&format!("/api/v1/tokens/{}", child.id()), &alice)
        .expect(204);

    let updater = app.create_token(&alice, "updater", 10, &["tokens:update", "jobs:list"]);
    let by_updater = Auth::Bearer(&updater.secret);
    let wider = app.create_token(&alice, "wider", 30, &["jobs:read"]);
    let narrow = app.create_token(&alice, "narrow", 30, &["jobs:list"]);
    let regenerate = |id: &str, days: i64| {
        app.post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            by_updater,
            &json!({"expires_in_days": days}),
        )
    };
    regenerate(&wider.id(), 5).expect_problem(403, "scope_escalation");
    regenerate(&narrow.id(), 11).expect_problem(403, "scope_escalation");
    app.assert_works(&wider.secret);
    app.assert_works(&narrow.secret);
    app.post(
        &format!("/api/v1/tokens/{}/scopes", narrow.id()),
        by_updater,
        &json!({"scopes": ["jobs:delete"]}),
    )
    .expect_problem(403, "scope_escalation");
    assert_eq!(scope_texts(&app.token(&alice, &narrow.id())), ["jobs:list"]);

    let renewed = issued(&regenerate(&narrow.id(), 5).expect_json(200));
    app.assert_refused(&narrow.secret);
    assert!(app.allows(&renewed.secret, "jobs:list"));
}
