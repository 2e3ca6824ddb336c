//! The delivery worker: claims due messages, sends each, and records the
//! outcome. A failed attempt is retried after an exponentially growing pause
//! (30 s, 1 min, 2 min, … at most an hour); after `mail_max_attempts` the
//! message is kept as failed, for operators to see and retry. A claim is a
//! lease: a message whose worker died is taken up again once its lease runs
//! out, so every message is delivered at least once and, while workers live,
//! exactly once.

use std::time::Duration;

use tokio::sync::watch;

use super::{MailError, Outbox};
use crate::clock::Clock;
use crate::crypto::secret::random_id;
use crate::store::{ClaimedMail, Store};

/// Messages claimed at once.
const BATCH: i64 = 16;

/// How long a claim lasts, seconds: well beyond one SMTP exchange's timeout.
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
/// instances, retries coming due).
pub async fn run(
    outbox: &Outbox,
    store: &Store,
    clock: &Clock,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        loop {
            match deliver_due(outbox, store, clock).await {
                Ok(n) if n >= BATCH.unsigned_abs() => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "mail delivery could not claim messages; trying again later");
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

/// Claims up to one batch of due messages and attempts each once; returns how
/// many were claimed.
pub async fn deliver_due(outbox: &Outbox, store: &Store, clock: &Clock) -> Result<u64, MailError> {
    let claim = random_id(22)?;
    let claimed = store
        .claim_mail(&claim, clock.now(), LEASE_SECS, BATCH)
        .await?;
    let count = claimed.len() as u64;
    for mail in claimed {
        attempt(outbox, store, clock, &claim, mail).await;
    }
    Ok(count)
}

/// One delivery attempt of `mail`, with its outcome recorded.
async fn attempt(outbox: &Outbox, store: &Store, clock: &Clock, claim: &str, mail: ClaimedMail) {
    let opened = match &mail.message {
        Some(body) => outbox.open(&mail.id, body, mail.sealed != 0),
        None => Err(MailError::Corrupt),
    };
    let outcome = match opened {
        Ok(rendered) => outbox
            .delivery
            .send(&outbox.from, &mail.recipient, &rendered)
            .await
            .map_err(|failure| (failure.permanent, failure.reason)),
        Err(e) => Err((true, format!("the stored message cannot be opened: {e}"))),
    };
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
