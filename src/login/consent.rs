//! `POST /consent`: the person allows or denies what the client asked for.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::password::{expired, failure};
use super::{csrf, session};
use crate::app::AppState;
use crate::clients;
use crate::http::pages::error_page;
use crate::oauth::authorize::{self, Flow, pending};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::FormParams;
use crate::oauth::scope::Scope;

/// Handles the consent form.
pub async fn decide(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(form) = FormParams::parse(&body) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The form was malformed.",
        );
    };
    if !csrf::verify(&state.config, &headers, form.get("csrf")) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Please try again",
            "The form expired or did not come from this site. Go back to the application and start again.",
        );
    }
    let request_id = form.get("request").unwrap_or_default();
    let request = match pending::load(&state, request_id).await {
        Ok(Some(request)) => request,
        Ok(None) => return expired(),
        Err(e) => return failure(&e.to_string()),
    };
    let Ok(client) = clients::find(&state.store, &request.client_id).await else {
        return expired();
    };
    let session = match session::current(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return expired(),
        Err(e) => return failure(&e.to_string()),
    };
    if form.get("decision") != Some("allow") {
        let _ = pending::discard(&state, request_id).await;
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
        pending_id: Some(request_id.to_owned()),
        session: Some(session),
        signed_in_for_request: true,
        consented: true,
    };
    authorize::proceed(&state, &headers, flow).await
}
