//! Who may call the admin API: a bearer access token that is active, carries the
//! `gatehouse:admin` scope, and belongs to a client that still exists.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::clients::{self, RegistryError};
use crate::http::Error;
use crate::oauth::access_token;
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
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Error::InvalidToken)?;
        let claims = access_token::active_claims(state, token)
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .ok_or(Error::InvalidToken)?;
        let scope = Scope::parse(&claims.scope).map_err(|_| Error::InvalidToken)?;
        if !scope.contains(ADMIN_SCOPE) {
            return Err(Error::InsufficientScope(ADMIN_SCOPE));
        }
        match clients::find(&state.store, &claims.client_id).await {
            Ok(_) => Ok(AdminCaller {
                client_id: claims.client_id,
            }),
            Err(RegistryError::NotFound) => Err(Error::InvalidToken),
            Err(e) => Err(Error::Internal(e.to_string())),
        }
    }
}
