//! The command line (SPEC §1): `serve` (the default), `check`, `sign`, `send`,
//! `admin reset-token`, `migrate` (SPEC §12).

mod check;
mod logs;
mod migrate;
mod recipe;
mod reset_token;
mod send;
mod sign;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigChoice};
use crate::hooks::reload::StartedWith;

/// A single-binary, self-hosted personal automation hub.
#[derive(Debug, Parser)]
#[command(name = "hookhub", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Validate the config file and print each hook.
    Check(CheckArgs),
    /// Print the headers a sender would attach to a body.
    Sign(SignArgs),
    /// Sign and POST a test delivery; print the status and body.
    Send(SendArgs),
    /// Manage the admin token.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Copy a stopped hub's data dir into PostgreSQL (for `store: { backend: postgres }`).
    Migrate(migrate::MigrateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print a new admin token once; every older token and every session stops working.
    /// Works whether the hub is stopped or running on the data dir.
    ResetToken(ResetTokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ResetTokenArgs {
    /// Config file (else $HOOKHUB_CONFIG, ./hooks.yaml, ./hooks.example.yaml); read for
    /// server.dataDir and to refuse when admin.token is set.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./data, or server.dataDir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Config file (else $HOOKHUB_CONFIG, ./hooks.yaml, ./hooks.example.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:3005, or server.listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (default ./data, or server.dataDir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log lines as text or as one JSON object each (for log collectors).
    #[arg(long, env = "HOOKHUB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Config file (else $HOOKHUB_CONFIG, ./hooks.yaml, ./hooks.example.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The secret to sign with.
    #[arg(long)]
    pub secret: String,
    /// The scheme a sender uses: github, gitea, gitlab, standard, stripe, slack, shopify,
    /// linear, bearer, or header and hmac with the settings below.
    #[arg(long, default_value = "github")]
    pub scheme: String,
    #[command(flatten)]
    pub recipe: recipe::RecipeArgs,
    /// Sign as this hook of the config file does: its scheme and settings (the secret still
    /// comes from --secret).
    #[arg(long, value_name = "ID", conflicts_with_all = ["scheme", "recipe"])]
    pub hook: Option<String>,
    /// The config file --hook is in (else $HOOKHUB_CONFIG, ./hooks.yaml, ./hooks.example.yaml).
    #[arg(long, requires = "hook")]
    pub config: Option<PathBuf>,
    /// The body, as text.
    #[arg(long, conflicts_with = "file")]
    pub data: Option<String>,
    /// Read the body from a file.
    #[arg(long)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// The webhook URL, such as http://127.0.0.1:3005/api/webhooks/github.
    pub url: String,
    #[command(flatten)]
    pub sign: SignArgs,
    /// The event type, sent as the scheme's event header: X-GitHub-Event (github),
    /// X-Gitea-Event (gitea), X-Gitlab-Event (gitlab), else X-Event.
    #[arg(long, value_name = "E")]
    pub event: Option<String>,
    /// A header to add, as `Name: value`; repeatable. It replaces a header of that name
    /// hookhub would send (such as Content-Type).
    #[arg(long = "header", value_name = "K:V", value_parser = send::parse_header)]
    pub headers: Vec<(String, String)>,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // One TLS provider for every client in the process (reqwest, and later the chat clients).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Check(args)) => check::run(&args),
        Some(Command::Sign(args)) => sign::run_sign(&args),
        Some(Command::Send(args)) => send::run(&args),
        Some(Command::Admin(AdminCommand::ResetToken(args))) => reset_token::run(&args),
        Some(Command::Migrate(args)) => migrate::run(&args),
    }
}

fn serve(args: ServeArgs) -> i32 {
    logs::init(args.log_format);
    let Some((mut config, choice, started_with)) = load_for_serve(args.config.as_deref()) else {
        return 1;
    };
    if let Some(dir) = args.data_dir {
        config.server.data_dir = Some(dir);
    }
    if let Some(listen) = args.listen {
        config.server.listen = Some(listen.to_string());
    }
    let listen = config
        .server
        .listen
        .clone()
        .unwrap_or_else(|| crate::config::DEFAULT_LISTEN.to_string());
    // sled creates files while the hub runs (snapshots, blobs); the umask keeps them 0600 like
    // the rest of the data dir. A tool should run with the original one
    // (crate::store::original_umask), not the hub's.
    crate::store::keep_new_files_private();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhub: cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hookhub: cannot listen on {listen}: {e}");
                return 1;
            }
        };
        tracing::info!(config = %choice.path.display(), "hookhub listening on http://{listen}");
        let options = crate::RunOptions {
            config_path: Some(choice.path),
            preferred_config: choice.preferred,
            started_with: Some(started_with),
            ..crate::RunOptions::default()
        };
        match crate::run_with(config, listener, shutdown_signal(), options).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("hookhub: {e}");
                1
            }
        }
    })
}

/// Finds and loads the config file, logging which one it is and why, and its warnings; with
/// the text it was loaded from, for the reloader to take as in force. `None` (the error
/// printed) when there is none or it is invalid.
fn load_for_serve(explicit: Option<&Path>) -> Option<(Config, ConfigChoice, StartedWith)> {
    let Some(choice) = crate::config::choose_config(explicit) else {
        eprintln!(
            "hookhub: no config file: pass --config, set HOOKHUB_CONFIG, or create ./hooks.yaml \
             (hooks.example.yaml in the repository is a good start)"
        );
        return None;
    };
    let shown = std::path::absolute(&choice.path).unwrap_or_else(|_| choice.path.clone());
    tracing::info!("config file: {} ({})", shown.display(), choice.reason);
    let name = choice.path.display().to_string();
    let loaded = crate::config::read_file(&choice.path).and_then(|text| {
        let (config, warnings) =
            crate::config::load_file_text(&text, &name, &|var| std::env::var(var).ok())?;
        let started_with = StartedWith::new(text, &config, &warnings);
        Ok((config, started_with, warnings))
    });
    match loaded {
        Ok((config, started_with, warnings)) => {
            for warning in warnings {
                tracing::warn!("{warning}");
            }
            Some((config, choice, started_with))
        }
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
