//! DESIGN.md rule 7 as one unit of work (issue 6, item 18): a password change,
//! disabling and deleting an account store the change and end every session
//! and grant of the person together. A real failure injected into one of the
//! sign-out writes (a trigger that raises on `user_signouts`, `grants` or
//! `audit_events`) makes the admin API and the CLI fail cleanly with nothing
//! changed: the old password, the sessions and the tokens keep working. Once
//! healed, the same request succeeds and ends them all. Both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::Browser;
use common::flow::{self, CALLBACK, break_writes, count, heal, is_active, oauth_error, refresh};
use common::{TestServer, json_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

const OLD_PASSWORD: &str = "the old and trusted passphrase";
const NEW_PASSWORD: &str = "a brand new passphrase";
/// The RFC 7636 example challenge: the tests never redeem these codes' verifiers.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// What is done to the person.
#[derive(Clone, Copy, Debug)]
enum Change {
    Password,
    Disable,
    Delete,
}

/// Through which front-end.
#[derive(Clone, Copy, Debug)]
enum Via {
    AdminApi,
    Cli,
}

/// A server with a web app and a person signed in to it: a browser session and
/// the tokens of one grant.
struct Scene {
    server: TestServer,
    client: (String, String),
    admin: String,
    user_id: String,
    email: String,
    browser: Browser,
    refresh_token: String,
    access_token: String,
}

fn authorize_url(server: &TestServer, client_id: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={CALLBACK}\
         &scope=openid%20offline_access&state=st&nonce=n&code_challenge={CHALLENGE}\
         &code_challenge_method=S256",
        server.base
    )
}

/// Whether `browser`'s session still signs it in: `/authorize` answers with a
/// code straight away instead of the sign-in page.
async fn session_alive(server: &TestServer, client_id: &str, browser: &mut Browser) -> bool {
    let seen = browser.get(&authorize_url(server, client_id)).await;
    seen.status == StatusCode::FOUND && seen.redirect_param("code").is_some()
}

/// Signs the person in with `password` in a fresh browser; the browser when
/// that gave a code.
async fn sign_in(scene: &Scene, password: &str) -> Option<Browser> {
    let mut browser = Browser::new();
    let page = browser
        .get(&authorize_url(&scene.server, &scene.client.0))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let back = browser
        .sign_in(&scene.server.base, &page, &scene.email, password)
        .await;
    assert!(back.status.as_u16() < 500, "{}", back.body);
    (back.status == StatusCode::FOUND && back.redirect_param("code").is_some()).then_some(browser)
}

async fn scene() -> Scene {
    let server = TestServer::start().await;
    let email = "ada@example.com".to_owned();
    let user_id = server
        .seed_user(json!({"email": email, "password": OLD_PASSWORD}))
        .await;
    let client = flow::web_app(&server, "openid offline_access").await;
    let admin = server.admin_token().await;
    let mut scene = Scene {
        server,
        client,
        admin,
        user_id,
        email,
        browser: Browser::new(),
        refresh_token: String::new(),
        access_token: String::new(),
    };
    scene.browser = sign_in(&scene, OLD_PASSWORD).await.expect("signed in");
    // A grant of this session, redeemed with a verifier of its own.
    let code = flow::code(
        &scene.server,
        &mut scene.browser,
        &scene.client.0,
        "openid offline_access",
    )
    .await;
    let tokens = json_body(
        flow::redeem(&scene.server, &scene.client.0, &scene.client.1, &code).await,
        StatusCode::OK,
    )
    .await;
    scene.refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    scene.access_token = tokens["access_token"].as_str().unwrap().to_owned();
    scene
}

/// Asks for `change` through `via`; whether it succeeded. A failure must be a
/// clean one: the API's 503 JSON error, or the CLI's error line and exit status.
async fn request(scene: &Scene, change: Change, via: Via) -> bool {
    let id = &scene.user_id;
    match via {
        Via::AdminApi => {
            let http = &scene.server.http;
            let url = |path: &str| scene.server.url(&format!("/admin/users/{id}{path}"));
            let sent = match change {
                Change::Password => http.patch(url("")).json(&json!({"password": NEW_PASSWORD})),
                Change::Disable => http.post(url("/disable")),
                Change::Delete => http.delete(url("")),
            };
            let response = sent.bearer_auth(&scene.admin).send().await.unwrap();
            if response.status().is_success() {
                return true;
            }
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = json_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
            assert_eq!(body["error"], "temporarily_unavailable", "{body}");
            false
        }
        Via::Cli => {
            let output = match change {
                Change::Password => scene.server.cli_with_stdin(
                    &["user", "set-password", id, "--json"],
                    &format!("{NEW_PASSWORD}\n"),
                ),
                Change::Disable => scene.server.cli(&["user", "disable", id, "--json"]),
                Change::Delete => scene.server.cli(&["user", "delete", id, "--json"]),
            };
            if output.status.success() {
                return true;
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains("error:") && !stderr.contains("panicked"),
                "{stderr}"
            );
            false
        }
    }
}

/// Injects a failure into `table`'s `op` writes, asks for `change` through
/// `via`, and checks that nothing happened; heals, asks again, and checks that
/// everything happened.
async fn whole_or_not_at_all(change: Change, via: Via, table: &str, op: &str) {
    let mut scene = scene().await;
    let (id, secret) = scene.client.clone();
    let events = format!(
        "(select * from audit_events where user_id = '{}' \
         and kind not in ('signed_in', 'sign_in_failed')) a",
        scene.user_id
    );

    break_writes(&scene.server, table, op).await;
    assert!(
        !request(&scene, change, via).await,
        "{change:?} via {via:?} succeeded despite the failure"
    );
    assert!(
        session_alive(&scene.server, &id, &mut scene.browser).await,
        "{change:?} via {via:?}: the session ended although the change failed"
    );
    assert!(is_active(&scene.server, &id, &secret, &scene.refresh_token).await);
    assert!(is_active(&scene.server, &id, &secret, &scene.access_token).await);
    let mut second = sign_in(&scene, OLD_PASSWORD).await.unwrap_or_else(|| {
        panic!(
            "{change:?} via {via:?}: the old password stopped working although the change failed"
        )
    });
    if let Change::Password = change {
        assert!(sign_in(&scene, NEW_PASSWORD).await.is_none());
    }
    assert_eq!(count(&scene.server, &events).await, 0);
    assert_eq!(count(&scene.server, "user_signouts").await, 0);
    heal(&scene.server, table, op).await;

    assert!(request(&scene, change, via).await, "the retry failed");
    // Later sign-ins begin after the sign-out everywhere, whichever clock (the
    // server's manual one or the CLI's system one) stamped it.
    let behind = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - scene.server.clock.now();
    scene.server.clock.advance(behind.max(0) + 1);
    assert!(!session_alive(&scene.server, &id, &mut scene.browser).await);
    assert!(!session_alive(&scene.server, &id, &mut second).await);
    assert!(!is_active(&scene.server, &id, &secret, &scene.refresh_token).await);
    assert!(!is_active(&scene.server, &id, &secret, &scene.access_token).await);
    let refused = refresh(&scene.server, &id, &secret, &scene.refresh_token).await;
    assert_eq!(oauth_error(refused).await, "invalid_grant");
    assert!(sign_in(&scene, OLD_PASSWORD).await.is_none());
    if let Change::Password = change {
        assert!(sign_in(&scene, NEW_PASSWORD).await.is_some());
    }
    assert_eq!(count(&scene.server, &events).await, 1);
    assert_eq!(count(&scene.server, "user_signouts").await, 1);
}

#[tokio::test]
async fn an_admin_password_change_stores_the_password_and_signs_out_together() {
    whole_or_not_at_all(Change::Password, Via::AdminApi, "audit_events", "insert").await;
}

#[tokio::test]
async fn an_admin_disabling_disables_and_signs_out_together() {
    whole_or_not_at_all(Change::Disable, Via::AdminApi, "grants", "update").await;
}

#[tokio::test]
async fn an_admin_deletion_deletes_and_signs_out_together() {
    whole_or_not_at_all(Change::Delete, Via::AdminApi, "user_signouts", "insert").await;
}

#[tokio::test]
async fn a_cli_password_change_stores_the_password_and_signs_out_together() {
    whole_or_not_at_all(Change::Password, Via::Cli, "user_signouts", "insert").await;
}

#[tokio::test]
async fn a_cli_disabling_disables_and_signs_out_together() {
    whole_or_not_at_all(Change::Disable, Via::Cli, "audit_events", "insert").await;
}

#[tokio::test]
async fn a_cli_deletion_deletes_and_signs_out_together() {
    whole_or_not_at_all(Change::Delete, Via::Cli, "grants", "update").await;
}
