//! Builds the service from the configuration: store, key, codec, catalog, notifier.

use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pat_core::cache::VerificationCache;
use pat_core::model::{Actor, Notice, Role, User, UserId};
use pat_core::ports::{AuthObserver, Clock, Notifier, NotifyError};
use pat_core::scope::ResourceCatalog;
use pat_core::token::{KeyCheck, ServerKey, check_key};
use pat_core::{NewUser, PatService, TokenCodec};
use pat_store_diesel::DieselStore;
use rand::TryRng;

use crate::config::Config;

/// Why patd could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The database URL was refused.
    #[error("database_url: {0}")]
    Database(#[from] pat_store_diesel::ConnectError),
    /// The store failed (unreachable, migrations).
    #[error("database: {0}")]
    Store(#[from] pat_core::ports::StoreError),
    /// Start-up or a command could not proceed (the message says why).
    #[error("{0}")]
    Setup(String),
    /// Paging values out of range.
    #[error(transparent)]
    Page(#[from] pat_core::model::PageError),
    /// A user could not be added or changed.
    #[error("{0}")]
    User(#[from] pat_core::UserChangeError),
    /// A listing or lookup was refused.
    #[error("{0}")]
    Query(#[from] pat_core::QueryError),
    /// A token could not be changed.
    #[error("{0}")]
    Token(#[from] pat_core::TokenChangeError),
    /// The settings could not be changed.
    #[error("{0}")]
    Settings(#[from] pat_core::SettingsChangeError),
    /// Background work (reminders, the outbox) failed.
    #[error("{0}")]
    Internal(#[from] pat_core::InternalError),
}

/// Opens the store and applies migrations.
///
/// # Errors
/// [`WiringError`] when the database cannot be opened or migrated.
pub async fn open_store(config: &Config) -> Result<DieselStore, WiringError> {
    let options = pat_store_diesel::PoolOptions {
        sqlite_cache_kib: config.sqlite_cache_kib,
        ..pat_store_diesel::PoolOptions::default()
    };
    let store = pat_store_diesel::connect_with(&config.database_url(), options)?;
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    Ok(store)
}

fn decode_key(key: &'static str, text: &str) -> Result<ServerKey, WiringError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| WiringError::Setup(format!("{key} must be base64 ({e})")))?;
    ServerKey::new(bytes).map_err(|e| WiringError::Setup(format!("{key}: {e}")))
}

/// A fresh 32-byte key, base64.
///
/// # Errors
/// [`WiringError::Setup`] if the OS random number generator fails.
pub fn new_key_text() -> Result<String, WiringError> {
    let mut bytes = [0_u8; 32];
    rand::rngs::SysRng.try_fill_bytes(&mut bytes).map_err(|e| {
        WiringError::Setup(format!("cannot read the OS random number generator: {e}"))
    })?;
    Ok(STANDARD.encode(bytes))
}

/// Where the server key came from, for messages that tell the operator what to fix.
fn key_source(config: &Config) -> String {
    if config.token_key.is_some() {
        "token_key (PATD_TOKEN_KEY)".to_owned()
    } else {
        format!("the key file {}", config.key_file().display())
    }
}

/// The server key: `token_key`, else the key file. A missing key file is generated
/// (mode 0600) only while the database holds no token and no key fingerprint: a new
/// key would make every existing token unknown.
///
/// # Errors
/// [`WiringError::Setup`] for a malformed key, an unwritable key file, or a missing
/// one while tokens exist.
pub async fn server_key(config: &Config, store: &DieselStore) -> Result<ServerKey, WiringError> {
    if let Some(text) = &config.token_key {
        return decode_key("token_key", text);
    }
    let path = config.key_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            warn_if_others_can_read(&path);
            decode_key("token_key_file", &text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tokens = store.token_count().await?;
            if tokens > 0 || store.key_fingerprint().await?.is_some() {
                return Err(WiringError::Setup(format!(
                    "the key file {} is missing, but the database holds {tokens} tokens made \
                     with a server key; a new key would make every one of them unknown. \
                     Restore the key file (or give the key as token_key / PATD_TOKEN_KEY)",
                    path.display()
                )));
            }
            write_new_key_file(&path)
        }
        Err(e) => Err(WiringError::Setup(format!(
            "cannot read the key file {}: {e}",
            path.display()
        ))),
    }
}

/// Generates a key into `path` (mode 0600, never overwriting a file).
fn write_new_key_file(path: &std::path::Path) -> Result<ServerKey, WiringError> {
    let text = new_key_text()?;
    create_private_file(path, &text)?;
    tracing::info!(path = %path.display(), "generated a new server key");
    decode_key("token_key_file", &text)
}

/// Creates `path` (and its folder) with `text`, readable by its owner only (mode
/// 0600); an existing file is an error, never overwritten.
fn create_private_file(path: &std::path::Path, text: &str) -> Result<(), WiringError> {
    let failed =
        |e: std::io::Error| WiringError::Setup(format!("cannot write {}: {e}", path.display()));
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(failed)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)
}

/// Logs a warning when users other than the owner may read the key file.
fn warn_if_others_can_read(path: &std::path::Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "the server key file can be read by other users; chmod 600 it"
            );
        }
    }
}

/// Checks the key against the fingerprint kept with the tokens and records it when
/// none is kept yet or the operator rotated keys.
///
/// # Errors
/// [`WiringError::Setup`] naming the key's source and the fix when neither the current
/// nor a previous key is the one the tokens were made with.
async fn check_key_fingerprint(
    config: &Config,
    store: &DieselStore,
    current: &ServerKey,
    previous: &[ServerKey],
) -> Result<(), WiringError> {
    let kept = store.key_fingerprint().await?;
    match check_key(kept.as_deref(), current, previous) {
        KeyCheck::Matches => Ok(()),
        KeyCheck::FirstUse => {
            let tokens = store.token_count().await?;
            if tokens > 0 {
                // A database from before fingerprints: nothing to check the key against.
                tracing::warn!(
                    tokens,
                    source = %key_source(config),
                    "recording the server key's fingerprint for a database that already holds \
                     tokens; if they are refused as unknown, this is not their key: restore \
                     the right one (the wrong one can go in previous_token_keys meanwhile)"
                );
            }
            store
                .record_key_fingerprint(&current.fingerprint(), chrono::Utc::now())
                .await?;
            Ok(())
        }
        KeyCheck::Rotated => {
            tracing::info!(
                fingerprint = %current.fingerprint(),
                "server key rotated: new tokens use the new key, previous_token_keys keep old ones working"
            );
            store
                .record_key_fingerprint(&current.fingerprint(), chrono::Utc::now())
                .await?;
            Ok(())
        }
        KeyCheck::Mismatch { kept, current: now } => Err(WiringError::Setup(format!(
            "the server key from {} (fingerprint {}) is not the key this database's tokens \
             were made with (fingerprint {}), so every token would be refused as unknown. \
             Start with the key the database was used with, or — after rotating keys — \
             list the old key in previous_token_keys (PATD_PREVIOUS_TOKEN_KEYS)",
            key_source(config),
            short(&now),
            short(&kept)
        ))),
    }
}

/// The first 16 hex digits of a fingerprint: enough to tell keys apart in a message.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// Notices written to the log, for when no SMTP server is configured.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        tracing::info!(
            notice = notice.kind.as_str(),
            to = %notice.recipient.email,
            token_id = %notice.token_id,
            token_name = %notice.token_name,
            expires_at = %notice.expires_at,
            "notice (no SMTP configured, logged instead)"
        );
        Ok(())
    }
}

/// Builds the service over `store`, after checking its server key against the one the
/// database's tokens were made with; `cache` answers presented secrets when given (the
/// server's, fed by its change watcher; the CLI runs without), and `observer` is told of
/// every token authentication (the server's metrics); `clock` tells the time (the
/// system's, or a test's).
///
/// # Errors
/// [`WiringError`] for a bad, missing or wrong key, or bad settings.
pub async fn service(
    config: &Config,
    store: &DieselStore,
    cache: Option<Arc<VerificationCache>>,
    observer: Option<Arc<dyn AuthObserver>>,
    clock: Arc<dyn Clock>,
) -> Result<PatService, WiringError> {
    let previous = config
        .previous_token_keys
        .iter()
        .flat_map(|list| list.split(','))
        .filter(|k| !k.trim().is_empty())
        .map(|k| decode_key("previous_token_keys", k))
        .collect::<Result<Vec<_>, _>>()?;
    let codec =
        TokenCodec::new(&config.token_prefix).map_err(|e| WiringError::Setup(e.to_string()))?;
    let catalog = match &config.scope_resources {
        Some(list) => ResourceCatalog::listed(list.split(',').filter(|r| !r.trim().is_empty()))
            .map_err(|e| WiringError::Setup(format!("scope_resources: {e}")))?,
        None => ResourceCatalog::open(),
    };
    let notifier: Arc<dyn Notifier> = match &config.smtp_url {
        Some(url) => Arc::new(
            pat_notify_smtp::SmtpNotifier::new(&pat_notify_smtp::SmtpConfig {
                url: url.clone(),
                from: config.mail_from.clone(),
                public_url: config.public_url.clone(),
                timeout: std::time::Duration::from_secs(30),
            })
            .map_err(|e| WiringError::Setup(e.to_string()))?,
        ),
        None => Arc::new(LogNotifier),
    };
    let key = server_key(config, store).await?;
    check_key_fingerprint(config, store, &key, &previous).await?;
    let mut builder = PatService::builder()
        .storage(store.storage())
        .notifier(notifier)
        .clock(clock)
        .rng(rand::rngs::SysRng)
        .server_key(key)
        .previous_keys(previous)
        .codec(codec)
        .catalog(catalog)
        .failed_auths_per_minute(config.failed_auths_per_minute)
        .password_hasher(Arc::new(pat_argon2::Argon2Hasher))
        .session_limits(config.session_limits());
    if let Some(cache) = cache {
        builder = builder.verification_cache(cache);
    }
    if let Some(observer) = observer {
        builder = builder.auth_observer(observer);
    }
    let service = builder
        .build()
        .map_err(|e| WiringError::Setup(e.to_string()))?;
    Ok(service)
}

/// The actor the CLI acts as: a trusted local administrator.
pub fn cli_actor() -> Actor {
    Actor::session(
        User {
            id: UserId(uuid::Uuid::nil()),
            email: "cli@localhost".to_owned(),
            name: "patd CLI".to_owned(),
            role: Role::Admin,
            active: true,
        },
        None,
    )
}

/// Who the first administrator is, when a fresh database has none.
#[derive(Clone, Default)]
pub struct FirstAdmin {
    /// Their email; `admin@localhost` when not given.
    pub email: Option<String>,
    /// Their password; a random one written to `<data_dir>/initial-admin-password`
    /// when not given.
    pub password: Option<String>,
}

impl FirstAdmin {
    /// From `PATD_ADMIN_EMAIL` and `PATD_ADMIN_PASSWORD`, as `patd serve` reads them.
    pub fn from_env() -> Self {
        Self {
            email: std::env::var("PATD_ADMIN_EMAIL").ok(),
            password: std::env::var("PATD_ADMIN_PASSWORD").ok(),
        }
    }
}

impl std::fmt::Debug for FirstAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstAdmin")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Creates the first administrator when none exists: `first`'s email and password,
/// else `admin@localhost` with a random password written to
/// `<data_dir>/initial-admin-password` (mode 0600); only that file's path is printed,
/// so the password never lands in a terminal scroll-back or a captured log.
///
/// # Errors
/// [`WiringError`] when the user cannot be stored or the password file not written.
pub async fn bootstrap_admin(
    config: &Config,
    first: FirstAdmin,
    service: &PatService,
    store: &DieselStore,
) -> Result<(), WiringError> {
    use pat_core::ports::UserDirectory;
    if store.count_active_admins().await? > 0 {
        return Ok(());
    }
    let email = first.email.unwrap_or_else(|| "admin@localhost".to_owned());
    let (password, generated) = match first.password {
        Some(password) => (password, false),
        None => (
            new_key_text()?
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(24)
                .collect(),
            true,
        ),
    };
    let hash = service
        .hash_new_password(&password, &email)
        .await
        .map_err(|e| WiringError::Setup(format!("PATD_ADMIN_PASSWORD: {e}")))?;
    let new = NewUser {
        email: email.clone(),
        name: "Administrator".to_owned(),
        role: Role::Admin,
    };
    let password_file = config.data_dir.join(INITIAL_ADMIN_PASSWORD_FILE);
    if generated {
        // Written before the user exists: a failure leaves no admin nobody can sign in as.
        write_private_file(&password_file, &format!("{password}\n"))?;
    }
    match service.create_user(None, new, Some(&hash)).await {
        Ok(_) | Err(pat_core::UserChangeError::DuplicateEmail) => {}
        Err(e) => return Err(e.into()),
    }
    if generated {
        println!(
            "created the first administrator {email}; the password is in {} (mode 0600): \
             sign in, change it, and delete the file",
            password_file.display()
        );
    } else {
        tracing::info!(%email, "created the first administrator");
    }
    Ok(())
}

/// Where the generated first administrator's password is written, in `data_dir`.
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// Writes `text` to a new file only its owner may read (mode 0600), replacing a
/// leftover one.
fn write_private_file(path: &std::path::Path, text: &str) -> Result<(), WiringError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(WiringError::Setup(format!(
                "cannot replace {}: {e}",
                path.display()
            )));
        }
    }
    create_private_file(path, text)
}
