//! OAuth 2.0 endpoints: token (one file per grant), client authentication,
//! introspection (RFC 7662) and revocation (RFC 7009), plus the JWT access
//! tokens (RFC 9068) they issue and check.

pub mod access_token;
pub mod authorize;
pub mod client_auth;
pub mod error;
pub mod grants;
mod introspect;
pub mod pkce;
mod presented;
mod revoke;
pub mod scope;
mod token;
pub mod tokens;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;
use crate::http::paths;

/// The authorization endpoint, plus the token, introspection and revocation
/// endpoints, whose every response (errors included) carries
/// `Cache-Control: no-store` (DESIGN.md rule 10).
pub fn router() -> Router<AppState> {
    let authorize = Router::new()
        .route(
            paths::AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(paths::AUTHORIZE_RESUME, get(authorize::resume))
        .layer(axum::middleware::map_response(crate::http::error::pages));
    Router::new()
        .route(paths::TOKEN, post(token::token))
        .route(paths::INTROSPECT, post(introspect::introspect))
        .route(paths::REVOKE, post(revoke::revoke))
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            PRAGMA,
            HeaderValue::from_static("no-cache"),
        ))
        .merge(authorize)
}
