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
use common::browser::Browser;
use common::flow::{self, EMAIL, PASSWORD, post_account};
use common::passkey::{
    MFA, VERIFIER, account, account_by_passkey, add_passkey, answer, options, origin, passkey_id,
    post_together, proof, refused, server, sign_in_page, sign_in_page_asking,
};
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::Barrier;

#[tokio::test]
async fn a_passkey_signs_in_with_no_email_and_every_falsified_answer_is_refused() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    let listed = add_passkey(&server, &mut browser, &mut key, "Work laptop", None).await;
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
    add_passkey(&server, &mut browser, &mut key, "Phone", None).await;

    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut laptop, &page).await;
    let good = key.authenticate(&asked);
    let posts = (0..8)
        .map(|_| (laptop.clone(), page.clone(), good.clone()))
        .collect();
    let statuses = post_together(&server, posts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::SEE_OTHER
            || *s == StatusCode::UNPROCESSABLE_ENTITY
            || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_app_demanding_multi_factor_gets_a_passkey_after_the_password_and_only_the_persons_own()
{
    let server = server().await;
    flow::seed_user(&server).await;
    server
        .seed_user(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Security key", None).await;

    // Someone else's passkey.
    let mut ada = Browser::new();
    let page = ada.get(&server.url("/account/security")).await;
    ada.sign_in(&server.base, &page, "ada@example.com", PASSWORD)
        .await;
    let mut adas_key = SoftAuthenticator::new(&origin(&server));
    add_passkey(&server, &mut ada, &mut adas_key, "Ada's", None).await;

    // Without a demand, the password alone signs in: a passkey is another
    // way in, not a step every password sign-in must take.
    let (mut desk, page) = sign_in_page(&server, &app.0).await;
    let alone = desk
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    let claims = flow::id_token_after(&server, &app, &mut desk, alone, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:gatehouse:acr:1fa");

    // The app demands multi-factor: after the password, the passkey is asked
    // for, and there is no session yet.
    let (mut laptop, page) = sign_in_page_asking(&server, &app.0, MFA).await;
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
    let activity = browser.get(&server.url("/account/activity")).await;
    assert!(
        activity.body.contains("a passkey that was not accepted"),
        "a failed second factor is in Grace's activity: {}",
        activity.body
    );

    // Her own does; the ID token says password and passkey.
    let asked = options(&server, &mut laptop, &step).await;
    let passed = answer(&server, &mut laptop, &step, &key.authenticate(&asked)).await;
    let claims = flow::id_token_after(&server, &app, &mut laptop, passed, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "user", "mfa"]));
    assert_eq!(
        claims["acr"], "urn:gatehouse:acr:mfa",
        "the class asked for"
    );

    // A synced passkey is a software key.
    let mut synced = SoftAuthenticator::new(&origin(&server));
    synced.synced = true;
    let listed = add_passkey(&server, &mut browser, &mut synced, "Cloud", Some(&mut key)).await;
    assert!(listed.body.contains("synced"), "{}", listed.body);
    let (mut tablet, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut tablet, &page).await;
    let signed_in = answer(&server, &mut tablet, &page, &synced.authenticate(&asked)).await;
    let claims = flow::id_token_after(&server, &app, &mut tablet, signed_in, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["swk", "user", "mfa"]));
    assert_eq!(claims["acr"], "phr");
}

#[tokio::test]
async fn a_passkey_only_account_proves_every_change_with_a_passkey_and_keeps_a_way_in() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;

    // No password removal without a passkey.
    let security = browser.get(&server.url("/account/security")).await;
    assert!(!security.body.contains("Remove my password"));
    add_passkey(&server, &mut browser, &mut key, "One", None).await;
    let mut other_key = SoftAuthenticator::new(&origin(&server));
    let security = add_passkey(&server, &mut browser, &mut other_key, "Two", Some(&mut key)).await;
    let (one, two) = (passkey_id(&security, "One"), passkey_id(&security, "Two"));

    // Renaming keeps at most 64 characters.
    let long = "x".repeat(80);
    let renamed = post_account(
        &server,
        &mut browser,
        "/account/security/passkeys/rename",
        &security,
        &[("passkey", &two), ("name", &long)],
    )
    .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    let security = browser.get(&server.url("/account/security")).await;
    assert!(security.body.contains(&"x".repeat(64)));
    assert!(!security.body.contains(&"x".repeat(65)));

    // Removing the password needs the strongest factor the person has: the
    // password alone is not enough once a passkey exists.
    let wrong = post_account(
        &server,
        &mut browser,
        "/account/security/password/remove",
        &security,
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong
            .body
            .contains("Confirm it is you with one of your passkeys"),
        "{}",
        wrong.body
    );
    let with_proof = proof(&server, &mut browser, &security, &mut key).await;
    let removed = post_account(
        &server,
        &mut browser,
        "/account/security/password/remove",
        &security,
        &[("credential", &with_proof)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let security = browser.get(&server.url("/account/security")).await;
    assert!(
        security.body.contains("Set a password"),
        "{}",
        security.body
    );
    assert!(
        security.body.contains("data-passkey-proof"),
        "{}",
        security.body
    );
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let refused_password = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert!(
        refused_password
            .body
            .contains("Incorrect email or password"),
        "{}",
        refused_password.body
    );

    // A stolen session cookie (recent, but no passkey) changes nothing: not
    // the sign-in methods, not the password.
    for (path, extra) in [
        (
            "/account/security/passkeys/remove",
            vec![("passkey", two.as_str())],
        ),
        ("/account/security/passkeys/begin", vec![]),
        ("/account/security/totp/begin", vec![]),
    ] {
        let stolen = post_account(&server, &mut browser, path, &security, &extra).await;
        assert_eq!(
            stolen.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            stolen.body
        );
        assert!(
            stolen
                .body
                .contains("Confirm it is you with one of your passkeys"),
            "{}",
            stolen.body
        );
    }
    let page = browser.get(&server.url("/account/password")).await;
    assert!(!page.body.contains("current_password"), "{}", page.body);
    let new_password = "another long and careful passphrase";
    let fields = [
        ("new_password", new_password),
        ("confirm_password", new_password),
    ];
    let stolen = post_account(&server, &mut browser, "/account/password", &page, &fields).await;
    assert_eq!(
        stolen.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        stolen.body
    );
    assert!(
        stolen
            .body
            .contains("Confirm it is you with one of your passkeys"),
        "{}",
        stolen.body
    );
    assert_eq!(flow::count(&server, "passkeys").await, 2);

    // With a passkey, the change is made; a proof works once.
    let with_proof = proof(&server, &mut browser, &security, &mut key).await;
    let extra = [
        ("passkey", two.as_str()),
        ("credential", with_proof.as_str()),
    ];
    let path = "/account/security/passkeys/remove";
    let gone = post_account(&server, &mut browser, path, &security, &extra).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);
    let security = browser.get(&server.url("/account/security")).await;
    let extra = [
        ("passkey", one.as_str()),
        ("credential", with_proof.as_str()),
    ];
    let replayed = post_account(&server, &mut browser, path, &security, &extra).await;
    assert_eq!(
        replayed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        replayed.body
    );

    // The last passkey of an account without a password stays.
    let with_proof = proof(&server, &mut browser, &security, &mut key).await;
    let extra = [
        ("passkey", one.as_str()),
        ("credential", with_proof.as_str()),
    ];
    let last = post_account(&server, &mut browser, path, &security, &extra).await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert_eq!(flow::count(&server, "passkeys").await, 1);

    // A password can be set again, proven with a passkey.
    let page = browser.get(&server.url("/account/password")).await;
    let with_proof = proof(&server, &mut browser, &page, &mut key).await;
    let fields = [
        ("new_password", new_password),
        ("confirm_password", new_password),
        ("credential", with_proof.as_str()),
    ];
    let set = post_account(&server, &mut browser, "/account/password", &page, &fields).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let (mut phone, page) = sign_in_page(&server, &app.0).await;
    let back = phone
        .submit_sign_in(&server.base, &page, EMAIL, new_password)
        .await;
    let claims = flow::id_token_after(&server, &app, &mut phone, back, VERIFIER).await;
    assert_eq!(claims["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn two_removals_racing_for_the_last_two_passkeys_leave_one() {
    let server = server().await;
    flow::seed_user(&server).await;
    let mut one = SoftAuthenticator::new(&origin(&server));
    let mut two = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut one, "One", None).await;
    let security = add_passkey(&server, &mut browser, &mut two, "Two", Some(&mut one)).await;
    let with_proof = proof(&server, &mut browser, &security, &mut one).await;
    let removed = post_account(
        &server,
        &mut browser,
        "/account/security/password/remove",
        &security,
        &[("credential", &with_proof)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);

    // Two browsers, each signed in with its own passkey, each proving its
    // own removal of the other's passkey at once.
    let mut tasks = Vec::new();
    let barrier = Arc::new(Barrier::new(2));
    let page = browser.get(&server.url("/account/security")).await;
    let ids = [passkey_id(&page, "Two"), passkey_id(&page, "One")];
    for (key, id) in [(&mut one, ids[0].clone()), (&mut two, ids[1].clone())] {
        let mut holder = account_by_passkey(&server, key).await;
        let page = holder.get(&server.url("/account/security")).await;
        let with_proof = proof(&server, &mut holder, &page, key).await;
        let (csrf, session) = (page.field("csrf"), page.field("for"));
        let (url, barrier) = (
            server.url("/account/security/passkeys/remove"),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            holder
                .post(
                    &url,
                    &[
                        ("csrf", &csrf),
                        ("for", &session),
                        ("passkey", &id),
                        ("credential", &with_proof),
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
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "exactly one removal lands: {statuses:?}"
    );
    assert_eq!(flow::count(&server, "passkeys").await, 1);
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

#[tokio::test]
async fn of_cloned_authenticators_answering_with_one_counter_at_once_at_most_one_signs_in() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Cloned", None).await;

    // Six copies of one authenticator, each answering its own sign-in page
    // with the same next counter; the answers are posted together.
    let mut posts = Vec::new();
    for _ in 0..6 {
        let mut copy = SoftAuthenticator::new(&origin(&server));
        copy.credentials = vec![key.credentials[0].cloned()];
        let (mut laptop, page) = sign_in_page(&server, &app.0).await;
        let asked = options(&server, &mut laptop, &page).await;
        posts.push((laptop, page, copy.authenticate(&asked)));
    }
    let statuses = post_together(&server, posts).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::SEE_OTHER || *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    let activity = browser.get(&server.url("/account/activity")).await;
    assert!(
        activity
            .body
            .contains("Passkey refused: it may have been copied"),
        "{}",
        activity.body
    );
}

#[tokio::test]
async fn a_disabled_account_signs_in_with_no_passkey() {
    let server = server().await;
    let user_id = flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Key", None).await;
    let disabled = server.cli(&["user", "disable", &user_id]);
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut laptop, &page).await;
    refused(&answer(&server, &mut laptop, &page, &key.authenticate(&asked)).await);

    // Deleting the account deletes its passkeys.
    let deleted = server.cli(&["user", "delete", &user_id]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    assert_eq!(flow::count(&server, "passkeys").await, 0);
    assert_eq!(flow::count(&server, "passkey_handles").await, 0);
}

#[tokio::test]
async fn an_admin_resets_a_persons_factors_and_that_ends_their_sessions_and_tokens() {
    let server = server().await;
    let user_id = flow::seed_user(&server).await;
    let app = flow::app(&server, "openid offline_access", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Stolen laptop", None).await;
    let (mut laptop, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut laptop, &page).await;
    let signed_in = answer(&server, &mut laptop, &page, &key.authenticate(&asked)).await;
    let back = laptop.resume(&server.base, signed_in).await;
    let code = flow::Code {
        code: back.redirect_param("code").unwrap(),
        verifier: VERIFIER.to_owned(),
    };
    let tokens = common::json_body(
        flow::redeem(&server, &app.0, &app.1, &code).await,
        StatusCode::OK,
    )
    .await;

    let admin = server.admin_token().await;
    let url = server.url(&format!("/admin/users/{user_id}/factors"));
    let seen: serde_json::Value = server
        .http
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["password"], true, "{seen}");
    assert_eq!(seen["authenticator_app"], false, "{seen}");
    assert_eq!(seen["passkeys"][0]["name"], "Stolen laptop", "{seen}");
    assert!(seen["passkeys"][0]["last_used_at"].is_i64(), "{seen}");
    let missing = server
        .http
        .get(server.url("/admin/users/nobody/factors"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let reset: serde_json::Value = server
        .http
        .delete(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["removed_passkeys"], 1, "{reset}");
    assert_eq!(reset["password"], true, "{reset}");

    // The passkey no longer signs in, the refresh token is dead, and both
    // browsers are signed out.
    let (mut phone, page) = sign_in_page(&server, &app.0).await;
    let asked = options(&server, &mut phone, &page).await;
    refused(&answer(&server, &mut phone, &page, &key.authenticate(&asked)).await);
    let refresh = flow::refresh(
        &server,
        &app.0,
        &app.1,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(flow::oauth_error(refresh).await, "invalid_grant");
    for mut signed_out in [browser, laptop] {
        let page = signed_out.get(&server.url("/account/security")).await;
        assert!(
            page.body.contains("name=\"password\""),
            "signed out: {}",
            page.body
        );
    }
    let activity = server.cli(&["user", "factors", &user_id, "--json"]);
    let after = common::cli_json(&activity);
    assert_eq!(after["passkeys"], json!([]), "{after}");
    let events: serde_json::Value = server
        .http
        .get(server.url(&format!("/admin/audit-events?user_id={user_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        events.to_string().contains("factors_reset"),
        "the reset is audited: {events}"
    );
}

#[tokio::test]
async fn a_passkey_holder_proves_a_password_change_with_it_and_no_code_form_is_taken_where_none_was_shown()
 {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Key", None).await;

    // The current password alone does not change the password of someone
    // with a passkey.
    let page = browser.get(&server.url("/account/password")).await;
    assert!(page.body.contains("data-passkey-proof"), "{}", page.body);
    let new_password = "a brand new and long passphrase";
    let fields = [
        ("current_password", PASSWORD),
        ("new_password", new_password),
        ("confirm_password", new_password),
    ];
    let refused_change =
        post_account(&server, &mut browser, "/account/password", &page, &fields).await;
    assert_eq!(
        refused_change.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused_change.body
    );
    let with_proof = proof(&server, &mut browser, &page, &mut key).await;
    let fields = [
        ("new_password", new_password),
        ("confirm_password", new_password),
        ("credential", with_proof.as_str()),
    ];
    let changed = post_account(&server, &mut browser, "/account/password", &page, &fields).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);

    // At a second-factor step that offered only a passkey, a crafted code
    // form is out of date.
    let (mut laptop, page) = sign_in_page_asking(&server, &app.0, MFA).await;
    let step = laptop
        .submit_sign_in(&server.base, &page, EMAIL, new_password)
        .await;
    assert!(!step.body.contains("name=\"code\""), "{}", step.body);
    let (request, csrf) = (step.field("request"), step.field("csrf"));
    let crafted = laptop
        .post(
            &server.url("/login/second-factor"),
            &[("request", &request), ("csrf", &csrf), ("code", "123456")],
        )
        .await;
    assert_eq!(crafted.status, StatusCode::CONFLICT, "{}", crafted.body);
}

#[tokio::test]
async fn a_flood_of_passkey_challenges_is_bounded_like_pending_sign_ins() {
    let server = TestServer::start_with(|config| {
        config.issuer = config.issuer.replace("127.0.0.1", "localhost");
        config.max_pending_per_address = 4;
    })
    .await;
    let app = flow::app(&server, "openid", true).await;
    // The sign-in page is one pending entry of this address; each challenge
    // asked for is another, until the address's cap refuses more.
    let (mut flood, page) = sign_in_page(&server, &app.0).await;
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let seen = flood
            .post(
                &server.url("/login/passkey/options"),
                &[("request", &request), ("csrf", &csrf)],
            )
            .await;
        statuses.push(seen.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
        ],
        "challenges count against max_pending_per_address"
    );
}

#[tokio::test]
async fn passkey_answers_at_the_second_factor_are_limited_like_codes() {
    let server = TestServer::start_with(|config| {
        config.issuer = config.issuer.replace("127.0.0.1", "localhost");
        config.login_attempts_per_account = 3;
    })
    .await;
    flow::seed_user(&server).await;
    server
        .seed_user(json!({"email": "ada@example.com", "password": PASSWORD}))
        .await;
    let app = flow::app(&server, "openid", true).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "Grace's", None).await;
    let mut ada = Browser::new();
    let page = ada.get(&server.url("/account/security")).await;
    ada.sign_in(&server.base, &page, "ada@example.com", PASSWORD)
        .await;
    let mut adas_key = SoftAuthenticator::new(&origin(&server));
    add_passkey(&server, &mut ada, &mut adas_key, "Ada's", None).await;

    let (mut laptop, page) = sign_in_page_asking(&server, &app.0, MFA).await;
    let step = laptop
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let mut asked = options(&server, &mut laptop, &step).await;
        asked["publicKey"]["allowCredentials"] = json!([]);
        let wrong = adas_key.authenticate(&asked);
        statuses.push(answer(&server, &mut laptop, &step, &wrong).await.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
    // The person's own passkey is refused too until the window ends.
    let asked = options(&server, &mut laptop, &step).await;
    let own = answer(&server, &mut laptop, &step, &key.authenticate(&asked)).await;
    assert_eq!(own.status, StatusCode::TOO_MANY_REQUESTS, "{}", own.body);
}

#[tokio::test]
async fn a_registration_in_flight_does_not_survive_a_sign_out_everywhere() {
    let server = server().await;
    let user_id = flow::seed_user(&server).await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    let security = browser.get(&server.url("/account/security")).await;
    let begin = post_account(
        &server,
        &mut browser,
        "/account/security/passkeys/begin",
        &security,
        &[("password", PASSWORD)],
    )
    .await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    let options: serde_json::Value =
        serde_json::from_str(&common::passkey::attribute(&begin, "data-options")).unwrap();
    let credential = key.register(&options).to_string();
    // A sign-out everywhere (a reset of sign-in methods, say) holds the
    // person's row while the registration's answer arrives.
    let mut tx = server.state.store.begin().await.unwrap();
    tx.user_for_update(&user_id).await.unwrap();
    let (csrf, sid) = (begin.field("csrf"), begin.field("for"));
    let url = server.url("/account/security/passkeys");
    let mut racing = browser.clone();
    let finishing = tokio::spawn(async move {
        racing
            .post(
                &url,
                &[
                    ("csrf", csrf.as_str()),
                    ("for", sid.as_str()),
                    ("credential", credential.as_str()),
                    ("name", "Racing key"),
                ],
            )
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let event = gatehouse::store::AuditEvent::of_person("test_sign_out", &user_id, "a test");
    tx.sign_out_everywhere(&user_id, server.clock.now(), &event)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let answer = finishing.await.unwrap();
    assert!(answer.status.as_u16() < 500, "{}", answer.body);
    assert_eq!(
        server.state.store.passkey_count(&user_id).await.unwrap(),
        0,
        "a passkey registered in a session that ended survived: {}",
        answer.body
    );
}

#[tokio::test]
async fn removing_a_passkey_or_the_password_ends_every_other_session_and_token() {
    let server = server().await;
    flow::seed_user(&server).await;
    let app = flow::web_app(&server, "openid offline_access").await;
    let mut key = SoftAuthenticator::new(&origin(&server));
    let mut browser = account(&server).await;
    add_passkey(&server, &mut browser, &mut key, "One", None).await;
    let mut other_key = SoftAuthenticator::new(&origin(&server));
    let security = add_passkey(&server, &mut browser, &mut other_key, "Two", Some(&mut key)).await;
    let two = passkey_id(&security, "Two");
    for removing in ["a passkey", "the password"] {
        // Signed in elsewhere (with the password, still there), with a refresh token.
        let mut elsewhere = Browser::new();
        let code = flow::code(&server, &mut elsewhere, &app.0, "openid offline_access").await;
        let tokens = common::json_body(
            flow::redeem(&server, &app.0, &app.1, &code).await,
            StatusCode::OK,
        )
        .await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

        let security = browser.get(&server.url("/account/security")).await;
        let with_proof = proof(&server, &mut browser, &security, &mut key).await;
        let (path, mut fields) = match removing {
            "a passkey" => (
                "/account/security/passkeys/remove",
                vec![("passkey", two.as_str())],
            ),
            _ => ("/account/security/password/remove", vec![]),
        };
        fields.push(("credential", with_proof.as_str()));
        let removed = post_account(&server, &mut browser, path, &security, &fields).await;
        assert_eq!(
            removed.status,
            StatusCode::SEE_OTHER,
            "{removing}: {}",
            removed.body
        );

        let refused = flow::refresh(&server, &app.0, &app.1, &refresh_token).await;
        assert_eq!(
            flow::oauth_error(refused).await,
            "invalid_grant",
            "{removing}"
        );
        let again = elsewhere
            .get(&flow::authorize_url(&server, &app.0, "openid", VERIFIER))
            .await;
        assert_eq!(
            again.status,
            StatusCode::OK,
            "{removing}: the other session lives on"
        );
        assert!(
            again.body.contains("name=\"request\""),
            "{removing}: {}",
            again.body
        );
        // This browser proved the change and carries on.
        let still = browser.get(&server.url("/account/security")).await;
        assert_eq!(still.status, StatusCode::OK, "{removing}: {}", still.body);
    }
}
