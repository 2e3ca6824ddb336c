//! The OpenID Connect `claims` request parameter (Core §5.5) over real HTTP:
//! individual claims in the ID token or at userinfo, kept across refreshes,
//! covered by consent, and refused when malformed or when an essential `acr`
//! cannot be met.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::browser::{Browser, Seen};
use common::flow::{self, Code, EMAIL, PASSWORD, redeem, refresh};
use common::{TestServer, json_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn seed(server: &TestServer) -> String {
    server
        .seed_user(
            json!({"email": EMAIL, "password": PASSWORD, "name": "Grace Hopper",
            "claims": {"given_name": "Grace", "phone_number": "+12025550123",
                "address": {"locality": "Arlington"}}}),
        )
        .await
}

fn with_claims(
    server: &TestServer,
    client_id: &str,
    scope: &str,
    claims: &str,
) -> (String, String) {
    let verifier = "c".repeat(50);
    let url = flow::authorize_url(server, client_id, scope, &verifier);
    let encoded: String = url::form_urlencoded::byte_serialize(claims.as_bytes()).collect();
    (format!("{url}&claims={encoded}"), verifier)
}

/// Signs in through `url`, consenting if asked; returns the final redirect.
async fn through(server: &TestServer, browser: &mut Browser, url: &str) -> Seen {
    let mut seen = browser.get(url).await;
    if seen.status == StatusCode::OK && seen.body.contains("action=\"/login\"") {
        seen = browser.sign_in(&server.base, &seen, EMAIL, PASSWORD).await;
    }
    if seen.status == StatusCode::OK && seen.body.contains("name=\"decision\"") {
        seen = browser.consent(&server.base, &seen, "allow").await;
    }
    seen
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn userinfo(server: &TestServer, access_token: &str) -> Value {
    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    json_body(response, StatusCode::OK).await
}

#[tokio::test]
async fn claims_asked_for_arrive_where_asked_and_survive_a_refresh() {
    let server = TestServer::start().await;
    seed(&server).await;
    let app = flow::web_app(&server, "openid offline_access").await;
    let claims = r#"{"id_token":{"email":null,"given_name":{"essential":true}},
        "userinfo":{"phone_number":null,"address":null,"nonsense":null}}"#;
    let (url, verifier) = with_claims(&server, &app.0, "openid offline_access", claims);
    let mut browser = Browser::new();
    let back = through(&server, &mut browser, &url).await;
    let code = Code {
        code: back.redirect_param("code").expect("a code"),
        verifier,
    };
    let tokens = json_body(redeem(&server, &app.0, &app.1, &code).await, StatusCode::OK).await;
    let id = payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], EMAIL);
    assert_eq!(id["given_name"], "Grace");
    assert!(id.get("phone_number").is_none(), "{id}");
    assert!(id.get("name").is_none(), "not asked for: {id}");

    let info = userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["phone_number"], "+12025550123", "{info}");
    assert_eq!(info["address"]["locality"], "Arlington");
    assert!(
        info.get("email").is_none(),
        "asked in the ID token only: {info}"
    );
    assert!(info.get("nonsense").is_none());

    // The refreshed tokens ask for the same.
    let token = tokens["refresh_token"].as_str().unwrap();
    let refreshed = json_body(
        refresh(&server, &app.0, &app.1, token).await,
        StatusCode::OK,
    )
    .await;
    let info = userinfo(&server, refreshed["access_token"].as_str().unwrap()).await;
    assert_eq!(info["phone_number"], "+12025550123", "{info}");
    let id = payload(refreshed["id_token"].as_str().unwrap());
    assert_eq!(id["given_name"], "Grace");
}

#[tokio::test]
async fn a_third_party_app_asking_for_claims_needs_consent_for_them() {
    let server = TestServer::start().await;
    seed(&server).await;
    let app = flow::app(&server, "openid", false).await;
    let mut browser = Browser::new();
    // First a plain sign-in and consent for openid.
    flow::code(&server, &mut browser, &app.0, "openid").await;
    // Then the address, asked for claim by claim: consent again, naming it.
    let (url, _) = with_claims(
        &server,
        &app.0,
        "openid",
        r#"{"userinfo":{"address":null}}"#,
    );
    let page = browser.get(&url).await;
    assert!(page.body.contains("name=\"decision\""), "{}", page.body);
    assert!(
        page.body.contains("See your postal address"),
        "{}",
        page.body
    );
    let back = browser.consent(&server.base, &page, "allow").await;
    assert!(back.redirect_param("code").is_some());
    // Consented now: no page the next time.
    let again = browser.get(&url).await;
    assert!(again.redirect_param("code").is_some(), "{}", again.body);
}

#[tokio::test]
async fn a_malformed_claims_parameter_or_an_unmet_essential_acr_is_refused() {
    let server = TestServer::start().await;
    seed(&server).await;
    let app = flow::web_app(&server, "openid").await;
    let mut browser = Browser::new();
    for (claims, error) in [
        ("not json", "invalid_request"),
        (r#"{"userinfo":[]}"#, "invalid_request"),
        (
            r#"{"id_token":{"name":{"essential":"yes"}}}"#,
            "invalid_request",
        ),
        (
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:mfa"]}}}"#,
            "access_denied",
        ),
    ] {
        let (url, _) = with_claims(&server, &app.0, "openid", claims);
        let answer = browser.get(&url).await;
        assert_eq!(
            answer.status,
            StatusCode::FOUND,
            "{claims}: {}",
            answer.body
        );
        assert_eq!(
            answer.redirect_param("error").as_deref(),
            Some(error),
            "{claims}"
        );
        assert!(answer.redirect_param("code").is_none());
    }
    // The acr Gatehouse reports satisfies an essential request for it.
    let (url, _) = with_claims(
        &server,
        &app.0,
        "openid",
        r#"{"id_token":{"acr":{"essential":true,"values":["1"]}}}"#,
    );
    let back = through(&server, &mut browser, &url).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);
}
