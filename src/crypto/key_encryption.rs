//! Encryption of private signing keys at rest (DESIGN.md rule 12): AES-256-GCM
//! under a key derived with HKDF-SHA256 from the operator's key-encryption secret.
//! The key id is bound as associated data, so a sealed key cannot be moved to another row.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf;

use super::CryptoError;

const SALT: &[u8] = b"gatehouse key-encryption v1";
const INFO: &[u8] = b"signing keys at rest";

/// The symmetric key that seals and opens stored private keys.
pub struct KeyEncryptionKey(RandomizedNonceKey);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

impl KeyEncryptionKey {
    /// Derives the 256-bit AES key from the configured secret.
    pub fn derive(secret: &str) -> Result<Self, CryptoError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret.as_bytes());
        let mut key = [0u8; 32];
        prk.expand(&[INFO], &AES_256_GCM)
            .and_then(|okm| okm.fill(&mut key))
            .map_err(|_| CryptoError::Key("key derivation failed"))?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, &key)
            .map_err(|_| CryptoError::Key("AES key setup failed"))?;
        Ok(Self(key))
    }

    /// Encrypts `plaintext`; the output is `nonce || ciphertext || tag`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| CryptoError::Key("encryption failed"))?;
        let mut sealed = nonce.as_ref().to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`seal`](Self::seal) produced for the same `kid`.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (nonce, ciphertext) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Decrypt)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_secret_and_kid() {
        let kek = KeyEncryptionKey::derive("correct horse battery staple").unwrap();
        let sealed = kek.seal("kid-1", b"private key").unwrap();
        assert_ne!(&sealed[NONCE_LEN..NONCE_LEN + 11], b"private key");
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key");
        assert!(kek.open("kid-2", &sealed).is_err());
        let other = KeyEncryptionKey::derive("another secret").unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
    }
}
