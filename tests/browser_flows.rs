//! The browser-facing guarantees an adversary tried to break (issue 6, items
//! 10–13, 22, 24), each attacked over real HTTP with the cookie-keeping test
//! browser: re-authentication cannot be skipped, logout is never forced,
//! cookies work with an RFC 6265 cookie jar, attempt limits cannot be raced,
//! unknown scope values are ignored, and old argon2 hashes are upgraded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::browser::{Browser, Seen};
use common::{TestDatabase, TestServer};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::sync::Barrier;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";
const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "https://app.example/cb";
const BYE: &str = "https://app.example/bye";
const VERIFIER: &str = "a-fixed-pkce-verifier-that-is-long-enough-for-rfc-7636";

async fn seed_user(server: &TestServer, email: &str) -> String {
    server
        .seed_user(json!({"email": email, "password": PASSWORD}))
        .await
}

/// A confidential web app; `extra` overrides the registration.
async fn web_app(server: &TestServer, extra: Value) -> (String, String) {
    let mut spec = json!({"client_name": "Reports", "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [CALLBACK], "post_logout_redirect_uris": [BYE],
        "scope": "openid profile email"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (id, secret) = server.seed_client(spec).await;
    (id, secret.unwrap())
}

fn challenge() -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `/authorize` for `client_id` with scope `openid` and PKCE, plus `extra`.
fn authorize_url(server: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid")
        .append_pair("state", "s1")
        .append_pair("code_challenge", &challenge())
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        url.query_pairs_mut().append_pair(name, value);
    }
    url.to_string()
}

/// Signs in on `page` as `email`, consenting when asked.
async fn sign_in_as(server: &TestServer, browser: &mut Browser, page: &Seen, email: &str) -> Seen {
    let next = browser.sign_in(&server.base, page, email, PASSWORD).await;
    if next.status == StatusCode::OK && next.body.contains("name=\"decision\"") {
        return browser.consent(&server.base, &next, "allow").await;
    }
    next
}

/// Redeems the code in `back`; returns the token response.
async fn redeem(server: &TestServer, client: &(String, String), back: &Seen) -> Value {
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    let code = back.redirect_param("code").expect("a code");
    let response = server
        .post_form(
            "/token",
            Some((&client.0, &client.1)),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    common::json_body(response, StatusCode::OK).await
}

/// The claims of the ID token in `tokens` (issued by the server under test).
fn id_claims(tokens: &Value) -> Value {
    let token = tokens["id_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A browser signed in as `email` to `client`; returns it and its ID token's claims and raw token.
async fn signed_in(
    server: &TestServer,
    client: &(String, String),
    email: &str,
) -> (Browser, Value, String) {
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(server, &client.0, &[])).await;
    let back = sign_in_as(server, &mut browser, &page, email).await;
    let tokens = redeem(server, client, &back).await;
    let raw = tokens["id_token"].as_str().unwrap().to_owned();
    (browser, id_claims(&tokens), raw)
}

/// No code in the answer, whatever it is.
fn assert_no_code(answer: &Seen, why: &str) {
    let location = answer.location.clone().unwrap_or_default();
    assert!(
        !location.contains("code=") && !answer.body.contains("name=\"code\""),
        "{why}: a code was issued ({} {location})",
        answer.status
    );
}

/// The fields of an "allow" consent form built from the request id and CSRF token on `page`.
fn consent_fields(page: &Seen) -> [(String, String); 3] {
    [
        ("request".into(), page.field("request")),
        ("csrf".into(), page.field("csrf")),
        ("decision".into(), "allow".into()),
    ]
}

async fn post_fields(browser: &mut Browser, url: &str, fields: &[(String, String)]) -> Seen {
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post(url, &form).await
}

// ---- item 10: re-authentication cannot be skipped ----

#[tokio::test]
async fn posting_a_sign_in_step_to_consent_never_skips_a_forced_re_authentication() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await;
    let (mut browser, first, _) = signed_in(&server, &client, ADA).await;

    for extra in [("prompt", "login"), ("max_age", "10")] {
        server.clock.advance(100);
        let page = browser
            .get(&authorize_url(&server, &client.0, &[extra]))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{extra:?}: {}", page.body);
        assert!(
            page.body.contains("action=\"/login\""),
            "{extra:?} asks for a sign-in"
        );
        // The attack: skip the sign-in by answering a consent that was never asked.
        let fields = consent_fields(&page);
        let skipped = post_fields(&mut browser, &server.url("/consent"), &fields).await;
        assert_no_code(&skipped, "consent posted for a sign-in step");
        assert_eq!(skipped.status, StatusCode::CONFLICT, "{}", skipped.body);
        assert!(skipped.body.contains("out of date"), "{}", skipped.body);

        // The real sign-in still works, and its ID token has the fresh auth_time.
        let back = sign_in_as(&server, &mut browser, &page, ADA).await;
        let claims = id_claims(&redeem(&server, &client, &back).await);
        assert_eq!(claims["auth_time"], json!(server.clock.now()), "{extra:?}");
        assert!(claims["auth_time"].as_i64() > first["auth_time"].as_i64());
    }
}

#[tokio::test]
async fn a_hint_naming_someone_else_never_yields_a_code_for_the_signed_in_person() {
    let server = TestServer::start().await;
    let ada = seed_user(&server, ADA).await;
    let bob = seed_user(&server, BOB).await;
    let client = web_app(&server, json!({})).await;
    let (_, bob_claims, bob_hint) = signed_in(&server, &client, BOB).await;
    assert_eq!(bob_claims["sub"], json!(bob));
    let (mut browser, ada_claims, _) = signed_in(&server, &client, ADA).await;
    assert_eq!(ada_claims["sub"], json!(ada));
    server.clock.advance(30);

    let hinted = authorize_url(&server, &client.0, &[("id_token_hint", &bob_hint)]);
    let page = browser.get(&hinted).await;
    assert!(page.body.contains("action=\"/login\""), "{}", page.body);
    let fields = consent_fields(&page);
    let skipped = post_fields(&mut browser, &server.url("/consent"), &fields).await;
    assert_no_code(&skipped, "consent posted while the hint names Bob");
    assert_eq!(skipped.status, StatusCode::CONFLICT);

    // Ada signs in on the page meant for Bob: an OIDC error, not a code for Ada.
    let wrong = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert_no_code(&wrong, "Ada signed in where the hint names Bob");
    assert_eq!(
        wrong.redirect_param("error").as_deref(),
        Some("login_required")
    );
    // That interaction is over; re-posting its forms gets no code either.
    let again = browser.sign_in(&server.base, &page, BOB, PASSWORD).await;
    assert_no_code(&again, "a finished interaction");

    // Bob signing in on a fresh request gets Bob's code, with a fresh auth_time.
    let page = browser.get(&hinted).await;
    let back = sign_in_as(&server, &mut browser, &page, BOB).await;
    let claims = id_claims(&redeem(&server, &client, &back).await);
    assert_eq!(claims["sub"], json!(bob));
    assert_eq!(claims["auth_time"], json!(server.clock.now()));
}

#[tokio::test]
async fn a_stale_consent_form_gets_a_clear_page_never_a_code() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await;
    let mut browser = Browser::new();

    // Tab 1 reaches the consent page; tab 2 signs in again (a new session).
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    let consent_page = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert!(consent_page.body.contains("name=\"decision\""));
    server.clock.advance(5);
    let other = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "login")]))
        .await;
    let other_consent = browser.sign_in(&server.base, &other, ADA, PASSWORD).await;
    assert!(other_consent.body.contains("name=\"decision\""));
    // Tab 1's consent was bound to the session that has since been replaced.
    let stale = browser.consent(&server.base, &consent_page, "allow").await;
    assert_no_code(&stale, "consent bound to an ended session");
    assert_eq!(stale.status, StatusCode::CONFLICT);
    // A sign-in form posted for an interaction already at its consent step.
    let stale_login = browser.sign_in(&server.base, &other, ADA, PASSWORD).await;
    assert_no_code(&stale_login, "a sign-in form for a consent step");
    assert_eq!(stale_login.status, StatusCode::CONFLICT);

    // Tab 2 finishes; posting its consent again is out of date.
    let back = browser.consent(&server.base, &other_consent, "allow").await;
    let claims = id_claims(&redeem(&server, &client, &back).await);
    assert_eq!(claims["auth_time"], json!(server.clock.now()));
    let replayed = browser.consent(&server.base, &other_consent, "allow").await;
    assert_no_code(&replayed, "a consent form posted twice");
}

#[tokio::test]
async fn of_two_simultaneous_consents_exactly_one_gets_a_code() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await;
    let mut browser = Browser::new();
    const ROUNDS: usize = 10;
    let mut codes = 0;
    for round in 0..ROUNDS {
        let page = browser
            .get(&authorize_url(&server, &client.0, &[("prompt", "consent")]))
            .await;
        let consent = if round == 0 {
            browser.sign_in(&server.base, &page, ADA, PASSWORD).await
        } else {
            page
        };
        assert!(
            consent.body.contains("name=\"decision\""),
            "{}",
            consent.body
        );
        let cookie = browser
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let form = [
            ("request", consent.field("request")),
            ("csrf", consent.field("csrf")),
            ("decision", "allow".to_owned()),
        ];
        let barrier = Arc::new(Barrier::new(2));
        let mut racers = Vec::new();
        for _ in 0..2 {
            let (barrier, cookie, form, url) = (
                barrier.clone(),
                cookie.clone(),
                form.clone(),
                server.url("/consent"),
            );
            let base = server.base.clone();
            racers.push(tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap();
                let location = |response: &reqwest::Response| {
                    response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .map(|l| l.to_str().unwrap().to_owned())
                };
                barrier.wait().await;
                let answer = http
                    .post(url)
                    .header(COOKIE, &cookie)
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                // The consent form sends the browser back to /authorize/resume.
                let Some(resume) = location(&answer) else {
                    return false;
                };
                let back = http
                    .get(format!("{base}{resume}"))
                    .header(COOKIE, &cookie)
                    .send()
                    .await
                    .unwrap();
                location(&back).is_some_and(|l| l.contains("code="))
            }));
        }
        let mut won = 0;
        for racer in racers {
            won += usize::from(racer.await.unwrap());
        }
        assert_eq!(won, 1, "round {round}: one interaction, one code");
        codes += won;
    }
    assert_eq!(codes, ROUNDS);
}

// ---- item 11: logout is never forced by a third-party page ----

/// Whether the browser is still signed in (`prompt=none` gets a code).
async fn still_signed_in(server: &TestServer, browser: &mut Browser, client_id: &str) -> bool {
    let answer = browser
        .get(&authorize_url(server, client_id, &[("prompt", "none")]))
        .await;
    answer.redirect_param("code").is_some()
}

fn logout_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    url.to_string()
}

/// The page offers the CSRF-protected sign-out button, posting only to us.
fn assert_sign_out_button(page: &Seen) {
    assert!(page.location.is_none(), "never redirects");
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/logout\">"),
        "{}",
        page.body
    );
    assert!(page.field("csrf").len() >= 43);
}

#[tokio::test]
async fn a_logout_without_proof_of_the_session_asks_first_with_a_csrf_protected_button() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let (mut browser, _, _) = signed_in(&server, &client, ADA).await;

    // A third-party page sends the browser to /logout (GET, or a POST form).
    for attack in [
        browser.get(&logout_url(&server, &[])).await,
        browser
            .get(&logout_url(
                &server,
                &[
                    ("client_id", &client.0),
                    ("post_logout_redirect_uri", BYE),
                    ("state", "x"),
                ],
            ))
            .await,
        browser
            .post(&server.url("/logout"), &[("state", "x")])
            .await,
    ] {
        assert_eq!(attack.status, StatusCode::OK, "{}", attack.body);
        assert_sign_out_button(&attack);
        assert!(still_signed_in(&server, &mut browser, &client.0).await);
    }
    // Pressing a forged button: no token, or a token from another browser.
    let forged = browser
        .post(&server.url("/logout"), &[("client_id", &client.0)])
        .await;
    assert!(forged.location.is_none());
    let mut other = Browser::new();
    let other_page = other.get(&logout_url(&server, &[])).await;
    let stolen = other_page.body.contains("name=\"csrf\"");
    assert!(
        !stolen,
        "a signed-out browser gets no button, so no token to replay"
    );
    let guessed = browser
        .post(&server.url("/logout"), &[("csrf", &"A".repeat(43))])
        .await;
    assert!(guessed.location.is_none());
    assert!(still_signed_in(&server, &mut browser, &client.0).await);

    // The person presses the real button: signed out, back to the app with state.
    let page = browser
        .get(&logout_url(
            &server,
            &[
                ("client_id", &client.0),
                ("post_logout_redirect_uri", BYE),
                ("state", "x"),
            ],
        ))
        .await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "the redirect after the button is allowed: {csp}"
    );
    let fields = [
        ("csrf", page.field("csrf")),
        ("client_id", page.field("client_id")),
        (
            "post_logout_redirect_uri",
            page.field("post_logout_redirect_uri"),
        ),
        ("state", page.field("state")),
    ];
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = browser.post(&server.url("/logout"), &form).await;
    assert_eq!(done.location.as_deref(), Some(&*format!("{BYE}?state=x")));
    assert!(!still_signed_in(&server, &mut browser, &client.0).await);
}

#[tokio::test]
async fn a_hint_for_an_earlier_session_is_no_proof_but_one_for_this_session_is() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let (mut browser, _, old_hint) = signed_in(&server, &client, ADA).await;
    // A new sign-in in the same browser: a new session.
    server.clock.advance(5);
    let page = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "login")]))
        .await;
    let back = sign_in_as(&server, &mut browser, &page, ADA).await;
    let tokens = redeem(&server, &client, &back).await;
    let hint = tokens["id_token"].as_str().unwrap().to_owned();

    let asked = browser
        .get(&logout_url(
            &server,
            &[
                ("id_token_hint", &old_hint),
                ("post_logout_redirect_uri", BYE),
            ],
        ))
        .await;
    assert_eq!(asked.status, StatusCode::OK);
    assert_sign_out_button(&asked);
    assert!(still_signed_in(&server, &mut browser, &client.0).await);

    let done = browser
        .get(&logout_url(
            &server,
            &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE)],
        ))
        .await;
    assert_eq!(done.location.as_deref(), Some(BYE), "{}", done.body);
    assert!(!still_signed_in(&server, &mut browser, &client.0).await);
}

#[tokio::test]
async fn an_unverifiable_hint_gets_an_error_page_whose_button_still_signs_out() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let (mut browser, _, hint) = signed_in(&server, &client, ADA).await;
    let (head, signature) = hint.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes));

    let page = browser
        .get(&logout_url(
            &server,
            &[
                ("id_token_hint", &tampered),
                ("post_logout_redirect_uri", BYE),
                ("state", "x"),
            ],
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("could not be verified"), "{}", page.body);
    assert_sign_out_button(&page);
    assert!(
        !page.body.contains(BYE),
        "the unverified return address is not carried on"
    );
    assert!(still_signed_in(&server, &mut browser, &client.0).await);

    let done = browser
        .post(&server.url("/logout"), &[("csrf", &page.field("csrf"))])
        .await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.location.is_none());
    assert!(done.body.contains("signed out"), "{}", done.body);
    assert!(!still_signed_in(&server, &mut browser, &client.0).await);
}

// ---- item 12: cookies work with an RFC 6265 cookie jar ----

/// Signs in with Python's `http.cookiejar` (RFC 6265 rules: `Secure` cookies
/// are never sent over http), following the sign-in form back to the
/// authorization endpoint; prints the redirect target and the cookies kept.
const PYTHON_SIGN_IN: &str = r#"
import html, re, sys, urllib.error, urllib.parse, urllib.request, http.cookiejar
base, start, email, password = sys.argv[1:5]
jar = http.cookiejar.CookieJar()
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Stay)
page = opener.open(start).read().decode()
def field(name):
    return html.unescape(re.search(r'name="%s" value="([^"]*)"' % name, page).group(1))
form = urllib.parse.urlencode({"request": field("request"), "csrf": field("csrf"),
                               "email": email, "password": password}).encode()
def hop(url, data=None):
    try:
        answer = opener.open(url, data)
        print("NO REDIRECT", answer.status, answer.read().decode()[:500])
        sys.exit(0)
    except urllib.error.HTTPError as e:
        return e
answer = hop(base + "/login", form)
print("SIGNED IN", answer.code, answer.headers.get("Location"))
answer = hop(base + answer.headers.get("Location"))
print("STATUS", answer.code)
print("LOCATION", answer.headers.get("Location"))
for cookie in jar:
    print("COOKIE", cookie.name, "secure" if cookie.secure else "plain")
"#;

#[tokio::test]
async fn a_python_cookie_jar_signs_in_over_an_http_issuer() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let script = server.db().dir.path().join("sign_in.py");
    std::fs::write(&script, PYTHON_SIGN_IN).unwrap();
    let start = authorize_url(&server, &client.0, &[]);
    let args = [
        server.base.clone(),
        start,
        ADA.to_owned(),
        PASSWORD.to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(&script)
            .args(args)
            .output()
            .expect("python3 is installed")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("STATUS 302"), "{stdout}");
    assert!(
        stdout.contains(&format!("LOCATION {CALLBACK}?code=")),
        "the RFC 6265 client reached the code: {stdout}"
    );
    assert!(
        stdout.contains("COOKIE gatehouse_session plain"),
        "{stdout}"
    );
    assert!(stdout.contains("COOKIE gatehouse_csrf plain"), "{stdout}");
}

#[tokio::test]
async fn an_https_issuer_gets_secure_host_prefixed_cookies() {
    let server = TestServer::start_with(|c| c.issuer = "https://id.example".into()).await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    let signed_in = browser
        .submit_sign_in(&server.base, &page, ADA, PASSWORD)
        .await;
    let set: Vec<String> = page
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .chain(signed_in.headers.get_all(SET_COOKIE))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    for name in ["__Host-gatehouse_csrf=", "__Host-gatehouse_session="] {
        let cookie = set
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {set:?}"));
        assert!(cookie.contains("; Secure"), "{cookie}");
        assert!(
            cookie.contains("; Path=/") && !cookie.contains("Domain"),
            "{cookie}"
        );
    }
    assert!(set.iter().all(|c| c.starts_with("__Host-")), "{set:?}");
}

// ---- item 13: attempt limits cannot be raced ----

/// Fires `emails.len()` wrong-password sign-ins at once (one per entry), all on
/// one pending request; returns (password checked, refused with 429).
async fn wrong_passwords_at_once(
    server: &TestServer,
    client_id: &str,
    emails: &[String],
) -> (usize, usize) {
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(server, client_id, &[])).await;
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let cookie = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let barrier = Arc::new(Barrier::new(emails.len()));
    let mut attempts = Vec::new();
    for email in emails {
        let (barrier, cookie, url) = (barrier.clone(), cookie.clone(), server.url("/login"));
        let form = [
            ("request", request.clone()),
            ("csrf", csrf.clone()),
            ("email", email.clone()),
            ("password", "not the password".to_owned()),
        ];
        attempts.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            barrier.wait().await;
            let response = http
                .post(url)
                .header(COOKIE, cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }));
    }
    let (mut checked, mut refused) = (0, 0);
    for attempt in attempts {
        match attempt.await.unwrap() {
            (StatusCode::OK, body) if body.contains("Incorrect email or password.") => checked += 1,
            (StatusCode::TOO_MANY_REQUESTS, _) => refused += 1,
            (status, body) => panic!("unexpected answer {status}: {body}"),
        }
    }
    (checked, refused)
}

#[tokio::test]
async fn sixty_parallel_wrong_passwords_check_at_most_the_account_limit() {
    let server = TestServer::start_with(|c| {
        c.login_attempts_per_account = 10;
        c.login_attempts_per_ip = 10_000;
    })
    .await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    for round in 0..3 {
        // Round 0 targets a real account, the others unknown ones: same limits.
        let email = match round {
            0 => ADA.to_owned(),
            n => format!("nobody{n}@example.com"),
        };
        let emails = vec![email; 60];
        let (checked, refused) = wrong_passwords_at_once(&server, &client.0, &emails).await;
        assert_eq!((checked, refused), (10, 50), "round {round}");
    }
}

#[tokio::test]
async fn sixty_parallel_wrong_passwords_from_one_address_check_at_most_the_address_limit() {
    let server = TestServer::start_with(|c| {
        c.login_attempts_per_account = 10_000;
        c.login_attempts_per_ip = 10;
    })
    .await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let emails: Vec<String> = (0..60).map(|n| format!("spray{n}@example.com")).collect();
    let (checked, refused) = wrong_passwords_at_once(&server, &client.0, &emails).await;
    assert_eq!((checked, refused), (10, 50));
}

#[tokio::test]
async fn successful_sign_ins_give_their_reservation_back() {
    let server = TestServer::start_with(|c| {
        c.login_attempts_per_account = 3;
        c.login_attempts_per_ip = 3;
    })
    .await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    // Many successes from one address, for one account: never refused.
    for n in 0..8 {
        let mut browser = Browser::new();
        let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
        let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
        assert!(
            back.redirect_param("code").is_some(),
            "success {n}: {}",
            back.body
        );
    }
    // Two failures, then a success: the success clears the account's failures
    // and does not count for the address, so the next two failures still fit.
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    for _ in 0..2 {
        let failed = browser.sign_in(&server.base, &page, ADA, "wrong").await;
        assert_eq!(failed.status, StatusCode::OK);
    }
    let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);
    let page = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "login")]))
        .await;
    let failed = browser.sign_in(&server.base, &page, ADA, "wrong").await;
    assert_eq!(
        failed.status,
        StatusCode::OK,
        "the third failure from this address"
    );
    let refused = browser.sign_in(&server.base, &page, ADA, "wrong").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth is over the address limit"
    );
}

// ---- item 22: scope values nobody offers are ignored ----

#[tokio::test]
async fn unknown_scope_values_are_ignored_but_offered_ones_beyond_the_client_are_refused() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(
        &server,
        json!({"first_party": true, "scope": "openid email api:read"}),
    )
    .await;
    let mut browser = Browser::new();
    let url = authorize_url(&server, &client.0, &[])
        .replace("scope=openid", "scope=openid+urn%3Aunknown+api%3Aread");
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    let tokens = redeem(&server, &client, &back).await;
    assert_eq!(
        tokens["scope"],
        json!("openid api:read"),
        "urn:unknown is dropped"
    );

    for refused in [
        "openid+offline_access",
        "openid+profile",
        "openid+gatehouse%3Aadmin",
    ] {
        let url = authorize_url(&server, &client.0, &[])
            .replace("scope=openid", &format!("scope={refused}"));
        let answer = browser.get(&url).await;
        assert_eq!(
            answer.redirect_param("error").as_deref(),
            Some("invalid_scope"),
            "{refused}"
        );
    }
    let url =
        authorize_url(&server, &client.0, &[]).replace("scope=openid", "scope=urn%3Aunknown+x%3Ay");
    let answer = browser.get(&url).await;
    assert_eq!(
        answer.redirect_param("error").as_deref(),
        Some("invalid_scope")
    );
}

// ---- item 24: old argon2 parameters are upgraded at sign-in ----

#[tokio::test]
async fn a_hash_with_old_argon2_parameters_is_upgraded_at_the_next_sign_in() {
    let db = TestDatabase::new().await;
    let server = TestServer::start_on(db, |_| {}).await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let stored = |server: &TestServer| {
        let store = server.state.store.clone();
        async move {
            store
                .get_user_by_email(ADA)
                .await
                .unwrap()
                .unwrap()
                .0
                .password_hash
                .unwrap()
        }
    };
    let old = stored(&server).await;
    assert!(old.contains("$m=1024,t=1,"), "{old}");
    let db = server.stop().await;

    let server = TestServer::start_on(db, |c| {
        c.argon2_memory_kib = 2048;
        c.argon2_iterations = 2;
    })
    .await;
    for n in 0..2 {
        let mut browser = Browser::new();
        let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
        let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
        assert!(
            back.redirect_param("code").is_some(),
            "sign-in {n}: {}",
            back.body
        );
        let new = stored(&server).await;
        assert!(new.starts_with("$argon2id$v=19$m=2048,t=2,"), "{new}");
    }
    let upgraded = stored(&server).await;
    // Already current: the second sign-in left it alone.
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    let wrong = browser.sign_in(&server.base, &page, ADA, "wrong").await;
    assert!(wrong.body.contains("Incorrect"));
    assert_eq!(
        stored(&server).await,
        upgraded,
        "a failed sign-in changes nothing"
    );
    assert_ne!(upgraded, old);
}

/// A database failure while a sign-in form is checked is our failure (503),
/// not an "expired sign-in" that would send the person back to start over.
#[tokio::test]
async fn a_database_failure_during_sign_in_is_a_503_not_an_expired_page() {
    let server = TestServer::start().await;
    let client = web_app(&server, json!({})).await;
    seed_user(&server, ADA).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    common::flow::sql(&server, "alter table clients rename to clients_away").await;
    let refused = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    common::flow::sql(&server, "alter table clients_away rename to clients").await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("expired"), "{}", refused.body);
}

// ---- regressions from the adversarial review: each attack once broke a
// guarantee over HTTP (a finished interaction brought back by a late sign-in,
// `max_age` skipped by a slow consent, a session brought back by a request
// racing its logout, a logout forced by a GET link) ----

/// Redeems `code` for `client` with the fixed verifier; returns the token response.
async fn redeem_code(server: &TestServer, client: &(String, String), code: &str) -> Value {
    let response = server
        .post_form(
            "/token",
            Some((&client.0, &client.1)),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    common::json_body(response, StatusCode::OK).await
}

/// The `Cookie` header `browser` would send.
fn cookie_header(browser: &Browser) -> String {
    browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// An HTTP client that does not follow redirects.
/// Where `response` of an interaction's form leads: it follows the one
/// redirect back to the authorization endpoint (`/authorize/resume`).
async fn resumed(base: &str, cookie: &str, response: reqwest::Response) -> reqwest::Response {
    let resume = response
        .headers()
        .get(LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .filter(|l| l.starts_with("/authorize/resume?"));
    match resume {
        Some(path) => no_redirects()
            .get(format!("{base}{path}"))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap(),
        None => response,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the hidden input `name` in `body`, if there is one.
fn field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// Once broken: `pending::advance` is a blind `put`. A sign-in that loaded the
/// interaction at its sign-in step and finishes after the interaction was
/// completed (consented, code issued, record taken) writes the record back,
/// so the finished interaction comes back to life at a consent step bound to
/// the late session, and a second code is issued for the same authorization
/// request ("the code is issued at most once per interaction").
#[tokio::test]
async fn a_late_sign_in_never_brings_back_a_finished_interaction() {
    // One hashing slot and a real argon2 cost, so the parallel sign-ins finish
    // one after another (a slow hasher under load does the same).
    let server = TestServer::start_with(|c| {
        c.password_hash_concurrency = 1;
        c.argon2_memory_kib = 32 * 1024;
        c.argon2_iterations = 2;
    })
    .await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await; // third-party: consent needed
    let mut browser = Browser::new();
    // prompt=consent: every sign-in for this interaction goes on to a consent step.
    let page = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "consent")]))
        .await;
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let cookie = cookie_header(&browser);

    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let mut logins = Vec::new();
    for _ in 0..N {
        let (barrier, cookie, url, tx, base) = (
            barrier.clone(),
            cookie.clone(),
            server.url("/login"),
            tx.clone(),
            server.base.clone(),
        );
        let form = [
            ("request", request.clone()),
            ("csrf", csrf.clone()),
            ("email", ADA.to_owned()),
            ("password", PASSWORD.to_owned()),
        ];
        logins.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = no_redirects()
                .post(url)
                .header(COOKIE, &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            // The session cookie this sign-in set, plus the CSRF cookie.
            let session = response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
                .collect::<Vec<_>>()
                .join("; ");
            let cookie = format!("{cookie}; {session}");
            let body = resumed(&base, &cookie, response)
                .await
                .text()
                .await
                .unwrap();
            let _ = tx.send((cookie, body));
        }));
    }
    drop(tx);

    // As soon as the first consent page is back, answer it: the code for the
    // interaction is issued and the pending record is taken.
    let mut codes = Vec::new();
    let mut later = Vec::new();
    let mut first = true;
    while let Some((cookie, body)) = rx.recv().await {
        if first && body.contains("name=\"decision\"") {
            first = false;
            let answer = no_redirects()
                .post(server.url("/consent"))
                .header(COOKIE, &cookie)
                .form(&[
                    ("request", field(&body, "request").unwrap()),
                    ("csrf", csrf.clone()),
                    ("decision", "allow".to_owned()),
                ])
                .send()
                .await
                .unwrap();
            let answer = resumed(&server.base, &cookie, answer).await;
            let location = answer
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_owned())
                .unwrap_or_default();
            assert!(location.contains("code="), "first consent: {location}");
            codes.push(location);
        } else if body.contains("name=\"decision\"") {
            later.push(cookie);
        }
    }
    for login in logins {
        login.await.unwrap();
    }
    eprintln!(
        "{} later sign-ins got a consent page after the code was issued",
        later.len()
    );
    // Every later session whose consent page came back now tries to answer it.
    for cookie in later {
        let answer = no_redirects()
            .post(server.url("/consent"))
            .header(COOKIE, &cookie)
            .form(&[
                ("request", request.clone()),
                ("csrf", csrf.clone()),
                ("decision", "allow".to_owned()),
            ])
            .send()
            .await
            .unwrap();
        let answer = resumed(&server.base, &cookie, answer).await;
        if let Some(location) = answer.headers().get(LOCATION) {
            let location = location.to_str().unwrap().to_owned();
            if location.contains("code=") {
                codes.push(location);
            }
        }
    }
    for (n, location) in codes.iter().enumerate() {
        let code = url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let tokens = redeem_code(&server, &client, &code).await;
        eprintln!("code {n} redeemed: sub {}", id_claims(&tokens)["sub"]);
    }
    assert_eq!(
        codes.len(),
        1,
        "one authorization request (one pending id) produced {} codes: {codes:?}",
        codes.len()
    );
}

/// Once broken: `max_age` (and `prompt=login`) are checked only when the request
/// enters `/authorize` or right after the sign-in; the consent step carries
/// the session's `auth_time` along and `Settled::Consented` skips the check.
/// A consent page left open for 10 minutes under `max_age=60` yields a code
/// whose ID token says the person authenticated 630 s earlier.
#[tokio::test]
async fn max_age_is_checked_again_when_consent_completes_later() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({})).await;
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    let consent = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert!(
        consent.body.contains("name=\"decision\""),
        "{}",
        consent.body
    );
    let back = browser.consent(&server.base, &consent, "allow").await;
    assert!(back.redirect_param("code").is_some());

    // 30 s later the app asks again with max_age=60 (and for consent again).
    server.clock.advance(30);
    let page = browser
        .get(&authorize_url(
            &server,
            &client.0,
            &[("max_age", "60"), ("prompt", "consent")],
        ))
        .await;
    assert!(
        page.body.contains("name=\"decision\""),
        "no sign-in needed yet: {}",
        page.body
    );
    // The person leaves the consent tab open for ten minutes.
    server.clock.advance(600);
    let back: Seen = browser.consent(&server.base, &page, "allow").await;
    if back.location.is_none() {
        // Re-authentication demanded: the sign-in page, and then a fresh sign-in
        // yields a code whose auth_time is within max_age.
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
        assert!(back.body.contains("name=\"password\""), "{}", back.body);
        let mut after = browser.sign_in(&server.base, &back, ADA, PASSWORD).await;
        if after.body.contains("name=\"decision\"") {
            // prompt=consent asks again, now from the fresh sign-in.
            after = browser.consent(&server.base, &after, "allow").await;
        }
        let code = after
            .redirect_param("code")
            .expect("a code after the fresh sign-in");
        let claims = id_claims(&redeem_code(&server, &client, &code).await);
        let age = claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap();
        assert!(age <= 60, "{claims}");
        return;
    }
    let code = back.redirect_param("code").expect("a code");
    let claims = id_claims(&redeem_code(&server, &client, &code).await);
    let age = claims["iat"].as_i64().unwrap() - claims["auth_time"].as_i64().unwrap();
    assert!(
        age <= 60,
        "max_age=60 but the ID token's auth_time is {age} s before its iat: {claims}"
    );
}

/// Once broken (rule 7, item 11): logout takes the session record out of the cache
/// (`session::end`, GETDEL), but `session::current` is get → check the account
/// in the database → put back with a new `last_seen`. A request of the same
/// cookie that read the session before the logout's take and writes it after
/// puts the ended session back: the cookie works again after a successful
/// logout (a stolen cookie outlives the victim's sign-out).
#[tokio::test]
async fn a_request_racing_logout_never_brings_the_session_back() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    const ROUNDS: usize = 10;
    const RACERS: usize = 6;
    let mut revived = 0;
    for round in 0..ROUNDS {
        let mut browser = Browser::new();
        let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
        let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
        assert!(back.redirect_param("code").is_some(), "{}", back.body);
        let csrf = browser.cookies["gatehouse_csrf"].clone();
        let cookie = cookie_header(&browser);
        // A minute later (so the next use refreshes last_seen)...
        server.clock.advance(61);
        let barrier = Arc::new(Barrier::new(RACERS + 1));
        let mut tasks = Vec::new();
        {
            let (barrier, cookie, url, csrf) = (
                barrier.clone(),
                cookie.clone(),
                server.url("/logout"),
                csrf.clone(),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = no_redirects()
                    .post(url)
                    .header(COOKIE, cookie)
                    .form(&[("csrf", csrf)])
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                let body = r.text().await.unwrap();
                assert!(body.contains("signed out"), "logout: {status} {body}");
            }));
        }
        for _ in 0..RACERS {
            let (barrier, cookie, url) = (
                barrier.clone(),
                cookie.clone(),
                authorize_url(&server, &client.0, &[("prompt", "none")]),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let _ = no_redirects()
                    .get(url)
                    .header(COOKIE, cookie)
                    .send()
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // The logout answered "signed out". Does the cookie still sign in?
        let after = no_redirects()
            .get(authorize_url(&server, &client.0, &[("prompt", "none")]))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let location = after
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        if location.contains("code=") {
            revived += 1;
            eprintln!("round {round}: the session survived its logout");
        }
    }
    assert_eq!(
        revived, 0,
        "{revived} of {ROUNDS} logouts raced by {RACERS} requests left the session alive"
    );
}

/// ATTACK (item 11: "a confirmation page whose button is a CSRF-protected
/// POST"): the confirmation is accepted on GET as well, and the CSRF token is
/// one long-lived browser-wide value that `csrf::token` adopts from any
/// cookie of the right length. On an http issuer (no `__Host-` prefix, by
/// item 12) a page that can set a cookie for the host (a sibling subdomain, a
/// network attacker on plain http) fixes the token in advance; afterwards a
/// plain top-level link, which carries the Lax session cookie, signs the
/// person out with no click on the button.
#[tokio::test]
async fn a_get_link_with_a_planted_csrf_token_never_signs_out() {
    let server = TestServer::start().await;
    seed_user(&server, ADA).await;
    let client = web_app(&server, json!({"first_party": true})).await;
    let mut browser = Browser::new();
    // Cookie tossing: the attacker's value is in the jar before the sign-in.
    let fixed = "A".repeat(43);
    browser
        .cookies
        .insert("gatehouse_csrf".into(), fixed.clone());
    let page = browser.get(&authorize_url(&server, &client.0, &[])).await;
    assert_eq!(
        page.field("csrf"),
        fixed,
        "the server adopted the fixed token"
    );
    let back = browser.sign_in(&server.base, &page, ADA, PASSWORD).await;
    assert!(back.redirect_param("code").is_some(), "{}", back.body);

    // The attacker's page links to /logout?csrf=<fixed> (a GET navigation).
    let forced = browser
        .get(&format!("{}?csrf={fixed}", server.url("/logout")))
        .await;
    let still = browser
        .get(&authorize_url(&server, &client.0, &[("prompt", "none")]))
        .await;
    assert!(
        still.redirect_param("code").is_some(),
        "a GET link signed the person out without the button ({}: {})",
        forced.status,
        &forced.body[..forced.body.len().min(200)]
    );
}
