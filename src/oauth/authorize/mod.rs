//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2): validate the
//! request, ask the interaction engine whether the right person is signed in
//! recently enough and has consented, show the page it names, and once it
//! says "done", send a code back to the verified redirect URI.
//!
//! The engine's pages (sign-in, consent) send the browser back to
//! `GET /authorize/resume?interaction=…` after each step, where the engine is
//! asked again.

pub mod code;
pub mod request;
pub mod response;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use serde::Deserialize;

use self::request::{AuthorizationRequest, Refusal};
use crate::app::AppState;
use crate::clients::{self, Client};
use crate::http::Error;
use crate::http::pages::csp_source;
use crate::http::params::FormParams;
use crate::interaction::SignedIn;
use crate::interaction::{self, App, Demands, Found, Interaction, Outcome, Purpose, Step, engine};
use crate::login::{self, session::MaybeSession, session::Session};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oidc::acr::{self, Level};

/// `GET /authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let query = query.unwrap_or_default();
    run(&state, &headers, query.as_bytes()).await
}

/// `POST /authorize` (form-encoded, OIDC Core §3.1.2.1).
pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Error> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(Error::page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The request is not a form submission.",
        ));
    }
    run(&state, &headers, &body).await
}

async fn run(state: &AppState, headers: &HeaderMap, raw: &[u8]) -> Result<Response, Error> {
    let Ok(params) = FormParams::parse(raw) else {
        return Err(Error::page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "A parameter of the request is repeated, or there are too many.",
        ));
    };
    let (request, client) = match request::validate(state, &params).await {
        Ok(valid) => valid,
        Err(Refusal::Page { status, message }) => {
            return Err(Error::page(status, "Cannot continue", message));
        }
        Err(Refusal::Redirect(target, error)) => {
            return Err(Error::redirect(&target, &state.config.issuer, error));
        }
        Err(Refusal::Failed(e)) => return Err(e.into()),
    };
    let session = login::session::current(state, headers)
        .await
        .map_err(|e| unavailable(state, &request, e))?;
    let Ok(acr) = demanded_level(&request, &client, state.config.require_mfa) else {
        let error = OAuthError::new(
            ErrorCode::UnmetAuthenticationRequirements,
            "none of the essential acr values meets what this app requires",
        );
        return Err(Error::redirect(
            &request.target,
            &state.config.issuer,
            error,
        ));
    };
    let interaction = begin(&request, &client, acr);
    ask_engine(state, headers, None, interaction, request, &client, session).await
}

/// The interaction an authorization request begins: its app and what the
/// request demands of the sign-in (`prompt`, `max_age`, `id_token_hint`), and
/// how strong it must be (`acr`, [`demanded_level`]).
fn begin(request: &AuthorizationRequest, client: &Client, acr: Option<Level>) -> Interaction {
    Interaction {
        purpose: Purpose::Authorize {
            app: App {
                client_id: client.id.clone(),
                name: client.name.clone(),
                scope: consented_scope(request),
                first_party: client.first_party,
                redirect_origin: csp_source(&request.target.redirect_uri),
            },
            request: serde_json::to_value(request).unwrap_or_default(),
        },
        demands: Demands {
            max_age: request.max_age,
            fresh: request.force_login,
            person: request.hinted_sub.clone().or(request.claims.sub.clone()),
            no_pages: request.no_prompt,
            ask_consent: request.force_consent,
            login_hint: request.login_hint.clone(),
            acr,
        },
        step: Step::SignIn,
    }
}

/// How strongly the person must sign in for `request`: at least the weakest
/// class of `acr_values` Gatehouse defines, and multi-factor when the client
/// or the deployment (`require_mfa`) requires it; with an essential `acr`
/// claim, the weakest of its values at or above that (the reported `acr`
/// must be one of them). `Err` when no essential value is strong enough:
/// the request can never be met.
fn demanded_level(
    request: &AuthorizationRequest,
    client: &Client,
    require_mfa: bool,
) -> Result<Option<Level>, Unmeetable> {
    let multi_factor = (client.require_mfa || require_mfa).then_some(Level::MultiFactor);
    let voluntary = acr::required_by(request.acr_values.iter().map(String::as_str));
    let floor = voluntary.max(multi_factor);
    if request.claims.acr.is_empty() {
        return Ok(floor);
    }
    request
        .claims
        .acr
        .iter()
        .filter_map(|value| Level::parse(value))
        .filter(|level| Some(*level) >= floor)
        .min()
        .map(Some)
        .ok_or(Unmeetable)
}

/// An essential `acr` none of whose values meets what else is demanded.
#[derive(Debug)]
struct Unmeetable;

/// The `acr` the ID token reports for a sign-in with the methods `amr`: one
/// of the essential claim's values when it named some (it must be one of
/// them), else of `acr_values`, never weaker than what was demanded.
fn reported_acr(
    request: &AuthorizationRequest,
    client: &Client,
    require_mfa: bool,
    amr: &[String],
) -> String {
    let requested = if request.claims.acr.is_empty() {
        &request.acr_values
    } else {
        &request.claims.acr
    };
    let floor = demanded_level(request, client, require_mfa).unwrap_or_default();
    acr::reported(Level::of_amr(amr), requested, floor).to_owned()
}

/// What the person consents to: the requested scope, and the scopes whose
/// claims the app asks for one by one with the `claims` parameter.
fn consented_scope(request: &AuthorizationRequest) -> String {
    let mut scope = request.scope.clone();
    for implied in request.claims.scopes() {
        if !scope.split(' ').any(|token| token == implied) {
            scope.push(' ');
            scope.push_str(implied);
        }
    }
    scope
}

/// The query of `GET /authorize/resume`.
#[derive(Deserialize)]
pub struct Resume {
    interaction: String,
}

/// `GET /authorize/resume?interaction=…`: where the sign-in and consent pages
/// send the browser once they completed a step of an authorization request.
pub async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
    Query(Resume { interaction: id }): Query<Resume>,
) -> Result<Response, Error> {
    let deps = state.interactions();
    let mut interaction = match interaction::store::load(deps, &id).await? {
        Some(Found::Current(interaction)) => *interaction,
        Some(Found::Moved) => return Err(Error::out_of_date()),
        None => return Err(Error::expired()),
    };
    let Purpose::Authorize { request, .. } = &interaction.purpose else {
        return Err(Error::out_of_date());
    };
    let Ok(request) = serde_json::from_value::<AuthorizationRequest>(request.clone()) else {
        return Err(Error::expired());
    };
    let client = match clients::find(&state.store, &request.client_id).await {
        Ok(client) => client,
        // The client was deleted while the person was signing in.
        Err(clients::RegistryError::NotFound) => return Err(Error::expired()),
        Err(e) => return Err(e.into()),
    };
    // The app as it is now: an admin may have changed it (say, made it no
    // longer first party) while the person was signing in.
    if let Purpose::Authorize { app, .. } = &mut interaction.purpose {
        app.name.clone_from(&client.name);
        app.first_party = client.first_party;
    }
    ask_engine(
        &state,
        &headers,
        Some(&id),
        interaction,
        request,
        &client,
        session,
    )
    .await
}

/// Asks the engine what the interaction needs next and answers with it: a
/// page, an error for the app, or — once everything is settled — the code.
async fn ask_engine(
    state: &AppState,
    headers: &HeaderMap,
    id: Option<&str>,
    interaction: Interaction,
    request: AuthorizationRequest,
    client: &Client,
    session: Option<Session>,
) -> Result<Response, Error> {
    let issuer = &state.config.issuer;
    let signed_in = session.as_ref().map(SignedIn::from);
    // Read before the engine decides on consent: a removal of the app's access
    // committed after that decision moves the count on and refuses the code.
    let app_removals = match &signed_in {
        Some(signed_in) => match state
            .store
            .app_access_removals(&signed_in.user_id, &client.id)
            .await
        {
            Ok(count) => count,
            Err(e) => return Err(unavailable(state, &request, e)),
        },
        None => 0,
    };
    let shown = interaction.clone();
    let browser = login::csrf::browser_mark(state.cookies, headers);
    let outcome = engine::proceed(
        state.interactions(),
        id,
        interaction,
        signed_in.as_ref(),
        &browser,
    )
    .await
    .map_err(|e| unavailable(state, &request, e))?;
    let refuse = |code, description| {
        Err(Error::redirect(
            &request.target,
            issuer,
            OAuthError::new(code, description),
        ))
    };
    match (outcome, session) {
        (Outcome::SignIn(id), _) => {
            login::pages::sign_in(state, headers, &shown, &id, None, StatusCode::OK)
        }
        (Outcome::Consent(id), Some(session)) => {
            login::pages::consent(state, headers, &shown, &session, &id).await
        }
        (Outcome::SecondFactor { id, first }, _) => {
            login::pages::second_factor(state, headers, &shown, &id, &first, None, StatusCode::OK)
                .await
        }
        (Outcome::Done, Some(session)) => {
            let acr = reported_acr(&request, client, state.config.require_mfa, &session.amr);
            let code = code::issue(state, &request, &session, app_removals, acr)
                .await
                .map_err(|e| unavailable(state, &request, e))?;
            tracing::info!(client_id = %client.id, "authorization code issued");
            Ok(request.target.code(issuer, &code))
        }
        (Outcome::Refused(why), _) => {
            tracing::info!(client_id = %client.id, ?why, "authorization refused");
            match why {
                interaction::Refusal::LoginRequired => {
                    refuse(ErrorCode::LoginRequired, "the person must sign in")
                }
                interaction::Refusal::ConsentRequired => {
                    refuse(ErrorCode::ConsentRequired, "the person must consent")
                }
                interaction::Refusal::OtherPerson => refuse(
                    ErrorCode::LoginRequired,
                    "the person who signed in is not the one the request names",
                ),
                interaction::Refusal::Denied => {
                    refuse(ErrorCode::AccessDenied, "the person denied the request")
                }
                interaction::Refusal::Unmeetable => refuse(
                    ErrorCode::UnmetAuthenticationRequirements,
                    "the person cannot sign in as strongly as the request demands (no passkey, or no second factor)",
                ),
            }
        }
        // Consent or done without a session cannot come from the engine,
        // which names a session for both; answer as for a stale page.
        (Outcome::OutOfDate | Outcome::Consent(_) | Outcome::Done, _) => Err(Error::out_of_date()),
    }
}

/// `temporarily_unavailable` for the app, because of our failure `cause`.
fn unavailable(
    state: &AppState,
    request: &AuthorizationRequest,
    cause: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::redirect_unavailable(&request.target, &state.config.issuer, Arc::new(cause))
}
