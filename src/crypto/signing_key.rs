//! One RS256 signing key: generation, PKCS#8 import/export, signing, and its
//! public JWK whose `kid` is the RFC 7638 thumbprint.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::CryptoError;

/// The only JWS algorithm Gatehouse signs with.
pub const ALGORITHM: &str = "RS256";

/// RSA modulus sizes an operator may choose; 2048 is the default.
pub const ALLOWED_BITS: [u32; 3] = [2048, 3072, 4096];

/// A private RS256 key held in memory, with its public half precomputed.
pub struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    public: UnparsedPublicKey<Vec<u8>>,
    jwk: PublicJwk,
    rng: SystemRandom,
}

/// The public half of a signing key as published in the JWKS (RFC 7517 §4).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PublicJwk {
    /// Always `RSA`.
    pub kty: &'static str,
    /// Always `sig`: these keys only sign.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// Always `RS256`.
    pub alg: &'static str,
    /// RFC 7638 thumbprint of the key.
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    /// Public exponent, base64url.
    pub e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key of `bits` bits; returns it with its PKCS#8 DER encoding for storage.
    pub fn generate(bits: u32) -> Result<(Self, Vec<u8>), CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(CryptoError::Key("RSA key size must be 2048, 3072 or 4096")),
        };
        let pair =
            RsaKeyPair::generate(size).map_err(|_| CryptoError::Key("RSA generation failed"))?;
        let der = pair
            .as_der()
            .map_err(|_| CryptoError::Key("PKCS#8 export failed"))?
            .as_ref()
            .to_vec();
        Ok((Self::from_pair(pair), der))
    }

    /// Loads a key from its stored PKCS#8 DER encoding.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| CryptoError::Key("bad PKCS#8 key"))?;
        Ok(Self::from_pair(pair))
    }

    fn from_pair(pair: RsaKeyPair) -> Self {
        let public_key = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public_key.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public_key.exponent().big_endian_without_leading_zero());
        let kid = thumbprint(&n, &e);
        let public = UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            public_key.as_ref().to_vec(),
        );
        let jwk = PublicJwk {
            kty: "RSA",
            use_: "sig",
            alg: ALGORITHM,
            kid: kid.clone(),
            n,
            e,
        };
        Self {
            kid,
            pair,
            public,
            jwk,
            rng: SystemRandom::new(),
        }
    }

    /// The key id: the RFC 7638 JWK thumbprint, so it is derived, never chosen.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK for the JWKS document.
    pub fn jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (aws-lc's constant-time RSA).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                message,
                &mut signature,
            )
            .map_err(|_| CryptoError::Key("signing failed"))?;
        Ok(signature)
    }

    /// Whether `signature` is this key's RS256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify(message, signature).is_ok()
    }
}

/// RFC 7638 §3: SHA-256 over the required members in lexicographic order, base64url.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_pkcs8_and_verifies_its_own_signatures() {
        let (key, der) = SigningKey::generate(2048).unwrap();
        let loaded = SigningKey::from_pkcs8(&der).unwrap();
        assert_eq!(key.kid(), loaded.kid());
        let sig = loaded.sign(b"payload").unwrap();
        assert!(key.verify(b"payload", &sig));
        assert!(!key.verify(b"payload2", &sig));
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1 example key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn refuses_weak_key_sizes() {
        assert!(SigningKey::generate(1024).is_err());
    }
}
