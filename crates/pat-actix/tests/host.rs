//! A host service guarding its own routes with `require_scope` and `Authenticated`.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, test, web};
use base64::Engine;
use pat_actix::{Authenticated, require_scope};
use pat_core::model::{Actor, Role};
use pat_core::ports::RecordingNotifier;
use pat_core::{CreateTokenRequest, NewUser, PatService, ServerKey};
use pat_store_memory::MemoryStore;

async fn service_with_token(scopes: &[&str]) -> (PatService, String) {
    let service = PatService::builder()
        .storage(pat_core::ports::Storage::from_store(Arc::new(
            MemoryStore::new(),
        )))
        .notifier(Arc::new(RecordingNotifier::default()))
        .rng(rand::rngs::SysRng)
        .server_key(ServerKey::new(vec![1; 32]).unwrap())
        .failed_auths_per_minute(3)
        .build()
        .unwrap();
    let user = service
        .create_user(
            None,
            NewUser {
                email: "host@example.com".into(),
                name: "Host".into(),
                role: Role::Member,
            },
            None,
        )
        .await
        .unwrap();
    let issued = service
        .create_token(
            &Actor::session(user, None),
            CreateTokenRequest {
                name: "t".into(),
                expires_in_days: 1,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    (service, issued.secret.expose().to_owned())
}

async fn whoami(caller: Authenticated) -> HttpResponse {
    HttpResponse::Ok().body(caller.0.user.email)
}

macro_rules! host_app {
    ($service:expr) => {
        test::init_service(
            App::new().app_data(web::Data::new($service)).service(
                web::resource("/jobs")
                    .wrap(from_fn(require_scope("jobs", "list")))
                    .route(web::get().to(whoami)),
            ),
        )
        .await
    };
}

#[actix_web::test]
async fn a_token_with_the_scope_passes_as_bearer_and_as_basic() {
    let (service, secret) = service_with_token(&["jobs:list"]).await;
    let app = host_app!(service);
    let bearer = test::TestRequest::get()
        .uri("/jobs")
        .insert_header(("Authorization", format!("Bearer {secret}")))
        .to_request();
    let body = test::call_and_read_body(&app, bearer).await;
    assert_eq!(body, "host@example.com");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("git:{secret}"));
    let request = test::TestRequest::get()
        .uri("/jobs")
        .insert_header(("Authorization", format!("Basic {basic}")))
        .to_request();
    assert_eq!(test::call_service(&app, request).await.status(), 200);
}

#[actix_web::test]
async fn missing_wrong_or_unscoped_tokens_are_refused_with_problem_json() {
    let (service, secret) = service_with_token(&["jobs:read"]).await;
    let app = host_app!(service);
    let cases = [
        (None, 401, "unauthenticated"),
        (Some("Bearer pat_nope".to_owned()), 401, "invalid_token"),
        (Some("Token abc".to_owned()), 401, "invalid_token"),
        (Some(format!("Bearer {secret}")), 403, "missing_scope"),
    ];
    for (header, status, code) in cases {
        let mut request = test::TestRequest::get().uri("/jobs");
        if let Some(value) = header {
            request = request.insert_header(("Authorization", value));
        }
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status().as_u16(), status, "{code}");
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["code"], code);
    }
}

#[actix_web::test]
async fn with_only_the_service_registered_failed_tokens_from_one_address_are_limited() {
    // The limit is the service's own: a host that registers no ApiState gets it too.
    let (service, secret) = service_with_token(&["jobs:list"]).await;
    let service = Arc::new(service);
    let app = test::init_service(
        App::new()
            .app_data(web::Data::from(service))
            .service(
                web::resource("/jobs")
                    .wrap(from_fn(require_scope("jobs", "list")))
                    .route(web::get().to(whoami)),
            )
            .route("/me", web::get().to(whoami)),
    )
    .await;
    let from = |peer: &str, path: &str, token: &str| {
        test::TestRequest::get()
            .uri(path)
            .peer_addr(peer.parse().unwrap())
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    for _ in 0..3 {
        let response = test::call_service(&app, from("10.0.0.1:4000", "/jobs", "pat_nope")).await;
        assert_eq!(response.status(), 401);
    }
    // The Authenticated extractor and require_scope both refuse the address now, even
    // with a valid token.
    for path in ["/jobs", "/me"] {
        let response = test::call_service(&app, from("10.0.0.1:4001", path, &secret)).await;
        assert_eq!(response.status(), 429, "{path}");
        assert!(response.headers().contains_key("retry-after"));
        let body: serde_json::Value = test::read_body_json(response).await;
        assert_eq!(body["code"], "rate_limited");
    }
    let response = test::call_service(&app, from("10.0.0.2:4000", "/jobs", &secret)).await;
    assert_eq!(response.status(), 200, "another address is not limited");
}

/// A host's write route refuses Basic credentials a browser attached from another site
/// (they are ambient once a 401 offered Basic); Bearer and same-site Basic pass.
#[actix_web::test]
async fn a_cross_site_write_with_basic_credentials_is_refused() {
    let (service, secret) = service_with_token(&["jobs:list"]).await;
    let app = test::init_service(
        App::new().app_data(web::Data::new(service)).service(
            web::resource("/jobs")
                .wrap(from_fn(require_scope("jobs", "list")))
                .route(web::post().to(whoami)),
        ),
    )
    .await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("x:{secret}"))
    );
    let post = |authorization: &str, site: &str| {
        test::TestRequest::post()
            .uri("/jobs")
            .insert_header(("Authorization", authorization.to_owned()))
            .insert_header(("Sec-Fetch-Site", site.to_owned()))
            .to_request()
    };
    let refused = test::call_service(&app, post(&basic, "cross-site")).await;
    assert_eq!(refused.status(), 403);
    let same = test::call_service(&app, post(&basic, "same-origin")).await;
    assert_eq!(same.status(), 200);
    let bearer = test::call_service(&app, post(&format!("Bearer {secret}"), "cross-site")).await;
    assert_eq!(bearer.status(), 200, "a Bearer token is never ambient");
}
