//! Recovery codes: the way back in when the authenticator app is lost. Ten
//! codes of 80 random bits each, shown once as four groups of four base32
//! characters, kept only as SHA-256 hashes (80 bits is far beyond guessing
//! from a copy of the database), each usable once.

use super::totp::base32;
use crate::crypto::CryptoError;
use crate::crypto::secret::hash_secret;

/// Codes in a set.
pub const CODES: usize = 10;

/// Random bytes in a code (80 bits).
const CODE_BYTES: usize = 10;

/// A new set of codes, as shown to the person.
pub fn new_set() -> Result<Vec<String>, CryptoError> {
    (0..CODES).map(|_| new_code()).collect()
}

fn new_code() -> Result<String, CryptoError> {
    let mut bytes = [0u8; CODE_BYTES];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    let text = base32(&bytes).to_lowercase();
    let groups: Vec<&str> = (0..text.len())
        .step_by(4)
        .map(|start| &text[start..(start + 4).min(text.len())])
        .collect();
    Ok(groups.join("-"))
}

/// The hash a typed code is kept and looked up under: letters in any case,
/// with or without the dashes and spaces.
pub fn hash(typed: &str) -> Vec<u8> {
    let normal: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hash_secret(&normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eighty_bits_in_four_groups_and_typed_loosely() {
        let set = new_set().unwrap();
        assert_eq!(set.len(), CODES);
        for code in &set {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.split('-').count(), 4, "{code}");
        }
        let code = &set[0];
        assert_eq!(hash(code), hash(&code.to_uppercase().replace('-', " ")));
        assert_ne!(hash(&set[0]), hash(&set[1]));
    }
}
