//! The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2): validate the
//! request, make sure the right person is signed in recently enough and has
//! consented, then send a code back to the verified redirect URI.

pub mod code;
pub mod pending;
pub mod request;
pub mod response;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use self::pending::{SignedIn, Step};
use self::request::{AuthorizationRequest, Refusal};
use crate::app::AppState;
use crate::clients::Client;
use crate::http::pages::error_page;
use crate::login::{self, session::Session};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::FormParams;
use crate::oauth::scope::Scope;

/// `GET /authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    run(&state, &headers, query.as_bytes()).await
}

/// `POST /authorize` (form-encoded, OIDC Core §3.1.2.1).
pub async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The request is not a form submission.",
        );
    }
    run(&state, &headers, &body).await
}

async fn run(state: &AppState, headers: &HeaderMap, raw: &[u8]) -> Response {
    let Ok(params) = FormParams::parse(raw) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "A parameter of the request is repeated, or there are too many.",
        );
    };
    let (request, client) = match request::validate(state, &params).await {
        Ok(valid) => valid,
        Err(Refusal::Page { status, message }) => {
            return error_page(status, "Cannot continue", &message);
        }
        Err(Refusal::Redirect(target, error)) => return target.error(&state.config.issuer, &error),
    };
    let session = match login::session::current(state, headers).await {
        Ok(session) => session,
        Err(e) => return unavailable(state, &request, &e.to_string()),
    };
    proceed(
        state,
        headers,
        Flow {
            request,
            client,
            pending_id: None,
            session,
            settled: Settled::Nothing,
        },
    )
    .await
}

/// What an interaction has already settled, as its server-side step
/// ([`pending::Step`]) says — never what a form claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nothing yet: a request arriving at `/authorize`.
    Nothing,
    /// The person has just signed in for this interaction (`POST /login` on its
    /// sign-in step).
    SignedIn,
    /// The person consented from the very session that settled sign-in for
    /// this interaction (`POST /consent` on its consent step).
    Consented,
}

/// An authorization request on its way through sign-in and consent.
pub struct Flow {
    /// The validated request.
    pub request: AuthorizationRequest,
    /// Its client.
    pub client: Client,
    /// Its id when already stored as pending.
    pub pending_id: Option<String>,
    /// The browser's session, if signed in.
    pub session: Option<Session>,
    /// What the interaction's recorded step has already settled.
    pub settled: Settled,
}

/// Takes the request as far as it can go: sign-in page, consent page, or code.
/// Each page records the step it completes, bound (for consent) to the session
/// and authentication time that satisfied sign-in; the code is issued at most
/// once per interaction.
pub async fn proceed(state: &AppState, headers: &HeaderMap, flow: Flow) -> Response {
    let issuer = &state.config.issuer;
    let now = state.clock.now();
    let Flow {
        request,
        client,
        pending_id,
        session,
        settled,
    } = flow;
    let signed_in_here = match settled {
        Settled::Nothing => false,
        Settled::SignedIn => true,
        // Signed in for this interaction, but time passed on the consent page:
        // `max_age` is measured when the code would be issued.
        Settled::Consented => session
            .as_ref()
            .is_some_and(|session| !outlived_max_age(&request, session, now)),
    };
    let session = match session {
        Some(session) if signed_in_here || !needs_reauthentication(&request, &session, now) => {
            session
        }
        _ if request.no_prompt => {
            return request.target.error(
                issuer,
                &OAuthError::new(ErrorCode::LoginRequired, "the person must sign in"),
            );
        }
        _ => {
            return match keep_pending(state, &request, pending_id, Step::SignIn).await {
                Ok(None) => login::pages::out_of_date(),
                Ok(Some(id)) => login::pages::sign_in(
                    state,
                    headers,
                    &client,
                    &request,
                    &id,
                    None,
                    StatusCode::OK,
                ),
                Err(e) => unavailable(state, &request, &e),
            };
        }
    };
    if let Some(hinted) = &request.hinted_sub
        && *hinted != session.user_id
    {
        // Only reachable right after a sign-in: someone other than the person
        // the client named signed in. Never a code for the wrong person.
        if let Some(id) = &pending_id {
            let _ = pending::finish(state, id).await;
        }
        tracing::info!(client_id = %client.id, "signed in as someone other than the id_token_hint names");
        return request.target.error(
            issuer,
            &OAuthError::new(
                ErrorCode::LoginRequired,
                "the person who signed in is not the one id_token_hint names",
            ),
        );
    }

    if settled != Settled::Consented && needs_consent(state, &client, &request, &session).await {
        if request.no_prompt {
            return request.target.error(
                issuer,
                &OAuthError::new(ErrorCode::ConsentRequired, "the person must consent"),
            );
        }
        let step = Step::Consent(SignedIn::of(&session));
        return match keep_pending(state, &request, pending_id, step).await {
            Ok(None) => login::pages::out_of_date(),
            Ok(Some(id)) => {
                login::pages::consent(state, headers, &client, &request, &session, &id).await
            }
            Err(e) => unavailable(state, &request, &e),
        };
    }

    if let Some(id) = &pending_id {
        match pending::finish(state, id).await {
            Ok(true) => {}
            Ok(false) => return login::pages::out_of_date(),
            Err(e) => return unavailable(state, &request, &e.to_string()),
        }
    }
    match code::issue(state, &request, &session).await {
        Ok(code) => {
            tracing::info!(client_id = %client.id, "authorization code issued");
            request.target.code(issuer, &code)
        }
        Err(e) => unavailable(state, &request, &e.to_string()),
    }
}

/// Whether the authentication at `auth_time` is older than a positive `max_age`
/// asks for (`max_age=0` is a forced sign-in, satisfied by the sign-in made for
/// this very interaction).
fn outlived_max_age(request: &AuthorizationRequest, session: &Session, now: i64) -> bool {
    request
        .max_age
        .is_some_and(|max_age| max_age > 0 && now - session.auth_time > max_age)
}

/// Whether the session is too old or belongs to someone else than the request wants.
fn needs_reauthentication(request: &AuthorizationRequest, session: &Session, now: i64) -> bool {
    let too_old = request
        .max_age
        .is_some_and(|max_age| max_age == 0 || now - session.auth_time > max_age);
    let other_person = request
        .hinted_sub
        .as_ref()
        .is_some_and(|sub| *sub != session.user_id);
    request.force_login || too_old || other_person
}

/// Whether the consent page must be shown: never for first-party clients;
/// otherwise when asked for, or when the scope goes beyond what was agreed before.
async fn needs_consent(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
) -> bool {
    if client.first_party {
        return false;
    }
    if request.force_consent {
        return true;
    }
    let given = match state.store.get_consent(&session.user_id, &client.id).await {
        Ok(given) => given,
        Err(e) => {
            tracing::warn!(error = %e, "could not read consent; asking again");
            return true;
        }
    };
    let requested = Scope::parse(&request.scope).unwrap_or_default();
    !given
        .and_then(|text| Scope::parse(&text).ok())
        .is_some_and(|given| requested.is_subset_of(&given))
}

/// Records `step` for the interaction: a new one from `/authorize`, or the
/// next step of the one a form belongs to (under a new id). Returns the id the
/// next page's form carries; `Ok(None)`: that interaction was finished or moved
/// on meanwhile (another window got there first), so it does not continue.
async fn keep_pending(
    state: &AppState,
    request: &AuthorizationRequest,
    id: Option<String>,
    step: Step,
) -> Result<Option<String>, String> {
    match id {
        Some(id) => pending::advance(state, &id, request, step)
            .await
            .map_err(|e| e.to_string()),
        None => pending::save(state, request, step)
            .await
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

fn unavailable(state: &AppState, request: &AuthorizationRequest, detail: &str) -> Response {
    tracing::error!(%detail, "authorization request failed");
    let error = OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "please try again in a moment",
    );
    request.target.error(&state.config.issuer, &error)
}
