//! Password reset over a real SMTP server (Python's aiosmtpd on loopback),
//! on whichever backend the suite runs on: the link arrives, works once,
//! expires, is ended by asking again, and ends every session and token of
//! the person; an unknown address gets the same answer and no mail; asking
//! is limited per address; the mail server being down delays the message
//! but fails no request; two instances deliver each message once; a failure
//! of the outbox write leaves the password as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::TestServer;
use common::browser::{Browser, Seen};
use common::flow::{self, break_writes, heal, is_active, oauth_error, refresh};
use common::mailbox::{Mailbox, link};
use common::people::{self, EMAIL, PASSWORD};
use gatehouse::config::Config;
use reqwest::StatusCode;
use tokio::sync::Barrier;

const NEW_PASSWORD: &str = "a fresh and memorable passphrase";

/// A server whose mail goes to `mailbox`, polling for due mail often (retries
/// in these tests come due when the clock is moved, not on a wake-up).
async fn server(mailbox: &Mailbox) -> TestServer {
    server_with(mailbox, |_| {}).await
}

/// [`server`], with `adjust` applied to its configuration.
async fn server_with(mailbox: &Mailbox, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let url = mailbox.url();
    TestServer::start_with(move |c| {
        c.smtp_url = Some(url);
        c.mail_from = "Gatehouse <id@gatehouse.test>".into();
        c.mail_poll_interval_ms = 50;
        adjust(c);
    })
    .await
}

/// Asks for a reset link for `email` from a fresh browser; the answer.
async fn ask(server: &TestServer, email: &str) -> Seen {
    let mut browser = Browser::new();
    ask_in(server, &mut browser, email).await
}

async fn ask_in(server: &TestServer, browser: &mut Browser, email: &str) -> Seen {
    let page = browser.get(&server.url("/login/forgot")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.field("csrf");
    browser
        .post(
            &server.url("/login/forgot"),
            &[("csrf", &csrf), ("email", email)],
        )
        .await
}

/// Opens `link` in a fresh browser and submits its form with `password`.
async fn use_link(link: &str, password: &str) -> Seen {
    let mut browser = Browser::new();
    let page = browser.get(link).await;
    if page.status != StatusCode::OK {
        return page;
    }
    submit(&mut browser, link, &page, password).await
}

async fn submit(browser: &mut Browser, link: &str, page: &Seen, password: &str) -> Seen {
    let base = &link[..link.find("/login/reset/").unwrap()];
    browser
        .post(
            &format!("{base}/login/reset"),
            &[
                ("csrf", &page.field("csrf")),
                ("token", &page.field("token")),
                ("new_password", password),
                ("confirm_password", password),
            ],
        )
        .await
}

/// Whether `password` signs [`EMAIL`] in to a web app.
async fn signs_in(server: &TestServer, app: &(String, String), password: &str) -> bool {
    let mut browser = Browser::new();
    let code = flow::authorize_url(server, &app.0, "openid", &"v".repeat(50));
    let page = browser.get(&code).await;
    let back = browser.sign_in(&server.base, &page, EMAIL, password).await;
    back.status == StatusCode::FOUND && back.redirect_param("code").is_some()
}

/// The link of the newest reset message to [`EMAIL`], once `count` arrived.
async fn reset_link(mailbox: &Mailbox, count: usize) -> String {
    let mail = mailbox.wait_for(EMAIL, "Reset your", count).await;
    let newest = mail.last().unwrap();
    assert!(newest.html.contains("/login/reset/"), "{}", newest.html);
    assert_eq!(newest.from, "Gatehouse <id@gatehouse.test>");
    link(&newest.text, "/login/reset/")
}

#[tokio::test]
async fn a_reset_link_arrives_works_once_and_ends_every_session_and_token() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    let app = people::web_client(&server).await;
    let tokens = people::sign_in_tokens(&server, &app.0, &app.1, "openid offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();

    let answer = ask(&server, EMAIL).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("If an account uses that address"));
    let link = reset_link(&mailbox, 1).await;
    assert!(link.starts_with(&server.url("/login/reset/")), "{link}");
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 43, "a 256-bit token");

    // Opening the link shows the form and uses nothing up (mail scanners open links).
    let mut browser = Browser::new();
    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.headers["referrer-policy"], "no-referrer",
        "the token in the address never leaks through a Referer"
    );
    let again = Browser::new().get(&link).await;
    assert_eq!(again.status, StatusCode::OK);
    let done = submit(&mut browser, &link, &page, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Your password was changed"));

    // Used once: the link, its form and a stale tab all refuse.
    let used = use_link(&link, "yet another long passphrase").await;
    assert_eq!(used.status, StatusCode::BAD_REQUEST, "{}", used.body);
    assert!(used.body.contains("This link no longer works"));
    let stale = submit(&mut Browser::new(), &link, &page, "a stale tab passphrase").await;
    assert_ne!(stale.status, StatusCode::OK, "{}", stale.body);

    // Every session and token ended; only the new password works.
    let refused = refresh(&server, &app.0, &app.1, refresh_token).await;
    assert_eq!(oauth_error(refused).await, "invalid_grant");
    assert!(!is_active(&server, &app.0, &app.1, access_token).await);
    assert!(!signs_in(&server, &app, PASSWORD).await);
    assert!(signs_in(&server, &app, NEW_PASSWORD).await);

    // The person is told, and the change is in their security activity.
    let notice = mailbox.wait_for(EMAIL, "password was changed", 1).await;
    assert!(
        notice[0].text.contains("with a reset link from 127.0.0.1"),
        "{}",
        notice[0].text
    );
    let events = server.state.store.recent_audit(50, None).await.unwrap();
    assert!(
        events.iter().any(|e| e.kind == "password_reset"),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    let known = ask(&server, EMAIL).await;
    let unknown = ask(&server, "nobody@example.com").await;
    assert_eq!(known.status, unknown.status);
    let without_csrf = |page: &Seen, email: &str| {
        page.body
            .replace(&page.field("csrf"), "")
            .replace(email, "")
    };
    assert_eq!(
        without_csrf(&known, EMAIL),
        without_csrf(&unknown, "nobody@example.com"),
        "the answers differ only in the address typed"
    );
    reset_link(&mailbox, 1).await;
    // The unknown address's request was handled before the known one's mail went.
    assert!(mailbox.to("nobody@example.com").is_empty());
    assert_eq!(mailbox.all().len(), 1);
}

#[tokio::test]
async fn asking_again_ends_the_earlier_link_and_links_expire() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    ask(&server, EMAIL).await;
    let first = reset_link(&mailbox, 1).await;
    ask(&server, EMAIL).await;
    let second = reset_link(&mailbox, 2).await;
    assert_ne!(first, second);
    let refused = use_link(&first, NEW_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    // Past its lifetime the live one stops working too.
    server
        .clock
        .advance(server.config.password_reset_ttl_secs + 1);
    let expired = use_link(&second, NEW_PASSWORD).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST, "{}", expired.body);
    let app = people::web_client(&server).await;
    assert!(signs_in(&server, &app, PASSWORD).await);
}

#[tokio::test]
async fn of_parallel_uses_of_one_link_exactly_one_changes_the_password() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    ask(&server, EMAIL).await;
    let link = reset_link(&mailbox, 1).await;
    const N: usize = 8;
    let mut pages = Vec::new();
    for _ in 0..N {
        let mut browser = Browser::new();
        let page = browser.get(&link).await;
        pages.push((browser, page));
    }
    let barrier = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = pages
        .into_iter()
        .enumerate()
        .map(|(i, (mut browser, page))| {
            let (barrier, link) = (barrier.clone(), link.clone());
            tokio::spawn(async move {
                let password = format!("racing passphrase number {i}");
                barrier.wait().await;
                let seen = submit(&mut browser, &link, &page, &password).await;
                (seen.status, password)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (status, password) = task.await.unwrap();
        assert!(status.as_u16() < 500, "{status}");
        if status == StatusCode::OK {
            winners.push(password);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "one link changed the password {} times",
        winners.len()
    );
    let app = people::web_client(&server).await;
    assert!(signs_in(&server, &app, &winners[0]).await);
    assert_eq!(
        mailbox
            .wait_for(EMAIL, "password was changed", 1)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_address_whether_or_not_it_has_an_account() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    let limit = server.config.password_reset_requests_per_account as usize;
    for email in [EMAIL, "nobody@example.com"] {
        let barrier = Arc::new(Barrier::new(10));
        let mut browsers = Vec::new();
        for _ in 0..10 {
            let mut browser = Browser::new();
            let page = browser.get(&server.url("/login/forgot")).await;
            browsers.push((browser, page.field("csrf")));
        }
        let tasks: Vec<_> = browsers
            .into_iter()
            .map(|(mut browser, csrf)| {
                let (barrier, url) = (barrier.clone(), server.url("/login/forgot"));
                tokio::spawn(async move {
                    barrier.wait().await;
                    browser
                        .post(&url, &[("csrf", &csrf), ("email", email)])
                        .await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            let seen = task.await.unwrap();
            if seen.status == StatusCode::TOO_MANY_REQUESTS {
                let wait: u64 = seen.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(wait > 0 && wait <= server.config.login_window_secs);
                assert!(seen.body.contains("Wait "), "{}", seen.body);
            }
            statuses.push(seen.status);
        }
        let allowed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(
            (allowed, refused),
            (limit, 10 - limit),
            "{email}: {statuses:?}"
        );
    }
    let mail = mailbox.wait_for(EMAIL, "Reset your", limit).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(mailbox.to(EMAIL).len(), mail.len());
    assert_eq!(mail.len(), limit);
}

#[tokio::test]
async fn a_request_succeeds_while_the_mail_server_is_down_and_the_link_arrives_once_it_is_back() {
    let mut mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    mailbox.stop();
    let answer = ask(&server, EMAIL).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The worker tried, failed, and keeps the message for a later attempt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let row = loop {
        let rows = server.state.store.list_mail(None, 10).await.unwrap();
        if let Some(row) = rows.into_iter().find(|r| r.last_error.is_some()) {
            break row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery attempt was made"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((row.status.as_str(), row.attempts), ("pending", 1));
    mailbox.restart();
    server
        .clock
        .advance(gatehouse::mail::worker::retry_delay(1));
    let link = reset_link(&mailbox, 1).await;
    let done = use_link(&link, NEW_PASSWORD).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    mailbox.wait_for(EMAIL, "password was changed", 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rows = server
        .state
        .store
        .list_mail(Some("sent"), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
}

#[tokio::test]
async fn a_failed_outbox_write_leaves_the_password_and_the_link_as_they_were() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    let app = people::web_client(&server).await;
    ask(&server, EMAIL).await;
    let link = reset_link(&mailbox, 1).await;
    break_writes(&server, "mail_outbox", "insert").await;
    let failed = use_link(&link, NEW_PASSWORD).await;
    assert!(failed.status.is_server_error(), "{}", failed.body);
    assert!(
        signs_in(&server, &app, PASSWORD).await,
        "the old password still works"
    );
    heal(&server, "mail_outbox", "insert").await;
    let done = use_link(&link, NEW_PASSWORD).await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "the link was not used up: {}",
        done.body
    );
    assert!(signs_in(&server, &app, NEW_PASSWORD).await);
}

#[tokio::test]
async fn two_instances_deliver_each_message_exactly_once() {
    let mailbox = Mailbox::start();
    // Every request comes from this one test address.
    let server = server_with(&mailbox, |c| c.password_reset_requests_per_ip = 100).await;
    let second = server.beside(|_| {}).await;
    const PEOPLE: usize = 12;
    for i in 0..PEOPLE {
        server
            .seed_user(
                serde_json::json!({"email": format!("p{i}@example.com"), "password": PASSWORD}),
            )
            .await;
    }
    for i in 0..PEOPLE {
        let on = if i % 2 == 0 { &server } else { &second };
        ask(on, &format!("p{i}@example.com")).await;
    }
    for i in 0..PEOPLE {
        mailbox
            .wait_for(&format!("p{i}@example.com"), "Reset your", 1)
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        mailbox.all().len(),
        PEOPLE,
        "some message was delivered twice"
    );
    second.stop().await;
}

#[tokio::test]
async fn without_smtp_a_public_server_offers_no_reset_and_says_why() {
    let server = TestServer::start_with(|c| c.issuer = "https://id.example".into()).await;
    let page = Browser::new().get(&server.url("/login/forgot")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("not available on this server"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<form"), "{}", page.body);
}

#[tokio::test]
async fn a_new_address_or_a_sign_out_everywhere_ends_a_live_link() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    let user_id = people::seed_person(&server).await;
    let admin = server.admin_token().await;
    ask(&server, EMAIL).await;
    let before_sign_out = reset_link(&mailbox, 1).await;
    let signed_out = server
        .http
        .post(server.url(&format!("/admin/users/{user_id}/sign-out")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_success(), "{}", signed_out.status());
    let refused = use_link(&before_sign_out, NEW_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);

    ask(&server, EMAIL).await;
    let before_move = reset_link(&mailbox, 2).await;
    let moved = server
        .http
        .patch(server.url(&format!("/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"email": "grace@new.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::OK);
    let refused = use_link(&before_move, NEW_PASSWORD).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
}

#[tokio::test]
async fn new_passwords_sent_with_one_link_are_limited_before_they_are_hashed() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    ask(&server, EMAIL).await;
    let link = reset_link(&mailbox, 1).await;
    let limit = server.config.login_attempts_per_account as usize;
    let mut browser = Browser::new();
    let page = browser.get(&link).await;
    let mut statuses = Vec::new();
    for _ in 0..limit + 2 {
        statuses.push(submit(&mut browser, &link, &page, "short").await.status);
    }
    assert!(
        statuses[..limit]
            .iter()
            .all(|s| *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
    assert!(
        statuses[limit..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn every_password_change_mails_a_notice_to_the_person() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    let user_id = people::seed_person(&server).await;
    let admin = server.admin_token().await;
    let changed = server
        .http
        .patch(server.url(&format!("/admin/users/{user_id}")))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let notice = mailbox.wait_for(EMAIL, "password was changed", 1).await;
    assert!(
        notice[0].text.contains("was changed by an admin"),
        "{}",
        notice[0].text
    );
    assert!(notice[0].text.contains("/login/forgot"));

    // From the CLI too: the running server delivers what the CLI wrote.
    let output = server.cli_with_stdin(
        &["user", "set-password", &user_id],
        "another long passphrase\n",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The CLI wrote it due at the wall-clock time; the server's clock is held.
    server.clock.advance(5);
    let notices = mailbox.wait_for(EMAIL, "password was changed", 2).await;
    assert!(
        notices[1].text.contains("from the CLI"),
        "{}",
        notices[1].text
    );
}

#[tokio::test]
async fn an_address_changed_while_a_request_waits_gets_no_link() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    let user_id = people::seed_person(&server).await;
    // An email change holds the person's row while the request is looked up.
    let mut tx = server.state.store.begin().await.unwrap();
    let mut row = tx.user_for_update(&user_id).await.unwrap();
    let answer = ask(&server, EMAIL).await;
    assert_eq!(answer.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    row.email = "grace@moved.example".into();
    tx.update_user(&row).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(mailbox.all().is_empty(), "{:?}", mailbox.all());
    assert_eq!(flow::count(&server, "account_tokens").await, 0);
}

#[tokio::test]
async fn one_client_address_is_limited_across_every_address_it_asks_for() {
    let mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    let limit = server.config.password_reset_requests_per_ip as usize;
    let asked = limit + 5;
    for i in 0..asked {
        server
            .seed_user(
                serde_json::json!({"email": format!("p{i}@example.com"), "password": PASSWORD}),
            )
            .await;
    }
    let mut browsers = Vec::new();
    for _ in 0..asked {
        let mut browser = Browser::new();
        let page = browser.get(&server.url("/login/forgot")).await;
        browsers.push((browser, page.field("csrf")));
    }
    let barrier = Arc::new(Barrier::new(asked));
    let tasks: Vec<_> = browsers
        .into_iter()
        .enumerate()
        .map(|(i, (mut browser, csrf))| {
            let (barrier, url) = (barrier.clone(), server.url("/login/forgot"));
            tokio::spawn(async move {
                let email = format!("p{i}@example.com");
                barrier.wait().await;
                browser
                    .post(&url, &[("csrf", &csrf), ("email", &email)])
                    .await
                    .status
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(allowed, limit);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(flow::count(&server, "mail_outbox").await, limit as i64);
}

#[tokio::test]
async fn a_copy_of_the_database_holds_no_usable_link() {
    use sqlx::Row;
    let mut mailbox = Mailbox::start();
    let server = server(&mailbox).await;
    people::seed_person(&server).await;
    mailbox.stop();
    ask(&server, EMAIL).await;
    let mut conn = flow::connect(&server).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (sealed, body) = loop {
        let row = sqlx::query("select sealed, message from mail_outbox")
            .fetch_optional(&mut conn)
            .await
            .unwrap();
        if let Some(row) = row {
            break (row.get::<i64, _>(0), row.get::<Vec<u8>, _>(1));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no message was written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(sealed, 1, "a waiting link is sealed");
    let shown = String::from_utf8_lossy(&body);
    assert!(
        !shown.contains("/login/reset/") && !shown.contains("Reset your"),
        "{shown}"
    );

    mailbox.restart();
    server
        .clock
        .advance(gatehouse::mail::worker::retry_delay(1));
    let link = reset_link(&mailbox, 1).await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent = sqlx::query("select message from mail_outbox")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        sent.get::<Option<Vec<u8>>, _>(0).is_none(),
        "a sent message keeps no content"
    );
    let stored = sqlx::query("select token_hash, user_id, purpose from account_tokens")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    for row in &stored {
        for column in 0..3 {
            let value: String = row.get(column);
            assert!(
                !value.contains(&token),
                "the token is stored only as its hash"
            );
        }
    }
}
