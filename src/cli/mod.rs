//! The command line (SPEC §1): `serve` (the default), `check`, `sign`, `send`.

mod check;
mod sign;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// The scheme a sender uses: github, gitea, gitlab, standard, stripe, slack, shopify, linear, bearer.
    #[arg(long, default_value = "github")]
    pub scheme: String,
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
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Check(args)) => check::run(&args),
        Some(Command::Sign(args)) => sign::run_sign(&args),
        Some(Command::Send(args)) => sign::run_send(&args),
    }
}

fn serve(_args: ServeArgs) -> i32 {
    1
}
