//! "Forgot your password?": `GET`/`POST /login/forgot` asks for a reset link
//! and always answers the same, before the lookup is even made, so neither
//! the words nor the timing say whether an account exists;
//! `GET /login/reset/{token}` (the link) shows the new-password form without
//! using the link up, and `POST /login/reset` sets the password — after the
//! person's second factor, when they have one.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::csrf::CsrfForm;
use super::pages::with_csrf;
use super::password::Unchecked;
use super::second_factor::{self, CodeCheck};
use super::throttle::{self, Attempt, Verdict};
use super::{ClientIp, device};
use crate::app::AppState;
use crate::crypto::password::PasswordError;
use crate::http::Error;
use crate::http::pages::{self, PagePolicy, retry_after};
use crate::recovery::{FORGOT_PATH, RecoveryError, ResetTarget};
use crate::users::UserError;

#[derive(Template)]
#[template(path = "login_forgot.html")]
struct ForgotPage<'a> {
    csrf: &'a str,
    email: &'a str,
    sent: bool,
    available: bool,
    minutes: i64,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "login_reset.html")]
struct ResetPage<'a> {
    csrf: &'a str,
    token: &'a str,
    email: &'a str,
    code: bool,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "login_notice.html")]
struct NoticePage<'a> {
    title: &'a str,
    message: &'a str,
    problem: bool,
    link: &'a str,
    link_text: &'a str,
}

/// A page saying what happened, with one link onwards.
fn notice(status: StatusCode, title: &str, message: &str, link: &str, link_text: &str) -> Response {
    let page = NoticePage {
        title,
        message,
        problem: status != StatusCode::OK,
        link,
        link_text,
    };
    pages::render(&page, status, &PagePolicy::default())
}

/// What a link that no longer works shows.
fn dead_link() -> Response {
    notice(
        StatusCode::BAD_REQUEST,
        "This link no longer works",
        "Password reset links work once, for a limited time, and asking for a new one ends the one sent before.",
        FORGOT_PATH,
        "Ask for a new link",
    )
}

/// What a person whose only second factor is a passkey is told: a passkey
/// signs them in without the password, and the account area changes it.
fn use_your_passkey() -> Response {
    notice(
        StatusCode::FORBIDDEN,
        "Sign in with your passkey",
        "Your account has a passkey, which signs you in without your password. Sign in with it, then choose a new password under Password in your account.",
        crate::http::paths::ACCOUNT,
        "Go to your account",
    )
}

fn forgot_page(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    sent: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, Error> {
    with_csrf(state, headers, |csrf| {
        let page = ForgotPage {
            csrf,
            email,
            sent,
            available: state.mail.sends_links(),
            minutes: state.config.password_reset_ttl_secs / 60,
            error,
        };
        pages::render(&page, status, &PagePolicy::default())
    })
}

/// `GET /login/forgot`: the form asking for the account's email.
pub async fn forgot(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    forgot_page(&state, &headers, "", false, None, StatusCode::OK)
}

/// `POST /login/forgot`: counts the request against the address's and the
/// client's limits (whether or not an account has the address), hands the
/// lookup and the mail to a bounded background lane, and answers that a link
/// was sent if an account exists.
pub async fn ask(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, Error> {
    if !state.mail.sends_links() {
        return forgot_page(&state, &headers, "", false, None, StatusCode::NOT_FOUND);
    }
    let email = form.get("email").unwrap_or_default().trim();
    if email.is_empty() || email.chars().count() > 254 || !email.contains('@') {
        let message = "Enter the email address of your account.";
        return forgot_page(
            &state,
            &headers,
            email,
            false,
            Some(message),
            StatusCode::BAD_REQUEST,
        );
    }
    let again = |message: &str, status: StatusCode| {
        forgot_page(&state, &headers, email, false, Some(message), status)
    };
    // A lane slot first: a request refused as busy counts against no limit.
    let Ok(permit) = Arc::clone(&state.detached).try_acquire_owned() else {
        tracing::warn!("the background lane is full; a reset request is refused");
        return Unchecked::Busy.answer(again);
    };
    match throttle::reserve(&state, Attempt::ResetRequest, email, &ip).await? {
        // Every request counts, sent or not: the limit bounds the mail.
        Verdict::Allowed(reservation) => drop(reservation.failed()),
        Verdict::Refused => {
            let wait = throttle::window_left(&state);
            let message = format!(
                "Too many reset links were asked for. Wait {} and try again.",
                throttle::in_words(wait)
            );
            let page = again(&message, StatusCode::TOO_MANY_REQUESTS)?;
            return Ok(retry_after(page, wait));
        }
    }
    let (background, address) = (state.clone(), email.to_owned());
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = background.recovery().request_reset(&address).await {
            tracing::error!(error = %e, "a password reset request failed");
        }
    });
    forgot_page(&state, &headers, email, true, None, StatusCode::OK)
}

/// `GET /login/reset/{token}`: the form for a live link (reading it uses
/// nothing up), or the page saying the link no longer works.
pub async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, Error> {
    let target = match state.recovery().reset_target(&token).await {
        Ok(target) => target,
        Err(RecoveryError::InvalidLink) => return Ok(dead_link()),
        Err(e) => return Err(e.into()),
    };
    let standing = state.factors().standing(&target.user_id).await?;
    if !standing.totp && standing.passkeys > 0 {
        return Ok(use_your_passkey());
    }
    reset_page(
        &state,
        &headers,
        &token,
        &target,
        standing.totp,
        None,
        StatusCode::OK,
    )
}

fn reset_page(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    target: &ResetTarget,
    code: bool,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, Error> {
    with_csrf(state, headers, |csrf| {
        let page = ResetPage {
            csrf,
            token,
            email: &target.email,
            code,
            error,
        };
        let policy = PagePolicy::scripted();
        pages::render(&page, status, &policy)
    })
}

/// `POST /login/reset`: the new password (twice) and, for a person with an
/// authenticator app, a code from it or a recovery code. Once the link is
/// found live and the two passwords match, the attempt is counted per person
/// and per client address; the password is checked and hashed before the
/// code, so a code is spent only on a form that then fails for a reason of
/// the link's own (used meanwhile, its account disabled) or a failed write.
pub async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, Error> {
    let token = form.get("token").unwrap_or_default();
    let target = match state.recovery().reset_target(token).await {
        Ok(target) => target,
        Err(RecoveryError::InvalidLink) => return Ok(dead_link()),
        Err(e) => return Err(e.into()),
    };
    let standing = state.factors().standing(&target.user_id).await?;
    if !standing.totp && standing.passkeys > 0 {
        return Ok(use_your_passkey());
    }
    let again = |message: &str, status: StatusCode| {
        reset_page(
            &state,
            &headers,
            token,
            &target,
            standing.totp,
            Some(message),
            status,
        )
    };
    let new_password = form.get("new_password").unwrap_or_default();
    if Some(new_password) != form.get("confirm_password") {
        return again("The two passwords differ.", StatusCode::BAD_REQUEST);
    }
    // Counted per person before any hashing: parallel posts of one live
    // link cannot fill the hashing pool.
    match throttle::reserve(&state, Attempt::ResetCompletion, &target.user_id, &ip).await? {
        Verdict::Allowed(reservation) => drop(reservation.failed()),
        Verdict::Refused => {
            let wait = throttle::window_left(&state);
            let message = format!(
                "Too many attempts. Wait {} and try again.",
                throttle::in_words(wait)
            );
            return Ok(retry_after(
                again(&message, StatusCode::TOO_MANY_REQUESTS)?,
                wait,
            ));
        }
    }
    // Hashed before the code is checked, so a busy hasher never wastes a code.
    let hash = match crate::users::hash_password(&state.passwords, new_password).await {
        Ok(hash) => hash,
        Err(UserError::Invalid { message, .. }) => {
            return again(&format!("The password {message}."), StatusCode::BAD_REQUEST);
        }
        Err(UserError::Password(PasswordError::Overloaded)) => {
            return Unchecked::Busy.answer(again);
        }
        Err(e) => return Err(e.into()),
    };
    if standing.totp {
        let typed = form.get("code").unwrap_or_default();
        match second_factor::check_code(&state, &headers, &target.user_id, typed, &ip).await? {
            CodeCheck::Passed(_) => {}
            refused => return again(refused.message(), refused.status()),
        }
    }
    let how = format!("from {ip}, {}", device::label(device::user_agent(&headers)));
    match state
        .recovery()
        .complete_reset(token, &target, hash, &how)
        .await
    {
        Ok(()) => Ok(notice(
            StatusCode::OK,
            "Your password was changed",
            "Every browser and app session of your account was signed out. Sign in again with your new password.",
            crate::http::paths::ACCOUNT,
            "Sign in",
        )),
        Err(RecoveryError::InvalidLink) => Ok(dead_link()),
        Err(e) => Err(e.into()),
    }
}
