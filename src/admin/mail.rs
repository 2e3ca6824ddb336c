//! `/admin/mail`: the outbox as operators see it — what was sent, what waits
//! for a retry, what failed for good and why — never a message's content;
//! and sending a failed message again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AdminCaller, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::http::Error;
use crate::store::{MAIL_STATUSES, MailRow};

/// Which messages to return.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filter {
    /// At most this many messages (1–1000, default 100), newest first.
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<i64>,
    /// Only messages in this state: `pending`, `sent` or `failed`.
    #[param(nullable = false, pattern = "^(pending|sent|failed)$")]
    status: Option<String>,
}

/// The newest messages of the outbox.
#[utoipa::path(get, operation_id = "list_mail", path = "/admin/mail", tag = "mail", security(("bearer" = [])),
    params(Filter),
    responses((status = 200, body = [MailRow]), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiQuery(Filter { limit, status }): ApiQuery<Filter>,
) -> Result<Json<Vec<MailRow>>, Error> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest {
            code: "invalid_request",
            description: "limit must be between 1 and 1000".into(),
        });
    }
    if status
        .as_deref()
        .is_some_and(|s| !MAIL_STATUSES.contains(&s))
    {
        return Err(Error::BadRequest {
            code: "invalid_request",
            description: "status must be pending, sent or failed".into(),
        });
    }
    Ok(Json(state.store.list_mail(status.as_deref(), limit).await?))
}

/// Sends a failed message again, with a fresh count of attempts.
#[utoipa::path(post, operation_id = "retry_mail", path = "/admin/mail/{id}/retry", tag = "mail", security(("bearer" = [])),
    params(("id" = String, Path, description = "The message's id")),
    responses((status = 204, description = "due again now"), (status = 401), (status = 403),
        (status = 404, description = "no failed message has that id")))]
pub async fn retry(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, Error> {
    state.store.retry_mail(&id, state.clock.now()).await?;
    state.mail.wake();
    tracing::info!(%id, "a failed message is due again");
    Ok(StatusCode::NO_CONTENT)
}
