//! The command line: `serve`, `config check`, `client …`, `user …`, `keys …`
//! and `mail …`. Every
//! command but `serve` works on the configured database directly, so it runs
//! before the server has ever started; every command that prints accepts `--json`.

mod client;
mod keys;
mod mail;
mod serve;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::telemetry;

/// Gatehouse — an OAuth 2.0 / OpenID Connect provider.
///
/// With no configuration, `gatehouse serve` runs on http://localhost:8080 with an
/// embedded SQLite database in ./data. Settings come from defaults, then an optional
/// TOML file (--config or GATEHOUSE_CONFIG), then GATEHOUSE_* variables and DATABASE_URL.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, propagate_version = true)]
pub struct Cli {
    /// Path to a gatehouse.toml configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "GATEHOUSE_CONFIG",
        value_name = "FILE"
    )]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the provider until SIGTERM or Ctrl-C.
    Serve,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Register and manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Create and manage the people who sign in.
    #[command(subcommand)]
    User(user::UserCommand),
    /// List and rotate the token signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// See the outbox of messages sent by mail, and send failed ones again.
    #[command(subcommand)]
    Mail(mail::MailCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective values, secrets masked.
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A command failure: printed as `error: …` with exit status 1.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// Parses the command line, runs the command, and maps failures to an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let default_filter = match cli.command {
        Command::Serve => "info,sqlx=warn",
        _ => "warn",
    };
    telemetry::init(config.log_format, default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve::run(config).await,
            Command::Config(ConfigCommand::Check { json }) => check_config(&config, json),
            Command::Client(command) => client::run(&config, command).await,
            Command::User(command) => user::run(&config, command).await,
            Command::Keys(command) => keys::run(&config, command).await,
            Command::Mail(command) => mail::run(&config, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(config: &Config, json: bool) -> CliResult {
    let masked = config.masked();
    if json {
        println!("{}", serde_json::to_string_pretty(&masked)?);
        return Ok(());
    }
    println!("configuration is valid");
    if let Some(fields) = masked.as_object() {
        for (key, value) in fields {
            println!("  {key:<26} {value}");
        }
    }
    Ok(())
}

/// Prints `value` as pretty JSON.
fn print_json<T: serde::Serialize>(value: &T) -> CliResult {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
