//! Authorization requests waiting for the person to sign in or consent, kept
//! server-side under a random id that the sign-in and consent forms carry,
//! together with the step the interaction is in. Each form may complete only
//! its own step (sign-in, then consent, then done), so a stale or forged form
//! can never skip a re-authentication or hand a code to someone else.

use serde::{Deserialize, Serialize};

use super::request::AuthorizationRequest;
use crate::app::AppState;
use crate::cache::{CacheError, Retention};
use crate::clock::UnixTime;
use crate::crypto::secret::random_id;
use crate::login::FlowError;
use crate::login::session::Session;

/// How long a person may take to sign in and consent.
const PENDING_SECS: u64 = 900;

/// What an interaction's old id holds once it moved on to a new id: a form
/// still carrying the old id is out of date, never expired or live.
const MOVED: &[u8] = b"moved";

fn key(id: &str) -> String {
    format!("authorize:{id}")
}

/// Where a pending interaction stands, recorded server-side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// The person must sign in: only `POST /login` can move it on.
    SignIn,
    /// Sign-in is settled for this interaction by the session it names; only
    /// `POST /consent` from that same session can finish it.
    Consent(SignedIn),
}

/// The sign-in that settled an interaction's authentication step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    /// The public id of the session.
    pub sid: String,
    /// The person it belongs to.
    pub user_id: String,
    /// The authentication time that satisfied the request.
    pub auth_time: UnixTime,
}

impl SignedIn {
    /// The sign-in `session` stands for.
    pub fn of(session: &Session) -> Self {
        Self {
            sid: session.sid.clone(),
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
        }
    }

    /// Whether `session` is the very session (and sign-in) recorded here.
    pub fn is(&self, session: &Session) -> bool {
        *self == Self::of(session)
    }
}

/// A stored interaction: the validated request and its step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The validated request.
    pub request: AuthorizationRequest,
    /// Where it stands.
    pub step: Step,
}

/// Stores a new interaction at `step`; returns its id.
pub async fn save(
    state: &AppState,
    request: &AuthorizationRequest,
    step: Step,
) -> Result<String, FlowError> {
    let id = random_id(22)?;
    store(state, &id, request, step).await?;
    Ok(id)
}

/// Moves the interaction `id` on to `step` under a new id, which it returns
/// (the caller has checked that its current step was completed). The old id
/// is swapped for a "moved" marker in one atomic step, so of two requests
/// advancing one interaction only one gets a new id, and one finished
/// meanwhile (its code issued) is never brought back: `None` then.
pub async fn advance(
    state: &AppState,
    id: &str,
    request: &AuthorizationRequest,
    step: Step,
) -> Result<Option<String>, FlowError> {
    if !is_plausible_id(id) {
        return Ok(None);
    }
    let previous = state
        .cache
        .swap(&key(id), MOVED, PENDING_SECS, Retention::Shed)
        .await?;
    if previous.is_none_or(|bytes| bytes == MOVED) {
        return Ok(None);
    }
    let next = random_id(22)?;
    store(state, &next, request, step).await?;
    Ok(Some(next))
}

/// Consent steps one session keeps at once; a newer one ends the oldest.
const KEPT_PER_SESSION: usize = 4;

/// Stores interaction `id` at `step`, admitted by who stands behind it, so
/// what decides an entry's bounds is its step, never the call site:
/// - a consent step belongs to a signed-in session: kept (never shed by a
///   flood of new interactions). A session keeps its [`KEPT_PER_SESSION`]
///   newest; a newer one ends the oldest (the newest is the one the person is
///   looking at), so what one session can make the server keep is bounded;
/// - a sign-in step, new or gone back to, is admitted under the caps on
///   unauthenticated state ([`crate::admission`]): the per-address cap and the
///   overall ring, sheddable.
async fn store(
    state: &AppState,
    id: &str,
    request: &AuthorizationRequest,
    step: Step,
) -> Result<(), CacheError> {
    let value = encode(request, &step);
    let Step::Consent(signed_in) = &step else {
        return crate::admission::put_unauthenticated(state, &key(id), &value, PENDING_SECS).await;
    };
    let kept = format!("authorize-kept-steps:{}", signed_in.sid);
    let older = state
        .cache
        .set_add(&kept, id, PENDING_SECS, KEPT_PER_SESSION)
        .await?;
    for older in older {
        state.cache.delete(&key(&older)).await?;
    }
    state.cache.put(&key(id), &value, PENDING_SECS).await?;
    // Pushed out meanwhile by the session's newer steps: not kept after all.
    if !state.cache.set_contains(&kept, id).await? {
        state.cache.delete(&key(id)).await?;
        return Err(CacheError::CapacityReached(
            "too many interactions of this session at once",
        ));
    }
    Ok(())
}

fn encode(request: &AuthorizationRequest, step: &Step) -> Vec<u8> {
    let record = Pending {
        request: request.clone(),
        step: step.clone(),
    };
    serde_json::to_vec(&record).unwrap_or_default()
}

/// What an interaction id stands for now.
#[derive(Clone, Debug)]
pub enum Found {
    /// The interaction, at its current step.
    Current(Box<Pending>),
    /// The interaction moved on to another id ([`advance`]): a form carrying
    /// this one belongs to a step already done.
    Moved,
}

/// What is stored under `id`, if it has not expired or finished.
pub async fn load(state: &AppState, id: &str) -> Result<Option<Found>, CacheError> {
    if !is_plausible_id(id) {
        return Ok(None);
    }
    Ok(state.cache.get(&key(id)).await?.and_then(|bytes| {
        if bytes == MOVED {
            Some(Found::Moved)
        } else {
            serde_json::from_slice(&bytes)
                .ok()
                .map(|p| Found::Current(Box::new(p)))
        }
    }))
}

/// Ends the interaction `id`, atomically: of two requests finishing it at
/// once, exactly one gets `true` (and may issue the code). An id that moved on
/// finishes nothing.
pub async fn finish(state: &AppState, id: &str) -> Result<bool, CacheError> {
    if !is_plausible_id(id) {
        return Ok(false);
    }
    let taken = state.cache.take(&key(id)).await?;
    Ok(taken.is_some_and(|bytes| bytes != MOVED))
}

fn is_plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64
}
