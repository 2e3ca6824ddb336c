//! `POST /introspect` (RFC 7662): a confidential client (a resource server) asks
//! whether a token is active and what it carries.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use serde::Serialize;

use super::access_token::{self, AccessTokenClaims};
use super::client_auth::ClientCredentials;
use super::error::OAuthError;
use super::params::FormParams;
use crate::app::AppState;
use crate::clients::ClientKind;

/// RFC 7662 §2.2 response: `{"active": false}` or the token's claims.
#[derive(Debug, Serialize)]
pub struct Introspection {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    claims: Option<AccessTokenClaims>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
}

/// The introspection endpoint.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: FormParams,
) -> Result<Json<Introspection>, OAuthError> {
    let client = ClientCredentials::from_request(headers.get(AUTHORIZATION), &params)?
        .authenticate(&state)
        .await?;
    if client.kind != ClientKind::Confidential {
        tracing::info!(client_id = %client.id, "public client tried to introspect");
        return Err(OAuthError::invalid_client());
    }
    let token = params.required("token")?;
    let claims = access_token::active_claims(&state, token)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "revocation lookup failed");
            OAuthError::server_error()
        })?;
    Ok(Json(Introspection {
        active: claims.is_some(),
        token_type: claims.as_ref().map(|_| "Bearer"),
        claims,
    }))
}
