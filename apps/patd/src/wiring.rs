//! Builds the service from the configuration: store, key, codec, catalog, notifier.

use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pat_core::model::{Actor, Notice, Role, User, UserId};
use pat_core::ports::{Notifier, NotifyError};
use pat_core::scope::ResourceCatalog;
use pat_core::token::ServerKey;
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
    /// A service call failed.
    #[error("{0}")]
    Service(#[from] pat_core::ServiceError),
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

/// The server key: `token_key`, else the key file, generated (mode 0600) if absent.
///
/// # Errors
/// [`WiringError::Setup`] for a malformed key or an unwritable key file.
pub fn server_key(config: &Config) -> Result<ServerKey, WiringError> {
    if let Some(text) = &config.token_key {
        return decode_key("token_key", text);
    }
    let path = config.key_file();
    match std::fs::read_to_string(&path) {
        Ok(text) => decode_key("token_key_file", &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = new_key_text()?;
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|e| {
                    WiringError::Setup(format!("cannot create {}: {e}", folder.display()))
                })?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(|e| {
                WiringError::Setup(format!("cannot write the key file {}: {e}", path.display()))
            })?;
            file.write_all(text.as_bytes()).map_err(|e| {
                WiringError::Setup(format!("cannot write the key file {}: {e}", path.display()))
            })?;
            tracing::info!(path = %path.display(), "generated a new server key");
            decode_key("token_key_file", &text)
        }
        Err(e) => Err(WiringError::Setup(format!(
            "cannot read the key file {}: {e}",
            path.display()
        ))),
    }
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

/// Builds the service over `store`.
///
/// # Errors
/// [`WiringError`] for a bad key or settings.
pub fn service(config: &Config, store: &DieselStore) -> Result<PatService, WiringError> {
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
    let mut builder = PatService::builder()
        .storage(store.storage())
        .notifier(notifier)
        .rng(rand::rngs::SysRng)
        .server_key(server_key(config)?)
        .previous_keys(previous)
        .codec(codec)
        .catalog(catalog);
    if config.auth_cache_ms > 0 {
        builder = builder.credential_cache(
            chrono::Duration::milliseconds(i64::from(config.auth_cache_ms)),
            AUTH_CACHE_ENTRIES,
        );
    }
    let service = builder
        .build()
        .map_err(|e| WiringError::Setup(e.to_string()))?;
    Ok(service)
}

/// Most tokens the authentication cache holds (about 1 KiB each).
const AUTH_CACHE_ENTRIES: usize = 50_000;

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

/// Creates the first administrator when none exists: from `PATD_ADMIN_EMAIL` /
/// `PATD_ADMIN_PASSWORD`, else `admin@localhost` with a random password printed once.
///
/// # Errors
/// [`WiringError`] when the user cannot be stored.
pub async fn bootstrap_admin(service: &PatService, store: &DieselStore) -> Result<(), WiringError> {
    use pat_core::ports::UserDirectory;
    if store.count_active_admins().await? > 0 {
        return Ok(());
    }
    let email = std::env::var("PATD_ADMIN_EMAIL").unwrap_or_else(|_| "admin@localhost".to_owned());
    let (password, generated) = match std::env::var("PATD_ADMIN_PASSWORD") {
        Ok(password) => (password, false),
        Err(_) => (
            new_key_text()?
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(24)
                .collect(),
            true,
        ),
    };
    pat_actix::check_password_rules(&password)
        .map_err(|e| WiringError::Setup(format!("PATD_ADMIN_PASSWORD: {e}")))?;
    let hash =
        pat_actix::hash_password(&password).map_err(|e| WiringError::Setup(e.to_string()))?;
    let new = NewUser {
        email: email.clone(),
        name: "Administrator".to_owned(),
        role: Role::Admin,
    };
    match service.create_user(None, new, Some(&hash)).await {
        Ok(_) | Err(pat_core::ServiceError::DuplicateEmail) => {}
        Err(e) => return Err(e.into()),
    }
    if generated {
        // Printed once, to the terminal, never to the log.
        println!("created the first administrator {email} with password {password}");
    } else {
        tracing::info!(%email, "created the first administrator");
    }
    Ok(())
}
