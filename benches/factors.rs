//! How many second-factor checks one core makes per second
//! (`scripts/bench.sh`): an authenticator code (RFC 6238 over the window of
//! one step either side, the cost of every code typed, right or wrong) and a
//! passkey assertion (webauthn-rs verifying the ES256 signature, the client
//! data and the authenticator data: what each passkey sign-in costs the
//! server, before its one database write). The assertions come from the test
//! suite's software authenticator, made before the clock starts.
// A benchmark stops at the first failure, with its reason.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)]

#[path = "../tests/common/authenticator.rs"]
#[allow(dead_code)]
mod authenticator;

use std::time::{Duration, Instant};

use gatehouse::factors::totp;
use serde_json::Value;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential, Uuid};

const ORIGIN: &str = "http://localhost:8080";
const ASSERTIONS: usize = 2_000;

fn main() {
    let seconds = std::env::var("FACTOR_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    totp_checks(Duration::from_secs(seconds));
    passkey_assertions();
}

/// Codes checked per second: a wrong code (three steps computed) and the
/// right one.
fn totp_checks(duration: Duration) {
    let secret = [0x5au8; totp::SECRET_BYTES];
    let now = 1_800_000_000;
    let right = totp::code(&secret, totp::step_at(now));
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    for (label, typed) in [
        ("wrong code", wrong.as_str()),
        ("right code", right.as_str()),
    ] {
        let started = Instant::now();
        let mut checks = 0u64;
        while started.elapsed() < duration {
            for _ in 0..1_000 {
                std::hint::black_box(totp::matching_step(
                    std::hint::black_box(&secret),
                    std::hint::black_box(typed),
                    now,
                    None,
                ));
            }
            checks += 1_000;
        }
        let rate = checks as f64 / started.elapsed().as_secs_f64();
        println!("TOTP {label} checks/s (one core): {rate:.0}");
    }
}

/// Passkey assertions verified per second.
fn passkey_assertions() {
    let webauthn = gatehouse::passkeys::relying_party(ORIGIN).expect("a relying party");
    let mut key = authenticator::SoftAuthenticator::new(ORIGIN);
    let (options, state) = webauthn
        .start_passkey_registration(Uuid::from_bytes([7; 16]), "bench", "bench", None)
        .unwrap();
    let options: Value = serde_json::to_value(&options).unwrap();
    let made: RegisterPublicKeyCredential = serde_json::from_value(key.register(&options)).unwrap();
    let passkey = webauthn.finish_passkey_registration(&made, &state).unwrap();

    let mut pending = Vec::with_capacity(ASSERTIONS);
    for _ in 0..ASSERTIONS {
        let (options, state) = webauthn
            .start_passkey_authentication(std::slice::from_ref(&passkey))
            .unwrap();
        let options: Value = serde_json::to_value(&options).unwrap();
        let answer: PublicKeyCredential =
            serde_json::from_value(key.authenticate(&options)).unwrap();
        pending.push((answer, state));
    }
    let started = Instant::now();
    for (answer, state) in &pending {
        let result = webauthn
            .finish_passkey_authentication(answer, state)
            .unwrap();
        std::hint::black_box(result);
    }
    let rate = ASSERTIONS as f64 / started.elapsed().as_secs_f64();
    println!("passkey assertions verified/s (one core): {rate:.0}");
}
