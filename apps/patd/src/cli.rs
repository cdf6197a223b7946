//! The administrative subcommands: users, tokens, settings, reminders, migrations.

use std::io::Read as _;
use std::str::FromStr;

use clap::Subcommand;
use std::sync::Arc;

use pat_core::model::{PageRequest, Role, TokenId, User};
use pat_core::policy::Settings;
use pat_core::ports::SystemClock;
use pat_core::{ListTokensRequest, NewUser, PatService};

use crate::config::Config;
use crate::wiring::{self, WiringError, cli_actor};

/// `patd user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add {
        /// Email (unique).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// admin, member or collaborator.
        #[arg(long, default_value = "member")]
        role: String,
        /// Read the password from standard input; without it, a one-time
        /// set-password link (24 hours) is printed for the user.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password, read from standard input; their sessions end.
    SetPassword {
        /// The user's email.
        email: String,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Print a one-time set-password link for a user (usable once, for 24 hours).
    PasswordLink {
        /// The user's email.
        email: String,
    },
    /// Change a user's role.
    SetRole {
        /// The user's email.
        email: String,
        /// admin, member or collaborator.
        role: String,
    },
    /// Deactivate a user: no login, their tokens stop authenticating.
    Disable {
        /// The user's email.
        email: String,
    },
    /// Reactivate a user.
    Enable {
        /// The user's email.
        email: String,
    },
}

/// `patd token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List a user's tokens.
    List {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id.
        id: String,
    },
    /// Delete a token by id.
    Delete {
        /// Token id.
        id: String,
    },
}

/// `patd settings …`
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Print the settings.
    Show,
    /// Change settings; unspecified ones stay.
    Set {
        /// Allow token creation and authentication.
        #[arg(long)]
        pats_enabled: Option<bool>,
        /// Longest lifetime, 1..=366 days.
        #[arg(long)]
        max_lifetime_days: Option<u32>,
        /// Most active tokens per user, 1..=100.
        #[arg(long)]
        max_active_per_user: Option<u32>,
        /// Days before expiry to warn, 1..=90.
        #[arg(long)]
        expiry_warning_days: Option<u32>,
        /// Longest grace period for a regenerated token's old secret, 0..=10080 minutes.
        #[arg(long)]
        max_grace_minutes: Option<u32>,
        /// Revoke a token whose rotated-away secret is used after its grace period
        /// (false: report only).
        #[arg(long)]
        revoke_on_reuse: Option<bool>,
    },
}

async fn open(config: &Config) -> Result<(PatService, pat_store_diesel::DieselStore), WiringError> {
    let store = wiring::open_store(config).await?;
    let service = wiring::service(config, &store, None, None, Arc::new(SystemClock)).await?;
    Ok((service, store))
}

/// `patd migrate`.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub async fn migrate(config: &Config) -> Result<(), WiringError> {
    wiring::open_store(config).await?;
    println!("database is up to date");
    Ok(())
}

async fn user_by_email(service: &PatService, email: &str) -> Result<User, WiringError> {
    service
        .user_by_email(email)
        .await?
        .ok_or_else(|| WiringError::Setup(format!("no user with email {email}")))
}

/// A password from standard input, without its line end.
fn password_from_stdin() -> Result<zeroize::Zeroizing<String>, WiringError> {
    let mut password = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| WiringError::Setup(format!("cannot read the password: {e}")))?;
    let end = password.trim_end_matches(['\r', '\n']).len();
    password.truncate(end);
    Ok(password)
}

/// Issues and prints a one-time set-password link for `user`.
async fn print_password_link(
    config: &Config,
    service: &PatService,
    user: &User,
) -> Result<(), WiringError> {
    let (_, secret) = service
        .issue_password_link(None, user.id)
        .await
        .map_err(|e| WiringError::Setup(e.to_string()))?;
    println!(
        "set-password link for {} (works once, for 24 hours):\n{}/set-password/{}",
        user.email,
        config.public_url.trim_end_matches('/'),
        secret.expose()
    );
    Ok(())
}

fn role(text: &str) -> Result<Role, WiringError> {
    Role::from_str(text).map_err(|e| WiringError::Setup(e.to_string()))
}

/// `patd user …`.
///
/// # Errors
/// Refusals from the service, printed by `main`.
pub async fn user(config: &Config, command: UserCommand) -> Result<(), WiringError> {
    let (service, _) = open(config).await?;
    match command {
        UserCommand::Add {
            email,
            name,
            role: role_text,
            password_stdin,
        } => {
            let hash = if password_stdin {
                let password = password_from_stdin()?;
                Some(
                    service
                        .hash_new_password(&password, &email)
                        .await
                        .map_err(|e| WiringError::Setup(e.to_string()))?,
                )
            } else {
                None
            };
            let new = NewUser {
                email,
                name,
                role: role(&role_text)?,
            };
            let user = service.create_user(None, new, hash.as_deref()).await?;
            println!("{}\t{}\t{}", user.id, user.email, user.role);
            if hash.is_none() {
                print_password_link(config, &service, &user).await?;
            }
        }
        UserCommand::SetPassword { email, .. } => {
            let user = user_by_email(&service, &email).await?;
            let password = password_from_stdin()?;
            service
                .set_user_password(None, user.id, &password)
                .await
                .map_err(|e| WiringError::Setup(e.to_string()))?;
            println!("the password of {email} is set; their sessions were ended");
        }
        UserCommand::PasswordLink { email } => {
            let user = user_by_email(&service, &email).await?;
            print_password_link(config, &service, &user).await?;
        }
        UserCommand::List => {
            let mut page = 1;
            loop {
                let users = service
                    .list_users(None, PageRequest::new(page, 100)?)
                    .await?;
                for u in &users.items {
                    println!(
                        "{}\t{}\t{}\t{}",
                        u.id,
                        u.email,
                        u.role,
                        if u.active { "active" } else { "disabled" }
                    );
                }
                if u64::from(page) >= users.total_pages() {
                    break;
                }
                page += 1;
            }
        }
        UserCommand::SetRole {
            email,
            role: role_text,
        } => {
            let user = user_by_email(&service, &email).await?;
            service
                .update_user(None, user.id, Some(role(&role_text)?), None)
                .await?;
            println!("{email} is now {role_text}");
        }
        UserCommand::Disable { email } => {
            let user = user_by_email(&service, &email).await?;
            service
                .update_user(None, user.id, None, Some(false))
                .await?;
            println!("{email} is disabled");
        }
        UserCommand::Enable { email } => {
            let user = user_by_email(&service, &email).await?;
            service.update_user(None, user.id, None, Some(true)).await?;
            println!("{email} is enabled");
        }
    }
    Ok(())
}

fn token_id(text: &str) -> Result<TokenId, WiringError> {
    TokenId::from_str(text)
        .map_err(|_| WiringError::Setup(format!("{text:?} is not a token id (a UUID)")))
}

/// `patd token …`.
///
/// # Errors
/// Refusals from the service, printed by `main`.
pub async fn token(config: &Config, command: TokenCommand) -> Result<(), WiringError> {
    let (service, _) = open(config).await?;
    let actor = cli_actor();
    match command {
        TokenCommand::List { user } => {
            let owner = user_by_email(&service, &user).await?;
            let now = service.now();
            let request = ListTokensRequest {
                owner: Some(owner.id),
                page: PageRequest::new(1, 100)?,
                ..ListTokensRequest::default()
            };
            for t in service.list_tokens(&actor, request).await?.items {
                let scopes: Vec<String> = t.scopes.iter().map(|s| s.spec.to_string()).collect();
                println!(
                    "{}\t{}\t{}\texpires {}\t{}",
                    t.id,
                    t.name,
                    t.status(now),
                    t.expires_at.to_rfc3339(),
                    scopes.join(" ")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let token = service.revoke_token(&actor, token_id(&id)?).await?;
            println!("revoked {} ({})", token.id, token.name);
        }
        TokenCommand::Delete { id } => {
            service.delete_token(&actor, token_id(&id)?).await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}

fn print_settings(s: &Settings) {
    println!("pats_enabled = {}", s.pats_enabled);
    println!("max_lifetime_days = {}", s.max_lifetime_days);
    println!("max_active_per_user = {}", s.max_active_per_user);
    println!("expiry_warning_days = {}", s.expiry_warning_days);
    println!("max_grace_minutes = {}", s.max_grace_minutes);
    println!("revoke_on_reuse = {}", s.revoke_on_reuse);
}

/// `patd settings …`.
///
/// # Errors
/// Refusals from the service, printed by `main`.
pub async fn settings(config: &Config, command: SettingsCommand) -> Result<(), WiringError> {
    let (service, _) = open(config).await?;
    match command {
        SettingsCommand::Show => print_settings(&service.current_settings().await?),
        SettingsCommand::Set {
            pats_enabled,
            max_lifetime_days,
            max_active_per_user,
            expiry_warning_days,
            max_grace_minutes,
            revoke_on_reuse,
        } => {
            let mut s = service.current_settings().await?;
            s.pats_enabled = pats_enabled.unwrap_or(s.pats_enabled);
            s.max_lifetime_days = max_lifetime_days.unwrap_or(s.max_lifetime_days);
            s.max_active_per_user = max_active_per_user.unwrap_or(s.max_active_per_user);
            s.expiry_warning_days = expiry_warning_days.unwrap_or(s.expiry_warning_days);
            s.max_grace_minutes = max_grace_minutes.unwrap_or(s.max_grace_minutes);
            s.revoke_on_reuse = revoke_on_reuse.unwrap_or(s.revoke_on_reuse);
            print_settings(&service.update_settings(&cli_actor(), s).await?);
        }
    }
    Ok(())
}

/// `patd notify [--once]`.
///
/// # Errors
/// Storage errors.
pub async fn notify(config: &Config, once: bool) -> Result<(), WiringError> {
    let (service, _) = open(config).await?;
    loop {
        let run = service.send_due_reminders(500).await?;
        println!(
            "sent {}, failed {}, skipped {}",
            run.sent, run.failed, run.skipped
        );
        if once {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(config.notify_interval_secs)).await;
    }
}
