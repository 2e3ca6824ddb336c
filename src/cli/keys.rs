//! `gatehouse keys …`: list and rotate signing keys.

use clap::Subcommand;

use super::{CliResult, print_json};
use crate::app::{open_store, prepare_key_encryption};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::rotation;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state (pending, active, retiring, retired).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a new key: published now, signing after the publish delay.
    /// Running servers pick it up within key_refresh_interval_secs.
    Rotate {
        /// Seconds before the new key signs (default: key_publish_delay_secs).
        #[arg(long, value_name = "SECONDS")]
        delay: Option<u32>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `keys` subcommand against the configured database.
pub async fn run(config: &Config, command: KeysCommand) -> CliResult {
    let store = open_store(config).await?;
    let now = Clock::System.now();
    match command {
        KeysCommand::List { json } => {
            let keys = rotation::list(&store, now, config.max_token_ttl_secs()).await?;
            if json {
                return print_json(&keys);
            }
            if keys.is_empty() {
                println!("no signing keys yet (the first is created when the server starts)");
            }
            for key in keys {
                println!(
                    "{:<44} {:<9} activate_at={} encrypted={}",
                    key.kid,
                    serde_json::to_value(key.state)?.as_str().unwrap_or("?"),
                    key.activate_at,
                    key.encrypted
                );
            }
        }
        KeysCommand::Rotate { delay, json } => {
            let delay = delay.map_or(config.key_publish_delay_secs, i64::from);
            // Under the start-up lock: on an empty database this key is the
            // first, and a server starting meanwhile must not make another.
            let lock = store.lock_startup().await?;
            let rotated = rotate(config, &store, now, delay).await;
            lock.release().await;
            let kid = rotated?;
            if json {
                return print_json(&serde_json::json!({ "kid": kid, "activate_at": now + delay }));
            }
            println!(
                "new key {kid} is published now and signs from {} (in {delay} s)",
                now + delay
            );
        }
    }
    Ok(())
}

/// Prepares the key-encryption key, then adds a signing key that signs after `delay`.
async fn rotate(
    config: &Config,
    store: &Store,
    now: i64,
    delay: i64,
) -> Result<String, Box<dyn std::error::Error>> {
    let kek = prepare_key_encryption(config, store, now).await?;
    Ok(rotation::rotate(store, kek.as_ref(), config.signing_key_bits, now, delay).await?)
}
