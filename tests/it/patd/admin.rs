//! The admin's controls: settings that bound lifetimes and counts, and user management.

use serde_json::json;

use super::harness::{Auth, Backend, item_ids, spawn_app, str_field};

/// Settings start at the documented defaults; the lifetime cap and active limit the
/// admin sets are enforced; out-of-range settings are refused and change nothing.
pub(super) fn admin_settings_bound_lifetime_and_active_limit(backend: Backend) {
    let app = spawn_app(backend);
    assert_eq!(
        app.settings(),
        json!({"pats_enabled": true, "max_lifetime_days": 180, "max_active_per_user": 5, "expiry_warning_days": 7,
            "max_grace_minutes": 1440, "revoke_on_reuse": true})
    );
    let alice = app.user_session("member");
    app.change_settings(&json!({"max_lifetime_days": 30, "max_active_per_user": 1}));

    let problem = app
        .try_create_token(
            &alice,
            &json!({"name": "too long", "expires_in_days": 31, "scopes": ["jobs:list"]}),
        )
        .expect_problem(422, "invalid_expiry");
    let detail = str_field(&problem, "detail");
    assert!(
        detail.contains("30"),
        "detail names the new maximum: {detail}"
    );
    app.create_token(&alice, "only one", 30, &["jobs:list"]);
    app.try_create_token(
        &alice,
        &json!({"name": "second", "expires_in_days": 1, "scopes": ["jobs:list"]}),
    )
    .expect_problem(409, "active_token_limit");

    app.change_settings(&json!({"max_lifetime_days": 366, "max_active_per_user": 2}));
    app.create_token(&alice, "a year", 366, &["jobs:list"]);

    let before = app.settings();
    for (field, value) in [
        ("max_lifetime_days", json!(0)),
        ("max_lifetime_days", json!(367)),
        ("max_active_per_user", json!(0)),
        ("max_active_per_user", json!(101)),
        ("max_active_per_user", json!("five")),
    ] {
        let mut body = before.clone();
        body[field] = value.clone();
        app.json("PUT", "/api/v1/admin/settings", &app.admin, &body)
            .expect_problem(422, "invalid_settings");
    }
    app.json(
        "PUT",
        "/api/v1/admin/settings",
        &app.admin,
        &json!({"pats_enabled": false}),
    )
    .expect_problem(422, "invalid_settings");
    assert_eq!(app.settings(), before, "refused settings changed nothing");
}

/// The admin adds users (duplicates and unknown roles refused), lists them, and
/// deactivating one ends their sessions and stops their tokens until re-enabled.
pub(super) fn admin_manages_users_and_deactivation_stops_sessions_and_tokens(backend: Backend) {
    let app = spawn_app(backend);
    let user = app.create_user("member");
    app.post(
        "/api/v1/admin/users",
        &app.admin,
        &json!({"email": user.email.to_uppercase(), "name": "Again", "role": "member", "password": "Another-Password-123"}),
    )
    .expect_problem(409, "duplicate_email");
    app.post(
        "/api/v1/admin/users",
        &app.admin,
        &json!({"email": "owner@example.com", "name": "Owner", "role": "owner", "password": "Another-Password-123"}),
    )
    .expect_problem(422, "invalid_user");
    // pat-core's password rules: 8 to 256 characters, and not the account's email.
    for (password, rule) in [
        ("short", "8 to 256 characters, got 5"),
        ("Weak@Example.com", "must not be the account's email"),
    ] {
        let problem = app
            .post(
                "/api/v1/admin/users",
                &app.admin,
                &json!({"email": "weak@example.com", "name": "Weak", "role": "member", "password": password}),
            )
            .expect_problem(422, "weak_password");
        assert!(str_field(&problem, "detail").contains(rule), "{problem}");
    }
    let users = app.get("/api/v1/admin/users", &app.admin).expect_json(200);
    assert_eq!(users["total_items"], 2, "admin and the one member: {users}");
    let mut emails: Vec<String> = users["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| str_field(u, "email"))
        .collect();
    emails.sort();
    assert_eq!(emails, ["admin@example.com".to_owned(), user.email.clone()]);
    assert!(item_ids(&users).contains(&user.id));

    let session = app.login(&user.email, &user.password);
    let issued = app.create_token(&session, "worker", 7, &["jobs:list"]);
    app.assert_works(&issued.secret);

    let disabled = app
        .json(
            "PATCH",
            &format!("/api/v1/admin/users/{}", user.id),
            &app.admin,
            &json!({"active": false}),
        )
        .expect_json(200);
    assert_eq!(disabled["active"], false);
    app.get("/api/v1/tokens", &session)
        .expect_problem(401, "unauthenticated");
    app.assert_refused(&issued.secret);
    app.post(
        "/api/v1/session",
        Auth::Anonymous,
        &json!({"email": user.email, "password": user.password}),
    )
    .expect_problem(401, "invalid_credentials");

    let enabled = app
        .json(
            "PATCH",
            &format!("/api/v1/admin/users/{}", user.id),
            &app.admin,
            &json!({"active": true}),
        )
        .expect_json(200);
    assert_eq!(enabled["active"], true);
    app.assert_works(&issued.secret);
    let again = app.login(&user.email, &user.password);
    assert_eq!(app.list_tokens(&again, "")["total_items"], 1);
}
