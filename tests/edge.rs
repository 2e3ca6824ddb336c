//! The HTTP edge under adversarial input, over real HTTP against the real
//! server on every backend: the client address behind trusted proxies, bounds
//! on what unauthenticated requests may make the server store, slow and
//! stalled connections, parser bounds, and configuration bounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{TestServer, json_body};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Barrier;

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "https://app.example/cb";

async fn seed_user(server: &TestServer) {
    server
        .seed_user(json!({"email": EMAIL, "password": PASSWORD, "name": "Ada"}))
        .await;
}

/// A confidential first-party web app (no consent page); returns its id.
async fn web_app(server: &TestServer) -> String {
    server
        .seed_client(
            json!({"client_name": "Reports", "grant_types": ["authorization_code"],
            "redirect_uris": [CALLBACK], "scope": "openid profile", "first_party": true}),
        )
        .await
        .0
}

/// A browser that keeps cookies, never follows redirects, and can claim to
/// come through a proxy (`X-Forwarded-For`).
struct Agent {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    forwarded_for: Option<String>,
}

/// What the agent saw.
struct Seen {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Seen {
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_owned()
    }

    fn redirect_param(&self, name: &str) -> Option<String> {
        let location = url::Url::parse(self.location.as_ref()?).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

impl Agent {
    fn new(forwarded_for: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            forwarded_for: forwarded_for.map(str::to_owned),
        }
    }

    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> Seen {
        let cookies: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        request = request.header(COOKIE, cookies.join("; "));
        if let Some(address) = &self.forwarded_for {
            request = request.header("x-forwarded-for", address);
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let text = set.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        Seen {
            status: response.status(),
            location: response
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned()),
            body: response.text().await.unwrap(),
        }
    }

    async fn authorize(&mut self, server: &TestServer, params: &[(&str, &str)]) -> Seen {
        let request = self.http.post(server.url("/authorize")).form(params);
        self.send(request).await
    }

    async fn sign_in(&mut self, server: &TestServer, page: &Seen, password: &str) -> Seen {
        let form = [
            ("request", page.field("request")),
            ("csrf", page.field("csrf")),
            ("email", EMAIL.to_owned()),
            ("password", password.to_owned()),
        ];
        let request = self.http.post(server.url("/login")).form(&form);
        let answer = self.send(request).await;
        // The sign-in form sends the browser back to the authorization endpoint.
        match answer.location.as_deref() {
            Some(path) if path.starts_with("/authorize/resume?") => {
                let request = self.http.get(server.url(path));
                self.send(request).await
            }
            _ => answer,
        }
    }
}

fn authorize_params<'a>(client_id: &'a str, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", state),
    ]
}

// ---- item 17 and the parameter bounds of item 15 -------------------------

#[tokio::test]
async fn oversize_authorization_parameters_get_a_page_never_a_redirect_or_a_pending_request() {
    let server = TestServer::start().await;
    let client_id = web_app(&server).await;
    let mut agent = Agent::new(None);

    let huge = "s".repeat(62 * 1024);
    let seen = agent
        .authorize(&server, &authorize_params(&client_id, &huge))
        .await;
    assert_eq!(seen.status, StatusCode::BAD_REQUEST, "{}", seen.body);
    assert!(seen.location.is_none(), "never redirects with a huge state");
    assert!(
        seen.body.contains("state parameter is longer than 2048"),
        "{}",
        seen.body
    );

    let largest = "s".repeat(2048);
    let seen = agent
        .authorize(&server, &authorize_params(&client_id, &largest))
        .await;
    assert_eq!(seen.status, StatusCode::OK, "the largest state is accepted");
    assert!(seen.body.contains("name=\"request\""), "a sign-in page");

    for (name, length) in [("nonce", 513), ("login_hint", 321), ("id_token_hint", 8193)] {
        let value = "n".repeat(length);
        let mut params = authorize_params(&client_id, "st");
        params.push((name, &value));
        let seen = agent.authorize(&server, &params).await;
        assert_eq!(seen.status, StatusCode::BAD_REQUEST, "{name}");
        assert!(seen.location.is_none(), "{name}");
        assert!(
            seen.body.contains(&format!("{name} parameter is longer")),
            "{name}: {}",
            seen.body
        );
    }

    let names: Vec<String> = (0..100).map(|i| format!("x{i}")).collect();
    let mut params = authorize_params(&client_id, "st");
    params.extend(names.iter().map(|n| (n.as_str(), "1")));
    let seen = agent.authorize(&server, &params).await;
    assert_eq!(
        seen.status,
        StatusCode::BAD_REQUEST,
        "more than 100 parameters"
    );
    assert!(seen.location.is_none());
}

#[tokio::test]
async fn scopes_with_too_many_tokens_are_invalid_scope_on_authorize_and_token() {
    let server = TestServer::start().await;
    let client_id = web_app(&server).await;
    let tokens: Vec<String> = (0..129).map(|i| format!("s{i}")).collect();
    let scope = tokens.join(" ");

    let mut params = authorize_params(&client_id, "st");
    params.retain(|(name, _)| *name != "scope");
    params.push(("scope", &scope));
    let seen = Agent::new(None).authorize(&server, &params).await;
    assert_eq!(seen.status, StatusCode::FOUND, "{}", seen.body);
    assert_eq!(
        seen.redirect_param("error").as_deref(),
        Some("invalid_scope")
    );
    assert!(
        seen.redirect_param("error_description")
            .unwrap()
            .contains("more than 128 tokens"),
        "{:?}",
        seen.location
    );
    assert_eq!(seen.redirect_param("state").as_deref(), Some("st"));

    let (id, secret) = server.machine_client("reports:read").await;
    let response = server
        .post_form(
            "/token",
            Some((&id, &secret)),
            &[("grant_type", "client_credentials"), ("scope", &scope)],
        )
        .await;
    let body = json_body(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "invalid_scope");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("more than 128 tokens"),
        "{body}"
    );
}

// ---- item 14: the client address behind a load balancer ------------------

#[tokio::test]
async fn the_per_address_sign_in_limit_keys_on_the_forwarded_address_only_from_a_trusted_proxy() {
    for trusted in [true, false] {
        let server = TestServer::start_with(|c| {
            c.login_attempts_per_ip = 2;
            c.login_attempts_per_account = 1000;
            if trusted {
                c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        seed_user(&server).await;
        let client_id = web_app(&server).await;
        let params = authorize_params(&client_id, "st");

        let mut attacker = Agent::new(Some("203.0.113.7"));
        let page = attacker.authorize(&server, &params).await;
        for _ in 0..2 {
            let failed = attacker.sign_in(&server, &page, "wrong").await;
            assert_eq!(failed.status, StatusCode::OK, "trusted={trusted}");
        }
        let refused = attacker.sign_in(&server, &page, PASSWORD).await;
        assert_eq!(
            refused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "trusted={trusted}: the failing address is limited"
        );

        let mut person = Agent::new(Some("198.51.100.20"));
        let page = person.authorize(&server, &params).await;
        let back = person.sign_in(&server, &page, PASSWORD).await;
        if trusted {
            assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
            assert!(
                back.redirect_param("code").is_some(),
                "another forwarded address is not limited"
            );
        } else {
            assert_eq!(
                back.status,
                StatusCode::TOO_MANY_REQUESTS,
                "an untrusted peer's X-Forwarded-For is ignored: both count as 127.0.0.1"
            );
        }
        server.stop().await;
    }
}

// ---- item 15: what unauthenticated requests may make the server store ----

/// `rounds` × `parallel` POST /authorize from `address`, released together
/// per round; returns (sign-in pages, temporarily_unavailable redirects).
async fn flood(
    server: &Arc<TestServer>,
    client_id: &str,
    address: &str,
    parallel: usize,
    rounds: usize,
) -> (usize, usize) {
    let state = Arc::new("s".repeat(2048));
    let (mut pages, mut refused) = (0, 0);
    for _ in 0..rounds {
        let barrier = Arc::new(Barrier::new(parallel));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..parallel {
            let (server, barrier, state) = (server.clone(), barrier.clone(), state.clone());
            let (client_id, address) = (client_id.to_owned(), address.to_owned());
            tasks.spawn(async move {
                let mut agent = Agent::new(Some(&address));
                barrier.wait().await;
                agent
                    .authorize(&server, &authorize_params(&client_id, &state))
                    .await
            });
        }
        while let Some(seen) = tasks.join_next().await {
            let seen = seen.unwrap();
            match seen.status {
                StatusCode::OK => pages += 1,
                StatusCode::FOUND => {
                    assert_eq!(
                        seen.redirect_param("error").as_deref(),
                        Some("temporarily_unavailable"),
                        "{:?}",
                        seen.location
                    );
                    assert_eq!(
                        seen.redirect_param("state").as_deref(),
                        Some(state.as_str())
                    );
                    refused += 1;
                }
                other => panic!("unexpected {other}: {}", seen.body),
            }
        }
    }
    (pages, refused)
}

/// Signs in through the pages; returns the agent holding the session.
async fn signed_in(server: &TestServer, client_id: &str) -> Agent {
    let mut agent = Agent::new(None);
    let page = agent
        .authorize(server, &authorize_params(client_id, "st"))
        .await;
    let back = agent.sign_in(server, &page, PASSWORD).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);
    agent
}

async fn session_still_works(server: &TestServer, agent: &mut Agent, client_id: &str) {
    let back = agent
        .authorize(server, &authorize_params(client_id, "again"))
        .await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    assert!(
        back.redirect_param("code").is_some(),
        "the signed-in session survived the flood: {:?}",
        back.location
    );
}

#[tokio::test]
async fn pending_sign_ins_are_capped_per_address_and_the_oldest_are_shed_overall() {
    let server = TestServer::start_with(|c| {
        c.max_pending_per_address = 40;
        c.max_pending = 60;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    seed_user(&server).await;
    let client_id = web_app(&server).await;
    let mut person = signed_in(&server, &client_id).await; // admitted 1st, from 127.0.0.1
    let mut early = Agent::new(Some("198.51.100.7"));
    let early_page = early
        .authorize(&server, &authorize_params(&client_id, "early"))
        .await; // admitted 2nd
    assert_eq!(early_page.status, StatusCode::OK);
    let server = Arc::new(server);

    let (pages, refused) = flood(&server, &client_id, "203.0.113.1", 25, 2).await;
    assert_eq!((pages, refused), (40, 10), "the per-address cap refuses");
    // 2 + 40 + 25 = 67 admitted against an overall cap of 60: the 7 oldest go.
    let (pages, refused) = flood(&server, &client_id, "203.0.113.2", 25, 1).await;
    assert_eq!(
        (pages, refused),
        (25, 0),
        "the overall cap sheds old pending sign-ins, never refuses a new one"
    );
    let mut late = Agent::new(Some("198.51.100.8"));
    let late_page = late
        .authorize(&server, &authorize_params(&client_id, "late"))
        .await;
    assert_eq!(late_page.status, StatusCode::OK);

    let shed = early.sign_in(&server, &early_page, PASSWORD).await;
    assert_eq!(shed.status, StatusCode::BAD_REQUEST, "{}", shed.body);
    assert!(shed.body.contains("start again"), "{}", shed.body);
    let back = late.sign_in(&server, &late_page, PASSWORD).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);
    session_still_works(&server, &mut person, &client_id).await;
}

#[tokio::test]
async fn a_flood_beyond_the_cache_budget_sheds_pending_requests_never_a_session() {
    let server = TestServer::start_with(|c| {
        c.cache_max_bytes = 1024 * 1024;
        c.max_pending_per_address = 100_000;
        c.max_pending = 100_000;
    })
    .await;
    seed_user(&server).await;
    let client_id = web_app(&server).await;
    let mut person = signed_in(&server, &client_id).await;
    let server = Arc::new(server);
    // 800 × (2 KiB state + the rest) is well above the 1 MiB budget.
    let (pages, refused) = flood(&server, &client_id, "203.0.113.1", 40, 20).await;
    assert_eq!(
        (pages, refused),
        (800, 0),
        "shedding old pending requests makes room"
    );
    session_still_works(&server, &mut person, &client_id).await;
}

// ---- item 16: slow clients -----------------------------------------------

/// Opens `count` connections that each send half a request and stall.
async fn stalled_connections(server: &TestServer, count: usize) -> Vec<tokio::net::TcpStream> {
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        streams.push(stream);
    }
    streams
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    closed_by(stream, tokio::time::Instant::now() + within).await
}

/// Whether the server closed `stream` (EOF or reset) by `deadline`.
async fn closed_by(stream: &mut tokio::net::TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn stalled_connections_do_not_keep_a_new_client_out_and_are_closed_after_the_header_timeout()
{
    gatehouse::http::connection::raise_fd_limit();
    let server = TestServer::start_with(|c| c.header_read_timeout_secs = 3).await;
    let mut stalled = stalled_connections(&server, 1100).await;

    let served = tokio::time::timeout(
        Duration::from_secs(2),
        server.http.get(server.url("/healthz")).send(),
    )
    .await;
    assert_eq!(
        served
            .expect("a new client is served at once")
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // All within one deadline: the header timeout (3 s) plus a margin.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut closed = 0;
    for stream in &mut stalled {
        if closed_by(stream, deadline).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 1100,
        "every stalled connection is closed after the header timeout"
    );
}

#[tokio::test]
async fn beyond_the_connection_cap_new_clients_wait_until_a_slot_frees() {
    let server = TestServer::start_with(|c| {
        c.max_connections = 20;
        c.header_read_timeout_secs = 2;
    })
    .await;
    let _stalled = stalled_connections(&server, 20).await;
    let request = server.http.get(server.url("/healthz")).send();
    tokio::pin!(request);
    assert!(
        tokio::time::timeout(Duration::from_millis(1000), &mut request)
            .await
            .is_err(),
        "with every slot taken, a new connection is not served"
    );
    let response = tokio::time::timeout(Duration::from_secs(6), request)
        .await
        .expect("served once the header timeout frees the slots")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = TestServer::start_with(|c| {
        c.header_read_timeout_secs = 60;
        c.connection_idle_timeout_secs = 1;
    })
    .await;
    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /authorize HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nclient_id=")
        .await
        .unwrap();
    assert!(
        closed_within(&mut stream, Duration::from_secs(4)).await,
        "a request whose body stalls is closed after the idle timeout"
    );
}

// ---- item 20: configuration bounds ---------------------------------------

#[tokio::test]
async fn serve_with_an_out_of_range_setting_exits_2_naming_the_key() {
    let db = common::TestDatabase::new().await;
    for (key, value) in [
        ("GATEHOUSE_SESSION_IDLE_TIMEOUT_SECS", "9223372036854775807"),
        (
            "GATEHOUSE_REFRESH_TOKEN_ABSOLUTE_TTL_SECS",
            "9223372036854775807",
        ),
        ("GATEHOUSE_MAX_CONNECTIONS", "0"),
        ("GATEHOUSE_CACHE_MAX_BYTES", "1"),
        ("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8,not-a-network"),
    ] {
        let mut env = db.env();
        env.push(("GATEHOUSE_LISTEN".into(), "127.0.0.1:0".into()));
        env.push((key.into(), value.into()));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut waited = Duration::ZERO;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if waited > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("{key}={value}: the server started");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{key}={value}: {stderr}");
        let name = key.trim_start_matches("GATEHOUSE_").to_lowercase();
        assert!(
            stderr.to_lowercase().contains(&name),
            "{key}={value}: {stderr}"
        );
    }
}
