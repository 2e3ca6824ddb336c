//! `POST /token` (RFC 6749 §3.2): authenticate the client, then hand the request
//! to the grant it names.

use axum::Json;
use axum::extract::State;

use super::client_auth::AuthenticatedClient;
use super::error::{ErrorCode, OAuthError};
use super::grants::{TokenResponse, authorization_code, client_credentials, refresh_token};
use crate::app::AppState;
use crate::http::Error;

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<Json<TokenResponse>, Error> {
    let response = match params.required("grant_type")? {
        "authorization_code" => authorization_code::grant(&state, &client, &params).await?,
        "refresh_token" => refresh_token::grant(&state, &client, &params).await?,
        "client_credentials" => client_credentials::grant(&state, &client, &params).await?,
        other => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant type {other:?} is not supported"),
            )
            .into());
        }
    };
    Ok(Json(response))
}
