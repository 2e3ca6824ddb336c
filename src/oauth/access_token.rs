//! JWT access tokens (RFC 9068): minting them, and deciding whether a presented
//! one is active — signed by a published key, ours, unexpired, not revoked.

use serde::{Deserialize, Serialize};

use super::scope::Scope;
use crate::app::AppState;
use crate::crypto::secret::random_string;
use crate::crypto::{CryptoError, jwt};
use crate::store::StoreError;

/// The JWT `typ` of access tokens (RFC 9068 §2.1).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Our issuer URL.
    pub iss: String,
    /// The user, or the client itself for client_credentials.
    pub sub: String,
    /// The audience: the resource the token is for.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Unique token id; what revocation records.
    pub jti: String,
}

/// A freshly minted access token.
#[derive(Debug)]
pub struct MintedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// Signs a new access token for `client_id` acting for `sub` with `scope`.
/// The RSA signature runs on the blocking pool so it never stalls other requests.
pub async fn mint(
    state: &AppState,
    client_id: &str,
    sub: &str,
    scope: &Scope,
) -> Result<MintedToken, CryptoError> {
    let now = state.clock.now();
    let ttl = state.config.access_token_ttl_secs;
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: sub.to_owned(),
        aud: state.config.issuer.clone(),
        client_id: client_id.to_owned(),
        scope: scope.to_string(),
        iat: now,
        exp: now + ttl,
        jti: random_string(16)?,
    };
    let keys = state.keys.at(now);
    let token = tokio::task::spawn_blocking(move || {
        let signer = keys
            .signer()
            .ok_or(CryptoError::Key("no signing key is active"))?;
        jwt::sign(signer, TOKEN_TYPE, &claims)
    })
    .await
    .map_err(|_| CryptoError::Key("signing task failed"))??;
    Ok(MintedToken {
        token,
        expires_in: ttl,
    })
}

/// The claims of `token` if it is active now; `None` for anything else
/// (bad signature, unknown key, other issuer, expired, revoked).
pub async fn active_claims(
    state: &AppState,
    token: &str,
) -> Result<Option<AccessTokenClaims>, StoreError> {
    let Some(claims) = verified_claims(state, token) else {
        return Ok(None);
    };
    if claims.exp <= state.clock.now() {
        tracing::debug!("access token expired");
        return Ok(None);
    }
    if state.store.is_access_token_revoked(&claims.jti).await? {
        tracing::debug!("access token revoked");
        return Ok(None);
    }
    Ok(Some(claims))
}

/// The claims of `token` if we signed it with a published key for this issuer,
/// whatever its expiry.
pub fn verified_claims(state: &AppState, token: &str) -> Option<AccessTokenClaims> {
    let keys = state.keys.at(state.clock.now());
    match jwt::verify::<AccessTokenClaims>(token, TOKEN_TYPE, |kid| keys.find(kid)) {
        Ok(claims) if claims.iss == state.config.issuer => Some(claims),
        Ok(_) => {
            tracing::debug!("access token from another issuer");
            None
        }
        Err(reason) => {
            tracing::debug!(%reason, "access token rejected");
            None
        }
    }
}
