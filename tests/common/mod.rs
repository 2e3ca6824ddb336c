//! Test harness: starts the real server on an ephemeral port and talks to it
//! over HTTP. SQLite in a temp dir by default; with `TEST_DATABASE_URL` set, a
//! fresh PostgreSQL database per test, dropped afterwards (and an unreachable
//! PostgreSQL fails the test rather than skipping it). With `TEST_REDIS_URL`
//! set, the cache is that Redis under a random namespace per test, so parallel
//! tests never see each other's keys (an unreachable Redis fails the test too).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod authenticator;
pub mod browser;
pub mod flow;
pub mod mailbox;
pub mod passkey;
pub mod people;
pub mod webdriver;

use std::process::Output;
use std::sync::Arc;

use gatehouse::cache::Cache;
use gatehouse::clock::{Clock, ManualClock};
use gatehouse::config::Config;
use gatehouse::{App, AppState};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Argon2 memory cost for tests, KiB: small, so password tests stay fast.
pub const TEST_ARGON2_MEMORY_KIB: u32 = 1024;
/// Argon2 passes for tests.
pub const TEST_ARGON2_ITERATIONS: u32 = 1;
/// The key-encryption key of PostgreSQL test deployments, which (like real
/// ones) may not start without one; SQLite tests use the generated default.
pub const TEST_POSTGRES_KEK: &str = "test key-encryption key shared by every instance";

/// A running server and what a test needs to drive it.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`: where it serves (for the first instance
    /// of a deployment, also the issuer).
    pub base: String,
    /// The address it listens on.
    pub served_on: std::net::SocketAddr,
    /// The server's shared state (store, keys, config).
    pub state: AppState,
    /// Moves the server's time.
    pub clock: ManualClock,
    /// The configuration the server runs with.
    pub config: Config,
    /// An HTTP client.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    db: Arc<TestDatabase>,
}

/// Where a test's data lives; dropping it removes the data.
pub struct TestDatabase {
    pub dir: TempDir,
    pub url: Option<String>,
    postgres: Option<(String, String)>,
    /// The Redis URL and this test's namespace, when `TEST_REDIS_URL` is set.
    pub redis: Option<(String, String)>,
}

/// With `TEST_REDIS_URL` set: that URL and a fresh namespace for one test, once
/// Redis has answered (panics if it does not).
pub async fn test_redis() -> Option<(String, String)> {
    let url = std::env::var("TEST_REDIS_URL").ok()?;
    let namespace = random_namespace();
    Cache::connect(Some(&url), &namespace)
        .await
        .unwrap_or_else(|e| panic!("TEST_REDIS_URL is set but Redis is unreachable: {e}"));
    Some((url, namespace))
}

/// A cache namespace no other test uses.
pub fn random_namespace() -> String {
    format!(
        "gatehouse-test-{}:",
        gatehouse::crypto::secret::random_string(12).unwrap()
    )
}

impl TestDatabase {
    /// A new empty database for one test.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let redis = test_redis().await;
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            return Self {
                dir,
                url: None,
                postgres: None,
                redis,
            };
        };
        let name = format!(
            "gatehouse_test_{}",
            gatehouse::crypto::secret::random_string(9)
                .unwrap()
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("create database {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Self {
            dir,
            url: Some(url.to_string()),
            postgres: Some((admin_url, name)),
            redis,
        }
    }

    /// The configuration for a server (or CLI) on this database and cache. Argon2
    /// is made cheap (1 MiB, one pass) so tests that hash passwords stay fast;
    /// the production defaults are untouched.
    pub fn config(&self, issuer: &str) -> Config {
        let mut config = Config {
            issuer: issuer.to_owned(),
            data_dir: self.dir.path().to_owned(),
            database_url: self.url.clone(),
            argon2_memory_kib: TEST_ARGON2_MEMORY_KIB,
            argon2_iterations: TEST_ARGON2_ITERATIONS,
            ..Config::default()
        };
        if let Some((url, namespace)) = &self.redis {
            config.redis_url = Some(url.clone());
            config.cache_namespace = namespace.clone();
        }
        if self.postgres.is_some() {
            config.key_encryption_key = Some(TEST_POSTGRES_KEK.into());
        }
        config
    }

    /// Environment variables that point the `gatehouse` binary at this database
    /// and cache (with the same cheap argon2 cost as [`TestDatabase::config`]).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "GATEHOUSE_DATA_DIR".into(),
                self.dir.path().display().to_string(),
            ),
            (
                "GATEHOUSE_ARGON2_MEMORY_KIB".into(),
                TEST_ARGON2_MEMORY_KIB.to_string(),
            ),
            (
                "GATEHOUSE_ARGON2_ITERATIONS".into(),
                TEST_ARGON2_ITERATIONS.to_string(),
            ),
        ];
        if let Some(url) = &self.url {
            env.push(("DATABASE_URL".into(), url.clone()));
            env.push((
                "GATEHOUSE_KEY_ENCRYPTION_KEY".into(),
                TEST_POSTGRES_KEK.into(),
            ));
        }
        if let Some((url, namespace)) = &self.redis {
            env.push(("REDIS_URL".into(), url.clone()));
            env.push(("GATEHOUSE_CACHE_NAMESPACE".into(), namespace.clone()));
        }
        env
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut conn)
                .await
                .unwrap();
            });
        });
        let _ = dropped.join();
    }
}

impl TestServer {
    /// A server with default settings on a fresh database.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `adjust` may change first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_on(TestDatabase::new().await, adjust).await
    }

    /// A server on an existing database (e.g. to restart on the same data).
    pub async fn start_on(
        db: impl Into<Arc<TestDatabase>>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let db = db.into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = db.config(&base);
        adjust(&mut config);
        Self::launch(db, listener, config, ManualClock::starting_now()).await
    }

    /// Another instance of this deployment: the same database, cache, issuer
    /// and clock (with `adjust` applied to the configuration), on a port of
    /// its own — as behind a load balancer.
    pub async fn beside(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = self.config.clone();
        adjust(&mut config);
        Self::launch(self.db.clone(), listener, config, self.clock.clone()).await
    }

    async fn launch(
        db: Arc<TestDatabase>,
        listener: tokio::net::TcpListener,
        config: Config,
        clock: ManualClock,
    ) -> Self {
        let served_on = listener.local_addr().unwrap();
        let config = config.validated().unwrap();
        let app = App::build(config.clone(), Clock::Manual(clock.clone()))
            .await
            .unwrap();
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            app.serve(vec![listener], async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            base: format!("http://{served_on}"),
            served_on,
            state,
            clock,
            config,
            http: reqwest::Client::new(),
            stop: Some(stop),
            served: Some(served),
            db,
        }
    }

    /// Stops the server gracefully (in-flight requests finish) and hands back its database.
    pub async fn stop(self) -> Arc<TestDatabase> {
        let TestServer {
            stop, served, db, ..
        } = self;
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(served) = served {
            served.await.unwrap();
        }
        db
    }

    /// The test's database.
    pub fn db(&self) -> &TestDatabase {
        &self.db
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Registers a client directly in the store (test setup, not under test).
    pub async fn seed_client(&self, spec: Value) -> (String, Option<String>) {
        let spec = serde_json::from_value(spec).unwrap();
        let registered = gatehouse::clients::register(&self.state.store, self.clock.now(), spec)
            .await
            .unwrap();
        (registered.client.client_id, registered.client_secret)
    }

    /// Creates a user from `spec` (the admin API's create body) straight
    /// through the registry; returns their user id.
    pub async fn seed_user(&self, spec: Value) -> String {
        let new = serde_json::from_value(spec).unwrap();
        gatehouse::users::create(
            &self.state.store,
            &self.state.passwords,
            self.clock.now(),
            new,
        )
        .await
        .unwrap()
        .id
    }

    /// A confidential client_credentials client with `scope`; returns (id, secret).
    pub async fn machine_client(&self, scope: &str) -> (String, String) {
        let (id, secret) = self
            .seed_client(json!({"client_name": "svc", "grant_types": ["client_credentials"], "scope": scope}))
            .await;
        (id, secret.unwrap())
    }

    /// POSTs a form to `path` with HTTP Basic client authentication.
    pub async fn post_form(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = auth {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// A client_credentials token for (`id`, `secret`), asserting success.
    pub async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.post_form("/token", Some((id, secret)), &form).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A bearer token with the admin scope, from a freshly seeded admin client.
    pub async fn admin_token(&self) -> String {
        let (id, secret) = self.machine_client("gatehouse:admin").await;
        self.token(&id, &secret, None).await
    }

    /// Runs the `gatehouse` binary against this server's database.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(&self.db.env(), args)
    }

    /// Runs the `gatehouse` binary against this server's database, feeding `stdin`.
    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run_cli_with_stdin(&self.db.env(), args, stdin)
    }
}

/// Runs the `gatehouse` binary with `env` and `args` (standard input is empty).
pub fn run_cli(env: &[(String, String)], args: &[&str]) -> Output {
    cli_command(env, args).output().unwrap()
}

/// Runs the `gatehouse` binary with `env` and `args`, writing `stdin` to its
/// standard input (a pipe, not a terminal).
pub fn run_cli_with_stdin(env: &[(String, String)], args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;

    let mut child = cli_command(env, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn cli_command(env: &[(String, String)], args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("GATEHOUSE_LOG", "warn");
    command
}

/// Parses a successful CLI run's stdout as JSON.
pub fn cli_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "CLI failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The JSON body of a response, asserting its status.
pub async fn json_body(response: reqwest::Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Verifies an access token with the independent `jsonwebtoken` library against
/// the JWKS fetched over HTTP; returns its claims.
pub async fn verify_with_jwks(server: &TestServer, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.expect("kid in header");
    let jwks: jsonwebtoken::jwk::JwkSet = server
        .http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[&server.base]);
    validation.set_audience(&[&server.base]);
    validation.validate_exp = false; // the server's clock may have been moved; exp is checked by the tests
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}
