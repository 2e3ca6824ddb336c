//! `POST /token` (RFC 6749 §3.2): authenticate the client, then hand the request
//! to the grant it names.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::client_auth::ClientCredentials;
use super::error::{ErrorCode, OAuthError};
use super::grants::{TokenResponse, authorization_code, client_credentials, refresh_token};
use crate::app::AppState;
use crate::http::params::FormParams;

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: FormParams,
) -> Result<Json<TokenResponse>, OAuthError> {
    let client = ClientCredentials::from_request(headers.get(AUTHORIZATION), &params)?
        .authenticate(&state)
        .await?;
    let response = match params.required("grant_type")? {
        "authorization_code" => authorization_code::grant(&state, &client, &params).await?,
        "refresh_token" => refresh_token::grant(&state, &client, &params).await?,
        "client_credentials" => client_credentials::grant(&state, &client, &params).await?,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type {other:?} is not supported"),
            ));
        }
    };
    Ok(Json(response))
}
