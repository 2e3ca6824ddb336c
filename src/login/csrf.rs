//! CSRF protection for every state-changing form (DESIGN.md rule 10): a random
//! token in a cookie (`__Host-` prefixed on https) that the form must repeat (double submit),
//! compared in constant time. Cross-site pages can neither read nor set it.

use aws_lc_rs::constant_time;
use axum::http::{HeaderMap, HeaderValue};

use super::cookies::{CookieKind, CookiePolicy};
use crate::crypto::CryptoError;
use crate::crypto::secret::new_secret;

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
