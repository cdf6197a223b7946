//! Layered configuration: defaults < `patd.toml` < `PATD_*` environment variables.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Why the configuration cannot be used. Every message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read into the expected types.
    #[error("configuration error: {0}")]
    Read(String),
    /// A value is out of its allowed range or form.
    #[error("configuration key {key} = {value:?} is invalid: {allowed}")]
    Invalid {
        /// The key, as in patd.toml (env: `PATD_` + upper case).
        key: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
}

/// Every configuration key, as in patd.toml (env: `PATD_` + upper case).
pub const KEYS: [&str; 28] = [
    "listen",
    "metrics_listen",
    "data_dir",
    "database_url",
    "token_key",
    "token_key_file",
    "previous_token_keys",
    "token_prefix",
    "smtp_url",
    "mail_from",
    "public_url",
    "notify_interval_secs",
    "log_format",
    "scope_resources",
    "secure_cookies",
    "failed_auths_per_minute",
    "session_hours",
    "session_idle_minutes",
    "sign_ins_per_minute",
    "leak_reports_per_hour",
    "trusted_proxies",
    "auth_cache_ms",
    "auth_cache_entries",
    "auth_cache_mib",
    "auth_cache_refusals",
    "change_poll_ms",
    "change_bound_ms",
    "sqlite_cache_kib",
];

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Every setting of patd. Its `Debug` hides the server keys and the passwords in the
/// database and SMTP URLs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`PATD_LISTEN`).
    pub listen: String,
    /// Address of a second listener that serves only `/metrics`, without
    /// authentication (`PATD_METRICS_LISTEN`); keep it on a private network. On the
    /// main address `/metrics` answers only admins (a token needs `admin:read`).
    pub metrics_listen: Option<String>,
    /// Folder for the SQLite database and the generated key file (`PATD_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://path` or `postgres://…`; default `sqlite://<data_dir>/patd.db`.
    pub database_url: Option<String>,
    /// The server key, base64 (`PATD_TOKEN_KEY`); else `token_key_file`.
    pub token_key: Option<String>,
    /// File holding the base64 server key; default `<data_dir>/token.key`, generated
    /// (mode 0600) when absent.
    pub token_key_file: Option<PathBuf>,
    /// Older keys (base64, comma-separated) whose tokens still authenticate.
    pub previous_token_keys: Option<String>,
    /// Token prefix, `[a-z][a-z0-9]{1,7}` (`PATD_TOKEN_PREFIX`).
    pub token_prefix: String,
    /// `smtp://user:pass@host:port` or `smtps://…`; none = notices go to the log.
    pub smtp_url: Option<String>,
    /// Sender address for mail.
    pub mail_from: String,
    /// Public base URL, for links in mail.
    pub public_url: String,
    /// Seconds between reminder runs (1..=86400).
    pub notify_interval_secs: u64,
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// Allowed scope resources, comma-separated; none = any well-formed name.
    pub scope_resources: Option<String>,
    /// Mark session cookies `Secure` and name them `__Host-patd_session`; unset, they
    /// are secure exactly when `public_url` is `https://…`.
    pub secure_cookies: Option<bool>,
    /// Failed token authentications accepted per client address per minute before
    /// that address is refused with 429 until the minute ends (0..=1000000; 0 = off).
    pub failed_auths_per_minute: u32,
    /// A browser session ends this many hours after sign-in, however busy (1..=720).
    pub session_hours: u32,
    /// A browser session ends after this many minutes unused (5..=43200).
    pub session_idle_minutes: u32,
    /// Sign-in attempts per client address per minute, counted in the database so
    /// every instance shares them (0..=10000; 0 = off).
    pub sign_ins_per_minute: u32,
    /// Leak reports per client address per hour, counted in the database (0..=100000;
    /// 0 = off).
    pub leak_reports_per_hour: u32,
    /// Reverse proxies (IP addresses, comma-separated) whose `X-Forwarded-For` names
    /// the client; none = the TCP peer is the client.
    pub trusted_proxies: Option<String>,
    /// Gone: the verification cache is exact and on by default. Only `0` is still
    /// accepted, to turn the cache off (for debugging).
    pub auth_cache_ms: Option<u32>,
    /// Most tokens the verification cache keeps (0..=10000000; 0 = no cache).
    pub auth_cache_entries: u32,
    /// Most memory those tokens take, in MiB (1..=4096).
    pub auth_cache_mib: u32,
    /// Most refused secrets (unknown, revoked, expired) it keeps apart from them
    /// (1..=10000000).
    pub auth_cache_refusals: u32,
    /// How often the change watcher looks for changes other processes committed, in
    /// milliseconds (1..=1000): the usual delay before they apply here.
    pub change_poll_ms: u32,
    /// The longest a change made elsewhere can go unseen here, whatever fails, in
    /// milliseconds (100..=60000, at least 4 × `change_poll_ms`): past it without word
    /// from the watcher, every check reads the database.
    pub change_bound_ms: u32,
    /// Page cache of each pooled SQLite connection, in KiB (16..=1048576); ignored for
    /// PostgreSQL.
    pub sqlite_cache_kib: u32,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |key: &Option<String>| key.as_ref().map(|_| "<redacted>");
        let url = |url: &Option<String>| url.as_deref().map(crate::server::redacted);
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &url(&self.database_url))
            .field("token_key", &hidden(&self.token_key))
            .field("token_key_file", &self.token_key_file)
            .field("previous_token_keys", &hidden(&self.previous_token_keys))
            .field("token_prefix", &self.token_prefix)
            .field("smtp_url", &url(&self.smtp_url))
            .field("mail_from", &self.mail_from)
            .field("public_url", &self.public_url)
            .field("notify_interval_secs", &self.notify_interval_secs)
            .field("log_format", &self.log_format)
            .field("scope_resources", &self.scope_resources)
            .field("secure_cookies", &self.secure_cookies)
            .field("failed_auths_per_minute", &self.failed_auths_per_minute)
            .field("session_hours", &self.session_hours)
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("sign_ins_per_minute", &self.sign_ins_per_minute)
            .field("leak_reports_per_hour", &self.leak_reports_per_hour)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("auth_cache_ms", &self.auth_cache_ms)
            .field("auth_cache_entries", &self.auth_cache_entries)
            .field("auth_cache_mib", &self.auth_cache_mib)
            .field("auth_cache_refusals", &self.auth_cache_refusals)
            .field("change_poll_ms", &self.change_poll_ms)
            .field("change_bound_ms", &self.change_bound_ms)
            .field("sqlite_cache_kib", &self.sqlite_cache_kib)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            metrics_listen: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            token_key: None,
            token_key_file: None,
            previous_token_keys: None,
            token_prefix: pat_core::token::DEFAULT_PREFIX.to_owned(),
            smtp_url: None,
            mail_from: "patd@localhost".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            notify_interval_secs: 300,
            log_format: LogFormat::Pretty,
            scope_resources: None,
            secure_cookies: None,
            failed_auths_per_minute: 60,
            session_hours: 12,
            session_idle_minutes: 120,
            sign_ins_per_minute: 30,
            leak_reports_per_hour: 60,
            trusted_proxies: None,
            auth_cache_ms: None,
            auth_cache_entries: 100_000,
            auth_cache_mib: 64,
            auth_cache_refusals: 100_000,
            change_poll_ms: 5,
            change_bound_ms: 1000,
            sqlite_cache_kib: pat_store_diesel::DEFAULT_SQLITE_CACHE_KIB,
        }
    }
}

impl Config {
    /// The verification cache's limits, or `None` when it is off.
    pub fn cache_limits(&self) -> Option<pat_core::cache::CacheLimits> {
        let off = self.auth_cache_ms == Some(0) || self.auth_cache_entries == 0;
        (!off).then(|| pat_core::cache::CacheLimits {
            max_entries: self.auth_cache_entries as usize,
            max_bytes: u64::from(self.auth_cache_mib) * 1024 * 1024,
            max_refusals: self.auth_cache_refusals as usize,
        })
    }

    /// Session lifetimes and the limits counted in the database.
    pub fn session_limits(&self) -> pat_core::session::SessionLimits {
        pat_core::session::SessionLimits {
            absolute: std::time::Duration::from_secs(u64::from(self.session_hours) * 3600),
            idle: std::time::Duration::from_secs(u64::from(self.session_idle_minutes) * 60),
            sign_ins_per_minute: self.sign_ins_per_minute,
            leak_reports_per_hour: self.leak_reports_per_hour,
            ..pat_core::session::SessionLimits::default()
        }
    }

    /// How the change watcher polls, and the bound it keeps.
    pub fn watch_options(&self) -> pat_store_diesel::watch::WatchOptions {
        pat_store_diesel::watch::WatchOptions {
            poll: std::time::Duration::from_millis(u64::from(self.change_poll_ms)),
            bound: std::time::Duration::from_millis(u64::from(self.change_bound_ms)),
        }
    }

    /// Reads defaults, then `file` (if it exists), then `PATD_*` variables, and checks
    /// every value.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key and what is allowed.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            // Only known keys: other PATD_* variables (admin bootstrap, tooling) are not config.
            .merge(
                Env::prefixed("PATD_")
                    .filter(|key| KEYS.iter().any(|k| key.as_str().eq_ignore_ascii_case(k))),
            )
            .extract()
            .map_err(|errors| ConfigError::Read(describe(errors)))?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults, then `PATD_*` values given as `(name, value)` pairs instead of read
    /// from the environment, checked like [`Config::load`]'s (an in-process server in
    /// tests: several in one process, each with its own values). Other names are
    /// ignored, as `load` ignores unknown variables.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key and what is allowed.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for (name, value) in pairs {
            let Some(key) = name.strip_prefix("PATD_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if KEYS.contains(&key.as_str()) {
                // Parsed as the environment provider parses a variable's text.
                let value: figment::value::Value =
                    value.parse().unwrap_or_else(|never| match never {});
                figment = figment.merge(Serialized::default(&key, value));
            }
        }
        let config: Config = figment
            .extract()
            .map_err(|errors| ConfigError::Read(describe(errors)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|_| ConfigError::Invalid {
                key: "listen",
                value: self.listen.clone(),
                allowed: "an IP address and port, e.g. 127.0.0.1:8080".to_owned(),
            })?;
        if let Some(metrics) = &self.metrics_listen {
            metrics
                .parse::<SocketAddr>()
                .map_err(|_| ConfigError::Invalid {
                    key: "metrics_listen",
                    value: metrics.clone(),
                    allowed: "an IP address and port, e.g. 127.0.0.1:9090".to_owned(),
                })?;
        }
        pat_core::TokenCodec::new(&self.token_prefix).map_err(|e| ConfigError::Invalid {
            key: "token_prefix",
            value: self.token_prefix.clone(),
            allowed: e.to_string(),
        })?;
        if !(1..=86_400).contains(&self.notify_interval_secs) {
            return Err(ConfigError::Invalid {
                key: "notify_interval_secs",
                value: self.notify_interval_secs.to_string(),
                allowed: "a whole number of seconds from 1 to 86400".to_owned(),
            });
        }
        let url = self.database_url();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::Invalid {
                key: "database_url",
                value: crate::server::redacted(&url),
                allowed:
                    "sqlite://path/to/file.db, sqlite::memory: or postgres://user:pass@host/db"
                        .to_owned(),
            });
        }
        if self.failed_auths_per_minute > 1_000_000 {
            return Err(ConfigError::Invalid {
                key: "failed_auths_per_minute",
                value: self.failed_auths_per_minute.to_string(),
                allowed: "a whole number from 0 (no limit) to 1000000".to_owned(),
            });
        }
        if let Some(ms) = self.auth_cache_ms.filter(|ms| *ms != 0) {
            return Err(ConfigError::Invalid {
                key: "auth_cache_ms",
                value: ms.to_string(),
                allowed: "only 0, to turn the cache off: the verification cache is now exact \
                          and on by default (size it with auth_cache_entries; \
                          change_bound_ms bounds how long another process's change can \
                          go unseen)"
                    .to_owned(),
            });
        }
        let ranges: [(&'static str, u32, u32, u32); 9] = [
            ("session_hours", self.session_hours, 1, 720),
            ("session_idle_minutes", self.session_idle_minutes, 5, 43_200),
            ("sign_ins_per_minute", self.sign_ins_per_minute, 0, 10_000),
            (
                "leak_reports_per_hour",
                self.leak_reports_per_hour,
                0,
                100_000,
            ),
            ("auth_cache_entries", self.auth_cache_entries, 0, 10_000_000),
            ("auth_cache_mib", self.auth_cache_mib, 1, 4096),
            (
                "auth_cache_refusals",
                self.auth_cache_refusals,
                1,
                10_000_000,
            ),
            ("change_poll_ms", self.change_poll_ms, 1, 1000),
            ("change_bound_ms", self.change_bound_ms, 100, 60_000),
        ];
        for (key, value, low, high) in ranges {
            if !(low..=high).contains(&value) {
                return Err(ConfigError::Invalid {
                    key,
                    value: value.to_string(),
                    allowed: format!("a whole number from {low} to {high}"),
                });
            }
        }
        if self.change_bound_ms < 4 * self.change_poll_ms {
            return Err(ConfigError::Invalid {
                key: "change_bound_ms",
                value: self.change_bound_ms.to_string(),
                allowed: format!(
                    "at least 4 × change_poll_ms ({}), so the watcher confirms in time",
                    4 * self.change_poll_ms
                ),
            });
        }
        if !(16..=1_048_576).contains(&self.sqlite_cache_kib) {
            return Err(ConfigError::Invalid {
                key: "sqlite_cache_kib",
                value: self.sqlite_cache_kib.to_string(),
                allowed: "a whole number of KiB from 16 to 1048576 (1 GiB)".to_owned(),
            });
        }
        self.trusted_proxies()?;
        if let Some(resources) = &self.scope_resources {
            pat_core::scope::ResourceCatalog::listed(
                resources.split(',').filter(|r| !r.trim().is_empty()),
            )
            .map_err(|e| ConfigError::Invalid {
                key: "scope_resources",
                value: resources.clone(),
                allowed: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// The trusted proxies' addresses.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming `trusted_proxies` when an entry is not an IP
    /// address.
    pub fn trusted_proxies(&self) -> Result<Vec<IpAddr>, ConfigError> {
        let Some(list) = &self.trusted_proxies else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry.parse::<IpAddr>().map_err(|_| ConfigError::Invalid {
                    key: "trusted_proxies",
                    value: list.clone(),
                    allowed: format!(
                        "comma-separated IP addresses of reverse proxies, e.g. 127.0.0.1,::1 \
                         ({entry:?} is not one; networks are not supported)"
                    ),
                })
            })
            .collect()
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("patd.db").display()))
    }

    /// The key file in force.
    pub fn key_file(&self) -> PathBuf {
        self.token_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("token.key"))
    }

    /// Whether session cookies are `Secure`: as configured, else when `public_url` is
    /// HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies.unwrap_or_else(|| {
            self.public_url
                .trim()
                .to_ascii_lowercase()
                .starts_with("https://")
        })
    }

    /// The origin (`scheme://host[:port]`) of `public_url`, as browsers send it in
    /// `Origin`.
    pub fn public_origin(&self) -> String {
        let url = self.public_url.trim();
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let end = url[after_scheme..]
            .find('/')
            .map_or(url.len(), |i| after_scheme + i);
        url[..end].to_owned()
    }

    /// The metrics-only listen address, if one is set (validated by [`Config::load`]).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listen.as_deref().and_then(|a| a.parse().ok())
    }

    /// The listen address (validated by [`Config::load`]).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

/// One line per problem, each naming the key (as in patd.toml) and its source.
fn describe(errors: figment::Error) -> String {
    errors
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let source = e
                .metadata
                .as_ref()
                .map_or_else(String::new, |m| format!(" (from {})", m.name));
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("key {key}: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: impl FnOnce(&mut Config)) -> Result<(), ConfigError> {
        let mut config = Config::default();
        change(&mut config);
        config.validate()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(with(|_| {}).is_ok());
        assert_eq!(Config::default().database_url(), "sqlite://data/patd.db");
    }

    #[test]
    fn debug_and_errors_never_show_keys_or_passwords() {
        let config = Config {
            token_key: Some("S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5S2V5".into()),
            previous_token_keys: Some("T2xkT2xkT2xkT2xkT2xkT2xkT2xkT2xkT2xkT2xkT2xk".into()),
            database_url: Some("postgres://patd:dbsecret@db/patd?password=qsecret".into()),
            smtp_url: Some("smtp://mailer:smtpsecret@mail:587".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        for secret in ["S2V5", "T2xk", "dbsecret", "qsecret", "smtpsecret"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres://patd:***@db/patd"), "{shown}");

        let refused = with(|c| c.database_url = Some("mysql://u:dbsecret@h/db?password=q2".into()))
            .expect_err("mysql is refused")
            .to_string();
        assert!(refused.contains("database_url"), "{refused}");
        assert!(
            !refused.contains("dbsecret") && !refused.contains("q2"),
            "{refused}"
        );
    }

    #[test]
    fn cookies_are_secure_behind_an_https_public_url_unless_configured() {
        let mut config = Config::default();
        assert!(!config.secure_cookies(), "http://127.0.0.1:8080");
        config.public_url = "HTTPS://tokens.example.com".into();
        assert!(config.secure_cookies());
        config.secure_cookies = Some(false);
        assert!(!config.secure_cookies(), "an explicit setting wins");
        config.public_url = "http://tokens.example.com".into();
        config.secure_cookies = Some(true);
        assert!(config.secure_cookies());
    }

    #[test]
    fn the_public_origin_is_the_public_url_without_its_path() {
        let mut config = Config::default();
        assert_eq!(config.public_origin(), "http://127.0.0.1:8080");
        config.public_url = "https://tokens.example.com/patd/".into();
        assert_eq!(config.public_origin(), "https://tokens.example.com");
    }

    #[test]
    fn trusted_proxies_are_a_comma_separated_address_list() {
        let mut config = Config::default();
        assert_eq!(
            config.trusted_proxies().expect("none"),
            Vec::<IpAddr>::new()
        );
        config.trusted_proxies = Some(" 127.0.0.1, ::1 ,".into());
        assert_eq!(
            config.trusted_proxies().expect("two addresses"),
            [
                "127.0.0.1".parse::<IpAddr>().expect("v4"),
                "::1".parse().expect("v6")
            ]
        );
        assert!(config.validate().is_ok());
    }

    #[test]
    fn pairs_read_like_the_environment() {
        let config = Config::from_pairs([
            ("PATD_LISTEN", "127.0.0.1:0"),
            ("PATD_NOTIFY_INTERVAL_SECS", "5"),
            ("PATD_SECURE_COOKIES", "true"),
            ("PATD_ADMIN_PASSWORD", "not config"),
            ("HOME", "/elsewhere"),
        ])
        .expect("valid pairs");
        assert_eq!(
            (
                config.listen.as_str(),
                config.notify_interval_secs,
                config.secure_cookies
            ),
            ("127.0.0.1:0", 5, Some(true))
        );
        let err = Config::from_pairs([("PATD_LISTEN", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        type Change = Box<dyn FnOnce(&mut Config)>;
        let cases: [(&str, Change); 18] = [
            ("listen", Box::new(|c| c.listen = "nope".into())),
            (
                "metrics_listen",
                Box::new(|c| c.metrics_listen = Some("localhost".into())),
            ),
            ("token_prefix", Box::new(|c| c.token_prefix = "Bad_".into())),
            (
                "notify_interval_secs",
                Box::new(|c| c.notify_interval_secs = 0),
            ),
            (
                "database_url",
                Box::new(|c| c.database_url = Some("mysql://x".into())),
            ),
            (
                "scope_resources",
                Box::new(|c| c.scope_resources = Some("jobs,Bad Name".into())),
            ),
            (
                "failed_auths_per_minute",
                Box::new(|c| c.failed_auths_per_minute = 1_000_001),
            ),
            ("auth_cache_ms", Box::new(|c| c.auth_cache_ms = Some(1000))),
            (
                "auth_cache_entries",
                Box::new(|c| c.auth_cache_entries = 10_000_001),
            ),
            ("auth_cache_mib", Box::new(|c| c.auth_cache_mib = 0)),
            (
                "auth_cache_refusals",
                Box::new(|c| c.auth_cache_refusals = 0),
            ),
            ("change_poll_ms", Box::new(|c| c.change_poll_ms = 0)),
            ("change_bound_ms", Box::new(|c| c.change_bound_ms = 99)),
            (
                "change_bound_ms",
                Box::new(|c| {
                    c.change_poll_ms = 100;
                    c.change_bound_ms = 399;
                }),
            ),
            ("sqlite_cache_kib", Box::new(|c| c.sqlite_cache_kib = 15)),
            (
                "sqlite_cache_kib",
                Box::new(|c| c.sqlite_cache_kib = 1_048_577),
            ),
            (
                "trusted_proxies",
                Box::new(|c| c.trusted_proxies = Some("127.0.0.1,nginx".into())),
            ),
            (
                "trusted_proxies",
                Box::new(|c| c.trusted_proxies = Some("10.0.0.0/8".into())),
            ),
        ];
        for (key, change) in cases {
            let message = with(change).expect_err(key).to_string();
            assert!(message.contains(key), "{message}");
        }
    }
}
