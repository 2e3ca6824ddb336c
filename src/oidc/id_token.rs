//! ID tokens (OpenID Connect Core §2): who signed in, when and how, for which
//! client. Signed RS256 with the same key ring as access tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::crypto::{CryptoError, jwt};

/// The JWT `typ` of ID tokens.
pub const TOKEN_TYPE: &str = "JWT";

/// ID token claims: the standard ID-token claims, and the person's claims a
/// client asked for in the ID token with the `claims` parameter (OIDC Core
/// §5.5); scope-released claims are served by userinfo (§5.4).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Our issuer URL.
    pub iss: String,
    /// The person's stable subject identifier (never the email).
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// The authorized party: the client id.
    pub azp: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// When the person authenticated, Unix seconds (kept across refreshes).
    pub auth_time: i64,
    /// The request's nonce, echoed; absent when none was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of SHA-256 of the access token (OIDC Core §3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The browser session's public id (for logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Authentication methods (RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: String,
    /// The person's claims asked for in the ID token (`claims` parameter).
    #[serde(flatten)]
    pub asked: Map<String, Value>,
}

/// Signs an ID token.
pub async fn mint(state: &AppState, claims: IdTokenClaims) -> Result<String, CryptoError> {
    jwt::sign_in_background(state.keys.at(state.clock.now()), TOKEN_TYPE, claims).await
}

/// `at_hash` for `access_token`: base64url of the left half of its SHA-256.
pub fn at_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    let half = digest.as_ref().get(..16).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(half)
}

/// The claims of an ID token we issued (signature by a published key, our
/// issuer), whatever its expiry — as `id_token_hint` requires (OIDC Core §3.1.2.1).
pub fn verify_hint(state: &AppState, token: &str) -> Option<IdTokenClaims> {
    let keys = state.keys.at(state.clock.now());
    match jwt::verify::<IdTokenClaims>(token, TOKEN_TYPE, |kid| keys.find(kid)) {
        Ok(claims) if claims.iss == state.config.issuer => Some(claims),
        Ok(_) => None,
        Err(reason) => {
            tracing::debug!(%reason, "id_token_hint rejected");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_core_example() {
        // OpenID Connect Core, Appendix A.3 (access token and at_hash).
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
