//! A person's live browser sessions: the per-person index kept beside the
//! sessions on either cache, listed and ended one by one through the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::Browser;
use common::flow::{self, redeem, refresh};
use common::{TestServer, json_body};
use reqwest::StatusCode;
use serde_json::Value;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

async fn sessions(server: &TestServer, admin: &str, user_id: &str) -> Vec<Value> {
    let r = server
        .http
        .get(server.url(&format!("/admin/users/{user_id}/sessions")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    json_body(r, StatusCode::OK)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn end(server: &TestServer, admin: &str, user_id: &str, sid: &str) -> StatusCode {
    server
        .http
        .delete(server.url(&format!("/admin/users/{user_id}/sessions/{sid}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .status()
}

/// Whether `browser`'s session still signs it in: `/authorize` answers with a
/// code rather than the sign-in page.
async fn still_signed_in(server: &TestServer, browser: &mut Browser, client_id: &str) -> bool {
    let url = flow::authorize_url(server, client_id, "openid", &"v".repeat(50));
    browser.get(&url).await.status == StatusCode::FOUND
}

#[tokio::test]
async fn an_admin_lists_a_persons_sessions_and_ends_one_with_its_online_tokens() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;

    let mut laptop = Browser::with_user_agent(FIREFOX);
    let laptop_code = flow::code(&server, &mut laptop, &id, "openid").await;
    let laptop_tokens = json_body(
        redeem(&server, &id, &secret, &laptop_code).await,
        StatusCode::OK,
    )
    .await;
    server.clock.advance(120);
    let admin = server.admin_token().await;
    let mut phone = Browser::with_user_agent(SAFARI);
    let phone_code = flow::code(&server, &mut phone, &id, "openid").await;
    let phone_tokens = json_body(
        redeem(&server, &id, &secret, &phone_code).await,
        StatusCode::OK,
    )
    .await;

    let listed = sessions(&server, &admin, &user_id).await;
    let devices: Vec<&str> = listed
        .iter()
        .map(|s| s["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        devices,
        ["Safari on iPhone", "Firefox on Linux"],
        "most recent first: {listed:?}"
    );
    assert_eq!(listed[0]["ip"], "127.0.0.1");
    assert_eq!(listed[0]["methods"], serde_json::json!(["pwd"]));
    let phone_sid = listed[0]["session_id"].as_str().unwrap().to_owned();

    assert_eq!(
        end(&server, &admin, &user_id, &phone_sid).await,
        StatusCode::NO_CONTENT
    );
    assert!(
        !still_signed_in(&server, &mut phone, &id).await,
        "the ended session still signs in"
    );
    let phone_refresh = phone_tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        json_body(
            refresh(&server, &id, &secret, phone_refresh).await,
            StatusCode::BAD_REQUEST
        )
        .await["error"],
        "invalid_grant",
        "a refresh token of the ended session still works"
    );
    assert!(
        still_signed_in(&server, &mut laptop, &id).await,
        "the other session ended too"
    );
    let laptop_refresh = laptop_tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh(&server, &id, &secret, laptop_refresh)
            .await
            .status(),
        StatusCode::OK
    );

    let listed = sessions(&server, &admin, &user_id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["device"], "Firefox on Linux");
    assert_eq!(
        end(&server, &admin, &user_id, &phone_sid).await,
        StatusCode::NOT_FOUND
    );
    let other = server
        .seed_user(serde_json::json!({"email": "other@example.com", "password": flow::PASSWORD}))
        .await;
    let laptop_sid = listed[0]["session_id"].as_str().unwrap();
    assert_eq!(
        end(&server, &admin, &other, laptop_sid).await,
        StatusCode::NOT_FOUND,
        "a session is ended only under its own person"
    );
    let r = server
        .http
        .get(server.url("/admin/users/nobody/sessions"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The session ids the person's index holds.
async fn indexed(server: &TestServer, index: &str) -> Vec<String> {
    server.state.cache.set_members(index).await.unwrap()
}

#[tokio::test]
async fn logout_timeouts_and_sign_out_everywhere_take_sessions_off_the_list() {
    let server = TestServer::start_with(|c| c.session_idle_timeout_secs = 120).await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let admin = server.admin_token().await;
    let index = format!("sessions-of:{user_id}");

    // Logout: off the list and out of the index at once.
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid").await;
    let tokens = json_body(redeem(&server, &id, &secret, &code).await, StatusCode::OK).await;
    assert_eq!(sessions(&server, &admin, &user_id).await.len(), 1);
    let hint = tokens["id_token"].as_str().unwrap();
    let _ = browser
        .get(&format!("{}/logout?id_token_hint={hint}", server.base))
        .await;
    assert!(sessions(&server, &admin, &user_id).await.is_empty());
    assert!(indexed(&server, &index).await.is_empty());

    // Idle timeout: off the list, and listing drops it from the index.
    let mut browser = Browser::new();
    let _ = flow::code(&server, &mut browser, &id, "openid").await;
    server.clock.advance(121);
    let admin = server.admin_token().await;
    assert!(sessions(&server, &admin, &user_id).await.is_empty());
    assert!(indexed(&server, &index).await.is_empty());

    // Sign out everywhere: every session is off the list.
    for _ in 0..3 {
        let mut browser = Browser::new();
        let _ = flow::code(&server, &mut browser, &id, "openid").await;
    }
    assert_eq!(sessions(&server, &admin, &user_id).await.len(), 3);
    let r = server
        .http
        .post(server.url(&format!("/admin/users/{user_id}/sign-out")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(sessions(&server, &admin, &user_id).await.is_empty());
}
