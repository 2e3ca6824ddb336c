//! The HTTP edge: endpoint paths, the router that joins every feature's routes,
//! the middleware every response passes through, and the JSON error type of the
//! admin API.

pub mod error;
mod health;
mod middleware;
pub mod pages;
pub mod paths;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::app::AppState;

pub use error::Error;

/// The complete application: every route, with body limits, request ids,
/// tracing and security headers on all of them.
pub fn router(state: AppState) -> Router {
    let https = state.config.issuer.starts_with("https://");
    let body_limit = state.config.max_body_bytes;
    let router = Router::new()
        .merge(crate::oidc::router())
        .merge(crate::oauth::router())
        .merge(crate::admin::router())
        .merge(health::router())
        .merge(pages::router())
        .merge(crate::login::router())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    middleware::wrap(router, https)
}
