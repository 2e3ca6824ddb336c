//! `/admin/users/{user_id}/factors`: what a person has to sign in with, and
//! resetting it (a lost phone and passkeys, or an account taken over).

use axum::Json;
use axum::extract::State;

use super::{AdminCaller, ApiPath};
use crate::app::AppState;
use crate::factors::{FactorOverview, FactorReset};
use crate::http::Error;
use crate::users::Actor;

/// A user's password, authenticator app, recovery codes and passkeys (never
/// a secret).
#[utoipa::path(get, operation_id = "show_user_factors", path = "/admin/users/{user_id}/factors", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = FactorOverview), (status = 401), (status = 403), (status = 404)))]
pub async fn show(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<FactorOverview>, Error> {
    Ok(Json(state.factors().overview(&user_id).await?))
}

/// Remove a user's authenticator app, recovery codes and passkeys, and sign
/// them out everywhere (sessions, refresh and access tokens) in the same
/// write. A user left without a password cannot sign in until one is set.
#[utoipa::path(delete, operation_id = "reset_user_factors", path = "/admin/users/{user_id}/factors", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = FactorReset), (status = 401), (status = 403), (status = 404),
        (status = 503, description = "a write failed and nothing changed; retry")))]
pub async fn reset(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<FactorReset>, Error> {
    let reset = state.factors().reset(&user_id, Actor::Admin).await?;
    tracing::info!(admin = %caller.client_id, %user_id, "admin reset a user's sign-in methods");
    Ok(Json(reset))
}
