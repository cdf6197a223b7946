//! Abuse limits of the real patd: failed token authentications, logins and leak reports
//! per client address (429 with `Retry-After`), and request size limits (413, 414, 431,
//! 400 — never a 5xx, and patd keeps serving). Other client addresses are simulated the
//! way a reverse proxy presents them: patd trusts 127.0.0.1 as a proxy and reads the
//! client from `X-Forwarded-For`.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{Auth, Backend, Reply, TestApp, spawn_app_with};

/// The documented body limit (`pat_actix::MAX_BODY_BYTES`, docs/operations.md).
const MAX_BODY_BYTES: usize = 128 * 1024;
/// The documented URL limit (`pat_actix::MAX_URI_BYTES`).
const MAX_URI_BYTES: usize = 8 * 1024;
/// `ApiConfig::default()`'s login and leak-report limits per address per minute.
const LOGINS_PER_MINUTE: usize = 30;
const LEAK_REPORTS_PER_HOUR: usize = 60;

/// patd with the test machine (the TCP peer of every request) as a trusted proxy.
fn spawn_behind_proxy(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("PATD_TRUSTED_PROXIES", "127.0.0.1")];
    env.extend_from_slice(extra);
    spawn_app_with(backend, &env)
}

/// [`spawn_behind_proxy`] as the real binary: for a test that fills the password queue,
/// which in-process servers share.
fn spawn_binary_behind_proxy(backend: Backend) -> TestApp {
    super::harness::spawn_binary_app_with(backend, &[("PATD_TRUSTED_PROXIES", "127.0.0.1")])
}

/// A request as if from client `address`, forwarded by the trusted proxy.
fn from(
    app: &TestApp,
    address: &str,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    body: Option<&Value>,
) -> Reply {
    let body = body.map(|b| {
        (
            "application/json",
            serde_json::to_vec(b).expect("serialize JSON"),
        )
    });
    app.send_with_headers(method, path, auth, &[("X-Forwarded-For", address)], body)
}

/// Asserts 429 `rate_limited` problem+json with a whole-seconds `Retry-After` within the
/// one-minute window; returns the seconds.
#[track_caller]
fn expect_rate_limited(reply: &Reply) -> u64 {
    expect_rate_limited_within(reply, 60)
}

/// [`expect_rate_limited`] for a window of `window_secs`.
#[track_caller]
fn expect_rate_limited_within(reply: &Reply, window_secs: u64) -> u64 {
    let problem = reply.expect_problem(429, "rate_limited");
    let retry = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("{}: 429 without Retry-After", reply.request));
    let seconds: u64 = retry
        .parse()
        .unwrap_or_else(|_| panic!("{}: Retry-After {retry:?} is not seconds", reply.request));
    assert!(
        (1..=window_secs).contains(&seconds),
        "{}: Retry-After {seconds} is outside the {window_secs} s window",
        reply.request
    );
    assert_eq!(
        problem["detail"],
        format!("too many requests; retry after {seconds} seconds")
    );
    seconds
}

/// Five failed token authentications from one address (limit 5): the next request from
/// it is 429 even with a valid token, on every endpoint that takes a token; another
/// address, the proxy itself and session cookies from the blocked address are unaffected;
/// a token's `last_used_ip` is the forwarded address; the metrics count the refusals.
pub(super) fn abuse_failed_token_authentications_from_one_address_get_429_even_for_a_valid_token(
    backend: Backend,
) {
    let app = spawn_behind_proxy(backend, &[("PATD_FAILED_AUTHS_PER_MINUTE", "5")]);
    let alice = app.user_session("member");
    let good = app.create_token(&alice, "good", 7, &["jobs:list", "introspection:read"]);
    let revoked = app.create_token(&alice, "revoked", 7, &["jobs:list"]);
    app.revoke(&alice, &revoked.id());
    let attacker = "203.0.113.66";
    let neighbour = "203.0.113.77";

    // The first use of the good token comes from the neighbour: that is its last_used_ip.
    from(
        &app,
        neighbour,
        "GET",
        "/api/v1/me",
        Auth::Bearer(&good.secret),
        None,
    )
    .expect(200);
    assert_eq!(app.token(&alice, &good.id())["last_used_ip"], neighbour);

    // Five failures of every kind, on the endpoints that take a token.
    let failures: [(&str, Auth<'_>); 5] = [
        ("/api/v1/me", Auth::Bearer("garbage")),
        ("/api/v1/auth/check", Auth::Bearer(&revoked.secret)),
        (
            "/api/v1/auth/check?resource=jobs&operation=list",
            Auth::Basic("x", "pat_unknown"),
        ),
        ("/api/v1/tokens", Auth::Bearer(&revoked.secret)),
        ("/api/v1/tokens/self", Auth::Bearer("pat_")),
    ];
    for (path, auth) in failures {
        from(&app, attacker, "GET", path, auth, None).expect_problem(401, "invalid_token");
    }

    // The sixth is refused before authentication, and so is the valid token.
    expect_rate_limited(&from(
        &app,
        attacker,
        "GET",
        "/api/v1/me",
        Auth::Bearer("garbage"),
        None,
    ));
    for path in [
        "/api/v1/me",
        "/api/v1/auth/check",
        "/api/v1/auth/check?resource=jobs&operation=list",
        "/api/v1/tokens",
    ] {
        expect_rate_limited(&from(
            &app,
            attacker,
            "GET",
            path,
            Auth::Bearer(&good.secret),
            None,
        ));
    }
    expect_rate_limited(&from(
        &app,
        attacker,
        "GET",
        "/api/v1/me",
        Auth::Basic("git", &good.secret),
        None,
    ));
    let form = format!("token={}", good.secret).into_bytes();
    let introspect = app.send_with_headers(
        "POST",
        "/api/v1/introspect",
        Auth::Bearer(&good.secret),
        &[("X-Forwarded-For", attacker)],
        Some(("application/x-www-form-urlencoded", form)),
    );
    expect_rate_limited(&introspect);

    // Another address, and the proxy's own address, are not limited.
    from(
        &app,
        neighbour,
        "GET",
        "/api/v1/me",
        Auth::Bearer(&good.secret),
        None,
    )
    .expect(200);
    from(
        &app,
        neighbour,
        "GET",
        "/api/v1/auth/check?resource=jobs&operation=list",
        Auth::Bearer(&good.secret),
        None,
    )
    .expect(204);
    from(
        &app,
        neighbour,
        "GET",
        "/api/v1/me",
        Auth::Bearer("garbage"),
        None,
    )
    .expect_problem(401, "invalid_token");
    app.assert_works(&good.secret);
    app.assert_refused("garbage");

    // The limit is on token authentication: the blocked address's session still works.
    let listed = from(
        &app,
        attacker,
        "GET",
        "/api/v1/tokens",
        Auth::from(&alice),
        None,
    )
    .expect_json(200);
    assert_eq!(listed["total_items"], 2, "{listed}");

    let metrics = app.get("/metrics", &app.admin).expect(200).body;
    let refused: u64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("patd_token_authentications_total{outcome=\"rate_limited\"} ")
        })
        .unwrap_or_else(|| panic!("no rate_limited outcome in the metrics:\n{metrics}"))
        .parse()
        .expect("a count");
    assert_eq!(
        refused, 7,
        "one garbage, four paths, Basic and introspection"
    );
}

/// Thirty login attempts per address (IPv6: per /64) per minute: the 31st from that
/// address is 429 even with the right password; another address signs in.
pub(super) fn abuse_login_attempts_from_one_address_are_limited(backend: Backend) {
    let app = spawn_behind_proxy(backend, &[]);
    let user = app.create_user("member");
    let attempt = |address: &str, password: &str| {
        from(
            &app,
            address,
            "POST",
            "/api/v1/session",
            Auth::Anonymous,
            Some(&json!({"email": user.email, "password": password})),
        )
    };
    for _ in 0..LOGINS_PER_MINUTE {
        attempt("203.0.113.10", "wrong password guess").expect_problem(401, "invalid_credentials");
    }
    expect_rate_limited(&attempt("203.0.113.10", &user.password));
    let signed_in = attempt("203.0.113.11", &user.password).expect_json(200);
    assert_eq!(signed_in["user"]["email"], user.email.as_str());

    // IPv6 counts by /64: a host cannot hop addresses within its network.
    for n in 0..LOGINS_PER_MINUTE {
        attempt(&format!("2001:db8:5:5::{n:x}"), "wrong password guess")
            .expect_problem(401, "invalid_credentials");
    }
    expect_rate_limited(&attempt("2001:db8:5:5:abcd::1", &user.password));
    attempt("2001:db8:5:6::1", &user.password).expect_json(200);
}

/// Sixty leak reports per address per hour (GitHub's figure), IPv6 counted per /64; the
/// largest report allowed (1000 credentials with the longest prefix, pretty-printed:
/// over 64 KiB) fits in the body limit; 1001 credentials are 422; the 61st report from
/// one address (or /64) is 429 and another address still reports.
pub(super) fn abuse_leak_reports_from_one_address_are_limited_and_1000_credentials_fit(
    backend: Backend,
) {
    let app = spawn_behind_proxy(backend, &[]);
    let reporter = "203.0.113.20";
    let report = |address: &str, body: Vec<u8>| {
        app.send_with_headers(
            "POST",
            "/api/v1/credentials/revoke",
            Auth::Anonymous,
            &[("X-Forwarded-For", address)],
            Some(("application/json", body)),
        )
    };
    // 8-character prefix + 43 body + 6 checksum: the longest token patd issues.
    let longest = |n: usize| format!("abcdefgh_{n:0>49}");
    let credentials: Vec<String> = (0..1000).map(longest).collect();
    let body = serde_json::to_vec_pretty(&json!({ "credentials": credentials })).expect("JSON");
    assert!(
        (64 * 1024..MAX_BODY_BYTES).contains(&body.len()),
        "the largest report is {} bytes",
        body.len()
    );
    report(reporter, body).expect(202);
    let too_many: Vec<String> = (0..1001).map(longest).collect();
    report(
        reporter,
        serde_json::to_vec(&json!({ "credentials": too_many })).expect("JSON"),
    )
    .expect_problem(422, "too_many_credentials");
    let small = || serde_json::to_vec(&json!({"credentials": ["pat_nothing"]})).expect("JSON");
    for _ in 2..LEAK_REPORTS_PER_HOUR {
        report(reporter, small()).expect(202);
    }
    let wait = expect_rate_limited_within(&report(reporter, small()), 3600);
    assert!(wait > 3000, "an hour's window: retry in {wait} s");
    report("203.0.113.21", small()).expect(202);

    // IPv6 counts by /64: a host cannot hop addresses within its network.
    for n in 0..LEAK_REPORTS_PER_HOUR {
        report(&format!("2001:db8:7:7::{n:x}"), small()).expect(202);
    }
    expect_rate_limited_within(&report("2001:db8:7:7:ffff::1", small()), 3600);
    report("2001:db8:7:8::1", small()).expect(202);
}

/// Bodies: exactly the limit is read and judged (422), one byte more is 413 problem+json
/// (with Content-Length, and chunked without it), on authenticated and public endpoints;
/// patd keeps serving.
pub(super) fn abuse_oversized_bodies_get_413_problem_json_and_patd_keeps_serving(backend: Backend) {
    let app = spawn_behind_proxy(backend, &[]);
    let alice = app.user_session("member");
    let token = app.create_token(&alice, "writer", 7, &["tokens:create", "jobs:list"]);
    let create_body = |size: usize| {
        let mut body = json!({"name": "big", "expires_in_days": 7, "scopes": ["jobs:list"], "description": ""})
            .to_string();
        let pad = "x".repeat(size - body.len());
        body = body.replace(
            "\"description\":\"\"",
            &format!("\"description\":\"{pad}\""),
        );
        assert_eq!(body.len(), size);
        body
    };

    let at_limit = app.post_raw("/api/v1/tokens", &alice, &create_body(MAX_BODY_BYTES));
    at_limit.expect_problem(422, "invalid_description");
    for auth in [Auth::from(&alice), Auth::Bearer(&token.secret)] {
        let over = app.post_raw("/api/v1/tokens", auth, &create_body(MAX_BODY_BYTES + 1));
        let problem = over.expect_problem(413, "body_too_large");
        assert_eq!(
            problem["detail"],
            "the request body is over 128 KiB; send less (a leak report carries at most 1000 credentials)"
        );
    }
    let leak = format!("{{\"credentials\": [\"{}\"]}}", "p".repeat(MAX_BODY_BYTES));
    app.post_raw("/api/v1/credentials/revoke", Auth::Anonymous, &leak)
        .expect_problem(413, "body_too_large");
    let form = format!("token={}", "p".repeat(MAX_BODY_BYTES));
    app.send(
        "POST",
        "/api/v1/introspect",
        Auth::Bearer(&token.secret),
        Some(("application/x-www-form-urlencoded", form.into_bytes())),
    )
    .expect_problem(413, "body_too_large");

    // Chunked, so the size is known only while reading.
    let chunk = "x".repeat(16 * 1024);
    let mut request = String::from(
        "POST /api/v1/credentials/revoke HTTP/1.1\r\nHost: patd\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for _ in 0..9 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let (status, head, body) = raw_exchange(&app, request.as_bytes());
    assert_eq!(status, 413, "chunked 144 KiB body: {head}{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("problem JSON")["code"],
        "body_too_large"
    );

    app.get("/healthz", Auth::Anonymous).expect(200);
    app.create_token(&alice, "after", 7, &["jobs:list"]);
    app.assert_works(&token.secret);
}

/// Headers and URLs: a 100 KiB `Authorization` or cookie is 431 and a 9 KiB URL 414,
/// problem+json from patd; beyond what actix-web parses at all — a 100 KiB URL (400),
/// a 200 KiB header or 100 headers (431) — the framework refuses without a body. None
/// is a 5xx, none counts as a failed authentication, and patd keeps serving.
pub(super) fn abuse_long_headers_and_urls_get_4xx_and_patd_keeps_serving(backend: Backend) {
    let app = spawn_behind_proxy(backend, &[("PATD_FAILED_AUTHS_PER_MINUTE", "1")]);
    let alice = app.user_session("member");
    let token = app.create_token(&alice, "reader", 7, &["jobs:list"]);
    let huge = "a".repeat(100 * 1024);

    for path in ["/api/v1/me", "/api/v1/auth/check"] {
        app.get(path, Auth::Bearer(&huge))
            .expect_problem(431, "headers_too_large");
        // 60 KiB, 80 KiB in base64: ureq sends at most ~128 KiB of head.
        app.get(path, Auth::Basic("x", &huge[..60 * 1024]))
            .expect_problem(431, "headers_too_large");
    }
    let cookie = format!("patd_session={huge}");
    for path in ["/api/v1/me", "/", "/tokens"] {
        app.send_with_headers("GET", path, Auth::Anonymous, &[("Cookie", &cookie)], None)
            .expect_problem(431, "headers_too_large");
    }
    let long_query = format!("/api/v1/tokens?q={}", "a".repeat(MAX_URI_BYTES + 1));
    app.get(&long_query, &alice)
        .expect_problem(414, "uri_too_long");
    app.get(&long_query, Auth::Anonymous)
        .expect_problem(414, "uri_too_long");

    let many_headers: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-filler-{i}"), "y".to_owned()))
        .collect();
    let many: Vec<(&str, &str)> = many_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let reply = app.send_with_headers(
        "GET",
        "/api/v1/me",
        Auth::Bearer(&token.secret),
        &many,
        None,
    );
    assert_eq!(reply.status, 431, "100 headers: {}", reply.body);

    let long_url = format!(
        "GET /api/v1/tokens?q={} HTTP/1.1\r\nHost: patd\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let (status, head, _) = raw_exchange(&app, long_url.as_bytes());
    assert_eq!(status, 400, "100 KiB URL: {head}");
    let long_header = format!(
        "GET /api/v1/me HTTP/1.1\r\nHost: patd\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let (status, head, _) = raw_exchange(&app, long_header.as_bytes());
    assert_eq!(status, 431, "200 KiB header: {head}");

    // With a limit of one failure, any of the above counted as one would block this.
    app.assert_works(&token.secret);
    app.get("/healthz", Auth::Anonymous).expect(200);
}

/// Sends `request` as is on a new connection and reads until the server closes it:
/// status, head and body. The server may close before it has read everything (that is
/// how it refuses an oversized head), so a failed write or a reset after the answer is
/// not an error: the answer is what counts.
fn raw_exchange(app: &TestApp, request: &[u8]) -> (u16, String, String) {
    let address = app
        .address
        .strip_prefix("http://")
        .expect("address is http://host:port");
    let mut stream = TcpStream::connect(address).expect("connect to patd");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// Markup typed into a token's name or description comes back escaped on the web UI's
/// pages (the list and the token page), and every page is sent with the no-store,
/// CSP, framing and sniffing headers; the API's session cookie opens those pages.
pub(super) fn abuse_markup_in_token_fields_is_escaped_and_pages_send_safe_headers(
    backend: Backend,
) {
    let app = super::harness::spawn_app(backend);
    let alice = app.user_session("member");
    let name = "<script>alert(1)</script>";
    let description = "\"><img src=x onerror=alert(2)>";
    let created = app
        .try_create_token(
            &alice,
            &json!({"name": name, "description": description, "expires_in_days": 7, "scopes": ["jobs:list"]}),
        )
        .expect_json(201);
    let id = created["token"]["id"]
        .as_str()
        .expect("token id")
        .to_owned();

    let list = app.get("/tokens", &alice).expect(200);
    let token_page = app.get(&format!("/tokens/{id}"), &alice).expect(200);
    for page in [&list, &token_page] {
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{}: the name is not shown escaped",
            page.request
        );
        assert!(!page.body.contains(name), "{}: raw markup", page.request);
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{}",
            page.request
        );
        for (header, value) in [
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            (
                "content-security-policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ] {
            assert_eq!(
                page.header(header),
                Some(value),
                "{}: {header}",
                page.request
            );
        }
    }
    assert!(
        token_page
            .body
            .contains("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;"),
        "the description is not shown escaped"
    );
    assert!(!token_page.body.contains(description));
}

/// A flood of sign-ins from many addresses cannot stall patd: password work waits in a
/// bounded queue (a full queue is 503 `busy` with `Retry-After` at once) and holds no
/// worker, so `/auth/check` keeps answering throughout — no check waits over a second.
pub(super) fn abuse_a_sign_in_flood_leaves_auth_check_answering(backend: Backend) {
    let app = spawn_binary_behind_proxy(backend);
    let user = app.create_user("member");
    let alice = app.user_session("member");
    let token = app.create_token(&alice, "checker", 7, &["jobs:list"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let base = app.address.clone();
    let flooding = std::sync::atomic::AtomicBool::new(true);
    let (statuses, slowest_check, checks) = std::thread::scope(|scope| {
        let floods: Vec<_> = (0..32_u32)
            .map(|thread| {
                let (agent, base, user) = (agent.clone(), base.clone(), &user);
                scope.spawn(move || {
                    let mut seen = Vec::new();
                    for n in 0..8_u32 {
                        let reply = agent
                            .post(format!("{base}/api/v1/session"))
                            .header("X-Forwarded-For", format!("198.18.{thread}.{n}"))
                            .send_json(json!({"email": user.email, "password": "a wrong password"}))
                            .expect("sign-in request");
                        let retry = reply.headers().get("retry-after").is_some();
                        seen.push((reply.status().as_u16(), retry));
                    }
                    seen
                })
            })
            .collect();
        let checker = scope.spawn(|| {
            let mut slowest = Duration::ZERO;
            let mut checks = 0;
            while flooding.load(std::sync::atomic::Ordering::SeqCst) {
                let started = std::time::Instant::now();
                let reply = agent
                    .get(format!(
                        "{base}/api/v1/auth/check?resource=jobs&operation=list"
                    ))
                    .header("Authorization", format!("Bearer {}", token.secret))
                    .call()
                    .expect("check request");
                assert_eq!(reply.status().as_u16(), 204);
                slowest = slowest.max(started.elapsed());
                checks += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (slowest, checks)
        });
        let statuses: Vec<(u16, bool)> = floods
            .into_iter()
            .flat_map(|flood| flood.join().expect("flood thread"))
            .collect();
        flooding.store(false, std::sync::atomic::Ordering::SeqCst);
        let (slowest, checks) = checker.join().expect("checker thread");
        (statuses, slowest, checks)
    });
    assert!(checks > 0, "the checker ran during the flood");
    assert!(
        slowest_check < Duration::from_secs(1),
        "a check waited {slowest_check:?} during the sign-in flood"
    );
    for (status, retry) in &statuses {
        assert!(
            *status == 401 || (*status == 503 && *retry),
            "a sign-in answered {status} (Retry-After: {retry})"
        );
    }
    assert!(
        statuses.iter().any(|(status, _)| *status == 503),
        "256 concurrent wrong passwords never filled the 16-job queue"
    );
    app.login(&user.email, &user.password);
}
