//! `POST /login`: email and password sign-in for an interaction at its
//! sign-in step; the browser then goes back to the interaction's purpose.
//! Unknown email, wrong password and disabled account get the same answer after
//! the same work (DESIGN.md rule 8).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::form::InteractionForm;
use super::pages::{self, failure};
use super::throttle::{self, Verdict};
use super::{ClientIp, session};
use crate::app::AppState;
use crate::crypto::password::PasswordError;
use crate::http::pages::see_other;
use crate::interaction::{Step, engine};
use crate::users::FoundUser;

const WRONG_CREDENTIALS: &str = "Incorrect email or password.";

/// Handles the sign-in form: only for an interaction at its sign-in step; the
/// attempt is reserved against the limits before the password is checked.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let InteractionForm {
        fields: form,
        id,
        interaction,
    } = match InteractionForm::read(&state, &headers, &body).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    if interaction.step != Step::SignIn {
        return pages::out_of_date();
    }
    let email = form.get("email").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let retry = |message: &str, status: StatusCode| {
        pages::sign_in(&state, &headers, &interaction, &id, Some(message), status)
    };

    let reservation = match throttle::reserve(&state, email, &ip).await {
        Ok(Verdict::Allowed(reservation)) => reservation,
        Ok(Verdict::Refused) => {
            return retry(
                "Too many sign-in attempts. Wait a few minutes and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        Err(e) => return failure(&e.to_string()),
    };
    let found = match crate::users::find_by_email(&state.store, email).await {
        Ok(found) => found.filter(|f| !f.user.disabled),
        Err(e) => {
            reservation.release(&state).await;
            return failure(&e.to_string());
        }
    };
    let stored = found.as_ref().and_then(|f| f.user.password_hash.as_deref());
    let found = match state.passwords.verify(password, stored).await {
        Ok(true) => found,
        Ok(false) => None,
        Err(e) => {
            reservation.release(&state).await;
            return match e {
                PasswordError::Overloaded => {
                    let mut response = retry(
                        "The service is busy. Please try again in a moment.",
                        StatusCode::SERVICE_UNAVAILABLE,
                    );
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                    response
                }
                PasswordError::Internal(detail) => failure(&detail),
            };
        }
    };
    let Some(FoundUser { user, sign_outs }) = found else {
        let failures = reservation.failed();
        tokio::time::sleep(throttle::delay_after_failure(failures)).await;
        tracing::info!(failures, "sign-in failed");
        return retry(WRONG_CREDENTIALS, StatusCode::OK);
    };
    reservation.succeeded(&state).await;
    if let Err(e) =
        crate::users::upgrade_password_hash(&state.store, &state.passwords, &user, password).await
    {
        tracing::warn!(error = %e, "could not upgrade the password hash; trying again at the next sign-in");
    }
    let (session, cookie) = match session::start(
        &state,
        &headers,
        &user.id,
        sign_outs,
        vec!["pwd".into()],
        &ip,
    )
    .await
    {
        Ok(started) => started,
        Err(e) => return failure(&e.to_string()),
    };
    tracing::info!(user_id = %user.id, "signed in");
    let next =
        engine::complete_sign_in(state.interactions(), &id, interaction, session.signed_in());
    let mut response = match next.await {
        Ok(Some(path)) => see_other(&path),
        // Another window finished this interaction meanwhile; the browser
        // is signed in all the same.
        Ok(None) => pages::out_of_date(),
        Err(e) => failure(&e.to_string()),
    };
    if let Some(cookie) = cookie {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}
