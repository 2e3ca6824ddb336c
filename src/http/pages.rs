//! HTML pages: rendering askama templates under a strict Content-Security-Policy
//! (no inline script or style), the error page that never redirects, and the
//! static assets the pages use.

use askama::Template;
use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use url::Url;

use crate::app::AppState;

const STYLESHEET: &str = include_str!("../../templates/static/gatehouse.css");
const FORM_POST_SCRIPT: &str = include_str!("../../templates/static/form_post.js");
const PASSKEY_SCRIPT: &str = include_str!("../../templates/static/passkeys.js");
const RESET_SCRIPT: &str = include_str!("../../templates/static/reset.js");

/// The error page (DESIGN.md rule 5: shown instead of redirecting when the
/// client or redirect URI cannot be trusted).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// What a page may do beyond showing itself.
#[derive(Debug, Default)]
pub struct PagePolicy {
    /// Origins (besides our own) its forms may submit to — or be redirected to
    /// after submission, which browsers also check against `form-action`.
    pub form_targets: Vec<String>,
    /// Whether it loads our own scripts (the form_post auto-submit, the
    /// passkey ceremonies), which may fetch from our origin only.
    pub script: bool,
}

impl PagePolicy {
    /// A page of our own that runs our scripts (and submits only to us).
    pub fn scripted() -> Self {
        Self {
            script: true,
            ..Self::default()
        }
    }
}

/// Renders `template` with `status`, `Cache-Control: no-store` (pages carry
/// CSRF tokens) and a CSP allowing only what `policy` names.
pub fn render(template: &impl Template, status: StatusCode, policy: &PagePolicy) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut csp = String::from(
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    for target in &policy.form_targets {
        csp.push(' ');
        csp.push_str(target);
    }
    if policy.script {
        csp.push_str("; script-src 'self'; connect-src 'self'");
    }
    let mut response = (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The CSP source for where `uri` points: its origin, or `scheme:` for a
/// native app's private-use scheme.
pub fn csp_source(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", url.scheme())),
    }
}

/// An error page with `status`, a short title and a message for the person.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        &ErrorPage { title, message },
        status,
        &PagePolicy::default(),
    )
}

/// `response` with `Retry-After: seconds`: every refusal that will pass
/// (a busy service, a limit until its window ends) says when to try again.
pub fn retry_after(mut response: Response, seconds: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// A `303 See Other` to our own `path`, never cached: where a form sends the
/// browser next (the path may carry an interaction id).
pub fn see_other(path: &str) -> Response {
    let mut response = Redirect::to(path).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The stylesheet and the scripts, cacheable for a day.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/gatehouse.css",
            get(|| asset("text/css; charset=utf-8", STYLESHEET)),
        )
        .route(
            "/static/form_post.js",
            get(|| asset("text/javascript; charset=utf-8", FORM_POST_SCRIPT)),
        )
        .route(
            "/static/passkeys.js",
            get(|| asset("text/javascript; charset=utf-8", PASSKEY_SCRIPT)),
        )
        .route(
            "/static/reset.js",
            get(|| asset("text/javascript; charset=utf-8", RESET_SCRIPT)),
        )
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_sources_name_origins_or_schemes() {
        assert_eq!(
            csp_source("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("not a url"), None);
    }
}
