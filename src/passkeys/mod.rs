//! Passkeys (WebAuthn discoverable credentials, verified by webauthn-rs): a
//! person registers several in the account area, names them, renames and
//! removes them; a passkey signs the person in on its own (no email typed:
//! the authenticator says which credential it is) or passes the second
//! factor after a password.
//!
//! Guarantees:
//! - The relying-party id is the issuer's host and the only origin is the
//!   issuer's: an answer made for another site or origin fails.
//! - Ceremony state stays server-side ([`ceremony`]): bound, short-lived and
//!   single use; nothing the browser sends is trusted but the signed answer.
//! - User verification is required (PIN or biometric on the authenticator),
//!   so a passkey use counts as multi-factor.
//! - A use whose signature counter does not move forward (a cloned
//!   authenticator, or a copy of an answer racing the original) is refused
//!   and audited; accepting a use is one conditional update.
//! - Every change and every refusal that points at a cloned authenticator is
//!   an audit event of the person, written with the change.
//! - A person always keeps a way to sign in: the last passkey of an account
//!   without a password cannot be removed (checked with the user row locked).

pub mod ceremony;

use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::{ResidentKeyRequirement, UserVerificationPolicy};

pub use self::ceremony::Bound;
use self::ceremony::Ceremony;
use crate::admission::Limits;
use crate::cache::Cache;
use crate::clock::UnixTime;
use crate::crypto::CryptoError;
use crate::crypto::secret::random_id;
use crate::service_error::ServiceError;
use crate::store::{AuditEvent, PasskeyRow, Store, StoreError};

/// The longest name a passkey may have, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// What the passkey service works with.
#[derive(Clone, Copy)]
pub struct Passkeys<'a> {
    /// Where passkeys live.
    pub store: &'a Store,
    /// Where ceremonies wait.
    pub cache: &'a Cache,
    /// The relying party; `None` when the issuer's host is not a domain name
    /// (WebAuthn refuses IP addresses), and then passkeys are unavailable.
    pub webauthn: Option<&'a Webauthn>,
    /// The bounds on ceremonies made before a session exists.
    pub limits: Limits,
    /// The time now.
    pub now: UnixTime,
}

/// Why a passkey could not be used or changed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The issuer is not reached by a domain name.
    #[error("passkeys need the issuer to be a domain name, not an IP address")]
    Unavailable,
    /// No ceremony waits for this answer: it expired, was used, or was made
    /// for another page or browser.
    #[error("no passkey ceremony waits for this answer")]
    NoCeremony,
    /// The answer is not a valid WebAuthn credential (JSON).
    #[error("the passkey answer could not be read")]
    Malformed,
    /// The passkey is not registered here (or not to this person).
    #[error("this passkey is not registered for this account")]
    Unknown,
    /// The account is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// The passkey is registered already.
    #[error("this passkey is registered already")]
    Duplicate,
    /// webauthn-rs refused the answer (wrong origin or relying party, bad
    /// signature, no user verification, …).
    #[error("the passkey answer was refused: {0}")]
    Refused(WebauthnError),
    /// The signature counter did not move forward: a cloned authenticator.
    #[error("the passkey's signature counter did not move forward")]
    CounterRegression,
    /// Removing it would leave the account with no way to sign in.
    #[error("the last passkey of an account without a password cannot be removed")]
    LastWayIn,
    /// There is no such passkey of this person.
    #[error("no such passkey")]
    NotFound,
    /// The cache, the database or randomness failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<StoreError> for PasskeyError {
    fn from(e: StoreError) -> Self {
        PasskeyError::Service(e.into())
    }
}

impl From<crate::cache::CacheError> for PasskeyError {
    fn from(e: crate::cache::CacheError) -> Self {
        PasskeyError::Service(e.into())
    }
}

impl From<CryptoError> for PasskeyError {
    fn from(e: CryptoError) -> Self {
        PasskeyError::Service(e.into())
    }
}

/// A passkey that signed a person in or passed their second factor.
#[derive(Clone, Debug)]
pub struct PasskeyUse {
    /// The person.
    pub user_id: String,
    /// Their sign-out count read before the answer was checked
    /// ([`crate::sessions::NewSession::sign_outs`]).
    pub sign_outs: i64,
    /// The passkey's name.
    pub name: String,
    /// What the use proves (RFC 8176): `hwk` for a passkey bound to one
    /// device or `swk` for one that may be synced, `user` (presence), and
    /// `mfa` (the authenticator verified the person).
    pub amr: Vec<String>,
}

/// The relying party for `issuer`: its host as relying-party id and its
/// origin as the only origin. `None` (with the reason logged) when the host
/// is not a domain name.
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let url = Url::parse(issuer).ok()?;
    let Some(host) = url.domain() else {
        tracing::warn!(
            issuer,
            "passkeys are off: WebAuthn needs the issuer to be a domain name (use localhost, not 127.0.0.1)"
        );
        return None;
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    let built = WebauthnBuilder::new(host, &origin)
        .and_then(|builder| builder.rp_name(crate::factors::ISSUER).build());
    match built {
        Ok(webauthn) => Some(webauthn),
        Err(e) => {
            tracing::warn!(issuer, error = %e, "passkeys are off: the relying party could not be set up");
            None
        }
    }
}

/// A passkey's name as stored: trimmed, control characters dropped, at most
/// [`MAX_NAME_CHARS`]; `fallback` when nothing is left.
pub fn clean_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    match cleaned.trim() {
        "" => fallback.chars().take(MAX_NAME_CHARS).collect(),
        trimmed => trimmed.to_owned(),
    }
}

impl Passkeys<'_> {
    fn webauthn(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.ok_or(PasskeyError::Unavailable)
    }

    /// Whether passkeys can be used at all on this server.
    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// `user_id`'s passkeys, oldest first.
    pub async fn list(self, user_id: &str) -> Result<Vec<PasskeyRow>, StoreError> {
        self.store.passkeys_of(user_id).await
    }

    /// Begins registering a passkey for `user_id` (named `email` on the
    /// authenticator) in the browser session `sid`: the options for
    /// `navigator.credentials.create`. A discoverable credential with user
    /// verification is asked for, and none the person has already.
    pub async fn begin_registration(
        self,
        user_id: &str,
        email: &str,
        sid: &str,
    ) -> Result<CreationChallengeResponse, PasskeyError> {
        let webauthn = self.webauthn()?;
        let mut fresh = [0u8; 16];
        aws_lc_rs::rand::fill(&mut fresh).map_err(|_| CryptoError::Random)?;
        let handle = self.store.passkey_handle(user_id, &fresh).await?;
        let handle =
            Uuid::from_slice(&handle).map_err(|_| StoreError::Corrupt("passkey_handles"))?;
        let existing = self
            .store
            .passkeys_of(user_id)
            .await?
            .into_iter()
            .map(|row| row.credential_id)
            .collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(handle, email, email, Some(existing))
            .map_err(PasskeyError::Refused)?;
        // Discoverable, so that signing in needs no email.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
            selection.user_verification = UserVerificationPolicy::Required;
        }
        let ceremony = Ceremony::Register {
            user_id: user_id.to_owned(),
            state,
        };
        ceremony::keep(self.cache, self.limits, Bound::Registration(sid), &ceremony).await?;
        Ok(options)
    }

    /// Finishes the registration waiting for session `sid` of `user_id` with
    /// the browser's `answer` (JSON), naming the passkey `name`; `detail`
    /// says where the change came from, for the audit event written with it.
    /// `sign_outs` is the session's sign-out count: the passkey is stored,
    /// with the person's row locked, only while no sign-out everywhere (a
    /// reset of their sign-in methods, a passkey removed) came since, so a
    /// registration in flight never survives one.
    pub async fn finish_registration(
        self,
        user_id: &str,
        sid: &str,
        sign_outs: i64,
        name: &str,
        answer: &str,
        detail: &str,
    ) -> Result<PasskeyRow, PasskeyError> {
        let webauthn = self.webauthn()?;
        let Some(Ceremony::Register {
            user_id: owner,
            state,
        }) = ceremony::take(self.cache, Bound::Registration(sid)).await?
        else {
            return Err(PasskeyError::NoCeremony);
        };
        if owner != user_id {
            return Err(PasskeyError::NoCeremony);
        }
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
        let passkey = webauthn
            .finish_passkey_registration(&answer, &state)
            .map_err(PasskeyError::Refused)?;
        // webauthn-rs shows the counter and backup flag only in its serialised form.
        let stored = serde_json::to_value(&passkey).map_err(|_| StoreError::Corrupt("passkeys"))?;
        let row = PasskeyRow {
            id: random_id(22)?,
            user_id: user_id.to_owned(),
            credential_id: passkey.cred_id().to_vec(),
            name: name.to_owned(),
            credential: stored.to_string(),
            counter: stored["cred"]["counter"].as_i64().unwrap_or(0),
            backup_eligible: i64::from(stored["cred"]["backup_eligible"].as_bool() == Some(true)),
            created_at: self.now,
            last_used_at: None,
        };
        let mut tx = self.store.begin().await?;
        tx.user_for_update(user_id).await?;
        if tx.sign_out_count(user_id).await? != sign_outs {
            return Err(PasskeyError::NoCeremony);
        }
        match tx.insert_passkey(&row).await {
            Err(StoreError::Duplicate) => return Err(PasskeyError::Duplicate),
            other => other?,
        }
        let detail = format!("“{}” added {detail}", row.name);
        tx.record_audit(
            &AuditEvent::of_person("passkey_added", user_id, &detail),
            self.now,
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Begins a sign-in with any passkey for `bound` (an interaction in a
    /// browser): the options for `navigator.credentials.get` (with
    /// `mediation: "conditional"` for passkey autofill).
    pub async fn begin_sign_in(
        self,
        bound: Bound<'_>,
    ) -> Result<RequestChallengeResponse, PasskeyError> {
        let (options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(PasskeyError::Refused)?;
        let ceremony = Ceremony::SignIn { state };
        ceremony::keep(self.cache, self.limits, bound, &ceremony).await?;
        Ok(options)
    }

    /// Begins a use of one of `user_id`'s own passkeys for `bound`: their
    /// second factor (an interaction in a browser) or the proof for a change
    /// (a session). `None` when the person has no passkey.
    pub async fn begin_use(
        self,
        user_id: &str,
        bound: Bound<'_>,
    ) -> Result<Option<RequestChallengeResponse>, PasskeyError> {
        let webauthn = self.webauthn()?;
        let passkeys: Vec<Passkey> = self
            .store
            .passkeys_of(user_id)
            .await?
            .iter()
            .filter_map(|row| parse(row).ok())
            .collect();
        if passkeys.is_empty() {
            return Ok(None);
        }
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(PasskeyError::Refused)?;
        let ceremony = Ceremony::Person {
            user_id: user_id.to_owned(),
            state,
        };
        ceremony::keep(self.cache, self.limits, bound, &ceremony).await?;
        Ok(Some(options))
    }

    /// Checks the browser's `answer` (JSON) to the ceremony waiting for
    /// `bound`. With `person`, only a ceremony of that person's own passkeys
    /// is taken ([`Self::begin_use`]); without, only a sign-in one. The
    /// ceremony is used up either way.
    pub async fn finish(
        self,
        bound: Bound<'_>,
        person: Option<&str>,
        answer: &str,
    ) -> Result<PasskeyUse, PasskeyError> {
        let webauthn = self.webauthn()?;
        let taken = ceremony::take(self.cache, bound).await?;
        let answer: PublicKeyCredential =
            serde_json::from_str(answer).map_err(|_| PasskeyError::Malformed)?;
        let row = self
            .store
            .passkey_by_credential(answer.get_credential_id())
            .await?;
        let verified = match (taken, person) {
            (Some(Ceremony::SignIn { state }), None) => {
                let row = row.ok_or(PasskeyError::Unknown)?;
                self.check_user_handle(&row, &answer).await?;
                let (passkey, sign_outs) = self.usable(&row).await?;
                let result =
                    webauthn.finish_discoverable_authentication_v2(&answer, state, &passkey);
                (row, passkey, sign_outs, result)
            }
            (Some(Ceremony::Person { user_id, state }), Some(person)) if user_id == person => {
                let row = row
                    .filter(|row| row.user_id == person)
                    .ok_or(PasskeyError::Unknown)?;
                let (passkey, sign_outs) = self.usable(&row).await?;
                let result = webauthn.finish_passkey_authentication(&answer, &state);
                (row, passkey, sign_outs, result)
            }
            _ => return Err(PasskeyError::NoCeremony),
        };
        let (row, mut passkey, sign_outs, result) = verified;
        let result = match result {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return Err(self.counter_regression(&row).await);
            }
            Err(e) => return Err(PasskeyError::Refused(e)),
        };
        passkey.update_credential(&result);
        let credential =
            serde_json::to_string(&passkey).map_err(|_| StoreError::Corrupt("passkeys"))?;
        let counter = i64::from(result.counter());
        let backup_eligible = i64::from(result.backup_eligible());
        let recorded = self
            .store
            .record_passkey_use(&row.id, counter, &credential, backup_eligible, self.now)
            .await?;
        if !recorded {
            // Removed meanwhile, or another use moved the counter past this one.
            return match self.store.passkey_by_credential(&row.credential_id).await? {
                None => Err(PasskeyError::Unknown),
                Some(_) => Err(self.counter_regression(&row).await),
            };
        }
        let key = if result.backup_eligible() {
            "swk"
        } else {
            "hwk"
        };
        let mut amr = vec![key.to_owned(), "user".to_owned()];
        if result.user_verified() {
            amr.push("mfa".to_owned());
        }
        Ok(PasskeyUse {
            user_id: row.user_id,
            sign_outs,
            name: row.name,
            amr,
        })
    }

    /// Refuses an answer whose user handle (when the authenticator sent one)
    /// is not the one registered for the passkey's person.
    async fn check_user_handle(
        &self,
        row: &PasskeyRow,
        answer: &PublicKeyCredential,
    ) -> Result<(), PasskeyError> {
        let Some(sent) = answer.get_user_unique_id() else {
            return Ok(());
        };
        match self.store.passkey_handle_of(&row.user_id).await? {
            Some(handle) if handle == sent => Ok(()),
            _ => Err(PasskeyError::Unknown),
        }
    }

    /// The stored passkey of `row`, with its person's sign-out count read
    /// now — before the answer is checked — when the account may sign in.
    async fn usable(&self, row: &PasskeyRow) -> Result<(Passkey, i64), PasskeyError> {
        let standing = self
            .store
            .account_standing(&row.user_id)
            .await?
            .ok_or(PasskeyError::Unknown)?;
        if standing.disabled {
            return Err(PasskeyError::Disabled);
        }
        Ok((parse(row)?, standing.sign_outs))
    }

    /// Audits a use of `row` refused because its counter did not move
    /// forward, and returns the refusal.
    async fn counter_regression(&self, row: &PasskeyRow) -> PasskeyError {
        tracing::warn!(user_id = %row.user_id, passkey = %row.id, "a passkey's signature counter went backwards; the use was refused");
        let detail = format!(
            "“{}” was refused: its signature counter did not move forward, which points at a cloned authenticator",
            row.name
        );
        let recorded = self
            .store
            .record_audit(
                &AuditEvent::of_person("passkey_counter_regression", &row.user_id, &detail),
                self.now,
            )
            .await;
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record a passkey counter regression");
        }
        PasskeyError::CounterRegression
    }

    /// Renames `user_id`'s passkey `id` to `name`, audited with `detail` in
    /// the same unit of work.
    pub async fn rename(
        self,
        user_id: &str,
        id: &str,
        name: &str,
        detail: &str,
    ) -> Result<(), PasskeyError> {
        let mut tx = self.store.begin().await?;
        if !tx.rename_passkey(user_id, id, name).await? {
            return Err(PasskeyError::NotFound);
        }
        let detail = format!("renamed to “{name}” {detail}");
        tx.record_audit(
            &AuditEvent::of_person("passkey_renamed", user_id, &detail),
            self.now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `user_id`'s passkey `id`, audited with `detail`, unless it is
    /// the last way the person can sign in (no password and no other
    /// passkey). A removed passkey may be a lost or stolen device, so the
    /// person is signed out everywhere in the same unit of work; returns the
    /// sign-out count it left, for the one browser that carries on.
    pub async fn remove(self, user_id: &str, id: &str, detail: &str) -> Result<i64, PasskeyError> {
        // While passkeys cannot be used, their owner could not have proven the
        // removal with one: nothing is removed on a weaker proof.
        self.webauthn()?;
        let mut tx = self.store.begin().await?;
        // Locked: two removals racing for the last two passkeys of an account
        // without a password see each other's.
        let user = tx.user_for_update(user_id).await?;
        let name = tx
            .remove_passkey(user_id, id)
            .await?
            .ok_or(PasskeyError::NotFound)?;
        if user.password_hash.is_none() && tx.passkeys_left(user_id).await? == 0 {
            return Err(PasskeyError::LastWayIn);
        }
        let detail = format!("“{name}” removed {detail}; every session was signed out");
        let event = AuditEvent::of_person("passkey_removed", user_id, &detail);
        tx.sign_out_everywhere(user_id, self.now, &event).await?;
        let sign_outs = tx.sign_out_count(user_id).await?;
        tx.commit().await?;
        Ok(sign_outs)
    }
}

/// The webauthn-rs passkey stored in `row`.
fn parse(row: &PasskeyRow) -> Result<Passkey, StoreError> {
    serde_json::from_str(&row.credential).map_err(|_| StoreError::Corrupt("passkeys"))
}
