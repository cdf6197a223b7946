//! Passwords people can change (issue 18): their own from a session, an admin's reset,
//! one-time set-password links; each change ends sessions. And sessions kept in the
//! store: a restart keeps them, a forged cookie signs nobody in, limits hold across
//! instances.

use serde_json::json;

use super::harness::{Backend, TestApp, spawn_app, spawn_app_with, spawn_binary_app};

/// Argon2 runs so far (the `patd_password_hashes_total` counter).
fn argon2_runs(app: &TestApp) -> u64 {
    app.metric("patd_password_hashes_total")
}

fn form(app: &TestApp, path: &str, body: &str) -> super::harness::Reply {
    app.send(
        "POST",
        path,
        super::harness::Auth::Anonymous,
        Some((
            "application/x-www-form-urlencoded",
            body.as_bytes().to_vec(),
        )),
    )
}

/// `PUT /api/v1/me/password`: a wrong current password is 422 `invalid_password` after
/// the same argon2 work as a right one; a weak new one is 422 naming the rule before
/// any work; a token is 403; a change ends every session of the user (also one made on
/// another instance) and starts a new one for this browser; the old password stops
/// working.
pub(super) fn own_password_change_ends_the_other_sessions(backend: Backend) {
    let app = spawn_app(backend);
    let peer = app.spawn_peer();
    let user = app.create_user("member");
    let first = app.login(&user.email, &user.password);
    let here = &first;
    let elsewhere = peer.login(&user.email, &user.password);
    let new_password = "a new and long password";

    let change = |current: &str, new: &str| {
        app.json(
            "PUT",
            "/api/v1/me/password",
            here,
            &json!({"current_password": current, "new_password": new}),
        )
    };
    let before = argon2_runs(&app);
    let problem = change("not the password", new_password).expect_problem(422, "invalid_password");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("current password")
    );
    let wrong_costs = argon2_runs(&app) - before;
    assert_eq!(
        wrong_costs, 2,
        "a wrong current password: one check, one hash"
    );
    for (weak, rule) in [
        ("short", "8 to 256 characters, got 5"),
        (user.email.as_str(), "must not be the account's email"),
    ] {
        let before = argon2_runs(&app);
        let problem = change(&user.password, weak).expect_problem(422, "weak_password");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(rule),
            "{problem}"
        );
        assert_eq!(
            argon2_runs(&app),
            before,
            "a weak password costs no argon2 run"
        );
    }
    let token = app.create_token(here, "pat", 7, &["*:*"]);
    app.json(
        "PUT",
        "/api/v1/me/password",
        super::harness::Auth::Bearer(&token.secret),
        &json!({"current_password": user.password, "new_password": new_password}),
    )
    .expect_problem(403, "session_required");

    let before = argon2_runs(&app);
    let renewed = change(&user.password, new_password).expect(200);
    assert_eq!(
        argon2_runs(&app) - before,
        wrong_costs,
        "a right one costs the same work"
    );
    // Every session ended, this one too; the answer started a new one.
    let here = super::harness::Session::started_by(&renewed);
    assert_ne!(
        here.csrf_token, first.csrf_token,
        "a new session, a new CSRF token"
    );
    app.get("/api/v1/me", &first)
        .expect_problem(401, "unauthenticated");
    peer.get("/api/v1/me", &here).expect(200);
    peer.get("/api/v1/me", &elsewhere)
        .expect_problem(401, "unauthenticated");
    app.send(
        "POST",
        "/api/v1/session",
        super::harness::Auth::Anonymous,
        Some((
            "application/json",
            serde_json::to_vec(&json!({"email": user.email, "password": user.password}))
                .expect("JSON"),
        )),
    )
    .expect_problem(401, "invalid_credentials");
    peer.login(&user.email, new_password);
    app.assert_works(&token.secret);

    // Sign out everywhere ends this session too, on every instance.
    let other = peer.login(&user.email, new_password);
    app.delete("/api/v1/me/sessions", &here).expect(204);
    app.get("/api/v1/me", &here)
        .expect_problem(401, "unauthenticated");
    peer.get("/api/v1/me", &other)
        .expect_problem(401, "unauthenticated");
}

/// An admin sets a user's password (API): the user's sessions end and the new password
/// signs in; members are refused, weak passwords named, unknown users 404.
pub(super) fn an_admin_sets_a_password_and_the_users_sessions_end(backend: Backend) {
    let app = spawn_app(backend);
    let user = app.create_user("member");
    let session = app.login(&user.email, &user.password);
    let path = format!("/api/v1/admin/users/{}/password", user.id);
    app.post(&path, &session, &json!({"password": "chosen by a member"}))
        .expect_problem(403, "forbidden");
    app.post(&path, &app.admin, &json!({"password": "short"}))
        .expect_problem(422, "weak_password");
    app.post(
        "/api/v1/admin/users/00000000-0000-7000-8000-000000000000/password",
        &app.admin,
        &json!({"password": "long enough password"}),
    )
    .expect_problem(404, "not_found");
    app.post(
        &format!("/api/v1/admin/users/{}/password", app.admin.user_id()),
        &app.admin,
        &json!({"password": "the admin's own new one"}),
    )
    .expect_problem(403, "own_password");
    app.post(&path, &app.admin, &json!({"password": "set by the admin"}))
        .expect(204);
    app.get("/api/v1/me", &session)
        .expect_problem(401, "unauthenticated");
    app.login(&user.email, "set by the admin");
    let events = app
        .get(
            "/api/v1/admin/audit?action=user.password_changed",
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(events["total_items"], 1, "{events}");
}

/// A user added by the CLI without a password gets a one-time link: it works once (a
/// weak password leaves it usable), then answers 410; an unknown link is 404; its
/// secret is in no log line. `patd user set-password` reads stdin and ends sessions.
pub(super) fn a_set_password_link_works_once(backend: Backend) {
    let app = spawn_binary_app(backend);
    let added = app.cli(&[
        "user",
        "add",
        "--email",
        "linked@example.com",
        "--name",
        "Linked",
    ]);
    assert!(added.status.success(), "{added:?}");
    let out = String::from_utf8_lossy(&added.stdout).into_owned();
    let link = out
        .split("/set-password/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no set-password link printed: {out}"))
        .to_owned();
    assert_eq!(link.len(), 43, "{out}");
    let page = format!("/set-password/{link}");
    let shown = app.get(&page, super::harness::Auth::Anonymous).expect(200);
    assert!(shown.body.contains("linked@example.com"));
    form(&app, &page, "new_password=short").expect(422);
    form(&app, &page, "new_password=linked%40example.com").expect(422);
    // 303 to the sign-in page (which the client follows).
    let done = form(&app, &page, "new_password=the+first+password").expect(200);
    assert!(
        done.body.contains("Password set. Sign in with it."),
        "{}",
        done.body
    );
    app.login("linked@example.com", "the first password");
    form(&app, &page, "new_password=another+password").expect(410);
    app.get(&page, super::harness::Auth::Anonymous).expect(410);
    let unknown = format!("/set-password/{}", "A".repeat(43));
    app.get(&unknown, super::harness::Auth::Anonymous)
        .expect(404);
    app.get("/set-password/short", super::harness::Auth::Anonymous)
        .expect(404);
    assert!(
        !app.log().contains(&link),
        "the link's secret is never logged"
    );

    let session = app.login("linked@example.com", "the first password");
    let set = app.cli_with_stdin(
        &[
            "user",
            "set-password",
            "linked@example.com",
            "--password-stdin",
        ],
        "set from the cli\n",
    );
    assert!(set.status.success(), "{set:?}");
    app.get("/api/v1/me", &session)
        .expect_problem(401, "unauthenticated");
    app.login("linked@example.com", "set from the cli");
    let weak = app.cli_with_stdin(
        &[
            "user",
            "set-password",
            "linked@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("8 to 256 characters"));
}

/// Sessions are in the database: a restarted patd still serves them. A forged,
/// truncated or oversized cookie is simply signed out: 401 from the API, the sign-in
/// page from the UI, never a 500.
pub(super) fn sessions_survive_a_restart_and_forged_cookies_sign_nobody_in(backend: Backend) {
    let mut app = spawn_binary_app(backend);
    let user = app.create_user("member");
    let session = app.login(&user.email, &user.password);
    app.restart();
    let me = app.get("/api/v1/me", &session).expect_json(200);
    assert_eq!(me["user"]["id"], user.id);
    app.get("/tokens", &session).expect(200);

    let value = session
        .cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .expect("name=value");
    for forged in [
        value[..value.len() - 1].to_owned(),
        // The last character changed (to one it is not).
        format!(
            "{}{}",
            &value[..value.len() - 1],
            if value.ends_with('A') { 'B' } else { 'A' }
        ),
        "A".repeat(43),
        "%00%ff".to_owned(),
        "x".repeat(3000),
        String::new(),
    ] {
        let mut fake = session.clone();
        fake.cookie = format!("patd_session={forged}");
        app.get("/api/v1/me", &fake)
            .expect_problem(401, "unauthenticated");
        // 303 to the sign-in page (which the client follows).
        let page = app.get("/tokens", &fake).expect(200);
        assert!(page.body.contains("Sign in to patd"), "{}", page.body);
    }
}

/// The sign-in limit is counted in the database: ten wrong passwords spread over three
/// instances (from one client behind the trusted proxy) use up the allowance one
/// instance has; the next attempt is refused by all three, even with the right password.
pub(super) fn sign_in_limits_hold_across_instances(backend: Backend) {
    let a = spawn_app_with(
        backend,
        &[
            ("PATD_SIGN_INS_PER_MINUTE", "10"),
            ("PATD_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let b = a.spawn_peer();
    let c = a.spawn_peer();
    let user = a.create_user("member");
    let attempt = |app: &TestApp, password: &str| {
        app.send_with_headers(
            "POST",
            "/api/v1/session",
            super::harness::Auth::Anonymous,
            &[("X-Forwarded-For", "198.51.100.7")],
            Some((
                "application/json",
                serde_json::to_vec(&json!({"email": user.email, "password": password}))
                    .expect("JSON"),
            )),
        )
    };
    for n in 0..10 {
        let app = [&a, &b, &c][n % 3];
        attempt(app, "wrong password").expect_problem(401, "invalid_credentials");
    }
    for app in [&a, &b, &c] {
        let refused = attempt(app, &user.password);
        refused.expect_problem(429, "rate_limited");
        let wait: u64 = refused
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&wait), "{wait}");
    }
}
