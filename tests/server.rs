//! The server as an operator sees it: discovery, health probes, security
//! headers, configuration handling, logs, and shutdown of the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDatabase, TestServer, cli_json, json_body, run_cli};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn discovery_lists_what_is_implemented_and_every_endpoint_answers() {
    let server = TestServer::start().await;
    let response = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let doc = json_body(response, StatusCode::OK).await;
    assert_eq!(doc["issuer"], server.base);
    let expected = [
        (
            "grant_types_supported",
            serde_json::json!(["authorization_code", "refresh_token", "client_credentials"]),
        ),
        (
            "token_endpoint_auth_methods_supported",
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"]),
        ),
        ("response_types_supported", serde_json::json!(["code"])),
        (
            "response_modes_supported",
            serde_json::json!(["query", "form_post"]),
        ),
        (
            "code_challenge_methods_supported",
            serde_json::json!(["S256"]),
        ),
        (
            "id_token_signing_alg_values_supported",
            serde_json::json!(["RS256"]),
        ),
        ("subject_types_supported", serde_json::json!(["public"])),
        (
            "authorization_response_iss_parameter_supported",
            serde_json::json!(true),
        ),
    ];
    for (key, value) in expected {
        assert_eq!(doc[key], value, "{key}");
    }
    assert!(
        doc["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"openid".into())
    );

    let post_endpoints = [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ];
    for key in post_endpoints {
        let url = doc[key].as_str().unwrap();
        assert!(url.starts_with(&server.base), "{key}");
        let status = server.http.post(url).send().await.unwrap().status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{key} does not take POST"
        );
    }
    for key in [
        "authorization_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
    ] {
        let status = server
            .http
            .get(doc[key].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{key} does not take GET"
        );
    }
    let jwks = server
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);

    let metadata: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata, doc);
}

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    let server = TestServer::start().await;
    let healthz = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(healthz, StatusCode::OK).await["status"], "ok");
    let readyz = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(json_body(readyz, StatusCode::OK).await["status"], "ready");
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let server = TestServer::start().await;
    let responses = [
        server
            .http
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
        server
            .http
            .get(server.url("/no/such/page"))
            .send()
            .await
            .unwrap(),
        server
            .post_form("/token", None, &[("grant_type", "client_credentials")])
            .await,
        server
            .http
            .get(server.url("/admin/clients"))
            .send()
            .await
            .unwrap(),
    ];
    for response in responses {
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(headers["x-request-id"].len() >= 16);
    }
    let missing = server
        .http
        .get(server.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(missing, StatusCode::NOT_FOUND).await["error"],
        "not_found"
    );
}

#[tokio::test]
async fn https_issuers_get_strict_transport_security() {
    let server = TestServer::start_with(|c| c.issuer = "https://login.example.com".into()).await;
    let response = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let doc: Value = server
        .http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], "https://login.example.com/token");
}

#[test]
fn config_check_masks_secrets_and_bad_values_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "GATEHOUSE_DATA_DIR".to_owned(),
            dir.path().display().to_string(),
        ),
        (
            "GATEHOUSE_KEY_ENCRYPTION_KEY".to_owned(),
            "super-secret-key-encryption".to_owned(),
        ),
        (
            "DATABASE_URL".to_owned(),
            "postgres://app:hunter2@db.internal/gatehouse".to_owned(),
        ),
    ];
    let checked = cli_json(&run_cli(&env, &["config", "check", "--json"]));
    let shown = checked.to_string();
    assert!(
        !shown.contains("hunter2") && !shown.contains("super-secret-key-encryption"),
        "{shown}"
    );
    assert_eq!(checked["issuer"], "http://localhost:8080");

    let bad = vec![("GATEHOUSE_SIGNING_KEY_BITS".to_owned(), "1024".to_owned())];
    let output = run_cli(&bad, &["config", "check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("signing_key_bits"));

    let typo = dir.path().join("gatehouse.toml");
    std::fs::write(&typo, "isuer = \"http://x\"\n").unwrap();
    let output = run_cli(
        &[],
        &["--config", typo.to_str().unwrap(), "config", "check"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("isuer"));
}

#[tokio::test]
async fn the_cli_manages_clients_on_the_database_before_the_server_runs() {
    let db = TestDatabase::new().await;
    let env = db.env();
    let created = cli_json(&run_cli(
        &env,
        &[
            "client",
            "create",
            "--name",
            "Mobile",
            "--public",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "com.example.app:/cb",
            "--scope",
            "openid profile",
            "--json",
        ],
    ));
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert!(
        created.get("client_secret").is_none(),
        "public clients have no secret"
    );
    assert_eq!(created["token_endpoint_auth_method"], "none");

    let listed = cli_json(&run_cli(&env, &["client", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let shown = cli_json(&run_cli(&env, &["client", "show", &id, "--json"]));
    assert_eq!(shown["scope"], "openid profile");

    let no_secret = run_cli(&env, &["client", "rotate-secret", &id]);
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("public clients have no secret"));

    let invalid = run_cli(
        &env,
        &[
            "client",
            "create",
            "--name",
            "x",
            "--grant",
            "authorization_code",
        ],
    );
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("redirect_uris"));
    let bad_grant = run_cli(
        &env,
        &["client", "create", "--name", "x", "--grant", "password"],
    );
    assert!(String::from_utf8_lossy(&bad_grant.stderr).contains("client_credentials"));

    cli_json(&run_cli(&env, &["client", "delete", &id, "--json"]));
    assert_eq!(
        cli_json(&run_cli(&env, &["client", "list", "--json"])),
        serde_json::json!([])
    );
    let missing = run_cli(&env, &["client", "show", &id]);
    assert!(!missing.status.success());
}

#[tokio::test]
async fn the_binary_logs_json_without_secrets_and_stops_cleanly_on_sigterm() {
    let db = TestDatabase::new().await;
    let mut env = db.env();
    let created = cli_json(&run_cli(
        &env,
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--grant",
            "client_credentials",
            "--json",
        ],
    ));
    let (id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    env.push(("GATEHOUSE_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push(("GATEHOUSE_ISSUER".into(), base.clone()));
    env.push(("GATEHOUSE_LOG_FORMAT".into(), "json".into()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("GATEHOUSE_LOG", "debug")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token: Value = http
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let introspected = http
        .post(format!("{base}/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), StatusCode::OK);
    http.post(format!("{base}/token"))
        .basic_auth(id, Some("wrong-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");

    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["request_id"].is_string()),
        "request ids are logged"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "shutting down: finishing in-flight requests")
    );
    for needle in [secret, token, "wrong-secret"] {
        assert!(!logs.contains(needle), "a secret reached the logs");
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let server = TestServer::start().await;
    server.state.store.close().await;
    let readyz = server.http.get(server.url("/readyz")).send().await.unwrap();
    let body = json_body(readyz, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "database unreachable");
    let healthz = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        healthz.status(),
        StatusCode::OK,
        "the process itself is still alive"
    );
}
