//! CSRF protection for every state-changing form (DESIGN.md rule 10): a random
//! token in a cookie (`__Host-` prefixed on https) that the form must repeat (double submit),
//! compared in constant time. Cross-site pages can neither read nor set it.

use aws_lc_rs::constant_time;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::cookies::{CookieKind, CookiePolicy};
use crate::app::AppState;
use crate::crypto::CryptoError;
use crate::crypto::secret::{hash_secret, new_secret};
use crate::http::Error;
use crate::http::params::FormParams;

/// The browser's CSRF token, and a `Set-Cookie` when a new one was made.
pub fn token(
    policy: CookiePolicy,
    headers: &HeaderMap,
) -> Result<(String, Option<HeaderValue>), CryptoError> {
    if let Some(existing) = policy
        .get(headers, CookieKind::Csrf)
        .filter(|t| t.len() >= 43)
    {
        return Ok((existing, None));
    }
    let fresh = new_secret()?;
    let cookie = policy.set(CookieKind::Csrf, &fresh, 86_400);
    Ok((fresh, cookie))
}

/// A name for this browser that only it can answer to: the hash of its CSRF
/// cookie (empty when it has none), so a step can be bound to the browser
/// that began it.
pub fn browser_mark(policy: CookiePolicy, headers: &HeaderMap) -> String {
    policy
        .get(headers, CookieKind::Csrf)
        .map(|token| URL_SAFE_NO_PAD.encode(hash_secret(&token)))
        .unwrap_or_default()
}

/// Whether the form's token matches the cookie.
pub fn verify(policy: CookiePolicy, headers: &HeaderMap, form_token: Option<&str>) -> bool {
    match (policy.get(headers, CookieKind::Csrf), form_token) {
        (Some(cookie), Some(form)) if cookie.len() >= 43 => {
            constant_time::verify_slices_are_equal(cookie.as_bytes(), form.as_bytes()).is_ok()
        }
        _ => false,
    }
}

/// A form POST that passed the checks every page's form needs: a form body
/// with no repeated field, whose `csrf` field matches the browser's CSRF
/// cookie. Anything else is answered with a page saying so, never acted on.
pub struct CsrfForm(pub FormParams);

impl FromRequest<AppState> for CsrfForm {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                malformed()
            }
        })?;
        checked_form(state.cookies, &headers, &body).map(Self)
    }
}

fn malformed() -> Error {
    Error::page(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        "The form was malformed.",
    )
}

/// `body` as form fields, if it is well formed and its CSRF token matches;
/// else the page saying which it is not.
pub fn checked_form(
    policy: CookiePolicy,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<FormParams, Error> {
    let fields = FormParams::parse(body).map_err(|_| malformed())?;
    if !verify(policy, headers, fields.get("csrf")) {
        return Err(Error::page(
            StatusCode::FORBIDDEN,
            "Please try again",
            "The form expired or did not come from this site. Go back, reload the page and try again.",
        ));
    }
    Ok(fields)
}
