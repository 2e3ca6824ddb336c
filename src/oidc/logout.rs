//! RP-Initiated Logout 1.0. A logout is never forced by a page the person did
//! not choose (§2): the session ends at once only when a valid `id_token_hint`
//! names this browser's current session (its `sid`); otherwise the person sees a
//! confirmation page whose "Sign out" button is a CSRF-protected POST back here.
//! A request that cannot be verified (an `id_token_hint` that is tampered, from
//! another issuer or signed by a retired key; an unregistered return address)
//! gets an error page that never redirects, with the same button, so a stale
//! token never leaves a session alive. After signing out, the refresh tokens not
//! issued for offline access are revoked (DESIGN.md rule 7) and the browser goes
//! back to a registered `post_logout_redirect_uri` only when the request names
//! its client (by a valid `id_token_hint` or `client_id`); else a page says so.

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
use crate::http::Error;
use crate::http::pages::{self, PagePolicy};
use crate::http::params::FormParams;
use crate::login::csrf;
use crate::login::session::{self, Session};
use crate::oauth::tokens;
use crate::store::GrantFilter;

#[derive(Template)]
#[template(path = "oidc_logged_out.html")]
struct LoggedOutPage;

/// The confirmation page, or an error page offering the same sign-out button.
#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct LogoutPage<'a> {
    title: &'a str,
    error: Option<&'a str>,
    form: SignOutForm<'a>,
}

/// The CSRF-protected sign-out form and the request parameters it carries on.
struct SignOutForm<'a> {
    csrf: String,
    fields: Vec<(&'a str, &'a str)>,
}

/// `GET /logout`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    run(
        &state,
        &headers,
        query.unwrap_or_default().as_bytes(),
        Method::Get,
    )
    .await
}

/// `POST /logout` (form-encoded): a relying party's request, or the person's
/// answer to the confirmation page (which carries the CSRF token).
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    run(&state, &headers, &body, Method::Post).await
}

/// How the request came: only a POST can carry the person's confirmation, so
/// a link (or an image) to `GET /logout?csrf=…` never signs anyone out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    raw: &[u8],
    method: Method,
) -> Result<Response, Error> {
    let current = session::current(state, headers).await?;
    let refuse = |message: &str| refusal(state, headers, current.as_ref(), message);
    let Ok(params) = FormParams::parse(raw) else {
        return refuse("A parameter of the request is repeated.");
    };
    let confirmed = match params.get("csrf") {
        None => false,
        Some(_) if method == Method::Get => {
            return refuse("Signing out is confirmed with the button on the sign-out page.");
        }
        Some(token) if csrf::verify(state.cookies, headers, Some(token)) => true,
        Some(_) => {
            return refuse("The form expired or did not come from this site.");
        }
    };
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => match id_token::verify_hint(state, token) {
            Some(claims) => Some(claims),
            None => return refuse("The sign-out request could not be verified."),
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
            Err(e) => return Err(e.into()),
        },
    };

    let proven = hint
        .as_ref()
        .and_then(|claims| claims.sid.as_deref())
        .zip(current.as_ref())
        .is_some_and(|(sid, session)| sid == session.sid);
    if current.is_some() && !confirmed && !proven {
        let mut fields = Vec::new();
        if let Some(uri) = &redirect {
            fields.push(("post_logout_redirect_uri", uri.as_str()));
        }
        if let Some(id) = &client_id {
            fields.push(("client_id", id.as_str()));
        }
        if let Some(value) = params.get("state") {
            fields.push(("state", value));
        }
        return logout_page(state, headers, "Sign out?", None, fields, StatusCode::OK);
    }

    let clear_cookie = end_session(state, headers).await?;
    let mut response = match redirect.and_then(|uri| with_state(&uri, params.get("state"))) {
        Some(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        None => pages::render(&LoggedOutPage, StatusCode::OK, &PagePolicy::default()),
    };
    if let Some(cookie) = clear_cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The error page for a request that proves nothing; it never redirects, and
/// offers a signed-in person the CSRF-protected sign-out button.
fn refusal(
    state: &AppState,
    headers: &HeaderMap,
    current: Option<&Session>,
    message: &str,
) -> Result<Response, Error> {
    let title = "Cannot sign you out from here";
    if current.is_none() {
        return Err(Error::page(
            StatusCode::BAD_REQUEST,
            title,
            message.to_owned(),
        ));
    }
    tracing::info!(%message, "logout request refused; the sign-out button is offered");
    logout_page(
        state,
        headers,
        title,
        Some(message),
        Vec::new(),
        StatusCode::BAD_REQUEST,
    )
}

/// Renders [`LogoutPage`] with a fresh (or the existing) CSRF token.
fn logout_page(
    state: &AppState,
    headers: &HeaderMap,
    title: &str,
    error: Option<&str>,
    fields: Vec<(&str, &str)>,
    status: StatusCode,
) -> Result<Response, Error> {
    let (token, cookie) = csrf::token(state.cookies, headers)?;
    let page = LogoutPage {
        title,
        error,
        form: SignOutForm {
            csrf: token,
            fields,
        },
    };
    // Browsers check the redirect that follows the form's submission against
    // `form-action`, so the page allows the return address it carries on.
    let policy = PagePolicy {
        form_targets: page
            .form
            .fields
            .iter()
            .filter(|(name, _)| *name == "post_logout_redirect_uri")
            .filter_map(|(_, uri)| pages::csp_source(uri))
            .collect(),
        script: false,
    };
    let mut response = pages::render(&page, status, &policy);
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Ends the browser's session and revokes its online grants; returns the cookie-clearing header.
async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<Option<HeaderValue>, Error> {
    let (ended, cookie) = session::end(state, headers).await?;
    if let Some(ended) = ended {
        let revoked = tokens::revoke_grants(
            state,
            GrantFilter::SessionOnline(&ended.user_id, &ended.sid),
            None,
        )
        .await?;
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
