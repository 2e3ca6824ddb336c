//! CSRF protection for every state-changing form (DESIGN.md rule 10): a random
//! token in a cookie (`__Host-` prefixed on https) that the form must repeat (double submit),
//! compared in constant time. Cross-site pages can neither read nor set it.

use aws_lc_rs::constant_time;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::cookies::{CookieKind, CookiePolicy};
use crate::app::AppState;
use crate::crypto::CryptoError;
use crate::crypto::secret::new_secret;
use crate::http::pages::error_page;
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
    type Rejection = FormRefused;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, FormRefused> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| FormRefused::Malformed)?;
        checked_form(state.cookies, &headers, &body).map(Self)
    }
}

/// Why a form was refused.
#[derive(Debug)]
pub enum FormRefused {
    /// Not a well-formed form body (or a field repeated).
    Malformed,
    /// Its CSRF token is missing or does not match the browser's cookie.
    Forged,
}

impl IntoResponse for FormRefused {
    fn into_response(self) -> Response {
        match self {
            FormRefused::Malformed => error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The form was malformed.",
            ),
            FormRefused::Forged => error_page(
                StatusCode::FORBIDDEN,
                "Please try again",
                "The form expired or did not come from this site. Go back, reload the page and try again.",
            ),
        }
    }
}

/// `body` as form fields, if it is well formed and its CSRF token matches.
pub fn checked_form(
    policy: CookiePolicy,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<FormParams, FormRefused> {
    let fields = FormParams::parse(body).map_err(|_| FormRefused::Malformed)?;
    if !verify(policy, headers, fields.get("csrf")) {
        tracing::info!("a form was refused: its CSRF token does not match");
        return Err(FormRefused::Forged);
    }
    Ok(fields)
}
