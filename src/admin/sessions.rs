//! `/admin/users/{user_id}/sessions`: list one person's live browser sessions
//! and end one of them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AdminCaller, ApiPath};
use crate::app::AppState;
use crate::http::Error;
use crate::login::session::Session;
use crate::users;

/// A live browser session, as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// The public session id (the ID token's `sid`).
    pub session_id: String,
    /// When the session began, Unix seconds.
    pub signed_in_at: i64,
    /// When it was last used, Unix seconds (updated at most once a minute).
    pub last_active_at: i64,
    /// When the person last authenticated in it, Unix seconds.
    pub authenticated_at: i64,
    /// How they authenticated (RFC 8176), e.g. `["pwd"]`.
    pub methods: Vec<String>,
    /// The client address at sign-in.
    pub ip: String,
    /// The browser and system at sign-in, in words.
    pub device: String,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            session_id: s.sid,
            signed_in_at: s.created_at,
            last_active_at: s.last_seen,
            authenticated_at: s.auth_time,
            methods: s.amr,
            ip: s.ip,
            device: s.device,
        }
    }
}

/// List a user's live browser sessions, most recently used first.
#[utoipa::path(get, operation_id = "list_user_sessions", path = "/admin/users/{user_id}/sessions", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = [SessionView]), (status = 401), (status = 403), (status = 404)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<Vec<SessionView>>, Error> {
    let user = users::find(&state.store, &user_id).await?;
    let sessions = state.sessions().list(&user.id).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// End one of a user's sessions at once: its browser must sign in again, and
/// the refresh tokens issued in it without `offline_access` stop working.
#[utoipa::path(delete, operation_id = "end_user_session", path = "/admin/users/{user_id}/sessions/{session_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path), ("session_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403),
        (status = 404, description = "no such user, or no live session of theirs with that id")))]
pub async fn end(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath((user_id, session_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, Error> {
    let ended = state
        .sessions()
        .end_one(&user_id, &session_id, "ended by an admin")
        .await?;
    if !ended {
        return Err(Error::NotFound);
    }
    tracing::info!(admin = %caller.client_id, %user_id, "admin ended a session");
    Ok(StatusCode::NO_CONTENT)
}
