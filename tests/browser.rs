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
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
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

    /// The `code` of the newest request received.
    fn last_code(&self) -> String {
        let queries = self.queries.lock().unwrap();
        let last = queries.last().expect("a callback request");
        url::form_urlencoded::parse(last.as_bytes())
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {last}"))
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
    assert_styled_at(browser, page, "384px").await;
}

/// [`assert_styled`] for a page whose card is `card_width` wide at most.
async fn assert_styled_at(browser: &Session, page: &str, card_width: &str) {
    let seen = browser
        .execute(
            "const sheets = [...document.styleSheets];
             const button = document.querySelector('button:not(.secondary):not(.link):not(.danger)');
             const link = document.querySelector('nav a');
             return {
               sheets: sheets.map(s => s.href),
               rules: sheets.reduce((n, s) => n + s.cssRules.length, 0),
               button: button && getComputedStyle(button).backgroundColor,
               link: link && getComputedStyle(link).color,
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
    assert!(
        !seen["button"].is_null() || !seen["link"].is_null(),
        "{page}: neither a button nor a navigation link: {seen}"
    );
    for styled in ["button", "link"] {
        if !seen[styled].is_null() {
            assert_eq!(seen[styled], ACCENT, "{page}: the {styled} is unstyled");
        }
    }
    assert_eq!(seen["card"], card_width, "{page}: .card max-width");
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

const FIREFOX_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// The visible text of the current page.
async fn page_text(browser: &Session) -> String {
    let text = browser
        .execute("return document.body.innerText;", json!([]))
        .await;
    text.as_str().unwrap().to_owned()
}

/// Fills in and submits the sign-in page the browser is on.
async fn sign_in_on_page(browser: &Session) {
    wait_for_title(browser, "Sign in · Gatehouse").await;
    browser
        .type_into(&browser.find("#email").await, EMAIL)
        .await;
    browser
        .type_into(&browser.find("#password").await, PASSWORD)
        .await;
    browser
        .click(&browser.find("button[type=submit]").await)
        .await;
}

/// Browser B signs in to the app for `scope` (consenting), and the app
/// redeems the code; returns the refresh token.
async fn app_refresh_token(
    server: &TestServer,
    browser: &Session,
    client: &(String, String),
    callback: &Callback,
    scope: &str,
    sign_in: bool,
) -> String {
    let verifier = "b".repeat(50);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        digest.as_ref(),
    );
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.0)
        .append_pair("redirect_uri", &callback.url)
        .append_pair("scope", scope)
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    browser.goto(url.as_str()).await;
    if sign_in {
        sign_in_on_page(browser).await;
    }
    wait_for_title(browser, "Allow access · Gatehouse").await;
    browser
        .click(&browser.find("button[name=decision][value=allow]").await)
        .await;
    browser
        .wait_for_url(WAIT, |url| url.starts_with(&callback.url))
        .await;
    let response = server
        .post_form(
            "/token",
            Some((&client.0, &client.1)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback.last_code()),
                ("redirect_uri", &callback.url),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let tokens = common::json_body(response, reqwest::StatusCode::OK).await;
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

/// The answer to a refresh with `token`: `Ok(new token)` or `Err(error code)`.
async fn refreshed(
    server: &TestServer,
    client: &(String, String),
    token: &str,
) -> Result<String, String> {
    let response = server
        .post_form(
            "/token",
            Some((&client.0, &client.1)),
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await;
    let ok = response.status().is_success();
    let body: Value = response.json().await.unwrap();
    if ok {
        Ok(body["refresh_token"].as_str().unwrap().to_owned())
    } else {
        Err(body["error"].as_str().unwrap().to_owned())
    }
}

/// Browser A signs in at `/account` with no app; browser B signs in through
/// an app. A sees both sessions with their devices, ends B's — B must sign in
/// again and its session-bound refresh token is over, its offline one not —
/// then changes its password, which ends B's offline grant too. Every
/// account page is screenshotted at desktop and phone widths.
#[tokio::test]
async fn chromium_manages_sessions_apps_and_password_in_the_account_area() {
    let driver = Chromedriver::start().await;
    let server = TestServer::start().await;
    seed_user(&server).await;
    let callback = Callback::start().await;
    let (id, secret) = server
        .seed_client(json!({"client_name": "Reports",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [callback.url], "scope": "openid offline_access"}))
        .await;
    let client = (id, secret.unwrap());
    let artifacts = artifacts_dir();
    let (profile_a, profile_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = driver.session(profile_a.path(), DESKTOP.0, DESKTOP.1).await;
    let b = driver
        .session_as(
            profile_b.path(),
            DESKTOP.0,
            DESKTOP.1,
            Some(FIREFOX_ON_WINDOWS),
        )
        .await;

    // A: the account area with no app; its sign-in page names no app.
    a.goto(&server.url("/account")).await;
    wait_for_title(&a, "Sign in · Gatehouse").await;
    assert!(
        page_text(&a)
            .await
            .contains("manage your Gatehouse account")
    );
    screenshots(&a, &artifacts, "account-signin").await;
    a.set_viewport(DESKTOP.0, DESKTOP.1, false).await;
    sign_in_on_page(&a).await;
    wait_for_title(&a, "Your account · Gatehouse").await;
    assert_styled_at(&a, "account", "704px").await;
    assert!(page_text(&a).await.contains(EMAIL));
    screenshots(&a, &artifacts, "account-profile").await;

    // B: through the app, once for a session-bound grant, once offline.
    let online = app_refresh_token(&server, &b, &client, &callback, "openid", true).await;
    let offline = app_refresh_token(
        &server,
        &b,
        &client,
        &callback,
        "openid offline_access",
        false,
    )
    .await;

    // A sees both sessions, with their devices, and ends B's.
    a.set_viewport(DESKTOP.0, DESKTOP.1, false).await;
    a.goto(&server.url("/account/sessions")).await;
    wait_for_title(&a, "Sessions and devices · Gatehouse").await;
    let text = page_text(&a).await;
    assert!(text.contains("Chrome on Linux"), "{text}");
    assert!(text.contains("Firefox on Windows"), "{text}");
    assert!(text.contains("this device"), "{text}");
    screenshots(&a, &artifacts, "account-sessions").await;
    a.set_viewport(DESKTOP.0, DESKTOP.1, false).await;
    a.click(
        &a.find("li.item:not(:has(.badge)) button[type=submit]")
            .await,
    )
    .await;
    a.wait_for_url(WAIT, |url| url.contains("done=ended")).await;
    let text = page_text(&a).await;
    assert!(!text.contains("Firefox on Windows"), "{text}");

    // B's next page load asks it to sign in; only its offline grant lives on.
    b.goto(&server.url("/account")).await;
    wait_for_title(&b, "Sign in · Gatehouse").await;
    assert_eq!(
        refreshed(&server, &client, &online).await,
        Err("invalid_grant".into())
    );
    let offline = refreshed(&server, &client, &offline)
        .await
        .expect("the offline grant outlives the session");

    // A's other pages.
    for (path, title, name) in [
        (
            "/account/profile",
            "Edit your profile · Gatehouse",
            "account-edit-profile",
        ),
        (
            "/account/apps",
            "Apps with access · Gatehouse",
            "account-apps",
        ),
        (
            "/account/activity",
            "Security activity · Gatehouse",
            "account-activity",
        ),
    ] {
        a.set_viewport(DESKTOP.0, DESKTOP.1, false).await;
        a.goto(&server.url(path)).await;
        wait_for_title(&a, title).await;
        assert_styled_at(&a, name, "704px").await;
        screenshots(&a, &artifacts, name).await;
    }
    let activity = page_text(&a).await;
    assert!(activity.contains("Session signed out"), "{activity}");

    // A changes its password: B's offline grant ends too; A stays signed in.
    a.set_viewport(DESKTOP.0, DESKTOP.1, false).await;
    a.goto(&server.url("/account/password")).await;
    wait_for_title(&a, "Change your password · Gatehouse").await;
    screenshots(&a, &artifacts, "account-password").await;
    a.set_viewport(DESKTOP.0, DESKTOP.1, false).await;
    let new_password = "a brand new and long passphrase";
    a.type_into(&a.find("#current_password").await, PASSWORD)
        .await;
    a.type_into(&a.find("#new_password").await, new_password)
        .await;
    a.type_into(&a.find("#confirm_password").await, new_password)
        .await;
    a.click(
        &a.find("form[action='/account/password'] button[type=submit]")
            .await,
    )
    .await;
    a.wait_for_url(WAIT, |url| url.contains("done=changed"))
        .await;
    assert!(page_text(&a).await.contains("Your password was changed"));
    assert_eq!(
        refreshed(&server, &client, &offline).await,
        Err("invalid_grant".into())
    );
    a.goto(&server.url("/account")).await;
    wait_for_title(&a, "Your account · Gatehouse").await;
    a.quit().await;
    b.quit().await;
}

/// The relying party of the passkey test (discovered, with a redirect URI).
type PasskeyRp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The `amr` of the ID token the relying party `rp` gets for the newest code
/// `callback` received, verified with the provider's keys.
async fn amr_after(
    rp: &PasskeyRp,
    callback: &Callback,
    verifier: openidconnect::PkceCodeVerifier,
    nonce: &Nonce,
) -> Vec<String> {
    let tokens = rp
        .exchange_code(AuthorizationCode::new(callback.last_code()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&rp_http)
        .await
        .unwrap();
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&rp.id_token_verifier(), nonce)
        .unwrap();
    claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// Opens the relying party's authorization request in `browser`, asking for
/// the authentication context classes `acr` (none when empty); returns the
/// PKCE verifier and nonce to redeem and check its code with.
async fn start_sign_in(
    browser: &Session,
    rp: &PasskeyRp,
    acr: &[&str],
) -> (openidconnect::PkceCodeVerifier, Nonce) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for class in acr {
        request =
            request.add_auth_context_value(AuthenticationContextClass::new((*class).to_owned()));
    }
    let (url, _, nonce) = request.url();
    browser.goto(url.as_str()).await;
    (verifier, nonce)
}

#[tokio::test]
async fn chromium_adds_a_passkey_then_signs_in_with_it_alone_and_as_a_second_factor() {
    let driver = Chromedriver::start().await;
    // WebAuthn needs a domain name: the issuer is localhost (still 127.0.0.1).
    let server = TestServer::start_with(|config| {
        config.issuer = config.issuer.replace("127.0.0.1", "localhost");
    })
    .await;
    let issuer = server.config.issuer.clone();
    seed_user(&server).await;
    let callback = Callback::start().await;
    let (client_id, secret) = server
        .seed_client(json!({"client_name": "Reports", "first_party": true,
            "grant_types": ["authorization_code"], "redirect_uris": [callback.url],
            "scope": "openid"}))
        .await;
    let provider =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &rp_http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(client_id),
        secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(callback.url.clone()).unwrap());
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.session(profile.path(), DESKTOP.0, DESKTOP.1).await;
    let authenticator = browser.add_virtual_authenticator().await;
    let artifacts = artifacts_dir();

    // Add a passkey in the account area.
    browser.goto(&format!("{issuer}/account/security")).await;
    sign_in_on_page(&browser).await;
    wait_for_title(&browser, "Sign-in methods · Gatehouse").await;
    screenshots(&browser, &artifacts, "passkey-security-before").await;
    browser
        .type_into(&browser.find("#passkey_password").await, PASSWORD)
        .await;
    browser
        .click(
            &browser
                .find("form[action='/account/security/passkeys/begin'] button")
                .await,
        )
        .await;
    wait_for_title(&browser, "Add a passkey · Gatehouse").await;
    assert_styled_at(&browser, "add-passkey", "704px").await;
    screenshots(&browser, &artifacts, "passkey-add").await;
    browser
        .execute(
            "document.getElementById('passkey_name').value = '';",
            json!([]),
        )
        .await;
    browser
        .type_into(&browser.find("#passkey_name").await, "This laptop")
        .await;
    browser
        .click(&browser.find("[data-passkey-start]").await)
        .await;
    wait_for_title(&browser, "Sign-in methods · Gatehouse").await;
    let text = page_text(&browser).await;
    assert!(
        text.contains("The passkey was added") && text.contains("This laptop"),
        "{text}"
    );
    screenshots(&browser, &artifacts, "passkey-security-after").await;
    let held = browser.virtual_credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0]["isResidentCredential"], true,
        "discoverable: {held:?}"
    );

    // A browser without passkey autofill: the buttons are the way in.
    let no_autofill = browser
        .devtools(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "PublicKeyCredential.isConditionalMediationAvailable = \
                () => Promise.resolve(false);"}),
        )
        .await;

    // Signed out, the app's sign-in takes the passkey alone: no email typed.
    browser.delete_cookies().await;
    let (verifier, nonce) = start_sign_in(&browser, &rp, &[]).await;
    wait_for_title(&browser, "Sign in · Gatehouse").await;
    assert_styled(&browser, "passkey-signin").await;
    screenshots(&browser, &artifacts, "passkey-signin").await;
    browser
        .click(&browser.find("[data-passkey-start]").await)
        .await;
    browser
        .wait_for_url(WAIT, |url| url.starts_with(&callback.url))
        .await;
    let amr = amr_after(&rp, &callback, verifier, &nonce).await;
    assert_eq!(amr, ["hwk", "user", "mfa"], "a passkey alone");

    // An app demanding multi-factor: after the password, the passkey is the
    // second factor.
    browser.goto(&format!("{issuer}/account")).await;
    browser.delete_cookies().await;
    let (verifier, nonce) = start_sign_in(&browser, &rp, &["urn:gatehouse:acr:mfa"]).await;
    sign_in_on_page(&browser).await;
    wait_for_title(&browser, "Two-step verification · Gatehouse").await;
    assert_styled(&browser, "second-factor").await;
    screenshots(&browser, &artifacts, "passkey-second-factor").await;
    browser
        .click(&browser.find("[data-passkey-start]").await)
        .await;
    browser
        .wait_for_url(WAIT, |url| url.starts_with(&callback.url))
        .await;
    let amr = amr_after(&rp, &callback, verifier, &nonce).await;
    assert_eq!(amr, ["pwd", "hwk", "user", "mfa"], "password and passkey");

    // Where the browser offers passkeys in the email field's autofill
    // (conditional mediation), the sign-in page asks at once: the virtual
    // authenticator picks the passkey and the person is signed in.
    browser
        .devtools(
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({"identifier": no_autofill["identifier"]}),
        )
        .await;
    browser.goto(&format!("{issuer}/account")).await;
    browser.delete_cookies().await;
    let (verifier, nonce) = start_sign_in(&browser, &rp, &[]).await;
    browser
        .wait_for_url(WAIT, |url| url.starts_with(&callback.url))
        .await;
    let amr = amr_after(&rp, &callback, verifier, &nonce).await;
    assert_eq!(amr, ["hwk", "user", "mfa"], "a passkey from autofill");
    browser.quit().await;
}
