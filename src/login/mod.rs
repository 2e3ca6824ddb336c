//! Interactive sign-in: the browser session and its cookies, CSRF tokens,
//! attempt limits, and the sign-in and consent pages with their form handlers.

mod consent;
pub mod cookies;
pub mod csrf;
pub mod device;
mod form;
pub mod pages;
mod password;
pub mod session;
pub mod throttle;

use axum::Router;
use axum::routing::post;

use crate::app::AppState;
use crate::cache::CacheError;
use crate::crypto::CryptoError;
pub use crate::http::ClientIp;
use crate::store::StoreError;

/// A failure of the state behind a sign-in (cache, database or randomness).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Random generation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `POST /login` and `POST /consent`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(password::sign_in))
        .route("/consent", post(consent::decide))
}
