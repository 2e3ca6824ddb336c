//! Regressions from the adversarial review of issue 6 (items 10, 11 and 7 of
//! the DESIGN rules): each attack once broke a guarantee over HTTP, and each
//! test fails if it works again — a finished interaction brought back by a
//! late sign-in, `max_age` skipped by a slow consent, a session brought back
//! by a request racing its logout, a logout forced by a GET link.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::TestServer;
use common::browser::{Browser, Seen};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::sync::Barrier;

const ADA: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "https://app.example/cb";
const VERIFIER: &str = "a-fixed-pkce-verifier-that-is-long-enough-for-rfc-7636";

async fn seed_user(server: &TestServer, email: &str) -> String {
    let new = serde_json::from_value(json!({"email": email, "password": PASSWORD})).unwrap();
    gatehouse::users::create(
        &server.state.store,
        &server.state.passwords,
        server.clock.now(),
        new,
    )
    .await
    .unwrap()
    .id
}

async fn web_app(server: &TestServer, extra: Value) -> (String, String) {
    let mut spec = json!({"client_name": "Reports", "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [CALLBACK], "scope": "openid profile email"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (id, secret) = server.seed_client(spec).await;
    (id, secret.unwrap())
}

fn challenge() -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

fn authorize_url(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid")
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge())
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        url.query_pairs_mut().append_pair(name, value);
    }
    url.to_string()
}

async fn redeem(server: &TestServer, client: &(String, String), code: &str) -> Value {
    let response = server
        .post_form(
            "/token",
            Some((&client.0, &client.1)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    common::json_body(response, StatusCode::OK).await
}

fn id_claims(tokens: &Value) -> Value {
    let token = tokens["id_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn cookie_header(browser: &Browser) -> String {
    browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// Once broken: `pending::advance` is a blind `put`. A sign-in that loaded the
/// interaction at its sign-in step and finishes after the interaction was
/// completed (consented, code issued, record taken) writes the record back,
/// so the finished interaction comes back to life at a consent step bound to
/// the late session, and a second code is issued for the same authorization
/// request ("the code is issued at most once per interaction").
#[tokio::test]
async fn a_late_sign_in_never_brings_back_a_finished_interaction() {
    // One hashing slot and a real argon2 cost, so the parallel sign-ins finish
    // one after another (a slow hasher under load does the same).
    let server = TestServer::start_with(|c| {
        c.password_hash_concurrency = 1;
        c.argon2_memory_kib = 32 * 1024;
        c.argon2_iterations = 2;
    })
    .await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await; // third-party: consent needed
    let mut browser = Browser::new();
    // prompt=consent: every sign-in for this interaction goes on to a consent step.
    let page = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "consent")]))
        .await;
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let cookie = cookie_header(&browser);

    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let mut logins = Vec::new();
    for _ in 0..N {
        let (barrier, cookie, url, tx) = (
            barrier.clone(),
            cookie.clone(),
            server.url("/login"),
            tx.clone(),
        );
        let form = [
            ("request", request.clone()),
            ("csrf", csrf.clone()),
            ("email", ADA.to_owned()),
            ("password", PASSWORD.to_owned()),
        ];
        logins.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = no_redirects()
                .post(url)
                .header(COOKIE, &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            // The session cookie this sign-in set, plus the CSRF cookie.
            let session = response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("; ");
            let body = response.text().await.unwrap();
            let _ = tx.send((format!("{cookie}; {session}"), body));
        }));
    }
    drop(tx);

    // As soon as the first consent page is back, answer it: the code for the
    // interaction is issued and the pending record is taken.
    let mut codes = Vec::new();
    let mut later = Vec::new();
    let mut first = true;
    while let Some((cookie, body)) = rx.recv().await {
        if first && body.contains("name=\"decision\"") {
            first = false;
            let answer = no_redirects()
                .post(server.url("/consent"))
                .header(COOKIE, &cookie)
                .form(&[
                    ("request", field(&body, "request").unwrap()),
                    ("csrf", csrf.clone()),
                    ("decision", "allow".to_owned()),
                ])
                .send()
                .await
                .unwrap();
            let location = answer
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert!(location.contains("code="), "first consent: {location}");
            codes.push(location);
        } else if body.contains("name=\"decision\"") {
            later.push(cookie);
        }
    }
    for login in logins {
        login.await.unwrap();
    }
    eprintln!(
        "{} later sign-ins got a consent page after the code was issued",
        later.len()
    );
    // Every later session whose consent page came back now tries to answer it.
    for cookie in later {
        let answer = no_redirects()
            .post(server.url("/consent"))
            .header(COOKIE, &cookie)
            .form(&[
                ("request", request.clone()),
                ("csrf", csrf.clone()),
                ("decision", "allow".to_owned()),
            ])
            .send()
            .await
            .unwrap();
        if let Some(location) = answer.headers().get(LOCATION) {
            let location = location.to_str().unwrap().to_owned();
            if location.contains("code=") {
                codes.push(location);
            }
        }
    }
    for (n, location) in codes.iter().enumerate() {
        let code = url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let tokens = redeem(&server, &client, &code).await;
        eprintln!("code {n} redeemed: sub {}", id_claims(&tokens)["sub"]);
    }
    assert_eq!(
        codes.len(),
        1,
        "one authorization request (one pending id) produced {} codes: {codes:?}",
        codes.len()
    );
}

/// Once broken: `max_age` (and `prompt=login`) are checked only when the request
/// enters `/authorize` or right after the sign-in; the consent step carries
/// the session's `auth_time` along and `Settled::Consented` skips the check.
/// A consent page left open for 10 minutes under `max_age=60` yields a code
/// whose ID token says the person authenticated 630 s earlier.
#[tokio::test]
async fn max_age_is_checked_again_when_consent_completes_later() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    let consent = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert!(
        consent.body.contains("name=\"decision\""),
        "{}",
        consent.body
    );
    let back = browser.consent(&server.base, &consent, "allow").await;
    assert!(back.redirect_param("code").is_some());

    // 30 s later the app asks again with max_age=60 (and for consent again).
    server.clock.advance(30);
    let page = browser
        .get(&authorize_url(
            &server,
            &client.0,
            &[("max_age", "60"), ("prompt", "consent")],
        ))
        .await;
    assert!(
        page.body.contains("name=\"decision\""),
        "no sign-in needed yet: {}",
        page.body
    );
    // The person leaves the consent tab open for ten minutes.
    server.clock.advance(600);
    let back: Seen = browser.consent(&server.base, &page, "allow").await;
    if back.location.is_none() {
        // Re-authentication demanded: the sign-in page, and then a fresh sign-in
        // yields a code whose auth_time is within max_age.
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
        assert!(back.body.contains("name=\"password\""), "{}", back.body);
        let mut after = browser.sign_in(&server.base, &back, ADA, PASSWORD).await;
        if after.body.contains("name=\"decision\"") {
            // prompt=consent asks again, now from the fresh sign-in.
            after = browser.consent(&server.base, &after, "allow").await;
        }
        let code = after
            .redirect_param("code")
            .expect("a code after the fresh sign-in");
        let claims = id_claims(&redeem(&server, &client, &code).await);
        let age = claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap();
        assert!(age <= 60, "{claims}");
        return;
    }
    let code = back.redirect_param("code").expect("a code");
    let claims = id_claims(&redeem(&server, &client, &code).await);
    let age = claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap();
    assert!(
        age <= 60,
        "max_age=60 but the ID token's auth_time is {age} s before its iat: {claims}"
    );
}

/// Once broken (rule 7, item 11): logout takes the session record out of the cache
/// (`session::end`, GETDEL), but `session::current` is get → check the account
/// in the database → put back with a new `last_seen`. A request of the same
/// cookie that read the session before the logout's take and writes it after
/// puts the ended session back: the cookie works again after a successful
/// logout (a stolen cookie outlives the victim's sign-out).
#[tokio::test]
async fn a_request_racing_logout_never_brings_the_session_back() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    const ROUNDS: usize = 10;
    const RACERS: usize = 6;
    let mut revived = 0;
    for round in 0..ROUNDS {
        let mut browser = Browser::new();
        let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
        let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
        assert!(back.redirect_param("code").is_some(), "{}", back.body);
        let csrf = browser.cookies["gatehouse_csrf"].clone();
        let cookie = cookie_header(&browser);
        // A minute later (so the next use refreshes last_seen)...
        server.clock.advance(61);
        let barrier = Arc::new(Barrier::new(RACERS + 1));
        let mut tasks = Vec::new();
        {
            let (barrier, cookie, url, csrf) = (
                barrier.clone(),
                cookie.clone(),
                server.url("/logout"),
                csrf.clone(),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = no_redirects()
                    .post(url)
                    .header(COOKIE, cookie)
                    .form(&[("csrf", csrf)])
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.text().await.unwrap();
                assert!(body.contains("signed out"), "logout: {status} {body}");
            }));
        }
        for _ in 0..RACERS {
            let (barrier, cookie, url) = (
                barrier.clone(),
                cookie.clone(),
                authorize_url(&server, &client.0, &[("prompt", "none")]),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let _ = no_redirects()
                    .get(url)
                    .header(COOKIE, cookie)
                    .send()
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // The logout answered "signed out". Does the cookie still sign in?
        let after = no_redirects()
            .get(authorize_url(&server, &client.0, &[("prompt", "none")]))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let location = after
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        if location.contains("code=") {
            revived += 1;
            eprintln!("round {round}: the session survived its logout");
        }
    }
    assert_eq!(
        revived, 0,
        "{revived} of {ROUNDS} logouts raced by {RACERS} requests left the session alive"
    );
}

/// ATTACK (item 11: "a confirmation page whose button is a CSRF-protected
/// POST"): the confirmation is accepted on GET as well, and the CSRF token is
/// one long-lived browser-wide value that `csrf::token` adopts from any
/// cookie of the right length. On an http issuer (no `__Host-` prefix, by
/// item 12) a page that can set a cookie for the host (a sibling subdomain, a
/// network attacker on plain http) fixes the token in advance; afterwards a
/// plain top-level link, which carries the Lax session cookie, signs the
/// person out with no click on the button.
#[tokio::test]
async fn a_get_link_with_a_planted_csrf_token_never_signs_out() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let mut browser = Browser::new();
    // Cookie tossing: the attacker's value is in the jar before the sign-in.
    let fixed = "A".repeat(43);
    browser
        .cookies
        .insert("gatehouse_csrf".into(), fixed.clone());
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    assert_eq!(
        page.field("csrf"),
        fixed,
        "the server adopted the fixed token"
    );
    let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);

    // The attacker's page links to /logout?csrf=<fixed> (a GET navigation).
    let forced = browser
        .get(&format!("{}?csrf={fixed}", server.url("/logout")))
        .await;
    let still = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "none")]))
        .await;
    assert!(
        still.redirect_param("code").is_some(),
        "a GET link signed the person out without the button ({}: {})",
        forced.status,
        &forced.body[..forced.body.len().min(200)]
    );
}
