//! Secrets are shown once and nowhere else; resource servers introspect tokens; anyone
//! can report a leaked token so it is revoked.

use serde_json::{Value, json};

use super::harness::{
    ADMIN_PASSWORD, Auth, Backend, Issued, Reply, basic_credentials, issued, spawn_app,
};

/// Every form in which a secret could leak: whole, its random body, and as sent in Basic.
fn leak_forms(secret: &str) -> Vec<String> {
    let body = &secret["pat_".len()..secret.len() - 6];
    assert_eq!(body.len(), 43, "secret body length");
    vec![
        secret.to_owned(),
        body.to_owned(),
        basic_credentials("x", secret),
        basic_credentials("ci", secret),
    ]
}

#[track_caller]
fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        for form in leak_forms(secret) {
            assert!(
                !text.contains(&form),
                "{what} contains a token secret (form {form:?})"
            );
        }
    }
}

/// No list, get, `/me`, `/tokens/self`, events, audit or introspection response, and no
/// line of the captured server log, contains any secret issued in the test.
pub(super) fn secrets_never_appear_in_list_get_responses_or_the_log(backend: Backend) {
    let app = super::harness::spawn_binary_app(backend);
    let user = app.create_user("member");
    let alice = app.login(&user.email, &user.password);

    let full = app.create_token(&alice, "full", 30, &["*:*"]);
    let child = issued(
        &app.try_create_token(
            Auth::Bearer(&full.secret),
            &json!({"name": "child", "expires_in_days": 10, "scopes": ["jobs:list"]}),
        )
        .expect_json(201),
    );
    let rotated = app.create_token(&alice, "rotated", 7, &["jobs:read"]);
    let regenerated = issued(
        &app.post(
            &format!("/api/v1/tokens/{}/regenerate", rotated.id()),
            &alice,
            &json!({"expires_in_days": 7}),
        )
        .expect_json(200),
    );
    let revoked = app.create_token(&alice, "revoked", 7, &["jobs:list"]);
    app.revoke(&alice, &revoked.id());
    let admins = app.create_token(&app.admin, "admin's", 7, &["*:*"]);
    let all: Vec<&Issued> = vec![&full, &child, &rotated, &regenerated, &revoked, &admins];
    let secrets: Vec<String> = all.iter().map(|i| i.secret.clone()).collect();

    // Use every secret, successfully or not, each way it can be presented.
    for secret in &secrets {
        let _ = app.me_bearer(secret);
        let _ = app.get("/api/v1/me", Auth::Basic("x", secret));
        let _ = app.auth_check(secret, "jobs:list");
        let _ = app.introspect(Auth::Bearer(&full.secret), secret);
    }
    app.assert_refused(&rotated.secret);
    app.assert_refused(&revoked.secret);

    let mut responses: Vec<Reply> = Vec::new();
    for query in [
        "",
        "?status=all",
        "?status=active",
        "?status=revoked",
        "?q=e",
    ] {
        responses.push(
            app.get(&format!("/api/v1/tokens{query}"), &alice)
                .expect(200),
        );
        responses.push(
            app.get(
                &format!("/api/v1/tokens{query}"),
                Auth::Bearer(&full.secret),
            )
            .expect(200),
        );
    }
    for token in &all[..5] {
        let id = token.id();
        responses.push(app.get(&format!("/api/v1/tokens/{id}"), &alice).expect(200));
        responses.push(
            app.get(&format!("/api/v1/tokens/{id}/events"), &alice)
                .expect(200),
        );
        responses.push(
            app.json(
                "PATCH",
                &format!("/api/v1/tokens/{id}"),
                &alice,
                &json!({"description": "touched"}),
            )
            .expect(200),
        );
    }
    responses.push(
        app.get("/api/v1/tokens/self", Auth::Bearer(&full.secret))
            .expect(200),
    );
    responses.push(
        app.get("/api/v1/me", Auth::Bearer(&child.secret))
            .expect(200),
    );
    responses.push(app.get("/api/v1/me", &alice).expect(200));
    responses.push(
        app.get(
            &format!("/api/v1/admin/users/{}/tokens", user.id),
            &app.admin,
        )
        .expect(200),
    );
    responses.push(app.get("/api/v1/tokens", &app.admin).expect(200));
    responses.push(
        app.get("/api/v1/admin/audit?page_size=100", &app.admin)
            .expect(200),
    );
    responses.push(
        app.introspect(Auth::Bearer(&full.secret), &child.secret)
            .expect(200),
    );
    responses.push(
        app.post_empty(&format!("/api/v1/tokens/{}/revoke", child.id()), &alice)
            .expect(200),
    );

    for reply in &responses {
        assert!(
            !reply.body.is_empty(),
            "{} answered an empty body",
            reply.request
        );
        assert_no_secret(&reply.request, &reply.body, &secrets);
        for (name, value) in reply.header_pairs() {
            assert_no_secret(&format!("{} header {name}", reply.request), value, &secrets);
        }
    }

    let log = app.log();
    assert!(!log.trim().is_empty(), "the server log was captured");
    assert_no_secret("the server log", &log, &secrets);
    for password in [ADMIN_PASSWORD, user.password.as_str()] {
        assert!(
            !log.contains(password),
            "the server log contains a password"
        );
    }
}

/// `/introspect` (with `introspection:read`) answers RFC 7662: active details for a good
/// token, exactly `{"active": false}` for any other.
pub(super) fn introspect_reports_active_and_exactly_inactive(backend: Backend) {
    let app = spawn_app(backend);
    let bob = app.user_session("member");
    let resource_server =
        app.create_token(&app.admin, "resource server", 30, &["introspection:read"]);
    let by_server = Auth::Bearer(&resource_server.secret);
    let target = app.create_token(&bob, "target", 7, &["jobs:list", "jobs:read"]);

    let active = app.introspect(by_server, &target.secret).expect_json(200);
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(
        active["token_type"], "Bearer",
        "RFC 7662 §2.2: an OAuth token type"
    );
    assert_eq!(active["token_id"], target.id().as_str());
    assert_eq!(active["sub"], bob.user_id().as_str());
    assert_eq!(active["username"], bob.email().as_str());
    let mut scopes: Vec<&str> = active["scope"]
        .as_str()
        .expect("scope is a space-separated string")
        .split_whitespace()
        .collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["jobs:list", "jobs:read"]);
    let exp = active["exp"].as_i64().expect("exp is seconds");
    let iat = active["iat"].as_i64().expect("iat is seconds");
    assert_eq!((exp - iat) / 86_400, 7, "exp - iat is the 7-day lifetime");
    assert!(!active.to_string().contains(&target.secret));

    let revoked = app.create_token(&bob, "revoked", 7, &["jobs:list"]);
    app.revoke(&bob, &revoked.id());
    let expired = app.create_token(&bob, "expired", 7, &["jobs:list"]);
    app.expire_in_database(&expired.id());
    let deleted = app.create_token(&bob, "deleted", 7, &["jobs:list"]);
    app.delete(&format!("/api/v1/tokens/{}", deleted.id()), &bob)
        .expect(204);
    for (label, token) in [
        ("revoked", revoked.secret.as_str()),
        ("expired", expired.secret.as_str()),
        ("deleted", deleted.secret.as_str()),
        ("garbage", "garbage"),
        ("empty", ""),
    ] {
        let reply = app.introspect(by_server, token).expect(200);
        assert_eq!(
            reply.json(),
            json!({"active": false}),
            "introspecting a {label} token must answer exactly {{\"active\": false}}"
        );
    }

    let no_scope = app.create_token(&bob, "no scope", 7, &["jobs:list"]);
    app.introspect(Auth::Bearer(&no_scope.secret), &target.secret)
        .expect_problem(403, "missing_scope");
    app.introspect(Auth::Anonymous, &target.secret)
        .expect_problem(401, "unauthenticated");
    app.introspect(Auth::Bearer("garbage"), &target.secret)
        .expect_problem(401, "invalid_token");
    app.assert_works(&target.secret);
}

/// A public leak report revokes the valid tokens in it and answers 202 whatever it holds;
/// more than 1000 credentials are refused.
pub(super) fn credentials_revoke_revokes_a_leaked_token_and_answers_202(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let leaked = app.create_token(&alice, "leaked", 7, &["jobs:list"]);
    let safe = app.create_token(&alice, "safe", 7, &["jobs:list"]);

    let reply = app
        .post(
            "/api/v1/credentials/revoke",
            Auth::Anonymous,
            &json!({"credentials": [leaked.secret, "garbage", "pat_not_a_token"]}),
        )
        .expect(202);
    assert!(
        !reply.body.contains(&leaked.secret),
        "the answer echoes no secret"
    );
    app.assert_refused(&leaked.secret);
    let token = app.token(&alice, &leaked.id());
    assert_eq!(token["status"], "revoked");
    app.assert_works(&safe.secret);
    let events = app
        .get(&format!("/api/v1/tokens/{}/events", leaked.id()), &alice)
        .expect_json(200);
    let actions: Vec<String> = events["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        actions.iter().any(|a| a.contains("leak")),
        "the leak report is in the token's history: {actions:?}"
    );

    app.post(
        "/api/v1/credentials/revoke",
        Auth::Anonymous,
        &json!({"credentials": ["nothing valid here"]}),
    )
    .expect(202);

    let too_many: Vec<Value> = (0..1001).map(|n| json!(format!("pat_{n}"))).collect();
    app.post(
        "/api/v1/credentials/revoke",
        Auth::Anonymous,
        &json!({"credentials": too_many}),
    )
    .expect_problem(422, "too_many_credentials");
    app.assert_works(&safe.secret);
}
