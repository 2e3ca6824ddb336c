//! What the sign-in and consent forms share: a well-formed body, a valid CSRF
//! token, and the pending authorization request (with its client and its
//! recorded step) they belong to.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{csrf, pages};
use crate::app::AppState;
use crate::clients::{self, Client};
use crate::http::pages::error_page;
use crate::oauth::authorize::pending::{self, Found, Step};
use crate::oauth::authorize::request::AuthorizationRequest;
use crate::oauth::params::FormParams;

/// A submitted form that passed the checks.
pub struct PendingForm {
    /// The form fields.
    pub fields: FormParams,
    /// The id of the pending request.
    pub request_id: String,
    /// The pending request.
    pub request: AuthorizationRequest,
    /// The step it is in; each form may complete only its own.
    pub step: Step,
    /// Its client.
    pub client: Client,
}

impl PendingForm {
    /// Parses and checks `body`; the error is the page to show.
    pub async fn read(
        state: &AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, Response> {
        let Ok(fields) = FormParams::parse(body) else {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The form was malformed.",
            ));
        };
        if !csrf::verify(state.cookies, headers, fields.get("csrf")) {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "Please try again",
                "The form expired or did not come from this site. Go back to the application and start again.",
            ));
        }
        let request_id = fields.get("request").unwrap_or_default().to_owned();
        let pending = match pending::load(state, &request_id).await {
            Ok(Some(Found::Current(pending))) => *pending,
            Ok(Some(Found::Moved)) => return Err(pages::out_of_date()),
            Ok(None) => return Err(expired()),
            Err(e) => return Err(failure(&e.to_string())),
        };
        let client = match clients::find(&state.store, &pending.request.client_id).await {
            Ok(client) => client,
            // The client was deleted while the person was signing in.
            Err(clients::RegistryError::NotFound) => return Err(expired()),
            Err(e) => return Err(failure(&e.to_string())),
        };
        Ok(Self {
            fields,
            request_id,
            request: pending.request,
            step: pending.step,
            client,
        })
    }
}

/// The page for a request that is gone (expired, finished, or never existed).
pub fn expired() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Return to the application and start again.",
    )
}

/// The page for a failure on our side.
pub fn failure(detail: &str) -> Response {
    tracing::error!(%detail, "sign-in failed on the server side");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Something went wrong",
        "Please try again in a moment.",
    )
}
