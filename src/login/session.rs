//! The browser's side of a session: the cookie that stands for it. The
//! session itself — what is remembered, for how long, how it ends — is the
//! session service's ([`crate::sessions`]); this module reads the cookie out
//! of a request, hands its secret to the service, and sets or clears it.
//! Handlers that only need to know who is signed in take [`MaybeSession`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use super::cookies::CookieKind;
use super::device;
use crate::app::AppState;
use crate::cache::CacheError;
use crate::http::Error;
use crate::service_error::ServiceError;
use crate::sessions::NewSession;
pub use crate::sessions::Session;

/// Starts a session for `user_id` in this browser, ending its previous one,
/// and returns it with the `Set-Cookie` to send. `sign_outs` is the person's
/// sign-out count read with the credential just checked ([`NewSession`]).
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    sign_outs: i64,
    amr: Vec<String>,
    client_ip: &str,
) -> Result<(Session, Option<HeaderValue>), ServiceError> {
    let previous = state.cookies.get(headers, CookieKind::Session);
    let new = NewSession {
        user_id,
        sign_outs,
        amr,
        ip: client_ip,
        device: device::label(device::user_agent(headers)),
    };
    let (session, secret) = state.sessions().start(previous.as_deref(), new).await?;
    let cookie = state.cookies.set(
        CookieKind::Session,
        &secret,
        state.config.session_absolute_timeout_secs,
    );
    Ok((session, cookie))
}

/// Adds the methods `more` to this browser's live session `sid` (a step-up),
/// moving it to a new cookie; returns it with the `Set-Cookie` to send, or
/// `None` when the browser's session is no longer that one.
pub async fn upgrade(
    state: &AppState,
    headers: &HeaderMap,
    sid: &str,
    more: &[String],
) -> Result<Option<(Session, Option<HeaderValue>)>, ServiceError> {
    let Some(secret) = state.cookies.get(headers, CookieKind::Session) else {
        return Ok(None);
    };
    let Some((session, secret)) = state.sessions().upgrade(&secret, sid, more).await? else {
        return Ok(None);
    };
    let cookie = state.cookies.set(
        CookieKind::Session,
        &secret,
        state.config.session_absolute_timeout_secs,
    );
    Ok(Some((session, cookie)))
}

/// The live session of this browser, if any; refreshes its idle timer.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, CacheError> {
    match state.cookies.get(headers, CookieKind::Session) {
        Some(secret) => state.sessions().current(&secret).await,
        None => Ok(None),
    }
}

/// Ends this browser's session; returns it (if there was one) and the
/// `Set-Cookie` that clears the cookie.
pub async fn end(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Option<Session>, Option<HeaderValue>), CacheError> {
    let Some(secret) = state.cookies.get(headers, CookieKind::Session) else {
        return Ok((None, None));
    };
    let ended = state.sessions().end(&secret).await?;
    Ok((ended, state.cookies.set(CookieKind::Session, "", 0)))
}

/// The browser's live session, or `None` when it is not signed in: the
/// extractor for handlers that work either way. A cache failure rejects the
/// request (our failure, logged once).
pub struct MaybeSession(pub Option<Session>);

impl FromRequestParts<AppState> for MaybeSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        Ok(Self(current(state, &parts.headers).await?))
    }
}
