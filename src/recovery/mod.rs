//! Account recovery by mail: password reset links. A link carries a 256-bit
//! token of which only the hash is stored (DESIGN.md rule 1); it works once,
//! for a limited time, for one person and one purpose, and asking again ends
//! the link sent before. Every change a link makes, the message it causes
//! and its audit event are one unit of work.

use crate::clock::UnixTime;
use crate::crypto::secret::{hash_secret, new_secret};
use crate::mail::{MailError, Message, Outbox};
use crate::store::{AuditEvent, Store, StoreError};
use crate::users::UserError;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Where a reset link lands; the token follows as the last path segment.
pub const RESET_PATH: &str = "/login/reset";

/// Where a person asks for a reset link.
pub const FORGOT_PATH: &str = "/login/forgot";

/// The purpose of a reset token, as stored.
const PASSWORD_RESET: &str = "password_reset";

/// What recovery works with, at one moment.
#[derive(Clone, Copy)]
pub struct Recovery<'a> {
    /// Durable state.
    pub store: &'a Store,
    /// The outbox the links and notices go through.
    pub mail: &'a Outbox,
    /// How long a reset link works, seconds.
    pub reset_ttl_secs: i64,
    /// Now.
    pub now: UnixTime,
}

/// Why a recovery step failed.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// No mail is sent from this server, so no link can be.
    #[error("password reset by email is not available on this server")]
    Unavailable,
    /// The link is unknown, used, expired, or its account is disabled.
    #[error("the link has expired or was already used")]
    InvalidLink,
    /// The new password breaks a rule, or cannot be hashed now.
    #[error(transparent)]
    User(#[from] UserError),
    /// The message could not be written.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The person a live reset link is for.
#[derive(Debug, Clone)]
pub struct ResetTarget {
    /// Their id.
    pub user_id: String,
    /// Their address.
    pub email: String,
}

/// The hash a token is stored and looked up under.
fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(hash_secret(token))
}

impl Recovery<'_> {
    /// Sends a reset link to the active account of `email`, if there is one;
    /// otherwise does nothing. The earlier link of the account stops working.
    /// The caller answers the same either way (and before this finishes),
    /// so no one learns whether an account exists.
    pub async fn request_reset(self, email: &str) -> Result<(), RecoveryError> {
        if !self.mail.sends_links() {
            return Err(RecoveryError::Unavailable);
        }
        let Some(found) = crate::users::find_by_email(self.store, email).await? else {
            tracing::info!("password reset asked for an address with no account; nothing sent");
            return Ok(());
        };
        let mut tx = self.store.begin().await?;
        // The person's row, locked, decides: parallel requests queue here (so
        // each ends the link of the one before), and an address changed or an
        // account disabled since the lookup gets nothing.
        let user = tx.user_for_update(&found.user.id).await?;
        if user.email != found.user.email || user.disabled != 0 {
            tracing::info!(user_id = %user.id, "password reset asked for an address no active account has now; nothing sent");
            return Ok(());
        }
        let token = new_secret().map_err(MailError::from)?;
        let link = format!("{}{RESET_PATH}/{token}", self.mail.issuer());
        let expires_at = self.now.saturating_add(self.reset_ttl_secs);
        tx.replace_account_token(
            &token_hash(&token),
            &user.id,
            PASSWORD_RESET,
            self.now,
            expires_at,
        )
        .await?;
        let message = Message::PasswordReset {
            link: &link,
            minutes: self.reset_ttl_secs / 60,
        };
        self.mail
            .enqueue(&mut tx, &user.email, Some(&user.id), &message, self.now)
            .await?;
        let event = AuditEvent::of_person(
            "password_reset_requested",
            &user.id,
            "a password reset link was sent by email",
        );
        tx.record_audit(&event, self.now).await?;
        tx.commit().await?;
        self.mail.wake();
        tracing::info!(user_id = %user.id, "password reset link sent");
        Ok(())
    }

    /// The person `token` (from a reset link) is for, while it is live.
    /// Reads only: opening a link (a mail scanner prefetching it, say) uses
    /// nothing up.
    pub async fn reset_target(self, token: &str) -> Result<ResetTarget, RecoveryError> {
        let row = self
            .store
            .live_account_token(&token_hash(token), PASSWORD_RESET, self.now)
            .await?
            .ok_or(RecoveryError::InvalidLink)?;
        let user = crate::users::find(self.store, &row.user_id)
            .await
            .map_err(|e| match e {
                UserError::NotFound => RecoveryError::InvalidLink,
                other => other.into(),
            })?;
        if user.disabled {
            return Err(RecoveryError::InvalidLink);
        }
        Ok(ResetTarget {
            user_id: user.id,
            email: user.email,
        })
    }

    /// Uses `token` to set the password hashed as `password_hash` (made with
    /// [`crate::users::hash_password`] before the second factor was checked,
    /// so a busy hasher never wastes a code) for the person it is for, who
    /// must be `target` (the caller checked their second factor): the token is
    /// taken (so of parallel uses exactly one gets here), the password
    /// changes, they are signed out everywhere (DESIGN.md rule 7: every other
    /// link of theirs ends with it), the change is audited and a notice is
    /// mailed to them — all in one unit of work. `how` says from where.
    pub async fn complete_reset(
        self,
        token: &str,
        target: &ResetTarget,
        password_hash: String,
        how: &str,
    ) -> Result<(), RecoveryError> {
        let detail = format!("password reset with an emailed link {how}");
        let mut tx = self.store.begin().await?;
        // The person's row first, in the order a new request takes them.
        tx.user_for_update(&target.user_id).await?;
        let taken = tx
            .take_account_token(&token_hash(token), PASSWORD_RESET, self.now)
            .await?
            .filter(|row| row.user_id == target.user_id)
            .ok_or(RecoveryError::InvalidLink)?;
        let user = crate::users::set_password_in(
            &mut tx,
            self.now,
            &taken.user_id,
            password_hash,
            &detail,
        )
        .await
        .map_err(|e| match e {
            UserError::NotFound => RecoveryError::InvalidLink,
            other => other.into(),
        })?;
        let event = AuditEvent::of_person("password_reset", &user.id, &detail);
        tx.record_audit(&event, self.now).await?;
        let how = format!("with a reset link {how}");
        crate::users::notify_password_change(&mut tx, self.mail, &user, self.now, &how).await?;
        tx.commit().await?;
        self.mail.wake();
        tracing::warn!(user_id = %user.id, "password reset; signed out everywhere");
        Ok(())
    }
}
