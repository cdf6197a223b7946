//! What operators and API clients rely on outside the token API: health, readiness,
//! metrics, the OpenAPI document and its Swagger UI.

use super::harness::{Auth, Backend, spawn_app};

/// `/healthz` and `/readyz` answer 200; `/metrics` is Prometheus text with a counter.
pub(super) fn health_readiness_and_metrics_answer(backend: Backend) {
    let app = spawn_app(backend);
    app.get("/healthz", Auth::Anonymous).expect(200);
    app.get("/readyz", Auth::Anonymous).expect(200);
    // Some traffic so request counters have samples.
    app.get("/api/v1/me", &app.admin).expect(200);
    let metrics = app.get("/metrics", Auth::Anonymous).expect(200);
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
