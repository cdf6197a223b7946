//! A token's life as its owner sees it: create, use, list, limit, expiry rules, revoke,
//! regenerate, scopes, rename, delete, history.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::harness::{
    Auth, Backend, Issued, issued, item_ids, scope_id, scope_texts, spawn_app, str_field,
};

fn time(token: &Value, key: &str) -> DateTime<Utc> {
    let text = str_field(token, key);
    assert!(text.ends_with('Z'), "{key} is RFC 3339 UTC: {text}");
    DateTime::parse_from_rfc3339(&text)
        .unwrap_or_else(|e| panic!("{key} {text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Login, create, then the token works as Bearer and as Basic (any user name) on `/me`.
pub(super) fn login_create_and_use_the_token_as_bearer_and_basic(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    assert_eq!(alice.user["role"], "member");

    let issued = app.create_token(&alice, "ci deploy", 30, &["jobs:list"]);
    let token = &issued.token;
    assert_eq!(token["name"], "ci deploy");
    assert_eq!(token["status"], "active");
    assert_eq!(token["generation"], 1);
    assert_eq!(token["revoked_at"], Value::Null);
    assert_eq!(
        token["scopes"][0]["scope"], "jobs:list",
        "scope response shape: {token}"
    );
    assert_eq!(token["scopes"][0]["resource"], "jobs");
    assert_eq!(token["scopes"][0]["operation"], "list");
    assert_eq!(token["scopes"][0]["targets"], json!(["*"]));
    assert!(token["scopes"][0]["id"].is_string(), "scope has an id");
    let lifetime = time(token, "expires_at") - time(token, "created_at");
    assert_eq!(lifetime.num_days(), 30, "expires_at = created_at + 30 days");

    let me = app.me_bearer(&issued.secret).expect_json(200);
    assert_eq!(me["user"]["id"], alice.user_id().as_str());
    assert_eq!(me["user"]["email"], alice.email().as_str());
    assert_eq!(me["token"]["id"], issued.id().as_str());
    assert_eq!(scope_texts(&me["token"]), ["jobs:list"]);

    for user in ["x-token", "anything-at-all"] {
        let me = app
            .get("/api/v1/me", Auth::Basic(user, &issued.secret))
            .expect_json(200);
        assert_eq!(
            me["user"]["id"],
            alice.user_id().as_str(),
            "Basic as {user}"
        );
        assert_eq!(me["token"]["id"], issued.id().as_str(), "Basic as {user}");
    }

    let by_session = app.get("/api/v1/me", &alice).expect_json(200);
    assert_eq!(by_session["user"]["id"], alice.user_id().as_str());
    assert_eq!(by_session["token"], Value::Null, "a session has no token");

    let used = app.token(&alice, &issued.id());
    assert!(
        used["last_used_at"].is_string(),
        "using the token records last_used_at: {used}"
    );
}

/// Login answers the documented cookie; a wrong password or an unknown email get one body.
pub(super) fn login_sets_a_strict_http_only_cookie_and_refuses_bad_credentials(backend: Backend) {
    let app = spawn_app(backend);
    let user = app.create_user("member");
    let reply = app
        .post(
            "/api/v1/session",
            Auth::Anonymous,
            &json!({"email": user.email, "password": user.password}),
        )
        .expect(200);
    let cookie = reply
        .headers("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("patd_session="))
        .expect("patd_session cookie")
        .to_ascii_lowercase();
    assert!(cookie.contains("httponly"), "cookie {cookie}");
    assert!(cookie.contains("samesite=strict"), "cookie {cookie}");
    assert!(cookie.contains("path=/"), "cookie {cookie}");
    let body = reply.json();
    assert_eq!(body["user"]["email"], user.email.as_str());
    assert!(body["csrf_token"].as_str().is_some_and(|t| !t.is_empty()));

    let wrong_password = app.post(
        "/api/v1/session",
        Auth::Anonymous,
        &json!({"email": user.email, "password": "not-the-password-at-all"}),
    );
    let unknown_email = app.post(
        "/api/v1/session",
        Auth::Anonymous,
        &json!({"email": "nobody@example.com", "password": user.password}),
    );
    let a = wrong_password.expect_problem(401, "invalid_credentials");
    let b = unknown_email.expect_problem(401, "invalid_credentials");
    assert_eq!(
        a, b,
        "wrong password and unknown email must be indistinguishable"
    );
    assert!(
        !wrong_password
            .headers("set-cookie")
            .iter()
            .any(|c| c.starts_with("patd_session=") && !c.starts_with("patd_session=;")),
        "a failed login must not open a session"
    );
}

/// Logout ends the session on the server: the old cookie no longer works.
pub(super) fn logout_ends_the_session(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    app.list_tokens(&alice, "");
    app.delete("/api/v1/session", &alice).expect(204);
    app.get("/api/v1/tokens", &alice)
        .expect_problem(401, "unauthenticated");
}

/// `?status=` active, expired, revoked and all each list exactly their tokens; `?q=` and
/// paging work; bad values are refused.
pub(super) fn list_filters_by_each_status(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let first = app.create_token(&alice, "Alpha build", 10, &["jobs:list"]);
    let second = app.create_token(&alice, "beta deploy", 10, &["jobs:list"]);
    let third = app.create_token(&alice, "gamma BUILD", 10, &["jobs:list"]);
    let fourth = app.create_token(&alice, "delta", 10, &["jobs:list"]);
    app.revoke(&alice, &second.id());
    app.expire_in_database(&third.id());

    let expect = |query: &str, ids: &[&Issued]| {
        let page = app.list_tokens(&alice, query);
        let want: Vec<String> = ids.iter().map(|i| i.id()).collect();
        assert_eq!(item_ids(&page), want, "GET /tokens{query}: {page}");
        assert_eq!(
            page["total_items"],
            want.len(),
            "GET /tokens{query}: {page}"
        );
        page
    };
    // Newest first.
    expect("?status=active", &[&fourth, &first]);
    expect("?status=revoked", &[&second]);
    let expired = expect("?status=expired", &[&third]);
    assert_eq!(expired["items"][0]["status"], "expired");
    expect("?status=all", &[&fourth, &third, &second, &first]);
    let all = expect("", &[&fourth, &third, &second, &first]);
    assert_eq!(all["page"], 1);
    assert_eq!(all["page_size"], 20, "default page size");
    assert_eq!(all["total_pages"], 1);
    let statuses: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["active", "expired", "revoked", "active"]);

    expect("?q=build", &[&third, &first]);
    expect("?status=active&q=BUILD", &[&first]);

    let page = app.list_tokens(&alice, "?page=2&page_size=3");
    assert_eq!(item_ids(&page), [first.id()]);
    assert_eq!(page["total_items"], 4);
    assert_eq!(page["total_pages"], 2);
    assert_eq!(page["page"], 2);
    assert_eq!(page["page_size"], 3);

    for bad in ["?page_size=101", "?page_size=0", "?page=0", "?page=x"] {
        app.get(&format!("/api/v1/tokens{bad}"), &alice)
            .expect_problem(422, "invalid_page");
    }
    app.get("/api/v1/tokens?status=bogus", &alice)
        .expect_problem(422, "invalid_query");
}

/// With five active tokens the sixth is refused; a revoked one frees a place, and
/// regenerating a revoked token counts like a create.
pub(super) fn sixth_active_token_is_refused(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let tokens: Vec<_> = (1..=5)
        .map(|n| app.create_token(&alice, &format!("token {n}"), 7, &["jobs:list"]))
        .collect();
    let sixth = json!({"name": "token 6", "expires_in_days": 7, "scopes": ["jobs:list"]});
    app.try_create_token(&alice, &sixth)
        .expect_problem(409, "active_token_limit");
    let active = app.list_tokens(&alice, "?status=active");
    assert_eq!(active["total_items"], 5, "the refused sixth was not stored");

    app.revoke(&alice, &tokens[0].id());
    let sixth = app.try_create_token(&alice, &sixth).expect_json(201);
    assert_eq!(sixth["token"]["status"], "active");

    app.post(
        &format!("/api/v1/tokens/{}/regenerate", tokens[0].id()),
        &alice,
        &json!({"expires_in_days": 7}),
    )
    .expect_problem(409, "active_token_limit");
    app.assert_refused(&tokens[0].secret);
    let still = app.token(&alice, &tokens[0].id());
    assert_eq!(
        still["status"], "revoked",
        "a refused regenerate changes nothing"
    );
}

/// `expires_in_days` must be an integer 1..=180: 181, 0, -1, 1.5, "abc" and a missing
/// field are each refused with 422 `invalid_expiry`, and nothing is created.
pub(super) fn expires_in_days_181_0_negative_fraction_text_and_missing_are_refused(
    backend: Backend,
) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let cases = [
        ("181", json!(181)),
        ("0", json!(0)),
        ("-1", json!(-1)),
        ("1.5", json!(1.5)),
        ("\"abc\"", json!("abc")),
    ];
    for (label, days) in &cases {
        let reply = app.try_create_token(
            &alice,
            &json!({"name": format!("days {label}"), "expires_in_days": days, "scopes": ["jobs:list"]}),
        );
        let problem = reply.expect_problem(422, "invalid_expiry");
        if *label == "181" {
            let detail = str_field(&problem, "detail");
            assert!(
                detail.contains("180"),
                "detail must say what is allowed (1..=180): {detail}"
            );
        }
    }
    app.try_create_token(&alice, &json!({"name": "no days", "scopes": ["jobs:list"]}))
        .expect_problem(422, "invalid_expiry");
    assert_eq!(
        app.list_tokens(&alice, "")["total_items"],
        0,
        "no refused create was stored"
    );

    let max = app.create_token(&alice, "longest", 180, &["jobs:list"]);
    let lifetime = time(&max.token, "expires_at") - time(&max.token, "created_at");
    assert_eq!(lifetime.num_days(), 180);
    let min = app.create_token(&alice, "shortest", 1, &["jobs:list"]);
    assert_eq!(min.token["status"], "active");

    for days in [json!(181), json!(0), json!(1.5), json!("abc")] {
        app.post(
            &format!("/api/v1/tokens/{}/regenerate", max.id()),
            &alice,
            &json!({"expires_in_days": days}),
        )
        .expect_problem(422, "invalid_expiry");
    }
    app.assert_works(&max.secret);
}

/// Malformed JSON is 400 `invalid_json`; bad names, descriptions and scopes have their codes.
pub(super) fn invalid_create_bodies_are_refused_with_their_codes(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    app.post_raw("/api/v1/tokens", &alice, "{not json")
        .expect_problem(400, "invalid_json");
    let cases = [
        (
            json!({"name": "", "expires_in_days": 7, "scopes": ["jobs:list"]}),
            "invalid_name",
        ),
        (
            json!({"name": "   ", "expires_in_days": 7, "scopes": ["jobs:list"]}),
            "invalid_name",
        ),
        (
            json!({"name": "x".repeat(65), "expires_in_days": 7, "scopes": ["jobs:list"]}),
            "invalid_name",
        ),
        (
            json!({"name": "a\u{7}b", "expires_in_days": 7, "scopes": ["jobs:list"]}),
            "invalid_name",
        ),
        (
            json!({"expires_in_days": 7, "scopes": ["jobs:list"]}),
            "invalid_name",
        ),
        (
            json!({"name": "long", "description": "d".repeat(501), "expires_in_days": 7, "scopes": ["jobs:list"]}),
            "invalid_description",
        ),
        (
            json!({"name": "bad scope", "expires_in_days": 7, "scopes": ["jobs"]}),
            "invalid_scope",
        ),
        (
            json!({"name": "bad op", "expires_in_days": 7, "scopes": ["jobs:fly"]}),
            "invalid_scope",
        ),
        (
            json!({"name": "no scopes", "expires_in_days": 7, "scopes": []}),
            "invalid_scope",
        ),
    ];
    for (body, code) in cases {
        app.try_create_token(&alice, &body)
            .expect_problem(422, code);
    }
    let too_many: Vec<String> = (0..51).map(|n| format!("r{n}:read")).collect();
    app.try_create_token(
        &alice,
        &json!({"name": "many", "expires_in_days": 7, "scopes": too_many}),
    )
    .expect_problem(422, "too_many_scopes");
    assert_eq!(app.list_tokens(&alice, "")["total_items"], 0);

    let exact = app.create_token(&alice, "x".repeat(64).as_str(), 7, &["jobs:list"]);
    assert_eq!(exact.token["name"], "x".repeat(64));
    app.try_create_token(
        &alice,
        &json!({"name": "X".repeat(64), "expires_in_days": 7, "scopes": ["jobs:list"]}),
    )
    .expect_problem(409, "duplicate_name");
}

/// Revoking stops the token on the very next request; revoking again changes nothing.
pub(super) fn revoke_then_the_next_request_is_401(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let issued = app.create_token(&alice, "revoke me", 7, &["jobs:list"]);
    app.assert_works(&issued.secret);
    assert!(app.allows(&issued.secret, "jobs:list"));

    let revoked = app.revoke(&alice, &issued.id());
    assert_eq!(revoked["status"], "revoked");
    assert!(
        revoked["revoked_at"].is_string(),
        "revoked_at set: {revoked}"
    );
    app.assert_refused(&issued.secret);
    app.auth_check(&issued.secret, "jobs:list")
        .expect_problem(401, "invalid_token");

    let again = app.revoke(&alice, &issued.id());
    assert_eq!(again["status"], "revoked");
    assert_eq!(
        again["revoked_at"], revoked["revoked_at"],
        "revoke is idempotent"
    );
    let listed = app.list_tokens(&alice, "?status=revoked");
    assert_eq!(
        item_ids(&listed),
        [issued.id()],
        "revoked tokens stay listed"
    );
}

/// Regenerating keeps id, name and scopes, issues a new secret, and the old one dies.
pub(super) fn regenerate_kills_the_old_secret_and_the_new_one_has_the_same_scopes(
    backend: Backend,
) {
    let app = spawn_app(backend);
    // Report-only reuse detection: the old secret's refusal is checked here without
    // revoking the token (reuse detection has tests of its own in rotation.rs).
    app.change_settings(&json!({"revoke_on_reuse": false}));
    let alice = app.user_session("member");
    let original = app
        .post(
            "/api/v1/tokens",
            &alice,
            &json!({"name": "rotating", "description": "nightly", "expires_in_days": 10,
                "scopes": ["jobs:list", "channels:publish:c1,c2"]}),
        )
        .expect_json(201);
    let original = issued(&original);
    assert!(app.allows(&original.secret, "channels:publish:c1"));

    let body = app
        .post(
            &format!("/api/v1/tokens/{}/regenerate", original.id()),
            &alice,
            &json!({"expires_in_days": 30}),
        )
        .expect_json(200);
    let fresh = issued(&body);
    assert_ne!(fresh.secret, original.secret, "a new secret");
    assert_eq!(fresh.id(), original.id(), "regenerate keeps the id");
    assert_eq!(fresh.token["name"], "rotating");
    assert_eq!(fresh.token["description"], "nightly");
    assert_eq!(fresh.token["generation"], 2);
    assert_eq!(scope_texts(&fresh.token), scope_texts(&original.token));
    let lifetime = time(&fresh.token, "expires_at") - time(&fresh.token, "created_at");
    assert!(
        lifetime.num_days() >= 30,
        "new expiry counts from now: {}",
        fresh.token
    );

    app.assert_refused(&original.secret);
    app.auth_check(&original.secret, "jobs:list")
        .expect_problem(401, "invalid_token");
    let me = app.me_bearer(&fresh.secret).expect_json(200);
    assert_eq!(me["token"]["id"], original.id().as_str());
    assert!(app.allows(&fresh.secret, "jobs:list"));
    assert!(app.allows(&fresh.secret, "channels:publish:c2"));
    assert!(!app.allows(&fresh.secret, "channels:publish:c3"));
    assert!(!app.allows(&fresh.secret, "jobs:delete"));

    // A revoked token comes back to life with a new secret.
    app.revoke(&alice, &original.id());
    app.assert_refused(&fresh.secret);
    let revived = issued(
        &app.post(
            &format!("/api/v1/tokens/{}/regenerate", original.id()),
            &alice,
            &json!({"expires_in_days": 5}),
        )
        .expect_json(200),
    );
    assert_eq!(revived.token["status"], "active");
    assert_eq!(revived.token["revoked_at"], Value::Null);
    assert_eq!(revived.token["generation"], 3);
    app.assert_works(&revived.secret);
    app.assert_refused(&fresh.secret);
}

/// Adding, removing one and removing all scopes change what `/auth/check` allows at once.
pub(super) fn scope_add_remove_and_remove_all_change_what_auth_check_allows(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let issued = app.create_token(&alice, "scoped", 7, &["jobs:list"]);
    let id = issued.id();
    let secret = &issued.secret;
    assert!(app.allows(secret, "jobs:list"));
    assert!(!app.allows(secret, "jobs:read"));
    assert!(!app.allows(secret, "builds:list"));

    let added = app
        .post(
            &format!("/api/v1/tokens/{id}/scopes"),
            &alice,
            &json!({"scopes": ["jobs:read", "jobs:list"]}),
        )
        .expect_json(200);
    let texts = scope_texts(&added);
    assert_eq!(
        texts.len(),
        2,
        "adding an existing scope is a no-op: {added}"
    );
    assert!(texts.contains(&"jobs:read".to_owned()) && texts.contains(&"jobs:list".to_owned()));
    assert!(app.allows(secret, "jobs:read"));
    assert!(app.allows(secret, "jobs:list"));

    app.post(
        &format!("/api/v1/tokens/{id}/scopes"),
        &alice,
        &json!({"scopes": ["not a scope"]}),
    )
    .expect_problem(422, "invalid_scope");

    let list_id = scope_id(&added, "jobs:list");
    let removed = app
        .delete(&format!("/api/v1/tokens/{id}/scopes/{list_id}"), &alice)
        .expect_json(200);
    assert_eq!(scope_texts(&removed), ["jobs:read"]);
    assert!(!app.allows(secret, "jobs:list"));
    assert!(app.allows(secret, "jobs:read"));
    app.delete(&format!("/api/v1/tokens/{id}/scopes/{list_id}"), &alice)
        .expect_problem(404, "not_found");

    let cleared = app
        .delete(&format!("/api/v1/tokens/{id}/scopes"), &alice)
        .expect_json(200);
    assert_eq!(cleared["scopes"], json!([]));
    assert!(!app.allows(secret, "jobs:read"));
    assert!(!app.allows(secret, "jobs:list"));
    // Still authenticates (`/me`), but authorizes nothing: not even a bare check.
    app.auth_check(secret, "")
        .expect_problem(403, "missing_scope");
    app.assert_works(secret);

    app.post(
        &format!("/api/v1/tokens/{id}/scopes"),
        &alice,
        &json!({"scopes": ["*:*"]}),
    )
    .expect(200);
    assert!(app.allows(secret, "anything:delete:x1"));
}

/// Rename and re-describe; a clash with another name (ignoring case) is refused.
pub(super) fn rename_and_redescribe(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let one = app.create_token(&alice, "one", 7, &["jobs:list"]);
    app.create_token(&alice, "Two", 7, &["jobs:list"]);
    let path = format!("/api/v1/tokens/{}", one.id());
    let renamed = app
        .json(
            "PATCH",
            &path,
            &alice,
            &json!({"name": "uno", "description": "first"}),
        )
        .expect_json(200);
    assert_eq!(renamed["name"], "uno");
    assert_eq!(renamed["description"], "first");
    let described = app
        .json("PATCH", &path, &alice, &json!({"description": "only this"}))
        .expect_json(200);
    assert_eq!(described["name"], "uno", "omitted name is kept");
    assert_eq!(described["description"], "only this");
    app.json("PATCH", &path, &alice, &json!({"name": "two"}))
        .expect_problem(409, "duplicate_name");
    app.json("PATCH", &path, &alice, &json!({"name": ""}))
        .expect_problem(422, "invalid_name");
    assert_eq!(app.token(&alice, &one.id())["name"], "uno");
    app.assert_works(&one.secret);
}

/// Delete one, then delete all: gone from the list, secrets dead, others' tokens untouched.
pub(super) fn delete_one_and_delete_all(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let bob = app.user_session("member");
    let bobs = app.create_token(&bob, "bob's", 7, &["jobs:list"]);
    let tokens: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|name| app.create_token(&alice, name, 7, &["jobs:list"]))
        .collect();

    app.delete(&format!("/api/v1/tokens/{}", tokens[0].id()), &alice)
        .expect(204);
    app.get(&format!("/api/v1/tokens/{}", tokens[0].id()), &alice)
        .expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/tokens/{}", tokens[0].id()), &alice)
        .expect_problem(404, "not_found");
    app.assert_refused(&tokens[0].secret);
    app.assert_works(&tokens[1].secret);
    assert_eq!(
        item_ids(&app.list_tokens(&alice, "")),
        [tokens[2].id(), tokens[1].id()]
    );

    app.delete("/api/v1/tokens", &alice).expect(204);
    assert_eq!(app.list_tokens(&alice, "?status=all")["total_items"], 0);
    app.assert_refused(&tokens[1].secret);
    app.assert_refused(&tokens[2].secret);
    app.assert_works(&bobs.secret);
    assert_eq!(app.list_tokens(&bob, "")["total_items"], 1);
}

/// A token's history lists its lifecycle events, newest first, for its owner.
pub(super) fn token_events_record_the_history(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let issued = app.create_token(&alice, "audited", 7, &["jobs:list"]);
    let id = issued.id();
    app.json(
        "PATCH",
        &format!("/api/v1/tokens/{id}"),
        &alice,
        &json!({"name": "audited 2"}),
    )
    .expect(200);
    app.revoke(&alice, &id);
    let page = app
        .get(&format!("/api/v1/tokens/{id}/events"), &alice)
        .expect_json(200);
    let items = page["items"].as_array().expect("items");
    assert!(items.len() >= 3, "created, updated, revoked: {page}");
    assert_eq!(page["total_items"], items.len());
    for event in items {
        assert_eq!(event["token_id"], id.as_str(), "{event}");
        assert_eq!(event["owner_id"], alice.user_id().as_str(), "{event}");
        for key in ["id", "at", "action"] {
            assert!(event[key].is_string(), "event {key}: {event}");
        }
    }
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    let distinct: std::collections::BTreeSet<_> = actions.iter().collect();
    assert!(
        distinct.len() >= 3,
        "each kind of event is named: {actions:?}"
    );
    let times: Vec<DateTime<Utc>> = items.iter().map(|e| time(e, "at")).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
}
