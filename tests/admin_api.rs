//! The admin API's contract: every error under /admin is the JSON error shape,
//! the OpenAPI document states every status an operation returns, and redirect
//! URIs are registered only in the exact form they are later compared in
//! (RFC 8252 §7.3 loopback ports aside). Over HTTP, on both backends.
//! `scripts/schemathesis.sh` fuzzes the same contract from the document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestServer, json_body};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

/// Asserts `response` has `status` and the admin API's JSON error shape; returns its `error`.
async fn json_error(response: reqwest::Response, status: StatusCode) -> String {
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        response.headers()
    );
    let body = json_body(response, status).await;
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_admin_error_is_the_json_error_shape() {
    let server = TestServer::start_with(|config| config.max_body_bytes = 4096).await;
    let admin = server.admin_token().await;
    let http = &server.http;
    let clients = server.url("/admin/clients");

    let missing_auth = http.get(&clients).send().await.unwrap();
    assert_eq!(
        json_error(missing_auth, StatusCode::UNAUTHORIZED).await,
        "invalid_token"
    );
    let unknown = http
        .get(server.url("/admin/nothing-here"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(unknown, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    for (method, url) in [
        (reqwest::Method::PUT, clients.clone()),
        (reqwest::Method::DELETE, clients.clone()),
        (reqwest::Method::POST, server.url("/admin/openapi.json")),
        (reqwest::Method::GET, server.url("/admin/users/x/disable")),
    ] {
        let refused = http
            .request(method.clone(), &url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_error(refused, StatusCode::METHOD_NOT_ALLOWED).await,
            "method_not_allowed",
            "{method} {url}"
        );
    }
    let not_json = http
        .post(&clients)
        .bearer_auth(&admin)
        .header(CONTENT_TYPE, "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "unsupported_media_type"
    );
    let malformed = http
        .post(&clients)
        .bearer_auth(&admin)
        .header(CONTENT_TYPE, "application/json")
        .body("{\"client_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(malformed, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let oversize = http
        .post(&clients)
        .bearer_auth(&admin)
        .json(&json!({"client_name": "x".repeat(8000), "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(oversize, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=9223372036854775808",
    ] {
        let refused = http
            .get(server.url(&format!("/admin/audit-events?{query}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_error(refused, StatusCode::BAD_REQUEST).await,
            "invalid_request",
            "{query}"
        );
    }
    let (public, _) = server
        .seed_client(json!({"client_name": "spa", "client_type": "public",
            "grant_types": ["authorization_code"], "redirect_uris": ["https://spa.example/cb"]}))
        .await;
    let no_secret = http
        .post(server.url(&format!("/admin/clients/{public}/secret")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(no_secret, StatusCode::CONFLICT).await,
        "conflict"
    );
}

#[tokio::test]
async fn the_openapi_document_states_the_statuses_and_constraints_the_server_enforces() {
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
    let mut operation_ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let mut expected = vec!["401", "403"];
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413", "415"]);
            }
            if path.contains('{') {
                expected.push("404");
            }
            for status in expected {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
            for (status, response) in responses {
                if status.as_str() >= "400" {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            operation_ids.push(operation["operationId"].as_str().unwrap().to_owned());
        }
    }
    let count = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), count, "operation ids are unique");

    let limit = &doc["paths"]["/admin/audit-events"]["get"]["parameters"][0];
    assert_eq!(limit["in"], "query");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);
    let spec = &doc["components"]["schemas"]["ClientSpec"];
    assert_eq!(spec["properties"]["client_name"]["maxLength"], 200);
    assert_eq!(spec["properties"]["redirect_uris"]["maxItems"], 20);
    assert_eq!(
        spec["properties"]["redirect_uris"]["items"]["maxLength"],
        2000
    );
    assert_eq!(spec["properties"]["grant_types"]["minItems"], 1);
    assert_eq!(
        spec["allOf"].as_array().unwrap().len(),
        4,
        "cross-field rules"
    );
    let user = &doc["components"]["schemas"]["NewUser"];
    assert_eq!(user["properties"]["email"]["maxLength"], 254);
    assert_eq!(user["properties"]["password"]["minLength"], 8);
}

#[tokio::test]
async fn redirect_uris_register_only_in_the_exact_form_they_are_compared_in() {
    let server = TestServer::start().await;
    let admin = server.admin_token().await;
    let register = |uri: &str| {
        server
            .http
            .post(server.url("/admin/clients"))
            .bearer_auth(&admin)
            .json(
                &json!({"client_name": "app", "grant_types": ["authorization_code"],
                "redirect_uris": [uri], "scope": "openid"}),
            )
            .send()
    };
    for bad in [
        " https://app.example/cb",
        "https://app.example/cb\n",
        "https://app.example/c b",
        "https://user:pass@app.example/cb",
        "https://user@app.example/cb",
        "https://app.example/cb#section",
        "https://*.app.example/cb",
        "https://app.example/*",
        "https://APP.example/cb",
        "https://app.example:443/cb",
        "https://app.example",
        "https://app.example/a/../cb",
    ] {
        let refused = register(bad).await.unwrap();
        let body = json_body(refused, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["error"], "invalid_client_metadata", "{bad:?}");
        let cli = server.cli(&[
            "client",
            "create",
            "--name",
            "app",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            bad,
        ]);
        assert!(!cli.status.success(), "the CLI registered {bad:?}");
    }

    let loopback = "http://127.0.0.1/cb";
    let registered = json_body(register(loopback).await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(
        registered["redirect_uris"],
        json!([loopback]),
        "stored as sent"
    );
    let id = registered["client_id"].as_str().unwrap();

    let authorize = |redirect_uri: &str| {
        let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid")
            .append_pair("code_challenge", &"a".repeat(43))
            .append_pair("code_challenge_method", "S256");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        async move { browser.get(url).send().await.unwrap().status() }
    };
    // The loopback port may vary (RFC 8252 §7.3); nothing else may.
    for accepted in [loopback, "http://127.0.0.1:51234/cb"] {
        assert_eq!(authorize(accepted).await, StatusCode::OK, "{accepted}");
    }
    for refused in [
        "http://127.0.0.1:51234/cb/../cb",
        "http://127.0.0.1:51234/./cb",
        "http://127.0.0.1:51234/%63b",
        "HTTP://127.0.0.1:51234/cb",
        "http://127.0.0.1:51234/cb?",
        "http://127.0.0.1:51234/cb#",
        "http://127.0.0.1.evil.example/cb",
        "http://localhost:51234/cb",
    ] {
        assert_eq!(
            authorize(refused).await,
            StatusCode::BAD_REQUEST,
            "{refused} must not match {loopback}"
        );
    }
}
