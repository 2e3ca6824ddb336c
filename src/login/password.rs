//! Checking a person's password, and `POST /login`: email and password
//! sign-in for an interaction at its sign-in step, after which the browser
//! goes back to the interaction's purpose.
//! Unknown email, wrong password and disabled account get the same answer after
//! the same work (DESIGN.md rule 8).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::form::InteractionForm;
use super::pages;
use super::throttle::{self, Attempt, Verdict};
use super::{ClientIp, device};
use super::{csrf, finish};
use crate::app::AppState;
use crate::crypto::password::PasswordError;
use crate::http::Error;
use crate::http::pages::see_other;
use crate::interaction::engine::AfterFirstFactor;
use crate::interaction::{FirstFactor, Step, engine};
use crate::store::{AuditEvent, SIGN_IN_FAILED};
use crate::users::FoundUser;

const WRONG_CREDENTIALS: &str = "Incorrect email or password.";

/// How a password check ended, when it could be made.
pub enum Checked {
    /// The password is the active account's.
    Right(Box<FoundUser>),
    /// No active account has this email and password.
    Wrong,
}

/// Why a password could not be checked; each says what the person is told.
pub enum Unchecked {
    /// Too many attempts for the account or from the address.
    Throttled,
    /// The hasher is saturated: try again in a moment (503 with `Retry-After`).
    Busy,
    /// A failure on our side.
    Failed(Error),
}

impl Unchecked {
    /// What the form that asked tells the person, and with which status
    /// (a failure on our side is the failure page instead, never this).
    pub fn message(&self) -> (&'static str, StatusCode) {
        match self {
            Unchecked::Throttled => (
                "Too many sign-in attempts. Wait a few minutes and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            ),
            Unchecked::Busy | Unchecked::Failed(_) => (
                "The service is busy. Please try again in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
            ),
        }
    }

    /// The answer to the form that asked: `again` renders the form with
    /// [`Self::message`] (with `Retry-After` when busy); a failure on our
    /// side is the failure page instead.
    pub fn answer(
        self,
        again: impl FnOnce(&str, StatusCode) -> Result<Response, Error>,
    ) -> Result<Response, Error> {
        let (message, status) = self.message();
        match self {
            Unchecked::Failed(error) => Err(error),
            Unchecked::Busy => Ok(crate::http::pages::retry_after(again(message, status)?, 1)),
            Unchecked::Throttled => again(message, status),
        }
    }
}

/// Checks `password` for `email` from `ip`, as every password form does: the
/// attempt is reserved against the limits before the password is checked
/// (DESIGN.md rule 9), a failure is answered after a growing delay and
/// recorded in the person's security activity, and a success forgets the
/// failures and upgrades an outdated hash. `agent` is the browser's user agent.
pub async fn check(
    state: &AppState,
    email: &str,
    password: &str,
    ip: &str,
    agent: &str,
) -> Result<Checked, Unchecked> {
    let reservation = match throttle::reserve(state, Attempt::Password, email, ip).await {
        Ok(Verdict::Allowed(reservation)) => reservation,
        Ok(Verdict::Refused) => return Err(Unchecked::Throttled),
        Err(e) => return Err(Unchecked::Failed(e.into())),
    };
    let found = match crate::users::find_by_email(&state.store, email).await {
        Ok(found) => found.filter(|f| !f.user.disabled),
        Err(e) => {
            reservation.release(state).await;
            return Err(Unchecked::Failed(e.into()));
        }
    };
    let stored = found.as_ref().and_then(|f| f.user.password_hash.as_deref());
    let right = match state.passwords.verify(password, stored).await {
        Ok(right) => right,
        Err(e) => {
            reservation.release(state).await;
            return Err(match e {
                PasswordError::Overloaded => Unchecked::Busy,
                PasswordError::Internal(detail) => Unchecked::Failed(Error::internal(detail)),
            });
        }
    };
    let Some(found) = found else {
        return Ok(wrong(reservation.failed()).await);
    };
    if !right {
        let failures = reservation.failed();
        let limit = u64::from(state.config.login_attempts_per_account);
        // The window's first failure, and the one that reaches the limit:
        // what strangers who know the email can write stays bounded (two
        // rows a window). Recorded off the response path, so an existing
        // account answers as fast as an unknown one.
        if failures == 1 || failures == limit {
            let detail = if failures == limit {
                format!(
                    "{failures} wrong passwords in a row, the last from {ip}, {}; sign-in is refused for the rest of the attempt window",
                    device::label(agent)
                )
            } else {
                format!(
                    "wrong password from {ip}, {} (more failures in the same attempt window are counted, not listed)",
                    device::label(agent)
                )
            };
            let (state, user_id) = (state.clone(), found.user.id.clone());
            tokio::spawn(async move { audit(&state, SIGN_IN_FAILED, &user_id, &detail).await });
        }
        return Ok(wrong(failures).await);
    }
    reservation.succeeded(state).await;
    let mut found = found;
    match crate::users::upgrade_password_hash(&state.store, &state.passwords, &found.user, password)
        .await
    {
        // What is stored now: a caller comparing hashes later sees this one.
        Ok(Some(upgraded)) => found.user.password_hash = Some(upgraded),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not upgrade the password hash; trying again at the next sign-in");
        }
    }
    Ok(Checked::Right(Box::new(found)))
}

/// A failed check, the account's `failures`-th in the window, answered after
/// the growing delay.
async fn wrong(failures: u64) -> Checked {
    tokio::time::sleep(throttle::delay_after_failure(failures)).await;
    tracing::info!(failures, "password check failed");
    Checked::Wrong
}

/// Records a security event of `user_id` on its own; a failure to record it
/// is logged, never passed on (the sign-in it describes already happened).
pub(super) async fn audit(state: &AppState, kind: &str, user_id: &str, detail: &str) {
    let event = AuditEvent::of_person(kind, user_id, detail);
    if let Err(e) = state.store.record_audit(&event, state.clock.now()).await {
        tracing::warn!(error = %e, kind, "could not record a security event");
    }
}

/// Handles the sign-in form: only for an interaction at its sign-in step.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    InteractionForm {
        fields: form,
        id,
        interaction,
    }: InteractionForm,
) -> Result<Response, Error> {
    if interaction.step != Step::SignIn {
        return Err(Error::out_of_date());
    }
    let email = form.get("email").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let agent = device::user_agent(&headers);
    let retry = |message: &str, status: StatusCode| {
        pages::sign_in(&state, &headers, &interaction, &id, Some(message), status)
    };
    let FoundUser { user, sign_outs } = match check(&state, email, password, &ip, agent).await {
        Ok(Checked::Right(found)) => *found,
        Ok(Checked::Wrong) => return retry(WRONG_CREDENTIALS, StatusCode::OK),
        Err(why) => return why.answer(retry),
    };
    let first = FirstFactor {
        user_id: user.id.clone(),
        sign_outs,
        amr: vec!["pwd".into()],
        browser: csrf::browser_mark(state.cookies, &headers),
        session: None,
    };
    let after = engine::complete_first_factor(
        state.interactions(),
        &id,
        interaction.clone(),
        first.clone(),
    );
    match after.await? {
        AfterFirstFactor::SignInNow => {}
        AfterFirstFactor::SecondFactor(next) => {
            let agent = device::label(device::user_agent(&headers));
            let detail =
                format!("password right from {ip}, {agent}; the second factor was asked for");
            audit(&state, "password_accepted", &user.id, &detail).await;
            return pages::second_factor(
                &state,
                &headers,
                &interaction,
                &next,
                &first,
                None,
                StatusCode::OK,
            )
            .await;
        }
        AfterFirstFactor::Refused(path) => return Ok(see_other(&path)),
        AfterFirstFactor::OutOfDate => return Err(Error::out_of_date()),
    }
    finish::sign_in(
        &state,
        &headers,
        &ip,
        &id,
        interaction,
        &first,
        "with a password",
    )
    .await
}
