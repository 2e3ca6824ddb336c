//! OpenID Connect: discovery, published keys, ID tokens, userinfo and logout.

pub mod acr;
pub mod claims;
mod discovery;
pub mod id_token;
mod jwks;
mod logout;
mod userinfo;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::http::paths;

pub use discovery::document;

/// Discovery (OIDC and RFC 8414 paths), JWKS, userinfo and end-session.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, get(discovery::discovery))
        .route(paths::OAUTH_METADATA, get(discovery::discovery))
        .route(paths::JWKS, get(jwks::jwks))
        .route(paths::USERINFO, get(userinfo::get).post(userinfo::post))
        .merge(
            Router::new()
                .route(paths::END_SESSION, get(logout::get).post(logout::post))
                .layer(axum::middleware::map_response(crate::http::error::pages)),
        )
}
