//! Who may call the admin API: only a client acting for itself. The bearer
//! token must be an active access token with the `gatehouse:admin` scope,
//! issued by the client_credentials grant (`sub` is the client, no grant of a
//! person), to a client that — read fresh from the database, not from the
//! token path's short-lived cache — still exists, is still an admin client,
//! and has not had its secret or permissions changed since the token was
//! issued. A person's token never passes, whatever scope it carries.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::clients::{self, Client, RegistryError};
use crate::http::Error;
use crate::http::bearer::BearerToken;
use crate::oauth::access_token::{self, AccessTokenClaims};
use crate::oauth::scope::{ADMIN_SCOPE, Scope};

/// An authenticated admin caller; extracting it is the access check.
#[derive(Debug)]
pub struct AdminCaller {
    /// The admin client that made the call, for the audit log.
    pub client_id: String,
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let BearerToken(token) = BearerToken::from_request_parts(parts, state).await?;
        let claims = access_token::active_claims(state, &token)
            .await?
            .ok_or(Error::InvalidToken)?;
        let scope = Scope::parse(&claims.scope).map_err(|_| Error::InvalidToken)?;
        if !scope.contains(ADMIN_SCOPE) {
            return Err(Error::InsufficientScope(ADMIN_SCOPE));
        }
        let client = match clients::find(&state.store, &claims.client_id).await {
            Ok(client) => client,
            Err(RegistryError::NotFound) => {
                tracing::warn!("admin token of a deleted client refused");
                return Err(Error::InvalidToken);
            }
            Err(e) => return Err(Error::internal(e)),
        };
        if let Err(reason) = carries_admin_power(&claims, &client) {
            tracing::warn!(client_id = %client.id, reason, "admin API refused a token");
            return Err(Error::InvalidToken);
        }
        Ok(AdminCaller {
            client_id: claims.client_id,
        })
    }
}

/// Whether an active token with the admin scope, issued to `client`, may act
/// as admin; the error says why not, for the log.
fn carries_admin_power(claims: &AccessTokenClaims, client: &Client) -> Result<(), &'static str> {
    if claims.sub != client.id || claims.gid.is_some() {
        return Err("the token acts for a person, not for the client");
    }
    if !client.is_admin() {
        return Err("the client is no longer an admin client");
    }
    // Strict: a token issued in the same second as the change may predate it.
    // The token endpoint issues no admin token within that second (see
    // `oauth::grants::client_credentials`), so no fresh token is lost.
    if client
        .credentials_changed_at
        .is_some_and(|changed| claims.iat <= changed)
    {
        return Err("the client's secret or permissions changed after the token was issued");
    }
    Ok(())
}
