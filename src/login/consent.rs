//! `POST /consent`: the person allows or denies what the app asked for. Only
//! an interaction at its consent step, and only from the session that signed
//! in for it, may be answered: any other form gets the out-of-date page.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::form::InteractionForm;
use super::pages::{self, expired, failure};
use super::session;
use crate::app::AppState;
use crate::http::pages::see_other;
use crate::interaction::engine;

/// Handles the consent form, then sends the browser back to the purpose.
pub async fn decide(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let InteractionForm {
        fields,
        id,
        interaction,
    } = match InteractionForm::read(&state, &headers, &body).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let session = match session::current(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return expired(),
        Err(e) => return failure(&e.to_string()),
    };
    let allowed = fields.get("decision") == Some("allow");
    let deps = state.interactions();
    match engine::complete_consent(deps, &id, interaction, &session.signed_in(), allowed).await {
        Ok(Some(path)) => {
            tracing::info!(allowed, "consent answered");
            see_other(&path)
        }
        Ok(None) => pages::out_of_date(),
        Err(e) => failure(&e.to_string()),
    }
}
