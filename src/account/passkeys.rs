//! The account's passkey forms: adding one (a page that runs the browser's
//! registration ceremony, then names the passkey), renaming and removing
//! one, and removing the password once a passkey signs the person in.
//! Adding and removing need a recent sign-in and proof beyond the session,
//! like every change of sign-in methods ([`prove`]); each change is
//! audited with where it came from.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::actions::carry_on;
use super::pages::render_with;
use super::security::{Proof, prove};
use super::{AccountForm, origin, recent_enough};
use crate::app::AppState;
use crate::http::pages::{PagePolicy, see_other};
use crate::http::{ClientIp, Error};
use crate::interaction::AccountPage;
use crate::login::device;
use crate::passkeys::{PasskeyError, clean_name};
use crate::users::{self, Actor, UserError};

#[derive(Template)]
#[template(path = "account_passkey_add.html")]
struct AddPage<'a> {
    options: &'a str,
    name: &'a str,
    sid: &'a str,
    csrf: String,
}

/// Where the sign-in methods page is, with the notice `done` names.
fn done(notice: &str) -> Response {
    see_other(&format!("{}?done={notice}", AccountPage::Security.path()))
}

/// `POST /account/security/passkeys/begin`: the page that asks the browser
/// to make a passkey for this account.
pub async fn begin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    if let Proof::Page(page) = prove(&state, &headers, &ip, &session, &form).await? {
        return Ok(page);
    }
    let user = users::find(&state.store, &session.user_id).await?;
    let options = state
        .passkeys()
        .begin_registration(&user.id, &user.email, &session.sid)
        .await?;
    let options = serde_json::to_string(&options).unwrap_or_default();
    let name = device::label(device::user_agent(&headers));
    let policy = PagePolicy::scripted();
    render_with(&state, &headers, StatusCode::OK, &policy, |csrf| AddPage {
        options: &options,
        name: &name,
        sid: &session.sid,
        csrf,
    })
}

/// `POST /account/security/passkeys` (`credential`, `name`): registers the
/// passkey the browser made for the ceremony this session began.
pub async fn add(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    if let Some(page) = recent_enough(&state, &headers, &session, AccountPage::Security).await? {
        return Ok(page);
    }
    let fallback = device::label(device::user_agent(&headers));
    let name = clean_name(form.get("name").unwrap_or_default(), &fallback);
    let detail = format!("by the person {}", origin(&session, &ip, &headers));
    state
        .passkeys()
        .finish_registration(
            &session.user_id,
            &session.sid,
            session.sign_outs,
            &name,
            form.get("credential").unwrap_or_default(),
            &detail,
        )
        .await?;
    Ok(done("passkey-added"))
}

/// `POST /account/security/passkeys/rename` (`passkey`, `name`).
pub async fn rename(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    let name = clean_name(form.get("name").unwrap_or_default(), "Passkey");
    let detail = format!("by the person {}", origin(&session, &ip, &headers));
    state
        .passkeys()
        .rename(
            &session.user_id,
            form.get("passkey").unwrap_or_default(),
            &name,
            &detail,
        )
        .await?;
    Ok(done("passkey-renamed"))
}

/// `POST /account/security/passkeys/remove` (`passkey`): the passkey stops
/// signing the person in — unless it is their only way in. A removed passkey
/// may be a lost or stolen device: every session is signed out, and this
/// browser carries on in a new one standing for what was just proven.
pub async fn remove(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    let proven = match prove(&state, &headers, &ip, &session, &form).await? {
        Proof::Given(proven) => proven,
        Proof::Page(page) => return Ok(page),
    };
    let detail = format!("by the person {}", origin(&session, &ip, &headers));
    let sign_outs = state
        .passkeys()
        .remove(
            &session.user_id,
            form.get("passkey").unwrap_or_default(),
            &detail,
        )
        .await?;
    let next = format!("{}?done=passkey-removed", AccountPage::Security.path());
    let carried = carry_on(
        &state,
        &headers,
        &session.user_id,
        sign_outs,
        proven.amr,
        &ip,
        &next,
    );
    Ok(carried.await)
}

/// `POST /account/security/password/remove`: a passkey-only account from
/// now on. Like a password change it signs the person out everywhere; this
/// browser carries on in a new session.
pub async fn remove_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    AccountForm { session, form }: AccountForm,
) -> Result<Response, Error> {
    let proven = match prove(&state, &headers, &ip, &session, &form).await? {
        Proof::Given(proven) => proven,
        Proof::Page(page) => return Ok(page),
    };
    // While passkeys cannot be used, a password holder with passkeys proved
    // this with the password: removing it would leave only what cannot open.
    if !state.passkeys().available() {
        return Err(PasskeyError::Unavailable.into());
    }
    // The hash the proof just checked: a change made since refuses this one.
    let Some(checked) = proven.password_hash else {
        return Ok(done("password-removed"));
    };
    let from = origin(&session, &ip, &headers);
    let removed = users::remove_own_password(
        &state.store,
        &state.mail,
        state.clock.now(),
        &session.user_id,
        &checked,
        Actor::Person(&from),
    );
    let sign_outs = match removed.await {
        Ok(sign_outs) => sign_outs,
        Err(UserError::NoOtherWayIn) => {
            return Err(Error::page(
                StatusCode::CONFLICT,
                "Add a passkey first",
                "Without a password, only a passkey can sign you in. Add one, then remove the password.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let next = format!("{}?done=password-removed", AccountPage::Security.path());
    let carried = carry_on(
        &state,
        &headers,
        &session.user_id,
        sign_outs,
        proven.amr,
        &ip,
        &next,
    );
    Ok(carried.await)
}
