//! `/admin/audit-events`: the security-relevant events the server recorded
//! (refresh-token reuse, code replay, sign-outs everywhere, sessions ended),
//! newest first, of everyone or of one person.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AdminCaller, ApiQuery};
use crate::app::AppState;
use crate::http::Error;
use crate::store::AuditRow;

/// Which events to return.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// At most this many events (1–1000, default 100); anything else is refused.
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<i64>,
    /// Only the events about this person (their user id); an id no one has
    /// matches nothing.
    #[param(max_length = 255, nullable = false)]
    user_id: Option<String>,
}

/// The longest `user_id` filter accepted, in characters.
const MAX_USER_ID_CHARS: usize = 255;

/// The most recent audit events, of everyone or of one person.
#[utoipa::path(get, operation_id = "list_audit_events", path = "/admin/audit-events", tag = "audit", security(("bearer" = [])),
    params(Filter),
    responses((status = 200, body = [AuditRow]), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiQuery(Filter { limit, user_id }): ApiQuery<Filter>,
) -> Result<Json<Vec<AuditRow>>, Error> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest {
            code: "invalid_request",
            description: "limit must be between 1 and 1000".into(),
        });
    }
    if user_id
        .as_ref()
        .is_some_and(|id| id.chars().count() > MAX_USER_ID_CHARS)
    {
        return Err(Error::BadRequest {
            code: "invalid_request",
            description: format!("user_id must be at most {MAX_USER_ID_CHARS} characters"),
        });
    }
    // No user id holds a NUL (and PostgreSQL cannot compare one): nothing matches.
    if user_id.as_ref().is_some_and(|id| id.contains('\0')) {
        return Ok(Json(Vec::new()));
    }
    let events = state.store.recent_audit(limit, user_id.as_deref()).await?;
    Ok(Json(events))
}
