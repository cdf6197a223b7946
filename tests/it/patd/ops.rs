//! What operators and API clients rely on outside the token API: health, readiness,
//! metrics, the OpenAPI document and its Swagger UI.

use super::harness::{Auth, Backend, Reply, free_port, spawn_app, spawn_app_with};

/// `/healthz` and `/readyz` answer 200; `/metrics` is Prometheus text with a counter,
/// for an admin.
pub(super) fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend);
    app.get("/healthz", Auth::Anonymous).expect(200);
    app.get("/readyz", Auth::Anonymous).expect(200);
    // Some traffic so request counters have samples.
    app.get("/api/v1/me", &app.admin).expect(200);
    let metrics = app.get("/metrics", &app.admin).expect(200);
    assert_prometheus_text(&metrics);
}

fn assert_prometheus_text(metrics: &Reply) {
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "Prometheus text format, got {content_type:?}"
    );
    let counters: Vec<&str> = metrics
        .body
        .lines()
        .filter(|line| line.starts_with("# TYPE ") && line.trim_end().ends_with(" counter"))
        .collect();
    assert!(
        !counters.is_empty(),
        "no `# TYPE <name> counter` line in /metrics:\n{}",
        metrics.body
    );
    let name = counters[0].split_whitespace().nth(2).expect("metric name");
    assert!(
        metrics
            .body
            .lines()
            .any(|line| !line.starts_with('#') && line.starts_with(name)),
        "counter {name} has no sample line:\n{}",
        metrics.body
    );
}

/// `/metrics` tells authentication failures apart by reason, so on the API's address
/// it answers only an admin's session or an admin's token with `admin:read`; a
/// metrics-only listener (`PATD_METRICS_LISTEN`) serves it without credentials; made-up
/// methods are counted as `OTHER`, never as series of their own.
pub(super) fn metrics_are_for_admins_or_a_private_listener_and_bounded(backend: Backend) {
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let app = spawn_app_with(backend, &[("PATD_METRICS_LISTEN", &metrics_listen)]);
    app.get("/metrics", Auth::Anonymous)
        .expect_problem(401, "unauthenticated");
    let member = app.user_session("member");
    app.get("/metrics", &member)
        .expect_problem(403, "forbidden");
    let no_admin_scope = app.create_token(&app.admin, "no admin scope", 7, &["jobs:list"]);
    app.get("/metrics", Auth::Bearer(&no_admin_scope.secret))
        .expect_problem(403, "missing_scope");
    let reader = app.create_token(&app.admin, "metrics reader", 7, &["admin:read"]);
    app.get("/metrics", Auth::Bearer(&reader.secret))
        .expect(200);

    for made_up in ["BREW", "FOO1", "FOO2", "FOO3"] {
        let status = raw_request_status(&app.address, made_up, "/api/v1/me");
        assert!((400..500).contains(&status), "{made_up}: {status}");
    }
    let body = app.get("/metrics", &app.admin).expect(200).body;
    let methods: std::collections::BTreeSet<&str> = body
        .lines()
        .filter_map(|line| line.strip_prefix("patd_http_requests_total{method=\""))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(methods.contains("OTHER"), "{body}");
    for label in &methods {
        assert!(
            [
                "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"
            ]
            .contains(label),
            "method label {label:?} outside the bounded set:\n{body}"
        );
    }

    let private = super::harness::get_url(&format!("http://{metrics_listen}/metrics"), &[]);
    assert_eq!(private.status, 200, "{private:?}");
    assert_prometheus_text(&private);
    assert!(
        private.body.contains("patd_http_requests_total"),
        "the same counters as the API's /metrics"
    );
}

/// `/api/v1/openapi.json` is an OpenAPI 3 document listing the token endpoints.
pub(super) fn openapi_document_is_openapi_3_and_lists_the_tokens_path(backend: Backend) {
    let app = spawn_app(backend);
    let doc = app
        .get("/api/v1/openapi.json", Auth::Anonymous)
        .expect_json(200);
    let version = doc["openapi"].as_str().expect("openapi version string");
    assert!(version.starts_with("3."), "OpenAPI 3, got {version}");
    let paths = doc["paths"].as_object().expect("paths object");
    let tokens = paths.get("/api/v1/tokens").unwrap_or_else(|| {
        panic!(
            "/api/v1/tokens not in {:?}",
            paths.keys().collect::<Vec<_>>()
        )
    });
    for method in ["get", "post", "delete"] {
        assert!(
            tokens.get(method).is_some(),
            "/api/v1/tokens lacks {method}"
        );
    }
    for path in [
        "/api/v1/tokens/{id}",
        "/api/v1/auth/check",
        "/api/v1/introspect",
    ] {
        assert!(paths.contains_key(path), "{path} not documented");
    }
}

/// `/api/docs` serves the Swagger UI page.
pub(super) fn swagger_ui_is_served_at_api_docs(backend: Backend) {
    let app = spawn_app(backend);
    let page = app.get("/api/docs/", Auth::Anonymous).expect(200);
    let content_type = page.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "HTML, got {content_type:?}"
    );
    assert!(
        page.body.to_ascii_lowercase().contains("swagger"),
        "not the Swagger UI:\n{}",
        page.body
    );
    assert!(
        !page.body.contains("cdn.") && !page.body.contains("unpkg.com"),
        "assets are vendored, not loaded from a CDN"
    );
    // The bare path answers too (directly or by redirect, which the client follows).
    app.get("/api/docs", Auth::Anonymous).expect(200);
}

/// Sends `METHOD path HTTP/1.1` with no body over a fresh connection (HTTP clients
/// refuse made-up methods); returns the status code.
fn raw_request_status(address: &str, method: &str, path: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let host = address.strip_prefix("http://").expect("http://host:port");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to patd");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}
