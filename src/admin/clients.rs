//! `/admin/clients`: create, list, read, update, delete clients and rotate secrets.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AdminCaller, ApiJson, ApiPath};
use crate::app::AppState;
use crate::clients::{self, ClientPatch, ClientSpec, ClientView, Registered};
use crate::http::Error;

/// A new secret, shown once.
#[derive(Serialize, ToSchema)]
pub struct NewSecret {
    client_id: String,
    client_secret: String,
}

/// List every client.
#[utoipa::path(get, operation_id = "list_clients", path = "/admin/clients", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = [ClientView]), (status = 401), (status = 403)))]
pub async fn list(
    _: AdminCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<ClientView>>, Error> {
    let clients = clients::list(&state.store).await?;
    Ok(Json(clients.iter().map(|c| c.view()).collect()))
}

/// Register a client. The response holds the client secret; it is never shown again.
#[utoipa::path(post, operation_id = "create_client", path = "/admin/clients", tag = "clients", security(("bearer" = [])),
    request_body = ClientSpec,
    responses((status = 201, body = Registered), (status = 400), (status = 401), (status = 403)))]
pub async fn create(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiJson(spec): ApiJson<ClientSpec>,
) -> Result<(StatusCode, Json<Registered>), Error> {
    let registered = clients::register(&state.store, state.clock.now(), spec).await?;
    tracing::info!(admin = %caller.client_id, client_id = %registered.client.client_id, "admin created a client");
    Ok((StatusCode::CREATED, Json(registered)))
}

/// Read one client.
#[utoipa::path(get, operation_id = "show_client", path = "/admin/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 401), (status = 403), (status = 404)))]
pub async fn show(
    _: AdminCaller,
    State(state): State<AppState>,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Json<ClientView>, Error> {
    Ok(Json(clients::find(&state.store, &client_id).await?.view()))
}

/// Change some fields of a client; the result is validated as a whole.
#[utoipa::path(patch, operation_id = "update_client", path = "/admin/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)), request_body = ClientPatch,
    responses((status = 200, body = ClientView), (status = 400), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "each field is fine, but the client as patched would break a registration rule")))]
pub async fn update(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(client_id): ApiPath<String>,
    ApiJson(patch): ApiJson<ClientPatch>,
) -> Result<Json<ClientView>, Error> {
    let client = clients::update(&state.store, state.clock.now(), &client_id, patch).await?;
    state.clients.forget(&client_id);
    tracing::info!(admin = %caller.client_id, %client_id, "admin updated a client");
    Ok(Json(client.view()))
}

/// Delete a client. Its access tokens stop working at the admin API at once and
/// expire within the access-token lifetime everywhere else.
#[utoipa::path(delete, operation_id = "delete_client", path = "/admin/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(client_id): ApiPath<String>,
) -> Result<StatusCode, Error> {
    clients::delete(&state.store, &client_id).await?;
    state.clients.forget(&client_id);
    tracing::info!(admin = %caller.client_id, %client_id, "admin deleted a client");
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a confidential client's secret. The old secret stops working at once.
#[utoipa::path(post, operation_id = "rotate_client_secret", path = "/admin/clients/{client_id}/secret", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = NewSecret), (status = 401), (status = 403), (status = 404),
        (status = 409, description = "a public client has no secret")))]
pub async fn rotate_secret(
    caller: AdminCaller,
    State(state): State<AppState>,
    ApiPath(client_id): ApiPath<String>,
) -> Result<Json<NewSecret>, Error> {
    let client_secret = clients::rotate_secret(&state.store, state.clock.now(), &client_id).await?;
    state.clients.forget(&client_id);
    tracing::info!(admin = %caller.client_id, %client_id, "admin rotated a client secret");
    Ok(Json(NewSecret {
        client_id,
        client_secret,
    }))
}
