//! Rotation over HTTP: self-rotation (`POST /api/v1/tokens/self/rotate`, the way a CI
//! job renews the token it runs with), grace periods that keep the previous secret
//! working, and reuse detection when a secret rotated away comes back.

use std::time::Instant;

use serde_json::{Value, json};

use super::harness::{Auth, Backend, Issued, TestApp, issued, spawn_app, spawn_app_with_clock};

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
    app.assert_works(&first.secret);

    let second = issued(
        &rotate(&first.secret, &json!({"expires_in_days": 90}).to_string()).expect_json(200),
    );
    assert_eq!(reply_days(&second.token), 90);
    rotate(&second.secret, &json!({"expires_in_days": 181}).to_string())
        .expect_problem(422, "invalid_expiry");
    rotate(&second.secret, &json!({"expires_in_days": 1.5}).to_string())
        .expect_problem(422, "invalid_expiry");
    for bad in [json!(-1), json!(1.5), json!(1441), json!("10")] {
        let refused = rotate(&second.secret, &json!({"grace_minutes": bad}).to_string())
            .expect_problem(422, "invalid_grace");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap_or("")
                .contains("between 0 and 1440"),
            "names the range: {refused}"
        );
    }
    app.assert_works(&second.secret);
    let third =
        issued(&rotate(&second.secret, &json!({"grace_minutes": 10}).to_string()).expect_json(200));
    assert_eq!(
        generation_of(&app, &second.secret),
        3,
        "the old secret works in its grace"
    );
    assert_eq!(generation_of(&app, &third.secret), 4);

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

/// `GET /me` with `secret`: the generation presented, from the header and the body,
/// which must agree.
fn generation_of(app: &TestApp, secret: &str) -> u64 {
    let reply = app.me_bearer(secret);
    let header: u64 = reply
        .header("X-Pat-Token-Generation")
        .expect("X-Pat-Token-Generation")
        .parse()
        .expect("a number");
    let body = reply.expect_json(200);
    assert_eq!(body["token"]["generation"], header, "{body}");
    header
}

fn regenerate(app: &TestApp, auth: Auth<'_>, id: &str, body: &Value) -> Issued {
    issued(
        &app.post(&format!("/api/v1/tokens/{id}/regenerate"), auth, body)
            .expect_json(200),
    )
}

/// During its grace period the previous secret is the same token with the same scopes,
/// and `/me`, `/auth/check` and introspection say it is the previous generation; when
/// the period ends its use is a leak: the same 401 as any bad token, the token revoked
/// (`reuse_detected`, audited with the address and user agent), its owner may not bring
/// it back (409 `revoked_for_reuse`) and an admin lifts it. The clock is patd's clock
/// port, moved by the test.
pub(super) fn a_grace_period_keeps_the_old_secret_until_it_ends(backend: Backend) {
    let app = spawn_app_with_clock(backend, &[]);
    let owner = app.user_session("member");
    let old = app.create_token(&owner, "deploy", 30, &["jobs:list"]);
    let checker = app.create_token(&app.admin, "resource server", 30, &["introspection:read"]);
    app.assert_works(&old.secret);

    let reply = app
        .post(
            &format!("/api/v1/tokens/{}/regenerate", old.id()),
            &owner,
            &json!({"expires_in_days": 30, "grace_minutes": 30}),
        )
        .expect_json(200);
    let until = reply["previous_secret_expires_at"]
        .as_str()
        .expect("previous_secret_expires_at")
        .to_owned();
    assert_eq!(reply["token"]["previous_secret_expires_at"], until.as_str());
    let new = issued(&reply);
    assert_eq!(
        generation_of(&app, &old.secret),
        1,
        "the previous secret works"
    );
    assert_eq!(generation_of(&app, &new.secret), 2);
    let check = app.auth_check(&old.secret, "jobs:list").expect(204);
    assert_eq!(check.header("X-Pat-Token-Id"), Some(old.id().as_str()));
    assert_eq!(check.header("X-Pat-Token-Generation"), Some("1"));
    let seen = app
        .introspect(Auth::Bearer(&checker.secret), &old.secret)
        .expect_json(200);
    assert_eq!(seen["active"], true);
    assert_eq!(seen["token_generation"], 1);
    assert_eq!(seen["scope"], "jobs:list", "the same scopes");

    app.advance_clock(chrono::Duration::minutes(29));
    assert_eq!(
        generation_of(&app, &old.secret),
        1,
        "a minute before the end"
    );
    app.advance_clock(chrono::Duration::minutes(2));
    let refused = app.send_with_headers(
        "GET",
        "/api/v1/me",
        Auth::Bearer(&old.secret),
        &[("User-Agent", "leaky-bot/1.0")],
        None,
    );
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.json(),
        app.assert_refused("pat_not_a_real_token"),
        "the same 401 as any bad token"
    );
    let token = app.token(&owner, &old.id());
    assert_eq!(token["status"], "revoked");
    assert_eq!(token["revoked_reason"], "reuse_detected");
    assert!(token["reuse_detected_at"].is_string(), "{token}");
    app.assert_refused(&new.secret);
    let audit = app
        .get(
            "/api/v1/admin/audit?action=token.reuse_detected",
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(audit["total_items"], 1, "{audit}");
    let event = &audit["items"][0];
    assert_eq!(event["ip"], "127.0.0.1");
    assert!(
        event["detail"]
            .as_str()
            .unwrap_or("")
            .contains("leaky-bot/1.0"),
        "{event}"
    );

    let blocked = app
        .post(
            &format!("/api/v1/tokens/{}/regenerate", old.id()),
            &owner,
            &json!({"expires_in_days": 30}),
        )
        .expect_problem(409, "revoked_for_reuse");
    assert!(
        blocked["detail"]
            .as_str()
            .unwrap_or("")
            .contains("administrator"),
        "says who may lift it: {blocked}"
    );
    let lift = format!("/api/v1/admin/tokens/{}/regenerate", old.id());
    app.post(&lift, &owner, &json!({"expires_in_days": 30}))
        .expect_problem(403, "forbidden");
    let lifted = issued(
        &app.post(&lift, &app.admin, &json!({"expires_in_days": 30}))
            .expect_json(200),
    );
    app.assert_works(&lifted.secret);
    app.post(&lift, &app.admin, &json!({"expires_in_days": 30}))
        .expect_problem(409, "not_revoked_for_reuse");
    let own = regenerate(
        &app,
        Auth::from(&owner),
        &old.id(),
        &json!({"expires_in_days": 30}),
    );
    app.assert_works(&own.secret);
}

/// `grace_minutes` negative, fractional, above the admin's cap or a string: 422
/// `invalid_grace` naming the range, nothing changed; the cap is the admin's setting.
pub(super) fn grace_minutes_are_checked_against_the_admins_cap(backend: Backend) {
    let app = spawn_app(backend);
    let owner = app.user_session("member");
    let t = app.create_token(&owner, "t", 30, &["jobs:list"]);
    let path = format!("/api/v1/tokens/{}/regenerate", t.id());
    for bad in [json!(-1), json!(2.5), json!(1441), json!("10"), json!(true)] {
        let refused = app
            .post(
                &path,
                &owner,
                &json!({"expires_in_days": 30, "grace_minutes": bad}),
            )
            .expect_problem(422, "invalid_grace");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap_or("")
                .contains("between 0 and 1440"),
            "{refused}"
        );
    }
    app.assert_works(&t.secret);
    let settings = app.settings();
    assert_eq!(settings["max_grace_minutes"], 1440);
    assert_eq!(settings["revoke_on_reuse"], true);
    let mut lower = settings.clone();
    lower["max_grace_minutes"] = json!(5);
    app.change_settings(&lower);
    app.post(
        &path,
        &owner,
        &json!({"expires_in_days": 30, "grace_minutes": 6}),
    )
    .expect_problem(422, "invalid_grace");
    let mut too_long = settings.clone();
    too_long["max_grace_minutes"] = json!(10_081);
    app.json("PUT", "/api/v1/admin/settings", &app.admin, &too_long)
        .expect_problem(422, "invalid_settings");
    let mut older_client = settings.clone();
    older_client
        .as_object_mut()
        .expect("object")
        .remove("max_grace_minutes");
    older_client
        .as_object_mut()
        .expect("object")
        .remove("revoke_on_reuse");
    let kept = app
        .json("PUT", "/api/v1/admin/settings", &app.admin, &older_client)
        .expect_json(200);
    assert_eq!(kept["max_grace_minutes"], 5, "absent: unchanged");
    let renewed = regenerate(
        &app,
        Auth::from(&owner),
        &t.id(),
        &json!({"expires_in_days": 30, "grace_minutes": 5}),
    );
    assert_eq!(generation_of(&app, &t.secret), 1);
    assert_eq!(generation_of(&app, &renewed.secret), 2);
}

/// Report-only mode (`revoke_on_reuse: false`): a rotated-away secret is refused,
/// audited and the token marked, but the token keeps working.
pub(super) fn report_only_mode_keeps_the_token(backend: Backend) {
    let app = spawn_app(backend);
    let mut settings = app.settings();
    settings["revoke_on_reuse"] = json!(false);
    app.change_settings(&settings);
    let owner = app.user_session("member");
    let old = app.create_token(&owner, "ci", 30, &["jobs:list"]);
    let new = regenerate(
        &app,
        Auth::from(&owner),
        &old.id(),
        &json!({"expires_in_days": 30}),
    );
    app.assert_refused(&old.secret);
    app.assert_refused(&old.secret);
    app.assert_works(&new.secret);
    let token = app.token(&owner, &old.id());
    assert_eq!(token["status"], "active");
    assert!(token["reuse_detected_at"].is_string(), "{token}");
    let audit = app
        .get(
            "/api/v1/admin/audit?action=token.reuse_detected",
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(audit["total_items"], 1, "once a minute per token: {audit}");
    assert!(
        audit["items"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("report only")
    );
}

/// Two instances: a grace period given on A lets the previous secret work on B, and a
/// reuse revocation on A is refused on B within the propagation bound.
pub(super) fn another_instance_sees_grace_and_reuse_within_the_bound(backend: Backend) {
    let a = spawn_app(backend);
    let b = a.spawn_peer();
    let owner = a.user_session("member");
    let first = a.create_token(&owner, "shared", 30, &["jobs:list"]);
    b.assert_works(&first.secret);
    let second = regenerate(
        &a,
        Auth::from(&owner),
        &first.id(),
        &json!({"expires_in_days": 30, "grace_minutes": 60}),
    );
    let changed = Instant::now();
    loop {
        let reply = b.me_bearer(&second.secret);
        if reply.status == 200 {
            break;
        }
        assert!(
            changed.elapsed() <= super::harness::CHANGE_BOUND,
            "B did not see the new secret within the bound"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        generation_of(&b, &first.secret),
        1,
        "the grace period holds on B"
    );
    let third = regenerate(
        &a,
        Auth::from(&owner),
        &first.id(),
        &json!({"expires_in_days": 30}),
    );
    a.assert_refused(&second.secret);
    let revoked = Instant::now();
    a.assert_refused(&third.secret);
    b.assert_refused_within_the_bound(&third.secret, revoked);
    assert_eq!(
        b.token(&owner, &first.id())["revoked_reason"],
        "reuse_detected"
    );
}

/// `patd rotate-self`, the command a CI job runs: the token from `PATD_TOKEN`, the new
/// secret alone on stdout; a grace period keeps the old one working; refusals and
/// missing input exit non-zero with patd's reason, changing nothing.
pub(super) fn the_cli_rotates_the_token_it_runs_with(backend: Backend) {
    let app = spawn_app(backend);
    let owner = app.user_session("member");
    let ci = app.create_token(&owner, "ci", 7, &["tokens:update", "jobs:list"]);
    let run = |token: &str, args: &[&str]| {
        let mut all = vec!["rotate-self", "--url", app.address.as_str()];
        all.extend_from_slice(args);
        let out = app.cli_with(&all, &[("PATD_TOKEN", token)]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(
        &ci.secret,
        &["--expires-in-days", "20", "--grace-minutes", "10"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stdout.contains(char::is_whitespace),
        "only the secret on stdout: {stdout:?}"
    );
    assert_eq!(generation_of(&app, &stdout), 2, "the new secret works");
    assert_eq!(
        generation_of(&app, &ci.secret),
        1,
        "the old one during its grace"
    );
    assert!(stderr.contains("keeps working until"), "{stderr}");
    assert_eq!(reply_days(&app.token(&owner, &ci.id())), 20);

    let (code, _, stderr) = run(&stdout, &["--grace-minutes", "99999"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("invalid_grace") && stderr.contains("between 0 and 1440"),
        "{stderr}"
    );
    let read_only = app.create_token(&owner, "read only", 7, &["tokens:read"]);
    let (code, _, stderr) = run(&read_only.secret, &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("missing_scope"), "{stderr}");
    app.assert_works(&read_only.secret);
    let (code, _, stderr) = run("", &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("PATD_TOKEN"), "{stderr}");
    let out = app.cli_with(
        &["rotate-self", "--url", "ftp://patd.example"],
        &[("PATD_TOKEN", stdout.as_str())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
    assert_eq!(generation_of(&app, &stdout), 2, "refusals changed nothing");
}
