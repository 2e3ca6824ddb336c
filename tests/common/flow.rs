//! The authorization code flow driven by hand over HTTP (a [`Browser`] for the
//! pages, plain form posts for `/token`), for tests that need the raw code and
//! verifier — races, replays, faults — plus raw SQL on the test's database for
//! injecting failures and counting rows.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use super::TestServer;
use super::browser::{Browser, Seen};

/// The person the flow signs in as.
pub const EMAIL: &str = "grace@example.com";
/// Their password.
pub const PASSWORD: &str = "a long and careful passphrase";
/// The client's registered redirect URI.
pub const CALLBACK: &str = "https://rp.example/cb";

/// Creates the flow's person; returns their id.
pub async fn seed_user(server: &TestServer) -> String {
    server
        .seed_user(json!({"email": EMAIL, "password": PASSWORD}))
        .await
}

/// A first-party confidential web app allowed `scope` (consent is skipped);
/// returns (client_id, secret).
pub async fn web_app(server: &TestServer, scope: &str) -> (String, String) {
    app(server, scope, true).await
}

/// A confidential web app allowed `scope`, asking for consent unless
/// `first_party`; returns (client_id, secret).
pub async fn app(server: &TestServer, scope: &str, first_party: bool) -> (String, String) {
    let (id, secret) = server
        .seed_client(json!({"client_name": "App", "first_party": first_party,
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [CALLBACK], "scope": scope}))
        .await;
    (id, secret.unwrap())
}

/// A code and the PKCE verifier it is bound to.
pub struct Code {
    /// The authorization code.
    pub code: String,
    /// The PKCE verifier.
    pub verifier: String,
}

fn verifier() -> String {
    gatehouse::crypto::secret::random_string(32).unwrap()
}

fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `/authorize` for `client_id` with `scope` and the PKCE challenge of `verifier`.
pub fn authorize_url(server: &TestServer, client_id: &str, scope: &str, verifier: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={CALLBACK}\
         &scope={}&state=st&nonce=n&code_challenge={}&code_challenge_method=S256",
        server.base,
        scope.replace(' ', "%20"),
        challenge(verifier)
    )
}

/// Asks `/authorize` for a code for `client_id` with `scope`, signing in first
/// when the browser has no session.
pub async fn code(
    server: &TestServer,
    browser: &mut Browser,
    client_id: &str,
    scope: &str,
) -> Code {
    let verifier = verifier();
    let url = authorize_url(server, client_id, scope, &verifier);
    let mut seen: Seen = browser.get(&url).await;
    if seen.status == StatusCode::OK && !seen.body.contains("name=\"decision\"") {
        seen = browser.sign_in(&server.base, &seen, EMAIL, PASSWORD).await;
    }
    if seen.status == StatusCode::OK && seen.body.contains("name=\"decision\"") {
        seen = browser.consent(&server.base, &seen, "allow").await;
    }
    assert_eq!(seen.status, StatusCode::FOUND, "{}", seen.body);
    Code {
        code: seen.redirect_param("code").expect("a code"),
        verifier,
    }
}

/// `POST /token` redeeming `code` as (`id`, `secret`).
pub async fn redeem(server: &TestServer, id: &str, secret: &str, code: &Code) -> reqwest::Response {
    server
        .post_form(
            "/token",
            Some((id, secret)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code.code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &code.verifier),
            ],
        )
        .await
}

/// `POST /token` using `refresh_token` as (`id`, `secret`).
pub async fn refresh(
    server: &TestServer,
    id: &str,
    secret: &str,
    token: &str,
) -> reqwest::Response {
    server
        .post_form(
            "/token",
            Some((id, secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
}

/// The OAuth `error` of a 400 answer.
pub async fn oauth_error(response: reqwest::Response) -> String {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// Whether `/introspect` (as the token's own client) calls `token` active.
pub async fn is_active(server: &TestServer, id: &str, secret: &str, token: &str) -> bool {
    let response = server
        .post_form("/introspect", Some((id, secret)), &[("token", token)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["active"] == json!(true)
}

/// A connection of the test's own to the server's database.
pub async fn connect(server: &TestServer) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&server.config.database_url())
        .await
        .unwrap()
}

/// Runs `statements` on the test's database, outside the server.
pub async fn sql(server: &TestServer, statements: &str) {
    let mut conn = connect(server).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The number of rows in `table`.
pub async fn count(server: &TestServer, table: &str) -> i64 {
    let mut conn = connect(server).await;
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    n
}

/// Makes every insert into (`op` = "insert") or delete from (`op` = "delete")
/// `table` fail, until [`heal`] — a real failure inside the server's writes.
pub async fn break_writes(server: &TestServer, table: &str, op: &str) {
    let name = format!("inject_{table}_{op}");
    let statements = if server.state.store.backend() == gatehouse::store::Backend::Sqlite {
        format!(
            "create trigger {name} before {op} on {table} \
             begin select raise(abort, 'injected failure'); end;"
        )
    } else {
        format!(
            "create or replace function {name}() returns trigger language plpgsql as \
             $$ begin raise exception 'injected failure'; end $$; \
             create trigger {name} before {op} on {table} for each row execute function {name}();"
        )
    };
    sql(server, &statements).await;
}

/// Removes what [`break_writes`] created.
pub async fn heal(server: &TestServer, table: &str, op: &str) {
    let name = format!("inject_{table}_{op}");
    let statements = if server.state.store.backend() == gatehouse::store::Backend::Sqlite {
        format!("drop trigger {name};")
    } else {
        format!("drop trigger {name} on {table}; drop function {name}();")
    };
    sql(server, &statements).await;
}

/// Posts an account form of `page` to `path`: its CSRF token and the
/// session it was rendered for (`for`), with `extra` fields.
pub async fn post_account(
    server: &TestServer,
    browser: &mut Browser,
    path: &str,
    page: &Seen,
    extra: &[(&str, &str)],
) -> Seen {
    let (csrf, session) = (page.field("csrf"), page.field("for"));
    let mut form = vec![("csrf", csrf.as_str()), ("for", session.as_str())];
    form.extend_from_slice(extra);
    browser.post(&server.url(path), &form).await
}

/// The claims of the ID token `app` gets for the code that `answer` (a
/// sign-in form's answer) leads to, for a request made with `verifier`.
pub async fn id_token_after(
    server: &TestServer,
    app: &(String, String),
    browser: &mut Browser,
    answer: Seen,
    verifier: &str,
) -> Value {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let back = browser.resume(&server.base, answer).await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    let code = Code {
        code: back.redirect_param("code").unwrap(),
        verifier: verifier.to_owned(),
    };
    let tokens =
        super::json_body(redeem(server, &app.0, &app.1, &code).await, StatusCode::OK).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
