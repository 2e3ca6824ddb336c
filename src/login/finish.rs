//! Signing the browser in once every factor the person has is passed: the
//! session starts (its id new), the sign-in is audited with how it was made,
//! and the interaction's sign-in is settled, sending the browser back to its
//! purpose.

use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};

use super::password::audit;
use super::session;
use crate::app::AppState;
use crate::http::Error;
use crate::http::pages::see_other;
use crate::interaction::{FirstFactor, Interaction, SignedIn, engine};

/// Starts `person`'s session in this browser with the methods `amr` and
/// settles interaction `id`'s sign-in; `how` says in words how the person
/// signed in, for their security activity. The new session's cookie goes
/// with every answer, even when the interaction moved on meanwhile.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    id: &str,
    interaction: Interaction,
    person: &FirstFactor,
    how: &str,
) -> Result<Response, Error> {
    let (session, cookie) = session::start(
        state,
        headers,
        &person.user_id,
        person.sign_outs,
        person.amr.clone(),
        ip,
    )
    .await?;
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
