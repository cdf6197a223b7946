//! The security review's findings (issue 15), each as the behaviour that closes it.

use serde_json::json;

use super::harness::{Auth, Backend, spawn_app};

/// The argon2 runs patd has made so far.
fn password_hashes(app: &super::harness::TestApp) -> u64 {
    app.metric("patd_password_hashes_total")
}

/// A member's session sending 500 `POST /admin/users` gets 403s, and not one password
/// is hashed for them: authorization comes before any argon2 work.
pub(super) fn user_creation_by_a_non_admin_is_refused_before_any_hashing(backend: Backend) {
    // The binary: the argon2 count is per process, and in-process servers share one.
    let app = super::harness::spawn_binary_app(backend);
    let member = app.user_session("member");
    let before = password_hashes(&app);
    for n in 0..500 {
        app.post(
            "/api/v1/admin/users",
            &member,
            &json!({"email": format!("x{n}@example.com"), "name": "x", "role": "admin",
                    "password": "a password that is long enough"}),
        )
        .expect_problem(403, "forbidden");
    }
    // The web form likewise, with the session's own CSRF token.
    for n in 0..20 {
        let form = format!(
            "csrf={}&email=web{n}%40example.com&name=x&role=admin&password=long+enough+password",
            member.csrf_token
        );
        let reply = app.send(
            "POST",
            "/admin/users",
            Auth::Cookie(&member, None),
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
        );
        assert_eq!(reply.status, 403, "{reply:?}");
    }
    assert_eq!(
        password_hashes(&app),
        before,
        "no hash for a refused caller"
    );
    // The admin's own creation does hash (the counter is live).
    app.create_user("member");
    assert!(password_hashes(&app) > before);
}

/// An admin's token without `admin:*` scopes acts as its user only: another user's
/// token is 404 through every `/tokens/{id}` route; with the matching `admin:<op>`
/// scope it reaches it.
pub(super) fn an_admin_token_without_admin_scopes_cannot_reach_other_users_tokens(
    backend: Backend,
) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let victim = app.create_token(&alice, "victim", 7, &["jobs:list"]);
    let id = victim.id();
    let plain = app.create_token(
        &app.admin,
        "tokens only",
        7,
        &["tokens:read", "tokens:update", "tokens:delete"],
    );
    let by_plain = Auth::Bearer(&plain.secret);
    app.get(&format!("/api/v1/tokens/{id}"), by_plain)
        .expect_problem(404, "not_found");
    app.get(&format!("/api/v1/tokens/{id}/events"), by_plain)
        .expect_problem(404, "not_found");
    app.post_empty(&format!("/api/v1/tokens/{id}/revoke"), by_plain)
        .expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/tokens/{id}"), by_plain)
        .expect_problem(404, "not_found");
    app.assert_works(&victim.secret);

    let reader = app.create_token(
        &app.admin,
        "admin reader",
        7,
        &["tokens:read", "tokens:update", "admin:read"],
    );
    app.get(
        &format!("/api/v1/tokens/{id}"),
        Auth::Bearer(&reader.secret),
    )
    .expect(200);
    app.get(
        &format!("/api/v1/tokens/{id}/events"),
        Auth::Bearer(&reader.secret),
    )
    .expect(200);
    app.post_empty(
        &format!("/api/v1/tokens/{id}/revoke"),
        Auth::Bearer(&reader.secret),
    )
    .expect_problem(404, "not_found");
    let revoker = app.create_token(
        &app.admin,
        "admin revoker",
        7,
        &["tokens:update", "admin:update"],
    );
    app.post_empty(
        &format!("/api/v1/tokens/{id}/revoke"),
        Auth::Bearer(&revoker.secret),
    )
    .expect(200);
    app.assert_refused(&victim.secret);
}

/// A collaborator cannot broaden a token: adding scopes is refused like creating one.
pub(super) fn a_collaborator_cannot_add_scopes(backend: Backend) {
    let app = spawn_app(backend);
    let member = app.create_user("member");
    let session = app.login(&member.email, &member.password);
    let token = app.create_token(&session, "narrow", 7, &["jobs:list"]);
    app.json(
        "PATCH",
        &format!("/api/v1/admin/users/{}", member.id),
        &app.admin,
        &json!({"role": "collaborator"}),
    )
    .expect(200);
    let session = app.login(&member.email, &member.password);
    app.post(
        &format!("/api/v1/tokens/{}/scopes", token.id()),
        &session,
        &json!({"scopes": ["*:*"]}),
    )
    .expect_problem(403, "forbidden_role");
    let scopes = &app.token(&session, &token.id())["scopes"];
    assert_eq!(scopes.as_array().map(Vec::len), Some(1), "{scopes}");
}

/// The scope count is checked before anything is parsed: 51 scopes (even all alike)
/// are refused with `too_many_scopes`.
pub(super) fn scope_lists_over_the_limit_are_refused_before_parsing(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let many = vec!["jobs:list"; 51];
    let problem = app
        .try_create_token(
            &alice,
            &json!({"name": "many", "expires_in_days": 7, "scopes": many}),
        )
        .expect_problem(422, "too_many_scopes");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("51"),
        "{problem}"
    );
    let token = app.create_token(&alice, "few", 7, &["jobs:list"]);
    let bad = vec!["NOT A SCOPE"; 51];
    app.post(
        &format!("/api/v1/tokens/{}/scopes", token.id()),
        &alice,
        &json!({"scopes": bad}),
    )
    .expect_problem(422, "too_many_scopes");
}

/// RFC 6750 §3 and what git, libcurl and Python need: every 401 offers Bearer and Basic
/// in one header, a presented bad token is `error="invalid_token"`, and a 403 for a
/// missing scope names it with `error="insufficient_scope"`. A bare `/auth/check`
/// (authentication only) passes any token holding a scope, but not one with none.
pub(super) fn challenges_follow_rfc_6750_and_offer_basic(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let lister = app.create_token(&alice, "lister", 7, &["jobs:list"]);
    let both = r#"Bearer realm="patd", Basic realm="patd""#;
    let invalid = r#"Bearer realm="patd", error="invalid_token", Basic realm="patd""#;
    for path in ["/api/v1/me", "/api/v1/auth/check", "/api/v1/tokens"] {
        let reply = app.get(path, Auth::Anonymous);
        reply.expect_problem(401, "unauthenticated");
        assert_eq!(reply.header("www-authenticate"), Some(both), "{path}");
        let reply = app.get(path, Auth::Bearer("pat_nonsense"));
        reply.expect_problem(401, "invalid_token");
        assert_eq!(reply.header("www-authenticate"), Some(invalid), "{path}");
    }
    let reply = app.get(
        "/api/v1/auth/check?resource=jobs&operation=read",
        Auth::Bearer(&lister.secret),
    );
    reply.expect_problem(403, "missing_scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", error="insufficient_scope", scope="jobs:read""#)
    );
    let reply = app.get("/api/v1/tokens", Auth::Bearer(&lister.secret));
    reply.expect_problem(403, "missing_scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", error="insufficient_scope", scope="tokens:list""#)
    );

    app.get("/api/v1/auth/check", Auth::Bearer(&lister.secret))
        .expect(204);
    app.delete(&format!("/api/v1/tokens/{}/scopes", lister.id()), &alice)
        .expect(200);
    let reply = app.get("/api/v1/auth/check", Auth::Bearer(&lister.secret));
    reply.expect_problem(403, "missing_scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", error="insufficient_scope""#)
    );
    app.assert_works(&lister.secret);
}

/// Introspection is the resource server asking, not the token being used: the token's
/// last use is not touched. It answers `token_type: "Bearer"` (RFC 7662 §2.2) and its
/// refusals carry RFC 6749 §5.2's `error` member beside problem+json's fields.
pub(super) fn introspection_leaves_last_use_alone_and_speaks_oauth_errors(backend: Backend) {
    let app = spawn_app(backend);
    let bob = app.user_session("member");
    let server = app.create_token(&app.admin, "resource server", 30, &["introspection:read"]);
    let by_server = Auth::Bearer(&server.secret);
    let unused = app.create_token(&bob, "unused", 7, &["jobs:list"]);
    let active = app.introspect(by_server, &unused.secret).expect_json(200);
    assert_eq!(active["active"], true);
    assert_eq!(active["token_type"], "Bearer");
    let token = app.token(&bob, &unused.id());
    assert_eq!(token["last_used_at"], serde_json::Value::Null, "{token}");
    assert_eq!(token["last_used_ip"], serde_json::Value::Null, "{token}");

    app.assert_works(&unused.secret);
    let used = app.token(&bob, &unused.id());
    app.introspect(by_server, &unused.secret).expect(200);
    let after = app.token(&bob, &unused.id());
    assert_eq!(after["last_used_ip"], used["last_used_ip"]);
    assert_eq!(after["last_used_at"], used["last_used_at"]);
    assert_eq!(after["last_used_ip"], "127.0.0.1");

    let missing = app
        .send(
            "POST",
            "/api/v1/introspect",
            by_server,
            Some((
                "application/x-www-form-urlencoded",
                b"nothing=here".to_vec(),
            )),
        )
        .expect_problem(400, "invalid_request");
    assert_eq!(missing["error"], "invalid_request", "{missing}");
    let anonymous = app
        .introspect(Auth::Anonymous, &unused.secret)
        .expect_problem(401, "unauthenticated");
    assert_eq!(anonymous["error"], "invalid_client", "{anonymous}");
    let bad = app
        .introspect(Auth::Bearer("garbage"), &unused.secret)
        .expect_problem(401, "invalid_token");
    assert_eq!(bad["error"], "invalid_client", "{bad}");
    let unscoped = app
        .introspect(Auth::Bearer(&unused.secret), &server.secret)
        .expect_problem(403, "missing_scope");
    assert_eq!(unscoped["error"], "unauthorized_client", "{unscoped}");
    // Elsewhere problem+json has no `error` member.
    let elsewhere = app
        .get("/api/v1/tokens", Auth::Anonymous)
        .expect_problem(401, "unauthenticated");
    assert!(elsewhere.get("error").is_none(), "{elsewhere}");
}

/// Login CSRF and cross-site writes: JSON endpoints take only JSON (a cross-site form
/// can send `text/plain`, which is 415), and a browser's `Origin` or `Sec-Fetch-Site`
/// from another site refuses a sign-in or a cookie-authenticated write even with the
/// right CSRF token.
pub(super) fn cross_site_sign_in_and_cookie_writes_are_refused(backend: Backend) {
    let app = spawn_app(backend);
    let user = app.create_user("member");
    let credentials = json!({"email": user.email, "password": user.password}).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        app.send(
            "POST",
            "/api/v1/session",
            Auth::Anonymous,
            Some((content_type, credentials.clone().into_bytes())),
        )
        .expect_problem(415, "unsupported_media_type");
    }
    let as_json = || Some(("application/json", credentials.clone().into_bytes()));
    let evil_origin = [("Origin", "https://evil.example")];
    app.send_with_headers(
        "POST",
        "/api/v1/session",
        Auth::Anonymous,
        &evil_origin,
        as_json(),
    )
    .expect_problem(403, "csrf");
    let own_origin = app.address.clone();
    app.send_with_headers(
        "POST",
        "/api/v1/session",
        Auth::Anonymous,
        &[("Origin", &own_origin), ("Sec-Fetch-Site", "same-origin")],
        as_json(),
    )
    .expect(200);

    let session = app.login(&user.email, &user.password);
    let body = || {
        Some((
            "application/json",
            json!({"name": "x", "expires_in_days": 7, "scopes": ["jobs:list"]})
                .to_string()
                .into_bytes(),
        ))
    };
    for headers in [
        &evil_origin[..],
        &[("Sec-Fetch-Site", "cross-site")][..],
        &[("Origin", "null"), ("Sec-Fetch-Site", "cross-site")][..],
    ] {
        app.send_with_headers(
            "POST",
            "/api/v1/tokens",
            Auth::from(&session),
            headers,
            body(),
        )
        .expect_problem(403, "csrf");
    }
    app.send(
        "POST",
        "/api/v1/tokens",
        Auth::from(&session),
        Some((
            "text/plain",
            json!({"name": "x", "expires_in_days": 7, "scopes": ["jobs:list"]})
                .to_string()
                .into_bytes(),
        )),
    )
    .expect_problem(415, "unsupported_media_type");
    assert_eq!(app.list_tokens(&session, "")["total_items"], 0);
    app.send_with_headers(
        "POST",
        "/api/v1/tokens",
        Auth::from(&session),
        &[("Origin", &own_origin)],
        body(),
    )
    .expect(201);

    // Basic credentials are ambient too (browsers cache them once the 401 offers
    // Basic): a cross-site write with them is refused; a Bearer token is never ambient.
    let minter = app.create_token(&session, "minter", 7, &["tokens:create", "jobs:list"]);
    let named = |name: &str| {
        Some((
            "application/json",
            json!({"name": name, "expires_in_days": 1, "scopes": ["jobs:list"]})
                .to_string()
                .into_bytes(),
        ))
    };
    let cross = [("Sec-Fetch-Site", "cross-site")];
    app.send_with_headers(
        "POST",
        "/api/v1/tokens",
        Auth::Basic("x", &minter.secret),
        &cross,
        named("by basic"),
    )
    .expect_problem(403, "csrf");
    app.send_with_headers(
        "POST",
        "/api/v1/tokens",
        Auth::Bearer(&minter.secret),
        &cross,
        named("by bearer"),
    )
    .expect(201);
}

/// Why a token was revoked is kept and shown (`revoked_reason`), and decides whether its
/// owner may regenerate it: after their own revocation yes (revoke, then regenerate is
/// a supported flow); after an admin's or a leak report's, 409 `revoked_by_admin` /
/// `revoked_as_leaked`.
pub(super) fn revoked_tokens_come_back_only_from_their_owners_revocation(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let regenerate = |id: &str| {
        app.post(
            &format!("/api/v1/tokens/{id}/regenerate"),
            &alice,
            &json!({"expires_in_days": 10}),
        )
    };

    let own = app.create_token(&alice, "own", 7, &["jobs:list"]);
    let revoked = app.revoke(&alice, &own.id());
    assert_eq!(revoked["revoked_reason"], "owner", "{revoked}");
    let back = regenerate(&own.id()).expect_json(200);
    assert_eq!(back["token"]["status"], "active");
    assert_eq!(back["token"]["revoked_reason"], serde_json::Value::Null);
    app.assert_works(back["secret"].as_str().expect("secret"));
    app.assert_refused(&own.secret);

    let stopped = app.create_token(&alice, "stopped", 7, &["jobs:list"]);
    let revoked = app
        .post_empty(
            &format!("/api/v1/admin/tokens/{}/revoke", stopped.id()),
            &app.admin,
        )
        .expect_json(200);
    assert_eq!(revoked["revoked_reason"], "admin");
    regenerate(&stopped.id()).expect_problem(409, "revoked_by_admin");
    assert_eq!(app.token(&alice, &stopped.id())["status"], "revoked");

    let leaked = app.create_token(&alice, "leaked", 7, &["jobs:list"]);
    app.post(
        "/api/v1/credentials/revoke",
        Auth::Anonymous,
        &json!({"credentials": [leaked.secret]}),
    )
    .expect(202);
    assert_eq!(
        app.token(&alice, &leaked.id())["revoked_reason"],
        "leak_report"
    );
    regenerate(&leaked.id()).expect_problem(409, "revoked_as_leaked");
    app.assert_refused(&leaked.secret);
}

/// The server key is checked against the fingerprint kept with the tokens: a missing key
/// file is never replaced by a new key while tokens exist, another key is refused at
/// start (naming where it came from and the fix), a rotation with the old key listed in
/// `previous_token_keys` is accepted and keeps old tokens working, and then the old key
/// alone is refused.
pub(super) fn a_missing_or_foreign_server_key_is_refused_at_start(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let issued = app.create_token(&alice, "kept", 7, &["jobs:list"]);
    let old_key = std::fs::read_to_string(app.key_file()).expect("the generated key");
    let stderr = |out: &std::process::Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let nowhere = tempfile::tempdir().expect("temp dir");
    let missing = nowhere.path().join("token.key");
    let missing_text = missing.display().to_string();
    let out = app.cli_with(
        &["settings", "show"],
        &[("PATD_TOKEN_KEY_FILE", &missing_text)],
    );
    assert!(!out.status.success(), "started without its key");
    let message = stderr(&out);
    assert!(
        message.contains(&missing_text) && message.contains("missing"),
        "{message}"
    );
    assert!(
        !missing.exists(),
        "no new key is generated while tokens exist"
    );

    let foreign = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB";
    let out = app.cli_with(&["settings", "show"], &[("PATD_TOKEN_KEY", foreign)]);
    assert!(!out.status.success(), "started with a foreign key");
    let message = stderr(&out);
    for needed in ["PATD_TOKEN_KEY", "fingerprint", "previous_token_keys"] {
        assert!(message.contains(needed), "{needed} in: {message}");
    }
    let port = super::harness::free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let out = app.cli_with(
        &["serve"],
        &[("PATD_TOKEN_KEY", foreign), ("PATD_LISTEN", &listen)],
    );
    assert!(!out.status.success(), "serve refuses a foreign key");
    app.assert_works(&issued.secret);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(app.key_file(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let out = app.cli_with(&["settings", "show"], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("can be read by other users"),
            "a readable key file is warned about: {}",
            stderr(&out)
        );
    }

    let new_key = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC";
    let out = app.cli_with(
        &["settings", "show"],
        &[
            ("PATD_TOKEN_KEY", new_key),
            ("PATD_PREVIOUS_TOKEN_KEYS", old_key.trim()),
        ],
    );
    assert!(out.status.success(), "a rotation: {}", stderr(&out));
    let out = app.cli_with(&["settings", "show"], &[]);
    assert!(
        !out.status.success(),
        "after the rotation the old key alone is refused"
    );
    assert!(stderr(&out).contains("fingerprint"), "{}", stderr(&out));
}

/// The request log names the client patd believes: the TCP peer when it is not a
/// trusted proxy (a client's own `X-Forwarded-For` is ignored), the address the
/// trusted proxies recorded otherwise — never the first entry a client wrote.
pub(super) fn the_request_log_records_the_client_address_patd_believes(backend: Backend) {
    let spoof = [("X-Forwarded-For", "6.6.6.6")];
    let direct = super::harness::spawn_binary_app(backend);
    direct
        .send_with_headers("GET", "/api/v1/me?direct", Auth::Anonymous, &spoof, None)
        .expect(401);
    let logged = request_log_client(&direct, "/api/v1/me?direct");
    assert_eq!(logged, "127.0.0.1", "the peer, not the header");

    let proxied =
        super::harness::spawn_binary_app_with(backend, &[("PATD_TRUSTED_PROXIES", "127.0.0.1")]);
    proxied
        .send_with_headers(
            "GET",
            "/api/v1/me?proxied",
            Auth::Anonymous,
            &[("X-Forwarded-For", "6.6.6.6, 203.0.113.7")],
            None,
        )
        .expect(401);
    let logged = request_log_client(&proxied, "/api/v1/me?proxied");
    assert_eq!(logged, "203.0.113.7", "the proxy's entry, not the client's");
}

/// `http.client_ip` of the logged request to `target`.
fn request_log_client(app: &super::harness::TestApp, target: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = app.log();
        let found = log.lines().find_map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).ok()?;
            let span = &event["span"];
            (span["http.target"] == target).then(|| span["http.client_ip"].clone())
        });
        if let Some(client) = found {
            return client.as_str().unwrap_or_default().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line for {target}:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The `patd_sessions` gauge of this instance.
fn live_sessions(app: &super::harness::TestApp) -> u64 {
    app.metric("patd_sessions")
}

/// Sessions: behind an `https://` public URL the cookie is `Secure` and named
/// `__Host-patd_session`; a user keeps at most 10 sessions (the oldest ends); a user
/// disabled from the CLI loses their sessions within seconds, before they are used.
pub(super) fn sessions_are_secure_behind_https_capped_and_swept(backend: Backend) {
    let app =
        super::harness::spawn_app_with(backend, &[("PATD_PUBLIC_URL", "https://pat.example.com")]);
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
        .find(|c| c.contains("patd_session="))
        .expect("a session cookie");
    assert!(cookie.starts_with("__Host-patd_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");

    let sessions: Vec<_> = (0..11)
        .map(|_| app.login(&user.email, &user.password))
        .collect();
    app.get("/api/v1/me", &sessions[0])
        .expect_problem(401, "unauthenticated");
    for session in &sessions[2..] {
        app.get("/api/v1/me", session).expect(200);
    }

    let before = live_sessions(&app);
    let out = app.cli(&["user", "disable", &user.email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while live_sessions(&app) > before - 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the disabled user's 10 sessions were not ended: {} of {before} left",
            live_sessions(&app)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    app.get("/api/v1/me", &sessions[10])
        .expect_problem(401, "unauthenticated");
}

/// A flood of refused tokens costs no log line per request at `warn` (the level an
/// operator quiets the request log to): refusals are counted in `/metrics`, not logged
/// one by one, so bad tokens cannot fill the disk or spend the CPU on formatting.
pub(super) fn refused_requests_write_no_log_line_each(backend: Backend) {
    let app = super::harness::spawn_binary_app_with(backend, &[("RUST_LOG", "warn")]);
    for n in 0..40 {
        app.me_bearer(&format!("pat_not-a-token-{n}"))
            .expect_problem(401, "invalid_token");
    }
    app.get("/api/v1/tokens/not-a-uuid", &app.admin).expect(404);
    let log = app.log();
    let lines = log
        .lines()
        .filter(|line| line.contains("invalid_token") || line.contains("Error encountered"))
        .count();
    assert_eq!(lines, 0, "log lines for 41 refusals:\n{log}");
}
