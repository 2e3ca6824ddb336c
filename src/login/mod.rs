//! Interactive sign-in: the browser session and its cookies, CSRF tokens,
//! attempt limits, and the sign-in and consent pages with their form handlers.

mod consent;
pub mod cookies;
pub mod csrf;
pub mod device;
mod finish;
mod form;
pub mod pages;
mod passkey;
pub mod password;
mod reset;
pub mod second_factor;
pub mod session;
pub mod throttle;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;
pub use crate::http::ClientIp;

/// `POST /login`, the second-factor and passkey steps, password reset, and
/// `POST /consent`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", post(password::sign_in))
        .route("/login/second-factor", post(second_factor::verify))
        .route("/login/passkey/options", post(passkey::options))
        .route("/login/passkey", post(passkey::verify))
        .route("/login/forgot", get(reset::forgot).post(reset::ask))
        .route("/login/reset/{token}", get(reset::landing))
        .route("/login/reset", post(reset::reset))
        .route("/consent", post(consent::decide))
        .layer(axum::middleware::map_response(crate::http::error::pages))
}
