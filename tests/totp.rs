//! Authenticator apps (TOTP) over real HTTP, on whichever backend the suite
//! runs on: set up in the account area, then asked for after the password at
//! every sign-in, with codes computed by an independent implementation
//! (Python's `pyotp`) from the secret the page showed. A code is accepted
//! once, a code two steps away never, parallel wrong codes are checked at
//! most up to the limit, and a recovery code works once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::Arc;

use common::TestServer;
use common::browser::{Browser, Seen};
use common::flow::{self, EMAIL, PASSWORD, post_account};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Barrier;

const VERIFIER: &str = "a-pkce-verifier-of-more-than-forty-three-characters";

/// The code an authenticator app shows for `secret` (base32) at `at`, as
/// Python's pyotp computes it.
fn app_code(secret: &str, at: i64) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at.to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pyotp is needed (pip install pyotp): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A code that is not `right`.
fn wrong(right: &str) -> String {
    format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// What the page shows between `start` and `end`, every time.
fn between(page: &Seen, start: &str, end: &str) -> Vec<String> {
    page.body
        .split(start)
        .skip(1)
        .map(|rest| rest[..rest.find(end).unwrap()].to_owned())
        .collect()
}

/// Signs in at the account area and turns an authenticator app on; returns
/// the browser, the secret the page showed, and the recovery codes.
async fn enrolled(server: &TestServer) -> (Browser, String, Vec<String>) {
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/account/security")).await;
    let back = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert_eq!(back.location.as_deref(), Some("/account/security"));
    let security = browser.get(&server.url("/account/security")).await;
    assert!(
        security.body.contains("Set up an authenticator app"),
        "{}",
        security.body
    );

    let refused = post_account(
        server,
        &mut browser,
        "/account/security/totp/begin",
        &security,
        &[("password", "not the password")],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let setup = post_account(
        server,
        &mut browser,
        "/account/security/totp/begin",
        &security,
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(setup.body.contains("<svg"), "a QR code: {}", setup.body);
    let secret = between(&setup, "<code class=\"secret\">", "</code>").remove(0);
    assert!(
        setup.body.contains(&format!("secret={secret}")),
        "the otpauth URI"
    );

    let right = app_code(&secret, server.clock.now());
    let refused = post_account(
        server,
        &mut browser,
        "/account/security/totp/confirm",
        &setup,
        &[("code", &wrong(&right))],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    let shown = post_account(
        server,
        &mut browser,
        "/account/security/totp/confirm",
        &setup,
        &[("code", &right)],
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let codes = between(&shown, "<li><code>", "</code>");
    assert_eq!(codes.len(), 10, "{}", shown.body);
    let on = browser.get(&server.url("/account/security")).await;
    assert!(
        on.body.contains("Recovery codes left: <strong>10</strong>"),
        "{}",
        on.body
    );
    (browser, secret, codes)
}

/// Asks `/authorize` as a new browser and passes the password: returns the
/// browser and the second-factor page it is shown (no session yet).
async fn past_the_password(server: &TestServer, client_id: &str) -> (Browser, Seen) {
    let mut browser = Browser::new();
    let url = flow::authorize_url(server, client_id, "openid", VERIFIER);
    let page = browser.get(&url).await;
    let answer = browser
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body.contains("Two-step verification"),
        "{}",
        answer.body
    );
    let cookies: Vec<_> = answer.headers.get_all("set-cookie").iter().collect();
    assert!(
        cookies
            .iter()
            .all(|c| !c.to_str().unwrap().contains("session")),
        "no session before the second factor: {cookies:?}"
    );
    (browser, answer)
}

async fn second_factor(
    server: &TestServer,
    browser: &mut Browser,
    page: &Seen,
    code: &str,
) -> Seen {
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    browser
        .post(
            &server.url("/login/second-factor"),
            &[("request", &request), ("csrf", &csrf), ("code", code)],
        )
        .await
}

/// The `amr` of the ID token the code `answer` redirects with.
async fn amr_of(
    server: &TestServer,
    app: &(String, String),
    browser: &mut Browser,
    answer: Seen,
) -> Value {
    flow::id_token_after(server, app, browser, answer, VERIFIER).await["amr"].clone()
}

#[tokio::test]
async fn an_authenticator_app_guards_every_sign_in_and_each_code_works_once() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (mut account, secret, codes) = enrolled(&server).await;

    // The code the app shows now signs a new browser in, with `otp` in `amr`.
    server.clock.advance(30);
    let now = server.clock.now();
    let (mut laptop, page) = past_the_password(&server, &app.0).await;
    let wrong_answer =
        second_factor(&server, &mut laptop, &page, &wrong(&app_code(&secret, now))).await;
    assert!(
        wrong_answer.body.contains("That code is not right"),
        "{}",
        wrong_answer.body
    );
    let answer = second_factor(&server, &mut laptop, &page, &app_code(&secret, now)).await;
    let amr = amr_of(&server, &app, &mut laptop, answer).await;
    assert_eq!(amr, serde_json::json!(["pwd", "otp", "mfa"]));

    // The same code again, and the code of the step before it, never work.
    let (mut phone, page) = past_the_password(&server, &app.0).await;
    for code in [app_code(&secret, now), app_code(&secret, now - 30)] {
        let replayed = second_factor(&server, &mut phone, &page, &code).await;
        assert!(
            replayed.body.contains("That code is not right"),
            "{}",
            replayed.body
        );
    }
    // A code two steps ahead never works; the next step's code does.
    let ahead = second_factor(&server, &mut phone, &page, &app_code(&secret, now + 60)).await;
    assert!(
        ahead.body.contains("That code is not right"),
        "{}",
        ahead.body
    );
    let next = second_factor(&server, &mut phone, &page, &app_code(&secret, now + 30)).await;
    assert_eq!(
        next.status,
        StatusCode::SEE_OTHER,
        "one step of drift: {}",
        next.body
    );

    // A recovery code works once.
    let (mut tablet, page) = past_the_password(&server, &app.0).await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let answer = second_factor(&server, &mut tablet, &page, &typed).await;
    amr_of(&server, &app, &mut tablet, answer).await;
    let (mut other, page) = past_the_password(&server, &app.0).await;
    let again = second_factor(&server, &mut other, &page, &codes[0]).await;
    assert!(
        again.body.contains("That code is not right"),
        "{}",
        again.body
    );
    let left = account.get(&server.url("/account/security")).await;
    assert!(
        left.body
            .contains("Recovery codes left: <strong>9</strong>"),
        "{}",
        left.body
    );
    let activity = account.get(&server.url("/account/activity")).await;
    for event in [
        "Authenticator app turned on",
        "Recovery code used",
        "Two-step verification not passed",
    ] {
        assert!(activity.body.contains(event), "{event}: {}", activity.body);
    }
}

#[tokio::test]
async fn twenty_parallel_wrong_codes_are_checked_at_most_up_to_the_limit() {
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (_, secret, _) = enrolled(&server).await;
    let (browser, page) = past_the_password(&server, &app.0).await;
    let right = app_code(&secret, server.clock.now());
    let barrier = Arc::new(Barrier::new(20));
    let mut racers = Vec::new();
    for _ in 0..20 {
        let (server, barrier, mut browser, page, code) = (
            server.clone(),
            barrier.clone(),
            browser.clone(),
            page.clone(),
            wrong(&right),
        );
        racers.push(tokio::spawn(async move {
            barrier.wait().await;
            second_factor(&server, &mut browser, &page, &code)
                .await
                .status
        }));
    }
    let mut checked = 0;
    for racer in racers {
        match racer.await.unwrap() {
            StatusCode::OK => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    let limit = server.state.config.login_attempts_per_account;
    assert!(
        checked <= limit,
        "{checked} wrong codes checked, the limit is {limit}"
    );
    // Past the limit even the right code waits for the window to end.
    let mut browser = browser;
    let refused = second_factor(&server, &mut browser, &page, &right).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
}

/// The second factor is taken only from the browser that passed the
/// password: the same form posted from another browser is out of date.
#[tokio::test]
async fn the_second_factor_is_taken_only_from_the_browser_that_passed_the_password() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (_, secret, _) = enrolled(&server).await;
    let (_, page) = past_the_password(&server, &app.0).await;
    let mut stranger = Browser::new();
    let form_page = stranger
        .get(&flow::authorize_url(&server, &app.0, "openid", VERIFIER))
        .await;
    let csrf = form_page.field("csrf");
    let answer = stranger
        .post(
            &server.url("/login/second-factor"),
            &[
                ("request", &page.field("request")),
                ("csrf", &csrf),
                ("code", &app_code(&secret, server.clock.now())),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
}

/// An operator who configures a key-encryption key after running on the
/// generated one keeps everyone's authenticator app working: the secrets are
/// re-sealed under the configured key at start, and the generated file is no
/// longer needed.
#[tokio::test]
async fn authenticator_secrets_follow_a_configured_key_encryption_key() {
    let db = common::TestDatabase::new().await;
    if db.url.is_some() {
        // PostgreSQL always runs on a configured key: nothing to take over from.
        return;
    }
    let server = TestServer::start_on(db, |c| c.key_encryption_key = None).await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (_, secret, _) = enrolled(&server).await;
    let file = server.config.data_dir.join("key-encryption-key");
    let db = server.stop().await;
    let chosen = "an operator-managed secret of some length";
    let managed = TestServer::start_on(db, |c| c.key_encryption_key = Some(chosen.into())).await;
    let db = managed.stop().await;
    std::fs::remove_file(&file).unwrap();
    let server = TestServer::start_on(db, |c| c.key_encryption_key = Some(chosen.into())).await;
    server.clock.advance(60);
    let (mut browser, page) = past_the_password(&server, &app.0).await;
    let answer = second_factor(
        &server,
        &mut browser,
        &page,
        &app_code(&secret, server.clock.now()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}

/// Of browsers that passed the password and post the same current code at
/// once, exactly one is signed in; the same for one recovery code.
#[tokio::test]
async fn of_parallel_sign_ins_with_one_code_exactly_one_gets_in() {
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (_, secret, codes) = enrolled(&server).await;
    server.clock.advance(30);
    for code in [app_code(&secret, server.clock.now()), codes[3].clone()] {
        let mut waiting = Vec::new();
        for _ in 0..4 {
            waiting.push(past_the_password(&server, &app.0).await);
        }
        let barrier = Arc::new(Barrier::new(waiting.len()));
        let mut racers = Vec::new();
        for (mut browser, page) in waiting {
            let (server, barrier, code) = (server.clone(), barrier.clone(), code.clone());
            racers.push(tokio::spawn(async move {
                barrier.wait().await;
                second_factor(&server, &mut browser, &page, &code)
                    .await
                    .status
            }));
        }
        let mut signed_in = 0;
        for racer in racers {
            if racer.await.unwrap() == StatusCode::SEE_OTHER {
                signed_in += 1;
            }
        }
        assert_eq!(signed_in, 1, "one code, {signed_in} sign-ins");
    }
}

/// A stolen session cookie is not enough to change the sign-in methods:
/// turning the app off or making new recovery codes needs the password and a
/// current code (or a recovery code); new codes end the old set.
#[tokio::test]
async fn changing_sign_in_methods_needs_the_password_and_a_second_factor() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (mut browser, secret, old_codes) = enrolled(&server).await;
    let page = browser.get(&server.url("/account/security")).await;
    let without_code = post_account(
        &server,
        &mut browser,
        "/account/security/totp/remove",
        &page,
        &[("password", PASSWORD), ("code", "")],
    )
    .await;
    assert!(
        without_code.body.contains("That code is not right"),
        "{}",
        without_code.body
    );
    let wrong_password = post_account(
        &server,
        &mut browser,
        "/account/security/totp/remove",
        &page,
        &[("password", "guess"), ("code", &old_codes[0])],
    )
    .await;
    assert_eq!(wrong_password.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        browser
            .get(&server.url("/account/security"))
            .await
            .body
            .contains("Recovery codes left: <strong>10</strong>")
    );

    let renewed = post_account(
        &server,
        &mut browser,
        "/account/security/recovery-codes",
        &page,
        &[("password", PASSWORD), ("code", &old_codes[0])],
    )
    .await;
    let new_codes = between(&renewed, "<li><code>", "</code>");
    assert_eq!(new_codes.len(), 10, "{}", renewed.body);
    let (mut other, waiting) = past_the_password(&server, &app.0).await;
    let old = second_factor(&server, &mut other, &waiting, &old_codes[1]).await;
    assert!(
        old.body.contains("That code is not right"),
        "the old set still works"
    );

    server.clock.advance(30);
    let off = post_account(
        &server,
        &mut browser,
        "/account/security/totp/remove",
        &page,
        &[
            ("password", PASSWORD),
            ("code", &app_code(&secret, server.clock.now())),
        ],
    )
    .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    let now_off = browser.get(&server.url("/account/security")).await;
    assert!(
        now_off.body.contains("Set up an authenticator app"),
        "{}",
        now_off.body
    );
    // Without the app, the password alone signs in again.
    let mut laptop = Browser::new();
    let page = laptop
        .get(&flow::authorize_url(&server, &app.0, "openid", VERIFIER))
        .await;
    let answer = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
}

/// A sign-in that must be recent (the account area's sensitive pages) asks
/// for the second factor again, not only the password.
#[tokio::test]
async fn signing_in_again_for_a_sensitive_change_asks_for_the_second_factor_too() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let (mut browser, secret, _) = enrolled(&server).await;
    server
        .clock
        .advance(server.state.config.reauthenticate_after_secs + 30);
    let page = browser.get(&server.url("/account/password")).await;
    let answer = browser
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert!(
        answer.body.contains("Two-step verification"),
        "{}",
        answer.body
    );
    let back = second_factor(
        &server,
        &mut browser,
        &answer,
        &app_code(&secret, server.clock.now()),
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let resumed = browser.resume(&server.base, back).await;
    assert_eq!(resumed.location.as_deref(), Some("/account/password"));
}

#[tokio::test]
async fn an_authenticator_app_meets_a_multi_factor_demand_but_not_a_phishing_resistant_one() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let (_, secret, _) = enrolled(&server).await;

    // A passkey is demanded and the person has none: refused after the
    // password, with no code asked for (a code could not meet it).
    let mut laptop = Browser::new();
    let url = flow::authorize_url(&server, &app.0, "openid", VERIFIER) + "&acr_values=phr";
    let page = laptop.get(&url).await;
    let answer = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    let back = laptop.resume(&server.base, answer).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    assert_eq!(
        back.redirect_param("error").as_deref(),
        Some("unmet_authentication_requirements")
    );

    // Multi-factor is met by the app's code.
    server.clock.advance(30);
    let mut phone = Browser::new();
    let url = flow::authorize_url(&server, &app.0, "openid", VERIFIER)
        + "&acr_values=urn:gatehouse:acr:mfa";
    let page = phone.get(&url).await;
    let step = phone
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    let passed = second_factor(
        &server,
        &mut phone,
        &step,
        &app_code(&secret, server.clock.now()),
    )
    .await;
    let claims = flow::id_token_after(&server, &app, &mut phone, passed, VERIFIER).await;
    assert_eq!(claims["acr"], "urn:gatehouse:acr:mfa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn a_reset_link_asks_for_the_authenticator_code_or_a_recovery_code_too() {
    let mailbox = common::mailbox::Mailbox::start();
    let url = mailbox.url();
    let server = TestServer::start_with(move |c| {
        c.smtp_url = Some(url);
        c.mail_poll_interval_ms = 50;
    })
    .await;
    flow::seed_user(&server).await;
    let (_, secret, recovery_codes) = enrolled(&server).await;
    let mut asking = Browser::new();
    let forgot = asking.get(&server.url("/login/forgot")).await;
    let csrf = forgot.field("csrf");
    asking
        .post(
            &server.url("/login/forgot"),
            &[("csrf", &csrf), ("email", EMAIL)],
        )
        .await;
    let mail = mailbox.wait_for(EMAIL, "Reset your", 1).await;
    let link = common::mailbox::link(&mail[0].text, "/login/reset/");
    let mut browser = Browser::new();
    let page = browser.get(&link).await;
    assert!(page.body.contains("name=\"code\""), "{}", page.body);
    let post = |code: String| {
        let (csrf, token) = (page.field("csrf"), page.field("token"));
        let mut browser = browser.clone();
        let url = server.url("/login/reset");
        async move {
            browser
                .post(
                    &url,
                    &[
                        ("csrf", csrf.as_str()),
                        ("token", token.as_str()),
                        ("new_password", "a new passphrase of mine"),
                        ("confirm_password", "a new passphrase of mine"),
                        ("code", code.as_str()),
                    ],
                )
                .await
        }
    };
    let missing = post(String::new()).await;
    assert!(
        missing.body.contains("That code is not right"),
        "{}",
        missing.body
    );
    let wrong_code = post(wrong(&app_code(&secret, server.clock.now()))).await;
    assert!(
        wrong_code.body.contains("That code is not right"),
        "{}",
        wrong_code.body
    );
    assert!(!wrong_code.body.contains("Your password was changed"));
    let done = post(recovery_codes[0].clone()).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains("Your password was changed"),
        "{}",
        done.body
    );
}
