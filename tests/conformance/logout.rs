//! oidcc-rp-initiated-logout-certification-test-plan: after a normal login the
//! browser goes to `end_session_endpoint` with `id_token_hint`,
//! `post_logout_redirect_uri` and a 128-character `state` (never `client_id`);
//! each module removes or spoils one of them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;

use crate::common::browser::{Browser, Seen};
use crate::harness::{
    LOGIN_REQUIRED_FAMILY, Mode, POST_LOGOUT, Suite, assert_error_page, jwt_part, long_state,
};

/// A logged-in browser and its ID token.
async fn logged_in() -> (Suite, Browser, String) {
    let suite = Suite::start(Mode::Default).await;
    let mut browser = Browser::new();
    let request = suite.request(&suite.client);
    let callback = suite.login(&mut browser, &request).await;
    let tokens = suite.exchange(&suite.client, &callback.code()).await;
    suite.id_token(&suite.client, &tokens.id_token, request.get("nonce"));
    (suite, browser, tokens.id_token)
}

/// The follow-up of modules that expect a redirect: `prompt=none` must now fail.
async fn assert_logged_out(suite: &Suite, browser: &mut Browser) {
    let request = suite.request(&suite.client).set("prompt", "none");
    let answer = suite.open(browser, &request).await;
    let error = suite.callback(&answer, &request).error();
    assert!(LOGIN_REQUIRED_FAMILY.contains(&error.as_str()), "{error}");
}

/// The redirect to the registered post_logout_redirect_uri, with exactly `state`.
fn assert_redirected(answer: &Seen, state: Option<&str>) {
    assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.body);
    let location = url::Url::parse(answer.location.as_ref().unwrap()).unwrap();
    let mut base = location.clone();
    base.set_query(None);
    assert_eq!(base.as_str(), POST_LOGOUT);
    let params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    match state {
        // Only state (other parameters are a WARNING in the suite).
        Some(state) => assert_eq!(params, vec![("state".to_owned(), state.to_owned())]),
        None => assert!(
            params.is_empty(),
            "no state was sent, none may return: {params:?}"
        ),
    }
}

/// Must not redirect to the post_logout_redirect_uri: an error or confirmation page.
fn assert_not_redirected(answer: &Seen) {
    assert!(!answer.status.is_redirection(), "{}", answer.status);
    assert_error_page(answer, &[POST_LOGOUT]);
}

/// Without proof of the session the OP asks first (RP-Initiated Logout §2): a
/// confirmation page (no redirect, the module's screenshot) whose CSRF-protected
/// button signs out. We press it and check the person is then signed out.
async fn assert_confirmed_then_logged_out(suite: &Suite, browser: &mut Browser, answer: &Seen) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_not_redirected(answer);
    assert!(answer.body.contains("Sign out"), "{}", answer.body);
    assert!(
        answer.body.contains("action=\"/logout\""),
        "{}",
        answer.body
    );
    let csrf = answer.field("csrf");
    let done = browser
        .post(&suite.logout_url(&[]), &[("csrf", csrf.as_str())])
        .await;
    assert_logged_out_page(suite, browser, &done).await;
}

/// A page saying the person is signed out (no redirect), and the session gone.
async fn assert_logged_out_page(suite: &Suite, browser: &mut Browser, answer: &Seen) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_not_redirected(answer);
    assert!(answer.body.contains("signed out"), "{}", answer.body);
    // Not checked by these modules (they end in a screenshot); we also check the logout happened.
    assert_logged_out(suite, browser).await;
}

#[tokio::test]
async fn rp_initiated_logout_discovery_endpoint_verification() {
    let suite = Suite::start(Mode::Default).await;
    let endpoint = suite.metadata["end_session_endpoint"]
        .as_str()
        .expect("end_session_endpoint");
    // https on every endpoint is a deployment property (the configured issuer).
    assert!(endpoint.starts_with(suite.issuer()));
    assert!(url::Url::parse(endpoint).is_ok());
}

#[tokio::test]
async fn rp_initiated_logout() {
    let (suite, mut browser, id_token) = logged_in().await;
    let state = long_state();
    let url = suite.logout_url(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", &state),
    ]);
    let answer = browser.get(&url).await;
    assert_redirected(&answer, Some(&state));
    assert_logged_out(&suite, &mut browser).await;
}

/// Logout with the usual parameters, `post_logout_redirect_uri` replaced by `uri`.
async fn logout_to(uri: &str) {
    let (suite, mut browser, id_token) = logged_in().await;
    let url = suite.logout_url(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", uri),
        ("state", &long_state()),
    ]);
    assert_not_redirected(&browser.get(&url).await);
}

#[tokio::test]
async fn rp_initiated_logout_bad_post_logout_redirect_uri() {
    logout_to("https://suite.example/test/a/gatehouse/post_logout_redirect_invalid").await;
}

#[tokio::test]
async fn rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    logout_to(&format!("{POST_LOGOUT}?foo=bar")).await;
}

/// Logout with the usual parameters, `id_token_hint` replaced by `spoil(hint)`.
async fn logout_with_hint(spoil: impl FnOnce(&str) -> String) {
    let (suite, mut browser, id_token) = logged_in().await;
    let url = suite.logout_url(&[
        ("id_token_hint", &spoil(&id_token)),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", &long_state()),
    ]);
    assert_not_redirected(&browser.get(&url).await);
}

#[tokio::test]
async fn rp_initiated_logout_modified_id_token_hint() {
    // The same claims, re-encoded with alg none and no signature.
    logout_with_hint(|hint| {
        let payload = hint.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        format!("{header}.{payload}.")
    })
    .await;
}

#[tokio::test]
async fn rp_initiated_logout_bad_id_token_hint() {
    // The same header and claims, signed by a key that is not the OP's.
    logout_with_hint(|hint| {
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&jwt_part(hint, 0)).unwrap());
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&jwt_part(hint, 1)).unwrap());
        let input = format!("{header}.{payload}");
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    })
    .await;
}

#[tokio::test]
async fn rp_initiated_logout_no_id_token_hint() {
    let (suite, mut browser, _) = logged_in().await;
    let url = suite.logout_url(&[
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", &long_state()),
    ]);
    assert_not_redirected(&browser.get(&url).await);
}

#[tokio::test]
async fn rp_initiated_logout_no_params() {
    let (suite, mut browser, _) = logged_in().await;
    let answer = browser.get(&suite.logout_url(&[])).await;
    assert_confirmed_then_logged_out(&suite, &mut browser, &answer).await;
}

#[tokio::test]
async fn rp_initiated_logout_no_post_logout_redirect_uri() {
    let (suite, mut browser, id_token) = logged_in().await;
    let url = suite.logout_url(&[("id_token_hint", &id_token), ("state", &long_state())]);
    let answer = browser.get(&url).await;
    assert_logged_out_page(&suite, &mut browser, &answer).await;
}

#[tokio::test]
async fn rp_initiated_logout_only_state() {
    let (suite, mut browser, _) = logged_in().await;
    let answer = browser
        .get(&suite.logout_url(&[("state", &long_state())]))
        .await;
    assert_confirmed_then_logged_out(&suite, &mut browser, &answer).await;
}

#[tokio::test]
async fn rp_initiated_logout_no_state() {
    let (suite, mut browser, id_token) = logged_in().await;
    let url = suite.logout_url(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", POST_LOGOUT),
    ]);
    let answer = browser.get(&url).await;
    assert_redirected(&answer, None);
    assert_logged_out(&suite, &mut browser).await;
}
