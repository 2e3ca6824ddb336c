//! The OpenID Foundation OP test plans, replayed module by module against the
//! real server over HTTP. Each `#[tokio::test]` is named after the module it
//! covers (see `conformance/plans/`); `conformance/run` prints the tables.
//!
//! - `harness`: what every module does — discovery and JWKS setup checks, the
//!   authorization request, reading the response from a redirect or from a
//!   form_post page, the token request, ID token and userinfo checks.
//! - `basic`: the Basic OP plan, each scenario run once in default (query)
//!   response mode and once in form_post mode (the Form Post OP plan).
//! - `config`: the Config OP plan (discovery).
//! - `logout`: the RP-Initiated Logout OP plan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod basic;
mod config;
mod harness;
mod logout;
