//! RP-Initiated Logout 1.0: end the browser's session, revoke the refresh tokens
//! that were not issued for offline access (DESIGN.md rule 7), then go back to a
//! registered `post_logout_redirect_uri` — only when the request proves which
//! client sent it (a valid `id_token_hint`, or `client_id`) — or show a page.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::id_token;
use crate::app::AppState;
use crate::clients;
use crate::http::pages::{self, PagePolicy, error_page};
use crate::login::session;
use crate::oauth::params::FormParams;
use crate::oauth::tokens;
use crate::store::GrantFilter;

#[derive(Template)]
#[template(path = "oidc_logged_out.html")]
struct LoggedOutPage;

/// `GET /logout`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    run(&state, &headers, query.unwrap_or_default().as_bytes()).await
}

/// `POST /logout` (form-encoded).
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    run(&state, &headers, &body).await
}

fn refuse(message: &str) -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Cannot sign you out from here",
        message,
    )
}

async fn run(state: &AppState, headers: &HeaderMap, raw: &[u8]) -> Response {
    let Ok(params) = FormParams::parse(raw) else {
        return refuse("A parameter of the request is repeated.");
    };
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => match id_token::verify_hint(state, token) {
            Some(claims) => Some(claims),
            None => return refuse("The request could not be verified."),
        },
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(claims)) if id != claims.aud => {
            return refuse("The request names two different applications.");
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(claims)) => Some(claims.aud.clone()),
        (None, None) => None,
    };
    let redirect = match (params.get("post_logout_redirect_uri"), &client_id) {
        (None, _) => None,
        (Some(_), None) => return refuse("The request does not say which application sent it."),
        (Some(uri), Some(id)) => match clients::find(&state.store, id).await {
            Ok(client) if client.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                Some(uri.to_owned())
            }
            Ok(_) | Err(clients::RegistryError::NotFound) => {
                return refuse("The return address is not registered for this application.");
            }
            Err(e) => {
                tracing::error!(error = %e, "client lookup failed");
                return error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Something went wrong",
                    "Please try again.",
                );
            }
        },
    };

    let clear_cookie = match end_session(state, headers).await {
        Ok(cookie) => cookie,
        Err(detail) => {
            tracing::error!(%detail, "logout failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "Please try again.",
            );
        }
    };
    let mut response = match redirect.and_then(|uri| with_state(&uri, params.get("state"))) {
        Some(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        None => pages::render(&LoggedOutPage, StatusCode::OK, &PagePolicy::default()),
    };
    if let Some(cookie) = clear_cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// Ends the browser's session and revokes its online grants; returns the cookie-clearing header.
async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<Option<HeaderValue>, String> {
    let (ended, cookie) = session::end(state, headers)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(ended) = ended {
        let revoked = tokens::revoke_grants(state, GrantFilter::SessionOnline(&ended.sid), None)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(user_id = %ended.user_id, revoked, "signed out");
    }
    Ok(cookie)
}

fn with_state(uri: &str, state: Option<&str>) -> Option<HeaderValue> {
    let mut url = Url::parse(uri).ok()?;
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    HeaderValue::from_str(url.as_str()).ok()
}
