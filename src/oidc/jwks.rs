//! The JSON Web Key Set: public parts of every published key (DESIGN.md rule 12).

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

use crate::app::AppState;

/// Serves the JWKS. Caches may keep it for at most the key publish delay (and
/// five minutes at most), so a new key is seen before it signs.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state.keys.at(state.clock.now());
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (CACHE_CONTROL, state.jwks_cache_control.clone()),
        ],
        keys.jwks(),
    )
}
