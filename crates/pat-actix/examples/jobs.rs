//! A host service that accepts personal access tokens: `GET /api/v1/jobs` needs a token
//! with `jobs:list`.
//!
//! ```sh
//! cargo run -p pat-actix --example jobs          # prints a demo token, listens on :8081
//! curl -H "Authorization: Bearer <token>" "http://127.0.0.1:8081/api/v1/jobs?name=build&page=1&page_size=5"
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use pat_actix::{ApiError, Authenticated, require_scope};
use pat_core::model::{Actor, Role};
use pat_core::ports::RecordingNotifier;
use pat_core::{CreateTokenRequest, NewUser, PatService, ServerKey};
use pat_store_memory::MemoryStore;

const JOBS: [&str; 8] = [
    "build-api",
    "build-web",
    "deploy-api",
    "deploy-web",
    "nightly-backup",
    "test-api",
    "test-web",
    "lint",
];

/// `GET /api/v1/jobs?name=&page=&page_size=`: the jobs whose name contains `name`, paged.
async fn list_jobs(
    caller: Authenticated,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let number = |key: &str, default: usize| -> Result<usize, ApiError> {
        query.get(key).map_or(Ok(default), |v| match v.parse() {
            Ok(n) if n >= 1 && (key != "page_size" || n <= 100) => Ok(n),
            _ => Err(ApiError::unprocessable(
                "invalid_page",
                format!("{key} must be a whole number ≥ 1 (page_size ≤ 100), got {v:?}"),
            )),
        })
    };
    let (page, size) = (number("page", 1)?, number("page_size", 20)?);
    let needle = query
        .get("name")
        .map(|n| n.to_lowercase())
        .unwrap_or_default();
    let matching: Vec<&str> = JOBS
        .iter()
        .copied()
        .filter(|j| j.contains(&needle))
        .collect();
    let items: Vec<serde_json::Value> = matching
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|name| serde_json::json!({ "name": name, "owner": caller.0.user.email }))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items,
        "page": page,
        "page_size": size,
        "total_items": matching.len(),
        "total_pages": matching.len().div_ceil(size),
    })))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let store = Arc::new(MemoryStore::new());
    let service = PatService::builder()
        .storage(pat_core::ports::Storage::from_store(store))
        .notifier(Arc::new(RecordingNotifier::default()))
        .rng(rand::rngs::SysRng)
        .server_key(ServerKey::new(vec![7; 32]).expect("a 32-byte key"))
        .build()
        .expect("every port is set");
    let demo = NewUser {
        email: "demo@example.com".into(),
        name: "Demo".into(),
        role: Role::Member,
    };
    let user = service
        .create_user(None, demo, None)
        .await
        .expect("demo user");
    let request = CreateTokenRequest {
        name: "demo".into(),
        expires_in_days: 7,
        scopes: vec!["jobs:list".into()],
        ..Default::default()
    };
    let issued = service
        .create_token(&Actor::session(user, None), request)
        .await
        .expect("demo token");
    println!("demo token with jobs:list: {}", issued.secret.expose());
    let service = web::Data::new(service);
    let addr = std::env::var("JOBS_LISTEN").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    println!("listening on http://{addr}/api/v1/jobs");
    HttpServer::new(move || {
        App::new().app_data(service.clone()).service(
            web::resource("/api/v1/jobs")
                .wrap(from_fn(require_scope("jobs", "list")))
                .route(web::get().to(list_jobs)),
        )
    })
    .bind(addr)?
    .run()
    .await
}
