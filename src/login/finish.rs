//! Signing the browser in once every factor the person has is passed: the
//! session starts (its id new) — or a step-up adds to the session it was
//! asked in — the sign-in is audited with how it was made, and the
//! interaction's sign-in is settled, sending the browser back to its purpose.

use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};

use super::password::audit;
use super::session;
use crate::app::AppState;
use crate::http::Error;
use crate::http::pages::see_other;
use crate::interaction::{FirstFactor, Interaction, SignedIn, engine};

/// Starts `person`'s session in this browser with the methods `amr` — or,
/// for a step-up, adds them to the session that asked for it — and settles
/// interaction `id`'s sign-in; `how` says in words how the person signed in,
/// for their security activity. The session's new cookie goes with every
/// answer, even when the interaction moved on meanwhile.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    id: &str,
    interaction: Interaction,
    person: &FirstFactor,
    how: &str,
) -> Result<Response, Error> {
    let (session, cookie) = match &person.session {
        None => {
            let amr = person.amr.clone();
            session::start(state, headers, &person.user_id, person.sign_outs, amr, ip).await?
        }
        // A step-up adds to the session that asked for it, while the browser
        // is still in it.
        Some(sid) => match session::upgrade(state, headers, sid, &person.amr).await? {
            Some(upgraded) => upgraded,
            None => {
                tracing::info!("a step-up for a session the browser is no longer in was refused");
                return Err(Error::out_of_date());
            }
        },
    };
    let detail = format!(
        "{how}, from {ip}, {} (session {})",
        session.device, session.sid
    );
    audit(state, "signed_in", &person.user_id, &detail).await;
    tracing::info!(user_id = %person.user_id, how, "signed in");
    let next = engine::complete_sign_in(
        state.interactions(),
        id,
        interaction,
        SignedIn::from(&session),
    );
    let mut response = match next.await {
        Ok(Some(path)) => see_other(&path),
        // Another window finished this interaction meanwhile.
        Ok(None) => Error::out_of_date().into_response(),
        Err(e) => Error::from(e).into_response(),
    };
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}
