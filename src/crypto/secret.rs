//! Secrets we hand out (client secrets, token ids) and how we keep them: 256 bits
//! from the OS RNG, stored only as a SHA-256 hash, compared in constant time
//! (DESIGN.md rules 1 and 2).

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::CryptoError;

/// Bytes of entropy in every secret we issue: 256 bits.
pub const SECRET_BYTES: usize = 32;

/// A fresh random string of `bytes` bytes of entropy, base64url without padding.
pub fn random_string(bytes: usize) -> Result<String, CryptoError> {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A new 256-bit secret, ready to show once to its owner.
pub fn new_secret() -> Result<String, CryptoError> {
    random_string(SECRET_BYTES)
}

/// The SHA-256 of a high-entropy secret: what the database keeps instead of the secret.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// Whether `presented` hashes to `stored_hash`, compared in constant time.
pub fn verify_secret(presented: &str, stored_hash: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(&hash_secret(presented), stored_hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bits_and_distinct() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn only_the_right_secret_verifies() {
        let secret = new_secret().unwrap();
        let stored = hash_secret(&secret);
        assert!(verify_secret(&secret, &stored));
        assert!(!verify_secret("guess", &stored));
        assert_ne!(
            stored,
            secret.as_bytes(),
            "the secret itself is never stored"
        );
    }
}
