//! Interactive sign-in: the browser session and its cookies, CSRF tokens,
//! attempt limits, and the sign-in and consent pages with their form handlers.

mod consent;
pub mod cookies;
pub mod csrf;
mod form;
pub mod pages;
mod password;
pub mod session;
pub mod throttle;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::routing::post;

use crate::app::AppState;
use crate::cache::CacheError;
use crate::crypto::CryptoError;

/// A failure of the short-lived state behind a sign-in (cache or randomness).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Random generation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// `POST /login` and `POST /consent`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(password::sign_in))
        .route("/consent", post(consent::decide))
}

/// The peer address of the connection, for per-IP limits ("unknown" when the
/// server was not started with connection info).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "unknown".to_owned(),
                |ConnectInfo(addr)| addr.ip().to_string(),
            );
        Ok(Self(ip))
    }
}
