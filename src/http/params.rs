//! Strict `application/x-www-form-urlencoded` parameters for the OAuth
//! endpoints and the pages' forms (DESIGN.md rule 11): wrong content type,
//! oversize bodies and repeated parameters are [`InvalidParams`] (the OAuth
//! endpoints answer it as `invalid_request`); empty values count as absent (RFC 6749 §3.1);
//! unknown parameters are ignored. Parsing is linear in the body, and a body
//! with more than [`MAX_PARAMS`] parameters is refused.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;

use std::borrow::Cow;

/// The most parameters one request may carry: every endpoint reads fewer than
/// 25, so this leaves room for extensions while bounding the work per request.
pub const MAX_PARAMS: usize = 100;

/// Why a form body was refused, in words for the error description.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidParams(pub Cow<'static, str>);

impl InvalidParams {
    fn new(description: impl Into<Cow<'static, str>>) -> Self {
        Self(description.into())
    }
}

/// The parameters of a form POST, each present at most once.
#[derive(Debug, Default)]
pub struct FormParams(HashMap<String, String>);

impl FormParams {
    /// Parses a form body; a repeated parameter, or more than [`MAX_PARAMS`], is
    /// an error. One hash-map look-up per parameter, so linear in the body.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidParams> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if params.len() == MAX_PARAMS {
                return Err(InvalidParams::new(format!(
                    "more than {MAX_PARAMS} parameters"
                )));
            }
            if params.contains_key(name.as_ref()) {
                return Err(InvalidParams::new(format!(
                    "parameter `{name}` is repeated"
                )));
            }
            params.insert(name.into_owned(), value.into_owned());
        }
        params.retain(|_, value: &mut String| !value.is_empty());
        Ok(Self(params))
    }

    /// The value of `name`, if present and non-empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The first of `limits` (name, longest accepted length in bytes) whose
    /// parameter is longer, so callers refuse oversize values before storing
    /// or echoing them.
    pub fn first_oversize(
        &self,
        limits: &[(&'static str, usize)],
    ) -> Option<(&'static str, usize)> {
        limits
            .iter()
            .copied()
            .find(|(name, max)| self.get(name).is_some_and(|value| value.len() > *max))
    }

    /// The value of `name`, or an error naming it.
    pub fn required(&self, name: &str) -> Result<&str, InvalidParams> {
        self.get(name)
            .ok_or_else(|| InvalidParams::new(format!("parameter `{name}` is required")))
    }
}

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = InvalidParams;

    async fn from_request(req: Request, state: &S) -> Result<Self, InvalidParams> {
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(InvalidParams::new(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| InvalidParams::new("request body is too large or unreadable"))?;
        Self::parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_absent() {
        assert!(FormParams::parse(b"a=1&a=2").is_err());
        let params = FormParams::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y"));
        assert!(params.required("b").is_err());
    }

    #[test]
    fn the_parameter_count_is_bounded_and_a_maximal_form_parses() {
        let form = |n: usize| {
            (0..n)
                .map(|i| format!("p{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        };
        let params = FormParams::parse(form(MAX_PARAMS).as_bytes()).unwrap();
        assert_eq!(params.get("p99"), Some("v"));
        let err = FormParams::parse(form(MAX_PARAMS + 1).as_bytes()).unwrap_err();
        assert!(err.0.contains("more than 100"), "{err}");
    }

    #[test]
    fn oversize_values_are_named() {
        let params = FormParams::parse(b"a=123456&b=12").unwrap();
        assert_eq!(params.first_oversize(&[("b", 5), ("a", 5)]), Some(("a", 5)));
        assert_eq!(params.first_oversize(&[("a", 5 + 2), ("c", 0)]), None);
    }
}
