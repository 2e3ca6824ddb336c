//! OAuth error codes and descriptions (RFC 6749 §4.1.2.1 and §5.2, RFC 7009
//! §2.2.1, OIDC Core §3.1.2.6). How they are sent — JSON, or parameters at the
//! redirect URI — is [`crate::http::Error`]'s; never a stack trace or internal detail.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};

use crate::http::params::InvalidParams;

/// The registered OAuth error codes we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing, repeated or malformed parameter (RFC 6749 §5.2).
    InvalidRequest,
    /// Client authentication failed (RFC 6749 §5.2); answered with 401.
    InvalidClient,
    /// The grant (code, refresh token) is invalid, expired or revoked (RFC 6749 §5.2).
    InvalidGrant,
    /// The client may not use this grant type (RFC 6749 §5.2).
    UnauthorizedClient,
    /// The grant type is not supported (RFC 6749 §5.2).
    UnsupportedGrantType,
    /// The scope is invalid or exceeds what the client may ask for (RFC 6749 §5.2).
    InvalidScope,
    /// Authorization endpoint (RFC 6749 §4.1.2.1): the response type is not supported.
    UnsupportedResponseType,
    /// The person (or policy) refused (RFC 6749 §4.1.2.1).
    AccessDenied,
    /// Overloaded or briefly unable; try again shortly (RFC 6749 §4.1.2.1).
    /// As a direct response: 503 with `Retry-After`.
    TemporarilyUnavailable,
    /// `prompt=none` but the person must sign in (OIDC Core §3.1.2.6).
    LoginRequired,
    /// `prompt=none` but the person must consent (OIDC Core §3.1.2.6).
    ConsentRequired,
    /// The person cannot authenticate as strongly as the request demands
    /// (OpenID Connect Unmet Authentication Requirements 1.0).
    UnmetAuthenticationRequirements,
    /// Request objects are not supported (OIDC Core §3.1.2.6).
    RequestNotSupported,
    /// `request_uri` is not supported (OIDC Core §3.1.2.6).
    RequestUriNotSupported,
}

impl ErrorCode {
    /// The code as sent (`invalid_request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
        }
    }
}

/// An OAuth error's code and description: the body of an OAuth error response,
/// sent as JSON or as redirect parameters by [`crate::http::Error`].
#[derive(Clone, Debug, thiserror::Error)]
#[error("{error:?}: {error_description}")]
pub struct OAuthError {
    /// The error code.
    pub error: ErrorCode,
    /// A human-readable explanation for the client developer.
    pub error_description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            error: code,
            error_description: description.into(),
        }
    }

    /// `invalid_request` with `description`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`: one message for every authentication failure, so it reveals nothing.
    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }
}

impl From<InvalidParams> for OAuthError {
    fn from(e: InvalidParams) -> Self {
        Self::invalid_request(e.0)
    }
}

/// A refused form body is `invalid_request` (a page on the routes of pages).
impl IntoResponse for InvalidParams {
    fn into_response(self) -> Response {
        crate::http::Error::from(self).into_response()
    }
}
