//! `patd serve`: the HTTP server and the reminder loop.

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use pat_actix::{ApiConfig, ApiState};
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::request_log::RequestSpan;
use crate::wiring::{self, WiringError};

/// Reminders sent per pass of the loop, at most.
const REMINDER_BATCH: u32 = 500;

/// Serves until SIGTERM/SIGINT; in-flight requests finish first.
///
/// # Errors
/// [`WiringError`] when start-up fails (database, key, address in use).
pub async fn serve(config: Config) -> Result<(), WiringError> {
    let store = wiring::open_store(&config).await?;
    let service = Arc::new(wiring::service(&config, &store).await?);
    wiring::bootstrap_admin(&config, &service, &store).await?;
    let api = ApiConfig {
        secure_cookies: config.secure_cookies(),
        failed_auths_per_minute: config.failed_auths_per_minute,
        trusted_proxies: config
            .trusted_proxies()
            .map_err(|e| WiringError::Setup(e.to_string()))?,
        public_origin: Some(config.public_origin()),
        ..ApiConfig::default()
    };
    let state = web::Data::new(ApiState::new(service.clone(), api));
    let state_for_metrics = state.clone();
    let state_for_sweep = state.clone();
    let service_data = web::Data::from(service.clone());
    let addr = config.listen_addr();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(service_data.clone())
            // Innermost, so refusals are still counted and logged.
            .wrap(from_fn(pat_actix::request_limits))
            .wrap(from_fn(pat_actix::record_metrics))
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(pat_actix::configure)
            .configure(pat_web::configure)
    })
    .shutdown_timeout(30)
    .bind(addr)
    .map_err(|e| WiringError::Setup(format!("listen: cannot bind {addr}: {e}")))?
    .run();
    tracing::info!(%addr, database = %redacted(&config.database_url()), "patd listening");
    let metrics = match config.metrics_addr() {
        Some(metrics_addr) => {
            let metrics_state = state_for_metrics;
            let metrics_server = HttpServer::new(move || {
                App::new()
                    .app_data(metrics_state.clone())
                    .configure(pat_actix::configure_metrics_listener)
            })
            .workers(1)
            .disable_signals()
            .bind(metrics_addr)
            .map_err(|e| {
                WiringError::Setup(format!("metrics_listen: cannot bind {metrics_addr}: {e}"))
            })?
            .run();
            tracing::info!(%metrics_addr, "metrics listening (no authentication)");
            let handle = metrics_server.handle();
            tokio::spawn(metrics_server);
            Some(handle)
        }
        None => None,
    };

    let reminders = tokio::spawn(reminder_loop(
        service,
        Duration::from_secs(config.notify_interval_secs),
    ));
    let sweeper = tokio::spawn(session_sweep(state_for_sweep));
    let result = server.await;
    reminders.abort();
    sweeper.abort();
    if let Some(metrics) = metrics {
        metrics.stop(true).await;
    }
    result.map_err(|e| WiringError::Setup(format!("server: {e}")))
}

/// How often sessions of users deactivated elsewhere (another instance, the CLI) are
/// ended.
const SESSION_SWEEP: Duration = Duration::from_secs(5);

/// Ends, every [`SESSION_SWEEP`], the sessions of users no longer active.
async fn session_sweep(state: web::Data<ApiState>) {
    let mut ticker = tokio::time::interval(SESSION_SWEEP);
    loop {
        ticker.tick().await;
        match state.sweep_sessions().await {
            Ok(0) => {}
            Ok(users) => tracing::info!(users, "ended the sessions of deactivated users"),
            Err(e) => tracing::warn!(error = %e, "session sweep failed; retrying"),
        }
    }
}

/// Queues due reminders and delivers the outbox every `interval` (at least every
/// 10 s for the outbox, so created-token notices go out promptly), logging — never
/// panicking on — failures.
async fn reminder_loop(service: Arc<pat_core::PatService>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.min(Duration::from_secs(10)));
    loop {
        ticker.tick().await;
        loop {
            match service.send_due_reminders(REMINDER_BATCH).await {
                Ok(run) => {
                    if run != pat_core::ReminderRun::default() {
                        tracing::info!(
                            queued = run.queued,
                            sent = run.sent,
                            retried = run.retried,
                            failed = run.failed,
                            skipped = run.skipped,
                            "notices"
                        );
                    }
                    let busy = run.queued + run.skipped >= REMINDER_BATCH as usize
                        || run.sent + run.retried + run.failed >= REMINDER_BATCH as usize;
                    if !busy {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notice pass failed; retrying next interval");
                    break;
                }
            }
        }
    }
}

/// The URL without its passwords, for logs and messages: the one in the user-info
/// part (`user:secret@`) and any `password=` query parameter (libpq's
/// `?password=secret`).
pub fn redacted(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &base[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
                None => base.to_owned(),
            }
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                    format!("{name}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_hidden_in_logged_urls() {
        assert_eq!(
            redacted("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("sqlite://data/patd.db"), "sqlite://data/patd.db");
        assert_eq!(
            redacted("postgres://u@h/db?sslmode=require&password=secret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redacted("postgres://u:one@h/db?PASSWORD=two"),
            "postgres://u:***@h/db?PASSWORD=***"
        );
    }
}
