//! OAuth error responses (RFC 6749 §5.2, RFC 7009 §2.2.1): a JSON body with
//! `error` and `error_description`, never a stack trace or internal detail.

use std::borrow::Cow;

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::params::InvalidParams;

/// The registered OAuth error codes we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// Something failed on our side; details are only in the log.
    ServerError,
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
    /// Request objects are not supported (OIDC Core §3.1.2.6).
    RequestNotSupported,
    /// `request_uri` is not supported (OIDC Core §3.1.2.6).
    RequestUriNotSupported,
}

/// An OAuth error as sent to the client.
#[derive(Clone, Debug, Serialize, thiserror::Error)]
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

    /// `server_error` with a generic description.
    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}

impl From<InvalidParams> for OAuthError {
    fn from(e: InvalidParams) -> Self {
        Self::invalid_request(e.0)
    }
}

/// A refused form body at an OAuth endpoint is `invalid_request`.
impl IntoResponse for InvalidParams {
    fn into_response(self) -> Response {
        OAuthError::from(self).into_response()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.error {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        tracing::info!(error = ?self.error, description = ?self.error_description, "oauth request refused");
        let mut response = (status, Json(&self)).into_response();
        match self.error {
            ErrorCode::InvalidClient => {
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="gatehouse""#),
                );
            }
            ErrorCode::TemporarilyUnavailable => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
