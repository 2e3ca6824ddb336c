//! The account area: a person's own pages, with no app involved — profile,
//! sessions and devices, apps with access, security activity, password.
//!
//! Every page needs a signed-in browser; without one, an account interaction
//! begins and the engine's sign-in page is shown, which returns here through
//! `GET /account/resume`. Sensitive changes (a new password, signing out
//! everywhere else) ask the engine whether the sign-in is recent enough for
//! them ([`recent_enough`]); when it is not, the engine's sign-in step asks
//! for the password again. Every form is a CSRF-checked POST
//! ([`crate::login::csrf::CsrfForm`]) and every change writes an audit event
//! naming the session, address and device it came from.

mod actions;
mod pages;
mod when;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::pages::{error_page, see_other};
use crate::http::paths;
use crate::interaction::{
    AccountPage, Demands, Found, Interaction, Outcome, Purpose, Refusal, Step, engine, store,
};
use crate::login::pages::{expired, failure, out_of_date, sign_in};
use crate::login::session::{self, Session};

/// The account pages and their forms.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::ACCOUNT, get(pages::overview))
        .route(paths::ACCOUNT_RESUME, get(resume))
        .route(paths::ACCOUNT_SESSIONS, get(pages::sessions))
        .route(paths::ACCOUNT_APPS, get(pages::apps))
        .route(paths::ACCOUNT_ACTIVITY, get(pages::activity))
        .route(
            paths::ACCOUNT_PROFILE,
            get(pages::profile).post(actions::update_profile),
        )
        .route(
            paths::ACCOUNT_PASSWORD,
            get(pages::password).post(actions::change_password),
        )
        .route("/account/sessions/end", post(actions::end_session))
        .route(
            "/account/sessions/end-others",
            post(actions::end_other_sessions),
        )
        .route("/account/apps/remove", post(actions::remove_app))
        .route("/account/sign-out", post(actions::sign_out))
}

/// The browser's session, or — when it is not signed in — the sign-in page
/// of a new account interaction that opens `page` afterwards.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    page: AccountPage,
) -> Result<Session, Response> {
    match session::current(state, headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => match ask_engine(state, headers, begin(page, Demands::default()), None).await {
            // Not signed in, so the engine never finds this done.
            Ok(()) => Err(out_of_date()),
            Err(page) => Err(page),
        },
        Err(e) => Err(failure(&e.to_string())),
    }
}

/// Whether `session` signed in recently enough to make a sensitive change on
/// `page`, as the engine decides for an account interaction demanding a
/// sign-in at most `reauthenticate_after_secs` old, by the same person. When
/// it is not, the error is the engine's sign-in page, which returns to `page`.
async fn recent_enough(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    email: &str,
    page: AccountPage,
) -> Result<(), Response> {
    let demands = Demands {
        max_age: Some(state.config.reauthenticate_after_secs),
        person: Some(session.user_id.clone()),
        login_hint: Some(email.to_owned()),
        ..Demands::default()
    };
    ask_engine(state, headers, begin(page, demands), Some(session)).await
}

fn begin(page: AccountPage, demands: Demands) -> Interaction {
    Interaction {
        purpose: Purpose::Account { page },
        demands,
        step: Step::SignIn,
    }
}

/// Asks the engine about a new account interaction; `Ok` when it is done at
/// once (the browser's sign-in does), else the page to show.
async fn ask_engine(
    state: &AppState,
    headers: &HeaderMap,
    interaction: Interaction,
    session: Option<&Session>,
) -> Result<(), Response> {
    let signed_in = session.map(Session::signed_in);
    let shown = interaction.clone();
    match engine::proceed(state.interactions(), None, interaction, signed_in.as_ref()).await {
        Ok(Outcome::Done) => Ok(()),
        Ok(outcome) => Err(answer(state, headers, &shown, outcome)),
        Err(e) => Err(failure(&e.to_string())),
    }
}

/// The page for what the engine decided about an account interaction that is
/// not done.
fn answer(
    state: &AppState,
    headers: &HeaderMap,
    shown: &Interaction,
    outcome: Outcome,
) -> Response {
    match outcome {
        Outcome::SignIn(id) => {
            let note = shown
                .demands
                .max_age
                .map(|_| "For your security, enter your password again to continue.");
            sign_in(state, headers, shown, &id, note, StatusCode::OK)
        }
        Outcome::Refused(Refusal::OtherPerson) => error_page(
            StatusCode::FORBIDDEN,
            "Signed in as someone else",
            "You signed in with a different account than the one making the change. Open your account again to continue.",
        ),
        Outcome::Done | Outcome::Consent(_) | Outcome::Refused(_) | Outcome::OutOfDate => {
            out_of_date()
        }
    }
}

/// The query of `GET /account/resume`.
#[derive(Deserialize)]
struct Resume {
    interaction: String,
}

/// `GET /account/resume?interaction=…`: where the sign-in page sends the
/// browser for an account interaction; once the engine is done, the page the
/// interaction was for opens.
async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(Resume { interaction: id }): Query<Resume>,
) -> Response {
    let interaction = match store::load(state.interactions(), &id).await {
        Ok(Some(Found::Current(interaction))) => *interaction,
        Ok(Some(Found::Moved)) => return out_of_date(),
        Ok(None) => return expired(),
        Err(e) => return failure(&e.to_string()),
    };
    let Purpose::Account { page } = interaction.purpose else {
        return out_of_date();
    };
    let session = match session::current(&state, &headers).await {
        Ok(session) => session,
        Err(e) => return failure(&e.to_string()),
    };
    let signed_in = session.as_ref().map(Session::signed_in);
    let shown = interaction.clone();
    match engine::proceed(
        state.interactions(),
        Some(&id),
        interaction,
        signed_in.as_ref(),
    )
    .await
    {
        Ok(Outcome::Done) => see_other(page.path()),
        Ok(outcome) => answer(&state, &headers, &shown, outcome),
        Err(e) => failure(&e.to_string()),
    }
}

/// Where a change came from, for its audit event: the session, the address
/// and the device.
fn origin(session: &Session, ip: &str, headers: &HeaderMap) -> String {
    let device = crate::login::device::label(crate::login::device::user_agent(headers));
    format!("(session {}, {ip}, {device})", session.sid)
}
