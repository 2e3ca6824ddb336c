//! `POST /consent`: the person allows or denies what the app asked for. Only
//! an interaction at its consent step, and only from the session that signed
//! in for it, may be answered: any other form gets the out-of-date page.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::form::InteractionForm;
use super::session;
use crate::app::AppState;
use crate::http::Error;
use crate::http::pages::see_other;
use crate::interaction::{SignedIn, engine};

/// Handles the consent form, then sends the browser back to the purpose.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    InteractionForm {
        fields,
        id,
        interaction,
    }: InteractionForm,
) -> Result<Response, Error> {
    // Read after the form's CSRF check: a forged post touches no session.
    let Some(session) = session::current(&state, &headers).await? else {
        return Err(Error::expired());
    };
    let allowed = fields.get("decision") == Some("allow");
    let deps = state.interactions();
    match engine::complete_consent(deps, &id, interaction, &SignedIn::from(&session), allowed)
        .await?
    {
        Some(path) => {
            tracing::info!(allowed, "consent answered");
            Ok(see_other(&path))
        }
        None => Err(Error::out_of_date()),
    }
}
