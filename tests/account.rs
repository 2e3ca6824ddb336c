//! The account area over real HTTP, on whichever backend the suite runs on:
//! signing in with no app, the per-person session list, ending sessions,
//! removing an app's access, changing the password behind a recent sign-in,
//! CSRF refusal on every form, and forms of one interaction step refused in
//! another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::browser::{Browser, Seen};
use common::flow::{self, CALLBACK, EMAIL, PASSWORD, oauth_error, post_account, redeem, refresh};
use common::{TestServer, json_body};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::Barrier;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const NEW_PASSWORD: &str = "another long and careful passphrase";

/// A browser signed in at `/account` directly, landing on the overview.
async fn account_browser(server: &TestServer, agent: &str) -> Browser {
    let mut browser = Browser::with_user_agent(agent);
    let page = browser.get(&server.url("/account")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("manage your Gatehouse account"),
        "{}",
        page.body
    );
    let signed_in = browser
        .submit_sign_in(&server.base, &page, EMAIL, PASSWORD)
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let resume = signed_in.location.clone().unwrap();
    assert!(
        resume.starts_with("/account/resume?interaction="),
        "{resume}"
    );
    let back = browser.get(&server.url(&resume)).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(back.location.as_deref(), Some("/account"));
    let overview = browser.get(&server.url("/account")).await;
    assert!(overview.body.contains(EMAIL), "{}", overview.body);
    browser
}

/// Signs `browser` in through a third-party app, consenting, and returns the
/// token response (with a refresh token).
async fn app_tokens(
    server: &TestServer,
    browser: &mut Browser,
    app: &(String, String),
    scope: &str,
) -> Value {
    let code = flow::code(server, browser, &app.0, scope).await;
    json_body(redeem(server, &app.0, &app.1, &code).await, StatusCode::OK).await
}

/// The sids of the sessions `page` lists, in order.
fn listed_sids(page: &Seen) -> Vec<String> {
    page.body
        .split("name=\"session\" value=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// The sid of the listed session whose device label is `device`.
fn sid_of(page: &Seen, device: &str) -> String {
    let item = page
        .body
        .split("<li class=\"item\">")
        .find(|item| item.contains(device))
        .unwrap_or_else(|| panic!("no {device} session in {}", page.body));
    let rest = &item[item.find("name=\"session\" value=\"").unwrap() + 22..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn sessions_page(server: &TestServer, browser: &mut Browser) -> Seen {
    let page = browser.get(&server.url("/account/sessions")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page
}

fn is_sign_in(page: &Seen) -> bool {
    page.status == StatusCode::OK && page.body.contains("action=\"/login\"")
}

#[tokio::test]
async fn the_session_list_shows_every_device_and_ending_one_ends_its_refresh_tokens() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid offline_access", false).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let mut b = Browser::with_user_agent(SAFARI);
    let online = app_tokens(&server, &mut b, &app, "openid").await;

    let page = sessions_page(&server, &mut a).await;
    assert!(page.body.contains("Firefox on Linux"), "{}", page.body);
    assert!(page.body.contains("Safari on iPhone"), "{}", page.body);
    assert!(page.body.contains("this device"), "{}", page.body);
    let sids = listed_sids(&page);
    assert_eq!(sids.len(), 2, "{sids:?}");
    let b_sid = sid_of(&page, "Safari on iPhone");

    let ended = post_account(
        &server,
        &mut a,
        "/account/sessions/end",
        &page,
        &[("session", &b_sid)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    let after = sessions_page(&server, &mut a).await;
    assert_eq!(listed_sids(&after).len(), 1);
    assert!(!after.body.contains("Safari on iPhone"));

    // B must sign in again, and its non-offline refresh token is over.
    assert!(is_sign_in(&b.get(&server.url("/account")).await));
    let token = online["refresh_token"].as_str().unwrap();
    assert_eq!(
        oauth_error(refresh(&server, &app.0, &app.1, token).await).await,
        "invalid_grant"
    );

    // The activity page shows the sign-ins and the ended session.
    let activity = a.get(&server.url("/account/activity")).await;
    assert!(activity.body.contains("Signed in"), "{}", activity.body);
    assert!(
        activity.body.contains("Session signed out"),
        "{}",
        activity.body
    );
}

#[tokio::test]
async fn an_expired_session_leaves_the_list() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let _b = account_browser(&server, SAFARI).await;
    assert_eq!(listed_sids(&sessions_page(&server, &mut a).await).len(), 2);
    // A stays in use; B is idle past the idle timeout.
    for _ in 0..4 {
        server.clock.advance(1000);
        sessions_page(&server, &mut a).await;
    }
    let page = sessions_page(&server, &mut a).await;
    assert_eq!(listed_sids(&page).len(), 1, "{}", page.body);
    assert!(!page.body.contains("Safari"));
}

#[tokio::test]
async fn removing_an_app_revokes_its_tokens_and_asks_for_consent_again() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid offline_access", false).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let tokens = app_tokens(&server, &mut a, &app, "openid offline_access").await;

    let page = a.get(&server.url("/account/apps")).await;
    assert!(page.body.contains("App"), "{}", page.body);
    assert!(
        page.body.contains("Keep access while you are not using it"),
        "{}",
        page.body
    );
    let removed = post_account(
        &server,
        &mut a,
        "/account/apps/remove",
        &page,
        &[("client_id", &app.0)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let after = a.get(&server.url("/account/apps")).await;
    assert!(after.body.contains("No app has access"), "{}", after.body);

    let token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        oauth_error(refresh(&server, &app.0, &app.1, token).await).await,
        "invalid_grant"
    );
    // Still signed in, the next authorization asks for consent again.
    let verifier = "v".repeat(50);
    let again = a
        .get(&flow::authorize_url(&server, &app.0, "openid", &verifier))
        .await;
    assert!(again.body.contains("name=\"decision\""), "{}", again.body);
    let activity = a.get(&server.url("/account/activity")).await;
    assert!(
        activity.body.contains("App access removed"),
        "{}",
        activity.body
    );
}

#[tokio::test]
async fn every_account_form_refuses_a_missing_or_foreign_csrf_token() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let b = account_browser(&server, SAFARI).await;
    let page = sessions_page(&server, &mut a).await;
    let b_sid = sid_of(&page, "Safari on iPhone");
    let foreign = b.cookies.get("gatehouse_csrf").cloned().unwrap();
    let forms: [(&str, Vec<(&str, &str)>); 6] = [
        ("/account/sessions/end", vec![("session", b_sid.as_str())]),
        ("/account/sessions/end-others", vec![]),
        ("/account/apps/remove", vec![("client_id", "x")]),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        ),
        ("/account/sign-out", vec![]),
        ("/account/profile", vec![("given_name", "Mallory")]),
    ];
    for (path, fields) in &forms {
        for token in [None, Some(foreign.as_str())] {
            let mut form = fields.clone();
            if let Some(token) = token {
                form.push(("csrf", token));
            }
            let refused = a.post(&server.url(path), &form).await;
            assert_eq!(
                refused.status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}"
            );
        }
    }
    // Nothing happened: both sessions live, the old password still works.
    assert_eq!(listed_sids(&sessions_page(&server, &mut a).await).len(), 2);
    assert!(a.get(&server.url("/account")).await.body.contains(EMAIL));
    let _still = account_browser(&server, FIREFOX).await;
}

#[tokio::test]
async fn a_password_change_needs_a_recent_sign_in_and_ends_everything_else() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid offline_access", false).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let mut b = Browser::with_user_agent(SAFARI);
    let offline = app_tokens(&server, &mut b, &app, "openid offline_access").await;

    // Ten minutes on, the sign-in is too old for a password change: posting
    // the form gets the sign-in page, and the password stays.
    let form_page = a.get(&server.url("/account/password")).await;
    assert!(
        form_page.body.contains("name=\"new_password\""),
        "{}",
        form_page.body
    );
    server.clock.advance(600);
    let change = [
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
        ("confirm_password", NEW_PASSWORD),
    ];
    let refused = post_account(&server, &mut a, "/account/password", &form_page, &change).await;
    assert!(is_sign_in(&refused), "{}", refused.body);
    assert!(refused.body.contains("sign in again"), "{}", refused.body);
    let token = offline["refresh_token"].as_str().unwrap();
    let rotated = json_body(
        refresh(&server, &app.0, &app.1, token).await,
        StatusCode::OK,
    )
    .await;

    // Signing in again returns to the password page, which now takes the change.
    let back = a.sign_in(&server.base, &refused, EMAIL, PASSWORD).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    assert_eq!(back.location.as_deref(), Some("/account/password"));
    let form_page = a.get(&server.url("/account/password")).await;
    let wrong = [
        ("current_password", "not the password at all"),
        ("new_password", NEW_PASSWORD),
        ("confirm_password", NEW_PASSWORD),
    ];
    let denied = post_account(&server, &mut a, "/account/password", &form_page, &wrong).await;
    assert_eq!(denied.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        denied.body.contains("current password is not right"),
        "{}",
        denied.body
    );
    let changed = post_account(&server, &mut a, "/account/password", &form_page, &change).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);

    // This browser stays signed in; B and even B's offline grant are over.
    let sessions = sessions_page(&server, &mut a).await;
    assert_eq!(listed_sids(&sessions).len(), 1, "{}", sessions.body);
    assert!(is_sign_in(&b.get(&server.url("/account")).await));
    let token = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(
        oauth_error(refresh(&server, &app.0, &app.1, token).await).await,
        "invalid_grant"
    );
    let activity = a.get(&server.url("/account/activity")).await;
    assert!(
        activity.body.contains("password changed by the person"),
        "{}",
        activity.body
    );
    // The new password signs in; the old one no longer does.
    let mut c = Browser::new();
    let page = c.get(&server.url("/account")).await;
    let old = c.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert!(
        old.body.contains("Incorrect email or password"),
        "{}",
        old.body
    );
    let new = c.sign_in(&server.base, &old, EMAIL, NEW_PASSWORD).await;
    assert_eq!(new.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_everywhere_else_needs_a_recent_sign_in_and_keeps_this_browser() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let mut b = account_browser(&server, SAFARI).await;
    let mut c = account_browser(&server, "").await;
    server.clock.advance(400);
    let page = sessions_page(&server, &mut a).await;
    let refused = post_account(&server, &mut a, "/account/sessions/end-others", &page, &[]).await;
    assert!(is_sign_in(&refused), "{}", refused.body);
    assert_eq!(listed_sids(&sessions_page(&server, &mut a).await).len(), 3);

    let back = a.sign_in(&server.base, &refused, EMAIL, PASSWORD).await;
    assert_eq!(back.location.as_deref(), Some("/account/sessions"));
    let page = sessions_page(&server, &mut a).await;
    let done = post_account(&server, &mut a, "/account/sessions/end-others", &page, &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(listed_sids(&sessions_page(&server, &mut a).await).len(), 1);
    assert!(is_sign_in(&b.get(&server.url("/account")).await));
    assert!(is_sign_in(&c.get(&server.url("/account")).await));
}

#[tokio::test]
async fn a_form_of_one_interaction_step_is_refused_in_another() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", false).await;
    let mut browser = Browser::new();
    // The account's sign-in step, answered as if it were a consent step.
    let page = browser.get(&server.url("/account")).await;
    let consent = browser.consent(&server.base, &page, "allow").await;
    assert!(
        [StatusCode::BAD_REQUEST, StatusCode::CONFLICT].contains(&consent.status),
        "{}",
        consent.body
    );
    assert!(consent.location.is_none());

    // An app's consent step: its form is refused at the sign-in form, and
    // the account's resume never serves an app's interaction.
    let verifier = "v".repeat(50);
    let start = browser
        .get(&flow::authorize_url(&server, &app.0, "openid", &verifier))
        .await;
    let at_consent = browser.sign_in(&server.base, &start, EMAIL, PASSWORD).await;
    assert!(
        at_consent.body.contains("name=\"decision\""),
        "{}",
        at_consent.body
    );
    let signed_again = browser
        .submit_sign_in(&server.base, &at_consent, EMAIL, PASSWORD)
        .await;
    assert_eq!(
        signed_again.status,
        StatusCode::CONFLICT,
        "{}",
        signed_again.body
    );
    let allowed = browser
        .post(
            &server.url("/consent"),
            &[
                ("request", at_consent.field("request").as_str()),
                ("csrf", at_consent.field("csrf").as_str()),
                ("decision", "allow"),
            ],
        )
        .await;
    let resume = allowed.location.clone().unwrap();
    let crossed = resume.replace("/authorize/resume", "/account/resume");
    assert_eq!(
        browser.get(&server.url(&crossed)).await.status,
        StatusCode::CONFLICT
    );
    // The real resume still gets the code, once.
    let code = browser.get(&server.url(&resume)).await;
    assert!(code.redirect_param("code").is_some(), "{}", code.body);
    assert!(code.location.unwrap().starts_with(CALLBACK));
    let replay = browser.get(&server.url(&resume)).await;
    assert_eq!(replay.status, StatusCode::CONFLICT);
}

/// Two tabs resuming one finished interaction at once: exactly one code.
#[tokio::test]
async fn of_two_resumes_of_one_interaction_exactly_one_gets_a_code() {
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let app = flow::web_app(&server, "openid").await;
    for round in 0..10 {
        let mut browser = Browser::new();
        let verifier = "v".repeat(50);
        let start = browser
            .get(&flow::authorize_url(&server, &app.0, "openid", &verifier))
            .await;
        let signed_in = browser
            .submit_sign_in(&server.base, &start, EMAIL, PASSWORD)
            .await;
        let resume = server.url(signed_in.location.as_deref().unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let racers = [(); 2].map(|()| {
            let (barrier, resume) = (barrier.clone(), resume.clone());
            let mut twin = Browser::new();
            twin.cookies = browser.cookies.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                twin.get(&resume).await
            })
        });
        let mut codes = 0;
        for racer in racers {
            let seen = racer.await.unwrap();
            if seen
                .location
                .as_deref()
                .is_some_and(|l| l.contains("code="))
            {
                codes += 1;
            } else {
                assert_eq!(
                    seen.status,
                    StatusCode::CONFLICT,
                    "round {round}: {}",
                    seen.body
                );
            }
        }
        assert_eq!(codes, 1, "round {round}");
    }
}

/// Ending another browser's session one at a time needs a recent sign-in as
/// much as ending them all does: a stolen, stale cookie cannot kick the owner out.
#[tokio::test]
async fn ending_another_session_needs_a_recent_sign_in() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let mut b = account_browser(&server, SAFARI).await;
    server.clock.advance(400);
    let page = sessions_page(&server, &mut a).await;
    let b_sid = sid_of(&page, "Safari on iPhone");
    let refused = post_account(
        &server,
        &mut a,
        "/account/sessions/end",
        &page,
        &[("session", &b_sid)],
    )
    .await;
    assert!(is_sign_in(&refused), "{}", refused.body);
    assert!(b.get(&server.url("/account")).await.body.contains(EMAIL));
    // Signing in again returns to the list, where ending B's session now works.
    let stale_page = page;
    let back = a.sign_in(&server.base, &refused, EMAIL, PASSWORD).await;
    assert_eq!(back.location.as_deref(), Some("/account/sessions"));
    let page = sessions_page(&server, &mut a).await;
    let ended = post_account(
        &server,
        &mut a,
        "/account/sessions/end",
        &page,
        &[("session", &b_sid)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    assert!(is_sign_in(&b.get(&server.url("/account")).await));
    // The old tab's forms no longer act, but its sign-out still signs out.
    let old_form = post_account(
        &server,
        &mut a,
        "/account/sessions/end-others",
        &stale_page,
        &[],
    )
    .await;
    assert_eq!(old_form.status, StatusCode::CONFLICT);
    let stale = post_account(&server, &mut a, "/account/sign-out", &stale_page, &[]).await;
    assert_eq!(
        stale.location.as_deref(),
        Some("/account"),
        "{}",
        stale.body
    );
    assert!(is_sign_in(&a.get(&server.url("/account")).await));
}

/// Its own session a browser may always end, however old its sign-in.
#[tokio::test]
async fn a_browser_may_always_end_its_own_session() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let mut a = account_browser(&server, FIREFOX).await;
    server.clock.advance(400);
    let page = sessions_page(&server, &mut a).await;
    let own = sid_of(&page, "this device");
    let ended = post_account(
        &server,
        &mut a,
        "/account/sessions/end",
        &page,
        &[("session", &own)],
    )
    .await;
    assert_eq!(ended.location.as_deref(), Some("/account"));
    assert!(is_sign_in(&a.get(&server.url("/account")).await));
}

/// A tab left open by one person, posted after another signed in on the same
/// browser, is out of date: it never acts for the one signed in now.
#[tokio::test]
async fn a_stale_tab_never_acts_for_the_next_person_on_the_browser() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    server
        .seed_user(serde_json::json!({"email": "bob@example.com", "password": PASSWORD}))
        .await;
    let app = flow::app(&server, "openid offline_access", false).await;
    let mut browser = account_browser(&server, FIREFOX).await;
    let grace_page = browser.get(&server.url("/account/apps")).await;
    let signed_out =
        post_account(&server, &mut browser, "/account/sign-out", &grace_page, &[]).await;
    assert_eq!(signed_out.location.as_deref(), Some("/account"));
    let page = browser.get(&server.url("/account")).await;
    let bob = browser
        .sign_in(&server.base, &page, "bob@example.com", PASSWORD)
        .await;
    assert_eq!(bob.location.as_deref(), Some("/account"));
    let verifier = "v".repeat(50);
    let consent = browser
        .get(&flow::authorize_url(
            &server,
            &app.0,
            "openid offline_access",
            &verifier,
        ))
        .await;
    let back = browser.consent(&server.base, &consent, "allow").await;
    let code = back.redirect_param("code").unwrap();
    let tokens = json_body(
        redeem(&server, &app.0, &app.1, &flow::Code { code, verifier }).await,
        StatusCode::OK,
    )
    .await;

    let stale = post_account(
        &server,
        &mut browser,
        "/account/apps/remove",
        &grace_page,
        &[("client_id", &app.0)],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    let token = tokens["refresh_token"].as_str().unwrap();
    json_body(
        refresh(&server, &app.0, &app.1, token).await,
        StatusCode::OK,
    )
    .await;
}

/// A code the app got before the person removed its access is refused.
#[tokio::test]
async fn removing_an_app_refuses_the_codes_it_still_holds() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid offline_access", false).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let first = app_tokens(&server, &mut a, &app, "openid").await;
    assert!(first["refresh_token"].is_string());
    let held = flow::code(&server, &mut a, &app.0, "openid offline_access").await;
    // A removal seconds after the code was issued still refuses it: the
    // code records the removal count, not a time.
    server.clock.advance(5);
    let page = a.get(&server.url("/account/apps")).await;
    let removed = post_account(
        &server,
        &mut a,
        "/account/apps/remove",
        &page,
        &[("client_id", &app.0)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        oauth_error(redeem(&server, &app.0, &app.1, &held).await).await,
        "invalid_grant"
    );
    // A code issued after the removal (a new consent), in the same second, works.
    let again = app_tokens(&server, &mut a, &app, "openid").await;
    assert!(again["access_token"].is_string());
}

/// Two password changes from the same old password at once: one lands, the
/// other is refused, and never do both browsers stay signed in.
#[tokio::test]
async fn of_two_password_changes_at_once_only_one_lands() {
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let mut password = PASSWORD.to_owned();
    for round in 0..6 {
        let mut a = Browser::with_user_agent(FIREFOX);
        let mut b = Browser::with_user_agent(SAFARI);
        let mut pages = Vec::new();
        for browser in [&mut a, &mut b] {
            let page = browser.get(&server.url("/account/password")).await;
            let back = browser.sign_in(&server.base, &page, EMAIL, &password).await;
            assert_eq!(
                back.location.as_deref(),
                Some("/account/password"),
                "round {round}"
            );
            pages.push(browser.get(&server.url("/account/password")).await);
        }
        let barrier = Arc::new(Barrier::new(2));
        let news = [
            format!("first new passphrase {round}"),
            format!("second new passphrase {round}"),
        ];
        let mut racers = Vec::new();
        for ((mut browser, page), new) in [a, b].into_iter().zip(pages).zip(news.clone()) {
            let (barrier, server, old) = (barrier.clone(), server.clone(), password.clone());
            racers.push(tokio::spawn(async move {
                let form = [
                    ("csrf", page.field("csrf")),
                    ("for", page.field("for")),
                    ("current_password", old),
                    ("new_password", new.clone()),
                    ("confirm_password", new),
                ];
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                barrier.wait().await;
                let answer = browser.post(&server.url("/account/password"), &form).await;
                let still_in = browser
                    .get(&server.url("/account"))
                    .await
                    .body
                    .contains(EMAIL);
                (answer.status == StatusCode::SEE_OTHER, still_in)
            }));
        }
        let mut landed = Vec::new();
        for (racer, new) in racers.into_iter().zip(news) {
            let (changed, still_in) = racer.await.unwrap();
            if changed {
                landed.push(new);
            }
            assert_eq!(
                changed, still_in,
                "round {round}: a browser's standing does not match its answer"
            );
        }
        assert_eq!(landed.len(), 1, "round {round}: {landed:?}");
        password = landed.pop().unwrap();
    }
}

/// Failed attempts, which anyone who knows the email can cause, are listed
/// apart and at most once per attempt window: they never push the person's
/// own sign-ins off the activity page.
#[tokio::test]
async fn failed_attempts_never_push_sign_ins_off_the_activity_page() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let mut a = account_browser(&server, FIREFOX).await;
    let mut stranger = Browser::new();
    // Three windows of four failures each (the fourth already waits).
    for _ in 0..3 {
        for _ in 0..4 {
            let page = stranger.get(&server.url("/account")).await;
            stranger
                .sign_in(&server.base, &page, EMAIL, "not the password")
                .await;
        }
        server.clock.advance(900);
        // Keep A's session in use.
        a.get(&server.url("/account")).await;
    }
    // Failures are recorded off the response path.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let activity = a.get(&server.url("/account/activity")).await;
    assert!(activity.body.contains("Signed in"), "{}", activity.body);
    let recorded = flow::count(
        &server,
        "(select * from audit_events where kind = 'sign_in_failed') a",
    )
    .await;
    assert_eq!(recorded, 3, "one failure recorded per window");
    let failures = activity.body.matches("wrong password from").count();
    assert_eq!(failures, 3, "{}", activity.body);

    // However many failures there are, the person's own events stay listed.
    let user_id = flow::count(&server, "users").await;
    assert_eq!(user_id, 1);
    flow::sql(
        &server,
        "insert into audit_events (at, kind, user_id, client_id, detail) \
         select at, kind, user_id, client_id, detail from audit_events where kind = 'sign_in_failed'",
    )
    .await;
    for _ in 0..5 {
        flow::sql(
            &server,
            "insert into audit_events (at, kind, user_id, client_id, detail) \
             select at, kind, user_id, client_id, detail from audit_events where kind = 'sign_in_failed'",
        )
        .await;
    }
    let rows = flow::count(
        &server,
        "(select * from audit_events where kind = 'sign_in_failed') a",
    )
    .await;
    assert!(rows > 60, "{rows}");
    let activity = a.get(&server.url("/account/activity")).await;
    assert!(activity.body.contains("Signed in"), "{}", activity.body);
    assert_eq!(activity.body.matches("wrong password from").count(), 10);
}

/// An "allow" and a "deny" posted together: only the answer that moved the
/// interaction counts, so a denial never leaves the consent remembered.
#[tokio::test]
async fn an_allow_racing_a_deny_counts_only_if_it_won() {
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    for round in 0..8 {
        let app = flow::app(&server, "openid", false).await;
        let mut browser = account_browser(&server, FIREFOX).await;
        let verifier = "v".repeat(50);
        let url = flow::authorize_url(&server, &app.0, "openid", &verifier);
        let consent = browser.get(&url).await;
        let barrier = Arc::new(Barrier::new(2));
        let racers = ["allow", "deny"].map(|decision| {
            let mut twin = Browser::new();
            twin.cookies = browser.cookies.clone();
            let (barrier, server) = (barrier.clone(), server.clone());
            let form = [
                ("request", consent.field("request")),
                ("csrf", consent.field("csrf")),
                ("decision", decision.to_owned()),
            ];
            tokio::spawn(async move {
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                barrier.wait().await;
                let answer = twin.post(&server.url("/consent"), &form).await;
                (decision, answer.status == StatusCode::SEE_OTHER)
            })
        });
        let mut won = Vec::new();
        for racer in racers {
            let (decision, moved) = racer.await.unwrap();
            if moved {
                won.push(decision);
            }
        }
        assert_eq!(won.len(), 1, "round {round}");
        let silent = browser.get(&format!("{url}&prompt=none")).await;
        let error = silent.redirect_param("error");
        match won[0] {
            "deny" => assert_eq!(error.as_deref(), Some("consent_required"), "round {round}"),
            _ => assert!(silent.redirect_param("code").is_some(), "round {round}"),
        }
    }
}

/// The person edits their profile; apps receive it by scope: `profile`,
/// `address` and `phone` at userinfo; a bad value gets the form back with
/// what was typed and changes nothing.
#[tokio::test]
async fn a_profile_edited_in_the_account_area_reaches_apps_by_scope() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let app = flow::web_app(&server, "openid profile email address phone").await;
    let mut a = account_browser(&server, FIREFOX).await;
    let page = a.get(&server.url("/account/profile")).await;
    assert!(page.body.contains("for=\"given_name\""), "{}", page.body);
    let bad = post_account(
        &server,
        &mut a,
        "/account/profile",
        &page,
        &[("given_name", "Grace"), ("website", "javascript:alert(1)")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Website must be"), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"Grace\""),
        "the form keeps what was typed"
    );
    let fields = [
        ("name", "Grace Hopper"),
        ("given_name", "Grace"),
        ("family_name", "Hopper"),
        ("preferred_username", "amazing_grace"),
        ("website", "https://example.com/grace"),
        ("locale", "en-US"),
        ("zoneinfo", "America/New_York"),
        ("phone_number", "+12025550123"),
        ("street_address", "1 Navy Way"),
        ("locality", "Arlington"),
        ("country", "US"),
    ];
    let saved = post_account(&server, &mut a, "/account/profile", &page, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let overview = a.get(&server.url("/account")).await;
    assert!(
        overview.body.contains("America/New_York"),
        "{}",
        overview.body
    );
    let activity = a.get(&server.url("/account/activity")).await;
    assert!(
        activity.body.contains("profile changed by the person"),
        "{}",
        activity.body
    );

    for (scope, present, absent) in [
        (
            "openid profile",
            &["given_name", "family_name", "website", "locale", "zoneinfo"][..],
            &["address", "phone_number"][..],
        ),
        (
            "openid address",
            &["address"][..],
            &["given_name", "phone_number"][..],
        ),
        (
            "openid phone",
            &["phone_number", "phone_number_verified"][..],
            &["address", "name"][..],
        ),
    ] {
        let tokens = app_tokens(&server, &mut a, &app, scope).await;
        let info: Value = server
            .http
            .get(server.url("/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["sub"], serde_json::json!(user_id));
        for claim in present {
            assert!(
                info.get(*claim).is_some(),
                "{scope}: {claim} missing in {info}"
            );
        }
        for claim in absent {
            assert!(
                info.get(*claim).is_none(),
                "{scope}: {claim} released in {info}"
            );
        }
        if scope == "openid address" {
            assert_eq!(info["address"]["locality"], "Arlington");
        }
        if scope == "openid phone" {
            assert_eq!(info["phone_number_verified"], false);
        }
    }

    // An admin sets the same fields (and may verify the number).
    let admin = server.admin_token().await;
    let patched = server
        .http
        .patch(server.url(&format!("/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"claims": {"phone_number_verified": true, "address": {"locality": ""}}}))
        .send()
        .await
        .unwrap();
    let view = json_body(patched, StatusCode::OK).await;
    assert_eq!(view["claims"]["phone_number_verified"], true);
    assert_eq!(view["claims"]["address"]["street_address"], "1 Navy Way");
    assert!(
        view["claims"]["address"].get("locality").is_none(),
        "{view}"
    );
    let refused = server
        .http
        .patch(server.url(&format!("/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"claims": {"phone_number": "12345"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

/// An "allow" given in one tab while the app's access is removed in another
/// no longer counts: the next step asks for consent again.
#[tokio::test]
async fn an_allow_crossed_by_a_removal_asks_again() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let app = flow::app(&server, "openid", false).await;
    let mut a = account_browser(&server, FIREFOX).await;
    app_tokens(&server, &mut a, &app, "openid").await;
    let verifier = "v".repeat(50);
    let consent = a
        .get(&format!(
            "{}&prompt=consent",
            flow::authorize_url(&server, &app.0, "openid", &verifier)
        ))
        .await;
    let allowed = a
        .post(
            &server.url("/consent"),
            &[
                ("request", consent.field("request").as_str()),
                ("csrf", consent.field("csrf").as_str()),
                ("decision", "allow"),
            ],
        )
        .await;
    let resume = allowed.location.clone().unwrap();
    let page = a.get(&server.url("/account/apps")).await;
    let removed = post_account(
        &server,
        &mut a,
        "/account/apps/remove",
        &page,
        &[("client_id", &app.0)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let next = a.get(&server.url(&resume)).await;
    assert!(
        next.body.contains("name=\"decision\""),
        "asked again: {}",
        next.body
    );
    assert!(next.location.is_none());
}

/// A failure on our side is told in the shape its audience reads — a page for
/// a person, JSON for an app — with `Retry-After`, never showing its cause;
/// and since the change was one unit of work, sending it again works.
#[tokio::test]
async fn a_failure_on_our_side_is_a_page_for_a_person_and_json_for_an_app() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let admin = server.admin_token().await;
    let mut a = account_browser(&server, FIREFOX).await;
    let page = a.get(&server.url("/account/profile")).await;
    let rename = [("name", "Grace")];
    flow::break_writes(&server, "users", "update").await;

    let failed = post_account(&server, &mut a, "/account/profile", &page, &rename).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    let content_type = failed.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        failed.body.contains("Something went wrong"),
        "{}",
        failed.body
    );
    assert!(failed.headers.contains_key("retry-after"));
    assert!(!failed.body.contains("injected"), "{}", failed.body);

    let api = server
        .http
        .patch(server.url(&format!("/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "Grace"}))
        .send()
        .await
        .unwrap();
    assert!(api.headers().contains_key("retry-after"));
    let body = json_body(api, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(!body.to_string().contains("injected"), "{body}");

    flow::heal(&server, "users", "update").await;
    let saved = post_account(&server, &mut a, "/account/profile", &page, &rename).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
}
