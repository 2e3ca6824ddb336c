//! Passkeys over real HTTP, on whichever backend the suite runs on, with a
//! software authenticator ([`common::authenticator`]) whose every part can be
//! falsified: registered in the account area, signing in with no email typed,
//! passing the second factor after a password, and a passkey-only account.
//! Refused: another origin, another relying-party id, no user verification,
//! a replayed or superseded challenge, a counter that goes backwards (audited),
//! another person's passkey at the second factor, the same answer twice at
//! once, and removing the last way in — also by two removals racing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::TestServer;
use common::authenticator::SoftAuthenticator;
use common::browser::{Browser, Seen};
use common::flow::{self, EMAIL, PASSWORD, post_account};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Barrier;

const VERIFIER: &str = "a-pkce-verifier-of-more-than-forty-three-characters";

/// A server whose issuer is `http://localhost:<port>`: WebAuthn needs a
/// domain name as relying-party id (requests still go to 127.0.0.1).
async fn server() -> TestServer {
    TestServer::start_with(|config| config.issuer = config.issuer.replace("127.0.0.1", "localhost"))
        .await
}

fn origin(server: &TestServer) -> String {
    server.config.issuer.clone()
}

/// The value of the attribute `name` in the page, unescaped.
fn attribute(page: &Seen, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page:\n{}", page.body))
        + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A browser signed in with the password at the account's sign-in methods page.
async fn account(server: &TestServer) -> Browser {
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/account/security")).await;
    let back = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert_eq!(back.location.as_deref(), Some("/account/security"));
    browser
}

/// Adds a passkey of `authenticator` named `name` in `browser`'s account
/// (proving it with `password` when given); returns the page the browser
/// lands on.
async fn add_passkey(
    server: &TestServer,
    browser: &mut Browser,
    authenticator: &mut SoftAuthenticator,
    name: &str,
    password: Option<&str>,
) -> Seen {
    let security = browser.get(&server.url("/account/security")).await;
    let proof: Vec<(&str, &str)> = password.map(|p| ("password", p)).into_iter().collect();
    let begin = post_account(
        server,
        browser,
        "/account/security/passkeys/begin",
        &security,
        &proof,
    )
    .await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    let options: Value = serde_json::from_str(&attribute(&begin, "data-options")).unwrap();
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
    let credential = authenticator.register(&options).to_string();
    let done = post_account(
        server,
        browser,
        "/account/security/passkeys",
        &begin,
        &[("credential", &credential), ("name", name)],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    browser.get(&server.url("/account/security")).await
}

/// The options the page's passkey form asks for.
async fn options(server: &TestServer, browser: &mut Browser, page: &Seen) -> Value {
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let seen = browser
        .post(
            &server.url("/login/passkey/options"),
            &[("request", &request), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    serde_json::from_str(&seen.body).unwrap()
}

/// Posts `answer` to the page's passkey form.
async fn answer(server: &TestServer, browser: &mut Browser, page: &Seen, answer: &Value) -> Seen {
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let credential = answer.to_string();
    browser
        .post(
            &server.url("/login/passkey"),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("credential", &credential),
            ],
        )
        .await
}

/// A new browser at the app's sign-in page.
async fn sign_in_page(server: &TestServer, client_id: &str) -> (Browser, Seen) {
    let mut browser = Browser::new();
    let url = flow::authorize_url(server, client_id, "openid", VERIFIER);
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (browser, page)
}

fn refused(seen: &Seen) {
    assert_eq!(
        seen.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        seen.body
    );
    assert!(
        seen.headers
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().contains("session")),
        "no session for a refused passkey"
    );
}

#[tokio::test]
async fn a_passkey_signs_in_with_no_email_and_every_falsified_answer_is_refused() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    let listed = add_passkey(
        &server,
        &mut browser,
        &mut key,
        "Work laptop",
        Some(PASSWORD),
    )
    .await;
    assert!(listed.body.contains("Work laptop"), "{}", listed.body);
    assert!(listed.body.contains("not used yet"), "{}", listed.body);

    // The sign-in page offers passkeys, in autofill too, and runs our script.
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    assert!(
        page.body.contains("Sign in with a passkey"),
        "{}",
        page.body
    );
    assert!(page.body.contains("autocomplete=\"username webauthn\""));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let script = laptop.get(&server.url("/static/passkeys.js")).await;
    assert_eq!(script.status, StatusCode::OK);

    // Another origin, another relying party, no user verification: refused.
    for falsify in 0..3 {
        let mut forged = SoftAuthenticator::new(&origin(&server));
        std::mem::swap(&mut forged.credentials, &mut key.credentials);
        match falsify {
            0 => forged.origin = "http://localhost:1".into(),
            1 => forged.rp_id_override = Some("evil.example".into()),
            _ => forged.verifies_user = false,
        }
        let asked = options(&server, &mut laptop, &page).await;
        assert_eq!(asked["publicKey"]["rpId"], "localhost");
        let seen = answer(&server, &mut laptop, &page, &forged.authenticate(&asked)).await;
        refused(&seen);
        std::mem::swap(&mut forged.credentials, &mut key.credentials);
    }

    // A challenge superseded by a newer one, and one used already, fail.
    let first = options(&server, &mut laptop, &page).await;
    let stale = key.authenticate(&first);
    let second = options(&server, &mut laptop, &page).await;
    refused(&answer(&server, &mut laptop, &page, &stale).await);
    let used_up = answer(&server, &mut laptop, &page, &key.authenticate(&second)).await;
    refused(&used_up);
    assert!(used_up.body.contains("expired"), "{}", used_up.body);

    // A current answer signs in: the ID token says a device-bound passkey
    // with user verification.
    let now = options(&server, &mut laptop, &page).await;
    let good = key.authenticate(&now);
    let signed_in = answer(&server, &mut laptop, &page, &good).await;
    let claims = flow::id_token_after(&server, &app, &mut laptop, signed_in, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));

    // The same answer at a new page fails.
    let (mut other, page) = sign_in_page(&server, &app.0).await;
    options(&server, &mut other, &page).await;
    refused(&answer(&server, &mut other, &page, &good).await);

    // A counter that goes backwards (a cloned authenticator) is refused and
    // shows in the person's security activity.
    key.credentials[0].counter = 1;
    let asked = options(&server, &mut other, &page).await;
    refused(&answer(&server, &mut other, &page, &key.authenticate(&asked)).await);
    let activity = browser.get(&server.url("/account/activity")).await;
    assert!(
        activity
            .body
            .contains("Passkey refused: it may have been copied"),
        "{}",
        activity.body
    );
    let security = browser.get(&server.url("/account/security")).await;
    assert!(security.body.contains("last used"), "{}", security.body);
}

#[tokio::test]
async fn the_same_passkey_answer_posted_twice_at_once_signs_in_once() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Phone", Some(PASSWORD)).await;

    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut laptop, &page).await;
    let good = key.authenticate(&asked);
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (server_url, barrier) = (server.url(""), barrier.clone());
        let (mut browser, page, good) = (laptop.clone(), page.clone(), good.clone());
        tasks.push(tokio::spawn(async move {
            let (request, csrf) = (page.field("request"), page.field("csrf"));
            let credential = good.to_string();
            barrier.wait().await;
            browser
                .post(
                    &format!("{server_url}/login/passkey"),
                    &[
                        ("request", &request),
                        ("csrf", &csrf),
                        ("credential", &credential),
                    ],
                )
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let signed_in = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(signed_in, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::SEE_OTHER
            || *s == StatusCode::UNPROCESSABLE_ENTITY
            || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_passkey_passes_the_second_factor_and_only_the_persons_own() {
    let server = server().await;
    flow::seed_user(&server).await;
    server
        .seed_user(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(
        &server,
        &mut browser,
        &mut key,
        "Security key",
        Some(PASSWORD),
    )
    .await;

    // Someone else's passkey.
    let mut ada = Browser::new();
    let page = ada.get(&server.url("/account/security")).await;
    ada.sign_in(&server.base, &page, "ada@example.com", PASSWORD)
        .await;
    let mut adas_key = SoftAuthenticator::new(&origin(&server));
    add_passkey(&server, &mut ada, &mut adas_key, "Ada's", Some(PASSWORD)).await;

    // The password is right: the second factor is asked for, no session yet.
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let step = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    assert!(
        !step.body.contains("name=\"code\""),
        "no app, no code field"
    );

    // Ada's passkey does not pass Grace's second factor.
    let mut asked = options(&server, &mut laptop, &step).await;
    assert_eq!(
        asked["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    asked["publicKey"]["allowCredentials"] = json!([]);
    refused(&answer(&server, &mut laptop, &step, &adas_key.authenticate(&asked)).await);

    // Her own does; the ID token says password and passkey.
    let asked = options(&server, &mut laptop, &step).await;
    let passed = answer(&server, &mut laptop, &step, &key.authenticate(&asked)).await;
    let claims = flow::id_token_after(&server, &app, &mut laptop, passed, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]));

    // A synced passkey is a software key.
    let mut synced = SoftAuthenticator::new(&origin(&server));
    synced.synced = true;
    let listed = add_passkey(&server, &mut browser, &mut synced, "Cloud", Some(PASSWORD)).await;
    assert!(listed.body.contains("synced"), "{}", listed.body);
    let (mut tablet, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut tablet, &page).await;
    let signed_in = answer(&server, &mut tablet, &page, &synced.authenticate(&asked)).await;
    let claims = flow::id_token_after(&server, &app, &mut tablet, signed_in, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["swk", "user", "mfa"]));
}

#[tokio::test]
async fn a_passkey_only_account_keeps_a_way_in() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;

    // No password removal without a passkey.
    let security = browser.get(&server.url("/account/security")).await;
    assert!(!security.body.contains("Remove my password"));
    add_passkey(&server, &mut browser, &mut key, "One", Some(PASSWORD)).await;
    let mut other_key = SoftAuthenticator::new(&origin(&server));
    let security = add_passkey(&server, &mut browser, &mut other_key, "Two", Some(PASSWORD)).await;

    // Renaming keeps at most 64 characters.
    let long = "x".repeat(80);
    let id = security.field("passkey");
    let renamed = post_account(
        &server,
        &mut browser,
        "/account/security/passkeys/rename",
        &security,
        &[("passkey", &id), ("name", &long)],
    )
    .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    let security = browser.get(&server.url("/account/security")).await;
    assert!(security.body.contains(&"x".repeat(64)));
    assert!(!security.body.contains(&"x".repeat(65)));

    // Removing the password needs it; then only passkeys sign in.
    let removed = post_account(
        &server,
        &mut browser,
        "/account/security/password/remove",
        &security,
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let security = browser.get(&server.url("/account/security")).await;
    assert!(
        security.body.contains("Set a password"),
        "{}",
        security.body
    );
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let wrong = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert!(
        wrong.body.contains("Incorrect email or password"),
        "{}",
        wrong.body
    );
    let asked = options(&server, &mut laptop, &page).await;
    let signed_in = answer(&server, &mut laptop, &page, &key.authenticate(&asked)).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );

    // Two removals racing for the last two passkeys: one stays.
    let ids: Vec<String> = security
        .body
        .split("name=\"passkey\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(ids.len(), 2, "{}", security.body);
    let barrier = Arc::new(Barrier::new(2));
    let mut tasks = Vec::new();
    for id in ids {
        let (csrf, session) = (security.field("csrf"), security.field("for"));
        let (url, barrier, mut browser) = (
            server.url("/account/security/passkeys/remove"),
            barrier.clone(),
            browser.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            browser
                .post(
                    &url,
                    &[("csrf", &csrf), ("for", &session), ("passkey", &id)],
                )
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::SEE_OTHER, StatusCode::CONFLICT],
        "exactly one removal lands"
    );
    assert_eq!(flow::count(&server, "passkeys").await, 1);

    // A password can be set again, with no current one to type.
    let page = browser.get(&server.url("/account/password")).await;
    assert!(!page.body.contains("current_password"), "{}", page.body);
    let new_password = "another long and careful passphrase";
    let set = post_account(
        &server,
        &mut browser,
        "/account/password",
        &page,
        &[
            ("new_password", new_password),
            ("confirm_password", new_password),
        ],
    )
    .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let (mut phone, page) = sign_in_page(&server, &app.0).await;
    let back = phone
        .submit_sign_in(&server.base, &page, EMAIL, new_password)
        .await;
    assert!(
        back.body.contains("Use a passkey"),
        "a password sign-in asks for the passkey: {}",
        back.body
    );
}

#[tokio::test]
async fn passkeys_are_off_when_the_issuer_is_an_ip_address() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut browser = account(&server).await;
    let security = browser.get(&server.url("/account/security")).await;
    assert!(
        security.body.contains("Passkeys are not available"),
        "{}",
        security.body
    );
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    assert!(!page.body.contains("passkey"), "{}", page.body);
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let seen = laptop
        .post(
            &server.url("/login/passkey/options"),
            &[("request", &request), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(seen.status, StatusCode::NOT_FOUND, "{}", seen.body);
}
