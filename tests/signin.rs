//! Sign-in through the authorization code flow, driven over HTTP with the
//! `openidconnect` crate as the relying party and a cookie-keeping client as
//! the browser: ID tokens, PKCE, userinfo, refresh rotation, logout, and the
//! negative cases of DESIGN.md rules 3–10.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{Browser, Seen, rp_http};
use common::{TestServer, json_body};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "https://app.example/cb";

async fn seed_user(server: &TestServer) -> String {
    server
        .seed_user(
            json!({"email": EMAIL, "password": PASSWORD, "name": "Ada Lovelace",
        "preferred_username": "ada", "email_verified": true}),
        )
        .await
}

async fn web_app(server: &TestServer, extra: Value) -> (String, Option<String>) {
    let mut spec = json!({"client_name": "Reports", "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [CALLBACK], "post_logout_redirect_uris": ["https://app.example/bye"],
        "scope": "openid profile email offline_access"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    server.seed_client(spec).await
}

async fn relying_party(server: &TestServer, id: &str, secret: Option<String>) -> Rp {
    let provider = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &rp_http,
    )
    .await
    .unwrap();
    CoreClient::from_provider_metadata(
        provider,
        ClientId::new(id.to_owned()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap())
}

struct Started {
    url: String,
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

fn start(rp: &Rp, scopes: &[&str]) -> Started {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).to_owned()));
    }
    let (url, state, nonce) = request.url();
    Started {
        url: url.to_string(),
        state,
        nonce,
        verifier,
    }
}

/// Signs in through the pages (consenting if asked); returns the redirect back to the app.
async fn sign_in(server: &TestServer, browser: &mut Browser, url: &str) -> Seen {
    let page = browser.get(url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Sign in"));
    let next = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    if next.status == StatusCode::OK && next.body.contains("name=\"decision\"") {
        return browser.consent(&server.base, &next, "allow").await;
    }
    next
}

async fn exchange(rp: &Rp, back: &Seen, started: Started) -> CoreTokenResponse {
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    assert_eq!(
        back.redirect_param("state").as_deref(),
        Some(started.state.secret().as_str())
    );
    let code = back.redirect_param("code").expect("a code");
    rp.exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(started.verifier)
        .request_async(&rp_http)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_confidential_web_app_signs_a_person_in_end_to_end() {
    let server = TestServer::start().await;
    let user_id = seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;
    let started = start(&rp, &["profile", "email", "offline_access"]);
    let nonce = started.nonce.clone();

    let mut browser = Browser::new();
    let page = browser.get(&started.url).await;
    let consent = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert!(
        consent.body.contains("Reports") && consent.body.contains("See your email address"),
        "{}",
        consent.body
    );
    let back = browser.consent(&server.base, &consent, "allow").await;
    assert!(back.location.as_ref().unwrap().starts_with(CALLBACK));
    assert_eq!(
        back.redirect_param("iss").as_deref(),
        Some(server.base.as_str()),
        "RFC 9207 iss"
    );
    let tokens = exchange(&rp, &back, started).await;

    let id_token = tokens.id_token().expect("an ID token");
    let verifier = rp.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), user_id);
    assert!(claims.auth_time().is_some());
    let at_hash = claims.access_token_hash().expect("at_hash");
    let computed = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&computed, at_hash);
    let raw: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            id_token.to_string().split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    for claim in ["sid", "amr", "acr", "auth_time"] {
        assert!(raw.get(claim).is_some(), "ID token lacks {claim}: {raw}");
    }
    assert!(
        raw.get("email").is_none(),
        "profile claims belong to userinfo"
    );

    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    assert_eq!(info.subject().as_str(), user_id);
    assert_eq!(info.email().unwrap().as_str(), EMAIL);
    assert_eq!(info.email_verified(), Some(true));
    assert_eq!(info.preferred_username().unwrap().as_str(), "ada");

    let refresh = tokens
        .refresh_token()
        .expect("a refresh token with offline_access")
        .clone();
    let refreshed = rp
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&rp_http)
        .await
        .unwrap();
    let rotated = refreshed.refresh_token().unwrap();
    assert_ne!(rotated.secret(), refresh.secret(), "refresh tokens rotate");
    let new_claims = refreshed
        .id_token()
        .unwrap()
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .unwrap();
    assert_eq!(
        new_claims.auth_time(),
        claims.auth_time(),
        "a refresh keeps auth_time"
    );

    // Consent is remembered: the next sign-in goes straight back to the app.
    let again = start(&rp, &["profile", "email"]);
    let back = browser.get(&again.url).await;
    assert_eq!(
        back.status,
        StatusCode::FOUND,
        "signed in and consented: no page"
    );
    exchange(&rp, &back, again).await;
}

#[tokio::test]
async fn a_public_mobile_app_needs_pkce_and_a_first_party_app_skips_consent() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(
        &server,
        json!({"client_type": "public", "first_party": true}),
    )
    .await;
    assert!(secret.is_none());
    let rp = relying_party(&server, &id, None).await;

    let without_pkce = format!(
        "{}/authorize?response_type=code&client_id={id}&redirect_uri={CALLBACK}&scope=openid&state=s1",
        server.base
    );
    let mut browser = Browser::new();
    let refused = browser.get(&without_pkce).await;
    assert_eq!(
        refused.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(refused.redirect_param("state").as_deref(), Some("s1"));

    let started = start(&rp, &["email"]);
    let back = sign_in(&server, &mut browser, &started.url).await;
    let tokens = exchange(&rp, &back, started).await;
    assert!(tokens.id_token().is_some());
}

async fn signed_in_code(server: &TestServer, rp: &Rp, scopes: &[&str]) -> (Browser, Seen, Started) {
    let started = start(rp, scopes);
    let mut browser = Browser::new();
    let back = sign_in(server, &mut browser, &started.url).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    (browser, back, started)
}

async fn token_request(
    server: &TestServer,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    server.post_form("/token", Some((id, secret)), form).await
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_the_first_redemption_issued() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let rp = relying_party(&server, &id, Some(secret.clone())).await;
    let (_, back, started) = signed_in_code(&server, &rp, &["offline_access"]).await;
    let code = back.redirect_param("code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", started.verifier.secret().as_str()),
    ];

    let first = json_body(
        token_request(&server, &id, &secret, &form).await,
        StatusCode::OK,
    )
    .await;
    let access = first["access_token"].as_str().unwrap();
    let replay = token_request(&server, &id, &secret, &form).await;
    assert_eq!(
        json_body(replay, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );

    let introspected = server
        .post_form("/introspect", Some((&id, &secret)), &[("token", access)])
        .await;
    assert_eq!(
        json_body(introspected, StatusCode::OK).await,
        json!({"active": false})
    );
    let refresh = first["refresh_token"].as_str().unwrap();
    let refreshed = token_request(
        &server,
        &id,
        &secret,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        json_body(refreshed, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );
    let events = server.state.store.recent_audit(5, None).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "authorization_code_replay"));
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_or_redirect_uri_fails_with_invalid_grant() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let rp = relying_party(&server, &id, Some(secret.clone())).await;
    for form_of in [
        |code: &str, _: &str| {
            vec![
                ("code", code.to_owned()),
                ("redirect_uri", CALLBACK.to_owned()),
                ("code_verifier", "x".repeat(43)),
            ]
        },
        |code: &str, _: &str| {
            vec![
                ("code", code.to_owned()),
                ("redirect_uri", CALLBACK.to_owned()),
            ]
        },
        |code: &str, verifier: &str| {
            vec![
                ("code", code.to_owned()),
                ("redirect_uri", "https://app.example/other".to_owned()),
                ("code_verifier", verifier.to_owned()),
            ]
        },
    ] {
        let (_, back, started) = signed_in_code(&server, &rp, &[]).await;
        let code = back.redirect_param("code").unwrap();
        let mut form: Vec<(&str, String)> = form_of(&code, started.verifier.secret());
        form.push(("grant_type", "authorization_code".to_owned()));
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = token_request(&server, &id, &secret, &form).await;
        assert_eq!(
            json_body(refused, StatusCode::BAD_REQUEST).await["error"],
            "invalid_grant"
        );
    }
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_gets_an_error_page_never_a_redirect() {
    let server = TestServer::start().await;
    let (id, _) = web_app(&server, json!({})).await;
    let mut browser = Browser::new();
    for url in [
        format!(
            "{}/authorize?response_type=code&client_id={id}&redirect_uri=https://evil.example/cb&scope=openid&state=x",
            server.base
        ),
        format!(
            "{}/authorize?response_type=code&client_id={id}&redirect_uri={CALLBACK}/extra&scope=openid",
            server.base
        ),
        format!(
            "{}/authorize?response_type=code&client_id=nobody&redirect_uri={CALLBACK}&scope=openid",
            server.base
        ),
        format!(
            "{}/authorize?client_id={id}&client_id={id}&redirect_uri={CALLBACK}",
            server.base
        ),
    ] {
        let page = browser.get(&url).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{url}");
        assert!(page.location.is_none(), "must never redirect: {url}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_the_whole_family() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let rp = relying_party(&server, &id, Some(secret.clone())).await;
    let (_, back, started) = signed_in_code(&server, &rp, &["offline_access"]).await;
    let tokens = exchange(&rp, &back, started).await;
    let first = tokens.refresh_token().unwrap().secret().clone();

    let rotated = json_body(
        token_request(
            &server,
            &id,
            &secret,
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let newest_access = rotated["access_token"].as_str().unwrap().to_owned();

    let reuse = token_request(
        &server,
        &id,
        &secret,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(
        json_body(reuse, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );
    let after = token_request(
        &server,
        &id,
        &secret,
        &[("grant_type", "refresh_token"), ("refresh_token", &second)],
    )
    .await;
    assert_eq!(
        json_body(after, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant",
        "the whole family is revoked"
    );
    let userinfo = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(&newest_access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    let events = server.state.store.recent_audit(5, None).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "refresh_token_reuse"));

    // Narrowing is allowed, widening is not; another client's token is refused without burning it.
    let (_, back, started) = signed_in_code(&server, &rp, &["email"]).await;
    let fresh = exchange(&rp, &back, started)
        .await
        .refresh_token()
        .unwrap()
        .secret()
        .clone();
    let wider = token_request(
        &server,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &fresh),
            ("scope", "openid email profile"),
        ],
    )
    .await;
    assert_eq!(
        json_body(wider, StatusCode::BAD_REQUEST).await["error"],
        "invalid_scope"
    );
    let (other, other_secret) = web_app(&server, json!({"first_party": true})).await;
    let stolen = token_request(
        &server,
        &other,
        &other_secret.unwrap(),
        &[("grant_type", "refresh_token"), ("refresh_token", &fresh)],
    )
    .await;
    assert_eq!(
        json_body(stolen, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );
    let narrower = token_request(
        &server,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &fresh),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(json_body(narrower, StatusCode::OK).await["scope"], "openid");
}

#[tokio::test]
async fn logout_ends_the_session_and_its_online_refresh_tokens() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let rp = relying_party(&server, &id, Some(secret.clone())).await;
    let (mut browser, back, started) = signed_in_code(&server, &rp, &[]).await;
    let online = exchange(&rp, &back, started).await;
    let offline_start = start(&rp, &["offline_access"]);
    let back = browser.get(&offline_start.url).await;
    let offline = exchange(&rp, &back, offline_start).await;

    let hint = online.id_token().unwrap().to_string();
    let logout = browser
        .get(&format!("{}/logout?id_token_hint={hint}&post_logout_redirect_uri=https://app.example/bye&state=st4te", server.base))
        .await;
    assert_eq!(logout.status, StatusCode::FOUND);
    assert_eq!(
        logout.location.as_deref(),
        Some("https://app.example/bye?state=st4te")
    );

    let silent = start(&rp, &[]);
    let after = browser.get(&format!("{}&prompt=none", silent.url)).await;
    assert_eq!(
        after.redirect_param("error").as_deref(),
        Some("login_required")
    );
    assert_eq!(
        after.redirect_param("state").as_deref(),
        Some(silent.state.secret().as_str())
    );

    let dead = token_request(
        &server,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", online.refresh_token().unwrap().secret()),
        ],
    )
    .await;
    assert_eq!(
        json_body(dead, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );
    let alive = token_request(
        &server,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", offline.refresh_token().unwrap().secret()),
        ],
    )
    .await;
    assert_eq!(
        alive.status(),
        StatusCode::OK,
        "offline_access outlives the session"
    );

    let unverified = browser
        .get(&format!(
            "{}/logout?post_logout_redirect_uri=https://app.example/bye",
            server.base
        ))
        .await;
    assert!(
        unverified.location.is_none(),
        "no redirect without proof of the client"
    );
    let forged = browser.get(&format!("{}/logout?id_token_hint=eyJhbGciOiJub25lIn0.e30.&post_logout_redirect_uri=https://app.example/bye", server.base)).await;
    assert!(forged.location.is_none());
    let plain = browser.get(&format!("{}/logout", server.base)).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.body.contains("signed out"));
}

#[tokio::test]
async fn prompt_none_without_a_session_returns_login_required() {
    let server = TestServer::start().await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;
    let started = start(&rp, &[]);
    let mut browser = Browser::new();
    let back = browser.get(&format!("{}&prompt=none", started.url)).await;
    assert_eq!(back.status, StatusCode::FOUND);
    assert_eq!(
        back.redirect_param("error").as_deref(),
        Some("login_required")
    );
    assert_eq!(
        back.redirect_param("iss").as_deref(),
        Some(server.base.as_str())
    );
    assert!(back.redirect_param("code").is_none());
}

#[tokio::test]
async fn max_age_zero_and_prompt_login_force_a_new_sign_in_with_a_new_session_id() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let rp = relying_party(&server, &id, secret).await;
    let (mut browser, back, started) = signed_in_code(&server, &rp, &[]).await;
    let first = exchange(&rp, &back, started).await;
    let first_auth_time = first
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .unwrap()
        .auth_time()
        .unwrap();
    let session_before = browser
        .cookies
        .iter()
        .find(|(k, _)| k.contains("session"))
        .unwrap()
        .1
        .clone();

    server.clock.advance(5);
    for extra in ["&max_age=0", "&prompt=login"] {
        let started = start(&rp, &[]);
        let page = browser.get(&format!("{}{extra}", started.url)).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{extra} must show the sign-in page"
        );
        assert!(page.body.contains("Sign in"));
        let back = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
        let nonce = started.nonce.clone();
        let tokens = exchange(&rp, &back, started).await;
        let claims = tokens
            .id_token()
            .unwrap()
            .claims(&rp.id_token_verifier(), &nonce)
            .unwrap();
        assert!(claims.auth_time().unwrap() > first_auth_time);
    }
    let session_after = browser
        .cookies
        .iter()
        .find(|(k, _)| k.contains("session"))
        .unwrap()
        .1
        .clone();
    assert_ne!(
        session_before, session_after,
        "the session id is regenerated at sign-in"
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;
    let mut browser = Browser::new();
    let page = browser.get(&start(&rp, &[]).url).await;
    let wrong = browser
        .sign_in(&server.base, &page, EMAIL, "not the password")
        .await;
    let page = browser.get(&start(&rp, &[]).url).await;
    let unknown = browser
        .sign_in(
            &server.base,
            &page,
            "nobody@example.com",
            "not the password",
        )
        .await;
    assert_eq!(wrong.status, unknown.status);
    assert!(
        wrong.body.contains("Incorrect email or password.")
            && unknown.body.contains("Incorrect email or password.")
    );
    assert!(!wrong.body.contains(PASSWORD));
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;
    let mut browser = Browser::new();
    let page = browser.get(&start(&rp, &[]).url).await;
    let request = page.field("request");
    let forged = browser
        .post(
            &format!("{}/login", server.base),
            &[
                ("request", &request),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut other_browser = Browser::new();
    let csrf = page.field("csrf");
    let cross_site = other_browser
        .post(
            &format!("{}/login", server.base),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", EMAIL),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        cross_site.status,
        StatusCode::FORBIDDEN,
        "the token must match this browser's cookie"
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_per_account() {
    let server = TestServer::start_with(|c| c.login_attempts_per_account = 3).await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;
    let mut browser = Browser::new();
    let page = browser.get(&start(&rp, &[]).url).await;
    for _ in 0..3 {
        let failed = browser.sign_in(&server.base, &page, EMAIL, "wrong").await;
        assert_eq!(failed.status, StatusCode::OK);
    }
    let refused = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits out the window"
    );
}

#[tokio::test]
async fn form_post_mode_answers_with_an_auto_submitting_form() {
    let server = TestServer::start().await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;
    let started = start(&rp, &[]);
    let mut browser = Browser::new();
    let page = browser
        .get(&format!(
            "{}&prompt=none&response_mode=form_post",
            started.url
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.location.is_none());
    assert!(
        page.body.contains(&format!("action=\"{CALLBACK}\""))
            || page
                .body
                .contains("action=\"https:&#x2f;&#x2f;app.example&#x2f;cb\""),
        "{}",
        page.body
    );
    assert_eq!(page.field("error"), "login_required");
    assert_eq!(page.field("state"), started.state.secret().as_str());
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://app.example") && csp.contains("script-src 'self'"),
        "{csp}"
    );
}

#[tokio::test]
async fn userinfo_refuses_tokens_without_a_person_or_openid() {
    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("reports:read").await;
    let machine = server.token(&id, &secret, None).await;
    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let anonymous = server
        .http
        .post(server.url("/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Signs in with offline access; returns the browser, the RP and the tokens.
async fn signed_in_offline(
    server: &TestServer,
    id: &str,
    secret: &str,
) -> (Browser, Rp, CoreTokenResponse) {
    let rp = relying_party(server, id, Some(secret.to_owned())).await;
    let (browser, back, started) = signed_in_code(server, &rp, &["offline_access"]).await;
    let tokens = exchange(&rp, &back, started).await;
    (browser, rp, tokens)
}

async fn assert_signed_out_everywhere(
    server: &TestServer,
    browser: &mut Browser,
    rp: &Rp,
    tokens: &CoreTokenResponse,
    id: &str,
    secret: &str,
) {
    let refresh = tokens.refresh_token().unwrap().secret();
    let refused = token_request(
        server,
        id,
        secret,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        json_body(refused, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant",
        "offline refresh tokens end too"
    );
    let userinfo = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(
        userinfo.status(),
        StatusCode::UNAUTHORIZED,
        "access tokens stop working at once"
    );
    let silent = start(rp, &[]);
    let after = browser.get(&format!("{}&prompt=none", silent.url)).await;
    assert_eq!(
        after.redirect_param("error").as_deref(),
        Some("login_required"),
        "the session is over"
    );
}

#[tokio::test]
async fn a_password_change_by_an_admin_ends_sessions_and_every_token() {
    let server = TestServer::start().await;
    let user_id = seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let (mut browser, rp, tokens) = signed_in_offline(&server, &id, &secret).await;

    server.clock.advance(1);
    let admin = server.admin_token().await;
    let changed = server
        .http
        .patch(server.url(&format!("/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&json!({"password": "a brand new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_signed_out_everywhere(&server, &mut browser, &rp, &tokens, &id, &secret).await;
    let events = server.state.store.recent_audit(5, None).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "user_signed_out_everywhere")
    );
}

#[tokio::test]
async fn disabling_a_user_from_the_cli_ends_their_sessions_and_tokens() {
    let server = TestServer::start().await;
    let user_id = seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let (mut browser, rp, tokens) = signed_in_offline(&server, &id, &secret).await;

    server.clock.advance(1);
    let disabled = server.cli(&["user", "disable", &user_id, "--json"]);
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    assert_signed_out_everywhere(&server, &mut browser, &rp, &tokens, &id, &secret).await;
}

#[tokio::test]
async fn a_sign_in_flood_beyond_the_hashing_queue_is_shed_with_503() {
    let server = TestServer::start_with(|c| {
        c.password_hash_concurrency = 1;
        c.password_hash_queue = 0;
        c.argon2_memory_kib = 19_456;
        c.argon2_iterations = 2;
    })
    .await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({})).await;
    let rp = relying_party(&server, &id, secret).await;

    // Load every sign-in page first, then submit all at once, so the attempts overlap.
    let mut ready = Vec::new();
    for _ in 0..12 {
        let mut browser = Browser::new();
        let page = browser.get(&start(&rp, &[]).url).await;
        ready.push((browser, page));
    }
    let attempts: Vec<_> = ready
        .into_iter()
        .map(|(mut browser, page)| {
            let base = server.base.clone();
            tokio::spawn(async move {
                browser
                    .sign_in(&base, &page, "nobody@example.com", "wrong")
                    .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        let seen = attempt.await.unwrap();
        if seen.status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(seen.headers["retry-after"], "1");
        }
        statuses.push(seen.status);
    }
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::OK),
        "some attempts are still answered: {statuses:?}"
    );
}

#[tokio::test]
async fn idle_sessions_and_idle_refresh_tokens_expire() {
    let server = TestServer::start_with(|c| {
        c.session_idle_timeout_secs = 600;
        c.refresh_token_idle_ttl_secs = 900;
    })
    .await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let secret = secret.unwrap();
    let (mut browser, rp, tokens) = signed_in_offline(&server, &id, &secret).await;

    server.clock.advance(601);
    let silent = start(&rp, &[]);
    let after = browser.get(&format!("{}&prompt=none", silent.url)).await;
    assert_eq!(
        after.redirect_param("error").as_deref(),
        Some("login_required"),
        "an idle session ends"
    );

    server.clock.advance(300);
    let refresh = tokens.refresh_token().unwrap().secret();
    let expired = token_request(
        &server,
        &id,
        &secret,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        json_body(expired, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant",
        "an idle refresh token expires"
    );
}

#[tokio::test]
async fn only_failures_count_toward_the_per_address_limit() {
    let server = TestServer::start_with(|c| c.login_attempts_per_ip = 2).await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let rp = relying_party(&server, &id, secret).await;
    for _ in 0..4 {
        let (_, back, _) = signed_in_code(&server, &rp, &[]).await;
        assert!(
            back.redirect_param("code").is_some(),
            "people signing in from one address are not refused"
        );
    }
    let mut browser = Browser::new();
    for stranger in ["a@example.com", "b@example.com"] {
        let page = browser.get(&start(&rp, &[]).url).await;
        assert_eq!(
            browser
                .sign_in(&server.base, &page, stranger, "guess")
                .await
                .status,
            StatusCode::OK
        );
    }
    let page = browser.get(&start(&rp, &[]).url).await;
    let refused = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "failures across accounts from one address are limited"
    );
}

#[tokio::test]
async fn pkce_plain_is_refused() {
    let server = TestServer::start().await;
    let (id, _) = web_app(&server, json!({"client_type": "public"})).await;
    let mut browser = Browser::new();
    let plain = browser
        .get(&format!(
            "{}/authorize?response_type=code&client_id={id}&redirect_uri={CALLBACK}&scope=openid&state=p\
             &code_challenge={}&code_challenge_method=plain",
            server.base,
            "a".repeat(43)
        ))
        .await;
    assert_eq!(
        plain.redirect_param("error").as_deref(),
        Some("invalid_request")
    );
    assert!(plain.redirect_param("code").is_none());
}

fn sha256_b64(value: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[tokio::test]
async fn session_ids_and_codes_are_kept_only_as_hashes_and_codes_expire() {
    let server = TestServer::start().await;
    seed_user(&server).await;
    let (id, secret) = web_app(&server, json!({"first_party": true})).await;
    let rp = relying_party(&server, &id, secret).await;
    let (browser, back, started) = signed_in_code(&server, &rp, &[]).await;

    let session = browser
        .cookies
        .iter()
        .find(|(k, _)| k.contains("session"))
        .unwrap()
        .1
        .clone();
    assert!(
        server
            .state
            .cache
            .get(&format!("session:{session}"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        server
            .state
            .cache
            .get(&format!("session:{}", sha256_b64(&session)))
            .await
            .unwrap()
            .is_some()
    );
    let code = back.redirect_param("code").unwrap();
    assert!(
        server
            .state
            .cache
            .get(&format!("code:{code}"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        server
            .state
            .cache
            .get(&format!("code:{}", sha256_b64(&code)))
            .await
            .unwrap()
            .is_some()
    );

    server.clock.advance(61);
    let late = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(started.verifier)
        .request_async(&rp_http)
        .await;
    assert!(late.is_err(), "a code older than 60 s must not work");
}
