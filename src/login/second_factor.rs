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
use crate::interaction::{FirstFactor, Interaction, Step};
use crate::oidc::acr::Level;

/// How a second-factor code check ended.
pub enum CodeCheck {
    /// The code was right: a current authenticator code, or an unused
    /// recovery code (now used). Says in words which.
    Passed(&'static str),
    /// The code was wrong (answered after the growing delay).
    Wrong,
    /// Too many wrong codes for the person or from the address.
    Throttled,
}

impl CodeCheck {
    /// What the form that asked tells the person, when the code did not pass.
    pub fn message(&self) -> &'static str {
        match self {
            CodeCheck::Throttled => "Too many attempts. Wait a few minutes and try again.",
            _ => "That code is not right. Try the code your app shows now.",
        }
    }

    /// The status of the form shown again, when the code did not pass.
    pub fn status(&self) -> StatusCode {
        match self {
            CodeCheck::Throttled => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::OK,
        }
    }
}

/// Checks `typed` as `user_id`'s second factor from `ip`, as every form that
/// asks for one does: the attempt is counted against the person's and the
/// address's limits first (DESIGN.md rule 9); six digits (spaces aside) are
/// an authenticator code, anything else a recovery code; a wrong code is
/// answered after the growing delay and recorded in the person's security
/// activity (the window's first and the one reaching the limit).
pub async fn check_code(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    typed: &str,
    ip: &str,
) -> Result<CodeCheck, Error> {
    let reservation = match throttle::reserve(state, Attempt::SecondFactor, user_id, ip).await? {
        Verdict::Allowed(reservation) => reservation,
        Verdict::Refused => return Ok(CodeCheck::Throttled),
    };
    let code: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let factors = state.factors();
    let agent = device::label(device::user_agent(headers));
    let is_totp = code.len() == TOTP_DIGITS && code.bytes().all(|b| b.is_ascii_digit());
    let (checked, how) = if is_totp {
        (
            factors.check_totp(user_id, &code).await,
            "an authenticator app",
        )
    } else {
        let detail = format!("from {ip}, {agent}");
        (
            factors.use_recovery_code(user_id, &code, &detail).await,
            "a recovery code",
        )
    };
    let passed = match checked {
        Ok(passed) => passed,
        Err(e) => {
            reservation.release(state).await;
            return Err(e.into());
        }
    };
    if passed {
        reservation.succeeded(state).await;
        return Ok(CodeCheck::Passed(how));
    }
    let failures = reservation.failed();
    record_failure(
        state,
        headers,
        user_id,
        ip,
        failures,
        "wrong second-factor code",
    )
    .await;
    tokio::time::sleep(throttle::delay_after_failure(failures)).await;
    Ok(CodeCheck::Wrong)
}

/// Records the `failures`-th failed second factor of `user_id` from `ip` in
/// their security activity — the window's first and the one reaching the
/// limit, so what a stranger with the password can write stays bounded —
/// described as `what`. Recorded before answering: whoever gets this far
/// passed the first factor, so the answer's timing tells them nothing new.
pub(super) async fn record_failure(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    ip: &str,
    failures: u64,
    what: &str,
) {
    if failures == 1 || failures == u64::from(state.config.login_attempts_per_account) {
        let agent = device::label(device::user_agent(headers));
        let detail = format!("{what} from {ip}, {agent}");
        audit(state, "second_factor_failed", user_id, &detail).await;
    }
}

/// Whether the second-factor step of `interaction`, for the person who
/// passed `first`, takes a code: not once a code was used, and not when the
/// purpose demands a phishing-resistant sign-in (only a passkey meets it).
pub fn takes_a_code(interaction: &Interaction, first: &FirstFactor) -> bool {
    interaction.demands.acr < Some(Level::PhishingResistant)
        && !first.amr.iter().any(|m| m == "otp")
}

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
    let has_app = state.factors().standing(&first.user_id).await?.totp;
    if !has_app || !takes_a_code(&interaction, first) {
        // The page offered no code field: a crafted form spends no code and
        // no attempt.
        return Err(Error::out_of_date());
    }
    let mut person = first.clone();
    let code = fields.get("code").unwrap_or_default();
    let how = match check_code(&state, &headers, &person.user_id, code, &ip).await? {
        CodeCheck::Passed(how) => how,
        refused => {
            return pages::second_factor(
                &state,
                &headers,
                &interaction,
                &id,
                &person,
                Some(refused.message()),
                refused.status(),
            )
            .await;
        }
    };
    person.add_methods(&["otp"]);
    let how = person.described(how);
    finish::sign_in(&state, &headers, &ip, &id, interaction, &person, &how).await
}
