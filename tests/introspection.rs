//! Refresh tokens at the revocation (RFC 7009) and introspection (RFC 7662)
//! endpoints, and introspection as a permission: a client sees its own tokens,
//! other clients' only as a registered resource server. Over HTTP, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::people::{seed_person, sign_in_tokens, web_client};
use common::{TestServer, cli_json, json_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn introspect(server: &TestServer, client: (&str, &str), token: &str) -> Value {
    let response = server
        .post_form("/introspect", Some(client), &[("token", token)])
        .await;
    json_body(response, StatusCode::OK).await
}

async fn refresh(server: &TestServer, client: (&str, &str), token: &str) -> reqwest::Response {
    server
        .post_form(
            "/token",
            Some(client),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

async fn userinfo_status(server: &TestServer, access: &str) -> StatusCode {
    server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_it_and_every_access_token_of_its_grant() {
    let server = TestServer::start().await;
    seed_person(&server).await;
    let (id, secret) = web_client(&server).await;
    let client = (id.as_str(), secret.as_str());

    // The hint is only a hint: none, the right one, the wrong one and an unknown one all work.
    for hint in [
        None,
        Some("refresh_token"),
        Some("access_token"),
        Some("something_else"),
    ] {
        let tokens = sign_in_tokens(&server, &id, &secret, "openid offline_access").await;
        let first_access = tokens["access_token"].as_str().unwrap();
        let rotated = json_body(
            refresh(&server, client, tokens["refresh_token"].as_str().unwrap()).await,
            StatusCode::OK,
        )
        .await;
        let refresh_token = rotated["refresh_token"].as_str().unwrap();
        let access = rotated["access_token"].as_str().unwrap();
        assert_eq!(userinfo_status(&server, access).await, StatusCode::OK);

        let mut form = vec![("token", refresh_token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        let revoked = server.post_form("/revoke", Some(client), &form).await;
        assert_eq!(revoked.status(), StatusCode::OK, "hint {hint:?}");
        let again = server.post_form("/revoke", Some(client), &form).await;
        assert_eq!(again.status(), StatusCode::OK, "revoking twice is fine");

        let again = refresh(&server, client, refresh_token).await;
        assert_eq!(
            json_body(again, StatusCode::BAD_REQUEST).await["error"],
            "invalid_grant",
            "hint {hint:?}: a revoked refresh token no longer refreshes"
        );
        for token in [access, first_access] {
            assert_eq!(
                userinfo_status(&server, token).await,
                StatusCode::UNAUTHORIZED,
                "hint {hint:?}: the grant's access tokens end with it"
            );
            assert_eq!(
                introspect(&server, client, token).await,
                json!({"active": false})
            );
        }
        assert_eq!(
            introspect(&server, client, refresh_token).await,
            json!({"active": false})
        );
    }
    // One event per grant revoked; revoking an already revoked one records nothing.
    let events = server.state.store.recent_audit(20, None).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == "refresh_token_revoked")
            .count(),
        4
    );
}

#[tokio::test]
async fn a_client_cannot_revoke_a_refresh_token_issued_to_another_client() {
    let server = TestServer::start().await;
    seed_person(&server).await;
    let (id, secret) = web_client(&server).await;
    let (other, other_secret) = web_client(&server).await;
    let tokens = sign_in_tokens(&server, &id, &secret, "openid").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let attempt = server
        .post_form(
            "/revoke",
            Some((&other, &other_secret)),
            &[
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(
        attempt.status(),
        StatusCode::OK,
        "RFC 7009 §2.2: the answer reveals nothing"
    );
    assert_eq!(
        userinfo_status(&server, tokens["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let still = refresh(&server, (&id, &secret), refresh_token).await;
    assert_eq!(
        still.status(),
        StatusCode::OK,
        "another client's revocation left the token alone"
    );
}

#[tokio::test]
async fn a_refresh_token_introspects_for_its_client_until_consumed_revoked_or_expired() {
    let server = TestServer::start().await;
    let user_id = seed_person(&server).await;
    let (id, secret) = web_client(&server).await;
    let client = (id.as_str(), secret.as_str());
    let tokens = sign_in_tokens(&server, &id, &secret, "openid offline_access").await;
    let first = tokens["refresh_token"].as_str().unwrap();

    let now = server.clock.now();
    let active = introspect(&server, client, first).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(active["scope"], "openid offline_access");
    assert_eq!(active["sub"], user_id.as_str());
    assert_eq!(active["token_type"], "refresh_token");
    let exp = active["exp"].as_i64().unwrap();
    assert!(exp > now && exp <= now + server.config.refresh_token_idle_ttl_secs);
    assert_eq!(
        introspect(&server, client, first).await["active"],
        true,
        "introspection consumes nothing"
    );

    // Consumed by a refresh: inactive; its successor is active.
    let rotated = json_body(refresh(&server, client, first).await, StatusCode::OK).await;
    assert_eq!(
        introspect(&server, client, first).await,
        json!({"active": false})
    );
    let second = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&server, client, second).await["active"], true);

    // Expired: inactive.
    server
        .clock
        .advance(server.config.refresh_token_idle_ttl_secs + 1);
    assert_eq!(
        introspect(&server, client, second).await,
        json!({"active": false})
    );

    // Revoked: inactive.
    let tokens = sign_in_tokens(&server, &id, &secret, "openid offline_access").await;
    let third = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&server, client, third).await["active"], true);
    let revoked = server
        .post_form("/revoke", Some(client), &[("token", third)])
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        introspect(&server, client, third).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn another_clients_tokens_introspect_only_with_the_introspect_any_permission() {
    let server = TestServer::start().await;
    seed_person(&server).await;
    let (id, secret) = web_client(&server).await;
    let tokens = sign_in_tokens(&server, &id, &secret, "openid offline_access").await;
    let (machine, machine_secret) = server.machine_client("reports:read").await;
    let machine_access = server.token(&machine, &machine_secret, None).await;
    let others = [
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        machine_access.as_str(),
    ];

    // A confidential client without the permission learns nothing about others' tokens.
    let (plain, plain_secret) = server.machine_client("").await;
    for token in others {
        assert_eq!(
            introspect(&server, (&plain, &plain_secret), token).await,
            json!({"active": false})
        );
    }
    // Its own token it may introspect.
    let own = server.token(&plain, &plain_secret, None).await;
    assert_eq!(
        introspect(&server, (&plain, &plain_secret), &own).await["active"],
        true
    );

    // Granted through the admin API: now it sees them.
    let admin = server.admin_token().await;
    let patched = server
        .http
        .patch(server.url(&format!("/admin/clients/{plain}")))
        .bearer_auth(&admin)
        .json(&json!({"introspect_any": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(patched, StatusCode::OK).await["introspect_any"],
        true
    );
    for token in others {
        assert_eq!(
            introspect(&server, (&plain, &plain_secret), token).await["active"],
            true
        );
    }

    // Created with the CLI flag, shown by `client show`, changed with `client update`.
    let rs = cli_json(&server.cli(&[
        "client",
        "create",
        "--name",
        "API",
        "--grant",
        "client_credentials",
        "--introspect-any",
        "--json",
    ]));
    assert_eq!(rs["introspect_any"], true);
    let rs_id = rs["client_id"].as_str().unwrap();
    let shown = server.cli(&["client", "show", rs_id]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown
            .lines()
            .any(|line| line.split_whitespace().eq(["introspect_any", "true"])),
        "{shown}"
    );
    let updated = cli_json(&server.cli(&[
        "client",
        "update",
        rs_id,
        "--introspect-any",
        "false",
        "--json",
    ]));
    assert_eq!(updated["introspect_any"], false);
    assert_eq!(
        introspect(
            &server,
            (rs_id, rs["client_secret"].as_str().unwrap()),
            others[0]
        )
        .await,
        json!({"active": false})
    );

    // A public client can be given no such permission.
    let refused = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(&admin)
        .json(&json!({"client_name": "spa", "client_type": "public",
            "grant_types": ["authorization_code"], "redirect_uris": ["https://spa.example/cb"],
            "introspect_any": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(refused, StatusCode::BAD_REQUEST).await["error"],
        "invalid_client_metadata"
    );
}
