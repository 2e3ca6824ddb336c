//! Token guarantees under races, faults and time (issue 6, items 4, 5, 6, 8, 9,
//! 18, 19, 23), driven over HTTP against the real server on both backends:
//! racing code redemptions released by a barrier, writes that fail inside the
//! database (triggers that raise), sessions that end, clients that change, and
//! the background purge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::browser::Browser;
use common::flow::{
    self, CALLBACK, Code, break_writes, count, heal, is_active, oauth_error, redeem, refresh,
};
use common::{TestServer, json_body};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Barrier;

/// A token set from a successful exchange.
async fn tokens(response: reqwest::Response) -> Value {
    json_body(response, StatusCode::OK).await
}

fn field(tokens: &Value, name: &str) -> String {
    tokens[name].as_str().unwrap().to_owned()
}

// ---- item 4: a replayed code is detected even when the redemptions race ----

#[tokio::test]
async fn of_two_simultaneous_redemptions_exactly_one_wins_and_its_tokens_are_revoked() {
    const ROUNDS: usize = 25;
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let mut browser = Browser::new();
    let (mut detected, mut won) = (0, 0);
    for round in 0..ROUNDS {
        let code = Arc::new(flow::code(&server, &mut browser, &id, "openid offline_access").await);
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (server, code, barrier) = (server.clone(), code.clone(), barrier.clone());
                let (id, secret) = (id.clone(), secret.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let response = redeem(&server, &id, &secret, &code).await;
                    let status = response.status();
                    (status, response.json::<Value>().await.unwrap())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        let winners: Vec<&Value> = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .map(|(_, body)| body)
            .collect();
        let losers = answers
            .iter()
            .filter(|(status, body)| {
                *status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant"
            })
            .count();
        assert_eq!(
            (winners.len(), losers),
            (1, 1),
            "round {round}: {answers:?}"
        );
        won += 1;
        let winner = winners[0];
        let refreshed = refresh(&server, &id, &secret, &field(winner, "refresh_token")).await;
        let access_active = is_active(&server, &id, &secret, &field(winner, "access_token")).await;
        if refreshed.status() == StatusCode::BAD_REQUEST && !access_active {
            detected += 1;
        }
    }
    assert_eq!((won, detected), (ROUNDS, ROUNDS), "every race is detected");
    let events = server.state.store.recent_audit(100, None).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "authorization_code_replay")
            .count(),
        ROUNDS
    );
}

#[tokio::test]
async fn a_code_replayed_after_its_redemption_revokes_what_it_issued() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    let first = tokens(redeem(&server, &id, &secret, &code).await).await;
    assert_eq!(
        oauth_error(redeem(&server, &id, &secret, &code).await).await,
        "invalid_grant"
    );
    assert!(!is_active(&server, &id, &secret, &field(&first, "access_token")).await);
    assert_eq!(
        oauth_error(refresh(&server, &id, &secret, &field(&first, "refresh_token")).await).await,
        "invalid_grant"
    );
    assert_eq!(count(&server, "redeemed_codes").await, 1);
}

// ---- item 6: failed checks do not burn the code, answer alike, and are limited ----

#[tokio::test]
async fn a_wrong_client_redirect_uri_or_verifier_does_not_burn_the_code_and_says_nothing() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let (other, other_secret) = flow::web_app(&server, "openid").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid").await;

    let mut descriptions = Vec::new();
    type Attempt<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);
    let attempts: [Attempt; 4] = [
        (
            &other,
            &other_secret,
            vec![
                ("redirect_uri", CALLBACK.to_owned()),
                ("code_verifier", code.verifier.clone()),
            ],
        ),
        (
            &id,
            &secret,
            vec![
                ("redirect_uri", "https://rp.example/other".to_owned()),
                ("code_verifier", code.verifier.clone()),
            ],
        ),
        (
            &id,
            &secret,
            vec![
                ("redirect_uri", CALLBACK.to_owned()),
                ("code_verifier", "x".repeat(43)),
            ],
        ),
        (&id, &secret, vec![("redirect_uri", CALLBACK.to_owned())]),
    ];
    for (client, client_secret, extra) in &attempts {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.code.clone()),
        ];
        form.extend(extra.iter().cloned());
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = json_body(
            server
                .post_form("/token", Some((client, client_secret)), &form)
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(refused["error"], "invalid_grant");
        descriptions.push(refused["error_description"].clone());
    }
    // An unknown code and an expired one get the very same answer.
    let unknown = Code {
        code: "not-a-code".into(),
        verifier: code.verifier.clone(),
    };
    let refused = json_body(
        redeem(&server, &id, &secret, &unknown).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    descriptions.push(refused["error_description"].clone());
    assert!(
        descriptions.iter().all(|d| *d == descriptions[0]),
        "no oracle: {descriptions:?}"
    );

    // None of that burned the code for its rightful client.
    tokens(redeem(&server, &id, &secret, &code).await).await;

    let late = flow::code(&server, &mut browser, &id, "openid").await;
    server.clock.advance(61);
    let expired = json_body(
        redeem(&server, &id, &secret, &late).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(expired["error_description"], descriptions[0]);
}

#[tokio::test]
async fn attempts_against_one_code_are_limited_even_in_parallel() {
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let mut browser = Browser::new();

    // Four wrong guesses leave the code usable by its client.
    let code = flow::code(&server, &mut browser, &id, "openid").await;
    let wrong = Code {
        code: code.code.clone(),
        verifier: "y".repeat(43),
    };
    for _ in 0..4 {
        assert_eq!(
            oauth_error(redeem(&server, &id, &secret, &wrong).await).await,
            "invalid_grant"
        );
    }
    tokens(redeem(&server, &id, &secret, &code).await).await;

    // Thirty parallel guesses: the code is destroyed after five attempts, so
    // even the right verifier no longer works.
    let code = Arc::new(flow::code(&server, &mut browser, &id, "openid").await);
    let barrier = Arc::new(Barrier::new(30));
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            let (server, code, barrier) = (server.clone(), code.clone(), barrier.clone());
            let (id, secret) = (id.clone(), secret.clone());
            tokio::spawn(async move {
                let guess = Code {
                    code: code.code.clone(),
                    verifier: format!("{i:0>43}"),
                };
                barrier.wait().await;
                redeem(&server, &id, &secret, &guess).await.status()
            })
        })
        .collect();
    for guess in guesses {
        assert_eq!(guess.await.unwrap(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        oauth_error(redeem(&server, &id, &secret, &code).await).await,
        "invalid_grant",
        "a code attacked more than five times is gone"
    );
    assert_eq!(count(&server, "grants").await, 1);
}

// ---- item 5: a code or an online refresh token cannot outlive its session ----

/// Signs in and returns a second, unredeemed code from the same session along
/// with the tokens of the first.
async fn two_codes(
    server: &TestServer,
    browser: &mut Browser,
    id: &str,
    secret: &str,
) -> (Value, Code) {
    let first = flow::code(server, browser, id, "openid").await;
    let second = flow::code(server, browser, id, "openid").await;
    (
        tokens(redeem(server, id, secret, &first).await).await,
        second,
    )
}

#[tokio::test]
async fn a_code_redeemed_after_its_session_ended_makes_no_grant() {
    let server = TestServer::start_with(|c| c.session_idle_timeout_secs = 30).await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let admin = server.admin_token().await;

    // Logout.
    let mut browser = Browser::new();
    let (first, code) = two_codes(&server, &mut browser, &id, &secret).await;
    let logout = browser
        .get(&format!(
            "{}/logout?id_token_hint={}",
            server.base,
            field(&first, "id_token")
        ))
        .await;
    assert!(
        !browser.cookies.keys().any(|k| k.contains("session")),
        "{}",
        logout.body
    );
    assert_eq!(
        oauth_error(redeem(&server, &id, &secret, &code).await).await,
        "invalid_grant"
    );

    // Idle timeout, shorter than the code's life here.
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid").await;
    server.clock.advance(31);
    assert_eq!(
        oauth_error(redeem(&server, &id, &secret, &code).await).await,
        "invalid_grant"
    );

    // Password change, disabling and admin sign-out, each between issue and redemption.
    // (The "new" password is the old one, so the next sign-in still works.)
    let actions: [(&str, &str, Value); 3] = [
        ("post", "/sign-out", json!({})),
        ("patch", "", json!({"password": flow::PASSWORD})),
        ("post", "/disable", json!({})),
    ];
    for (method, suffix, body) in actions {
        let mut browser = Browser::new();
        let code = flow::code(&server, &mut browser, &id, "openid").await;
        server.clock.advance(1);
        let url = server.url(&format!("/admin/users/{user_id}{suffix}"));
        let request = match method {
            "patch" => server.http.patch(url).json(&body),
            _ => server.http.post(url),
        };
        let done = request.bearer_auth(&admin).send().await.unwrap();
        assert!(done.status().is_success(), "{suffix}: {}", done.status());
        assert_eq!(
            oauth_error(redeem(&server, &id, &secret, &code).await).await,
            "invalid_grant",
            "{suffix}"
        );
    }
    assert_eq!(
        count(&server, "grants").await,
        1,
        "only the first code of the first session made a grant"
    );
}

#[tokio::test]
async fn an_online_refresh_token_ends_with_its_session_an_offline_one_does_not() {
    let server = TestServer::start_with(|c| {
        c.session_idle_timeout_secs = 600;
        c.session_absolute_timeout_secs = 1800;
    })
    .await;
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;

    // Idle timeout.
    let mut browser = Browser::new();
    let online = flow::code(&server, &mut browser, &id, "openid").await;
    let online = tokens(redeem(&server, &id, &secret, &online).await).await;
    let offline = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    let offline = tokens(redeem(&server, &id, &secret, &offline).await).await;
    let online =
        tokens(refresh(&server, &id, &secret, &field(&online, "refresh_token")).await).await;
    assert!(flow::is_active(&server, &id, &secret, &field(&online, "refresh_token")).await);
    server.clock.advance(601);
    // Introspection follows the same rule as the refresh itself.
    assert!(!flow::is_active(&server, &id, &secret, &field(&online, "refresh_token")).await);
    assert!(flow::is_active(&server, &id, &secret, &field(&offline, "refresh_token")).await);
    assert_eq!(
        oauth_error(refresh(&server, &id, &secret, &field(&online, "refresh_token")).await).await,
        "invalid_grant",
        "the session went idle"
    );
    tokens(refresh(&server, &id, &secret, &field(&offline, "refresh_token")).await).await;

    // Absolute timeout: the browser keeps the session busy, yet it ends.
    let mut browser = Browser::new();
    let online = flow::code(&server, &mut browser, &id, "openid").await;
    let mut online = tokens(redeem(&server, &id, &secret, &online).await).await;
    for _ in 0..3 {
        server.clock.advance(500);
        flow::code(&server, &mut browser, &id, "openid").await;
        online =
            tokens(refresh(&server, &id, &secret, &field(&online, "refresh_token")).await).await;
    }
    server.clock.advance(400);
    assert_eq!(
        oauth_error(refresh(&server, &id, &secret, &field(&online, "refresh_token")).await).await,
        "invalid_grant",
        "the session reached its absolute timeout"
    );
}

// ---- item 8: client changes reach existing grants ----

#[tokio::test]
async fn a_refresh_never_returns_a_scope_the_client_lost() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid email profile").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid email profile").await;
    let first = tokens(redeem(&server, &id, &secret, &code).await).await;
    assert_eq!(first["scope"], "openid email profile");

    let admin = server.admin_token().await;
    let patched = server
        .http
        .patch(server.url(&format!("/admin/clients/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"scope": "openid profile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let after = tokens(refresh(&server, &id, &secret, &field(&first, "refresh_token")).await).await;
    assert_eq!(after["scope"], "openid profile");
    let claims = common::verify_with_jwks(&server, &field(&after, "access_token")).await;
    assert_eq!(claims["scope"], "openid profile");
}

#[tokio::test]
async fn deleting_a_client_ends_its_grants_tokens_and_consents() {
    let server = TestServer::start().await;
    flow::seed_user(&server).await;
    let admin = server.admin_token().await;
    for through_cli in [false, true] {
        let (id, secret) = flow::app(&server, "openid offline_access", false).await;
        let mut browser = Browser::new();
        let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
        let issued = tokens(redeem(&server, &id, &secret, &code).await).await;
        let access = field(&issued, "access_token");
        let userinfo = || {
            server
                .http
                .get(server.url("/userinfo"))
                .bearer_auth(&access)
                .send()
        };
        assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);
        let where_client = format!("(select * from grants where client_id = '{id}') g");
        assert_eq!(count(&server, &where_client).await, 1);
        let consents = format!("(select * from consents where client_id = '{id}') c");
        assert_eq!(count(&server, &consents).await, 1);

        if through_cli {
            let out = server.cli(&["client", "delete", &id]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            let deleted = server
                .http
                .delete(server.url(&format!("/admin/clients/{id}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        }
        assert_eq!(
            userinfo().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "its access tokens stop at once"
        );
        assert_eq!(count(&server, &where_client).await, 0);
        assert_eq!(count(&server, &consents).await, 0);
        let tokens_left =
            "(select * from refresh_tokens where grant_id not in (select id from grants)) r";
        assert_eq!(count(&server, tokens_left).await, 0);
    }
}

// ---- item 9 (token half): lifetimes and grants of access tokens ----

/// An access token signed with the server's own key (as if by a bug, a lowered
/// `access_token_ttl_secs`, or a stolen copy of old data) for `sub`.
async fn forge(
    server: &TestServer,
    sub: &str,
    lifetime: i64,
    gid: Option<&str>,
    client_id: &str,
) -> String {
    let now = server.clock.now();
    let claims = gatehouse::oauth::access_token::AccessTokenClaims {
        iss: server.base.clone(),
        sub: sub.to_owned(),
        aud: server.base.clone(),
        client_id: client_id.to_owned(),
        scope: "openid".into(),
        iat: now,
        exp: now + lifetime,
        jti: gatehouse::crypto::secret::random_string(16).unwrap(),
        gid: gid.map(str::to_owned),
        userinfo_claims: Vec::new(),
    };
    gatehouse::crypto::jwt::sign_in_background(
        server.state.keys.at(now),
        gatehouse::oauth::access_token::TOKEN_TYPE,
        claims,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn access_tokens_living_too_long_or_naming_no_live_grant_are_refused() {
    let server = TestServer::start().await;
    let user = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    let issued = tokens(redeem(&server, &id, &secret, &code).await).await;
    let real = field(&issued, "access_token");
    let gid = common::verify_with_jwks(&server, &real).await["gid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (machine, machine_secret) = server.machine_client("openid").await;

    let ttl = server.config.access_token_ttl_secs;
    let userinfo = |token: String| {
        let request = server.http.get(server.url("/userinfo")).bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    let control = forge(&server, &user, ttl, Some(&gid), &id).await;
    assert!(is_active(&server, &id, &secret, &control).await);
    assert_eq!(userinfo(control).await, StatusCode::OK);
    let machine_token = forge(&server, &machine, ttl, None, &machine).await;
    assert!(is_active(&server, &machine, &machine_secret, &machine_token).await);
    for (what, token) in [
        (
            "too long",
            forge(&server, &user, ttl + 1, Some(&gid), &id).await,
        ),
        (
            "no such grant",
            forge(&server, &user, ttl, Some("no-such-grant"), &id).await,
        ),
    ] {
        assert!(!is_active(&server, &id, &secret, &token).await, "{what}");
        assert_eq!(userinfo(token).await, StatusCode::UNAUTHORIZED, "{what}");
    }
    let too_long = forge(&server, &machine, 30 * 86_400, None, &machine).await;
    assert!(!is_active(&server, &machine, &machine_secret, &too_long).await);
    let orphan = forge(&server, "gone", ttl, None, "no-such-client").await;
    assert!(!is_active(&server, &machine, &machine_secret, &orphan).await);

    // Revoking the grant (here: refresh token reuse) ends the access token by
    // the grant's own state; no marker rows are written for it.
    let rotated =
        tokens(refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await).await;
    oauth_error(refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await).await;
    assert!(!is_active(&server, &id, &secret, &field(&rotated, "access_token")).await);
    assert_eq!(count(&server, "revoked_tokens").await, 0);
    // Replaying the dead family's token again is refused without another event.
    oauth_error(refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await).await;
    let reuse_events = "(select * from audit_events where kind = 'refresh_token_reuse') a";
    assert_eq!(count(&server, reuse_events).await, 1);
}

// ---- item 18: every multi-write operation is one transaction ----

#[tokio::test]
async fn a_failed_write_leaves_everything_as_before_and_the_retry_succeeds() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let admin = server.admin_token().await;
    let mut browser = Browser::new();

    // Code exchange: grant + redeemed record + first refresh token.
    let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    break_writes(&server, "refresh_tokens", "insert").await;
    let failed = redeem(&server, &id, &secret, &code).await;
    assert_eq!(
        failed.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a failed write: retry"
    );
    assert_eq!(count(&server, "grants").await, 0);
    assert_eq!(count(&server, "redeemed_codes").await, 0);
    heal(&server, "refresh_tokens", "insert").await;
    let issued = tokens(redeem(&server, &id, &secret, &code).await).await;

    // Refresh rotation: consume + insert.
    break_writes(&server, "refresh_tokens", "insert").await;
    let failed = refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await;
    assert_eq!(
        failed.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a failed write: retry"
    );
    heal(&server, "refresh_tokens", "insert").await;
    let rotated =
        tokens(refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await).await;
    assert!(is_active(&server, &id, &secret, &field(&rotated, "access_token")).await);

    // Grant revocation on reuse: grant state + audit.
    break_writes(&server, "audit_events", "insert").await;
    let failed = refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await;
    assert_eq!(
        failed.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a failed write: retry"
    );
    assert!(
        is_active(&server, &id, &secret, &field(&rotated, "access_token")).await,
        "no revocation without its audit event"
    );

    // Sign-out everywhere: user_signouts + grant revocation + audit.
    let signed_out = server
        .http
        .post(server.url(&format!("/admin/users/{user_id}/sign-out")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count(&server, "user_signouts").await, 0);
    assert!(is_active(&server, &id, &secret, &field(&rotated, "access_token")).await);
    heal(&server, "audit_events", "insert").await;
    let signed_out = server
        .http
        .post(server.url(&format!("/admin/users/{user_id}/sign-out")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_success());
    assert!(!is_active(&server, &id, &secret, &field(&rotated, "access_token")).await);
    assert_eq!(count(&server, "user_signouts").await, 1);

    // Client deletion: client + grants + refresh tokens + consents.
    break_writes(&server, "grants", "delete").await;
    let delete = || {
        server
            .http
            .delete(server.url(&format!("/admin/clients/{id}")))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(
        delete().await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let client_rows = format!("(select * from clients where id = '{id}') c");
    assert_eq!(count(&server, &client_rows).await, 1);
    assert_eq!(count(&server, "grants").await, 1);
    heal(&server, "grants", "delete").await;
    assert_eq!(delete().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(count(&server, &client_rows).await, 0);
    assert_eq!(count(&server, "grants").await, 0);
    assert_eq!(count(&server, "refresh_tokens").await, 0);
}

// ---- item 19: write contention is not an error ----

#[tokio::test]
async fn concurrent_writers_and_a_lock_held_for_seconds_produce_no_5xx() {
    const CHAINS: usize = 16;
    const ROTATIONS: usize = 8;
    let server = Arc::new(TestServer::start().await);
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let admin = server.admin_token().await;
    let mut browser = Browser::new();
    let mut refresh_tokens = Vec::new();
    for _ in 0..CHAINS {
        let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
        refresh_tokens.push(field(
            &tokens(redeem(&server, &id, &secret, &code).await).await,
            "refresh_token",
        ));
    }

    // Another connection takes the write lock and holds it for 6.5 s.
    let url = server.config.database_url();
    let sqlite = server.state.store.backend() == gatehouse::store::Backend::Sqlite;
    let locked = Arc::new(Barrier::new(2));
    let holder = {
        let locked = locked.clone();
        tokio::spawn(async move {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            let take = if sqlite {
                "begin immediate"
            } else {
                "begin; lock table refresh_tokens, grants, clients, audit_events in exclusive mode"
            };
            sqlx::raw_sql(take).execute(&mut conn).await.unwrap();
            locked.wait().await;
            tokio::time::sleep(Duration::from_millis(6500)).await;
            sqlx::raw_sql("commit").execute(&mut conn).await.unwrap();
        })
    };
    locked.wait().await;

    let start = Arc::new(Barrier::new(CHAINS + 4 + 1));
    let mut workers = Vec::new();
    for token in refresh_tokens {
        let (server, start, id, secret) =
            (server.clone(), start.clone(), id.clone(), secret.clone());
        workers.push(tokio::spawn(async move {
            start.wait().await;
            let mut statuses = Vec::new();
            let mut token = token;
            for _ in 0..ROTATIONS {
                let response = refresh(&server, &id, &secret, &token).await;
                statuses.push(response.status());
                if response.status() != StatusCode::OK {
                    break;
                }
                token = field(&response.json().await.unwrap(), "refresh_token");
            }
            statuses
        }));
    }
    for _ in 0..4 {
        let (server, start, id, secret) =
            (server.clone(), start.clone(), id.clone(), secret.clone());
        workers.push(tokio::spawn(async move {
            start.wait().await;
            let mut browser = Browser::new();
            let code = flow::code(&server, &mut browser, &id, "openid").await;
            vec![redeem(&server, &id, &secret, &code).await.status()]
        }));
    }
    {
        let (server, start, admin) = (server.clone(), start.clone(), admin.clone());
        workers.push(tokio::spawn(async move {
            start.wait().await;
            let mut statuses = Vec::new();
            for i in 0..8 {
                let created = server
                    .http
                    .post(server.url("/admin/clients"))
                    .bearer_auth(&admin)
                    .json(&json!({"client_name": format!("load {i}"), "grant_types": ["client_credentials"], "scope": "openid"}))
                    .send()
                    .await
                    .unwrap();
                statuses.push(created.status());
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for worker in workers {
        statuses.extend(worker.await.unwrap());
    }
    holder.await.unwrap();
    let failures: Vec<_> = statuses.iter().filter(|s| !s.is_success()).collect();
    assert!(failures.is_empty(), "every request succeeds: {failures:?}");
    assert_eq!(statuses.len(), CHAINS * ROTATIONS + 4 + 8);
}

// ---- item 23: the background purge ----

#[tokio::test]
async fn the_purge_keeps_the_database_bounded_and_never_touches_live_data() {
    let server = TestServer::start_with(|c| c.audit_retention_days = 30).await;
    flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    let mut live = tokens(redeem(&server, &id, &secret, &code).await).await;

    // A second grant, revoked by reuse, with its audit event.
    let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    let doomed = tokens(redeem(&server, &id, &secret, &code).await).await;
    tokens(refresh(&server, &id, &secret, &field(&doomed, "refresh_token")).await).await;
    oauth_error(refresh(&server, &id, &secret, &field(&doomed, "refresh_token")).await).await;
    // A revoked access token.
    let revoked = server
        .post_form(
            "/revoke",
            Some((&id, &secret)),
            &[("token", &field(&live, "access_token"))],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(count(&server, "revoked_tokens").await, 1);

    // The client refreshes every few hours for sixty days.
    let mut peak = 0;
    for step in 0..240 {
        server.clock.advance(6 * 3600);
        live = tokens(refresh(&server, &id, &secret, &field(&live, "refresh_token")).await).await;
        if step % 20 == 0 {
            gatehouse::app::purge_expired(&server.state).await.unwrap();
            peak = peak.max(count(&server, "refresh_tokens").await);
        }
    }
    gatehouse::app::purge_expired(&server.state).await.unwrap();
    // Idle TTL 14 days at 4 rotations a day: at most 14 × 4 consumed tokens kept
    // for reuse detection, plus the live one, plus one purge interval of growth.
    let bound = 14 * 4 + 1 + 20;
    assert!(peak <= bound, "{peak} refresh tokens");
    assert!(count(&server, "refresh_tokens").await <= bound);
    assert_eq!(
        count(&server, "grants").await,
        1,
        "the revoked grant is gone"
    );
    assert_eq!(count(&server, "redeemed_codes").await, 0);
    assert_eq!(count(&server, "revoked_tokens").await, 0);
    assert_eq!(
        count(&server, "audit_events").await,
        0,
        "older than 30 days"
    );

    // Live data is untouched: the newest access token and refresh token work,
    // and a consumed token within its lifetime is still caught as reuse.
    assert!(is_active(&server, &id, &secret, &field(&live, "access_token")).await);
    let last = field(&live, "refresh_token");
    let newer = tokens(refresh(&server, &id, &secret, &last).await).await;
    gatehouse::app::purge_expired(&server.state).await.unwrap();
    assert!(is_active(&server, &id, &secret, &field(&newer, "access_token")).await);
    oauth_error(refresh(&server, &id, &secret, &last).await).await;
    assert!(!is_active(&server, &id, &secret, &field(&newer, "access_token")).await);
}

#[tokio::test]
async fn a_grant_that_outran_a_sign_out_everywhere_cannot_refresh() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid offline_access").await;
    let issued = tokens(redeem(&server, &id, &secret, &code).await).await;
    let rotated =
        tokens(refresh(&server, &id, &secret, &field(&issued, "refresh_token")).await).await;

    // What a redemption racing "sign out everywhere" leaves behind: the sign-out
    // is recorded, but this grant was written after its revocation ran.
    server.clock.advance(1);
    flow::sql(
        &server,
        &format!(
            "insert into user_signouts (user_id, at) values ('{user_id}', {})",
            server.clock.now()
        ),
    )
    .await;
    assert_eq!(
        oauth_error(refresh(&server, &id, &secret, &field(&rotated, "refresh_token")).await).await,
        "invalid_grant"
    );
}

/// Two instances started together on one empty database (a fresh deployment
/// of two replicas, or a restart racing a CLI command) both come up, the schema
/// is migrated once, and exactly one first signing key is made: every
/// instance signs with the key the others publish.
#[tokio::test]
async fn instances_starting_together_on_an_empty_database_make_one_signing_key() {
    for round in 0..4 {
        let db = common::TestDatabase::new().await;
        let config = db.config("http://127.0.0.1:1");
        let barrier = Arc::new(Barrier::new(2));
        let starts: Vec<_> = (0..2)
            .map(|_| {
                let (config, barrier) = (config.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    gatehouse::app::App::build(config, gatehouse::clock::Clock::System).await
                })
            })
            .collect();
        let mut apps = Vec::new();
        for start in starts {
            match start.await.unwrap() {
                Ok(app) => apps.push(app),
                Err(e) => panic!("round {round}: an instance failed to start: {e}"),
            }
        }
        let keys = apps[0].state().store.list_keys().await.unwrap();
        assert_eq!(
            keys.len(),
            1,
            "round {round}: two instances starting together made {} first keys",
            keys.len()
        );
        for app in &apps {
            app.state().store.close().await;
        }
        drop(db);
    }
}
/// An in-memory SQLite store takes no start-up lock file (sqlx names such a
/// database `file:sqlx-in-memory-N`, which once was taken for a file). Runs in
/// a process of its own under nextest: it changes the working directory.
#[tokio::test]
async fn an_in_memory_store_creates_no_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let store = gatehouse::store::Store::connect("sqlite::memory:").await;
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    eprintln!(
        "connect: {:?}; files: {names:?}",
        store.as_ref().map(|_| ())
    );
    assert!(
        names.is_empty(),
        "an in-memory database left files in the working directory: {names:?}"
    );
}
