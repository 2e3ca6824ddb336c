//! `POST /consent`: the person allows or denies what the client asked for. Only
//! an interaction at its consent step, and only from the session that settled
//! its sign-in, may be answered: posting a request id that still needs a
//! (re-)sign-in gets the out-of-date page, never a code.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::form::{PendingForm, expired, failure};
use super::{pages, session};
use crate::app::AppState;
use crate::oauth::authorize::pending::{self, Step};
use crate::oauth::authorize::{self, Flow, Settled};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::scope::Scope;

/// Handles the consent form.
pub async fn decide(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let PendingForm {
        fields: form,
        request_id,
        request,
        step,
        client,
    } = match PendingForm::read(&state, &headers, &body).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Step::Consent(signed_in) = step else {
        return pages::out_of_date();
    };
    let session = match session::current(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return expired(),
        Err(e) => return failure(&e.to_string()),
    };
    if !signed_in.is(&session) {
        return pages::out_of_date();
    }
    if form.get("decision") != Some("allow") {
        match pending::finish(&state, &request_id).await {
            Ok(true) => {}
            Ok(false) => return pages::out_of_date(),
            Err(e) => return failure(&e.to_string()),
        }
        tracing::info!(client_id = %client.id, "consent denied");
        let error = OAuthError::new(ErrorCode::AccessDenied, "the person denied the request");
        return request.target.error(&state.config.issuer, &error);
    }
    let previous = state
        .store
        .get_consent(&session.user_id, &client.id)
        .await
        .ok()
        .flatten();
    let mut agreed: Vec<String> = previous
        .and_then(|text| Scope::parse(&text).ok())
        .map(|s| s.tokens().to_vec())
        .unwrap_or_default();
    agreed.extend(
        Scope::parse(&request.scope)
            .unwrap_or_default()
            .tokens()
            .iter()
            .cloned(),
    );
    let agreed = Scope::from_tokens(agreed.iter().map(String::as_str)).unwrap_or_default();
    if let Err(e) = state
        .store
        .put_consent(
            &session.user_id,
            &client.id,
            &agreed.to_string(),
            state.clock.now(),
        )
        .await
    {
        return failure(&e.to_string());
    }
    tracing::info!(client_id = %client.id, "consent given");
    let flow = Flow {
        request,
        client,
        pending_id: Some(request_id),
        session: Some(session),
        settled: Settled::Consented,
    };
    authorize::proceed(&state, &headers, flow).await
}
