//! The bearer token of a request (RFC 6750 §2.1): `Authorization: Bearer …`,
//! read the same way by every endpoint that takes one (userinfo, the admin API).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::Error;

/// The token of an `Authorization: Bearer` header; a request without one is
/// refused with `invalid_token` (and its `WWW-Authenticate` challenge).
#[derive(Debug)]
pub struct BearerToken(pub String);

impl BearerToken {
    /// The bearer token in `headers`, if there is one (the scheme is
    /// case-insensitive; surrounding spaces are ignored).
    pub fn in_headers(headers: &HeaderMap) -> Option<&str> {
        headers
            .get(AUTHORIZATION)?
            .to_str()
            .ok()?
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Self::in_headers(&parts.headers)
            .map(|token| Self(token.to_owned()))
            .ok_or(Error::InvalidToken)
    }
}
