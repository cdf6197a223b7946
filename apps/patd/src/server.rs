//! `patd serve`: the HTTP server and the reminder loop.

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use pat_actix::{ApiConfig, ApiState};
use pat_core::cache::{Freshness, VerificationCache};
use pat_core::ports::{Clock, SystemClock};
use pat_store_diesel::watch::ChangeWatcher;
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::request_log::RequestSpan;
use crate::wiring::{self, FirstAdmin, WiringError};

/// Reminders sent per pass of the loop, at most.
const REMINDER_BATCH: u32 = 500;

/// Serves until SIGTERM/SIGINT; in-flight requests finish first.
///
/// # Errors
/// [`WiringError`] when start-up fails (database, key, address in use).
pub async fn serve(config: Config) -> Result<(), WiringError> {
    Application::build(config).await?.run_until_stopped().await
}

/// patd, built and listening, not yet serving: the store migrated, the key checked,
/// the first admin made, the listener (and the metrics listener, if configured) bound.
/// `listen = "127.0.0.1:0"` binds any free port, which [`Application::port`] tells.
pub struct Application {
    server: actix_web::dev::Server,
    port: u16,
    metrics: Option<actix_web::dev::ServerHandle>,
    state: web::Data<ApiState>,
    notify_interval: Duration,
    /// Keeps the verification cache exact while the server runs; stopped on drop.
    watcher: Option<ChangeWatcher>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds patd from `config`: everything `serve` does before it answers requests,
    /// with the first administrator from `PATD_ADMIN_EMAIL` / `PATD_ADMIN_PASSWORD`.
    ///
    /// # Errors
    /// [`WiringError`] when start-up fails (database, key, address in use).
    pub async fn build(config: Config) -> Result<Self, WiringError> {
        Self::build_with(config, FirstAdmin::from_env()).await
    }

    /// [`Application::build`] with the first administrator given, not read from the
    /// environment (several servers in one process, as tests run them).
    ///
    /// # Errors
    /// [`WiringError`] when start-up fails (database, key, address in use).
    pub async fn build_with(config: Config, first_admin: FirstAdmin) -> Result<Self, WiringError> {
        Self::build_with_clock(config, first_admin, Arc::new(SystemClock)).await
    }

    /// [`Application::build_with`] telling the time by `clock`: tests move a manual
    /// clock to see grace periods and sessions end without waiting.
    ///
    /// # Errors
    /// [`WiringError`] when start-up fails (database, key, address in use).
    pub async fn build_with_clock(
        config: Config,
        first_admin: FirstAdmin,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, WiringError> {
        let store = wiring::open_store(&config).await?;
        // The verification cache, and the watcher that keeps it exact across processes.
        let (cache, watcher) = match config.cache_limits() {
            Some(limits) => {
                let cache = Arc::new(VerificationCache::new(limits, Freshness::Watched));
                let watcher = store
                    .watch_changes(cache.clone(), config.watch_options())
                    .map_err(|e| WiringError::Setup(format!("change watcher: {e}")))?;
                (Some(cache), Some(watcher))
            }
            None => (None, None),
        };
        // Told of every token authentication by the service itself.
        let metrics = Arc::new(pat_actix::Metrics::default());
        let service = Arc::new(
            wiring::service(&config, &store, cache.clone(), Some(metrics.clone()), clock).await?,
        );
        wiring::bootstrap_admin(&config, first_admin, &service, &store).await?;
        let api = ApiConfig {
            secure_cookies: config.secure_cookies(),
            trusted_proxies: config
                .trusted_proxies()
                .map_err(|e| WiringError::Setup(e.to_string()))?,
            public_origin: Some(config.public_origin()),
        };
        let state = web::Data::new(ApiState::with_metrics(service.clone(), api, metrics));
        let addr = config.listen_addr();
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| WiringError::Setup(format!("listen: cannot bind {addr}: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| WiringError::Setup(format!("listen: {e}")))?
            .port();
        let app_state = state.clone();
        let service_data = web::Data::from(service.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(service_data.clone())
                // Innermost, so refusals are still counted and logged.
                .wrap(from_fn(pat_actix::request_limits))
                .wrap(from_fn(pat_actix::record_metrics))
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(pat_actix::configure)
                .configure(pat_web::configure)
        })
        .shutdown_timeout(30)
        .listen(listener)
        .map_err(|e| WiringError::Setup(format!("listen: {addr}: {e}")))?
        .run();
        tracing::info!(
            addr = %std::net::SocketAddr::new(addr.ip(), port),
            database = %redacted(&config.database_url()),
            "patd listening"
        );
        let metrics = match config.metrics_addr() {
            Some(metrics_addr) => Some(metrics_listener(state.clone(), metrics_addr)?),
            None => None,
        };
        Ok(Self {
            server,
            port,
            metrics,
            state,
            notify_interval: Duration::from_secs(config.notify_interval_secs),
            watcher,
        })
    }

    /// The port the API listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server (gracefully or not) from outside.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT (or the server is stopped), with the reminder loop
    /// and the session sweep beside it; in-flight requests finish first.
    ///
    /// # Errors
    /// [`WiringError::Setup`] when the server fails.
    pub async fn run_until_stopped(self) -> Result<(), WiringError> {
        let reminders = tokio::spawn(reminder_loop(
            self.state.service.clone(),
            self.notify_interval,
        ));
        let service = self.state.service.clone();
        let flusher = tokio::spawn(last_use_flusher(service.clone()));
        let sweeper = tokio::spawn(session_sweep(self.state));
        let result = self.server.await;
        // Stopped with the server: nothing is answered from the cache any more.
        drop(self.watcher);
        reminders.abort();
        sweeper.abort();
        flusher.abort();
        // The uses noted since the last flush.
        if let Err(e) = service.flush_last_uses().await {
            tracing::warn!(error = %e, "the last uses noted at shutdown could not be written");
        }
        if let Some(metrics) = self.metrics {
            metrics.stop(true).await;
        }
        result.map_err(|e| WiringError::Setup(format!("server: {e}")))
    }
}

/// Starts the metrics-only listener (no authentication) on `addr`.
fn metrics_listener(
    state: web::Data<ApiState>,
    addr: std::net::SocketAddr,
) -> Result<actix_web::dev::ServerHandle, WiringError> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(pat_actix::configure_metrics_listener)
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .map_err(|e| WiringError::Setup(format!("metrics_listen: cannot bind {addr}: {e}")))?
    .run();
    tracing::info!(metrics_addr = %addr, "metrics listening (no authentication)");
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}

/// How often the last uses noted by token checks are written.
const LAST_USE_FLUSH: Duration = Duration::from_secs(1);

/// Writes, every [`LAST_USE_FLUSH`], the last uses token checks noted (in one batch, off
/// the request path).
async fn last_use_flusher(service: Arc<pat_core::PatService>) {
    let mut ticker = tokio::time::interval(LAST_USE_FLUSH);
    loop {
        ticker.tick().await;
        if let Err(e) = service.flush_last_uses().await {
            tracing::warn!(error = %e, "writing last uses failed; retrying");
        }
    }
}

/// How often expired sessions and those of users deactivated elsewhere (another
/// instance, the CLI) are deleted from the store.
const SESSION_SWEEP: Duration = Duration::from_secs(5);

/// Deletes, every [`SESSION_SWEEP`], the sessions that can no longer be used.
async fn session_sweep(state: web::Data<ApiState>) {
    let mut ticker = tokio::time::interval(SESSION_SWEEP);
    loop {
        ticker.tick().await;
        match state.service.sweep_sessions().await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "swept sessions that can no longer be used"),
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
/// part (`user:secret@`, found before the first `/` after the scheme, so a `?` or `#` in
/// the password changes nothing) and any `password=` or `sslpassword=` query parameter
/// (libpq's `?password=secret`).
pub fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let mut out = url[..scheme_end].to_owned();
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials
                .split_once(':')
                .map_or(credentials, |(user, _)| user);
            if credentials.contains(':') {
                out.push_str(&format!("{user}:***@{host}"));
            } else {
                out.push_str(authority);
            }
        }
        None => out.push_str(authority),
    }
    let rest = &url[authority_end..];
    match rest.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((name, _))
                        if name.eq_ignore_ascii_case("password")
                            || name.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{name}=***")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(rest),
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
        assert_eq!(
            redacted("postgres://patd:pa?ss#w@db/patd?sslpassword=k"),
            "postgres://patd:***@db/patd?sslpassword=***"
        );
        assert_eq!(redacted("postgres://h:5432/db"), "postgres://h:5432/db");
    }
}
