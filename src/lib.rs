//! Gatehouse: an OAuth 2.0 / OpenID Connect authorization server.
//!
//! The library holds everything; the `gatehouse` binary only calls [`cli::main`].
//! Requests go from the `http` edge to a feature's handler (`oauth`, `oidc`,
//! `admin`, `login`, `account`), then to services (`interaction`,
//! `oauth::tokens`, `users`, `clients`, `admission`, `crypto`) and to `store`
//! (durable) and `cache` (hot, TTL'd). `docs/architecture.md` describes the
//! layers, the interaction engine, and the security rules with the test
//! guarding each.

pub mod account;
pub mod admin;
pub mod admission;
pub mod app;
pub mod cache;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod factors;
pub mod http;
pub mod interaction;
pub mod login;
pub mod mail;
pub mod oauth;
pub mod oidc;
pub mod passkeys;
pub mod recovery;
pub mod service_error;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod users;

pub use app::{App, AppState};
