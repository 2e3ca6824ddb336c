//! oidcc-config-certification-test-plan: the discovery document.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::harness::{Mode, Suite};

/// Whether `text` is a syntactically valid absolute http(s) URL.
fn is_url(text: &Value) -> bool {
    text.as_str()
        .and_then(|t| url::Url::parse(t).ok())
        .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
}

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    // The setup checks (required fields, JWKS kids present and distinct, the
    // auth methods under test listed) run in Suite::start.
    let suite = Suite::start(Mode::Default).await;
    let discovery_url = suite.server.url("/.well-known/openid-configuration");
    let response = suite.server.http.get(&discovery_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = response.json().await.unwrap();

    // issuer = discovery URL minus the well-known suffix (a trailing slash tolerated).
    let base = discovery_url
        .strip_suffix("/.well-known/openid-configuration")
        .unwrap();
    assert_eq!(doc["issuer"].as_str().unwrap().trim_end_matches('/'), base);
    assert!(is_url(&doc["issuer"]));
    // Every endpoint must be https: a deployment property (the issuer is what the
    // operator configures); tests run on http://127.0.0.1, so only URL validity is checked.
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ] {
        assert!(is_url(&doc[endpoint]), "{endpoint}: {}", doc[endpoint]);
        assert!(doc[endpoint].as_str().unwrap().starts_with(base));
    }
    if let Some(registration) = doc.get("registration_endpoint") {
        assert!(is_url(registration));
    }

    let list = |field: &str| -> Vec<String> {
        doc[field]
            .as_array()
            .unwrap_or_else(|| panic!("{field} must be an array"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let response_types = list("response_types_supported");
    assert!(
        response_types.iter().any(|t| [
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code token",
            "code id_token token"
        ]
        .contains(&t.as_str())),
        "an OIDC response type"
    );
    let subject_types = list("subject_types_supported");
    assert!(
        subject_types
            .iter()
            .any(|t| t == "public" || t == "pairwise")
    );
    assert!(
        list("id_token_signing_alg_values_supported").contains(&"RS256".to_owned()),
        "RS256 is required"
    );
    if doc.get("userinfo_signing_alg_values_supported").is_some() {
        assert!(!list("userinfo_signing_alg_values_supported").is_empty());
    }
    if doc.get("grant_types_supported").is_some() {
        assert!(!list("grant_types_supported").is_empty());
    }
    let scopes = list("scopes_supported");
    assert!(
        scopes.contains(&"openid".to_owned()),
        "scopes_supported must contain openid"
    );
    assert!(
        scopes.iter().all(|s| !s.is_empty()
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))),
        "scope tokens must be NQCHAR"
    );
    if doc.get("code_challenge_methods_supported").is_some() {
        list("code_challenge_methods_supported");
    }
    if let Some(algs) = doc.get("request_object_signing_alg_values_supported") {
        assert!(
            algs.as_array().unwrap().contains(&json!("RS256")),
            "WARNING-level"
        );
    }
    for locales in ["ui_locales_supported", "claims_locales_supported"] {
        if doc.get(locales).is_some() {
            for tag in list(locales) {
                assert!(
                    tag.split('-').all(|p| !p.is_empty()
                        && p.len() <= 8
                        && p.bytes().all(|b| b.is_ascii_alphanumeric())),
                    "{tag} is not BCP47"
                );
            }
        }
    }
    // claims_supported: a WARNING when bad or missing.
    assert!(!list("claims_supported").is_empty());
    for flag in [
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "claims_parameter_supported",
    ] {
        if let Some(value) = doc.get(flag) {
            assert!(value.is_boolean(), "{flag}");
        }
    }
    // The keys served at jwks_uri validate (RFC 7517): RSA keys with n and e.
    let jwks: Value = suite
        .server
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "RSA");
        assert!(key["n"].is_string() && key["e"].is_string());
        assert!(key.get("d").is_none(), "no private parts in the JWKS");
        if let Some(usage) = key.get("use") {
            assert_eq!(usage, "sig");
        }
    }
}
