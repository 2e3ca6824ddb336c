//! `POST /revoke` (RFC 7009): a client revokes a token issued to it. The answer
//! is 200 whether or not the token was valid, so it reveals nothing.

use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};

use super::access_token;
use super::client_auth::ClientCredentials;
use super::error::OAuthError;
use super::params::FormParams;
use crate::app::AppState;

/// The revocation endpoint. `token_type_hint` is only a hint and is ignored:
/// every token type we issue is tried (RFC 7009 §2.1).
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: FormParams,
) -> Result<StatusCode, OAuthError> {
    let client = ClientCredentials::from_request(headers.get(AUTHORIZATION), &params)?
        .authenticate(&state)
        .await?;
    let token = params.required("token")?;
    let Some(claims) = access_token::verified_claims(&state, token) else {
        return Ok(StatusCode::OK);
    };
    if claims.client_id != client.id {
        tracing::info!(client_id = %client.id, "refused to revoke another client's token");
        return Ok(StatusCode::OK);
    }
    state
        .store
        .revoke_access_token(&claims.jti, claims.exp)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not record a revocation");
            OAuthError::server_error()
        })?;
    tracing::info!(client_id = %client.id, "access token revoked");
    Ok(StatusCode::OK)
}
