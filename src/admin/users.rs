//! `/admin/users`: create, list, read, update, disable, enable and delete users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{AdminCaller, ApiJson, ApiPath};
use crate::app::AppState;
use crate::http::Error;
use crate::users::{self, Actor, NewUser, UserPatch, UserView};

/// List every user.
#[utoipa::path(get, operation_id = "list_users", path = "/admin/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [UserView]), (status = 401), (status = 403)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<UserView>>, Error> {
    let users = users::list(&state.store).await?;
    Ok(Json(users.iter().map(|u| u.view()).collect()))
}

/// Create a user. The password, if given, is kept only as an argon2id hash.
#[utoipa::path(post, operation_id = "create_user", path = "/admin/users", tag = "users", security(("bearer" = [])),
    request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400), (status = 401), (status = 403),
        (status = 409, description = "the email is taken"),
        (status = 503, description = "password hashing is saturated; retry")))]
pub async fn create(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserView>), Error> {
    let user = users::create(&state.store, &state.passwords, state.clock.now(), new).await?;
    tracing::info!(admin = %caller.client_id, user_id = %user.id, "admin created a user");
    Ok((StatusCode::CREATED, Json(user.view())))
}

/// Read one user.
#[utoipa::path(get, operation_id = "show_user", path = "/admin/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401), (status = 403), (status = 404)))]
pub async fn show(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserView>, Error> {
    Ok(Json(users::find(&state.store, &user_id).await?.view()))
}

/// Change some fields of a user, the password included.
#[utoipa::path(patch, operation_id = "update_user", path = "/admin/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 400), (status = 401), (status = 403),
        (status = 404), (status = 409, description = "the email is taken"),
        (status = 503, description = "password hashing is saturated, or a write failed and nothing changed; retry")))]
pub async fn update(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<UserView>, Error> {
    let user = users::update(
        &state.store,
        &state.passwords,
        &state.mail,
        state.clock.now(),
        &user_id,
        patch,
        Actor::Admin,
    )
    .await?;
    tracing::info!(admin = %caller.client_id, %user_id, "admin updated a user");
    Ok(Json(user.view()))
}

/// Delete a user.
#[utoipa::path(delete, operation_id = "delete_user", path = "/admin/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404),
        (status = 503, description = "a write failed and nothing changed; retry")))]
pub async fn delete(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, Error> {
    users::delete(&state.store, state.clock.now(), &user_id, Actor::Admin).await?;
    tracing::info!(admin = %caller.client_id, %user_id, "admin deleted a user");
    Ok(StatusCode::NO_CONTENT)
}

/// Refuse sign-in for a user until enabled again, and sign them out everywhere.
#[utoipa::path(post, operation_id = "disable_user", path = "/admin/users/{user_id}/disable", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401), (status = 403), (status = 404),
        (status = 503, description = "a write failed and nothing changed; retry")))]
pub async fn disable(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserView>, Error> {
    let user = users::disable(&state.store, state.clock.now(), &user_id, Actor::Admin).await?;
    tracing::info!(admin = %caller.client_id, %user_id, "admin disabled a user");
    Ok(Json(user.view()))
}

/// Allow a disabled user to sign in again.
#[utoipa::path(post, operation_id = "enable_user", path = "/admin/users/{user_id}/enable", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401), (status = 403), (status = 404)))]
pub async fn enable(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<UserView>, Error> {
    let user = users::enable(&state.store, state.clock.now(), &user_id).await?;
    tracing::info!(admin = %caller.client_id, %user_id, "admin enabled a user");
    Ok(Json(user.view()))
}

/// Sign a user out everywhere: every session ends and every refresh and access
/// token of the user stops working at once.
#[utoipa::path(post, operation_id = "sign_out_user", path = "/admin/users/{user_id}/sign-out", tag = "users", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404),
        (status = 503, description = "a write failed and nothing changed; retry")))]
pub async fn sign_out(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, Error> {
    users::sign_out_everywhere(&state.store, state.clock.now(), &user_id, Actor::Admin).await?;
    tracing::info!(admin = %caller.client_id, %user_id, "admin signed a user out everywhere");
    Ok(StatusCode::NO_CONTENT)
}
