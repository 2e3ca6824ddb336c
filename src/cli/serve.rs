//! `gatehouse serve`.

use super::CliResult;
use crate::app::{self, App};
use crate::clock::Clock;
use crate::config::{Config, mask_url_password};

/// Builds the app, binds, logs what an operator needs to know, and serves until a signal.
pub async fn run(config: Config) -> CliResult {
    let issuer = config.issuer.clone();
    let database = mask_url_password(&config.database_url());
    let addresses = config.listen.clone();
    let app = App::build(config, Clock::System).await?;
    let listeners = app::bind(&addresses).await?;
    let listening: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    tracing::info!(%issuer, %database, listening = %listening.join(", "), "Gatehouse is serving");
    let client_count = app
        .state()
        .store
        .list_clients()
        .await
        .map_or(0, |c| c.len());
    if client_count == 0 {
        tracing::info!(
            "no clients registered yet; create an admin client with: \
             gatehouse client create --admin --name \"Admin\""
        );
    }
    app.serve(listeners, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
