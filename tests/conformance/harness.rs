//! What every OIDCC OP module does, as the conformance suite does it: the
//! setup checks (discovery, JWKS), the authorization request, the response
//! (query redirect or form_post page), the token request, and the ID token and
//! userinfo checks of the "happy path".

use std::collections::BTreeMap;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreProviderMetadata};
use openidconnect::{ClientId, CsrfToken, IssuerUrl, JsonWebKey, Nonce};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};

use crate::common::TestServer;
use crate::common::browser::{Browser, Seen, rp_http};

/// The suite's test user (its default `login_hint` is `buffy@<issuer host>`).
pub const EMAIL: &str = "buffy@example.com";
const PASSWORD: &str = "correct horse battery staple";
/// The suite's callback: `<suite base>/test/a/<alias>/callback`.
pub const CALLBACK: &str = "https://suite.example/test/a/gatehouse/callback";
/// Registered for the logout plans.
pub const POST_LOGOUT: &str = "https://suite.example/test/a/gatehouse/post_logout_redirect";
/// The error codes `CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface` accepts.
pub const LOGIN_REQUIRED_FAMILY: [&str; 4] = [
    "login_required",
    "interaction_required",
    "account_selection_required",
    "consent_required",
];
const FIVE_MINUTES: i64 = 300;
const ONE_YEAR: i64 = 365 * 86_400;

/// The plan's `response_mode` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `response_mode` absent: the code comes back in the query.
    Default,
    /// `response_mode=form_post`: the browser POSTs the response.
    FormPost,
}

/// How a client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// HTTP Basic.
    Basic,
    /// Credentials in the form body.
    Post,
}

/// A statically registered client, as the openid.net instructions ask for.
#[derive(Clone, Debug)]
pub struct Rp {
    pub id: String,
    pub secret: String,
    pub auth: Auth,
}

/// One module run: a server with the suite's user and three static clients
/// (`client`, `client2` with client_secret_basic, `client_secret_post`).
pub struct Suite {
    pub server: TestServer,
    pub mode: Mode,
    pub sub: String,
    pub client: Rp,
    pub client2: Rp,
    pub client_post: Rp,
    /// The discovery document as JSON.
    pub metadata: Value,
    provider: CoreProviderMetadata,
}

/// A 128-character state containing `-._~`, as several modules send.
pub fn long_state() -> String {
    let random = CsrfToken::new_random_len(93).secret().clone();
    assert_eq!(random.len(), 124);
    format!("{random}-._~")
}

/// A random value for `state` or `nonce` (43 characters, as the suite uses).
pub fn random_value() -> String {
    CsrfToken::new_random().secret().clone()
}

/// The claims of a JWT (no verification).
pub fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// An estimate of the entropy of `text` in bits (Shannon entropy of its
/// character distribution times its length), as the suite estimates it.
pub fn entropy_bits(text: &str) -> f64 {
    let mut counts = BTreeMap::<char, f64>::new();
    for c in text.chars() {
        *counts.entry(c).or_default() += 1.0;
    }
    let n = text.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|count| {
            let p = count / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// Asserts that a code or token is at least 16 bytes long with about 96 bits of entropy.
pub fn assert_strong(what: &str, value: &str) {
    assert!(value.len() >= 16, "{what} shorter than 16 bytes: {value}");
    let bits = entropy_bits(value);
    assert!(bits > 96.0, "{what} has about {bits:.0} bits of entropy");
}

/// An authorization request's parameters, in order (order matters to one module).
#[derive(Clone, Debug)]
pub struct AuthRequest {
    pub params: Vec<(String, String)>,
}

impl AuthRequest {
    /// Sets `name` (replacing an earlier value).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Removes `name`.
    pub fn without(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters in reverse order.
    pub fn reversed(mut self) -> Self {
        self.params.reverse();
        self
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        self.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The parameters of an authorization response, from wherever the mode put them.
#[derive(Debug)]
pub struct Callback {
    pub params: BTreeMap<String, String>,
}

impl Callback {
    /// The parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The code of a successful response, after the suite's code checks.
    pub fn code(&self) -> String {
        assert!(
            self.get("error").is_none(),
            "unexpected error response: {:?}",
            self.params
        );
        let code = self.get("code").expect("a code").to_owned();
        assert_strong("authorization code", &code);
        code
    }

    /// The error of an error response (which must carry no code).
    pub fn error(&self) -> String {
        assert!(
            self.get("code").is_none(),
            "an error response must carry no code"
        );
        let error = self.get("error").expect("an error").to_owned();
        if let Some(description) = self.get("error_description") {
            // RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E.
            assert!(
                description
                    .bytes()
                    .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
                "error_description has characters RFC 6749 does not allow: {description:?}"
            );
        }
        error
    }
}

/// What a token response carried.
#[derive(Debug)]
pub struct TokenReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A successful token response's tokens.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub refresh_token: Option<String>,
}

/// Verified ID token claims.
#[derive(Debug)]
pub struct IdClaims {
    pub raw: Value,
    pub sub: String,
    pub iat: i64,
    pub auth_time: Option<i64>,
}

/// How userinfo is called.
#[derive(Clone, Copy, Debug)]
pub enum UserinfoCall {
    Get,
    PostHeader,
    PostBody,
}

/// Decodes the HTML entities askama writes.
fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#47;", "/")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` inside one HTML tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The tags `<name ...>` of an HTML page.
fn tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name} ");
    html.match_indices(&open)
        .filter_map(|(at, _)| {
            let end = html[at..].find('>')? + at;
            Some(&html[at..=end])
        })
        .collect()
}

/// An auto-submitting form_post page: its form's method and action, and its hidden fields.
pub fn form_post_page(page: &Seen) -> (String, String, BTreeMap<String, String>) {
    let form = tags(&page.body, "form")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no form in page:\n{}", page.body));
    let method = attribute(form, "method").unwrap_or_default();
    let action = attribute(form, "action").unwrap_or_default();
    let fields = tags(&page.body, "input")
        .into_iter()
        .filter(|tag| attribute(tag, "type").as_deref() == Some("hidden"))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect();
    (method, action, fields)
}

/// Whether `page` is an error page: no redirect, no auto-submitting form to the client.
pub fn assert_error_page(page: &Seen, uris: &[&str]) {
    assert!(
        page.status.is_client_error() || page.status.is_server_error() || page.status.is_success(),
        "unexpected status {}",
        page.status
    );
    assert!(
        page.location.is_none(),
        "must not redirect, went to {:?}",
        page.location
    );
    assert!(
        page.headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "an error page is HTML"
    );
    for form in tags(&page.body, "form") {
        let action = attribute(form, "action").unwrap_or_default();
        assert!(
            !uris.iter().any(|uri| action.starts_with(uri)),
            "must not post a response to {action}"
        );
    }
}

impl Suite {
    /// A fresh server with the suite's user and clients, after the setup checks
    /// every module runs.
    pub async fn start(mode: Mode) -> Self {
        let server = TestServer::start().await;
        let sub = server
            .seed_user(json!({"email": EMAIL, "password": PASSWORD,
            "name": "Buffy Summers", "preferred_username": "buffy", "email_verified": true,
            "claims": {"given_name": "Buffy", "family_name": "Summers",
                "phone_number": "+14155550123",
                "address": {"street_address": "1630 Revello Drive", "locality": "Sunnydale",
                    "region": "CA", "postal_code": "95037", "country": "US"}}}))
            .await;
        let client = register(&server, Auth::Basic).await;
        let client2 = register(&server, Auth::Basic).await;
        let client_post = register(&server, Auth::Post).await;

        let response = server
            .http
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let metadata: Value = response.json().await.unwrap();
        for field in ["issuer", "authorization_endpoint", "token_endpoint"] {
            assert!(metadata[field].is_string(), "discovery lacks {field}");
        }
        // The methods under test must be listed (they are assumed when absent).
        let methods = &metadata["token_endpoint_auth_methods_supported"];
        for method in ["client_secret_basic", "client_secret_post"] {
            assert!(
                methods.is_null() || methods.as_array().unwrap().contains(&json!(method)),
                "{method} is not in token_endpoint_auth_methods_supported"
            );
        }
        // Every JWK has a non-empty kid, and kids are distinct (OIDCC 10.1).
        let jwks: Value = server
            .http
            .get(metadata["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("a JWK set")
            .iter()
            .map(|key| {
                key["kid"]
                    .as_str()
                    .filter(|k| !k.is_empty())
                    .expect("a kid")
            })
            .collect();
        assert!(!kids.is_empty());
        let mut distinct = kids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), kids.len(), "duplicate kids: {kids:?}");

        let provider = CoreProviderMetadata::discover_async(
            IssuerUrl::new(server.base.clone()).unwrap(),
            &rp_http,
        )
        .await
        .unwrap();
        Self {
            server,
            mode,
            sub,
            client,
            client2,
            client_post,
            metadata,
            provider,
        }
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.server.base
    }

    /// The server's time.
    pub fn now(&self) -> i64 {
        self.server.clock.now()
    }

    /// The suite's default authorization request for `rp`: code flow, `openid`,
    /// a random state and nonce, and `response_mode=form_post` in that mode.
    pub fn request(&self, rp: &Rp) -> AuthRequest {
        let mut request = AuthRequest { params: vec![] }
            .set("response_type", "code")
            .set("client_id", &rp.id)
            .set("scope", "openid")
            .set("redirect_uri", CALLBACK)
            .set("state", &random_value())
            .set("nonce", &random_value());
        if self.mode == Mode::FormPost {
            request = request.set("response_mode", "form_post");
        }
        request
    }

    /// The authorization endpoint URL carrying `request` in its query.
    pub fn authorize_url(&self, request: &AuthRequest) -> String {
        let mut url =
            url::Url::parse(self.metadata["authorization_endpoint"].as_str().unwrap()).unwrap();
        url.query_pairs_mut().extend_pairs(request.pairs());
        url.to_string()
    }

    /// Sends the browser to the authorization endpoint (GET).
    pub async fn open(&self, browser: &mut Browser, request: &AuthRequest) -> Seen {
        browser.get(&self.authorize_url(request)).await
    }

    /// Follows the OP's pages from `page`: signs in and consents when asked.
    /// Returns the final answer and whether a sign-in page was shown.
    pub async fn through_pages(&self, browser: &mut Browser, mut page: Seen) -> (Seen, bool) {
        let mut signed_in = false;
        for _ in 0..3 {
            if page.status != StatusCode::OK {
                break;
            }
            if page.body.contains("name=\"password\"") {
                assert!(!signed_in, "asked to sign in twice");
                signed_in = true;
                page = browser
                    .sign_in(&self.server.base, &page, EMAIL, PASSWORD)
                    .await;
            } else if page.body.contains("name=\"decision\"") {
                page = browser.consent(&self.server.base, &page, "allow").await;
            } else {
                break;
            }
        }
        (page, signed_in)
    }

    /// A full authorization with a sign-in page (a fresh login); returns the response.
    pub async fn login(&self, browser: &mut Browser, request: &AuthRequest) -> Callback {
        let page = self.open(browser, request).await;
        self.login_from(browser, request, page).await
    }

    /// As [`Suite::login`], from the first page the OP showed.
    pub async fn login_from(
        &self,
        browser: &mut Browser,
        request: &AuthRequest,
        page: Seen,
    ) -> Callback {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let (answer, signed_in) = self.through_pages(browser, page).await;
        assert!(signed_in, "the OP must show its sign-in page");
        self.callback(&answer, request)
    }

    /// An authorization that must not show a sign-in page (consent may be asked).
    pub async fn without_login(&self, browser: &mut Browser, request: &AuthRequest) -> Callback {
        let page = self.open(browser, request).await;
        let (answer, signed_in) = self.through_pages(browser, page).await;
        assert!(!signed_in, "the OP must not ask to sign in again");
        self.callback(&answer, request)
    }

    /// Reads the authorization response from `answer` — a redirect to the
    /// callback (default mode) or an auto-submitting POST form (form_post) —
    /// and runs the checks every response gets: state echoed exactly, `iss`
    /// equal to the issuer if present.
    pub fn callback(&self, answer: &Seen, request: &AuthRequest) -> Callback {
        let params: BTreeMap<String, String> = match self.mode {
            Mode::Default => {
                assert_eq!(answer.status, StatusCode::FOUND, "{}", answer.body);
                let location = url::Url::parse(answer.location.as_ref().unwrap()).unwrap();
                assert!(
                    location.fragment().is_none(),
                    "code flow answers in the query"
                );
                let mut base = location.clone();
                base.set_query(None);
                assert_eq!(base.as_str(), CALLBACK);
                location.query_pairs().into_owned().collect()
            }
            Mode::FormPost => {
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
                assert!(answer.location.is_none(), "form_post must not redirect");
                assert!(
                    answer.headers[CONTENT_TYPE]
                        .to_str()
                        .unwrap()
                        .starts_with("text/html")
                );
                let (method, action, fields) = form_post_page(answer);
                assert!(
                    method.eq_ignore_ascii_case("post"),
                    "the callback must be a POST"
                );
                // Neither code nor error may appear in the callback's query.
                assert_eq!(action, CALLBACK);
                // A form without enctype is submitted as application/x-www-form-urlencoded.
                assert!(!answer.body.contains("enctype="));
                fields
            }
        };
        let callback = Callback { params };
        assert_eq!(
            callback.get("state"),
            request.get("state"),
            "state must be echoed exactly"
        );
        if let Some(iss) = callback.get("iss") {
            assert_eq!(iss, self.issuer(), "RFC 9207 iss");
        }
        callback
    }

    /// A token request by `rp` with `form` (client authentication added).
    pub async fn token(&self, rp: &Rp, form: &[(&str, &str)]) -> TokenReply {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut request = self
            .server
            .http
            .post(self.metadata["token_endpoint"].as_str().unwrap());
        match rp.auth {
            Auth::Basic => request = request.basic_auth(&rp.id, Some(&rp.secret)),
            Auth::Post => {
                form.push(("client_id", &rp.id));
                form.push(("client_secret", &rp.secret));
            }
        }
        let response = request.form(&form).send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        TokenReply {
            status,
            headers,
            body,
        }
    }

    /// Exchanges `code` (with `extra` parameters such as `code_verifier`) and
    /// runs the suite's token-response checks.
    pub async fn exchange_with(&self, rp: &Rp, code: &str, extra: &[(&str, &str)]) -> Tokens {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
        ];
        form.extend_from_slice(extra);
        let reply = self.token(rp, &form).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_token_response(&reply);
        Tokens {
            access_token: reply.body["access_token"].as_str().unwrap().to_owned(),
            id_token: reply.body["id_token"]
                .as_str()
                .expect("an id_token")
                .to_owned(),
            refresh_token: reply.body["refresh_token"].as_str().map(str::to_owned),
        }
    }

    /// Exchanges `code`.
    pub async fn exchange(&self, rp: &Rp, code: &str) -> Tokens {
        self.exchange_with(rp, code, &[]).await
    }

    /// Verifies an ID token for `rp` with the `openidconnect` verifier (signature
    /// by a JWKS key, issuer, audience, expiry, nonce), then the suite's own
    /// claim checks. `nonce: None` means none was sent, so none may come back.
    pub fn id_token(&self, rp: &Rp, token: &str, nonce: Option<&str>) -> IdClaims {
        let header = jwt_part(token, 0);
        assert_eq!(header["alg"], "RS256");
        let kid = header["kid"]
            .as_str()
            .expect("a kid in the ID token header");
        assert_eq!(
            self.provider
                .jwks()
                .keys()
                .iter()
                .filter(|key| key.key_id().map(|k| k.as_str()) == Some(kid))
                .count(),
            1,
            "exactly one JWK with the ID token's kid"
        );
        let parsed = CoreIdToken::from_str(token).unwrap();
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(rp.id.clone()),
            IssuerUrl::new(self.server.base.clone()).unwrap(),
            self.provider.jwks().clone(),
        );
        let expected = nonce.map(str::to_owned);
        let verified = parsed
            .claims(&verifier, |got: Option<&Nonce>| {
                match (got.map(Nonce::secret), expected.as_ref()) {
                    (Some(got), Some(sent)) if got == sent => Ok(()),
                    (None, None) => Ok(()),
                    (got, sent) => Err(format!("nonce {got:?}, sent {sent:?}")),
                }
            })
            .unwrap_or_else(|e| panic!("ID token rejected: {e}"));

        let raw = jwt_part(token, 1);
        let now = self.now();
        assert_eq!(raw["iss"], self.issuer());
        match &raw["aud"] {
            Value::String(aud) => assert_eq!(aud, &rp.id),
            Value::Array(auds) => assert!(auds.contains(&json!(rp.id))),
            other => panic!("bad aud {other}"),
        }
        let exp = raw["exp"].as_i64().expect("exp");
        assert!(exp > now - FIVE_MINUTES, "expired");
        assert!(exp < now + ONE_YEAR, "exp absurdly far in the future");
        let iat = raw["iat"].as_i64().expect("iat");
        assert!(iat <= now + FIVE_MINUTES, "iat in the future");
        assert!(iat >= now - FIVE_MINUTES, "iat more than 5 minutes old");
        let auth_time = raw
            .get("auth_time")
            .map(|t| t.as_i64().expect("numeric auth_time"));
        if let Some(auth_time) = auth_time {
            assert!(auth_time <= now + FIVE_MINUTES, "auth_time in the future");
            assert!(auth_time >= now - ONE_YEAR, "auth_time over a year old");
            assert_eq!(verified.auth_time().map(|t| t.timestamp()), Some(auth_time));
        }
        if let Some(acr) = raw.get("acr") {
            assert!(acr.as_str().is_some_and(|a| !a.is_empty()), "acr: {acr}");
        }
        let sub = verified.subject().as_str().to_owned();
        assert_eq!(raw["sub"], json!(sub));
        IdClaims {
            raw,
            sub,
            iat,
            auth_time,
        }
    }

    /// Calls userinfo as `how`; returns the status and, on 200, the checked claims.
    pub async fn userinfo_raw(&self, access_token: &str, how: UserinfoCall) -> (StatusCode, Value) {
        let url = self.metadata["userinfo_endpoint"].as_str().unwrap();
        let http = &self.server.http;
        let request = match how {
            UserinfoCall::Get => http.get(url).bearer_auth(access_token),
            UserinfoCall::PostHeader => http.post(url).bearer_auth(access_token),
            UserinfoCall::PostBody => http.post(url).form(&[("access_token", access_token)]),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        if status != StatusCode::OK {
            return (status, Value::Null);
        }
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "userinfo must be JSON"
        );
        let claims: Value = response.json().await.unwrap();
        assert!(claims["sub"].is_string(), "userinfo lacks sub");
        // ValidateUserInfoStandardClaims: the types of the standard claims.
        for (claim, ok) in [
            (
                "email_verified",
                claims.get("email_verified").is_none_or(Value::is_boolean),
            ),
            (
                "phone_number_verified",
                claims
                    .get("phone_number_verified")
                    .is_none_or(Value::is_boolean),
            ),
            (
                "address",
                claims.get("address").is_none_or(Value::is_object),
            ),
            (
                "updated_at",
                claims.get("updated_at").is_none_or(Value::is_number),
            ),
            ("name", claims.get("name").is_none_or(Value::is_string)),
            ("email", claims.get("email").is_none_or(Value::is_string)),
        ] {
            assert!(ok, "userinfo {claim} has the wrong type: {claims}");
        }
        (status, claims)
    }

    /// Calls userinfo as `how`, which must answer 200 with valid claims.
    pub async fn userinfo(&self, access_token: &str, how: UserinfoCall) -> Value {
        let (status, claims) = self.userinfo_raw(access_token, how).await;
        assert_eq!(status, StatusCode::OK, "userinfo {how:?}");
        claims
    }

    /// The end-session endpoint URL with `params` (as given, in order).
    pub fn logout_url(&self, params: &[(&str, &str)]) -> String {
        let mut url =
            url::Url::parse(self.metadata["end_session_endpoint"].as_str().unwrap()).unwrap();
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        url.to_string()
    }
}

/// The checks every successful token response gets.
pub fn assert_token_response(reply: &TokenReply) {
    assert_eq!(
        reply.headers[CACHE_CONTROL].to_str().unwrap(),
        "no-store",
        "token responses must not be cached"
    );
    assert!(
        reply.headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body = &reply.body;
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    );
    let expires_in = body["expires_in"]
        .as_i64()
        .expect("expires_in (only a warning in the suite when missing)");
    assert!(expires_in > 0, "expires_in must be positive");
}

async fn register(server: &TestServer, auth: Auth) -> Rp {
    let method = match auth {
        Auth::Basic => "client_secret_basic",
        Auth::Post => "client_secret_post",
    };
    let (id, secret) = server
        .seed_client(json!({
            "client_name": "OpenID conformance suite",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": [POST_LOGOUT],
            "scope": "openid profile email address phone offline_access",
            "token_endpoint_auth_method": method,
        }))
        .await;
    Rp {
        id,
        secret: secret.expect("a confidential client"),
        auth,
    }
}
