//! What the REST API shares across requests: the service, sessions, rate limits,
//! metrics and password hashing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use pat_core::PatService;
use pat_core::model::User;

use pat_core::limits::RateLimiter;
use pat_core::ports::{AuthObserver, AuthOutcome};

use crate::passwords::{on_password_thread, verify_password};
use crate::problem::ApiError;
use crate::sessions::{NewSession, SECURE_SESSION_COOKIE, SESSION_COOKIE, SessionStore};

/// API settings a host chooses.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Mark the session cookie `Secure` and name it with the `__Host-` prefix
    /// ([`SECURE_SESSION_COOKIE`](crate::SECURE_SESSION_COOKIE)): behind HTTPS.
    pub secure_cookies: bool,
    /// How long a session lasts after login.
    pub session_ttl: Duration,
    /// Leak reports accepted per client address (IPv6: per /64) per hour.
    pub leak_reports_per_hour: u32,
    /// Sign-in attempts accepted per client address (IPv6: per /64) per minute.
    pub logins_per_minute: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed: when the TCP peer is one
    /// of them, the client address is taken from that header (see
    /// [`client_ip`](crate::client_ip)). Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// The origin browsers see the server at (`https://patd.example`), accepted as a
    /// cookie-authenticated write's `Origin` besides the request's own `Host`.
    pub public_origin: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            secure_cookies: false,
            session_ttl: Duration::from_secs(12 * 3600),
            // GitHub's figure for its public token-revocation API.
            leak_reports_per_hour: 60,
            logins_per_minute: 30,
            trusted_proxies: Vec::new(),
            public_origin: None,
        }
    }
}

/// Shared state of the REST API.
pub struct ApiState {
    /// The domain service.
    pub service: Arc<PatService>,
    /// Browser sessions.
    pub sessions: SessionStore,
    /// Request and authentication counters (the service tells it each authentication's
    /// outcome when it was built with it as its observer).
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: ApiConfig,
    pub(crate) leak_limiter: RateLimiter,
    pub(crate) login_limiter: RateLimiter,
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
            sessions: SessionStore::new(config.session_ttl),
            metrics,
            leak_limiter: RateLimiter::new(config.leak_reports_per_hour, Duration::from_secs(3600)),
            login_limiter: RateLimiter::new(config.logins_per_minute, Duration::from_secs(60)),
            config,
        }
    }
}

impl ApiState {
    /// Counts a login attempt from `ip` against the per-address limit.
    ///
    /// # Errors
    /// `rate_limited` with the seconds until attempts are accepted again.
    pub fn check_login_rate(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        Ok(self.login_limiter.check(ip)?)
    }

    /// Checks an email and password and starts a session: the one sign-in path of the
    /// API and the web UI. Unknown emails cost the same work as wrong passwords.
    ///
    /// # Errors
    /// 401 `invalid_credentials` for an unknown email, a wrong password or a
    /// deactivated user (one answer for all three).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
    ) -> Result<(User, NewSession), ApiError> {
        let refused = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the email or password is wrong",
            )
        };
        let found = self.service.login_credentials(email).await?;
        // Unknown emails cost the same check against a dummy hash.
        let hash = found
            .as_ref()
            .and_then(|f| f.password_hash.clone())
            .unwrap_or_else(|| DUMMY_HASH.to_owned());
        let password = password.to_owned();
        let matches = on_password_thread(move || verify_password(&password, &hash)).await?;
        let Some(found) = found else {
            return Err(refused());
        };
        let valid = matches && found.password_hash.is_some();
        if !valid || !found.user.active {
            return Err(refused());
        }
        let session = self.sessions.start(found.user.id)?;
        Ok((found.user, session))
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

    /// The session cookie for `session`: HTTP-only, `SameSite=Strict`, `Path=/`, and
    /// `Secure` with the `__Host-` name when configured.
    pub fn session_cookie(&self, session: &NewSession) -> Cookie<'static> {
        Cookie::build(self.session_cookie_name(), session.id.clone())
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

    /// Ends the sessions of users who were deactivated or deleted meanwhile, by any
    /// instance or the CLI. Call it every few seconds (`patd` does): a session is then
    /// ended without waiting for its next use. Returns how many users' sessions ended.
    ///
    /// # Errors
    /// The store's, when a user cannot be read (the rest are still swept).
    pub async fn sweep_sessions(&self) -> Result<usize, ApiError> {
        let mut ended = 0;
        let mut failure = None;
        for user in self.sessions.users() {
            match self.service.user(user).await {
                Ok(Some(found)) if found.active => {}
                Ok(_) => {
                    self.sessions.end_all_for(user);
                    ended += 1;
                }
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(ended),
        }
    }
}

/// An argon2id hash of a random password: verified against when the email is unknown,
/// so timing does not tell which emails exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0oWWBo6RkdBp7rvZfo8l4vm7HMTNhqH9yn+tFOXxXdE";

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
        out.push_str(
            "# HELP patd_password_hashes_total argon2 runs (password hashes and checks).\n",
        );
        out.push_str("# TYPE patd_password_hashes_total counter\n");
        let _ = writeln!(
            out,
            "patd_password_hashes_total {}",
            crate::passwords::password_hashes()
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
