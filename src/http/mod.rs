//! The HTTP edge: endpoint paths, the router that joins every feature's routes,
//! the middleware every response passes through, the client address, and the
//! one error type of every endpoint.

pub mod bearer;
pub mod client_ip;
pub mod connection;
pub mod error;
mod health;
mod middleware;
pub mod pages;
pub mod params;
pub mod paths;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::app::AppState;

pub use client_ip::ClientIp;
pub use error::Error;

/// The complete application: every route, with body limits, the client
/// address, request ids, tracing and security headers on all of them.
pub fn router(state: AppState) -> Router {
    let https = state.config.issuer.starts_with("https://");
    let body_limit = state.config.max_body_bytes;
    let request_timeout = std::time::Duration::from_secs(state.config.request_timeout_secs);
    let forwarded_header = state.config.forwarded_header;
    let trusted: std::sync::Arc<[client_ip::IpNetwork]> =
        state.config.trusted_proxies.clone().into();
    let router = Router::new()
        .merge(crate::oidc::router())
        .merge(crate::oauth::router())
        .merge(crate::admin::router())
        .merge(health::router())
        .merge(pages::router())
        .merge(crate::login::router())
        .merge(crate::account::router())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        // The whole request, body reading included: the connection's idle
        // timeout restarts with every byte, this deadline does not.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn(move |request, next| {
            client_ip::resolve_client_ip(trusted.clone(), forwarded_header, request, next)
        }))
        .with_state(state);
    middleware::wrap(router, https)
}
