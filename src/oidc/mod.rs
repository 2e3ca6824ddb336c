//! OpenID Connect: the discovery document and the published keys.

mod discovery;
mod jwks;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::http::paths;

pub use discovery::document;

/// Discovery (OIDC and RFC 8414 paths) and the JWKS.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, get(discovery::discovery))
        .route(paths::OAUTH_METADATA, get(discovery::discovery))
        .route(paths::JWKS, get(jwks::jwks))
}
