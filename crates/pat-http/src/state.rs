//! What the REST API and the web UI share across requests: the service, settings and
//! metrics.
//! Nothing here is per instance but the metrics: sessions and limits are in the store.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use pat_core::PatService;
use pat_core::ports::{AuthObserver, AuthOutcome};
use pat_core::session::SessionSecret;

use crate::sessions::{SECURE_SESSION_COOKIE, SESSION_COOKIE};

/// API settings a host chooses.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Mark the session cookie `Secure` and name it with the `__Host-` prefix
    /// ([`SECURE_SESSION_COOKIE`](crate::SECURE_SESSION_COOKIE)): behind HTTPS.
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed: when the TCP peer is one
    /// of them, the client address is taken from that header (see
    /// [`client_ip`](crate::client_ip)). Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// The origin browsers see the server at (`https://patd.example`), accepted as a
    /// cookie-authenticated write's `Origin` besides the request's own `Host`.
    pub public_origin: Option<String>,
}

/// Shared state of the REST API and the web UI (register it with `App::app_data`).
pub struct ApiState {
    /// The domain service (sessions included).
    pub service: Arc<PatService>,
    /// Request and authentication counters (the service tells it each authentication's
    /// outcome when it was built with it as its observer).
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: ApiConfig,
}

impl ApiState {
    /// State over `service` with `config`, and metrics of its own.
    pub fn new(service: Arc<PatService>, config: ApiConfig) -> Self {
        Self::with_metrics(service, config, Arc::new(Metrics::default()))
    }

    /// State over `service` with `config`, counting into `metrics` — the observer the
    /// service was built with, so its authentication outcomes are counted too.
    pub fn with_metrics(
        service: Arc<PatService>,
        config: ApiConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            service,
            metrics,
            config,
        }
    }

    /// The session cookie's name: `__Host-patd_session` with secure cookies (the
    /// browser then keeps it only if it is `Secure`, host-only and for `/`), else
    /// `patd_session`.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.config.secure_cookies {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The session cookie for a new session: HTTP-only, `SameSite=Strict`, `Path=/`,
    /// and `Secure` with the `__Host-` name when configured.
    pub fn session_cookie(&self, secret: &SessionSecret) -> Cookie<'static> {
        Cookie::build(self.session_cookie_name(), secret.expose().to_owned())
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.config.secure_cookies)
            .finish()
    }

    /// A cookie that removes the session cookie from the browser.
    pub fn session_removal_cookie(&self) -> Cookie<'static> {
        let mut gone = Cookie::build(self.session_cookie_name(), "")
            .path("/")
            .secure(self.config.secure_cookies)
            .finish();
        gone.make_removal();
        gone
    }
}

const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Debug, Default)]
struct MetricsData {
    /// By method label, matched route pattern and status: each set is bounded (the
    /// standard methods and `OTHER`, the registered routes and `unmatched`, statuses).
    requests: BTreeMap<(&'static str, String, u16), u64>,
    latency_buckets: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
    auth: BTreeMap<&'static str, u64>,
}

/// Prometheus counters: requests by route and status, latency, authentication outcomes.
#[derive(Debug, Default)]
pub struct Metrics {
    data: Mutex<MetricsData>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, MetricsData> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one finished request.
    pub fn request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut data = self.lock();
        let key = (method, route.to_owned(), status);
        *data.requests.entry(key).or_default() += 1;
        for (bucket, bound) in data.latency_buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        data.latency_sum += seconds;
        data.latency_count += 1;
    }

    /// Counts one token authentication by outcome (`success` or the failure reason).
    pub fn auth_outcome(&self, outcome: &'static str) {
        *self.lock().auth.entry(outcome).or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let data = self.lock();
        let mut out = String::new();
        out.push_str(
            "# HELP patd_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE patd_http_requests_total counter\n");
        for ((method, route, status), count) in &data.requests {
            let _ = writeln!(
                out,
                "patd_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP patd_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE patd_http_request_duration_seconds histogram\n");
        for (bound, count) in LATENCY_BUCKETS.iter().zip(data.latency_buckets) {
            let _ = writeln!(
                out,
                "patd_http_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "patd_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            data.latency_count
        );
        let _ = writeln!(
            out,
            "patd_http_request_duration_seconds_sum {}",
            data.latency_sum
        );
        let _ = writeln!(
            out,
            "patd_http_request_duration_seconds_count {}",
            data.latency_count
        );
        out.push_str("# HELP patd_token_authentications_total Token authentications by outcome.\n");
        out.push_str("# TYPE patd_token_authentications_total counter\n");
        for (outcome, count) in &data.auth {
            let _ = writeln!(
                out,
                "patd_token_authentications_total{{outcome=\"{outcome}\"}} {count}"
            );
        }
        out
    }
}

impl AuthObserver for Metrics {
    fn outcome(&self, outcome: AuthOutcome) {
        self.auth_outcome(outcome.as_str());
    }

    fn address_refused(&self, ip: IpAddr) {
        tracing::warn!(
            client_ip = %ip,
            "too many failed token authentications; refusing this address until its window ends"
        );
    }
}
