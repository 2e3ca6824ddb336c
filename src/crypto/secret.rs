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

/// A random identifier of `len` characters from `[A-Za-z0-9]` (unbiased), for
/// public ids that must be safe in URLs and on command lines (never starting with `-`).
pub fn random_id(len: usize) -> Result<String, CryptoError> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while id.len() < len {
        rand::fill(&mut buf).map_err(|_| CryptoError::Random)?;
        // 248 = 4 × 62: rejecting bytes above it keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if id.len() == len {
                break;
            }
            id.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(id)
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
    fn ids_are_alphanumeric_of_the_asked_length() {
        let id = random_id(22).unwrap();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
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
