//! The token endpoint with the client_credentials grant, introspection and
//! revocation, over HTTP, with tokens verified by an independent JOSE library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestServer, json_body, verify_with_jwks};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};

#[tokio::test]
async fn client_credentials_issues_an_rfc9068_jwt_that_verifies_against_the_jwks() {
    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("reports:read reports:write").await;

    let response = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await;
    assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    let body = json_body(response, StatusCode::OK).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "reports:read");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );

    let claims = verify_with_jwks(&server, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], server.base);
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], server.base);
    assert_eq!(claims["scope"], "reports:read");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 600);
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
}

#[tokio::test]
async fn scope_defaults_to_everything_allowed_and_never_exceeds_it() {
    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("a b").await;

    let all = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(json_body(all, StatusCode::OK).await["scope"], "a b");

    let too_much = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "a c")],
        )
        .await;
    assert_eq!(
        json_body(too_much, StatusCode::BAD_REQUEST).await["error"],
        "invalid_scope"
    );
}

#[tokio::test]
async fn client_secret_post_works_only_for_clients_registered_with_it() {
    let server = TestServer::start().await;
    let (id, secret) = server
        .seed_client(
            json!({"client_name": "p", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post"}),
        )
        .await;
    let secret = secret.unwrap();

    let posted = server
        .post_form(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::OK);

    let basic = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        json_body(basic, StatusCode::UNAUTHORIZED).await["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn wrong_secret_and_unknown_client_get_the_same_401() {
    let server = TestServer::start().await;
    let (id, _) = server.machine_client("x").await;

    let wrong = server
        .post_form(
            "/token",
            Some((&id, "not-the-secret")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.headers()[WWW_AUTHENTICATE],
        r#"Basic realm="gatehouse""#
    );
    let wrong: Value = wrong.json().await.unwrap();

    let unknown = server
        .post_form(
            "/token",
            Some(("nobody", "whatever")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        wrong,
        "responses must not reveal which clients exist"
    );

    let anonymous = server
        .post_form("/token", None, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        json_body(anonymous, StatusCode::UNAUTHORIZED).await["error"],
        "invalid_client"
    );
}

#[tokio::test]
async fn grant_types_the_client_may_not_use_are_refused() {
    let server = TestServer::start().await;
    let (id, secret) = server
        .seed_client(
            json!({"client_name": "web", "grant_types": ["authorization_code"],
            "redirect_uris": ["https://app.example/cb"]}),
        )
        .await;
    let secret = secret.unwrap();

    let refused = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(
        json_body(refused, StatusCode::BAD_REQUEST).await["error"],
        "unauthorized_client"
    );

    let unknown = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "password")],
        )
        .await;
    assert_eq!(
        json_body(unknown, StatusCode::BAD_REQUEST).await["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn malformed_requests_get_invalid_request_json_never_a_500() {
    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("x").await;
    let token_url = server.url("/token");

    let json_body_sent = server
        .http
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(json_body_sent, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );

    let repeated = server
        .http
        .post(&token_url)
        .basic_auth(&id, Some(&secret))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=x&scope=x")
        .send()
        .await
        .unwrap();
    let body = json_body(repeated, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("scope")
    );

    let missing = server
        .post_form("/token", Some((&id, &secret)), &[("scope", "x")])
        .await;
    assert_eq!(
        json_body(missing, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );

    let huge = "x".repeat(200 * 1024);
    let oversized = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("pad", &huge)],
        )
        .await;
    assert_eq!(
        json_body(oversized, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );

    let two_methods = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(
        json_body(two_methods, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );

    let garbage_auth = server
        .http
        .post(&token_url)
        .header("authorization", "Basic %%%not-base64")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(garbage_auth, StatusCode::UNAUTHORIZED).await["error"],
        "invalid_client"
    );

    let bad_scope = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", "a\"b")],
        )
        .await;
    assert_eq!(
        json_body(bad_scope, StatusCode::BAD_REQUEST).await["error"],
        "invalid_scope"
    );

    let get = server.http.get(&token_url).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn introspection_reports_active_tokens_and_nothing_about_others() {
    let server = TestServer::start().await;
    let (rs_id, rs_secret) = server
        .seed_client(
            json!({"client_name": "resource server", "grant_types": ["client_credentials"],
            "introspect_any": true}),
        )
        .await;
    let rs_secret = rs_secret.unwrap();
    let (id, secret) = server.machine_client("reports:read").await;
    let token = server.token(&id, &secret, None).await;

    let active = server
        .post_form(
            "/introspect",
            Some((&rs_id, &rs_secret)),
            &[("token", &token)],
        )
        .await;
    assert_eq!(active.headers()[CACHE_CONTROL], "no-store");
    let active = json_body(active, StatusCode::OK).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(active["scope"], "reports:read");
    assert_eq!(active["token_type"], "Bearer");

    for bogus in ["garbage", "a.b.c", &format!("{token}x")] {
        let inactive = server
            .post_form(
                "/introspect",
                Some((&rs_id, &rs_secret)),
                &[("token", bogus)],
            )
            .await;
        assert_eq!(
            json_body(inactive, StatusCode::OK).await,
            json!({"active": false})
        );
    }

    server.clock.advance(601);
    let expired = server
        .post_form(
            "/introspect",
            Some((&rs_id, &rs_secret)),
            &[("token", &token)],
        )
        .await;
    assert_eq!(
        json_body(expired, StatusCode::OK).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn introspection_requires_an_authenticated_confidential_client() {
    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("x").await;
    let token = server.token(&id, &secret, None).await;

    let anonymous = server
        .post_form("/introspect", None, &[("token", &token)])
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let (public_id, _) = server
        .seed_client(json!({"client_name": "spa", "client_type": "public", "grant_types": ["authorization_code"],
            "redirect_uris": ["https://spa.example/cb"]}))
        .await;
    let public = server
        .post_form(
            "/introspect",
            None,
            &[("token", &token), ("client_id", &public_id)],
        )
        .await;
    assert_eq!(
        json_body(public, StatusCode::UNAUTHORIZED).await["error"],
        "invalid_client"
    );

    let missing = server
        .post_form("/introspect", Some((&id, &secret)), &[])
        .await;
    assert_eq!(
        json_body(missing, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn a_revoked_token_is_inactive_at_once_and_stays_revoked_across_a_restart() {
    let server = TestServer::start().await;
    let (id, secret) = server.machine_client("x").await;
    let token = server.token(&id, &secret, None).await;

    let revoked = server
        .post_form(
            "/revoke",
            Some((&id, &secret)),
            &[("token", &token), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let introspected = server
        .post_form("/introspect", Some((&id, &secret)), &[("token", &token)])
        .await;
    assert_eq!(
        json_body(introspected, StatusCode::OK).await,
        json!({"active": false})
    );

    let restarted = TestServer::start_on(server.stop().await, |_| {}).await;
    let after_restart = restarted
        .post_form("/introspect", Some((&id, &secret)), &[("token", &token)])
        .await;
    assert_eq!(
        json_body(after_restart, StatusCode::OK).await,
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_client_cannot_revoke_another_clients_token() {
    let server = TestServer::start().await;
    let (owner, owner_secret) = server.machine_client("x").await;
    let (other, other_secret) = server.machine_client("x").await;
    let token = server.token(&owner, &owner_secret, None).await;

    let attempt = server
        .post_form(
            "/revoke",
            Some((&other, &other_secret)),
            &[("token", &token)],
        )
        .await;
    assert_eq!(
        attempt.status(),
        StatusCode::OK,
        "RFC 7009: the answer reveals nothing"
    );
    let still = server
        .post_form(
            "/introspect",
            Some((&owner, &owner_secret)),
            &[("token", &token)],
        )
        .await;
    assert_eq!(json_body(still, StatusCode::OK).await["active"], true);

    // Not a token of ours (neither an access token nor a refresh token): 200 and
    // nothing happens (RFC 7009 §2.2). Refresh tokens are revoked for real:
    // tests/introspection.rs.
    let garbage = server
        .post_form(
            "/revoke",
            Some((&owner, &owner_secret)),
            &[
                ("token", "not-a-token"),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(garbage.status(), StatusCode::OK);
    let unauthenticated = server
        .post_form("/revoke", Some((&owner, "wrong")), &[("token", &token)])
        .await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}
