//! The ceiling for HTTP figures: a hello-world actix-web handler, served like patd
//! (same framework, one worker per core). `scripts/load-bench.sh` drives it with the
//! same load tool and settings as patd's `/api/v1/auth/check`.
//!
//! ```sh
//! cargo run --release -p pat-actix --example hello -- 127.0.0.1:18081
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    HttpServer::new(|| {
        App::new().route(
            "/api/v1/auth/check",
            web::get().to(|| async { HttpResponse::NoContent().finish() }),
        )
    })
    .bind(addr)?
    .run()
    .await
}
