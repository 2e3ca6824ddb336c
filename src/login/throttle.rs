//! Sign-in attempt limits (DESIGN.md rule 9): counters of failures per account
//! and per client IP in fixed windows of `login_window_secs` (numbered from the
//! Unix epoch, the number part of each counter's key, so a count given back
//! after its window ended never lands in the next one), reserved before the password is checked
//! so parallel attempts cannot overrun them, a refusal past the limit, and a
//! progressive delay before answering a failed attempt. The bounded hashing queue is the
//! global breaker.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::app::AppState;
use crate::cache::CacheError;
use crate::crypto::secret::hash_secret;

/// The outcome of asking to check a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead: the attempt holds a reservation on both counters.
    Allowed(Reservation),
    /// Too many failures in the window; nothing was reserved.
    Refused,
}

/// One attempt counted against the account and the client IP before its
/// password is checked, in the window it was made in. A failure keeps it ([`Reservation::failed`]); a
/// success or an attempt that never reached the check gives it back
/// ([`Reservation::succeeded`], [`Reservation::release`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a reservation is kept by `failed` or given back by `succeeded` / `release`"]
pub struct Reservation {
    account: String,
    ip: String,
    /// The account's attempts in the window, this one included.
    pub attempt: u64,
}

/// What is attempted: each kind counts in buckets of its own, with the
/// limits `Attempt::limits` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A password, for the account of an email.
    Password,
    /// A second-factor code (authenticator or recovery code), for a person's id.
    SecondFactor,
    /// A request for a password reset link, for the account of an email:
    /// every request counts, so the limit bounds the mail one address gets.
    ResetRequest,
    /// A new password sent with a reset link, for a person's id: every one
    /// counts, so parallel posts cannot fill the hashing pool.
    ResetCompletion,
}

impl Attempt {
    fn prefix(self) -> &'static str {
        match self {
            Attempt::Password => "login",
            Attempt::SecondFactor => "second-factor",
            Attempt::ResetRequest => "reset-request",
            Attempt::ResetCompletion => "reset-completion",
        }
    }

    /// The most attempts one account, and one client address, may make in
    /// a window.
    fn limits(self, config: &crate::config::Config) -> (u64, u64) {
        let (per_account, per_ip) = match self {
            Attempt::Password | Attempt::SecondFactor | Attempt::ResetCompletion => (
                config.login_attempts_per_account,
                config.login_attempts_per_ip,
            ),
            Attempt::ResetRequest => (
                config.password_reset_requests_per_account,
                config.password_reset_requests_per_ip,
            ),
        };
        (u64::from(per_account), u64::from(per_ip))
    }

    /// The account as counted: an email in any case is one account.
    fn account(self, account: &str) -> String {
        match self {
            Attempt::Password | Attempt::ResetRequest => account.trim().to_lowercase(),
            Attempt::SecondFactor | Attempt::ResetCompletion => account.to_owned(),
        }
    }
}

fn account_key(attempt: Attempt, account: &str, window: u64) -> String {
    format!(
        "{}:account:{window}:{}",
        attempt.prefix(),
        URL_SAFE_NO_PAD.encode(hash_secret(&attempt.account(account)))
    )
}

fn ip_key(attempt: Attempt, ip: &str, window: u64) -> String {
    let prefix = attempt.prefix();
    match ip.parse() {
        Ok(address) => format!(
            "{prefix}:ip:{window}:{}",
            crate::admission::address_bucket(address)
        ),
        Err(_) => format!("{prefix}:ip:{window}:{ip}"),
    }
}

/// Reserves an `attempt` for `account` (an email for a password, a person's
/// id for a second factor) from `ip`: the address's counter, then the
/// account's, are incremented atomically first, and the attempt may go ahead
/// only when neither passed its limit. So however many attempts race, at
/// most the limit reach the check in a window (DESIGN.md rule 9). A refused
/// attempt gives its counts back, so it never counts as a failure.
pub async fn reserve(
    state: &AppState,
    attempt: Attempt,
    account: &str,
    ip: &str,
) -> Result<Verdict, CacheError> {
    let config = &state.config;
    let (account_limit, ip_limit) = attempt.limits(config);
    let window = config.login_window_secs;
    let number = u64::try_from(state.clock.now()).unwrap_or(0) / window.max(1);
    let reservation = Reservation {
        account: account_key(attempt, account, number),
        ip: ip_key(attempt, ip, number),
        attempt: 0,
    };
    // The address first: once it is over its limit, a flood of attempts for
    // ever new emails touches no per-account counter at all.
    let per_ip = state.cache.incr(&reservation.ip, window).await?;
    if per_ip > ip_limit {
        tracing::warn!(per_ip, "sign-in attempts from one address over the limit");
        refund(state, &reservation.ip).await;
        return Ok(Verdict::Refused);
    }
    let per_account = match state.cache.incr(&reservation.account, window).await {
        Ok(count) => count,
        Err(e) => {
            refund(state, &reservation.ip).await;
            return Err(e);
        }
    };
    if per_account > account_limit {
        tracing::warn!(
            per_account,
            "sign-in attempts for one account over the limit"
        );
        reservation.release(state).await;
        return Ok(Verdict::Refused);
    }
    Ok(Verdict::Allowed(Reservation {
        attempt: per_account,
        ..reservation
    }))
}

async fn refund(state: &AppState, key: &str) {
    if let Err(e) = state.cache.decr(key).await {
        tracing::warn!(error = %e, "could not give back a sign-in attempt");
    }
}

impl Reservation {
    /// The password was wrong: the attempt stays counted. Returns the account's
    /// failures in the window.
    pub fn failed(self) -> u64 {
        self.attempt
    }

    /// The password was right: the account's failures are forgotten and the
    /// address gets its count back, so successes never count.
    pub async fn succeeded(self, state: &AppState) {
        if let Err(e) = state.cache.delete(&self.account).await {
            tracing::warn!(error = %e, "could not reset the attempt counter");
        }
        refund(state, &self.ip).await;
    }

    /// The password was never checked (busy hasher, a failure on our side):
    /// both counts are given back.
    pub async fn release(self, state: &AppState) {
        refund(state, &self.account).await;
        refund(state, &self.ip).await;
    }
}

/// Seconds until the current attempt window ends and its counts start over:
/// what a refused attempt is told to wait (`Retry-After`).
pub fn window_left(state: &AppState) -> u64 {
    let window = state.config.login_window_secs.max(1);
    let now = u64::try_from(state.clock.now()).unwrap_or(0);
    window - now % window
}

/// `seconds` as a person reads a wait: "a minute", "15 minutes", "2 hours".
pub fn in_words(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    match minutes {
        1 => "a minute".to_owned(),
        2..=119 => format!("{minutes} minutes"),
        _ => format!("{} hours", minutes.div_ceil(60)),
    }
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
    fn waits_are_said_in_words() {
        assert_eq!(in_words(0), "a minute");
        assert_eq!(in_words(59), "a minute");
        assert_eq!(in_words(61), "2 minutes");
        assert_eq!(in_words(900), "15 minutes");
        assert_eq!(in_words(7200), "2 hours");
    }

    #[test]
    fn the_delay_grows_and_is_capped() {
        assert_eq!(delay_after_failure(3), Duration::ZERO);
        assert_eq!(delay_after_failure(4), Duration::from_millis(250));
        assert_eq!(delay_after_failure(5), Duration::from_millis(500));
        assert_eq!(delay_after_failure(50), Duration::from_millis(4000));
    }
}
