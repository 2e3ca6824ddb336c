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
mod passkeys;
mod security;
mod when;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::AppState;
use crate::http::Error;
use crate::http::pages::see_other;
use crate::http::params::FormParams;
use crate::http::paths;
use crate::interaction::{
    AccountPage, Demands, Found, Interaction, Outcome, Purpose, Refusal, SignedIn, Step, engine,
    store,
};
use crate::login::csrf::CsrfForm;
use crate::login::pages::sign_in;
use crate::login::session::{self, MaybeSession, Session};
use crate::users;

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
        .route(paths::ACCOUNT_SECURITY, get(security::page))
        .route("/account/security/totp/begin", post(security::begin_totp))
        .route(
            "/account/security/totp/confirm",
            post(security::confirm_totp),
        )
        .route("/account/security/totp/remove", post(security::remove_totp))
        .route(
            "/account/security/recovery-codes",
            post(security::new_recovery_codes),
        )
        .route(
            "/account/security/recovery-codes.txt",
            post(security::download_recovery_codes),
        )
        .route(
            "/account/security/proof/options",
            post(security::options_for_proof),
        )
        .route("/account/security/passkeys", post(passkeys::add))
        .route("/account/security/passkeys/begin", post(passkeys::begin))
        .route("/account/security/passkeys/rename", post(passkeys::rename))
        .route("/account/security/passkeys/remove", post(passkeys::remove))
        .route(
            "/account/security/password/remove",
            post(passkeys::remove_password),
        )
        .layer(axum::middleware::map_response(crate::http::error::pages))
}

/// The account page a request to `path` is for: the page itself, or the page
/// whose form posts there (`/account/sessions/end` belongs to the sessions page).
fn page_of(path: &str) -> AccountPage {
    [
        AccountPage::Sessions,
        AccountPage::Apps,
        AccountPage::Password,
        AccountPage::Profile,
        AccountPage::Activity,
        AccountPage::Security,
    ]
    .into_iter()
    .find(|page| path.starts_with(page.path()))
    .unwrap_or(AccountPage::Overview)
}

/// The signed-in person of an account page: the browser's live session. A
/// browser that is not signed in is shown instead the sign-in page of a new
/// account interaction, which returns to the page the request was for.
pub(super) struct Person(pub Session);

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        signed_in(state, &parts.headers, parts.uri.path())
            .await
            .map(Person)
    }
}

/// An account form, as every account form is checked before it acts: a
/// CSRF-checked form ([`CsrfForm`]) of the signed-in [`Person`], naming in its
/// `for` field the very session that rendered it. A tab left open by someone
/// who signed out, posted after another person signed in on the same
/// browser, is out of date: it never acts for whoever is signed in now.
pub(super) struct AccountForm {
    /// The session the form acts for.
    pub session: Session,
    /// The form's fields.
    pub form: FormParams,
}

impl FromRequest<AppState> for AccountForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let path = req.uri().path().to_owned();
        let CsrfForm(form) = CsrfForm::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let session = signed_in(state, &headers, &path).await?;
        if form.get("for") != Some(session.sid.as_str()) {
            return Err(Error::page(
                StatusCode::CONFLICT,
                "This page is out of date",
                "You signed in or out since this page was opened. Open it again and retry.",
            )
            .into_response());
        }
        Ok(Self { session, form })
    }
}

/// The browser's session, or — when it is not signed in — the sign-in page
/// of a new account interaction that opens the page of `path` afterwards.
async fn signed_in(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Session, Response> {
    let failed = |e: Error| e.into_response();
    match session::current(state, headers).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => {
            let interaction = begin(page_of(path), Demands::default());
            match ask_engine(state, headers, interaction, None).await {
                Ok(Some(page)) => Err(page),
                // Not signed in, so the engine never finds this done.
                Ok(None) => Err(failed(Error::out_of_date())),
                Err(e) => Err(failed(e)),
            }
        }
        Err(e) => Err(failed(e.into())),
    }
}

/// Whether `session` signed in recently enough to make a sensitive change on
/// `page`, as the engine decides for an account interaction demanding a
/// sign-in at most `reauthenticate_after_secs` old, by the same person.
/// `None` when it is; else the engine's sign-in page, which returns to `page`.
async fn recent_enough(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    page: AccountPage,
) -> Result<Option<Response>, Error> {
    let email = users::find(&state.store, &session.user_id).await?.email;
    let demands = Demands {
        max_age: Some(state.config.reauthenticate_after_secs),
        person: Some(session.user_id.clone()),
        login_hint: Some(email),
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

/// Asks the engine about a new account interaction: `None` when it is done
/// at once (the browser's sign-in does), else the page to show.
async fn ask_engine(
    state: &AppState,
    headers: &HeaderMap,
    interaction: Interaction,
    session: Option<&Session>,
) -> Result<Option<Response>, Error> {
    let signed_in = session.map(SignedIn::from);
    let shown = interaction.clone();
    let browser = crate::login::csrf::browser_mark(state.cookies, headers);
    let outcome = engine::proceed(
        state.interactions(),
        None,
        interaction,
        signed_in.as_ref(),
        &browser,
    );
    match outcome.await? {
        Outcome::Done => Ok(None),
        outcome => answer(state, headers, &shown, outcome).await.map(Some),
    }
}

/// The page for what the engine decided about an account interaction that is
/// not done.
async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    shown: &Interaction,
    outcome: Outcome,
) -> Result<Response, Error> {
    match outcome {
        Outcome::SignIn(id) => {
            let note = shown
                .demands
                .max_age
                .map(|_| "For your security, sign in again to continue.");
            sign_in(state, headers, shown, &id, note, StatusCode::OK)
        }
        Outcome::SecondFactor { id, first } => {
            crate::login::pages::second_factor(
                state,
                headers,
                shown,
                &id,
                &first,
                None,
                StatusCode::OK,
            )
            .await
        }
        Outcome::Refused(Refusal::OtherPerson) => Err(Error::page(
            StatusCode::FORBIDDEN,
            "Signed in as someone else",
            "You signed in with a different account than the one making the change. Open your account again to continue.",
        )),
        Outcome::Done | Outcome::Consent(_) | Outcome::Refused(_) | Outcome::OutOfDate => {
            Err(Error::out_of_date())
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
    MaybeSession(session): MaybeSession,
    Query(Resume { interaction: id }): Query<Resume>,
) -> Result<Response, Error> {
    let interaction = match store::load(state.interactions(), &id).await? {
        Some(Found::Current(interaction)) => *interaction,
        Some(Found::Moved) => return Err(Error::out_of_date()),
        None => return Err(Error::expired()),
    };
    let Purpose::Account { page } = interaction.purpose else {
        return Err(Error::out_of_date());
    };
    let signed_in = session.as_ref().map(SignedIn::from);
    let shown = interaction.clone();
    let browser = crate::login::csrf::browser_mark(state.cookies, &headers);
    match engine::proceed(
        state.interactions(),
        Some(&id),
        interaction,
        signed_in.as_ref(),
        &browser,
    )
    .await?
    {
        Outcome::Done => Ok(see_other(page.path())),
        outcome => answer(&state, &headers, &shown, outcome).await,
    }
}

/// Where a change came from, for its audit event: the session, the address
/// and the device.
fn origin(session: &Session, ip: &str, headers: &HeaderMap) -> String {
    let device = crate::login::device::label(crate::login::device::user_agent(headers));
    format!("(session {}, {ip}, {device})", session.sid)
}
