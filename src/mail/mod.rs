//! Outgoing mail through an outbox: a message is rendered and written to the
//! `mail_outbox` table inside the unit of work of the change that causes it
//! ([`Outbox::enqueue`]), so it exists exactly when the change does, and a
//! background worker ([`worker`]) delivers it over SMTP with retries. No
//! request ever waits for a mail server.
//!
//! A rendered message may hold a single-use link, so it is sealed under the
//! key-encryption key while it waits (a copy of the database shows no live
//! link) and cleared once sent.

mod message;
mod transport;
pub mod worker;

use std::sync::Arc;

use lettre::message::Mailbox;
use tokio::sync::Notify;

pub use message::{Message, Rendered};
pub use transport::Delivery;

use crate::config::Config;
use crate::crypto::key_encryption::KeyEncryptionKey;
use crate::crypto::secret::random_id;
use crate::store::{NewMail, Tx};

/// Why a message could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A template failed to render.
    #[error("a mail template failed to render: {0}")]
    Render(#[from] askama::Error),
    /// Sealing, opening or the random id failed.
    #[error("mail sealing failed: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    /// The stored message does not read back.
    #[error("a stored message does not read back")]
    Corrupt,
    /// The message holds a secret (a link) and there is no key to seal it
    /// under: it is never written in plaintext.
    #[error("a message holding a link cannot be sealed: no key-encryption key")]
    Unsealable,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The server's mail: how it is delivered, who sends it, and the signal that
/// wakes the delivery worker. One per server, shared by every request.
pub struct Outbox {
    delivery: Delivery,
    from: Mailbox,
    site: String,
    issuer: String,
    kek: Option<Arc<KeyEncryptionKey>>,
    max_attempts: u32,
    link_ttl_secs: i64,
    wake: Notify,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("delivery", &self.delivery)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Checks the mail settings of `config` (`smtp_url`, the password file,
/// `mail_from`): the setting's name and what is wrong with it, if anything.
pub fn check_settings(config: &Config) -> Result<(), (&'static str, String)> {
    config
        .mail_from
        .parse::<Mailbox>()
        .map_err(|e| ("mail_from", format!("is not a mail address ({e})")))?;
    transport::check_url(config)
}

impl Outbox {
    /// The outbox `config` describes; messages are sealed under `kek` when
    /// there is one. Without one, only messages that hold no secret (notices)
    /// are written: a link never waits in the database in plaintext.
    pub fn new(config: &Config, kek: Option<Arc<KeyEncryptionKey>>) -> Result<Self, String> {
        let delivery = Delivery::for_config(config)?;
        let from = config
            .mail_from
            .parse::<Mailbox>()
            .map_err(|e| format!("mail_from: {e}"))?;
        let site = url::Url::parse(&config.issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Gatehouse".to_owned());
        Ok(Self {
            delivery,
            from,
            site,
            issuer: config.issuer.clone(),
            kek,
            max_attempts: config.mail_max_attempts,
            link_ttl_secs: config.password_reset_ttl_secs,
            wake: Notify::new(),
        })
    }

    /// Says in the log how mail goes out (once, when the server starts).
    pub fn announce(&self) {
        self.delivery.announce();
    }

    /// Whether messages are delivered at all (over SMTP, or to the log on a
    /// development server). When not, features that need mail say so.
    pub fn is_on(&self) -> bool {
        !matches!(self.delivery, Delivery::Off)
    }

    /// Whether messages holding a secret (reset links) can be sent: mail is
    /// on and there is a key to seal them under while they wait.
    pub fn sends_links(&self) -> bool {
        self.is_on() && self.kek.is_some()
    }

    /// Renders `message` for `recipient` and adds it to the outbox inside
    /// `tx`, due now: it is sent exactly when `tx` commits. Nothing is
    /// written while mail is off. Call [`Outbox::wake`] after the commit.
    pub async fn enqueue(
        &self,
        tx: &mut Tx,
        recipient: &str,
        user_id: Option<&str>,
        message: &Message<'_>,
        now: i64,
    ) -> Result<(), MailError> {
        if !self.is_on() {
            tracing::info!(
                kind = message.kind(),
                "mail is off; the message is not written"
            );
            return Ok(());
        }
        let id = random_id(22)?;
        let rendered = message.render(&self.site, recipient)?;
        let plain = serde_json::to_vec(&rendered).map_err(|_| MailError::Corrupt)?;
        let (body, sealed) = match &self.kek {
            Some(kek) => (
                kek.seal(&sealing_id(&id, message.kind(), recipient), &plain)?,
                true,
            ),
            None if message.holds_secret() => return Err(MailError::Unsealable),
            None => (plain, false),
        };
        let mail = NewMail {
            id: &id,
            kind: message.kind(),
            recipient,
            user_id,
            message: &body,
            sealed,
        };
        tx.enqueue_mail(&mail, now).await?;
        Ok(())
    }

    /// The issuer, which links in messages point under.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Tells the delivery worker there is something to send now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The rendered message stored as `mail`.
    fn open(&self, mail: &crate::store::ClaimedMail) -> Result<Rendered, MailError> {
        let body = mail.message.as_deref().ok_or(MailError::Corrupt)?;
        let plain = match (mail.sealed != 0, &self.kek) {
            (true, Some(kek)) => {
                kek.open(&sealing_id(&mail.id, &mail.kind, &mail.recipient), body)?
            }
            (true, None) => return Err(MailError::Corrupt),
            (false, _) => body.to_vec(),
        };
        serde_json::from_slice(&plain).map_err(|_| MailError::Corrupt)
    }
}

/// The associated data a message is sealed with: its id, kind and
/// recipient, so a sealed body can be neither moved to another row nor
/// redirected to another address by rewriting its row.
fn sealing_id(id: &str, kind: &str, recipient: &str) -> String {
    format!("mail:{id}:{kind}:{recipient}")
}
