//! JWT access tokens (RFC 9068): minting them, and deciding whether a presented
//! one is active — signed by a published key, ours, unexpired, no longer-lived
//! than we issue, not revoked, its grant live and its client registered. Every
//! place that accepts access tokens (userinfo, introspection, the admin API)
//! asks [`active_claims`].

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
    /// The grant (token family) a user's token belongs to; revoking the grant revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// The person's claims the client asked to receive at userinfo with the
    /// `claims` parameter (OIDC Core §5.5), besides those of the scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
}

/// A freshly minted access token.
#[derive(Debug)]
pub struct MintedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// Signs a new access token for `client_id` acting for `sub` with `scope`;
/// `grant_id` ties a user's token to its grant.
pub async fn mint(
    state: &AppState,
    client_id: &str,
    sub: &str,
    scope: &Scope,
    grant_id: Option<&str>,
    userinfo_claims: &[String],
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
        exp: now.saturating_add(ttl),
        jti: random_string(16)?,
        gid: grant_id.map(str::to_owned),
        userinfo_claims: userinfo_claims.to_vec(),
    };
    let token = jwt::sign_in_background(state.keys.at(now), TOKEN_TYPE, claims).await?;
    Ok(MintedToken {
        token,
        expires_in: ttl,
    })
}

/// The claims of `token` if it is active now; `None` for anything else (bad
/// signature, unknown key, other issuer, expired, a lifetime longer than
/// `access_token_ttl_secs`, revoked, a `gid` naming no live grant, a client
/// that is gone). One database round trip.
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
    if claims.exp.saturating_sub(claims.iat) > state.config.access_token_ttl_secs {
        tracing::info!("access token living longer than access_token_ttl_secs refused");
        return Ok(None);
    }
    let standing = state
        .store
        .access_token_standing(&claims.jti, claims.gid.as_deref(), &claims.client_id)
        .await?;
    if standing.revoked || !standing.client_exists {
        tracing::debug!("access token revoked or its client is gone");
        return Ok(None);
    }
    if claims.gid.is_some() && !standing.grant_live {
        tracing::debug!("access token of a revoked or unknown grant");
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
