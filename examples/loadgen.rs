//! Load generator for the sign-in side of Gatehouse, used by
//! `scripts/bench/signin.sh`: flows that need state per worker (a refresh-token
//! chain, a signed-in session), which `wrk` cannot walk.
//!
//! `cargo run --release --example loadgen -- SCENARIO` with the environment:
//! `BASE` (server URL), `CLIENT_ID` (a first-party public client with
//! `authorization_code` + `refresh_token`), `REDIRECT_URI`, `USER_EMAIL`,
//! `USER_PASSWORD`, `BENCH_SECONDS` (default 10), `WORKERS` (default 8),
//! `FLOOD_WORKERS` (default 64).
//!
//! Scenarios: `refresh` (each worker rotates its own refresh-token chain),
//! `userinfo`, `signin` (authorize → password → code → token), and `flood`
//! (refresh and userinfo measured while wrong-password sign-ins saturate the
//! hashing limit). Prints one line per measured flow: requests/s, p50, p99.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

#[derive(Clone)]
struct Env {
    base: String,
    client_id: String,
    redirect_uri: String,
    email: String,
    password: String,
    seconds: u64,
    workers: usize,
    flood_workers: usize,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A client with its own cookies, as one browser plus one app would be.
struct Agent {
    http: reqwest::Client,
    cookies: Vec<String>,
}

impl Agent {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            http,
            cookies: Vec::new(),
        }
    }

    fn remember(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    /// One complete sign-in; returns the token response.
    async fn sign_in(&mut self, env: &Env, email: &str, password: &str) -> Result<Value, String> {
        let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
        let challenge = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            verifier.as_bytes(),
        ));
        let url = format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20offline_access&state=s&code_challenge={challenge}&code_challenge_method=S256",
            env.base, env.client_id, env.redirect_uri
        );
        let page = self
            .http
            .get(&url)
            .header(COOKIE, self.cookies.join("; "))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.remember(&page);
        let html = page.text().await.map_err(|e| e.to_string())?;
        let field = |name: &str| {
            let marker = format!("name=\"{name}\" value=\"");
            let start = html.find(&marker).map(|i| i + marker.len())?;
            Some(html[start..].split('"').next()?.to_owned())
        };
        let (Some(request), Some(csrf)) = (field("request"), field("csrf")) else {
            return Err("no sign-in form".into());
        };
        let login = self
            .http
            .post(format!("{}/login", env.base))
            .header(COOKIE, self.cookies.join("; "))
            .form(&[
                ("request", request.as_str()),
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.remember(&login);
        let location = |response: &reqwest::Response| {
            response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| format!("answered {}", response.status()))
        };
        // The sign-in form sends the browser back to /authorize/resume, which
        // redirects to the app with the code.
        let resume = location(&login)?;
        let back = self
            .http
            .get(format!("{}{resume}", env.base))
            .header(COOKIE, self.cookies.join("; "))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let location = location(&back)?;
        let code = url::Url::parse(&location)
            .map_err(|e| e.to_string())?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .ok_or("no code")?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", env.redirect_uri.as_str()),
            ("client_id", env.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let tokens = self
            .http
            .post(format!("{}/token", env.base))
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        tokens.json().await.map_err(|e| e.to_string())
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

/// Latencies of one flow, in microseconds.
#[derive(Default)]
struct Recorder {
    latencies: Vec<u64>,
    errors: u64,
}

impl Recorder {
    fn report(mut self, name: &str, elapsed: Duration) {
        self.latencies.sort_unstable();
        let at = |q: f64| {
            let index = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
            self.latencies.get(index).copied().unwrap_or(0) as f64 / 1000.0
        };
        println!(
            "{name:<28} {:>10.0} req/s  p50 {:>8.2} ms  p99 {:>8.2} ms  ({} requests, {} errors)",
            self.latencies.len() as f64 / elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
            self.latencies.len(),
            self.errors
        );
    }
}

/// Runs every worker in a loop until `seconds` pass; returns merged latencies.
async fn measure(workers: Vec<Box<dyn Worker>>, seconds: u64) -> (Recorder, Duration) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut worker in workers {
        tasks.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            while Instant::now() < deadline {
                let begin = Instant::now();
                match worker.step().await {
                    Ok(()) => recorder.latencies.push(begin.elapsed().as_micros() as u64),
                    Err(_) => recorder.errors += 1,
                }
            }
            recorder
        }));
    }
    let mut all = Recorder::default();
    for task in tasks {
        let part = task.await.unwrap();
        all.latencies.extend(part.latencies);
        all.errors += part.errors;
    }
    (all, started.elapsed())
}

/// What a worker does.
#[derive(Clone, Copy)]
enum Kind {
    Refresh,
    UserInfo,
    SignIn,
}

/// `count` workers of `kind`, signed in before any clock starts.
async fn prepare(env: &Env, kind: Kind, count: usize) -> Vec<Box<dyn Worker>> {
    let mut workers: Vec<Box<dyn Worker>> = Vec::new();
    for _ in 0..count {
        let env = env.clone();
        workers.push(match kind {
            Kind::SignIn => Box::new(SignIn { env }),
            Kind::Refresh => {
                let (agent, tokens) = signed_in(&env).await;
                let refresh_token = tokens["refresh_token"]
                    .as_str()
                    .expect("a refresh token")
                    .to_owned();
                Box::new(RefreshChain {
                    env,
                    agent,
                    refresh_token,
                })
            }
            Kind::UserInfo => {
                let (agent, tokens) = signed_in(&env).await;
                let access_token = tokens["access_token"].as_str().unwrap().to_owned();
                Box::new(UserInfo {
                    env,
                    agent,
                    access_token,
                })
            }
        });
    }
    workers
}

async fn run(env: &Env, name: &str, workers: Vec<Box<dyn Worker>>) {
    let (recorder, elapsed) = measure(workers, env.seconds).await;
    recorder.report(name, elapsed);
}

/// One unit of load: a request (or a flow) a worker repeats.
trait Worker: Send {
    fn step(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>>;
}

struct RefreshChain {
    env: Env,
    agent: Agent,
    refresh_token: String,
}

impl Worker for RefreshChain {
    fn step(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", self.refresh_token.as_str()),
                ("client_id", self.env.client_id.as_str()),
            ];
            let response = self
                .agent
                .http
                .post(format!("{}/token", self.env.base))
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let body: Value = response.json().await.map_err(|e| e.to_string())?;
            self.refresh_token = body["refresh_token"]
                .as_str()
                .ok_or_else(|| format!("refresh failed: {body}"))?
                .to_owned();
            Ok(())
        })
    }
}

struct UserInfo {
    env: Env,
    agent: Agent,
    access_token: String,
}

impl Worker for UserInfo {
    fn step(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let response = self
                .agent
                .http
                .get(format!("{}/userinfo", self.env.base))
                .bearer_auth(&self.access_token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("userinfo answered {}", response.status()));
            }
            response.bytes().await.map_err(|e| e.to_string())?;
            Ok(())
        })
    }
}

struct SignIn {
    env: Env,
}

impl Worker for SignIn {
    fn step(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            let mut agent = Agent::new();
            let tokens = agent
                .sign_in(&self.env, &self.env.email, &self.env.password)
                .await?;
            tokens["id_token"]
                .as_str()
                .map(|_| ())
                .ok_or_else(|| format!("no id_token: {tokens}"))
        })
    }
}

async fn signed_in(env: &Env) -> (Agent, Value) {
    let mut agent = Agent::new();
    let tokens = agent
        .sign_in(env, &env.email, &env.password)
        .await
        .expect("the bench user can sign in");
    (agent, tokens)
}

/// Wrong-password sign-ins for random accounts (credential stuffing) until `stop`.
async fn flood(env: Env, stop: Arc<AtomicBool>, shed: Arc<AtomicU64>, answered: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let mut agent = Agent::new();
        let email = format!("{}@example.com", URL_SAFE_NO_PAD.encode(&rand_bytes()[..9]));
        match agent.sign_in(&env, &email, "wrong password").await {
            Err(status) if status.contains("503") => shed.fetch_add(1, Ordering::Relaxed),
            _ => answered.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[tokio::main]
async fn main() {
    let env = Env {
        base: var("BASE"),
        client_id: var("CLIENT_ID"),
        redirect_uri: var("REDIRECT_URI"),
        email: var("USER_EMAIL"),
        password: var("USER_PASSWORD"),
        seconds: number("BENCH_SECONDS", 10),
        workers: number("WORKERS", 8) as usize,
        flood_workers: number("FLOOD_WORKERS", 64) as usize,
    };
    let scenario = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let wants = |name: &str| scenario == name || scenario == "all";
    if wants("refresh") {
        let workers = prepare(&env, Kind::Refresh, env.workers).await;
        run(&env, "refresh (own chain/worker)", workers).await;
    }
    if wants("userinfo") {
        let workers = prepare(&env, Kind::UserInfo, env.workers).await;
        run(&env, "userinfo", workers).await;
    }
    if wants("signin") {
        let workers = prepare(&env, Kind::SignIn, env.workers).await;
        run(&env, "complete sign-in", workers).await;
    }
    if wants("flood") {
        let refreshers = prepare(&env, Kind::Refresh, env.workers).await;
        let readers = prepare(&env, Kind::UserInfo, env.workers).await;
        let stop = Arc::new(AtomicBool::new(false));
        let (shed, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut flooders = Vec::new();
        for _ in 0..env.flood_workers {
            flooders.push(tokio::spawn(flood(
                env.clone(),
                stop.clone(),
                shed.clone(),
                answered.clone(),
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        run(&env, "refresh under flood", refreshers).await;
        run(&env, "userinfo under flood", readers).await;
        stop.store(true, Ordering::Relaxed);
        for flooder in flooders {
            let _ = flooder.await;
        }
        println!(
            "flood: {} wrong-password attempts answered, {} shed with 503",
            answered.load(Ordering::Relaxed),
            shed.load(Ordering::Relaxed)
        );
    }
}
