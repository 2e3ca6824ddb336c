//! The account forms (POST, each CSRF-checked): ending sessions, removing an
//! app's access, changing the password, signing out.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::pages::{
    PasswordPage, ProfilePage, profile_fields, proving_with_passkey, render, render_with,
};
use super::security::{ProofAsked, WRONG_PASSWORD, proof, retry_after_when_busy};
use super::{AccountForm, origin, recent_enough};
use crate::app::AppState;
use crate::http::pages::see_other;
use crate::http::paths;
use crate::http::{ClientIp, Error};
use crate::interaction::AccountPage;
use crate::login::cookies::CookieKind;
use crate::login::csrf::CsrfForm;
use crate::login::session;
use crate::users::{self, Actor, AddressPatch, ClaimsPatch, UserError, UserPatch};

/// `POST /account/sessions/end` (`session`): signs one of the person's
/// sessions out at once, with the refresh tokens tied to it (not the offline
/// ones). Ending another browser's session needs a recent sign-in, like
/// ending them all; ending the browser's own session signs it out here.
pub async fn end_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm {
        session: current,
        form,
    }: AccountForm,
) -> Result<Response, Error> {
    let sid = form.get("session").unwrap_or_default();
    if sid != current.sid
        && let Some(page) = recent_enough(&state, &headers, &current, AccountPage::Sessions).await?
    {
        return Ok(page);
    }
    let why = format!(
        "signed out by the person {}",
        origin(&current, &ip, &headers)
    );
    state
        .sessions()
        .end_one(&current.user_id, sid, &why)
        .await?;
    if sid == current.sid {
        return Ok(signed_out(&state));
    }
    Ok(see_other(&format!(
        "{}?done=ended",
        paths::ACCOUNT_SESSIONS
    )))
}

/// `POST /account/sessions/end-others`: signs every other session of the
/// person out, once the sign-in is recent enough.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm {
        session: current, ..
    }: AccountForm,
) -> Result<Response, Error> {
    if let Some(page) = recent_enough(&state, &headers, &current, AccountPage::Sessions).await? {
        return Ok(page);
    }
    let listed = state.sessions().list(&current.user_id).await?;
    let why = format!(
        "signed out everywhere else by the person {}",
        origin(&current, &ip, &headers)
    );
    for other in listed.iter().filter(|s| s.sid != current.sid) {
        state
            .sessions()
            .end_one(&current.user_id, &other.sid, &why)
            .await?;
    }
    Ok(see_other(&format!(
        "{}?done=others",
        paths::ACCOUNT_SESSIONS
    )))
}

/// `POST /account/apps/remove` (`client_id`): revokes the app's grants and
/// forgets the consent.
pub async fn remove_app(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm {
        session: current,
        form,
    }: AccountForm,
) -> Result<Response, Error> {
    let client_id = form.get("client_id").unwrap_or_default();
    let from = origin(&current, &ip, &headers);
    let now = state.clock.now();
    let removed = users::remove_access(&state.store, now, &current.user_id, client_id, &from);
    removed.await?;
    Ok(see_other(&format!("{}?done=removed", paths::ACCOUNT_APPS)))
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
    AccountForm {
        session: current,
        form,
    }: AccountForm,
) -> Result<Response, Error> {
    if let Some(page) = recent_enough(&state, &headers, &current, AccountPage::Password).await? {
        return Ok(page);
    }
    let user = users::find(&state.store, &current.user_id).await?;
    let asks = ProofAsked::of(&state, &user).await?;
    let policy = proving_with_passkey(asks.passkey);
    let again = |error: &str, status: StatusCode| {
        let page = render_with(&state, &headers, status, &policy, |csrf| PasswordPage {
            email: &user.email,
            sid: &current.sid,
            csrf,
            error: Some(error),
            done: false,
            has_password: user.password_hash.is_some(),
            asks,
        });
        page.map(retry_after_when_busy)
    };
    let new_password = form.get("new_password").unwrap_or_default();
    if form.get("confirm_password").unwrap_or_default() != new_password {
        return again(
            "The new passwords do not match.",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    // Proven with the strongest factor the person has: the current password
    // (and a code when an app is on), or a passkey (a stolen session cookie
    // is recent too).
    let proven = match proof(&state, &headers, &ip, &current, &form, "current_password").await? {
        Ok(proven) => proven,
        Err((WRONG_PASSWORD, status)) => {
            return again("Your current password is not right.", status);
        }
        Err((message, status)) => return again(message, status),
    };
    let (checked_hash, amr) = (proven.password_hash, proven.amr);
    let from = origin(&current, &ip, &headers);
    let now = state.clock.now();
    let changed = users::change_own_password(
        &state.store,
        &state.passwords,
        &state.mail,
        now,
        &user.id,
        checked_hash.as_deref(),
        new_password,
        Actor::Person(&from),
    );
    // Every session ended with the change; this browser carries on in a new
    // one, under the sign-out count the change left (a later sign-out ends it).
    let sign_outs = match changed.await {
        Ok(sign_outs) => sign_outs,
        Err(UserError::Invalid { message, .. }) => {
            let message = format!("The new password {message}.");
            return again(&message, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(UserError::PasswordChanged) => {
            return again(
                "Your password was changed meanwhile. Open the page again and retry.",
                StatusCode::CONFLICT,
            );
        }
        Err(e) => return Err(e.into()),
    };
    // The new session stands for what just happened: the password (or the
    // passkey) was checked; its `amr` claims nothing the person did not do now.
    let next = format!("{}?done=changed", paths::ACCOUNT_PASSWORD);
    Ok(carry_on(&state, &headers, &user.id, sign_outs, amr, &ip, &next).await)
}

/// After a change that signed `user_id` out everywhere (leaving the count
/// `sign_outs`): this browser carries on in a new session claiming `amr`, and
/// goes to `next`. When the session cannot start, the change stands and the
/// browser is signed out, to sign in again.
pub(super) async fn carry_on(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    sign_outs: i64,
    amr: Vec<String>,
    ip: &str,
    next: &str,
) -> Response {
    match session::start(state, headers, user_id, sign_outs, amr, ip).await {
        Ok((_, cookie)) => {
            let mut response = see_other(next);
            if let Some(cookie) = cookie {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "the account changed, but this browser's new session could not start");
            signed_out(state)
        }
    }
}

/// `POST /account/profile`: replaces the person's name, username and other
/// claims with the form's values (an empty field clears one), audited.
pub async fn update_profile(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm {
        session: current,
        form,
    }: AccountForm,
) -> Result<Response, Error> {
    let value = |name: &str| Some(form.get(name).unwrap_or_default().to_owned());
    let patch = UserPatch {
        name: value("name"),
        preferred_username: value("preferred_username"),
        claims: Some(ClaimsPatch {
            given_name: value("given_name"),
            family_name: value("family_name"),
            picture: value("picture"),
            website: value("website"),
            locale: value("locale"),
            zoneinfo: value("zoneinfo"),
            phone_number: value("phone_number"),
            phone_number_verified: None,
            address: Some(AddressPatch {
                formatted: None,
                street_address: value("street_address"),
                locality: value("locality"),
                region: value("region"),
                postal_code: value("postal_code"),
                country: value("country"),
            }),
        }),
        ..UserPatch::default()
    };
    let from = origin(&current, &ip, &headers);
    let now = state.clock.now();
    let updated = users::update_profile(
        &state.store,
        &state.passwords,
        now,
        &current.user_id,
        patch,
        &from,
    );
    match updated.await {
        Ok(_) => Ok(see_other(&format!("{}?done=saved", paths::ACCOUNT_PROFILE))),
        Err(UserError::Invalid { field, message }) => {
            // The form again, with what was typed and what is wrong.
            let mut fields = profile_fields(&users::find(&state.store, &current.user_id).await?);
            for field in &mut fields {
                field.value = form.get(field.name).unwrap_or_default().to_owned();
            }
            let field = field.trim_start_matches("address.");
            let label = fields
                .iter()
                .find(|f| f.name == field)
                .map_or(field, |f| f.label);
            let error = format!("{label} {message}.");
            render(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, |csrf| {
                ProfilePage {
                    fields,
                    sid: &current.sid,
                    csrf,
                    error: Some(&error),
                    done: false,
                }
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/sign-out`: ends this browser's session, with the refresh
/// tokens tied to it, and opens the account's sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm,
) -> Result<Response, Error> {
    // Any tab's sign-out signs this browser out (no `for` check): signing out
    // never acts on anything but the session it ends. Read after the form's
    // CSRF check: a forged post touches no session.
    let Some(current) = session::current(&state, &headers).await? else {
        return Ok(signed_out(&state));
    };
    let why = format!(
        "signed out by the person {}",
        origin(&current, &ip, &headers)
    );
    state
        .sessions()
        .end_one(&current.user_id, &current.sid, &why)
        .await?;
    Ok(signed_out(&state))
}

/// Back to the account's sign-in page, clearing the session cookie.
fn signed_out(state: &AppState) -> Response {
    let mut response = see_other(paths::ACCOUNT);
    if let Some(cookie) = state.cookies.set(CookieKind::Session, "", 0) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}
