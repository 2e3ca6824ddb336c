//! Liveness and readiness probes for load balancers and orchestrators.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::paths;
use crate::app::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::HEALTHZ, get(healthz))
        .route(paths::READYZ, get(readyz))
}

/// The process is up and serving.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do useful work: the database and the cache answer. A
/// failure names the dependencies that did not.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, cache) = tokio::join!(state.store.ping(), state.cache.ping());
    let mut unreachable = Vec::new();
    if let Err(e) = database {
        tracing::warn!(error = %e, "readiness check failed: database");
        unreachable.push("database");
    }
    if let Err(e) = cache {
        tracing::warn!(error = %e, "readiness check failed: cache");
        unreachable.push("cache");
    }
    if unreachable.is_empty() {
        return (StatusCode::OK, Json(json!({ "status": "ready" })));
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "status": "unavailable",
            "reason": format!("{} unreachable", unreachable.join(" and ")),
        })),
    )
}
