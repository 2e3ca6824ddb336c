//! `/admin/audit-events`: the security-relevant events the server recorded
//! (refresh-token reuse, code replay, sign-outs everywhere), newest first.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AdminCaller;
use crate::app::AppState;
use crate::http::Error;
use crate::store::AuditRow;

/// How many events to return.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Limit {
    /// At most this many events (1–1000, default 100).
    limit: Option<i64>,
}

/// The most recent audit events.
#[utoipa::path(get, path = "/admin/audit-events", tag = "audit", security(("bearer" = [])),
    params(Limit),
    responses((status = 200, body = [AuditRow]), (status = 401), (status = 403)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    Query(Limit { limit }): Query<Limit>,
) -> Result<Json<Vec<AuditRow>>, Error> {
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    let events = state
        .store
        .recent_audit(limit)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Json(events))
}
