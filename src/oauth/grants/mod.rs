//! One file per grant type (RFC 6749 §4), each turning a token request into a
//! [`TokenResponse`].

pub mod client_credentials;

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
}
