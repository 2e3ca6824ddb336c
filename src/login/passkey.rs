//! Passkeys at the engine's sign-in pages. `POST /login/passkey/options`
//! makes the challenge for the page's interaction (any passkey at the
//! sign-in step; the person's own at the second-factor step, from the browser
//! that passed the password); `POST /login/passkey` takes the answer. A
//! passkey with user verification is multi-factor, so signing in with one
//! needs nothing else; at the second-factor step it completes the sign-in.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::form::InteractionForm;
use super::second_factor::{CodeCheck, record_failure};
use super::throttle::{self, Attempt, Verdict};
use super::{ClientIp, csrf, finish, pages};
use crate::app::AppState;
use crate::http::Error;
use crate::interaction::engine::AfterFirstFactor;
use crate::interaction::{FirstFactor, Interaction, Step, engine};
use crate::passkeys::{Bound, PasskeyError};

/// Which ceremony the page's step calls for: `None` for any passkey (the
/// sign-in step), else the person who passed the first factor. An error when
/// the step takes no passkey, or the form comes from another browser.
fn ceremony_person<'a>(
    interaction: &'a Interaction,
    browser: &str,
) -> Result<Option<&'a FirstFactor>, Error> {
    match &interaction.step {
        Step::SignIn => Ok(None),
        Step::SecondFactor(first) if first.browser == browser => Ok(Some(first)),
        Step::SecondFactor(_) => {
            tracing::info!("a passkey form from another browser was refused");
            Err(Error::out_of_date())
        }
        Step::Consent(_) | Step::Settled(..) | Step::Refused(_) => Err(Error::out_of_date()),
    }
}

/// `POST /login/passkey/options`: the options for `navigator.credentials.get`.
pub async fn options(
    State(state): State<AppState>,
    headers: HeaderMap,
    InteractionForm {
        id, interaction, ..
    }: InteractionForm,
) -> Result<Response, Error> {
    let browser = csrf::browser_mark(state.cookies, &headers);
    let passkeys = state.passkeys();
    let bound = Bound::Interaction {
        id: &id,
        browser: &browser,
    };
    let options = match ceremony_person(&interaction, &browser)? {
        None => passkeys.begin_sign_in(bound).await?,
        Some(first) => passkeys
            .begin_use(&first.user_id, bound)
            .await?
            .ok_or_else(Error::out_of_date)?,
    };
    Ok(Json(options).into_response())
}

/// `POST /login/passkey` (`credential`): signs in with the passkey that
/// answered, or passes the second factor with it.
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
    let browser = csrf::browser_mark(state.cookies, &headers);
    let first = ceremony_person(&interaction, &browser)?.cloned();
    let answer = fields.get("credential").unwrap_or_default();
    let bound = Bound::Interaction {
        id: &id,
        browser: &browser,
    };
    let person = first.as_ref().map(|f| f.user_id.as_str());
    // At the second-factor step the person is known: their attempts count in
    // the same buckets as codes (DESIGN.md rule 9), and failures are audited.
    let reservation = match &first {
        None => None,
        Some(first) => {
            match throttle::reserve(&state, Attempt::SecondFactor, &first.user_id, &ip).await? {
                Verdict::Allowed(reservation) => Some(reservation),
                Verdict::Refused => {
                    let refused = CodeCheck::Throttled;
                    let page = pages::second_factor(
                        &state,
                        &headers,
                        &interaction,
                        &id,
                        first,
                        Some(refused.message()),
                        refused.status(),
                    );
                    return page.await;
                }
            }
        }
    };
    let used = state.passkeys().finish(bound, person, answer).await;
    let used = match (used, reservation) {
        (Ok(used), reservation) => {
            if let Some(reservation) = reservation {
                reservation.succeeded(&state).await;
            }
            used
        }
        (Err(e), reservation) => {
            let guess = !matches!(
                e,
                PasskeyError::Service(_) | PasskeyError::NoCeremony | PasskeyError::Unavailable
            );
            if let (Some(reservation), Some(user_id)) = (reservation, person) {
                if guess {
                    let failures = reservation.failed();
                    record_failure(
                        &state,
                        &headers,
                        user_id,
                        &ip,
                        failures,
                        "a passkey that was not accepted",
                    )
                    .await;
                } else {
                    reservation.release(&state).await;
                }
            }
            if let PasskeyError::Service(e) = e {
                return Err(e.into());
            }
            tracing::info!(error = %e, "a passkey answer was refused");
            let message = refusal_message(&e);
            return match &first {
                None => pages::sign_in(
                    &state,
                    &headers,
                    &interaction,
                    &id,
                    Some(message),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Some(first) => {
                    pages::second_factor(
                        &state,
                        &headers,
                        &interaction,
                        &id,
                        first,
                        Some(message),
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
            };
        }
    };
    let how = format!("the passkey “{}”", used.name);
    let Some(mut person) = first else {
        let person = FirstFactor {
            user_id: used.user_id,
            sign_outs: used.sign_outs,
            amr: used.amr,
            browser,
            session: None,
        };
        // A passkey reaches the strongest level: nothing more is asked.
        let after = engine::complete_first_factor(
            state.interactions(),
            &id,
            interaction.clone(),
            person.clone(),
        );
        if after.await? != AfterFirstFactor::SignInNow {
            return Err(Error::out_of_date());
        }
        let how = format!("with {how}");
        return finish::sign_in(&state, &headers, &ip, &id, interaction, &person, &how).await;
    };
    person.add_methods(&used.amr);
    let how = person.described(&how);
    finish::sign_in(&state, &headers, &ip, &id, interaction, &person, &how).await
}

/// What the page tells the person when a passkey did not sign them in.
fn refusal_message(e: &PasskeyError) -> &'static str {
    match e {
        PasskeyError::Unavailable => "Passkeys cannot be used on this server.",
        PasskeyError::NoCeremony => "That passkey request expired. Try again.",
        _ => {
            "That passkey could not be used to sign in here. Try again, or use another way to sign in."
        }
    }
}
