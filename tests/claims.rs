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
    let app = flow::web_app(&server, "openid profile email address phone offline_access").await;
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
    let app = flow::app(&server, "openid address", false).await;
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
    // An essential acr that a password meets.
    let (url, _) = with_claims(
        &server,
        &app.0,
        "openid",
        r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:gold","urn:gatehouse:acr:1fa"]}}}"#,
    );
    let back = through(&server, &mut browser, &url).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);
}

/// A client gets, through the claims parameter, only the claims of scopes its
/// registration lets it ask for — also a first-party one, which is never
/// asked consent for, and also after an admin narrows its registration.
#[tokio::test]
async fn the_claims_parameter_never_reaches_beyond_the_clients_registration() {
    let server = TestServer::start().await;
    seed(&server).await;
    let narrow = flow::web_app(&server, "openid").await;
    let claims = r#"{"userinfo":{"phone_number":null,"address":null},"id_token":{"email":null}}"#;
    let (url, verifier) = with_claims(&server, &narrow.0, "openid", claims);
    let mut browser = Browser::new();
    let back = through(&server, &mut browser, &url).await;
    let code = Code {
        code: back.redirect_param("code").expect("a code"),
        verifier,
    };
    let tokens = json_body(
        redeem(&server, &narrow.0, &narrow.1, &code).await,
        StatusCode::OK,
    )
    .await;
    let id = payload(tokens["id_token"].as_str().unwrap());
    assert!(id.get("email").is_none(), "{id}");
    let info = userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert!(info.get("phone_number").is_none(), "{info}");
    assert!(info.get("address").is_none(), "{info}");

    // Registered for phone, then narrowed: refreshed tokens no longer carry it.
    let wide = flow::web_app(&server, "openid phone offline_access").await;
    let (url, verifier) = with_claims(
        &server,
        &wide.0,
        "openid offline_access",
        r#"{"userinfo":{"phone_number":null}}"#,
    );
    let back = through(&server, &mut browser, &url).await;
    let code = Code {
        code: back.redirect_param("code").expect("a code"),
        verifier,
    };
    let tokens = json_body(
        redeem(&server, &wide.0, &wide.1, &code).await,
        StatusCode::OK,
    )
    .await;
    let info = userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["phone_number"], "+12025550123");
    let admin = server.admin_token().await;
    let patched = server
        .http
        .patch(server.url(&format!("/admin/clients/{}", wide.0)))
        .bearer_auth(&admin)
        .json(&json!({"scope": "openid offline_access"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    // The client registry is cached a few seconds per instance.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let refreshed = json_body(
        refresh(&server, &wide.0, &wide.1, token).await,
        StatusCode::OK,
    )
    .await;
    let info = userinfo(&server, refreshed["access_token"].as_str().unwrap()).await;
    assert!(info.get("phone_number").is_none(), "{info}");
}

/// `"sub": {"value": …}` in the ID token request names the person who must be
/// signed in (§5.5.1): someone else signed in gets no code.
#[tokio::test]
async fn a_requested_sub_value_is_demanded_of_the_sign_in() {
    let server = TestServer::start().await;
    let grace = seed(&server).await;
    let app = flow::web_app(&server, "openid").await;
    let mut browser = Browser::new();
    flow::code(&server, &mut browser, &app.0, "openid").await;
    let other = r#"{"id_token":{"sub":{"value":"someone-else"}}}"#;
    let (url, _) = with_claims(&server, &app.0, "openid", other);
    let silent = browser.get(&format!("{url}&prompt=none")).await;
    assert_eq!(
        silent.redirect_param("error").as_deref(),
        Some("login_required")
    );
    let page = browser.get(&url).await;
    assert!(
        page.body.contains("action=\"/login\""),
        "asks to sign in: {}",
        page.body
    );
    let wrong = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert_eq!(
        wrong.redirect_param("error").as_deref(),
        Some("login_required")
    );
    assert!(wrong.redirect_param("code").is_none());
    let mine = format!(r#"{{"id_token":{{"sub":{{"value":"{grace}"}}}}}}"#);
    let (url, _) = with_claims(&server, &app.0, "openid", &mine);
    let back = browser.get(&url).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);
}
