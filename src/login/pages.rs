//! The engine's pages: sign-in and consent.

use askama::Template;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::csrf;
use super::session::Session;
use crate::app::AppState;
use crate::http::Error;
use crate::http::pages::{self, PagePolicy};
use crate::interaction::{FirstFactor, Interaction, Purpose};

#[derive(Template)]
#[template(path = "login_signin.html")]
struct SignInPage<'a> {
    app_name: Option<&'a str>,
    request_id: &'a str,
    csrf: String,
    email: &'a str,
    error: Option<&'a str>,
    passkey: bool,
    forgot: bool,
}

#[derive(Template)]
#[template(path = "login_second_factor.html")]
struct SecondFactorPage<'a> {
    app_name: Option<&'a str>,
    request_id: &'a str,
    csrf: String,
    error: Option<&'a str>,
    totp: bool,
    passkey: bool,
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

/// Browsers check redirects that follow a form submission against
/// `form-action`, so the pages of an app's interaction allow the app's
/// redirect origin as a target.
fn policy(interaction: &Interaction) -> PagePolicy {
    let form_targets = match &interaction.purpose {
        Purpose::Authorize { app, .. } => app.redirect_origin.iter().cloned().collect(),
        Purpose::Account { .. } => Vec::new(),
    };
    PagePolicy {
        form_targets,
        script: false,
    }
}

/// The page `render` makes with the browser's CSRF token, setting the
/// token's cookie when it is new: every page with a form is made this way.
pub fn with_csrf(
    state: &AppState,
    headers: &HeaderMap,
    render: impl FnOnce(&str) -> Response,
) -> Result<Response, Error> {
    let (csrf, cookie) = csrf::token(state.cookies, headers)?;
    let mut response = render(&csrf);
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The app an interaction's pages name, if it is for one.
fn app_name(interaction: &Interaction) -> Option<&str> {
    match &interaction.purpose {
        Purpose::Authorize { app, .. } => Some(app.name.as_str()),
        Purpose::Account { .. } => None,
    }
}

/// The sign-in page for the interaction stored under `id`, with an optional
/// error message.
pub fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    id: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, Error> {
    let email = interaction
        .demands
        .login_hint
        .as_deref()
        .unwrap_or_default();
    let passkey = state.passkeys().available();
    step_page(state, headers, interaction, status, passkey, |csrf| {
        SignInPage {
            app_name: app_name(interaction),
            request_id: id,
            csrf,
            email,
            error,
            passkey,
            forgot: state.mail.sends_links(),
        }
    })
}

/// The second-factor page for the interaction stored under `id`, offering
/// the factors the person who passed `first` has and has not used yet — an
/// authenticator code only when it meets what the purpose demands (a
/// phishing-resistant sign-in needs a passkey) — with an optional error.
pub async fn second_factor(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    id: &str,
    first: &FirstFactor,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, Error> {
    let standing = state.factors().standing(&first.user_id).await?;
    let used = |method: &str| first.amr.iter().any(|m| m == method);
    let totp = standing.totp && super::second_factor::takes_a_code(interaction, first);
    let passkey =
        standing.passkeys > 0 && state.passkeys().available() && !used("hwk") && !used("swk");
    step_page(state, headers, interaction, status, passkey, |csrf| {
        SecondFactorPage {
            app_name: app_name(interaction),
            request_id: id,
            csrf,
            error,
            totp,
            passkey,
        }
    })
}

/// A page of one of `interaction`'s steps, made by `build` with the
/// browser's CSRF token, under the interaction's page policy (with our
/// passkey script when `script`).
fn step_page<T: Template>(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    status: StatusCode,
    script: bool,
    build: impl FnOnce(String) -> T,
) -> Result<Response, Error> {
    let policy = PagePolicy {
        script,
        ..policy(interaction)
    };
    with_csrf(state, headers, |csrf| {
        pages::render(&build(csrf.to_owned()), status, &policy)
    })
}

/// The consent page naming the app and what it asks for.
pub async fn consent(
    state: &AppState,
    headers: &HeaderMap,
    interaction: &Interaction,
    session: &Session,
    id: &str,
) -> Result<Response, Error> {
    let Purpose::Authorize { app, .. } = &interaction.purpose else {
        return Err(Error::out_of_date());
    };
    let email = crate::users::find(&state.store, &session.user_id)
        .await?
        .email;
    with_csrf(state, headers, |csrf| {
        let page = ConsentPage {
            client_name: &app.name,
            email: &email,
            scopes: app.scope.split_whitespace().map(describe).collect(),
            request_id: id,
            csrf,
        };
        pages::render(&page, StatusCode::OK, &policy(interaction))
    })
}

/// What a scope lets the app do, in words a person understands.
pub fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Know who you are".to_owned(),
        "profile" => "See your name, username, picture, website, language and time zone".to_owned(),
        "email" => "See your email address".to_owned(),
        "address" => "See your postal address".to_owned(),
        "phone" => "See your phone number".to_owned(),
        "offline_access" => "Keep access while you are not using it".to_owned(),
        other => format!("Use the permission “{other}”"),
    }
}
