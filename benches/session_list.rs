//! How long listing one person's sessions takes on Redis, with the person at
//! 50 live sessions (the account page and the admin API's session list do
//! this), and how big one session record is (`scripts/bench.sh`).
//! Needs Redis on `BENCH_REDIS_URL` [redis://127.0.0.1:6379]; uses an SQLite
//! database in a temporary directory and its own cache namespace.
// A benchmark stops at the first failure, with its reason.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, header::USER_AGENT};
use gatehouse::clock::Clock;
use gatehouse::config::Config;
use gatehouse::login::session;
use gatehouse::users::{self, NewUser};

const SESSIONS: usize = 50;
const ROUNDS: usize = 2_000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("gatehouse-session-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = Config {
        issuer: "http://127.0.0.1:1".into(),
        data_dir: dir.clone(),
        redis_url: Some(
            std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        ),
        cache_namespace: format!("bench-sessions-{}:", std::process::id()),
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        ..Config::default()
    };
    let app = gatehouse::App::build(config, Clock::System)
        .await
        .expect("the server state (is Redis running?)");
    let state = app.state();
    let user = users::create(
        &state.store,
        &state.passwords,
        state.clock.now(),
        NewUser {
            email: "bench@example.com".into(),
            password: None,
            email_verified: true,
            name: None,
            preferred_username: None,
            claims: None,
        },
    )
    .await
    .expect("a person");
    let mut headers = HeaderMap::new();
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        ),
    );
    let mut largest = 0;
    for _ in 0..SESSIONS {
        let (started, _) = session::start(
            state,
            &headers,
            &user.id,
            0,
            vec!["pwd".into()],
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        )
        .await
        .expect("a session");
        largest = largest.max(serde_json::to_vec(&started).unwrap_or_default().len());
    }
    let mut times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let begun = Instant::now();
        let listed = state.sessions().list(&user.id).await.expect("the list");
        times.push(begun.elapsed());
        assert_eq!(listed.len(), SESSIONS);
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "list {SESSIONS} sessions on Redis: p50 {:.2} ms  p99 {:.2} ms  ({ROUNDS} rounds)",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
    println!("session record: {largest} bytes (a 22-character id, an IPv6 address)");
    let _ = std::fs::remove_dir_all(&dir);
}
