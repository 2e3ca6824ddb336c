//! The account forms (POST, each CSRF-checked): ending sessions, removing an
//! app's access, changing the password, signing out.

use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{PasswordPage, render};
use super::{origin, recent_enough, signed_in};
use crate::app::AppState;
use crate::http::ClientIp;
use crate::http::pages::see_other;
use crate::http::paths;
use crate::interaction::AccountPage;
use crate::login::cookies::CookieKind;
use crate::login::csrf::CsrfForm;
use crate::login::pages::failure;
use crate::login::password::{Checked, check};
use crate::login::session;
use crate::users::{self, Actor, UserError, UserPatch};

/// `POST /account/sessions/end` (`session`): signs one of the person's
/// sessions out at once, with the refresh tokens tied to it (not the offline
/// ones). Ending the browser's own session signs it out here too.
pub async fn end_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let current = match signed_in(&state, &headers, AccountPage::Sessions).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let sid = form.get("session").unwrap_or_default();
    let why = format!(
        "signed out by the person {}",
        origin(&current, &ip, &headers)
    );
    if let Err(e) = session::end_one(&state, &current.user_id, sid, &why).await {
        return failure(&e.to_string());
    }
    if sid == current.sid {
        return signed_out(&state);
    }
    see_other(&format!("{}?done=ended", paths::ACCOUNT_SESSIONS))
}

/// `POST /account/sessions/end-others`: signs every other session of the
/// person out, once the sign-in is recent enough.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm,
) -> Response {
    let current = match signed_in(&state, &headers, AccountPage::Sessions).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let email = match users::find(&state.store, &current.user_id).await {
        Ok(user) => user.email,
        Err(e) => return failure(&e.to_string()),
    };
    if let Err(page) =
        recent_enough(&state, &headers, &current, &email, AccountPage::Sessions).await
    {
        return page;
    }
    let listed = match session::list(&state, &current.user_id).await {
        Ok(listed) => listed,
        Err(e) => return failure(&e.to_string()),
    };
    let why = format!(
        "signed out everywhere else by the person {}",
        origin(&current, &ip, &headers)
    );
    for other in listed.iter().filter(|s| s.sid != current.sid) {
        if let Err(e) = session::end_one(&state, &current.user_id, &other.sid, &why).await {
            return failure(&e.to_string());
        }
    }
    see_other(&format!("{}?done=others", paths::ACCOUNT_SESSIONS))
}

/// `POST /account/apps/remove` (`client_id`): revokes the app's grants and
/// forgets the consent.
pub async fn remove_app(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let current = match signed_in(&state, &headers, AccountPage::Apps).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let client_id = form.get("client_id").unwrap_or_default();
    let from = origin(&current, &ip, &headers);
    let now = state.clock.now();
    if let Err(e) =
        users::remove_access(&state.store, now, &current.user_id, client_id, &from).await
    {
        return failure(&e.to_string());
    }
    see_other(&format!("{}?done=removed", paths::ACCOUNT_APPS))
}

/// `POST /account/password` (`current_password`, `new_password`,
/// `confirm_password`): once the sign-in is recent enough and the current
/// password is right, sets the new one. That signs the person out everywhere
/// (DESIGN.md rule 7: every session and refresh token ends, offline ones
/// included); this browser gets a new session at once, so it stays signed in.
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Response {
    let current = match signed_in(&state, &headers, AccountPage::Password).await {
        Ok(session) => session,
        Err(page) => return page,
    };
    let user = match users::find(&state.store, &current.user_id).await {
        Ok(user) => user,
        Err(e) => return failure(&e.to_string()),
    };
    if let Err(page) = recent_enough(
        &state,
        &headers,
        &current,
        &user.email,
        AccountPage::Password,
    )
    .await
    {
        return page;
    }
    let again = |error: &str, status: StatusCode| {
        render(&state, &headers, status, |csrf| PasswordPage {
            email: &user.email,
            csrf,
            error: Some(error),
            done: false,
        })
    };
    let new_password = form.get("new_password").unwrap_or_default();
    if form.get("confirm_password").unwrap_or_default() != new_password {
        return again(
            "The new passwords do not match.",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let current_password = form.get("current_password").unwrap_or_default();
    match check(&state, &user.email, current_password, &ip, agent).await {
        Ok(Checked::Right(found)) if found.user.id == user.id => {}
        Ok(_) => {
            return again(
                "Your current password is not right.",
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
        Err(why) => {
            let (message, status) = why.message();
            return why.answer(again(message, status));
        }
    }
    let from = origin(&current, &ip, &headers);
    let patch = UserPatch {
        password: Some(new_password.to_owned()),
        ..UserPatch::default()
    };
    let now = state.clock.now();
    let by = Actor::Person(&from);
    match users::update(&state.store, &state.passwords, now, &user.id, patch, by).await {
        Ok(_) => {}
        Err(UserError::Invalid { message, .. }) => {
            let message = format!("The new password {message}.");
            return again(&message, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(e) => return failure(&e.to_string()),
    }
    // Every session ended with the change; this browser carries on in a new one.
    let sign_outs = match state.store.account_standing(&user.id).await {
        Ok(Some(standing)) => standing.sign_outs,
        Ok(None) => return signed_out(&state),
        Err(e) => return failure(&e.to_string()),
    };
    let amr = current.amr.clone();
    match session::start(&state, &headers, &user.id, sign_outs, amr, &ip).await {
        Ok((_, cookie)) => {
            let mut response = see_other(&format!("{}?done=changed", paths::ACCOUNT_PASSWORD));
            if let Some(cookie) = cookie {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => failure(&e.to_string()),
    }
}

/// `POST /account/sign-out`: ends this browser's session, with the refresh
/// tokens tied to it, and opens the account's sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm,
) -> Response {
    let current = match session::current(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return see_other(paths::ACCOUNT),
        Err(e) => return failure(&e.to_string()),
    };
    let why = format!(
        "signed out by the person {}",
        origin(&current, &ip, &headers)
    );
    if let Err(e) = session::end_one(&state, &current.user_id, &current.sid, &why).await {
        return failure(&e.to_string());
    }
    signed_out(&state)
}

/// Back to the account's sign-in page, clearing the session cookie.
fn signed_out(state: &AppState) -> Response {
    let mut response = see_other(paths::ACCOUNT);
    if let Some(cookie) = state.cookies.set(CookieKind::Session, "", 0) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}
