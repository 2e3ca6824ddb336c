//! Second factors of a person: an authenticator app (TOTP, [`totp`]) with
//! one-time recovery codes ([`recovery`]). The secret is sealed at rest with
//! the key-encryption key (under the person's id, so it opens for no one
//! else); a code is accepted at most once, and no code of an earlier step
//! after it, by one conditional update, so parallel requests with the same
//! code get exactly one "yes". Every change is audited with it in one unit
//! of work.
//!
//! Attempt limits are the caller's (the same limiter as passwords,
//! [`crate::login::throttle`]), counted before a code is checked.

pub mod qr;
pub mod recovery;
pub mod totp;

use crate::clock::UnixTime;
use crate::crypto::CryptoError;
use crate::crypto::key_encryption::KeyEncryptionKey;
use crate::service_error::ServiceError;
use crate::store::{AuditEvent, Store, StoreError, TotpRow};
use crate::users::Actor;

/// The name authenticator apps and passkey prompts show for the account.
pub const ISSUER: &str = "Gatehouse";

/// What the factor service works with.
#[derive(Clone, Copy)]
pub struct Factors<'a> {
    /// Where factors live.
    pub store: &'a Store,
    /// What seals the secrets; `None` when the operator allowed plaintext
    /// keys, and then no authenticator app can be set up.
    pub kek: Option<&'a KeyEncryptionKey>,
    /// The name authenticator apps show for the account ("Gatehouse").
    pub issuer: &'a str,
    /// The time now.
    pub now: UnixTime,
}

/// Why a factor could not be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// No key-encryption key: secrets would be stored in plaintext.
    #[error("an authenticator app needs a key-encryption key, and this server runs without one")]
    NoKey,
    /// An authenticator app is already set up.
    #[error("an authenticator app is already set up")]
    AlreadySet,
    /// The cache, the database or randomness failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for FactorError {
    fn from(e: StoreError) -> Self {
        FactorError::Service(e.into())
    }
}

impl From<CryptoError> for FactorError {
    fn from(e: CryptoError) -> Self {
        FactorError::Service(e.into())
    }
}

/// An authenticator app being set up, as the page shows it.
pub struct Enrollment {
    /// The secret in base32, for typing by hand.
    pub secret: String,
    /// The `otpauth://` URI.
    pub uri: String,
    /// The URI's QR code as SVG.
    pub qr_svg: String,
}

/// What a person has for a second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    /// A confirmed authenticator app.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Registered passkeys.
    pub passkeys: i64,
}

fn sealing_id(user_id: &str) -> String {
    format!("totp:{user_id}")
}

impl Factors<'_> {
    fn kek(&self) -> Result<&KeyEncryptionKey, FactorError> {
        self.kek.ok_or(FactorError::NoKey)
    }

    /// What `user_id` has set up.
    pub async fn standing(self, user_id: &str) -> Result<Standing, StoreError> {
        let totp = self
            .store
            .totp_of(user_id)
            .await?
            .is_some_and(|row| row.confirmed_at.is_some());
        let recovery_codes_left = if totp {
            self.store.recovery_codes_left(user_id).await?
        } else {
            0
        };
        Ok(Standing {
            totp,
            recovery_codes_left,
            passkeys: self.store.passkey_count(user_id).await?,
        })
    }

    /// Begins setting up an authenticator app for `user_id` (shown as
    /// `account`): a new secret, replacing one being set up before.
    pub async fn begin_totp(self, user_id: &str, account: &str) -> Result<Enrollment, FactorError> {
        let mut secret = [0u8; totp::SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| CryptoError::Random)?;
        let sealed = self.kek()?.seal(&sealing_id(user_id), &secret)?;
        if !self.store.begin_totp(user_id, &sealed, self.now).await? {
            return Err(FactorError::AlreadySet);
        }
        let uri = totp::otpauth_uri(self.issuer, account, &secret);
        Ok(Enrollment {
            secret: totp::base32(&secret),
            qr_svg: qr::svg(&uri).unwrap_or_default(),
            uri,
        })
    }

    /// The secret of `user_id`'s app, confirmed or not as asked, opened,
    /// with its stored row.
    async fn secret(
        &self,
        user_id: &str,
        confirmed: bool,
    ) -> Result<Option<(Vec<u8>, TotpRow)>, FactorError> {
        let Some(row) = self.store.totp_of(user_id).await? else {
            return Ok(None);
        };
        if row.confirmed_at.is_some() != confirmed {
            return Ok(None);
        }
        let secret = self.kek()?.open(&sealing_id(user_id), &row.secret)?;
        Ok(Some((secret, row)))
    }

    /// Confirms the app `user_id` is setting up with a current `code`: the
    /// app is set up, a new set of recovery codes replaces any old one, and
    /// `detail` is audited, in one unit of work. Returns the codes to show
    /// once, or `None` when the code is wrong (or nothing is being set up).
    pub async fn confirm_totp(
        self,
        user_id: &str,
        code: &str,
        detail: &str,
    ) -> Result<Option<Vec<String>>, FactorError> {
        let Some((secret, row)) = self.secret(user_id, false).await? else {
            return Ok(None);
        };
        let Some(step) = totp::matching_step(&secret, code, self.now, None) else {
            return Ok(None);
        };
        let codes = recovery::new_set()?;
        let hashes: Vec<Vec<u8>> = codes.iter().map(|code| recovery::hash(code)).collect();
        let mut tx = self.store.begin().await?;
        if !tx
            .confirm_totp(user_id, &row.secret, step, self.now)
            .await?
        {
            return Ok(None);
        }
        tx.replace_recovery_codes(user_id, &hashes, self.now)
            .await?;
        tx.record_audit(
            &AuditEvent::of_person("totp_added", user_id, detail),
            self.now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(codes))
    }

    /// Whether `code` is a current code of `user_id`'s app not accepted
    /// before (nor any code of a later step); accepting it is atomic.
    pub async fn check_totp(self, user_id: &str, code: &str) -> Result<bool, FactorError> {
        let Some((secret, row)) = self.secret(user_id, true).await? else {
            return Ok(false);
        };
        match totp::matching_step(&secret, code, self.now, Some(row.last_step)) {
            Some(step) => Ok(self.store.use_totp_step(user_id, step).await?),
            None => Ok(false),
        }
    }

    /// Uses one of `user_id`'s recovery codes, auditing `detail` with it.
    /// Returns whether `code` was an unused one.
    pub async fn use_recovery_code(
        self,
        user_id: &str,
        code: &str,
        detail: &str,
    ) -> Result<bool, FactorError> {
        let mut tx = self.store.begin().await?;
        if !tx
            .use_recovery_code(user_id, &recovery::hash(code), self.now)
            .await?
        {
            return Ok(false);
        }
        tx.record_audit(
            &AuditEvent::of_person("recovery_code_used", user_id, detail),
            self.now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A new set of recovery codes for `user_id`, replacing the old one
    /// (which stops working), audited with `detail`. `None` when the person
    /// has no authenticator app.
    pub async fn regenerate_recovery_codes(
        self,
        user_id: &str,
        detail: &str,
    ) -> Result<Option<Vec<String>>, FactorError> {
        if !self.standing(user_id).await?.totp {
            return Ok(None);
        }
        let codes = recovery::new_set()?;
        let hashes: Vec<Vec<u8>> = codes.iter().map(|code| recovery::hash(code)).collect();
        let mut tx = self.store.begin().await?;
        tx.replace_recovery_codes(user_id, &hashes, self.now)
            .await?;
        tx.record_audit(
            &AuditEvent::of_person("recovery_codes_regenerated", user_id, detail),
            self.now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(codes))
    }

    /// Removes `user_id`'s authenticator app and recovery codes, audited with
    /// `detail`. Returns whether there was an app.
    pub async fn remove_totp(self, user_id: &str, detail: &str) -> Result<bool, FactorError> {
        let mut tx = self.store.begin().await?;
        let removed = tx.remove_second_factors(user_id).await?;
        if removed {
            tx.record_audit(
                &AuditEvent::of_person("totp_removed", user_id, detail),
                self.now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }
}

/// What a person has to sign in with, as an admin sees it (never a secret).
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FactorOverview {
    /// Whether the account has a password.
    pub password: bool,
    /// Whether an authenticator app is on.
    pub authenticator_app: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// The person's passkeys, oldest first.
    pub passkeys: Vec<PasskeySummary>,
}

/// One passkey, as an admin sees it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PasskeySummary {
    /// Its id.
    pub id: String,
    /// The name the person gave it.
    pub name: String,
    /// When it was added, Unix seconds.
    pub created_at: i64,
    /// When it last signed the person in, Unix seconds.
    pub last_used_at: Option<i64>,
    /// Whether it may be synced to other devices.
    pub synced: bool,
}

/// What a reset of a person's factors removed.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FactorReset {
    /// Whether an authenticator app (and its recovery codes) was removed.
    pub removed_authenticator_app: bool,
    /// How many passkeys were removed.
    pub removed_passkeys: u64,
    /// Whether the account still has a password: without one, the person
    /// cannot sign in until one is set.
    pub password: bool,
}

impl Factors<'_> {
    /// What `user_id` has to sign in with.
    pub async fn overview(self, user_id: &str) -> Result<FactorOverview, StoreError> {
        let user = self.store.get_user(user_id).await?;
        let standing = self.standing(user_id).await?;
        let passkeys = self
            .store
            .passkeys_of(user_id)
            .await?
            .into_iter()
            .map(|row| PasskeySummary {
                id: row.id,
                name: row.name,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                synced: row.backup_eligible != 0,
            })
            .collect();
        Ok(FactorOverview {
            password: user.password_hash.is_some(),
            authenticator_app: standing.totp,
            recovery_codes_left: standing.recovery_codes_left,
            passkeys,
        })
    }

    /// Removes every second factor and passkey of `user_id` (a person who
    /// lost them, or an account taken over), and signs the person out
    /// everywhere — every session, refresh and access token — in the same
    /// unit of work, audited as done `by`.
    pub async fn reset(self, user_id: &str, by: Actor<'_>) -> Result<FactorReset, StoreError> {
        let mut tx = self.store.begin().await?;
        let user = tx.user_for_update(user_id).await?;
        let removed_authenticator_app = tx.remove_second_factors(user_id).await?;
        let removed_passkeys = tx.remove_passkeys(user_id).await?;
        let detail = format!(
            "sign-in methods reset {}: {} passkey(s){}; every session was signed out",
            by.phrase(),
            removed_passkeys,
            if removed_authenticator_app {
                ", the authenticator app and its recovery codes removed"
            } else {
                " removed"
            }
        );
        let event = AuditEvent::of_person("factors_reset", user_id, &detail);
        tx.sign_out_everywhere(user_id, self.now, &event).await?;
        tx.commit().await?;
        tracing::warn!(%user_id, removed_passkeys, removed_authenticator_app, "sign-in methods reset");
        Ok(FactorReset {
            removed_authenticator_app,
            removed_passkeys,
            password: user.password_hash.is_some(),
        })
    }
}

/// Re-seals every authenticator secret that opens with `from` (the generated
/// key-encryption key a configured one takes over from, at start-up) under
/// `to`, so every secret opens with the key in use. Returns how many moved.
pub async fn reseal(
    store: &Store,
    from: &KeyEncryptionKey,
    to: &KeyEncryptionKey,
) -> Result<usize, FactorError> {
    let mut moved = 0;
    for (user_id, sealed) in store.totp_secrets().await? {
        let id = sealing_id(&user_id);
        if to.open(&id, &sealed).is_ok() {
            continue;
        }
        let Ok(secret) = from.open(&id, &sealed) else {
            tracing::warn!(%user_id, "an authenticator secret opens with neither key-encryption key");
            continue;
        };
        store
            .reseal_totp_secret(&user_id, &to.seal(&id, &secret)?)
            .await?;
        moved += 1;
    }
    if moved > 0 {
        tracing::info!(
            moved,
            "re-sealed authenticator secrets under the configured key-encryption key"
        );
    }
    Ok(moved)
}
