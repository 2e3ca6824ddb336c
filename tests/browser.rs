//! A real browser signs in: headless Chromium (Debian's package), driven over
//! WebDriver by Debian's `chromedriver`, goes through the sign-in and consent
//! pages and is redirected back to a callback server this test runs; the code
//! is then redeemed for an ID token. Along the way it checks what only a real
//! browser shows — the stylesheet is not blocked by the CSP, the cookies
//! (neither `Secure` nor `__Host-` on an http issuer) are kept, the form-action CSP lets the
//! redirect through (after sign-in, and after the logout confirmation's
//! button), nothing overflows a phone-sized window — and saves
//! screenshots of both pages at desktop and phone sizes under
//! `<target>/test-artifacts/`.
//!
//! Needs `apt-get install -y chromium chromium-driver`; fails (never skips)
//! without them. `CHROMEDRIVER` and `CHROMIUM` override the binaries' paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use common::TestServer;
use common::browser::rp_http;
use common::webdriver::{Chromedriver, Session};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Value, json};

const EMAIL: &str = "ada@example.com";
const PASSWORD: &str = "correct horse battery staple";
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);
/// The accent colour of gatehouse.css's buttons, as `getComputedStyle` reports it.
const ACCENT: &str = "rgb(47, 91, 211)";
const WAIT: Duration = Duration::from_secs(15);

/// `<target dir>/test-artifacts`, created: `CARGO_TARGET_DIR` if set, else the
/// target directory this test binary was built into.
fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            // <target>/<profile>/deps/browser-<hash>
            exe.ancestors()
                .nth(3)
                .filter(|_| exe.parent().is_some_and(|p| p.ends_with("deps")))
                .map_or_else(
                    || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
                    PathBuf::from,
                )
        },
        |dir| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir),
    );
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A relying party's redirect endpoint on 127.0.0.1: records each query string
/// it receives and answers "signed in".
struct Callback {
    url: String,
    queries: Arc<Mutex<Vec<String>>>,
}

impl Callback {
    async fn start() -> Self {
        let queries = Arc::new(Mutex::new(Vec::new()));
        let app =
            axum::Router::new()
                .route(
                    "/cb",
                    axum::routing::get(
                        |State(queries): State<Arc<Mutex<Vec<String>>>>,
                         RawQuery(query): RawQuery| async move {
                            queries.lock().unwrap().push(query.unwrap_or_default());
                            "signed in"
                        },
                    ),
                )
                .with_state(queries.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/cb", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, queries }
    }

    /// The parameters of the one request received so far.
    fn received(&self) -> Vec<(String, String)> {
        let queries = self.queries.lock().unwrap();
        assert_eq!(queries.len(), 1, "callback requests: {queries:?}");
        url::form_urlencoded::parse(queries[0].as_bytes())
            .into_owned()
            .collect()
    }
}

async fn seed_user(server: &TestServer) -> String {
    server
        .seed_user(json!({"email": EMAIL, "password": PASSWORD,
        "name": "Ada Lovelace", "email_verified": true}))
        .await
}

/// Waits until the page title is `title`.
async fn wait_for_title(browser: &Session, title: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = browser.title().await;
        if now == title {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected the page {title:?}, still on {now:?} at {}",
            browser.current_url().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks in the browser that the stylesheet loaded and applies (a CSP
/// violation would leave the page unstyled), and that no console message
/// reports a blocked resource.
async fn assert_styled(browser: &Session, page: &str) {
    let seen = browser
        .execute(
            "const sheets = [...document.styleSheets];
             const button = document.querySelector('button[type=submit]:not(.secondary)');
             return {
               sheets: sheets.map(s => s.href),
               rules: sheets.reduce((n, s) => n + s.cssRules.length, 0),
               button: getComputedStyle(button).backgroundColor,
               card: getComputedStyle(document.querySelector('main.card')).maxWidth,
             };",
            json!([]),
        )
        .await;
    assert_eq!(
        seen["sheets"].as_array().unwrap().len(),
        1,
        "{page}: {seen}"
    );
    assert!(
        seen["sheets"][0]
            .as_str()
            .unwrap()
            .ends_with("/static/gatehouse.css"),
        "{page}: {seen}"
    );
    assert!(seen["rules"].as_u64().unwrap() > 10, "{page}: {seen}");
    assert_eq!(seen["button"], ACCENT, "{page}: the button is unstyled");
    assert_eq!(seen["card"], "384px", "{page}: .card max-width (24rem)");
    let blocked: Vec<Value> = browser
        .console_log()
        .await
        .into_iter()
        .filter(|entry| {
            let message = entry["message"].as_str().unwrap_or_default();
            message.contains("Content Security Policy") || message.contains("Refused")
        })
        .collect();
    assert!(
        blocked.is_empty(),
        "{page}: the browser blocked {blocked:?}"
    );
}

/// Screenshots of the current page at desktop then phone size, each checked
/// for horizontal overflow; leaves the viewport phone-sized. Returns the paths.
async fn screenshots(browser: &Session, dir: &std::path::Path, page: &str) -> Vec<PathBuf> {
    let mut saved = Vec::new();
    for (size, (width, height), mobile) in [("desktop", DESKTOP, false), ("phone", PHONE, true)] {
        browser.set_viewport(width, height, mobile).await;
        let layout = browser
            .execute(
                "return {inner: window.innerWidth,
                         scroll: document.documentElement.scrollWidth};",
                json!([]),
            )
            .await;
        let inner = layout["inner"].as_u64().unwrap();
        assert_eq!(inner, u64::from(width), "viewport not resized: {layout}");
        assert!(
            layout["scroll"].as_u64().unwrap() <= inner,
            "{page} overflows horizontally at {size} size: {layout}"
        );
        let path = dir.join(format!("browser-{page}-{size}.png"));
        browser.screenshot(&path).await;
        println!("screenshot: {}", path.display());
        saved.push(path);
    }
    saved
}

#[tokio::test]
async fn chromium_signs_in_through_the_pages_and_is_redirected_back() {
    let began = Instant::now();
    let driver = Chromedriver::start().await;
    let server = TestServer::start().await;
    let user_id = seed_user(&server).await;
    let callback = Callback::start().await;
    let (client_id, secret) = server
        .seed_client(json!({"client_name": "Reports",
            "grant_types": ["authorization_code"], "redirect_uris": [callback.url],
            "post_logout_redirect_uris": [callback.url], "scope": "openid profile email"}))
        .await;
    let provider = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.base.clone()).unwrap(),
        &rp_http,
    )
    .await
    .unwrap();
    let rp = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(client_id.clone()),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(callback.url.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    let profile = tempfile::tempdir().unwrap();
    let browser = driver.session(profile.path(), DESKTOP.0, DESKTOP.1).await;
    let artifacts = artifacts_dir();

    // Sign-in page.
    browser.goto(authorize_url.as_str()).await;
    wait_for_title(&browser, "Sign in · Gatehouse").await;
    assert_styled(&browser, "sign-in").await;
    let cookies = browser.cookies().await;
    let csrf = cookies
        .iter()
        .find(|c| c["name"] == "gatehouse_csrf")
        .unwrap_or_else(|| panic!("Chromium did not keep the CSRF cookie: {cookies:?}"));
    assert_eq!(
        csrf["secure"], false,
        "not Secure on an http issuer: {csrf}"
    );
    assert_eq!(csrf["httpOnly"], true, "{csrf}");
    screenshots(&browser, &artifacts, "signin").await;
    browser
        .type_into(&browser.find("#email").await, EMAIL)
        .await;
    browser
        .type_into(&browser.find("#password").await, PASSWORD)
        .await;
    browser
        .click(&browser.find("button[type=submit]").await)
        .await;

    // Consent page: the client is not first-party.
    wait_for_title(&browser, "Allow access · Gatehouse").await;
    assert_styled(&browser, "consent").await;
    let text = browser
        .execute("return document.body.innerText;", json!([]))
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("Reports") && text.contains(EMAIL),
        "consent page: {text}"
    );
    let cookies = browser.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "gatehouse_session")
        .unwrap_or_else(|| panic!("Chromium did not keep the session cookie: {cookies:?}"));
    assert_eq!(
        session["secure"], false,
        "not Secure on an http issuer: {session}"
    );
    assert_eq!(session["httpOnly"], true, "{session}");
    screenshots(&browser, &artifacts, "consent").await;
    browser
        .click(&browser.find("button[name=decision][value=allow]").await)
        .await;

    // Redirected back to the callback, through the consent form's CSP form-action.
    let landed = browser
        .wait_for_url(WAIT, |url| url.starts_with(&callback.url))
        .await;
    let text = browser
        .execute("return document.body.innerText;", json!([]))
        .await;
    assert_eq!(text, "signed in", "at {landed}");
    let params = callback.received();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} in the callback: {params:?}"))
    };
    assert_eq!(param("state"), *state.secret());
    assert_eq!(param("iss"), server.base, "RFC 9207 iss");
    let code = param("code");

    // The relying party redeems the code with its PKCE verifier (while the
    // session lives: a code never outlives the session it was issued in).
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token");
    // A logout without an id_token_hint asks first; the confirmation's button
    // signs out and the redirect back passes the page's CSP form-action.
    let mut logout = url::Url::parse(&server.url("/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("post_logout_redirect_uri", &callback.url)
        .append_pair("state", "bye");
    browser.goto(logout.as_str()).await;
    wait_for_title(&browser, "Sign out? · Gatehouse").await;
    assert_styled(&browser, "logout").await;
    assert!(
        browser
            .cookies()
            .await
            .iter()
            .any(|c| c["name"] == "gatehouse_session"),
        "still signed in until the button is pressed"
    );
    browser
        .click(&browser.find("button[type=submit]").await)
        .await;
    let back = browser
        .wait_for_url(WAIT, |url| url.starts_with(&callback.url))
        .await;
    assert!(back.ends_with("?state=bye"), "{back}");
    let cookies = browser.cookies().await;
    assert!(
        !cookies.iter().any(|c| c["name"] == "gatehouse_session"),
        "signed out: {cookies:?}"
    );
    browser.quit().await;
    drop(driver);

    let claims = id_token.claims(&rp.id_token_verifier(), &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), user_id);
    println!(
        "browser sign-in took {:.1} s",
        began.elapsed().as_secs_f64()
    );
}
