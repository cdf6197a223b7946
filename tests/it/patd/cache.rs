//! With the authentication cache on (`PATD_AUTH_CACHE_MS`), every change made through
//! the server still applies on the very next request: the cache is no excuse.

use serde_json::json;

use super::harness::{Backend, spawn_app_with, str_field};

/// A whole minute of cache: only invalidation can explain the refusals below.
const A_MINUTE: &[(&str, &str)] = &[("PATD_AUTH_CACHE_MS", "60000")];

/// Revoke, regenerate, scope removal, the PAT switch and deactivation each apply to
/// the next request of a token the cache already holds.
pub(super) fn cached_tokens_see_every_change_on_the_next_request(backend: Backend) {
    let app = spawn_app_with(backend, A_MINUTE);
    let alice = app.user_session("member");

    let revoked = app.create_token(&alice, "revoke me", 7, &["jobs:list"]);
    app.assert_works(&revoked.secret);
    app.assert_works(&revoked.secret);
    app.revoke(&alice, &revoked.id());
    app.assert_refused(&revoked.secret);

    let rotated = app.create_token(&alice, "rotate me", 7, &["jobs:list", "jobs:read"]);
    assert!(app.allows(&rotated.secret, "jobs:read"));
    let fresh = app
        .post(
            &format!("/api/v1/tokens/{}/regenerate", rotated.id()),
            &alice,
            &json!({"expires_in_days": 3}),
        )
        .expect_json(200);
    app.assert_refused(&rotated.secret);
    let fresh_secret = str_field(&fresh, "secret");
    app.assert_works(&fresh_secret);

    let token = app.token(&alice, &rotated.id());
    let read = super::harness::scope_id(&token, "jobs:read");
    app.delete(
        &format!("/api/v1/tokens/{}/scopes/{read}", rotated.id()),
        &alice,
    )
    .expect(200);
    assert!(!app.allows(&fresh_secret, "jobs:read"));
    assert!(app.allows(&fresh_secret, "jobs:list"));

    app.change_settings(&json!({"pats_enabled": false}));
    app.assert_refused(&fresh_secret);
    app.change_settings(&json!({"pats_enabled": true}));
    app.assert_works(&fresh_secret);

    app.json(
        "PATCH",
        &format!("/api/v1/admin/users/{}", alice.user_id()),
        &app.admin,
        &json!({"active": false}),
    )
    .expect(200);
    app.assert_refused(&fresh_secret);
}

/// Two instances on one database, each caching for one second: what A changes, A applies
/// at once and B once its cached answer is older than the TTL — never later.
pub(super) fn cached_instances_see_each_others_changes_within_the_ttl(backend: Backend) {
    let a = spawn_app_with(backend, &[("PATD_AUTH_CACHE_MS", "1000")]);
    let b = a.spawn_peer();
    let alice = a.user_session("member");
    let issued = a.create_token(&alice, "shared", 7, &["jobs:list"]);
    b.assert_works(&issued.secret);
    b.assert_works(&issued.secret);

    a.revoke(&alice, &issued.id());
    let revoked = std::time::Instant::now();
    a.assert_refused(&issued.secret);
    loop {
        let status = b.me_bearer(&issued.secret).status;
        let waited = revoked.elapsed();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "B answers the token as valid or refused");
        assert!(
            waited < std::time::Duration::from_millis(1500),
            "B still accepted the revoked token {waited:?} after the revocation (TTL 1 s)"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}
