//! `POST /login/second-factor`: the code from the person's authenticator app,
//! or one of their recovery codes, for an interaction whose password step
//! was passed in this browser. Attempts are limited per person and per
//! address like passwords (DESIGN.md rule 9), counted before the code is
//! checked; a code is accepted once.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::form::InteractionForm;
use super::password::audit;
use super::throttle::{self, Attempt, Verdict};
use super::{ClientIp, csrf, device, finish, pages};
use crate::app::AppState;
use crate::http::Error;
use crate::interaction::Step;

/// The digits of an authenticator code; anything else typed is taken as a
/// recovery code.
const TOTP_DIGITS: usize = crate::factors::totp::DIGITS;

/// Handles the second-factor form: only for an interaction at its
/// second-factor step, from the browser that passed the password.
pub async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    InteractionForm {
        fields,
        id,
        interaction,
    }: InteractionForm,
) -> Result<Response, Error> {
    let Step::SecondFactor(first) = &interaction.step else {
        return Err(Error::out_of_date());
    };
    if first.browser != csrf::browser_mark(state.cookies, &headers) {
        tracing::info!("a second-factor form from another browser was refused");
        return Err(Error::out_of_date());
    }
    let first = first.clone();
    let retry = |message: &str, status: StatusCode| {
        pages::second_factor(&state, &headers, &interaction, &id, Some(message), status)
    };
    let reservation =
        match throttle::reserve(&state, Attempt::SecondFactor, &first.user_id, &ip).await? {
            Verdict::Allowed(reservation) => reservation,
            Verdict::Refused => {
                return retry(
                    "Too many attempts. Wait a few minutes and try again.",
                    StatusCode::TOO_MANY_REQUESTS,
                );
            }
        };
    let code = fields.get("code").unwrap_or_default().trim();
    let digits = code.chars().filter(char::is_ascii_digit).count();
    let factors = state.factors();
    let agent = device::label(device::user_agent(&headers));
    let (checked, how) = if digits == TOTP_DIGITS && code.len() == TOTP_DIGITS {
        (
            factors.check_totp(&first.user_id, code).await,
            "with a password and an authenticator app",
        )
    } else {
        let detail = format!("at sign-in from {ip}, {agent}");
        (
            factors
                .use_recovery_code(&first.user_id, code, &detail)
                .await,
            "with a password and a recovery code",
        )
    };
    let passed = match checked {
        Ok(passed) => passed,
        Err(e) => {
            reservation.release(&state).await;
            return Err(Error::internal(e));
        }
    };
    if !passed {
        let failures = reservation.failed();
        if failures == 1 || failures == u64::from(state.config.login_attempts_per_account) {
            let detail = format!("wrong second-factor code from {ip}, {agent}");
            let (state, user_id) = (state.clone(), first.user_id.clone());
            tokio::spawn(
                async move { audit(&state, "second_factor_failed", &user_id, &detail).await },
            );
        }
        tokio::time::sleep(throttle::delay_after_failure(failures)).await;
        return retry(
            "That code is not right. Try the code your app shows now.",
            StatusCode::OK,
        );
    }
    reservation.succeeded(&state).await;
    let mut person = first;
    person.amr.extend(["otp".to_owned(), "mfa".to_owned()]);
    finish::sign_in(&state, &headers, &ip, &id, interaction, &person, how).await
}
