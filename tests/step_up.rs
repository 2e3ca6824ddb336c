//! Step-up over real HTTP: an app says how strongly the person must have
//! signed in — `acr_values`, an essential `acr` claim, a client registered
//! `--require-mfa`, the deployment's `require_mfa` — and the ID token reports
//! what happened (`acr`, `amr`, `auth_time`), also after a refresh. A person
//! signed in too weakly is asked only for the missing factor; a demand the
//! person cannot meet is an OIDC error at the app, never a downgrade.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::authenticator::SoftAuthenticator;
use common::browser::{Browser, Seen};
use common::flow::{self, CALLBACK, Code, EMAIL, PASSWORD};
use common::passkey::{
    MFA, VERIFIER, account, add_passkey, answer, options, origin, server, sets_no_session,
};
use common::{TestServer, cli_json, json_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The claims of an ID token.
fn claims_of(id_token: &str) -> Value {
    use base64::Engine;
    let payload = id_token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The person with a passkey, and the browser that added it (signed in with
/// the password alone).
async fn person_with_a_passkey(server: &TestServer) -> (Browser, SoftAuthenticator) {
    flow::seed_user(server).await;
    let mut key = SoftAuthenticator::new(&origin(server));
    let mut browser = account(server).await;
    add_passkey(server, &mut browser, &mut key, "Laptop", None).await;
    (browser, key)
}

/// `browser` asks `/authorize` for `client_id` with the extra parameters
/// `extra`; returns what it is shown.
async fn ask(server: &TestServer, browser: &mut Browser, client_id: &str, extra: &str) -> Seen {
    let url = flow::authorize_url(server, client_id, "openid offline_access", VERIFIER) + extra;
    browser.get(&url).await
}

/// The `error` of the app's redirect `seen`, with no code.
fn app_error(seen: &Seen) -> String {
    assert_eq!(seen.status, StatusCode::FOUND, "{}", seen.body);
    assert!(seen.redirect_param("code").is_none());
    assert!(seen.location.as_deref().unwrap().starts_with(CALLBACK));
    seen.redirect_param("error").expect("an error")
}

/// The tokens `app` gets for the code in the redirect `seen`.
async fn tokens(server: &TestServer, app: &(String, String), seen: &Seen) -> Value {
    assert_eq!(seen.status, StatusCode::FOUND, "{}", seen.body);
    let code = Code {
        code: seen.redirect_param("code").expect("a code"),
        verifier: VERIFIER.to_owned(),
    };
    json_body(
        flow::redeem(server, &app.0, &app.1, &code).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn discovery_lists_the_classes_gatehouse_defines() {
    let server = TestServer::start().await;
    let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["urn:gatehouse:acr:1fa", "urn:gatehouse:acr:mfa", "phr"])
    );
}

#[tokio::test]
async fn a_person_signed_in_with_a_password_is_asked_only_for_the_missing_factor_and_a_refresh_keeps_it()
 {
    let server = server().await;
    let app = flow::app(&server, "openid offline_access", true).await;
    let (mut browser, mut key) = person_with_a_passkey(&server).await;

    // Signed in with the password alone: the app gets one factor (and a
    // refresh token tied to the session: no offline_access).
    let url = flow::authorize_url(&server, &app.0, "openid", VERIFIER);
    let plain = browser.get(&url).await;
    let plain_tokens = tokens(&server, &app, &plain).await;
    let first = claims_of(plain_tokens["id_token"].as_str().unwrap());
    assert_eq!(first["acr"], "urn:gatehouse:acr:1fa");
    assert_eq!(first["amr"], json!(["pwd"]));

    // Multi-factor demanded: no sign-in page (no password asked again), the
    // passkey only.
    server.clock.advance(30);
    let before_step_up = browser.clone();
    let step = ask(&server, &mut browser, &app.0, MFA).await;
    assert_eq!(step.status, StatusCode::OK, "{}", step.body);
    assert!(step.body.contains("Two-step verification"), "{}", step.body);
    assert!(!step.body.contains("name=\"password\""), "{}", step.body);
    let asked = options(&server, &mut browser, &step).await;
    let passed = answer(&server, &mut browser, &step, &key.authenticate(&asked)).await;
    assert_eq!(passed.status, StatusCode::SEE_OTHER, "{}", passed.body);
    let back = browser.resume(&server.base, passed).await;
    let stepped = tokens(&server, &app, &back).await;
    let claims = claims_of(stepped["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], "urn:gatehouse:acr:mfa");
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]));
    assert_eq!(
        claims["auth_time"], first["auth_time"],
        "a step-up adds a factor; the sign-in is still the first one"
    );
    assert_eq!(claims["sid"], first["sid"], "the same session, upgraded");
    // Under a new cookie (DESIGN.md rule 10): the one from before no longer signs in.
    let mut stale = before_step_up;
    let replayed = stale.get(&url).await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
    assert!(
        replayed.body.contains("name=\"password\""),
        "{}",
        replayed.body
    );
    // What the session was issued before the step-up stays valid.
    let online = plain_tokens["refresh_token"].as_str().unwrap();
    let kept = flow::refresh(&server, &app.0, &app.1, online).await;
    assert_eq!(
        kept.status(),
        StatusCode::OK,
        "the session's grant lives on"
    );

    // A refresh keeps what the sign-in reached.
    server.clock.advance(60);
    let refreshed = json_body(
        flow::refresh(
            &server,
            &app.0,
            &app.1,
            stepped["refresh_token"].as_str().unwrap(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let again = claims_of(refreshed["id_token"].as_str().unwrap());
    for claim in ["acr", "amr", "auth_time"] {
        assert_eq!(again[claim], claims[claim], "{claim} after a refresh");
    }

    // The session now stands for both factors: a later demand needs nothing.
    let later = ask(&server, &mut browser, &app.0, MFA).await;
    let later = tokens(&server, &app, &later).await;
    assert_eq!(
        claims_of(later["id_token"].as_str().unwrap())["acr"],
        "urn:gatehouse:acr:mfa"
    );

    // max_age with a second factor: too old, so the password and then the
    // passkey again, and a new auth_time.
    server.clock.advance(600);
    let page = ask(&server, &mut browser, &app.0, &format!("{MFA}&max_age=60")).await;
    let step = browser
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    let asked = options(&server, &mut browser, &step).await;
    let passed = answer(&server, &mut browser, &step, &key.authenticate(&asked)).await;
    let back = browser.resume(&server.base, passed).await;
    let fresh = tokens(&server, &app, &back).await;
    let fresh = claims_of(fresh["id_token"].as_str().unwrap());
    assert_eq!(fresh["auth_time"], json!(server.clock.now()));
    assert_eq!(fresh["amr"], json!(["pwd", "hwk", "user", "mfa"]));
}

#[tokio::test]
async fn a_demand_the_person_cannot_meet_is_an_error_never_a_downgrade() {
    let server = server().await;
    let app = flow::app(&server, "openid offline_access", true).await;
    flow::seed_user(&server).await;

    // No second factor at all: multi-factor is refused after the password.
    for extra in [
        MFA.to_owned(),
        "&acr_values=phr".to_owned(),
        format!(
            "&claims={}",
            url::form_urlencoded::byte_serialize(
                br#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#
            )
            .collect::<String>()
        ),
    ] {
        let mut browser = Browser::new();
        let page = ask(&server, &mut browser, &app.0, &extra).await;
        let answer = browser
            .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
            .await;
        let back = browser.resume(&server.base, answer).await;
        assert_eq!(
            app_error(&back),
            "unmet_authentication_requirements",
            "{extra}"
        );
        assert!(
            !browser.cookies.contains_key("gatehouse_session"),
            "no session from a refused sign-in"
        );
    }

    // Signed in already (password): refused at once, no page.
    let mut browser = account(&server).await;
    let back = ask(&server, &mut browser, &app.0, "&acr_values=phr").await;
    assert_eq!(app_error(&back), "unmet_authentication_requirements");
    // Values Gatehouse does not define demand nothing.
    let back = ask(
        &server,
        &mut browser,
        &app.0,
        "&acr_values=urn:example:gold",
    )
    .await;
    let tokens = tokens(&server, &app, &back).await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["acr"],
        "urn:gatehouse:acr:1fa"
    );

    // With a passkey the demand can be met, but not without a page.
    let mut key = SoftAuthenticator::new(&origin(&server));
    add_passkey(&server, &mut browser, &mut key, "Key", None).await;
    let back = ask(&server, &mut browser, &app.0, &format!("{MFA}&prompt=none")).await;
    assert_eq!(app_error(&back), "login_required");
}

#[tokio::test]
async fn a_client_registered_with_require_mfa_refuses_a_password_alone() {
    let server = server().await;
    let created = cli_json(&server.cli(&[
        "client",
        "create",
        "--name",
        "Payroll",
        "--grant",
        "authorization_code",
        "--redirect-uri",
        CALLBACK,
        "--scope",
        "openid offline_access",
        "--first-party",
        "--require-mfa",
        "--json",
    ]));
    assert_eq!(created["require_mfa"], true, "{created}");
    let app = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    server
        .seed_user(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    let (_, mut key) = person_with_a_passkey(&server).await;

    // Someone with no second factor cannot sign in to it.
    let mut ada = Browser::new();
    let page = ask(&server, &mut ada, &app.0, "").await;
    let answer_page = ada
        .submit_sign_in(&server.base, &page, "ada@example.com", PASSWORD)
        .await;
    let back = ada.resume(&server.base, answer_page).await;
    assert_eq!(app_error(&back), "unmet_authentication_requirements");

    // Someone with a passkey gives it after the password.
    let mut laptop = Browser::new();
    let page = ask(&server, &mut laptop, &app.0, "").await;
    let step = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    let asked = options(&server, &mut laptop, &step).await;
    let passed = answer(&server, &mut laptop, &step, &key.authenticate(&asked)).await;
    let back = laptop.resume(&server.base, passed).await;
    let tokens = tokens(&server, &app, &back).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["acr"], "phr", "the level reached, none asked for");
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]));
}

#[tokio::test]
async fn the_deployment_policy_requires_multi_factor_for_every_app_but_not_the_account_area() {
    let server = TestServer::start_with(|config| {
        config.issuer = config.issuer.replace("127.0.0.1", "localhost");
        config.require_mfa = true;
    })
    .await;
    let app = flow::app(&server, "openid offline_access", true).await;
    flow::seed_user(&server).await;

    // The account area opens with a password, so a second factor can be set up.
    let mut browser = account(&server).await;
    let back = ask(&server, &mut browser, &app.0, "").await;
    assert_eq!(app_error(&back), "unmet_authentication_requirements");
    let mut key = SoftAuthenticator::new(&origin(&server));
    add_passkey(&server, &mut browser, &mut key, "Key", None).await;

    // Now the same browser is asked for the passkey, and gets in.
    let step = ask(&server, &mut browser, &app.0, "").await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    let asked = options(&server, &mut browser, &step).await;
    let passed = answer(&server, &mut browser, &step, &key.authenticate(&asked)).await;
    let back = browser.resume(&server.base, passed).await;
    let tokens = tokens(&server, &app, &back).await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["acr"],
        "phr"
    );
}

#[tokio::test]
async fn a_step_up_is_taken_only_while_the_browser_is_in_the_session_that_asked() {
    let server = server().await;
    let app = flow::app(&server, "openid offline_access", true).await;
    let (mut browser, mut key) = person_with_a_passkey(&server).await;
    let step = ask(&server, &mut browser, &app.0, MFA).await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    let asked = options(&server, &mut browser, &step).await;
    let good = key.authenticate(&asked);

    // The session ends (signed out from another device) before the passkey
    // is given: the step is out of date, and no session comes of it.
    let mut other = account(&server).await;
    let sessions = other.get(&server.url("/account/sessions")).await;
    let sid = sessions
        .body
        .split("name=\"session\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .find(|sid| *sid != sessions.field("for"))
        .expect("the first browser's session");
    let ended = flow::post_account(
        &server,
        &mut other,
        "/account/sessions/end",
        &sessions,
        &[("session", &sid)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    let late = answer(&server, &mut browser, &step, &good).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(
        sets_no_session(&late),
        "no session from a step-up of an ended one"
    );
}

#[tokio::test]
async fn without_pages_a_step_up_is_login_required_whatever_the_person_has() {
    let server = server().await;
    let app = flow::app(&server, "openid offline_access", true).await;
    let (mut browser, mut key) = person_with_a_passkey(&server).await;
    // Whatever the demand, and whether or not the person could meet it, the
    // answer is the same: prompt=none tells an app nothing of their factors.
    for demand in [
        "&acr_values=phr&prompt=none",
        "&acr_values=urn:gatehouse:acr:mfa&prompt=none",
    ] {
        let back = ask(&server, &mut browser, &app.0, demand).await;
        assert_eq!(app_error(&back), "login_required", "{demand}");
    }
    server
        .seed_user(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    let mut ada = Browser::new();
    let page = ada.get(&server.url("/account")).await;
    ada.sign_in(&server.base, &page, "ada@example.com", PASSWORD)
        .await;
    let back = ask(&server, &mut ada, &app.0, "&acr_values=phr&prompt=none").await;
    assert_eq!(
        app_error(&back),
        "login_required",
        "no passkey: the same answer"
    );

    // Once stepped up, prompt=none gets its code.
    let step = ask(&server, &mut browser, &app.0, MFA).await;
    let asked = options(&server, &mut browser, &step).await;
    let passed = answer(&server, &mut browser, &step, &key.authenticate(&asked)).await;
    browser.resume(&server.base, passed).await;
    let back = ask(&server, &mut browser, &app.0, &format!("{MFA}&prompt=none")).await;
    assert!(back.redirect_param("code").is_some(), "{:?}", back.location);

    // An essential acr names the values the ID token may report.
    let claims = url::form_urlencoded::byte_serialize(
        br#"{"id_token":{"acr":{"essential":true,"values":["urn:gatehouse:acr:mfa"]}}}"#,
    )
    .collect::<String>();
    let back = ask(&server, &mut browser, &app.0, &format!("&claims={claims}")).await;
    let tokens = tokens(&server, &app, &back).await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["acr"],
        "urn:gatehouse:acr:mfa",
        "one of the essential values, though the sign-in reached phr"
    );
}

#[tokio::test]
async fn a_step_up_keeps_to_max_age_and_to_the_session_it_was_asked_in() {
    let server = server().await;
    let app = flow::app(&server, "openid offline_access", true).await;
    let (mut browser, mut key) = person_with_a_passkey(&server).await;

    // max_age is measured when the code would be issued: a step-up keeps the
    // first sign-in's time, so one finished too late asks for a sign-in.
    server.clock.advance(290);
    let step = ask(&server, &mut browser, &app.0, &format!("{MFA}&max_age=300")).await;
    assert!(step.body.contains("Use a passkey"), "{}", step.body);
    server.clock.advance(60);
    let asked = options(&server, &mut browser, &step).await;
    let passed = answer(&server, &mut browser, &step, &key.authenticate(&asked)).await;
    let back = browser.resume(&server.base, passed).await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.location);
    assert!(
        back.body.contains("name=\"password\""),
        "a sign-in: {}",
        back.body
    );

    // A step-up asked in Grace's session, finished after the browser signed
    // in as someone else, adds nothing to anyone.
    server
        .seed_user(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    let mut browser = account(&server).await;
    let stepping = ask(&server, &mut browser, &app.0, "&acr_values=phr").await;
    assert!(stepping.body.contains("Use a passkey"), "{}", stepping.body);
    let asked = options(&server, &mut browser, &stepping).await;
    let graces = key.authenticate(&asked);
    let page = ask(&server, &mut browser, &app.0, "&prompt=login").await;
    let as_ada = browser
        .submit_sign_in(&server.base, &page, "ada@example.com", PASSWORD)
        .await;
    assert_eq!(as_ada.status, StatusCode::SEE_OTHER, "{}", as_ada.body);
    let late = answer(&server, &mut browser, &stepping, &graces).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert!(sets_no_session(&late), "Ada's session is not touched");
}

#[tokio::test]
async fn an_essential_acr_weaker_than_what_the_app_requires_is_refused_at_once() {
    let server = server().await;
    let app = flow::app(&server, "openid offline_access", true).await;
    let updated = server.cli(&["client", "update", &app.0, "--require-mfa", "true"]);
    assert!(
        updated.status.success(),
        "{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    let claims = url::form_urlencoded::byte_serialize(
        br#"{"id_token":{"acr":{"essential":true,"values":["urn:gatehouse:acr:1fa"]}}}"#,
    )
    .collect::<String>();
    let mut browser = Browser::new();
    let back = ask(&server, &mut browser, &app.0, &format!("&claims={claims}")).await;
    assert_eq!(app_error(&back), "unmet_authentication_requirements");
}
