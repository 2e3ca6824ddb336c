//! The sign-in and consent pages.

use askama::Template;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::csrf;
use super::session::Session;
use crate::app::AppState;
use crate::clients::Client;
use crate::http::pages::{self, PagePolicy, error_page};
use crate::oauth::authorize::request::AuthorizationRequest;
use crate::oauth::scope::Scope;

#[derive(Template)]
#[template(path = "login_signin.html")]
struct SignInPage<'a> {
    client_name: &'a str,
    request_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "login_consent.html")]
struct ConsentPage<'a> {
    client_name: &'a str,
    email: &'a str,
    scopes: Vec<String>,
    request_id: &'a str,
    csrf: &'a str,
}

/// Browsers check redirects that follow a form submission against `form-action`,
/// so our pages allow the client's redirect origin as a target.
fn policy(request: &AuthorizationRequest) -> PagePolicy {
    PagePolicy {
        form_targets: pages::csp_source(&request.target.redirect_uri)
            .into_iter()
            .collect(),
        script: false,
    }
}

/// The page for a form whose step of the interaction is already done or was
/// replaced (a stale tab, a form re-posted): a clear message, never a code.
pub fn out_of_date() -> Response {
    tracing::info!("a sign-in form posted for a step that is not current");
    error_page(
        StatusCode::CONFLICT,
        "This page is out of date",
        "This step of the sign-in was already completed or replaced in another window. Return to the application and start again.",
    )
}

/// The sign-in page for a pending request, with an optional error message.
pub fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    request: &AuthorizationRequest,
    request_id: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let Ok((csrf, cookie)) = csrf::token(state.cookies, headers) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again.",
        );
    };
    let page = SignInPage {
        client_name: &client.name,
        request_id,
        csrf: &csrf,
        email: request.login_hint.as_deref().unwrap_or_default(),
        error,
    };
    let mut response = pages::render(&page, status, &policy(request));
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// The consent page naming the client and what it asks for.
pub async fn consent(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
    request_id: &str,
) -> Response {
    let email = match crate::users::find(&state.store, &session.user_id).await {
        Ok(user) => user.email,
        Err(e) => {
            tracing::error!(error = %e, "user lookup failed");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
            );
        }
    };
    let Ok((csrf, cookie)) = csrf::token(state.cookies, headers) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again.",
        );
    };
    let scope = Scope::parse(&request.scope).unwrap_or_default();
    let page = ConsentPage {
        client_name: &client.name,
        email: &email,
        scopes: scope.tokens().iter().map(|s| describe(s)).collect(),
        request_id,
        csrf: &csrf,
    };
    let mut response = pages::render(&page, StatusCode::OK, &policy(request));
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

/// What a scope lets the client do, in words a person understands.
fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are".to_owned(),
        "profile" => "See your name and username".to_owned(),
        "email" => "See your email address".to_owned(),
        "offline_access" => "Keep access while you are not using it".to_owned(),
        other => format!("Use the permission “{other}”"),
    }
}
