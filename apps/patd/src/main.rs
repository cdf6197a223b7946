//! `patd`: the bundled personal-access-token server and its command line.
//!
//! `main` only parses the command line, loads the configuration and wires adapters.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use patd::config::{Config, LogFormat};
use patd::{cli, server, wiring};

/// jemalloc returns freed memory to the system after a short decay, from a background
/// thread. With glibc's malloc, patd's resident memory kept growing under a steady load
/// (freed memory stayed in up to 16 per-thread arenas; see docs/reliability.md, Soak).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Personal access tokens: a token authority for your other services.
#[derive(Debug, Parser)]
#[command(name = "patd", version, about)]
struct Args {
    /// Configuration file (defaults < this file < PATD_* environment variables).
    #[arg(long, env = "PATD_CONFIG", default_value = "patd.toml", global = true)]
    config: PathBuf,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (web API, reminders).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// Inspect, revoke or delete any user's tokens.
    #[command(subcommand)]
    Token(cli::TokenCommand),
    /// Show or change the admin settings.
    #[command(subcommand)]
    Settings(cli::SettingsCommand),
    /// Send due expiry reminders.
    Notify {
        /// Run one pass and exit (for cron).
        #[arg(long)]
        once: bool,
    },
    /// Print a new random server key (base64) for PATD_TOKEN_KEY.
    Keygen,
    /// Rotate the token in PATD_TOKEN through a running patd (for CI jobs): prints the
    /// new secret, and nothing else, on stdout.
    RotateSelf(patd::rotate::RotateSelf),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// `patd rotate-self`: needs no configuration, only patd's address and the token.
fn rotate_self(args: &patd::rotate::RotateSelf) -> ExitCode {
    let Some(token) = std::env::var("PATD_TOKEN").ok().filter(|t| !t.is_empty()) else {
        eprintln!("patd: {}", patd::rotate::RotateError::NoToken);
        return ExitCode::from(2);
    };
    match patd::rotate::rotate_self(args, &token) {
        Ok(rotated) => {
            println!("{}", rotated.secret);
            eprintln!(
                "patd: rotated; the new secret expires {}",
                rotated.expires_at
            );
            if let Some(until) = rotated.previous_secret_expires_at {
                eprintln!("patd: the previous secret keeps working until {until}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("patd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Keygen) = args.command {
        return match wiring::new_key_text() {
            Ok(key) => {
                println!("{key}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("patd: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::RotateSelf(rotate)) = &args.command {
        return rotate_self(rotate);
    }
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("patd: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("patd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match args.command.unwrap_or(Command::Serve) {
            Command::Serve => server::serve(config).await,
            Command::Migrate => cli::migrate(&config).await,
            Command::User(command) => cli::user(&config, command).await,
            Command::Token(command) => cli::token(&config, command).await,
            Command::Settings(command) => cli::settings(&config, command).await,
            Command::Notify { once } => cli::notify(&config, once).await,
            Command::Keygen | Command::RotateSelf(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "patd stopped");
            eprintln!("patd: {e}");
            ExitCode::FAILURE
        }
    }
}
