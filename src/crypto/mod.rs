//! Cryptography: random secrets and their hashes, password hashing, RS256
//! signing keys, JWTs, the key ring that decides which key signs and which are
//! published, and the encryption of private keys at rest. Everything but the
//! argon2id password hashing is backed by aws-lc-rs (see
//! `docs/decisions/0002-signing-backend.md`).

pub mod jwt;
pub mod kek_source;
pub mod key_encryption;
pub mod keyring;
pub mod password;
pub mod rotation;
pub mod secret;
pub mod signing_key;

/// A failure inside a cryptographic primitive. It never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// A key could not be generated, parsed or used.
    #[error("signing key error: {0}")]
    Key(&'static str),
    /// A private key could not be decrypted: wrong key-encryption key or damaged data.
    #[error("a private key could not be decrypted (wrong key-encryption key?)")]
    Decrypt,
}
