//! Signing-key lifecycle over the store: the first key, rotation, listing, and
//! sealing keys at rest. Used by the server at start and by `gatehouse keys`.

use std::sync::Arc;

use serde::Serialize;

use super::CryptoError;
use super::key_encryption::KeyEncryptionKey;
use super::keyring::{KeyState, RingKey, key_states};
use super::signing_key::SigningKey;
use crate::clock::UnixTime;
use crate::store::{KeyRow, Store, StoreError};

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Generating, parsing or decrypting a key failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Keys are encrypted at rest but no key-encryption key is configured.
    #[error(
        "signing key {0} is encrypted at rest; set GATEHOUSE_KEY_ENCRYPTION_KEY (or key_encryption_key) to the secret it was sealed with"
    )]
    MissingKeyEncryptionKey(String),
    /// A key is sealed under another key-encryption key than the one in use.
    #[error(
        "signing key {0} cannot be decrypted with the key-encryption key in use; set GATEHOUSE_KEY_ENCRYPTION_KEY (or key_encryption_key) to the secret it was sealed with, or restore the data directory's key-encryption-key file"
    )]
    WrongKeyEncryptionKey(String),
}

/// A key as `gatehouse keys list` shows it (no key material).
#[derive(Debug, Serialize)]
pub struct KeyInfo {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Where it is in its life now.
    pub state: KeyState,
    /// When it was created and published.
    pub created_at: UnixTime,
    /// When it signs (or started signing).
    pub activate_at: UnixTime,
    /// Whether its private part is sealed at rest.
    pub encrypted: bool,
}

/// The keys and their states at `now`.
pub async fn list(store: &Store, now: UnixTime, retention: i64) -> Result<Vec<KeyInfo>, KeyError> {
    let rows = store.list_keys().await?;
    let activations: Vec<UnixTime> = rows.iter().map(|r| r.activate_at).collect();
    let states = key_states(&activations, now, retention);
    Ok(rows
        .into_iter()
        .zip(states)
        .map(|(row, state)| KeyInfo {
            kid: row.kid,
            state,
            created_at: row.created_at,
            activate_at: row.activate_at,
            encrypted: row.encrypted != 0,
        })
        .collect())
}

/// Creates a key that signs at once if the store has none (first start).
/// Check-then-create: call it under the store's start-up lock
/// ([`Store::lock_startup`]) so two processes never both make a first key.
pub async fn ensure_signing_key(
    store: &Store,
    kek: Option<&KeyEncryptionKey>,
    bits: u32,
    now: UnixTime,
) -> Result<Option<String>, KeyError> {
    if !store.list_keys().await?.is_empty() {
        return Ok(None);
    }
    let kid = store_new_key(store, kek, bits, now, now).await?;
    tracing::info!(%kid, bits, "generated the first signing key");
    Ok(Some(kid))
}

/// Adds a key that is published now and starts signing after `delay` seconds.
/// With no key in the store yet, it signs at once.
pub async fn rotate(
    store: &Store,
    kek: Option<&KeyEncryptionKey>,
    bits: u32,
    now: UnixTime,
    delay: i64,
) -> Result<String, KeyError> {
    let first = store.list_keys().await?.is_empty();
    let activate_at = if first {
        now
    } else {
        now.saturating_add(delay)
    };
    let kid = store_new_key(store, kek, bits, now, activate_at).await?;
    tracing::info!(%kid, activate_at, "signing key rotation scheduled");
    Ok(kid)
}

async fn store_new_key(
    store: &Store,
    kek: Option<&KeyEncryptionKey>,
    bits: u32,
    now: UnixTime,
    activate_at: UnixTime,
) -> Result<String, KeyError> {
    let (key, der) = tokio::task::spawn_blocking(move || SigningKey::generate(bits))
        .await
        .map_err(|_| CryptoError::Key("key generation task failed"))??;
    let kid = key.kid().to_owned();
    let (private_key, encrypted) = match kek {
        Some(kek) => (kek.seal(&kid, &der)?, 1),
        None => (der, 0),
    };
    store
        .insert_key(&KeyRow {
            kid: kid.clone(),
            private_key,
            encrypted,
            created_at: now,
            activate_at,
        })
        .await?;
    Ok(kid)
}

/// Seals every plaintext key with `kek` (run at start when a key-encryption key is set).
pub async fn seal_plaintext_keys(store: &Store, kek: &KeyEncryptionKey) -> Result<usize, KeyError> {
    let mut sealed = 0;
    for row in store.list_keys().await? {
        if row.encrypted == 0 {
            let ciphertext = kek.seal(&row.kid, &row.private_key)?;
            store.update_key_material(&row.kid, &ciphertext, 1).await?;
            sealed += 1;
        }
    }
    if sealed > 0 {
        tracing::info!(sealed, "encrypted signing keys at rest");
    }
    Ok(sealed)
}

/// Re-seals under `to` every key that only `from` opens: run at start when a
/// configured key-encryption key takes over from the generated one, so the
/// operator can then remove the generated file. Returns how many were moved.
pub async fn reseal(
    store: &Store,
    from: &KeyEncryptionKey,
    to: &KeyEncryptionKey,
) -> Result<usize, KeyError> {
    let mut moved = 0;
    for row in store.list_keys().await? {
        if row.encrypted == 0 || to.open(&row.kid, &row.private_key).is_ok() {
            continue;
        }
        let Ok(der) = from.open(&row.kid, &row.private_key) else {
            continue;
        };
        let ciphertext = to.seal(&row.kid, &der)?;
        store.update_key_material(&row.kid, &ciphertext, 1).await?;
        moved += 1;
    }
    if moved > 0 {
        tracing::info!(
            moved,
            "re-sealed signing keys under the configured key-encryption key; the generated key-encryption-key file is no longer needed"
        );
    }
    Ok(moved)
}

/// Loads every key still published at `now`, decrypting as needed, for the [`KeyRing`](super::keyring::KeyRing).
pub async fn load_ring_keys(
    store: &Store,
    kek: Option<&KeyEncryptionKey>,
    now: UnixTime,
    retention: i64,
) -> Result<Vec<RingKey>, KeyError> {
    let rows = store.list_keys().await?;
    let activations: Vec<UnixTime> = rows.iter().map(|r| r.activate_at).collect();
    let states = key_states(&activations, now, retention);
    let mut keys = Vec::new();
    for (row, state) in rows.into_iter().zip(states) {
        if !state.is_published() {
            continue;
        }
        let der = match (row.encrypted != 0, kek) {
            (false, _) => row.private_key,
            (true, Some(kek)) => kek
                .open(&row.kid, &row.private_key)
                .map_err(|_| KeyError::WrongKeyEncryptionKey(row.kid.clone()))?,
            (true, None) => return Err(KeyError::MissingKeyEncryptionKey(row.kid)),
        };
        let key = SigningKey::from_pkcs8(&der)?;
        keys.push(RingKey {
            key: Arc::new(key),
            activate_at: row.activate_at,
        });
    }
    Ok(keys)
}
