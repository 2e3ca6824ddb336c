//! Where interactions are kept: in the cache under a random id that the
//! step's form carries, with the bounds that decide how many may exist. A
//! completed step moves the interaction to a new id and leaves a "moved"
//! marker under the old one, so a stale or replayed form never completes a
//! step twice, and the interaction is taken whole when it finishes, so its
//! purpose is served at most once.

use super::{Interaction, Interactions, ServiceError, Step};
use crate::cache::{CacheError, Retention};
use crate::crypto::secret::random_id;

/// How long a person may take to sign in and consent.
const PENDING_SECS: u64 = 900;

/// What an interaction's old id holds once it moved on to a new id: a form
/// still carrying the old id is out of date, never expired or live.
const MOVED: &[u8] = b"moved";

fn key(id: &str) -> String {
    format!("interaction:{id}")
}

/// Stores a new interaction; returns its id.
pub async fn save(
    deps: Interactions<'_>,
    interaction: &Interaction,
) -> Result<String, ServiceError> {
    let id = random_id(22)?;
    store(deps, &id, interaction).await?;
    Ok(id)
}

/// Moves the interaction `id` on to `next` under a new id, which it returns
/// (the caller has checked that its current step was completed). The old id
/// is swapped for a "moved" marker in one atomic step, so of two requests
/// advancing one interaction only one gets a new id, and one finished
/// meanwhile (its purpose served) is never brought back: `None` then.
pub async fn advance(
    deps: Interactions<'_>,
    id: &str,
    next: &Interaction,
) -> Result<Option<String>, ServiceError> {
    if !is_plausible_id(id) {
        return Ok(None);
    }
    let previous = deps
        .cache
        .swap(&key(id), MOVED, PENDING_SECS, Retention::Shed)
        .await?;
    if previous.is_none_or(|bytes| bytes == MOVED) {
        return Ok(None);
    }
    let new_id = random_id(22)?;
    store(deps, &new_id, next).await?;
    Ok(Some(new_id))
}

/// Steps past sign-in that one session keeps at once; a newer one ends the oldest.
const KEPT_PER_SESSION: usize = 4;

/// Stores interaction `id`, admitted by who stands behind its step, so what
/// decides an entry's bounds is its step, never the call site:
/// - a step past sign-in belongs to a signed-in session: kept (never shed by
///   a flood of new interactions). A session keeps its [`KEPT_PER_SESSION`]
///   newest; a newer one ends the oldest (the newest is the one the person is
///   looking at), so what one session can make the server keep is bounded;
/// - a sign-in, second-factor or refused step (no session yet), new or gone back to, is admitted under the caps on
///   unauthenticated state ([`crate::admission`]): the per-address cap and the
///   overall ring, sheddable.
async fn store(
    deps: Interactions<'_>,
    id: &str,
    interaction: &Interaction,
) -> Result<(), CacheError> {
    let value = serde_json::to_vec(interaction).unwrap_or_default();
    let signed_in = match &interaction.step {
        // Before a session exists: unauthenticated state.
        Step::SignIn | Step::SecondFactor(_) | Step::Refused(_) => {
            return crate::admission::put_unauthenticated(
                deps.cache,
                deps.limits,
                &key(id),
                &value,
                PENDING_SECS,
            )
            .await;
        }
        Step::Consent(signed_in) | Step::Settled(signed_in, _) => signed_in,
    };
    let kept = format!("interaction-kept-steps:{}", signed_in.sid);
    let older = deps
        .cache
        .set_add(&kept, id, PENDING_SECS, KEPT_PER_SESSION)
        .await?;
    for older in older {
        deps.cache.delete(&key(&older)).await?;
    }
    deps.cache.put(&key(id), &value, PENDING_SECS).await?;
    // Pushed out meanwhile by the session's newer steps: not kept after all.
    if !deps.cache.set_contains(&kept, id).await? {
        deps.cache.delete(&key(id)).await?;
        return Err(CacheError::CapacityReached(
            "too many interactions of this session at once",
        ));
    }
    Ok(())
}

/// What an interaction id stands for now.
#[derive(Clone, Debug)]
pub enum Found {
    /// The interaction, at its current step.
    Current(Box<Interaction>),
    /// The interaction moved on to another id ([`advance`]): a form carrying
    /// this one belongs to a step already done.
    Moved,
}

/// What is stored under `id`, if it has not expired or finished.
pub async fn load(deps: Interactions<'_>, id: &str) -> Result<Option<Found>, CacheError> {
    if !is_plausible_id(id) {
        return Ok(None);
    }
    Ok(deps.cache.get(&key(id)).await?.and_then(|bytes| {
        if bytes == MOVED {
            Some(Found::Moved)
        } else {
            serde_json::from_slice(&bytes)
                .ok()
                .map(|i| Found::Current(Box::new(i)))
        }
    }))
}

/// Ends the interaction `id`, atomically: of two requests finishing it at
/// once, exactly one gets `true` (and may serve its purpose). The id then
/// holds the "moved" marker, so a replayed link or form is told it is out of
/// date. An id that moved on finishes nothing.
pub async fn finish(deps: Interactions<'_>, id: &str) -> Result<bool, CacheError> {
    if !is_plausible_id(id) {
        return Ok(false);
    }
    let previous = deps
        .cache
        .swap(&key(id), MOVED, PENDING_SECS, Retention::Shed)
        .await?;
    Ok(previous.is_some_and(|bytes| bytes != MOVED))
}

fn is_plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64
}
