//! Signing keys: rotation through the CLI (published before it signs, old key
//! kept until its tokens expire), public-only JWKS, encryption at rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestDatabase, TestServer, cli_json, verify_with_jwks};
use gatehouse::crypto::signing_key::SigningKey;
use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;
use serde_json::Value;
use sqlx::{Connection, Row};

async fn jwks_kids(server: &TestServer) -> Vec<String> {
    let jwks: Value = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn rotation_publishes_the_new_key_first_and_keeps_the_old_one_until_its_tokens_expire() {
    let server = TestServer::start_with(|c| c.key_publish_delay_secs = 3600).await;
    let (id, secret) = server.machine_client("x").await;
    let old_token = server.token(&id, &secret, None).await;
    let old_kid = kid_of(&old_token);
    assert_eq!(jwks_kids(&server).await, vec![old_kid.clone()]);

    let rotated = cli_json(&server.cli(&["keys", "rotate", "--json"]));
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    let activate_at = rotated["activate_at"].as_i64().unwrap();
    assert!(activate_at >= server.clock.now() + 3600);
    server.state.reload_keys().await.unwrap();

    let published = jwks_kids(&server).await;
    assert!(
        published.contains(&new_kid) && published.contains(&old_kid),
        "{published:?}"
    );
    let still_old = server.token(&id, &secret, None).await;
    assert_eq!(
        kid_of(&still_old),
        old_kid,
        "the new key must not sign before the publish delay"
    );

    server.clock.advance(activate_at - server.clock.now());
    let new_token = server.token(&id, &secret, None).await;
    assert_eq!(kid_of(&new_token), new_kid);
    verify_with_jwks(&server, &new_token).await;
    verify_with_jwks(&server, &still_old).await; // old key still published while its tokens live

    server.clock.advance(server.config.max_token_ttl_secs());
    assert_eq!(jwks_kids(&server).await, vec![new_kid]);

    let listed = cli_json(&server.cli(&["keys", "list", "--json"]));
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 2);
}

#[tokio::test]
async fn jwks_carries_public_parts_only_with_cache_headers() {
    let server = TestServer::start().await;
    let response = server.http.get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(
            key.get(private).is_none(),
            "JWKS leaks private member {private}"
        );
    }
}

async fn stored_key(server: &TestServer) -> (Vec<u8>, i64) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&server.config.database_url())
        .await
        .unwrap();
    let row = sqlx::query("select private_key, encrypted from signing_keys")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (row.get::<Vec<u8>, _>(0), row.get::<i64, _>(1))
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest_when_a_key_encryption_key_is_set() {
    let kek = "correct horse battery staple";
    let server = TestServer::start_with(|c| c.key_encryption_key = Some(kek.into())).await;
    let (id, secret) = server.machine_client("x").await;
    let kid = kid_of(&server.token(&id, &secret, None).await);

    let (material, encrypted) = stored_key(&server).await;
    assert_eq!(encrypted, 1);
    assert!(
        SigningKey::from_pkcs8(&material).is_err(),
        "the stored key must not be a usable PKCS#8 key"
    );

    let db = server.stop().await;
    let config = db.config("http://localhost:8080");
    let refused = gatehouse::App::build(config, gatehouse::clock::Clock::System).await;
    let message = refused
        .err()
        .expect("start without the key-encryption key must fail")
        .to_string();
    assert!(
        message.contains("GATEHOUSE_KEY_ENCRYPTION_KEY"),
        "{message}"
    );

    let restarted = TestServer::start_on(db, |c| c.key_encryption_key = Some(kek.into())).await;
    assert_eq!(kid_of(&restarted.token(&id, &secret, None).await), kid);
}

#[tokio::test]
async fn with_plaintext_allowed_keys_are_plaintext_until_a_key_encryption_key_is_set() {
    let server = TestServer::start_with(|c| {
        c.key_encryption_key = None;
        c.allow_plaintext_keys = true;
    })
    .await;
    let (material, encrypted) = stored_key(&server).await;
    assert_eq!(encrypted, 0);
    assert!(SigningKey::from_pkcs8(&material).is_ok());
    let restarted = TestServer::start_on(server.stop().await, |c| {
        c.key_encryption_key = Some("a-new-secret-of-some-length".into())
    })
    .await;
    let (material, encrypted) = stored_key(&restarted).await;
    assert_eq!(encrypted, 1);
    assert!(SigningKey::from_pkcs8(&material).is_err());
    // The key that was once plaintext (in older backups too) is being replaced:
    // a new one is published at once and signs after the publish delay.
    assert_eq!(jwks_kids(&restarted).await.len(), 2);
}

/// The zero-configuration default (rule 1): no key is ever stored in
/// plaintext, and the database without the data directory's generated secret
/// starts nothing and signs nothing.
#[tokio::test]
async fn by_default_keys_are_sealed_with_a_generated_secret_kept_out_of_the_database() {
    let db = TestDatabase::new().await;
    if db.url.is_none() {
        let server = TestServer::start_on(db, |c| c.key_encryption_key = None).await;
        let (id, secret) = server.machine_client("x").await;
        let kid = kid_of(&server.token(&id, &secret, None).await);
        let (material, encrypted) = stored_key(&server).await;
        assert_eq!(encrypted, 1);
        assert!(SigningKey::from_pkcs8(&material).is_err());
        let file = server.config.data_dir.join("key-encryption-key");
        let mode = std::fs::metadata(&file).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let db = server.stop().await;

        // A copy of the database file alone, in a data directory of its own.
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(
            db.dir.path().join("gatehouse.db"),
            copy.path().join("gatehouse.db"),
        )
        .unwrap();
        let mut stolen = db.config("http://localhost:8080");
        stolen.data_dir = copy.path().to_owned();
        let refused = gatehouse::App::build(stolen, gatehouse::clock::Clock::System).await;
        let message = refused.err().expect("the copy must not start").to_string();
        assert!(message.contains("cannot be decrypted"), "{message}");

        // The real data directory still starts, with the same key.
        let restarted = TestServer::start_on(db, |c| c.key_encryption_key = None).await;
        assert_eq!(kid_of(&restarted.token(&id, &secret, None).await), kid);

        // An operator who later configures a key takes over: keys are re-sealed
        // under it, and the generated file is no longer needed.
        let db = restarted.stop().await;
        let chosen = "an operator-managed secret of some length";
        let managed =
            TestServer::start_on(db, |c| c.key_encryption_key = Some(chosen.into())).await;
        let db = managed.stop().await;
        std::fs::remove_file(&file).unwrap();
        let without_file =
            TestServer::start_on(db, |c| c.key_encryption_key = Some(chosen.into())).await;
        assert_eq!(kid_of(&without_file.token(&id, &secret, None).await), kid);
    } else {
        // PostgreSQL: several instances share the database, so a key must be
        // configured; without one (and without the opt-out) nothing starts.
        let mut config = db.config("http://localhost:8080");
        config.key_encryption_key = None;
        let message = config.validated().expect_err("refused").to_string();
        assert!(message.contains("`key_encryption_key`"), "{message}");
        assert!(message.contains("allow_plaintext_keys"), "{message}");
    }
}

#[test]
fn serve_on_postgresql_without_a_key_encryption_key_stops_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "GATEHOUSE_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        // Nothing listens there: the refusal must come before any connection.
        (
            "DATABASE_URL".to_owned(),
            "postgres://postgres@127.0.0.1:9/gatehouse".to_owned(),
        ),
    ];
    let output = common::run_cli(&env, &["serve"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`key_encryption_key`") && stderr.contains("allow_plaintext_keys"),
        "{stderr}"
    );
}
