//! A person signing in through a web client over HTTP, for tests that need a
//! user's tokens (refresh token, access token of a grant) without a relying
//! party library: the authorization code flow with PKCE, hop by hop.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::browser::Browser;
use super::{TestServer, json_body};

/// The seeded person's email.
pub const EMAIL: &str = "grace@example.com";
/// The seeded person's password.
pub const PASSWORD: &str = "a long and correct passphrase";
/// The redirect URI of [`web_client`].
pub const CALLBACK: &str = "https://rp.example/cb";

/// Creates the person [`EMAIL`] / [`PASSWORD`]; returns their user id.
pub async fn seed_person(server: &TestServer) -> String {
    server
        .seed_user(json!({"email": EMAIL, "password": PASSWORD, "name": "Grace"}))
        .await
}

/// A confidential first-party web client with refresh tokens; returns (id, secret).
pub async fn web_client(server: &TestServer) -> (String, String) {
    let (id, secret) = server
        .seed_client(json!({"client_name": "Web", "first_party": true,
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [CALLBACK],
            "scope": "openid profile offline_access"}))
        .await;
    (id, secret.unwrap())
}

/// Signs [`EMAIL`] in through client `id` (consenting if asked) with `scope`
/// and redeems the code; returns the token response.
pub async fn sign_in_tokens(server: &TestServer, id: &str, secret: &str, scope: &str) -> Value {
    let verifier = "v".repeat(50);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    let mut authorize = url::Url::parse(&server.url("/authorize")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut browser = Browser::new();
    let page = browser.get(authorize.as_str()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let mut back = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    if back.status == StatusCode::OK && back.body.contains("name=\"decision\"") {
        back = browser.consent(&server.base, &back, "allow").await;
    }
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    let code = back.redirect_param("code").expect("a code");
    let response = server
        .post_form(
            "/token",
            Some((id, secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    json_body(response, StatusCode::OK).await
}
