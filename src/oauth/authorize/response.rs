//! Answering an authorization request at the client's verified redirect URI:
//! a `302` with the parameters in the query, or an auto-submitting form
//! (OAuth 2.0 Form Post Response Mode). Every answer carries `iss` (RFC 9207).

use askama::Template;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::http::pages::{self, PagePolicy};
use crate::oauth::error::OAuthError;

/// How the response parameters travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// In the redirect URI's query string.
    Query,
    /// POSTed by the browser as a form.
    FormPost,
}

/// Where an authorization response goes: a redirect URI already verified
/// against the client's registration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResponseTarget {
    /// The verified redirect URI.
    pub redirect_uri: String,
    /// The client's `state`, echoed exactly.
    pub state: Option<String>,
    /// Query or form_post.
    pub mode: ResponseMode,
}

#[derive(Template)]
#[template(path = "oauth_form_post.html")]
struct FormPostPage<'a> {
    redirect_uri: &'a str,
    fields: Vec<(&'a str, &'a str)>,
}

impl ResponseTarget {
    /// A successful response carrying `code`.
    pub fn code(&self, issuer: &str, code: &str) -> Response {
        self.respond(issuer, vec![("code", code)])
    }

    /// An error response (RFC 6749 §4.1.2.1); sent as
    /// [`crate::http::Error::Redirect`], which logs it.
    pub fn error(&self, issuer: &str, error: &OAuthError) -> Response {
        self.respond(
            issuer,
            vec![
                ("error", error.error.as_str()),
                ("error_description", &error.error_description),
            ],
        )
    }

    fn respond<'a>(&'a self, issuer: &'a str, mut fields: Vec<(&'a str, &'a str)>) -> Response {
        if let Some(state) = &self.state {
            fields.push(("state", state));
        }
        fields.push(("iss", issuer));
        match self.mode {
            ResponseMode::Query => {
                let location = Url::parse(&self.redirect_uri).ok().and_then(|mut url| {
                    url.query_pairs_mut().extend_pairs(fields);
                    HeaderValue::from_str(url.as_str()).ok()
                });
                match location {
                    Some(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
                    None => {
                        tracing::warn!("the verified redirect URI with its parameters is no URL");
                        pages::error_page(
                            StatusCode::BAD_REQUEST,
                            "Invalid request",
                            "The return address is malformed.",
                        )
                    }
                }
            }
            ResponseMode::FormPost => {
                let policy = PagePolicy {
                    form_targets: pages::csp_source(&self.redirect_uri).into_iter().collect(),
                    script: true,
                };
                let page = FormPostPage {
                    redirect_uri: &self.redirect_uri,
                    fields,
                };
                pages::render(&page, StatusCode::OK, &policy)
            }
        }
    }
}
