//! The client credentials grant (RFC 6749 §4.4): a confidential client gets an
//! access token for itself. No refresh token is issued (§4.4.3).

use super::TokenResponse;
use crate::app::AppState;
use crate::clients::{Client, GrantType, RegistryError};
use crate::http::Error;
use crate::http::params::FormParams;
use crate::oauth::access_token;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope::Scope;

/// Issues an access token whose subject is the client.
pub async fn grant(
    state: &AppState,
    client: &Client,
    params: &FormParams,
) -> Result<TokenResponse, Error> {
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        )
        .into());
    }
    let scope = granted_scope(client, params.get("scope"))?;
    // The admin API refuses admin tokens issued at or before the second the
    // client's credentials changed (they may predate the change), so none is
    // issued within that second: the client retries a moment later.
    if client.is_admin()
        && client
            .credentials_changed_at
            .is_some_and(|changed| state.clock.now() <= changed)
    {
        return Err(OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "this client's credentials changed within the last second; retry shortly",
        )
        .into());
    }
    let minted = access_token::mint(state, &client.id, &client.id, &scope, None, &[])
        .await
        .map_err(Error::internal)?;
    if client.is_admin() {
        still_unchanged(state, client).await?;
    }
    tracing::info!(client_id = %client.id, "access token issued");
    Ok(TokenResponse {
        access_token: minted.token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        scope: scope.to_string(),
        id_token: None,
        refresh_token: None,
    })
}

/// Re-reads an admin client after its token was signed and refuses the token if
/// the secret or permissions changed since the client was authenticated. A
/// change after this read is stamped no earlier than the token's `iat`, so the
/// admin API refuses that token anyway: either way, a token authenticated with a
/// secret that was rotated meanwhile never carries admin power.
async fn still_unchanged(state: &AppState, client: &Client) -> Result<(), Error> {
    let fresh = match crate::clients::find(&state.store, &client.id).await {
        Ok(fresh) => fresh,
        Err(RegistryError::NotFound) => {
            tracing::warn!(client_id = %client.id, "admin client deleted while issuing a token");
            return Err(OAuthError::invalid_client().into());
        }
        Err(e) => return Err(Error::internal(e)),
    };
    if fresh.secret_hash != client.secret_hash
        || fresh.credentials_changed_at != client.credentials_changed_at
    {
        tracing::warn!(client_id = %client.id, "admin client changed while issuing a token");
        return Err(OAuthError::invalid_client().into());
    }
    Ok(())
}

/// The requested scope if the client may have all of it; everything the client
/// may have when it asked for none (RFC 6749 §3.3).
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<Scope, Error> {
    let requested = match requested {
        Some(text) => Scope::parse(text)
            .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?,
        None => return Ok(client.scope.clone()),
    };
    if !requested.is_subset_of(&client.scope) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the requested scope exceeds what this client may ask for",
        )
        .into());
    }
    Ok(requested)
}
