//! Compact JWS (RFC 7515) with RS256: signing claims, and verifying a token
//! against the keys we currently publish.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::CryptoError;
use super::keyring::KeySet;
use super::signing_key::{ALGORITHM, SigningKey};

/// The protected header of every JWT we issue.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Always `RS256`.
    pub alg: String,
    /// Media type of the token, e.g. `at+jwt` (RFC 9068) or `JWT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The signing key's thumbprint.
    #[serde(default)]
    pub kid: String,
}

/// Why a presented JWT was not accepted. Callers treat every variant alike
/// (an inactive token); the variant is for logs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Signed with an algorithm or type we do not accept.
    #[error("unexpected algorithm or type")]
    WrongType,
    /// The `kid` names no key we publish.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// Signs `claims` as a compact JWS with header `{alg: RS256, typ, kid}`.
pub fn sign<T: Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, CryptoError> {
    let header = Header {
        alg: ALGORITHM.to_owned(),
        typ: Some(typ.to_owned()),
        kid: key.kid().to_owned(),
    };
    let header = serde_json::to_vec(&header).map_err(|_| CryptoError::Key("header encoding"))?;
    let claims = serde_json::to_vec(claims).map_err(|_| CryptoError::Key("claims encoding"))?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// Signs `claims` with the active key of `keys` on the blocking pool, so the RSA
/// operation (about 0.2 ms per 2048-bit signature here) never stalls the async
/// workers.
pub async fn sign_in_background<T: Serialize + Send + 'static>(
    keys: Arc<KeySet>,
    typ: &'static str,
    claims: T,
) -> Result<String, CryptoError> {
    tokio::task::spawn_blocking(move || {
        let signer = keys
            .signer()
            .ok_or(CryptoError::Key("no signing key is active"))?;
        sign(signer, typ, &claims)
    })
    .await
    .map_err(|_| CryptoError::Key("signing task failed"))?
}

/// Verifies `token`'s signature with the key `find_key` returns for its `kid`,
/// checks `alg` and `typ`, and decodes the claims. Time-based checks are the caller's.
pub fn verify<'k, T: DeserializeOwned>(
    token: &str,
    expected_typ: &str,
    find_key: impl FnOnce(&str) -> Option<&'k SigningKey>,
) -> Result<T, JwtError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    if header.alg != ALGORITHM || header.typ.as_deref() != Some(expected_typ) {
        return Err(JwtError::WrongType);
    }
    let key = find_key(&header.kid).ok_or(JwtError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwtError::Malformed)?;
    let signing_input_len = header_b64.len() + 1 + claims_b64.len();
    let signing_input = token.get(..signing_input_len).ok_or(JwtError::Malformed)?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(JwtError::BadSignature);
    }
    decode_json(claims_b64)
}

fn decode_json<T: DeserializeOwned>(part: &str) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn verifies_what_it_signs_and_nothing_else() {
        let (key, _) = SigningKey::generate(2048).unwrap();
        let (other, _) = SigningKey::generate(2048).unwrap();
        let token = sign(&key, "at+jwt", &json!({"sub": "x"})).unwrap();

        let claims: Value = verify(&token, "at+jwt", |_| Some(&key)).unwrap();
        assert_eq!(claims["sub"], "x");

        let wrong_key = verify::<Value>(&token, "at+jwt", |_| Some(&other));
        assert_eq!(wrong_key, Err(JwtError::BadSignature));
        let wrong_typ = verify::<Value>(&token, "JWT", |_| Some(&key));
        assert_eq!(wrong_typ, Err(JwtError::WrongType));

        let mut tampered = token.clone();
        tampered.insert_str(token.find('.').unwrap() + 1, "eyJ");
        assert!(verify::<Value>(&tampered, "at+jwt", |_| Some(&key)).is_err());
    }
}
