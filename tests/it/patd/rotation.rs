//! Self-rotation over HTTP: `POST /api/v1/tokens/self/rotate`, the way a CI job renews
//! the token it runs with.

use serde_json::json;

use super::harness::{Auth, Backend, issued, spawn_app};

/// A token with `tokens:update` rotates itself (empty body: 30 days; or the days it
/// names, up to the admin's cap): the answer carries the new secret, the old one is
/// refused at once. Without the scope 403, over the cap 422, with a session 400.
pub(super) fn a_token_rotates_itself(backend: Backend) {
    let app = spawn_app(backend);
    let session = app.user_session("member");
    let ci = app.create_token(&session, "ci", 7, &["tokens:update", "jobs:list"]);
    let rotate = |secret: &str, body: &str| {
        app.send(
            "POST",
            "/api/v1/tokens/self/rotate",
            Auth::Bearer(secret),
            Some(("application/json", body.as_bytes().to_vec())),
        )
    };
    let reply = rotate(&ci.secret, "");
    let first = issued(&reply.expect_json(200));
    assert_eq!(first.id(), ci.id(), "the same token");
    assert_eq!(
        reply_days(&first.token),
        30,
        "30 days by default, past its own 7"
    );
    assert_eq!(first.token["scopes"], ci.token["scopes"]);
    app.assert_refused(&ci.secret);
    app.assert_works(&first.secret);

    let second = issued(
        &rotate(&first.secret, &json!({"expires_in_days": 90}).to_string()).expect_json(200),
    );
    assert_eq!(reply_days(&second.token), 90);
    rotate(&second.secret, &json!({"expires_in_days": 181}).to_string())
        .expect_problem(422, "invalid_expiry");
    rotate(&second.secret, &json!({"expires_in_days": 1.5}).to_string())
        .expect_problem(422, "invalid_expiry");
    app.assert_works(&second.secret);

    let read_only = app.create_token(&session, "read only", 7, &["tokens:read"]);
    rotate(&read_only.secret, "{}").expect_problem(403, "missing_scope");
    app.assert_works(&read_only.secret);
    app.post("/api/v1/tokens/self/rotate", &session, &json!({}))
        .expect_problem(400, "pat_required");
    let events = app
        .get(&format!("/api/v1/tokens/{}/events", ci.id()), &session)
        .expect_json(200);
    assert!(
        events.to_string().contains("rotated itself"),
        "the history says who rotated it: {events}"
    );
}

/// Whole days from now until the token's `expires_at`, rounded.
fn reply_days(token: &serde_json::Value) -> i64 {
    let expires =
        chrono::DateTime::parse_from_rfc3339(token["expires_at"].as_str().expect("expires_at"))
            .expect("RFC 3339");
    let left = expires.signed_duration_since(chrono::Utc::now());
    (left.num_minutes() + 12 * 60) / (24 * 60)
}
