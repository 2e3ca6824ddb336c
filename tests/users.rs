//! Users: the CLI (password on standard input, never echoed back), the admin
//! API (CRUD, disable/enable, validation, unique emails), what the database
//! keeps (argon2id only), and the password hasher's answers and admission control.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestServer, cli_json, json_body};
use gatehouse::config::Config;
use gatehouse::crypto::password::{PasswordError, PasswordHasher};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

const PASSWORD: &str = "correct horse battery staple";

/// The stored password hash of `user_id`, read straight from the database.
async fn stored_hash(server: &TestServer, user_id: &str) -> Option<String> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&server.config.database_url())
        .await
        .unwrap();
    sqlx::query("select password_hash from users where id = $1")
        .bind(user_id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("password_hash")
}

fn assert_is_our_hash(hash: &str) {
    assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn the_cli_creates_users_with_the_password_from_stdin() {
    let server = TestServer::start().await;
    let output = server.cli_with_stdin(
        &[
            "user",
            "create",
            "--email",
            " Ada@Example.com ",
            "--name",
            "Ada Lovelace",
            "--username",
            "ada",
            "--email-verified",
            "--json",
        ],
        &format!("{PASSWORD}\n"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let created = cli_json(&output);
    assert!(
        !stdout.contains(PASSWORD) && !stdout.contains("argon2"),
        "{stdout}"
    );
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    assert_eq!(created["email"], "ada@example.com");
    assert_eq!(created["email_verified"], true);
    assert_eq!(created["preferred_username"], "ada");
    let id = created["user_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 22);

    let hash = stored_hash(&server, &id).await.unwrap();
    assert_is_our_hash(&hash);
    assert!(
        server
            .state
            .passwords
            .verify(PASSWORD, Some(&hash))
            .await
            .unwrap()
    );

    let no_password = cli_json(&server.cli(&[
        "user",
        "create",
        "--email",
        "bob@example.com",
        "--no-password",
        "--json",
    ]));
    let bob = no_password["user_id"].as_str().unwrap().to_owned();
    assert_eq!(stored_hash(&server, &bob).await, None);

    let empty_stdin = server.cli(&["user", "create", "--email", "eve@example.com"]);
    assert!(!empty_stdin.status.success());
    assert!(String::from_utf8_lossy(&empty_stdin.stderr).contains("--no-password"));

    let changed = server.cli_with_stdin(
        &["user", "set-password", &bob, "--json"],
        "a new password\r\n",
    );
    cli_json(&changed);
    let bob_hash = stored_hash(&server, &bob).await.unwrap();
    assert!(
        server
            .state
            .passwords
            .verify("a new password", Some(&bob_hash))
            .await
            .unwrap()
    );

    let disabled = cli_json(&server.cli(&["user", "disable", &id, "--json"]));
    assert_eq!(disabled["disabled"], true);
    let enabled = cli_json(&server.cli(&["user", "enable", &id, "--json"]));
    assert_eq!(enabled["disabled"], false);
    let listed = cli_json(&server.cli(&["user", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let shown = cli_json(&server.cli(&["user", "show", &id, "--json"]));
    assert_eq!(shown["name"], "Ada Lovelace");
    cli_json(&server.cli(&["user", "delete", &id, "--json"]));
    let missing = server.cli(&["user", "show", &id]);
    assert!(!missing.status.success());
}

#[tokio::test]
async fn users_can_be_created_read_updated_disabled_and_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let api = |path: &str| server.url(&format!("/admin/users{path}"));

    let created = server
        .http
        .post(api(""))
        .bearer_auth(&admin)
        .json(&json!({"email": "Grace@Example.com", "password": PASSWORD, "name": "Grace"}))
        .send()
        .await
        .unwrap();
    let created = json_body(created, StatusCode::CREATED).await;
    let id = created["user_id"].as_str().unwrap().to_owned();
    assert_eq!(created["email"], "grace@example.com");
    assert_eq!(created["email_verified"], false);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    let hash = stored_hash(&server, &id).await.unwrap();
    assert_is_our_hash(&hash);

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
    assert_eq!(shown["name"], "Grace");
    let listed = json_body(
        server
            .http
            .get(api(""))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed[0]["user_id"], id.as_str());

    let patched = server
        .http
        .patch(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"email_verified": true, "preferred_username": "grace", "password": "another password"}))
        .send()
        .await
        .unwrap();
    let patched = json_body(patched, StatusCode::OK).await;
    assert_eq!(patched["email_verified"], true);
    assert_eq!(patched["preferred_username"], "grace");
    let new_hash = stored_hash(&server, &id).await.unwrap();
    let passwords = &server.state.passwords;
    assert!(
        passwords
            .verify("another password", Some(&new_hash))
            .await
            .unwrap()
    );
    assert!(!passwords.verify(PASSWORD, Some(&new_hash)).await.unwrap());

    let moved = server
        .http
        .patch(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"email": "grace@navy.example", "name": ""}))
        .send()
        .await
        .unwrap();
    let moved = json_body(moved, StatusCode::OK).await;
    assert_eq!(
        moved["email_verified"], false,
        "a new address is not verified yet"
    );
    assert_eq!(moved["name"], Value::Null, "an empty name clears it");

    for (action, disabled) in [("disable", true), ("enable", false)] {
        let response = server
            .http
            .post(api(&format!("/{id}/{action}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_body(response, StatusCode::OK).await["disabled"],
            disabled
        );
    }

    let deleted = server
        .http
        .delete(api(&format!("/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for request in [
        server.http.get(api(&format!("/{id}"))),
        server.http.delete(api(&format!("/{id}"))),
        server.http.post(api(&format!("/{id}/disable"))),
        server.http.patch(api(&format!("/{id}"))).json(&json!({})),
    ] {
        let gone = request.bearer_auth(&admin).send().await.unwrap();
        assert_eq!(
            json_body(gone, StatusCode::NOT_FOUND).await["error"],
            "not_found"
        );
    }
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let create = |email: &str| {
        server
            .http
            .post(server.url("/admin/users"))
            .bearer_auth(&admin)
            .json(&json!({ "email": email }))
            .send()
    };
    json_body(
        create("lin@example.com").await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let other = json_body(
        create("max@example.com").await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let taken = json_body(
        create(" LIN@Example.COM").await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(taken["error"], "conflict");

    let renamed = server
        .http
        .patch(server.url(&format!(
            "/admin/users/{}",
            other["user_id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .json(&json!({"email": "Lin@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(renamed, StatusCode::CONFLICT).await["error"],
        "conflict"
    );

    let found = gatehouse::users::find_by_email(&server.state.store, "  LIN@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap()
        .user;
    assert_eq!(found.email, "lin@example.com");
    assert!(
        gatehouse::users::find_by_email(&server.state.store, "nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn invalid_users_are_refused_naming_the_field() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let cases = [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": "a b@example.com"}), "email"),
        (
            json!({"email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "password": "x".repeat(1025)}),
            "password",
        ),
        (
            json!({"email": "a@example.com", "name": "x".repeat(201)}),
            "name",
        ),
        (
            json!({"email": "a@example.com", "preferred_username": "a\u{7}b"}),
            "preferred_username",
        ),
    ];
    for (body, field) in cases {
        let response = server
            .http
            .post(server.url("/admin/users"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = json_body(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["error"], "invalid_request");
        assert!(
            error["error_description"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{body}: {error}"
        );
    }
    let unknown_field = server
        .http
        .post(server.url("/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "a@example.com", "password_hash": "$argon2id$..."}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(unknown_field, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );
    let listed = server
        .http
        .get(server.url("/admin/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(listed, StatusCode::OK).await, json!([]));
}

#[tokio::test]
async fn the_user_routes_need_the_admin_scope_and_are_documented() {
    let server = TestServer::start().await;
    let anonymous = server
        .http
        .get(server.url("/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let doc: Value = server
        .http
        .get(server.url("/admin/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let users = &paths["/admin/users"];
    assert!(users.get("get").is_some() && users.get("post").is_some());
    let one = &paths["/admin/users/{user_id}"];
    assert!(one.get("get").is_some() && one.get("patch").is_some() && one.get("delete").is_some());
    for action in ["disable", "enable"] {
        assert!(
            paths[&format!("/admin/users/{{user_id}}/{action}")]
                .get("post")
                .is_some()
        );
    }
    for schema in ["NewUser", "UserPatch", "UserView"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
}

fn hasher_config(adjust: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config {
        argon2_memory_kib: common::TEST_ARGON2_MEMORY_KIB,
        argon2_iterations: common::TEST_ARGON2_ITERATIONS,
        ..Config::default()
    };
    adjust(&mut config);
    config
}

#[tokio::test]
async fn the_hasher_accepts_only_the_right_password() {
    let hasher = PasswordHasher::new(&hasher_config(|_| {})).unwrap();
    let hash = hasher.hash(PASSWORD).await.unwrap();
    assert_is_our_hash(&hash);
    assert!(hasher.verify(PASSWORD, Some(&hash)).await.unwrap());
    assert!(!hasher.verify("wrong password", Some(&hash)).await.unwrap());
    assert!(
        !hasher.verify(PASSWORD, None).await.unwrap(),
        "an unknown user never verifies"
    );
    assert!(!hasher.verify(PASSWORD, Some("garbage")).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_password_checks_is_refused_rather_than_queued_without_bound() {
    let hasher = std::sync::Arc::new(
        PasswordHasher::new(&hasher_config(|c| {
            c.argon2_memory_kib = 32 * 1024;
            c.argon2_iterations = 3;
            c.password_hash_concurrency = 1;
            c.password_hash_queue = 0;
        }))
        .unwrap(),
    );
    let mut checks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let hasher = hasher.clone();
        checks.spawn(async move { hasher.verify(PASSWORD, None).await });
    }
    let (mut answered, mut refused) = (0, 0);
    while let Some(result) = checks.join_next().await {
        match result.unwrap() {
            Ok(verified) => {
                assert!(!verified);
                answered += 1;
            }
            Err(PasswordError::Overloaded) => refused += 1,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert!(
        answered >= 1 && refused >= 1,
        "{answered} answered, {refused} refused"
    );
    assert!(
        hasher.verify(PASSWORD, None).await.is_ok(),
        "slots are given back once the flood is over"
    );
}

#[tokio::test]
async fn an_overloaded_hasher_answers_503_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.argon2_memory_kib = 32 * 1024;
        c.argon2_iterations = 3;
        c.password_hash_concurrency = 1;
        c.password_hash_queue = 0;
    })
    .await;
    let admin = server.admin_token().await;
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..6 {
        let request = server
            .http
            .post(server.url("/admin/users"))
            .bearer_auth(&admin)
            .json(&json!({"email": format!("u{n}@example.com"), "password": PASSWORD}));
        requests.spawn(async move { request.send().await.unwrap() });
    }
    let mut statuses = Vec::new();
    while let Some(response) = requests.join_next().await {
        let response = response.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(response.headers()[RETRY_AFTER], "1");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "temporarily_unavailable");
            statuses.push(503);
        } else {
            assert_eq!(response.status(), StatusCode::CREATED);
            statuses.push(201);
        }
    }
    assert!(
        statuses.contains(&201) && statuses.contains(&503),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_cli_sets_and_clears_standard_claims() {
    let server = TestServer::start().await;
    let created = cli_json(&server.cli(&[
        "user",
        "create",
        "--email",
        "claims@example.com",
        "--no-password",
        "--claims",
        r#"{"given_name":"Ada","zoneinfo":"Europe/London","address":{"locality":"London"}}"#,
        "--json",
    ]));
    assert_eq!(created["claims"]["given_name"], "Ada");
    let id = created["user_id"].as_str().unwrap().to_owned();
    let updated = cli_json(&server.cli(&[
        "user",
        "update",
        &id,
        "--name",
        "Ada Lovelace",
        "--claims",
        r#"{"given_name":"","phone_number":"+442071838750"}"#,
        "--json",
    ]));
    assert_eq!(updated["name"], "Ada Lovelace");
    assert!(updated["claims"].get("given_name").is_none(), "{updated}");
    assert_eq!(updated["claims"]["phone_number"], "+442071838750");
    assert_eq!(updated["claims"]["address"]["locality"], "London");
    let refused = server.cli(&[
        "user",
        "update",
        &id,
        "--claims",
        r#"{"locale":"not a tag"}"#,
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("locale"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
