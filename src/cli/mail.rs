//! `gatehouse mail …`: the outbox as operators see it, and sending a failed
//! message again. Works on the database directly; a running server's worker
//! picks a retried message up within `mail_poll_interval_ms`.

use clap::Subcommand;

use super::{CliResult, print_json};
use crate::app::open_store;
use crate::clock::Clock;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// List the newest messages: kind, recipient, state, attempts and the last error.
    List {
        /// Only messages in this state.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::store::MAIL_STATUSES))]
        status: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed message again, with a fresh count of attempts.
    Retry {
        /// The message's id (from `gatehouse mail list`).
        id: String,
    },
}

/// Runs a `mail` subcommand against the configured database.
pub async fn run(config: &Config, command: MailCommand) -> CliResult {
    let store = open_store(config).await?;
    match command {
        MailCommand::List {
            status,
            limit,
            json,
        } => {
            let rows = store.list_mail(status.as_deref(), limit).await?;
            if json {
                return print_json(&rows);
            }
            if rows.is_empty() {
                println!("no messages");
            }
            for row in rows {
                println!(
                    "{:<22} {:<17} {:<8} attempts={} to={}{}",
                    row.id,
                    row.kind,
                    row.status,
                    row.attempts,
                    row.recipient,
                    row.last_error
                        .map(|e| format!(" last_error={e:?}"))
                        .unwrap_or_default()
                );
            }
        }
        MailCommand::Retry { id } => match store.retry_mail(&id, Clock::System.now()).await {
            Ok(()) => println!("message {id} is due again"),
            Err(crate::store::StoreError::NotFound) => {
                return Err(format!("no failed message has the id {id}").into());
            }
            Err(e) => return Err(e.into()),
        },
    }
    Ok(())
}
