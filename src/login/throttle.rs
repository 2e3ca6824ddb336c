//! Sign-in attempt limits (DESIGN.md rule 9): counters of failures per account
//! and per client IP in a fixed window, a refusal past the limit, and a
//! progressive delay before answering a failed attempt. The bounded hashing queue is the
//! global breaker.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::app::AppState;
use crate::cache::CacheError;
use crate::crypto::secret::hash_secret;

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Too many failures in the window.
    Refused,
}

fn account_key(email: &str) -> String {
    let email = email.trim().to_lowercase();
    format!(
        "login:account:{}",
        URL_SAFE_NO_PAD.encode(hash_secret(&email))
    )
}

fn ip_key(ip: &str) -> String {
    format!("login:ip:{ip}")
}

async fn count(state: &AppState, key: &str) -> Result<u64, CacheError> {
    Ok(state
        .cache
        .get(key)
        .await?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or(0))
}

/// Whether `email` may try to sign in from `ip`: only failures count, so many
/// people signing in from one address (an office, a NAT) are never refused for
/// succeeding.
pub async fn check(state: &AppState, email: &str, ip: &str) -> Result<Verdict, CacheError> {
    let config = &state.config;
    let per_account = count(state, &account_key(email)).await?;
    let per_ip = count(state, &ip_key(ip)).await?;
    if per_account >= u64::from(config.login_attempts_per_account)
        || per_ip >= u64::from(config.login_attempts_per_ip)
    {
        tracing::warn!(per_account, per_ip, "sign-in failures over the limit");
        return Ok(Verdict::Refused);
    }
    Ok(Verdict::Allowed)
}

/// Counts a failed attempt; returns the account's failures in the window.
pub async fn failed(state: &AppState, email: &str, ip: &str) -> Result<u64, CacheError> {
    let window = state.config.login_window_secs;
    state.cache.incr(&ip_key(ip), window).await?;
    state.cache.incr(&account_key(email), window).await
}

/// Forgets the account's failures after a successful sign-in.
pub async fn succeeded(state: &AppState, email: &str) -> Result<(), CacheError> {
    state.cache.delete(&account_key(email)).await
}

/// How long to wait before answering the `failures`-th failed attempt: nothing
/// for the first three, then doubling from 250 ms up to 4 s.
pub fn delay_after_failure(attempt: u64) -> Duration {
    match attempt {
        0..=3 => Duration::ZERO,
        n => Duration::from_millis(250 << (n - 4).min(4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_and_is_capped() {
        assert_eq!(delay_after_failure(3), Duration::ZERO);
        assert_eq!(delay_after_failure(4), Duration::from_millis(250));
        assert_eq!(delay_after_failure(5), Duration::from_millis(500));
        assert_eq!(delay_after_failure(50), Duration::from_millis(4000));
    }
}
