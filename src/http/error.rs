//! The one error type of every endpoint, and how it renders.
//!
//! A handler, an extractor's rejection or a service error turned by `?` all
//! end up as an [`Error`]. It knows how to tell each audience:
//! - **JSON** (the default: the token, introspection and revocation
//!   endpoints, userinfo, the admin API): `{"error", "error_description"}`
//!   with the status and headers of RFC 6749 §5.2 and RFC 6750 §3.1;
//! - **an HTML page** for a person, on the routes that declare it with
//!   [`pages`]: a title and a message, never a redirect;
//! - **a redirect to the app's verified redirect URI** ([`Error::Redirect`]),
//!   which only the authorization endpoint makes, once the URI is verified.
//!
//! Each failure is logged exactly once, where it becomes a response (inside
//! the request's span): refusals at `info` with their code, our own failures
//! at `error` with their cause. The cause is kept typed until then and never
//! sent. (No layer around every request: the hot paths pay nothing.)

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::header::{RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::cache::CacheError;
use crate::clients::RegistryError;
use crate::crypto::CryptoError;
use crate::crypto::password::PasswordError;
use crate::factors::FactorError;
use crate::http::pages::error_page;
use crate::http::params::InvalidParams;
use crate::oauth::authorize::response::ResponseTarget;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::passkeys::PasskeyError;
use crate::recovery::RecoveryError;
use crate::service_error::ServiceError;
use crate::store::StoreError;
use crate::users::UserError;

/// Why something failed on our side: logged, never sent.
pub type Cause = Arc<dyn std::error::Error + Send + Sync>;

/// A request that could not be served.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// A refusal under an OAuth error code (RFC 6749 §5.2, RFC 7009 §2.2.1):
    /// `invalid_client` is 401 with `WWW-Authenticate`, the others 400.
    #[error("{0}")]
    OAuth(OAuthError),
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
    /// The body is not of the media type the endpoint reads: 415.
    #[error("the request body must be {0}")]
    UnsupportedMediaType(&'static str),
    /// The request is malformed or breaks a rule: 400 with `code`.
    #[error("{description}")]
    BadRequest {
        /// Machine-readable error code.
        code: &'static str,
        /// What is wrong, for the developer.
        description: String,
    },
    /// The request clashes with existing state (a taken email, a client change
    /// that breaks a rule together with what is stored, a public client's
    /// secret, a password changed meanwhile): 409.
    #[error("{description}")]
    Conflict {
        /// What clashes, for the developer.
        description: String,
    },
    /// A page for the person, with `status`: what happened in words and what
    /// to do. Rendered as the error page on every route.
    #[error("{title}: {message}")]
    Page {
        /// The status.
        status: StatusCode,
        /// The page's heading.
        title: &'static str,
        /// What happened and what to do, for the person.
        message: Cow<'static, str>,
    },
    /// The authorization endpoint's error for the app, sent to the redirect
    /// URI `target` already verified against the client's registration
    /// (RFC 6749 §4.1.2.1), with the failure behind it, if any.
    #[error("{error}")]
    Redirect {
        /// Where the answer goes, and how.
        target: Box<ResponseTarget>,
        /// Our issuer, sent as `iss` (RFC 9207).
        issuer: Arc<str>,
        /// The error for the app.
        error: OAuthError,
        /// Our failure behind it, for the log.
        cause: Option<Cause>,
    },
    /// Too busy right now (the password hashing queue is full), or a write
    /// failed inside a unit of work that therefore changed nothing: 503 with
    /// `Retry-After`; the request may be sent again.
    #[error("the server is busy; retry shortly")]
    Unavailable(Option<Cause>),
    /// Something failed on our side: 500 in JSON, "try again" on a page.
    #[error("internal error: {0}")]
    Internal(Cause),
}

/// How the routes of a router tell a failure that is not a page or a
/// redirect by nature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    Json,
    Page,
}

/// The failure a response was made from, kept in its extensions so that the
/// page layer can render it for a person.
#[derive(Clone)]
struct Failed(Error);

impl Error {
    /// Our failure `cause`.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Internal(Arc::from(cause.into()))
    }

    /// A page for the person with `status`, a heading and a message.
    pub fn page(
        status: StatusCode,
        title: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error::Page {
            status,
            title,
            message: message.into(),
        }
    }

    /// The page for a form whose step is already done or was replaced (a
    /// stale tab, a form re-posted): a clear message, never a code.
    pub fn out_of_date() -> Self {
        Self::page(
            StatusCode::CONFLICT,
            "This page is out of date",
            "This step of the sign-in was already completed or replaced in another window. Return to the application and start again.",
        )
    }

    /// The page for an interaction that is gone (expired, finished, or never existed).
    pub fn expired() -> Self {
        Self::page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Return to the application and start again.",
        )
    }

    /// The error `error` for the app at its verified redirect URI `target`.
    pub fn redirect(target: &ResponseTarget, issuer: &str, error: OAuthError) -> Self {
        Error::Redirect {
            target: Box::new(target.clone()),
            issuer: Arc::from(issuer),
            error,
            cause: None,
        }
    }

    /// `temporarily_unavailable` for the app at `target`, because of `cause`.
    pub fn redirect_unavailable(target: &ResponseTarget, issuer: &str, cause: Cause) -> Self {
        Error::Redirect {
            target: Box::new(target.clone()),
            issuer: Arc::from(issuer),
            error: OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "please try again in a moment",
            ),
            cause: Some(cause),
        }
    }

    /// Our failure behind this error, if it is one.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            Error::Internal(cause) => Some(cause),
            Error::Unavailable(cause) | Error::Redirect { cause, .. } => cause.as_ref(),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::OAuth(e) => match e.error {
                ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
                ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            },
            Error::InvalidToken => StatusCode::UNAUTHORIZED,
            Error::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Page { status, .. } => *status,
            Error::Redirect { .. } => StatusCode::FOUND,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code, as JSON bodies and the log name it.
    pub fn code(&self) -> &'static str {
        match self {
            Error::OAuth(e) | Error::Redirect { error: e, .. } => e.error.as_str(),
            Error::InvalidToken => "invalid_token",
            Error::InsufficientScope(_) => "insufficient_scope",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::BadRequest { code, .. } => code,
            Error::Conflict { .. } => "conflict",
            Error::Page { .. } => "page",
            Error::Unavailable(_) => "temporarily_unavailable",
            Error::Internal(_) => "server_error",
        }
    }

    /// What the requester is told: the description, except for our own
    /// failures, whose detail stays in the log.
    fn description(&self) -> Cow<'_, str> {
        match self {
            Error::OAuth(e) => Cow::Borrowed(&e.error_description),
            Error::Internal(_) => Cow::Borrowed("the server could not complete the request"),
            other => Cow::Owned(other.to_string()),
        }
    }

    fn render(&self, channel: Channel) -> Response {
        match (self, channel) {
            (
                Error::Redirect {
                    target,
                    issuer,
                    error,
                    ..
                },
                _,
            ) => target.error(issuer, error),
            (
                Error::Page {
                    status,
                    title,
                    message,
                },
                _,
            ) => error_page(*status, title, message),
            (_, Channel::Json) => self.json(),
            (_, Channel::Page) => self.as_page(),
        }
    }

    fn json(&self) -> Response {
        let body = Json(json!({ "error": self.code(), "error_description": self.description() }));
        let mut response = (self.status(), body).into_response();
        if let Some((name, value)) = self.header() {
            response.headers_mut().insert(name, value);
        }
        response
    }

    /// The header a JSON answer carries besides its body.
    fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        match self {
            Error::OAuth(e) if e.error == ErrorCode::InvalidClient => Some((
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="gatehouse""#),
            )),
            Error::InvalidToken => Some((
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="gatehouse", error="invalid_token""#),
            )),
            Error::InsufficientScope(scope) => HeaderValue::from_str(&format!(
                r#"Bearer realm="gatehouse", error="insufficient_scope", scope="{scope}""#
            ))
            .ok()
            .map(|value| (WWW_AUTHENTICATE, value)),
            Error::Unavailable(_) => Some((RETRY_AFTER, HeaderValue::from_static("1"))),
            Error::OAuth(e) if e.error == ErrorCode::TemporarilyUnavailable => {
                Some((RETRY_AFTER, HeaderValue::from_static("1")))
            }
            _ => None,
        }
    }

    /// The error page for a failure that is not a page by nature.
    fn as_page(&self) -> Response {
        match self {
            Error::Unavailable(_) | Error::Internal(_) => {
                let mut page = error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Something went wrong",
                    "Please try again in a moment.",
                );
                page.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                page
            }
            Error::NotFound => error_page(self.status(), "Not found", "There is no page here."),
            other => error_page(other.status(), "Invalid request", &other.description()),
        }
    }
}

impl Error {
    /// Logs this failure, inside the request's span: our own failures at
    /// `error` with their cause, refusals at `info`.
    fn log(&self) {
        match self.cause() {
            Some(cause) => tracing::error!(code = self.code(), %cause, "request failed"),
            None => tracing::info!(code = self.code(), reason = %self, "request refused"),
        }
    }
}

/// The one place a failure becomes a response, so it is logged here, once.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log();
        let mut response = self.render(Channel::Json);
        response.extensions_mut().insert(Failed(self));
        response
    }
}

/// Declares that `response`'s routes speak to people: a failure that is not
/// a page or a redirect by nature renders as the error page. Cookies the
/// handler set alongside the failure (a sign-in that happened all the same)
/// are kept. Applied with `axum::middleware::map_response` to the routers of
/// pages and forms.
pub async fn pages(mut response: Response) -> Response {
    let Some(Failed(error)) = response.extensions_mut().remove::<Failed>() else {
        return response;
    };
    let mut page = error.render(Channel::Page);
    for cookie in response.headers().get_all(SET_COOKIE) {
        page.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    page
}

/// The JSON shape of every error the admin API sends, as documented in its OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code (`invalid_request`, `invalid_token`, `not_found`, …).
    pub error: String,
    /// What went wrong, for the developer.
    pub error_description: String,
}

impl From<OAuthError> for Error {
    fn from(e: OAuthError) -> Self {
        Error::OAuth(e)
    }
}

impl From<InvalidParams> for Error {
    fn from(e: InvalidParams) -> Self {
        Error::OAuth(OAuthError::invalid_request(e.0))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            // Every change is one unit of work, so a failed write changed
            // nothing and the same request may simply be sent again.
            StoreError::Database(_) => Error::Unavailable(Some(Arc::new(e))),
            other => Error::internal(other),
        }
    }
}

impl From<CacheError> for Error {
    fn from(e: CacheError) -> Self {
        Error::internal(e)
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        Error::internal(e)
    }
}

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Self {
        Error::internal(e)
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType("application/json"),
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
            other => Error::internal(other),
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
            UserError::EmailTaken | UserError::PasswordChanged | UserError::NoOtherWayIn => {
                Error::Conflict {
                    description: e.to_string(),
                }
            }
            UserError::Password(PasswordError::Overloaded) => Error::Unavailable(None),
            UserError::Store(e) => e.into(),
            other => Error::internal(other),
        }
    }
}

impl From<RecoveryError> for Error {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::Unavailable => Error::page(
                StatusCode::NOT_FOUND,
                "Password reset is not available",
                "This server sends no mail. Ask your administrator to reset your password.",
            ),
            RecoveryError::InvalidLink => Error::page(
                StatusCode::BAD_REQUEST,
                "This link no longer works",
                "Password reset links work once, for a limited time. Ask for a new one.",
            ),
            RecoveryError::User(e) => e.into(),
            RecoveryError::Store(e) => e.into(),
            RecoveryError::Mail(e) => Error::internal(e),
        }
    }
}

impl From<FactorError> for Error {
    fn from(e: FactorError) -> Self {
        match e {
            FactorError::NoKey => Error::page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Authenticator apps are not available",
                "This server keeps no key to protect authenticator secrets with. Ask its operator to configure a key-encryption key.",
            ),
            FactorError::AlreadySet => Error::page(
                StatusCode::CONFLICT,
                "An authenticator app is already on",
                "Turn it off first to set up another one.",
            ),
            FactorError::Service(e) => e.into(),
        }
    }
}

impl From<PasskeyError> for Error {
    fn from(e: PasskeyError) -> Self {
        match e {
            PasskeyError::Service(e) => e.into(),
            PasskeyError::Unavailable => Error::page(
                StatusCode::NOT_FOUND,
                "Passkeys are not available",
                "Passkeys need this server to be reached by a domain name. Ask its operator.",
            ),
            PasskeyError::NoCeremony => Error::page(
                StatusCode::CONFLICT,
                "This passkey request expired",
                "Start again: passkey requests are valid for a few minutes, once.",
            ),
            PasskeyError::Duplicate => Error::page(
                StatusCode::CONFLICT,
                "This passkey is registered already",
                "It can already sign you in; there is no need to add it again.",
            ),
            PasskeyError::LastWayIn => Error::page(
                StatusCode::CONFLICT,
                "This is your only way to sign in",
                "Set a password or add another passkey before removing this one.",
            ),
            PasskeyError::NotFound => Error::page(
                StatusCode::NOT_FOUND,
                "No such passkey",
                "It may have been removed already. Open the page again.",
            ),
            PasskeyError::Malformed
            | PasskeyError::Unknown
            | PasskeyError::Disabled
            | PasskeyError::Refused(_)
            | PasskeyError::CounterRegression => Error::page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "The passkey could not be used",
                "Your browser's answer was not accepted. Try again.",
            ),
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use axum::middleware::map_response;
    use axum::routing::get;
    use tower::ServiceExt;
    use tracing_subscriber::layer::{Context, SubscriberExt};

    use super::*;

    /// Every event logged while it is installed: its level and its fields.
    #[derive(Clone, Default)]
    struct Logged(Arc<Mutex<Vec<(tracing::Level, String)>>>);

    struct Fields<'a>(&'a mut String);

    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut fields = String::new();
            event.record(&mut Fields(&mut fields));
            self.0
                .lock()
                .unwrap()
                .push((*event.metadata().level(), fields));
        }
    }

    async fn fail_on_our_side() -> Result<(), Error> {
        Err(Error::internal("the disk is on fire"))
    }

    async fn refuse() -> Result<(), Error> {
        Err(Error::NotFound)
    }

    async fn call(app: &Router, path: &str) -> (StatusCode, String, String) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn each_failure_renders_for_its_audience_and_is_logged_once() {
        let logged = Logged::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(logged.clone()));
        let app = Router::new()
            .route("/page", get(fail_on_our_side))
            .layer(map_response(pages))
            .route("/json", get(fail_on_our_side))
            .route("/refused", get(refuse));

        let (status, content_type, body) = call(&app, "/page").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(body.contains("Something went wrong"), "{body}");
        let (status, content_type, body) = call(&app, "/json").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        assert!(body.contains("\"server_error\""), "{body}");
        let (status, _, body) = call(&app, "/refused").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("\"not_found\""), "{body}");

        let events = logged.0.lock().unwrap().clone();
        assert_eq!(events.len(), 3, "one line per failure: {events:?}");
        for (level, fields) in &events[..2] {
            assert_eq!(*level, tracing::Level::ERROR);
            assert!(fields.contains("the disk is on fire"), "{fields}");
        }
        assert_eq!(events[2].0, tracing::Level::INFO);
        assert!(events[2].1.contains("not_found"), "{}", events[2].1);
        for body in [call(&app, "/page").await.2, call(&app, "/json").await.2] {
            assert!(!body.contains("on fire"), "the cause is never sent: {body}");
        }
    }
}
