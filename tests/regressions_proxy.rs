//! Regressions from the adversarial review of issue 6 (items 14 and 15): the
//! client address behind a load balancer. Each test failed on the code it was
//! written against and passes now.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestServer;
use common::browser::Browser;
use common::flow;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

/// A sign-in page (pending request id + CSRF token + cookies) to post to.
async fn sign_in_page(server: &TestServer, client_id: &str) -> (String, String, String) {
    let mut browser = Browser::new();
    let url = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid&state=st&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base,
        flow::CALLBACK
    );
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let cookies = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    (page.field("request"), page.field("csrf"), cookies)
}

/// One wrong sign-in for `email` with extra `headers` (as the load balancer forwards it).
async fn wrong_sign_in(
    server: &TestServer,
    page: &(String, String, String),
    email: &str,
    headers: &[(&str, String)],
) -> StatusCode {
    let mut request = server
        .http
        .post(server.url("/login"))
        .header(COOKIE, &page.2)
        .form(&[
            ("request", page.0.as_str()),
            ("csrf", page.1.as_str()),
            ("email", email),
            ("password", "wrong password, long enough"),
        ]);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status()
}

async fn server() -> (TestServer, String) {
    let server = TestServer::start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.login_attempts_per_ip = 3;
        c.login_attempts_per_account = 1000;
    })
    .await;
    let (id, _) = flow::web_app(&server, "openid").await;
    (server, id)
}

/// Behind a load balancer that appends the client's address to
/// `X-Forwarded-For` (nginx `$proxy_add_x_forwarded_for`, AWS ALB, HAProxy
/// `option forwardfor`) and passes other headers through, a client sending its
/// own `Forwarded: for=…` header picks its address: `Forwarded` wins outright
/// over `X-Forwarded-For`, so the per-address limit is bypassed.
#[tokio::test]
async fn a_client_supplied_forwarded_header_never_overrides_the_proxy_x_forwarded_for() {
    let (server, id) = server().await;
    let page = sign_in_page(&server, &id).await;
    let real = ("x-forwarded-for", "198.51.100.7".to_owned());
    for n in 0..3 {
        let status = wrong_sign_in(
            &server,
            &page,
            &format!("u{n}@example.com"),
            std::slice::from_ref(&real),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "attempt {n}");
    }
    assert_eq!(
        wrong_sign_in(
            &server,
            &page,
            "u3@example.com",
            std::slice::from_ref(&real)
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "the per-address limit holds for the honest header"
    );
    // Same real client (the LB still appends its address), plus a header of its own.
    let mut passed = 0;
    for n in 0..20 {
        let spoof = ("forwarded", format!("for=203.0.113.{n}"));
        let status = wrong_sign_in(
            &server,
            &page,
            &format!("v{n}@example.com"),
            &[spoof, real.clone()],
        )
        .await;
        if status != StatusCode::TOO_MANY_REQUESTS {
            passed += 1;
        }
    }
    assert_eq!(
        passed, 0,
        "{passed} of 20 further attempts from 198.51.100.7 were checked: a client-sent Forwarded header chose the address"
    );
}

/// The sign-in limit per address keys on the full IPv6 address, while the
/// admission caps count an IPv6 address by its /64: one subscriber's /64 gives
/// an unbounded number of per-address sign-in budgets.
#[tokio::test]
async fn the_per_address_sign_in_limit_counts_an_ipv6_64_as_one_address() {
    let (server, id) = server().await;
    let page = sign_in_page(&server, &id).await;
    let mut checked = 0;
    for n in 1..=20 {
        let hop = ("x-forwarded-for", format!("2001:db8:1:2::{n:x}"));
        let status = wrong_sign_in(&server, &page, &format!("w{n}@example.com"), &[hop]).await;
        if status != StatusCode::TOO_MANY_REQUESTS {
            checked += 1;
        }
    }
    assert!(
        checked <= 3,
        "{checked} wrong passwords from one /64 were checked against a per-address limit of 3"
    );
}

/// Twenty client addresses at the per-address cap (default 500) — e.g. 20 IPv6
/// /64s, which one /56 subscriber holds 256 of — reach the overall cap on
/// pending sign-ins (default 10,000). That once refused everyone's
/// `/authorize` for the rest of the window; now the oldest are shed and a
/// person elsewhere still starts a sign-in.
#[tokio::test]
async fn twenty_addresses_at_their_cap_lock_no_one_else_out_of_signing_in() {
    let server = std::sync::Arc::new(
        TestServer::start_with(|c| {
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        })
        .await,
    );
    let (id, _) = flow::web_app(&server, "openid").await;
    let url = std::sync::Arc::new(format!(
        "{}/authorize?response_type=code&client_id={id}&redirect_uri={}\
         &scope=openid&state=st&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        server.base,
        flow::CALLBACK
    ));
    let tasks: Vec<_> = (0..20u32)
        .map(|prefix| {
            let (server, url) = (server.clone(), url.clone());
            tokio::spawn(async move {
                let mut admitted = 0;
                for host in 0..500u32 {
                    let r = server
                        .http
                        .get(url.as_str())
                        .header(
                            "x-forwarded-for",
                            format!("2001:db8:0:{prefix:x}::{host:x}"),
                        )
                        .send()
                        .await
                        .unwrap();
                    if r.status() == StatusCode::OK {
                        admitted += 1;
                    }
                }
                admitted
            })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        admitted += t.await.unwrap();
    }
    eprintln!("attacker: {admitted} pending sign-ins admitted from 20 /64s");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let victim = no_redirects
        .get(url.as_str())
        .header("x-forwarded-for", "198.51.100.99")
        .send()
        .await
        .unwrap();
    eprintln!(
        "a person at another address: {} {:?}",
        victim.status(),
        victim.headers().get("location")
    );
    assert_eq!(
        victim.status(),
        StatusCode::OK,
        "after 20 addresses used their per-address cap, nobody else can start a sign-in"
    );
}
