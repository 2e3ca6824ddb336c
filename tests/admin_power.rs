//! Admin power belongs only to a client acting for itself: admin clients are
//! confidential machine clients (refused otherwise at registration, in the CLI
//! and the API), a person's token never passes the admin check whatever scope
//! it carries, and rotating the secret, changing the permissions or deleting
//! the client ends its tokens' admin power at once. Over HTTP, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::people::{CALLBACK, seed_person, sign_in_tokens};
use common::{TestServer, cli_json, json_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn admin_status(server: &TestServer, token: &str) -> StatusCode {
    server
        .http
        .get(server.url("/admin/clients"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn patch_client(server: &TestServer, admin: &str, id: &str, patch: Value) -> Value {
    let response = server
        .http
        .patch(server.url(&format!("/admin/clients/{id}")))
        .bearer_auth(admin)
        .json(&patch)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    json!({"status": status.as_u16(), "body": body})
}

#[tokio::test]
async fn registration_refuses_admin_clients_a_person_could_sign_in_through() {
    let server = TestServer::start().await;
    for args in [
        vec!["--grant", "authorization_code", "--redirect-uri", CALLBACK],
        vec![
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            CALLBACK,
        ],
        vec!["--public"],
    ] {
        let mut command = vec!["client", "create", "--name", "Ops", "--admin"];
        command.extend(&args);
        let output = server.cli(&command);
        assert!(!output.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("gatehouse:admin is only for confidential clients"),
            "{args:?}: {stderr}"
        );
    }
    let listed = cli_json(&server.cli(&["client", "list", "--json"]));
    assert_eq!(listed, json!([]), "nothing was registered");

    let admin = server.admin_token().await;
    for spec in [
        json!({"client_name": "x", "grant_types": ["client_credentials", "authorization_code"],
            "redirect_uris": [CALLBACK], "scope": "openid gatehouse:admin"}),
        json!({"client_name": "x", "client_type": "public", "grant_types": ["authorization_code"],
            "redirect_uris": [CALLBACK], "scope": "gatehouse:admin"}),
    ] {
        let refused = server
            .http
            .post(server.url("/admin/clients"))
            .bearer_auth(&admin)
            .json(&spec)
            .send()
            .await
            .unwrap();
        let body = json_body(refused, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"], "invalid_client_metadata", "{spec}");
    }

    // Nor can a patch turn an admin client into a web client, or the reverse.
    let (ops, _) = server.machine_client("gatehouse:admin").await;
    let (web, _) = server
        .seed_client(
            json!({"client_name": "web", "grant_types": ["authorization_code"],
            "redirect_uris": [CALLBACK], "scope": "openid"}),
        )
        .await;
    for (id, patch) in [
        (
            &ops,
            json!({"grant_types": ["client_credentials", "authorization_code"], "redirect_uris": [CALLBACK]}),
        ),
        (&web, json!({"scope": "openid gatehouse:admin"})),
    ] {
        // Each field is fine on its own; the patched client as a whole is not.
        let answer = patch_client(&server, &admin, id, patch).await;
        assert_eq!(answer["status"], 409, "{answer}");
        assert_eq!(answer["body"]["error"], "conflict");
        assert!(
            answer["body"]["error_description"]
                .as_str()
                .unwrap()
                .contains("gatehouse:admin is only for confidential clients"),
            "{answer}"
        );
    }
}

/// The attack of issue 6: a client that has the admin scope *and* lets people
/// sign in (as one registered before registration refused it). A person signs
/// in through it, gets a token carrying `gatehouse:admin`, and tries to create
/// an admin client of their own.
#[tokio::test]
async fn a_person_signed_in_through_a_client_with_the_admin_scope_gets_no_admin_power() {
    let server = TestServer::start().await;
    seed_person(&server).await;
    let (id, secret) = server
        .seed_client(json!({"client_name": "legacy", "first_party": true,
            "grant_types": ["authorization_code", "client_credentials"],
            "redirect_uris": [CALLBACK], "scope": "openid"}))
        .await;
    let secret = secret.unwrap();
    // Give it the admin scope behind validation's back, as an old database would have it.
    let mut row = server.state.store.get_client(&id).await.unwrap();
    row.scopes = json!(["openid", "gatehouse:admin"]).to_string();
    let mut tx = server.state.store.begin().await.unwrap();
    tx.update_client(&row).await.unwrap();
    tx.commit().await.unwrap();

    let tokens = sign_in_tokens(&server, &id, &secret, "openid gatehouse:admin").await;
    assert!(
        tokens["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "gatehouse:admin"),
        "the person's token carries the admin scope: {tokens}"
    );
    let person = tokens["access_token"].as_str().unwrap();
    let attack = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(person)
        .json(
            &json!({"client_name": "mine", "grant_types": ["client_credentials"],
            "scope": "gatehouse:admin"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(attack, StatusCode::UNAUTHORIZED).await["error"],
        "invalid_token"
    );
    assert_eq!(
        admin_status(&server, person).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.state.store.list_clients().await.unwrap().len(),
        1,
        "no client was created"
    );
    // The mixed client is no admin client for its own tokens either.
    let own = server.token(&id, &secret, Some("gatehouse:admin")).await;
    assert_eq!(admin_status(&server, &own).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rotating_the_secret_changing_permissions_or_deleting_ends_admin_power_at_once() {
    let server = TestServer::start().await;
    let (ops, ops_secret) = server.machine_client("gatehouse:admin").await;
    let root = server.admin_token().await;

    // Rotation from the CLI (another process: the server's caches are not told).
    let before = server.token(&ops, &ops_secret, None).await;
    assert_eq!(admin_status(&server, &before).await, StatusCode::OK);
    let rotated = cli_json(&server.cli(&["client", "rotate-secret", &ops, "--json"]));
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_eq!(
        admin_status(&server, &before).await,
        StatusCode::UNAUTHORIZED,
        "a token issued in the same second as the rotation is refused"
    );
    let old_secret = server
        .post_form(
            "/token",
            Some((&ops, &ops_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(old_secret.status(), StatusCode::UNAUTHORIZED);
    let same_second = server
        .post_form(
            "/token",
            Some((&ops, new_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(same_second.headers()["retry-after"], "1");
    assert_eq!(
        json_body(same_second, StatusCode::SERVICE_UNAVAILABLE).await["error"],
        "temporarily_unavailable"
    );
    // The CLI stamped the change with the wall clock; move the server's past it.
    let changed = server
        .state
        .store
        .get_client(&ops)
        .await
        .unwrap()
        .credentials_changed_at
        .unwrap();
    server.clock.advance(changed - server.clock.now() + 1);
    let after = server.token(&ops, new_secret, None).await;
    assert_eq!(admin_status(&server, &after).await, StatusCode::OK);

    // Removing the admin scope ends it; adding it back does not revive old tokens.
    let removed = patch_client(&server, &root, &ops, json!({"scope": "reports:read"})).await;
    assert_eq!(removed["status"], 200, "{removed}");
    assert_eq!(
        admin_status(&server, &after).await,
        StatusCode::UNAUTHORIZED
    );
    server.clock.advance(5);
    let restored = patch_client(&server, &root, &ops, json!({"scope": "gatehouse:admin"})).await;
    assert_eq!(restored["status"], 200, "{restored}");
    assert_eq!(
        admin_status(&server, &after).await,
        StatusCode::UNAUTHORIZED
    );
    server.clock.advance(1);
    let fresh = server.token(&ops, new_secret, None).await;
    assert_eq!(admin_status(&server, &fresh).await, StatusCode::OK);

    // A change that is not about permissions leaves tokens alone.
    let renamed = patch_client(&server, &root, &ops, json!({"client_name": "Ops 2"})).await;
    assert_eq!(renamed["status"], 200, "{renamed}");
    assert_eq!(admin_status(&server, &fresh).await, StatusCode::OK);

    // Deleting the client ends it.
    let deleted = server
        .http
        .delete(server.url(&format!("/admin/clients/{ops}")))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        admin_status(&server, &fresh).await,
        StatusCode::UNAUTHORIZED
    );
}
