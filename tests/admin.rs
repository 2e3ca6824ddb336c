//! The admin API: bootstrap through the CLI, client CRUD, secret rotation,
//! access control, and the generated OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestServer, cli_json, json_body};
use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_client_created_with_the_cli_can_use_the_admin_api() {
    let server = TestServer::start().await;
    let created =
        cli_json(&server.cli(&["client", "create", "--admin", "--name", "Ops", "--json"]));
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(created["scope"], "gatehouse:admin");

    let token = server.token(id, secret, None).await;
    let listed = server
        .http
        .get(server.url("/admin/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let listed = json_body(listed, StatusCode::OK).await;
    assert_eq!(listed[0]["client_id"], id);
    assert!(listed[0].get("client_secret").is_none() && listed[0].get("secret_hash").is_none());
}

#[tokio::test]
async fn clients_can_be_created_read_updated_rotated_and_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let api = |path: &str| server.url(&format!("/admin/clients{path}"));

    let created = server.http.post(api("")).bearer_auth(&admin)
        .json(&json!({"client_name": "Reporting job", "grant_types": ["client_credentials"], "scope": "reports:read"}))
        .send().await.unwrap();
    let created = json_body(created, StatusCode::CREATED).await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    server.token(&id, &secret, None).await;

    let shown = json_body(
        server
            .http
            .get(api(&format!("/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(shown["client_name"], "Reporting job");
    assert!(
        shown.get("client_secret").is_none(),
        "the secret is shown once only"
    );

    let patched = server
        .http
        .patch(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"client_name": "Reports", "scope": "reports:read reports:write"}))
        .send()
        .await
        .unwrap();
    let patched = json_body(patched, StatusCode::OK).await;
    assert_eq!(patched["client_name"], "Reports");
    assert_eq!(patched["scope"], "reports:read reports:write");

    let invalid = server
        .http
        .patch(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"redirect_uris": ["http://evil.example/cb"]}))
        .send()
        .await
        .unwrap();
    let invalid = json_body(invalid, StatusCode::BAD_REQUEST).await;
    assert_eq!(invalid["error"], "invalid_client_metadata");
    assert!(
        invalid["error_description"]
            .as_str()
            .unwrap()
            .starts_with("redirect_uris")
    );

    let rotated = json_body(
        server
            .http
            .post(api(&format!("/{id}/secret")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["client_secret"].as_str().unwrap();
    let old = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        old.status(),
        StatusCode::UNAUTHORIZED,
        "the old secret stops working at once"
    );
    server.token(&id, new_secret, None).await;

    let deleted = server
        .http
        .delete(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = server
        .http
        .get(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(gone, StatusCode::NOT_FOUND).await["error"],
        "not_found"
    );
    let gone_token = server
        .post_form(
            "/token",
            Some((&id, new_secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(gone_token.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn registrations_are_validated() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let cases = [
        (
            json!({"client_name": "x", "grant_types": []}),
            "grant_types",
        ),
        (
            json!({"client_name": "", "grant_types": ["client_credentials"]}),
            "client_name",
        ),
        (
            json!({"client_name": "x", "client_type": "public", "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"client_name": "x", "grant_types": ["authorization_code"]}),
            "redirect_uris",
        ),
        (
            json!({"client_name": "x", "grant_types": ["client_credentials"], "scope": "a\\b"}),
            "scope",
        ),
    ];
    for (spec, field) in cases {
        let response = server
            .http
            .post(server.url("/admin/clients"))
            .bearer_auth(&admin)
            .json(&spec)
            .send()
            .await
            .unwrap();
        let body = json_body(response, StatusCode::BAD_REQUEST).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{spec}: {body}"
        );
    }
    let unknown_field = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(&admin)
        .json(&json!({"client_name": "x", "grant_types": ["client_credentials"], "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(unknown_field, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );
    let not_json = server
        .http
        .post(server.url("/admin/clients"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(not_json, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn the_admin_api_requires_an_active_token_with_the_admin_scope() {
    let server = TestServer::start().await;
    let clients = server.url("/admin/clients");

    let anonymous = server.http.get(&clients).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anonymous.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let forged = server
        .http
        .get(&clients)
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let (id, secret) = server.machine_client("reports:read").await;
    let plain = server.token(&id, &secret, None).await;
    let forbidden = server
        .http
        .get(&clients)
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(forbidden, StatusCode::FORBIDDEN).await["error"],
        "insufficient_scope"
    );

    let (admin_id, admin_secret) = server.machine_client("gatehouse:admin").await;
    let admin = server.token(&admin_id, &admin_secret, None).await;
    assert_eq!(
        server
            .http
            .get(&clients)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server
        .post_form(
            "/revoke",
            Some((&admin_id, &admin_secret)),
            &[("token", &admin)],
        )
        .await;
    let revoked = server
        .http
        .get(&clients)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        revoked.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked admin token stops working at once"
    );

    let fresh = server.token(&admin_id, &admin_secret, None).await;
    server.cli(&["client", "delete", &admin_id]);
    let deleted_client = server
        .http
        .get(&clients)
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted_client.status(),
        StatusCode::UNAUTHORIZED,
        "tokens of a deleted admin client stop working"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_admin_route() {
    let server = TestServer::start().await;
    let doc: Value = server
        .http
        .get(server.url("/admin/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(
        paths["/admin/clients"].get("get").is_some()
            && paths["/admin/clients"].get("post").is_some()
    );
    let one = &paths["/admin/clients/{client_id}"];
    assert!(one.get("get").is_some() && one.get("patch").is_some() && one.get("delete").is_some());
    assert!(
        paths["/admin/clients/{client_id}/secret"]
            .get("post")
            .is_some()
    );
    assert!(doc["components"]["schemas"].get("ClientSpec").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
}

#[tokio::test]
async fn a_copy_of_the_database_does_not_reveal_client_secrets() {
    use base64::Engine;
    use sqlx::{Connection, Row};

    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("x").await;

    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&server.config.database_url())
        .await
        .unwrap();
    let row = sqlx::query("select * from clients where id = $1")
        .bind(&id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let stored: Vec<u8> = row.get("secret_hash");
    assert_eq!(stored.len(), 32, "a SHA-256, not the secret");
    for column in [
        "name",
        "kind",
        "redirect_uris",
        "grant_types",
        "scopes",
        "token_endpoint_auth_method",
    ] {
        assert!(!row.get::<String, _>(column).contains(&secret));
    }
    let hash_as_text = [
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&stored),
        stored
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    ];
    for stolen in hash_as_text {
        let response = server
            .post_form(
                "/token",
                Some((&id, &stolen)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "the stored hash must not work as a secret"
        );
    }
}

#[tokio::test]
async fn audit_events_are_readable_through_the_admin_api() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let user = server
        .http
        .post(server.url("/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "grace@example.com", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    let user_id = json_body(user, StatusCode::CREATED).await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed_out = server
        .http
        .post(server.url(&format!("/admin/users/{user_id}/sign-out")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);

    let events = server
        .http
        .get(server.url("/admin/audit-events?limit=5"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let events = json_body(events, StatusCode::OK).await;
    assert_eq!(events[0]["kind"], "user_signed_out_everywhere");
    assert_eq!(events[0]["user_id"], user_id.as_str());
    let anonymous = server
        .http
        .get(server.url("/admin/audit-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
