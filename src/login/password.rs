//! `POST /login`: email and password sign-in for a pending authorization request.
//! Unknown email, wrong password and disabled account get the same answer after
//! the same work (DESIGN.md rule 8).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::form::{PendingForm, failure};
use super::throttle::{self, Verdict};
use super::{ClientIp, pages, session};
use crate::app::AppState;
use crate::crypto::password::PasswordError;
use crate::oauth::authorize::{self, Flow};

const WRONG_CREDENTIALS: &str = "Incorrect email or password.";

/// Handles the sign-in form.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let PendingForm {
        fields: form,
        request_id,
        request,
        client,
    } = match PendingForm::read(&state, &headers, &body).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let email = form.get("email").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let retry = |message: &str, status: StatusCode| {
        pages::sign_in(
            &state,
            &headers,
            &client,
            &request,
            &request_id,
            Some(message),
            status,
        )
    };

    match throttle::check(&state, email, &ip).await {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Refused) => {
            return retry(
                "Too many sign-in attempts. Wait a few minutes and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return failure(&e.to_string()),
    };
    let user = match crate::users::find_by_email(&state.store, email).await {
        Ok(user) => user.filter(|u| !u.disabled),
        Err(e) => return failure(&e.to_string()),
    };
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    match state.passwords.verify(password, stored).await {
        Ok(true) => {}
        Ok(false) => {
            let failures = match throttle::failed(&state, email, &ip).await {
                Ok(failures) => failures,
                Err(e) => return failure(&e.to_string()),
            };
            tokio::time::sleep(throttle::delay_after_failure(failures)).await;
            tracing::info!(failures, "sign-in failed");
            return retry(WRONG_CREDENTIALS, StatusCode::OK);
        }
        Err(PasswordError::Overloaded) => {
            let mut response = retry(
                "The service is busy. Please try again in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        Err(e) => return failure(&e.to_string()),
    }
    let Some(user) = user else {
        return retry(WRONG_CREDENTIALS, StatusCode::OK);
    };
    if let Err(e) = throttle::succeeded(&state, email).await {
        tracing::warn!(error = %e, "could not reset the attempt counter");
    }
    let (session, cookie) =
        match session::start(&state, &headers, &user.id, vec!["pwd".into()], &ip).await {
            Ok(started) => started,
            Err(e) => return failure(&e.to_string()),
        };
    tracing::info!(user_id = %user.id, client_id = %client.id, "signed in");
    let flow = Flow {
        request,
        client,
        pending_id: Some(request_id.clone()),
        session: Some(session),
        signed_in_for_request: true,
        consented: false,
    };
    let mut response = authorize::proceed(&state, &headers, flow).await;
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}
