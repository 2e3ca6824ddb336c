//! The admin API's error type: one enum deciding status, JSON body and headers.
//! Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clients::RegistryError;
use crate::crypto::password::PasswordError;
use crate::users::UserError;

/// A failed request to a JSON API (admin API, userinfo).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, malformed, expired or revoked bearer token: 401 (RFC 6750 §3.1).
    #[error("invalid or missing bearer token")]
    InvalidToken,
    /// The token lacks the scope named: 403 (RFC 6750 §3.1).
    #[error("the token lacks the {0} scope")]
    InsufficientScope(&'static str),
    /// No such resource: 404.
    #[error("not found")]
    NotFound,
    /// The request is malformed or breaks a rule: 400 with `code`.
    #[error("{description}")]
    BadRequest {
        /// Machine-readable error code.
        code: &'static str,
        /// What is wrong, for the developer.
        description: String,
    },
    /// The request clashes with existing state (say, a taken email): 409.
    #[error("{description}")]
    Conflict {
        /// What clashes, for the developer.
        description: String,
    },
    /// Too busy right now (password hashing queue full): 503 with `Retry-After`.
    #[error("the server is busy; retry shortly")]
    Unavailable,
    /// Something failed on our side: 500, detail only in the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::InvalidToken => StatusCode::UNAUTHORIZED,
            Error::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::InvalidToken => "invalid_token",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::NotFound => "not_found",
            Error::BadRequest { code, .. } => code,
            Error::Conflict { .. } => "conflict",
            Error::Unavailable => "temporarily_unavailable",
            Error::Internal(_) => "server_error",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let description = match &self {
            Error::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                "the server could not complete the request".to_owned()
            }
            other => {
                tracing::info!(error = other.code(), reason = ?other.to_string(), "request refused");
                other.to_string()
            }
        };
        let body = Json(json!({ "error": self.code(), "error_description": description }));
        let mut response = (self.status(), body).into_response();
        let header = match self {
            Error::InvalidToken => Some((
                WWW_AUTHENTICATE,
                r#"Bearer realm="gatehouse", error="invalid_token""#.to_owned(),
            )),
            Error::InsufficientScope(scope) => Some((
                WWW_AUTHENTICATE,
                format!(r#"Bearer realm="gatehouse", error="insufficient_scope", scope="{scope}""#),
            )),
            Error::Unavailable => Some((RETRY_AFTER, "1".to_owned())),
            _ => None,
        };
        if let Some((name, value)) = header
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        Error::BadRequest {
            code: "invalid_request",
            description: rejection.body_text(),
        }
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound => Error::NotFound,
            RegistryError::Invalid(invalid) => Error::BadRequest {
                code: "invalid_client_metadata",
                description: invalid.to_string(),
            },
            RegistryError::NoSecret => Error::BadRequest {
                code: "invalid_request",
                description: "public clients have no secret".into(),
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<UserError> for Error {
    fn from(e: UserError) -> Self {
        match e {
            UserError::NotFound => Error::NotFound,
            UserError::Invalid { .. } => Error::BadRequest {
                code: "invalid_request",
                description: e.to_string(),
            },
            UserError::EmailTaken => Error::Conflict {
                description: e.to_string(),
            },
            UserError::Password(PasswordError::Overloaded) => Error::Unavailable,
            other => Error::Internal(other.to_string()),
        }
    }
}

/// The fallback for unknown paths: a JSON 404.
pub async fn not_found() -> Error {
    Error::NotFound
}
