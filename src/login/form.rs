//! What the engine's forms share: a well-formed body, a valid CSRF token, and
//! the interaction (with its recorded step) they belong to.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::{csrf, pages};
use crate::app::AppState;
use crate::http::params::FormParams;
use crate::interaction::{Found, Interaction, store};

/// A submitted form that passed the checks.
pub struct InteractionForm {
    /// The form fields.
    pub fields: FormParams,
    /// The id the interaction is stored under.
    pub id: String,
    /// The interaction, at the step it is in; each form may complete only its own.
    pub interaction: Interaction,
}

impl InteractionForm {
    /// Parses and checks `body`; the error is the page to show.
    pub async fn read(
        state: &AppState,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Self, Response> {
        let fields = csrf::checked_form(state.cookies, headers, body)
            .map_err(IntoResponse::into_response)?;
        let id = fields.get("request").unwrap_or_default().to_owned();
        let interaction = match store::load(state.interactions(), &id).await {
            Ok(Some(Found::Current(interaction))) => *interaction,
            Ok(Some(Found::Moved)) => return Err(pages::out_of_date()),
            Ok(None) => return Err(pages::expired()),
            Err(e) => return Err(pages::failure(&e.to_string())),
        };
        Ok(Self {
            fields,
            id,
            interaction,
        })
    }
}
