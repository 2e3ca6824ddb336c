//! The delivery worker: claims due messages one at a time, sends each, and
//! records the outcome. A failed attempt is retried after an exponentially
//! growing pause (30 s, 1 min, 2 min, … at most an hour); after
//! `mail_max_attempts` the message is kept as failed, for operators to see
//! and retry, and a reset link is not sent once it has expired. A claim is a
//! lease longer than one attempt may take: a message whose worker died is
//! taken up again once its lease runs out, so every message is delivered at
//! least once and, while workers live, exactly once.

use std::time::Duration;

use tokio::sync::watch;

use super::{MailError, Message, Outbox};
use crate::clock::Clock;
use crate::crypto::secret::random_id;
use crate::store::{ClaimedMail, Store};

/// The longest one delivery attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a claim lasts, seconds: twice the longest attempt.
const LEASE_SECS: i64 = 120;

/// The pause after the first failed attempt, seconds; it doubles with each.
const FIRST_RETRY_SECS: i64 = 30;

/// The longest pause between attempts, seconds.
const MAX_RETRY_SECS: i64 = 3600;

/// How long to wait after a failed attempt number `attempts` (1-based).
pub fn retry_delay(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_SECS)
}

/// Delivers due messages until `stop` turns true: whenever woken by
/// [`Outbox::wake`], and every `poll` besides (messages written by other
/// instances, retries coming due). Stops between messages.
pub async fn run(
    outbox: &Outbox,
    store: &Store,
    clock: &Clock,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        while !*stop.borrow() {
            match deliver_next(outbox, store, clock).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "mail delivery could not claim a message; trying again later");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = outbox.wake.notified() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Claims the next due message and attempts it once; `false` when none was due.
pub async fn deliver_next(
    outbox: &Outbox,
    store: &Store,
    clock: &Clock,
) -> Result<bool, MailError> {
    let claim = random_id(22)?;
    let Some(mail) = store.claim_mail(&claim, clock.now(), LEASE_SECS).await? else {
        return Ok(false);
    };
    attempt(outbox, store, clock, &claim, mail).await;
    Ok(true)
}

/// Sends `mail` once: `Err((permanent, reason))` when it did not go.
async fn send(outbox: &Outbox, clock: &Clock, mail: &ClaimedMail) -> Result<(), (bool, String)> {
    if Message::expires(&mail.kind) && clock.now() - mail.created_at > outbox.link_ttl_secs {
        return Err((true, "the link it holds has expired".into()));
    }
    let rendered = outbox
        .open(mail)
        .map_err(|e| (true, format!("the stored message cannot be opened: {e}")))?;
    let sending = outbox
        .delivery
        .send(&outbox.from, &mail.recipient, &rendered);
    match tokio::time::timeout(ATTEMPT_TIMEOUT, sending).await {
        Ok(sent) => sent.map_err(|failure| (failure.permanent, failure.reason)),
        Err(_) => Err((false, "the mail server did not answer in time".into())),
    }
}

/// One delivery attempt of `mail`, with its outcome recorded.
async fn attempt(outbox: &Outbox, store: &Store, clock: &Clock, claim: &str, mail: ClaimedMail) {
    let outcome = send(outbox, clock, &mail).await;
    let now = clock.now();
    let recorded = match outcome {
        Ok(()) => {
            tracing::info!(id = %mail.id, kind = %mail.kind, attempts = mail.attempts, "mail sent");
            store.mail_sent(&mail.id, claim, now).await
        }
        Err((permanent, reason)) => {
            let give_up = permanent || mail.attempts >= i64::from(outbox.max_attempts);
            let retry_at = now.saturating_add(retry_delay(mail.attempts));
            if give_up {
                tracing::error!(id = %mail.id, kind = %mail.kind, attempts = mail.attempts, %reason, "mail failed for good; `gatehouse mail retry` sends it again");
            } else {
                tracing::warn!(id = %mail.id, kind = %mail.kind, attempts = mail.attempts, %reason, retry_at, "mail not delivered; will retry");
            }
            store
                .mail_failed(&mail.id, claim, &reason, retry_at, give_up)
                .await
        }
    };
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(id = %mail.id, "a mail claim ran out before its outcome was recorded")
        }
        Err(e) => {
            tracing::warn!(id = %mail.id, error = %e, "could not record a mail delivery outcome")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(retry_delay(1), 30);
        assert_eq!(retry_delay(2), 60);
        assert_eq!(retry_delay(3), 120);
        assert_eq!(retry_delay(8), 3600);
        assert_eq!(retry_delay(i64::MAX), 3600);
    }
}
