//! Passkey flows over HTTP for the tests: a server reached as `localhost`
//! (WebAuthn needs a domain name), adding a passkey in the account area with
//! the software authenticator, answering a page's passkey form, and the
//! passkey proof a passkey-only account gives for a change.

use reqwest::StatusCode;
use serde_json::Value;

use super::TestServer;
use super::authenticator::SoftAuthenticator;
use super::browser::{Browser, Seen};
use super::flow::{self, EMAIL, PASSWORD, post_account};

/// The PKCE verifier the flows' authorization requests are made with.
pub const VERIFIER: &str = "a-pkce-verifier-of-more-than-forty-three-characters";

/// A server whose issuer is `http://localhost:<port>`: WebAuthn needs a
/// domain name as relying-party id (requests still go to 127.0.0.1).
pub async fn server() -> TestServer {
    TestServer::start_with(|config| config.issuer = config.issuer.replace("127.0.0.1", "localhost"))
        .await
}

pub fn origin(server: &TestServer) -> String {
    server.config.issuer.clone()
}

/// The value of the attribute `name` in the page, unescaped.
pub fn attribute(page: &Seen, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page:\n{}", page.body))
        + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A browser signed in with the password at the account's sign-in methods page.
pub async fn account(server: &TestServer) -> Browser {
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/account/security")).await;
    let back = browser.sign_in(&server.base, &page, EMAIL, PASSWORD).await;
    assert_eq!(back.location.as_deref(), Some("/account/security"));
    browser
}

/// Adds a passkey of `authenticator` named `name` in `browser`'s account,
/// proving the change with the password — or, once the person has a
/// passkey, with a use of `proven_by` (the strongest factor is asked for);
/// returns the page the browser lands on.
pub async fn add_passkey(
    server: &TestServer,
    browser: &mut Browser,
    authenticator: &mut SoftAuthenticator,
    name: &str,
    proven_by: Option<&mut SoftAuthenticator>,
) -> Seen {
    let security = browser.get(&server.url("/account/security")).await;
    let credential;
    let proof: Vec<(&str, &str)> = match proven_by {
        None => vec![("password", PASSWORD)],
        Some(key) => {
            credential = self::proof(server, browser, &security, key).await;
            vec![("credential", credential.as_str())]
        }
    };
    let begin = post_account(
        server,
        browser,
        "/account/security/passkeys/begin",
        &security,
        &proof,
    )
    .await;
    assert_eq!(begin.status, StatusCode::OK, "{}", begin.body);
    let options: Value = serde_json::from_str(&attribute(&begin, "data-options")).unwrap();
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
    let credential = authenticator.register(&options).to_string();
    let done = post_account(
        server,
        browser,
        "/account/security/passkeys",
        &begin,
        &[("credential", &credential), ("name", name)],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    browser.get(&server.url("/account/security")).await
}

/// The options the page's passkey form asks for.
pub async fn options(server: &TestServer, browser: &mut Browser, page: &Seen) -> Value {
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let seen = browser
        .post(
            &server.url("/login/passkey/options"),
            &[("request", &request), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    serde_json::from_str(&seen.body).unwrap()
}

/// Posts `answer` to the page's passkey form.
pub async fn answer(
    server: &TestServer,
    browser: &mut Browser,
    page: &Seen,
    answer: &Value,
) -> Seen {
    let (request, csrf) = (page.field("request"), page.field("csrf"));
    let credential = answer.to_string();
    browser
        .post(
            &server.url("/login/passkey"),
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("credential", &credential),
            ],
        )
        .await
}

/// A new browser at the app's sign-in page.
pub async fn sign_in_page(server: &TestServer, client_id: &str) -> (Browser, Seen) {
    sign_in_page_asking(server, client_id, "").await
}

/// A new browser at the sign-in page of the app's request with the extra
/// query parameters `extra` (e.g. `&acr_values=phr`).
pub async fn sign_in_page_asking(
    server: &TestServer,
    client_id: &str,
    extra: &str,
) -> (Browser, Seen) {
    let mut browser = Browser::new();
    let url = flow::authorize_url(server, client_id, "openid", VERIFIER) + extra;
    let page = browser.get(&url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (browser, page)
}

pub const MFA: &str = "&acr_values=urn:gatehouse:acr:mfa";

pub fn refused(seen: &Seen) {
    assert_eq!(
        seen.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        seen.body
    );
    assert!(sets_no_session(seen), "no session for a refused passkey");
}

/// Whether the answer `seen` sets no session cookie.
pub fn sets_no_session(seen: &Seen) -> bool {
    seen.headers
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("gatehouse_session="))
}

/// Posts each `(browser, page, answer)` to the page's passkey form, all at
/// once (a barrier); returns the statuses, and checks that exactly one
/// signed in and every other was refused.
pub async fn post_together(
    server: &TestServer,
    posts: Vec<(Browser, Seen, Value)>,
) -> Vec<StatusCode> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(posts.len()));
    let mut tasks = Vec::new();
    for (mut browser, page, answer) in posts {
        let (url, barrier) = (server.url("/login/passkey"), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let (request, csrf) = (page.field("request"), page.field("csrf"));
            let credential = answer.to_string();
            barrier.wait().await;
            let form = [
                ("request", request.as_str()),
                ("csrf", csrf.as_str()),
                ("credential", credential.as_str()),
            ];
            browser.post(&url, &form).await.status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let signed_in = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(signed_in, 1, "{statuses:?}");
    statuses
}

/// The proof a passkey-only account gives for a change made on `page`: a
/// use of `key` for the session's proof ceremony.
pub async fn proof(
    server: &TestServer,
    browser: &mut Browser,
    page: &Seen,
    key: &mut SoftAuthenticator,
) -> String {
    let asked = post_account(
        server,
        browser,
        "/account/security/proof/options",
        page,
        &[],
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    key.authenticate(&serde_json::from_str(&asked.body).unwrap())
        .to_string()
}

/// Signs a new browser in at the account area with `key`; returns it.
pub async fn account_by_passkey(server: &TestServer, key: &mut SoftAuthenticator) -> Browser {
    let mut browser = Browser::new();
    let page = browser.get(&server.url("/account/security")).await;
    let asked = options(server, &mut browser, &page).await;
    let back = answer(server, &mut browser, &page, &key.authenticate(&asked)).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    browser.resume(&server.base, back).await;
    browser
}

/// The id of the passkey named `name` on the sign-in methods page.
pub fn passkey_id(page: &Seen, name: &str) -> String {
    let at = page
        .body
        .find(&format!("<h3>{name}"))
        .unwrap_or_else(|| panic!("no passkey {name}: {}", page.body));
    let marker = "name=\"passkey\" value=\"";
    let start = page.body[at..].find(marker).unwrap() + at + marker.len();
    page.body[start..start + page.body[start..].find('"').unwrap()].to_owned()
}
