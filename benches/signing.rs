//! Raw RS256 signing rate of the access-token code path, without HTTP: the
//! ceiling that token issuance is measured against (`scripts/bench.sh`).
//! Run pinned to one core: `taskset -c 0 cargo bench --bench signing`.

use std::time::{Duration, Instant};

use gatehouse::crypto::jwt;
use gatehouse::crypto::signing_key::SigningKey;
use gatehouse::oauth::access_token::{AccessTokenClaims, TOKEN_TYPE};

fn main() {
    let seconds: u64 = std::env::var("SIGN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let Ok((key, _)) = SigningKey::generate(2048) else {
        eprintln!("key generation failed");
        std::process::exit(1);
    };
    let claims = AccessTokenClaims {
        iss: "http://localhost:8080".into(),
        sub: "bench-client-id-000000".into(),
        aud: "http://localhost:8080".into(),
        client_id: "bench-client-id-000000".into(),
        scope: "reports:read".into(),
        iat: 1_800_000_000,
        exp: 1_800_000_600,
        jti: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        gid: None,
        userinfo_claims: Vec::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut count = 0u64;
    while Instant::now() < deadline {
        if jwt::sign(&key, TOKEN_TYPE, &claims).is_err() {
            eprintln!("signing failed");
            std::process::exit(1);
        }
        count += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "raw RS256 access-token signing (2048-bit, aws-lc-rs): {:.0} signs/s ({count} in {elapsed:.2} s)",
        count as f64 / elapsed
    );
}
