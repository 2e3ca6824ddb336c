//! What the engine's forms share: a well-formed body, a valid CSRF token, and
//! the interaction (with its recorded step) they belong to.

use axum::extract::{FromRequest, Request};

use super::csrf::CsrfForm;
use crate::app::AppState;
use crate::http::Error;
use crate::http::params::FormParams;
use crate::interaction::{Found, Interaction, store};

/// A submitted form of an interaction that passed the checks: CSRF-checked
/// ([`CsrfForm`]), naming in its `request` field an interaction that is
/// still current. A form of an interaction that moved on is out of date; one
/// of an interaction that is gone has expired.
pub struct InteractionForm {
    /// The form fields.
    pub fields: FormParams,
    /// The id the interaction is stored under.
    pub id: String,
    /// The interaction, at the step it is in; each form may complete only its own.
    pub interaction: Interaction,
}

impl FromRequest<AppState> for InteractionForm {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let CsrfForm(fields) = CsrfForm::from_request(req, state).await?;
        let id = fields.get("request").unwrap_or_default().to_owned();
        let interaction = match store::load(state.interactions(), &id).await? {
            Some(Found::Current(interaction)) => *interaction,
            Some(Found::Moved) => return Err(Error::out_of_date()),
            None => return Err(Error::expired()),
        };
        Ok(Self {
            fields,
            id,
            interaction,
        })
    }
}
