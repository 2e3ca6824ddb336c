//! `POST /token` (RFC 6749 §3.2): authenticate the client, then hand the request
//! to the grant it names.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::client_auth::ClientCredentials;
use super::error::{ErrorCode, OAuthError};
use super::grants::{TokenResponse, client_credentials};
use super::params::FormParams;
use crate::app::AppState;

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: FormParams,
) -> Result<Json<TokenResponse>, OAuthError> {
    let client = ClientCredentials::from_request(headers.get(AUTHORIZATION), &params)?
        .authenticate(&state.store)
        .await?;
    let response = match params.required("grant_type")? {
        "client_credentials" => client_credentials::grant(&state, &client, &params).await?,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type {other:?} is not supported"),
            ));
        }
    };
    tracing::info!(client_id = %client.id, "access token issued");
    Ok(Json(response))
}
