//! One file per grant type (RFC 6749 §4), each turning a token request into a
//! [`TokenResponse`].

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use serde::Serialize;

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    /// The JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// The granted scope, space-separated.
    pub scope: String,
    /// The ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// A new refresh token; the one presented (if any) no longer works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl From<crate::oauth::tokens::TokenSet> for TokenResponse {
    fn from(set: crate::oauth::tokens::TokenSet) -> Self {
        Self {
            access_token: set.access_token,
            token_type: "Bearer",
            expires_in: set.expires_in,
            scope: set.scope.to_string(),
            id_token: set.id_token,
            refresh_token: set.refresh_token,
        }
    }
}
