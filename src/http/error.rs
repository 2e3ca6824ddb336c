//! The admin API's error type: one enum deciding status, JSON body and headers.
//! Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clients::RegistryError;
use crate::crypto::password::PasswordError;
use crate::store::StoreError;
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
    /// The path exists but not with this method: 405.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// The body is larger than `max_body_bytes`: 413.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The body is not `application/json`: 415.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// The request is malformed or breaks a rule: 400 with `code`.
    #[error("{description}")]
    BadRequest {
        /// Machine-readable error code.
        code: &'static str,
        /// What is wrong, for the developer.
        description: String,
    },
    /// The request clashes with existing state (a taken email, a client change
    /// that breaks a rule together with what is stored, a public client's secret): 409.
    #[error("{description}")]
    Conflict {
        /// What clashes, for the developer.
        description: String,
    },
    /// Too busy right now (password hashing queue full), or a database write
    /// failed inside a unit of work that therefore changed nothing: 503 with
    /// `Retry-After`, the request may be sent again.
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
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
            Error::MethodNotAllowed => "method_not_allowed",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
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

/// The JSON shape of every error the admin API sends, as documented in its OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`invalid_request`, `invalid_token`, `not_found`, …).
    pub error: String,
    /// What went wrong, for the developer.
    pub error_description: String,
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType,
            StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
            _ => Error::BadRequest {
                code: "invalid_request",
                description: rejection.body_text(),
            },
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
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
            clash @ (RegistryError::NoSecret | RegistryError::Conflicts(_)) => Error::Conflict {
                description: clash.to_string(),
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
            UserError::EmailTaken | UserError::PasswordChanged => Error::Conflict {
                description: e.to_string(),
            },
            UserError::Password(PasswordError::Overloaded) => Error::Unavailable,
            // A user change is one unit of work, so a failed write changed
            // nothing and the same request may simply be sent again.
            UserError::Store(StoreError::Database(cause)) => {
                tracing::error!(error = %cause, "user change not stored; nothing changed");
                Error::Unavailable
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

/// The fallback for unknown paths: a JSON 404.
pub async fn not_found() -> Error {
    Error::NotFound
}

/// The fallback for a known path asked with a method it does not serve: a JSON 405.
pub async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
