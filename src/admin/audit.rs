//! `/admin/audit-events`: the security-relevant events the server recorded
//! (refresh-token reuse, code replay, sign-outs everywhere), newest first.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AdminCaller, ApiQuery};
use crate::app::AppState;
use crate::http::Error;
use crate::store::AuditRow;

/// How many events to return.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// At most this many events (1–1000, default 100); anything else is refused.
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<i64>,
}

/// The most recent audit events.
#[utoipa::path(get, operation_id = "list_audit_events", path = "/admin/audit-events", tag = "audit", security(("bearer" = [])),
    params(Limit),
    responses((status = 200, body = [AuditRow]), (status = 401), (status = 403)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiQuery(Limit { limit }): ApiQuery<Limit>,
) -> Result<Json<Vec<AuditRow>>, Error> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest {
            code: "invalid_request",
            description: "limit must be between 1 and 1000".into(),
        });
    }
    let events = state
        .store
        .recent_audit(limit)
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Json(events))
}
