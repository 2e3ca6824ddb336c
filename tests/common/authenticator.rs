//! A software WebAuthn authenticator for the tests, playing both the browser
//! (it writes `clientDataJSON` with the origin it is told) and a CTAP2
//! authenticator with resident ES256 keys (P-256, signed with aws-lc-rs):
//! "none" attestation, user presence and verification, a signature counter,
//! and the backup flags. Every part a test may falsify — origin, relying-party
//! id, counter, user verification — is a plain field, so the server's checks
//! can be attacked one at a time.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// One resident credential.
pub struct Credential {
    /// The credential id.
    pub id: Vec<u8>,
    /// The relying party it was made for.
    pub rp_id: String,
    /// The user handle the relying party gave.
    pub user_handle: Vec<u8>,
    /// Its signature counter (the next use sends one more).
    pub counter: u32,
    pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
}

impl Credential {
    /// A copy of this credential, private key and counter included: what
    /// cloning an authenticator gives an attacker.
    pub fn cloned(&self) -> Self {
        Self {
            id: self.id.clone(),
            rp_id: self.rp_id.clone(),
            user_handle: self.user_handle.clone(),
            counter: self.counter,
            pkcs8: self.pkcs8.clone(),
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8).unwrap(),
        }
    }
}

/// The software authenticator, and the browser around it.
pub struct SoftAuthenticator {
    /// The origin the "browser" writes into `clientDataJSON`.
    pub origin: String,
    /// When set, the relying-party id hashed into the authenticator data
    /// instead of the one the options name.
    pub rp_id_override: Option<String>,
    /// Whether it verifies the user (the UV flag).
    pub verifies_user: bool,
    /// Whether its credentials may be synced (the BE and BS flags).
    pub synced: bool,
    /// Its resident credentials, oldest first.
    pub credentials: Vec<Credential>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).unwrap()
}

/// A CBOR head: major type and argument.
fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend([major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend((value as u16).to_be_bytes());
        }
        _ => {
            out.push(major | 26);
            out.extend((value as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        cbor_head(out, 0, value as u64);
    } else {
        cbor_head(out, 1, (-1 - value) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

impl SoftAuthenticator {
    /// An authenticator in a browser at `origin`, verifying the user, with
    /// device-bound credentials.
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            rp_id_override: None,
            verifies_user: true,
            synced: false,
            credentials: Vec::new(),
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0x01; // user present
        if self.verifies_user {
            flags |= 0x04;
        }
        if self.synced {
            flags |= 0x08 | 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    fn rp_id_hash(&self, rp_id: &str) -> Vec<u8> {
        let rp_id = self.rp_id_override.as_deref().unwrap_or(rp_id);
        digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec()
    }

    /// `navigator.credentials.create` with the server's options (the JSON of
    /// a `CreationChallengeResponse`); returns the credential as JSON.
    pub fn register(&mut self, options: &Value) -> Value {
        let key = &options["publicKey"];
        let rp_id = key["rp"]["id"].as_str().unwrap().to_owned();
        let excluded: Vec<Vec<u8>> = key["excludeCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            !self.credentials.iter().any(|c| excluded.contains(&c.id)),
            "InvalidStateError: this authenticator holds an excluded credential"
        );
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (&point[1..33], &point[33..65]);
        let mut id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut id).unwrap();

        let mut cose = Vec::new();
        cbor_head(&mut cose, 5, 5);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            cbor_int(&mut cose, label);
            cbor_int(&mut cose, value);
        }
        cbor_int(&mut cose, -2);
        cbor_bytes(&mut cose, x);
        cbor_int(&mut cose, -3);
        cbor_bytes(&mut cose, y);

        let counter = 1u32;
        let mut auth_data = self.rp_id_hash(&rp_id);
        auth_data.push(self.flags(true));
        auth_data.extend(counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(&cose);

        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);

        let client_data = self.client_data("webauthn.create", key["challenge"].as_str().unwrap());
        self.credentials.push(Credential {
            id: id.clone(),
            rp_id,
            user_handle: unb64(key["user"]["id"].as_str().unwrap()),
            counter,
            pkcs8: pkcs8.as_ref().to_vec(),
            key: pair,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
            },
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get` with the server's options (the JSON of a
    /// `RequestChallengeResponse`): signs with the newest credential for the
    /// relying party that the options allow (any, when they list none).
    pub fn authenticate(&mut self, options: &Value) -> Value {
        let key = &options["publicKey"];
        let rp_id = key["rpId"].as_str().unwrap().to_owned();
        let allowed: Vec<Vec<u8>> = key["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let flags = self.flags(false);
        let client_data = self.client_data("webauthn.get", key["challenge"].as_str().unwrap());
        let rp_id_hash = self.rp_id_hash(&rp_id);
        let credential = self
            .credentials
            .iter_mut()
            .rev()
            .find(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .expect("NotAllowedError: no credential for this relying party");
        credential.counter += 1;
        let mut auth_data = rp_id_hash;
        auth_data.push(flags);
        auth_data.extend(credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &client_data).as_ref());
        let signature = credential.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
