//! Authorization requests waiting for the person to sign in or consent, kept
//! server-side under a random id that the sign-in and consent forms carry.

use super::request::AuthorizationRequest;
use crate::app::AppState;
use crate::cache::CacheError;
use crate::crypto::secret::random_id;
use crate::login::FlowError;

/// How long a person may take to sign in and consent.
const PENDING_SECS: u64 = 900;

fn key(id: &str) -> String {
    format!("authorize:{id}")
}

/// Stores `request`; returns its id.
pub async fn save(state: &AppState, request: &AuthorizationRequest) -> Result<String, FlowError> {
    let id = random_id(22)?;
    let bytes = serde_json::to_vec(request).unwrap_or_default();
    crate::admission::put_unauthenticated(state, &key(&id), &bytes, PENDING_SECS).await?;
    Ok(id)
}

/// The request stored under `id`, if it has not expired or finished.
pub async fn load(state: &AppState, id: &str) -> Result<Option<AuthorizationRequest>, CacheError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    Ok(state
        .cache
        .get(&key(id))
        .await?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Forgets a finished request.
pub async fn discard(state: &AppState, id: &str) -> Result<(), CacheError> {
    state.cache.delete(&key(id)).await
}
