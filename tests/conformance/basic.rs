//! oidcc-basic-certification-test-plan (static clients), and the Form Post
//! plan, which runs the same modules with `response_mode=form_post`: each
//! scenario below takes the [`Mode`] and is instantiated twice by `plans!`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::harness::{
    CALLBACK, EMAIL, LOGIN_REQUIRED_FAMILY, Mode, Suite, UserinfoCall, assert_error_page,
    assert_strong, assert_token_response, jwt_part, long_state,
};

/// One test per (module, mode): `default_name` for the Basic plan,
/// `form_post_name` for the Form Post plan, both running `scenario`.
macro_rules! plans {
    ($($default_name:ident, $form_post_name:ident => $scenario:ident;)+) => {
        $(
            #[tokio::test]
            async fn $default_name() {
                $scenario(Mode::Default).await;
            }
            #[tokio::test]
            async fn $form_post_name() {
                $scenario(Mode::FormPost).await;
            }
        )+
    };
}

plans! {
    oidcc_server, formpost_oidcc_server => server;
    oidcc_response_type_missing, formpost_oidcc_response_type_missing => response_type_missing;
    oidcc_userinfo_get, formpost_oidcc_userinfo_get => userinfo_get;
    oidcc_userinfo_post_header, formpost_oidcc_userinfo_post_header => userinfo_post_header;
    oidcc_userinfo_post_body, formpost_oidcc_userinfo_post_body => userinfo_post_body;
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
        formpost_oidcc_ensure_request_without_nonce_succeeds_for_code_flow => without_nonce;
    oidcc_scope_profile, formpost_oidcc_scope_profile => scope_profile;
    oidcc_scope_email, formpost_oidcc_scope_email => scope_email;
    oidcc_scope_address, formpost_oidcc_scope_address => scope_address;
    oidcc_scope_phone, formpost_oidcc_scope_phone => scope_phone;
    oidcc_scope_all, formpost_oidcc_scope_all => scope_all;
    oidcc_alternate_happy_flow, formpost_oidcc_alternate_happy_flow => alternate_happy_flow;
    oidcc_display_page, formpost_oidcc_display_page => display_page;
    oidcc_display_popup, formpost_oidcc_display_popup => display_popup;
    oidcc_prompt_login, formpost_oidcc_prompt_login => prompt_login;
    oidcc_prompt_none_not_logged_in, formpost_oidcc_prompt_none_not_logged_in => prompt_none_not_logged_in;
    oidcc_prompt_none_logged_in, formpost_oidcc_prompt_none_logged_in => prompt_none_logged_in;
    oidcc_max_age_1, formpost_oidcc_max_age_1 => max_age_1;
    oidcc_max_age_10000, formpost_oidcc_max_age_10000 => max_age_10000;
    oidcc_ensure_request_with_unknown_parameter_succeeds,
        formpost_oidcc_ensure_request_with_unknown_parameter_succeeds => unknown_parameter;
    oidcc_id_token_hint, formpost_oidcc_id_token_hint => id_token_hint;
    oidcc_login_hint, formpost_oidcc_login_hint => login_hint;
    oidcc_ui_locales, formpost_oidcc_ui_locales => ui_locales;
    oidcc_claims_locales, formpost_oidcc_claims_locales => claims_locales;
    oidcc_ensure_request_with_acr_values_succeeds,
        formpost_oidcc_ensure_request_with_acr_values_succeeds => acr_values;
    oidcc_codereuse, formpost_oidcc_codereuse => codereuse;
    oidcc_codereuse_30seconds, formpost_oidcc_codereuse_30seconds => codereuse_30seconds;
    oidcc_ensure_registered_redirect_uri, formpost_oidcc_ensure_registered_redirect_uri => registered_redirect_uri;
    oidcc_ensure_post_request_succeeds, formpost_oidcc_ensure_post_request_succeeds => post_request;
    oidcc_server_client_secret_post, formpost_oidcc_server_client_secret_post => server_client_secret_post;
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
        formpost_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported => unsigned_request_object;
    oidcc_claims_essential, formpost_oidcc_claims_essential => claims_essential;
    oidcc_ensure_request_object_with_redirect_uri,
        formpost_oidcc_ensure_request_object_with_redirect_uri => request_object_with_redirect_uri;
    oidcc_refresh_token, formpost_oidcc_refresh_token => refresh_token;
    oidcc_ensure_request_with_valid_pkce_succeeds,
        formpost_oidcc_ensure_request_with_valid_pkce_succeeds => valid_pkce;
}

/// Guard for the dynamic-only modules: no registration endpoint is advertised,
/// so only the static-client variant of the plans can be run.
#[tokio::test]
async fn skip_guard_no_dynamic_registration() {
    let suite = Suite::start(Mode::Default).await;
    assert!(suite.metadata.get("registration_endpoint").is_none());
    let algs = suite.metadata["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(!algs.contains(&json!("none")), "alg none is not offered");
}

/// The happy flow most modules share: a fresh login with `request`, the code
/// exchange and the ID token checks. Returns the tokens and ID token claims.
async fn happy(
    suite: &Suite,
    browser: &mut Browser,
    request: &crate::harness::AuthRequest,
) -> (crate::harness::Tokens, crate::harness::IdClaims) {
    let rp = suite.client.clone();
    let callback = suite.login(browser, request).await;
    let tokens = suite.exchange(&rp, &callback.code()).await;
    let claims = suite.id_token(&rp, &tokens.id_token, request.get("nonce"));
    (tokens, claims)
}

async fn server(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client);
    let (tokens, claims) = happy(&suite, &mut Browser::new(), &request).await;
    // at_hash, if present, must match the access token (OIDC Core 3.1.3.6).
    if let Some(at_hash) = claims.raw.get("at_hash") {
        use base64::Engine;
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, tokens.access_token.as_bytes());
        let left_half =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
        assert_eq!(at_hash.as_str().unwrap(), left_half);
    }
    // Only openid was asked for: no name, and only ID-token claims (WARNINGs in the suite).
    let allowed = [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "at_hash",
        "c_hash",
        "sid",
        "jti",
        "nbf",
    ];
    for claim in claims.raw.as_object().unwrap().keys() {
        assert!(
            allowed.contains(&claim.as_str()),
            "unrequested claim {claim} in the ID token"
        );
    }
    let info = suite
        .userinfo(&tokens.access_token, UserinfoCall::Get)
        .await;
    assert_eq!(info["sub"], json!(claims.sub));
    assert_eq!(claims.sub, suite.sub);
}

async fn response_type_missing(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client).without("response_type");
    let answer = suite.open(&mut Browser::new(), &request).await;
    // A redirect (or POSTed form) with the error; an error page would also pass.
    let callback = suite.callback(&answer, &request);
    let error = callback.error();
    assert!(
        ["invalid_request", "unsupported_response_type"].contains(&error.as_str()),
        "{error}"
    );
}

async fn userinfo_with(mode: Mode, how: UserinfoCall) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client);
    let (tokens, claims) = happy(&suite, &mut Browser::new(), &request).await;
    let info = suite.userinfo(&tokens.access_token, how).await;
    assert_eq!(info["sub"], json!(claims.sub));
}

async fn userinfo_get(mode: Mode) {
    userinfo_with(mode, UserinfoCall::Get).await;
}

async fn userinfo_post_header(mode: Mode) {
    userinfo_with(mode, UserinfoCall::PostHeader).await;
}

async fn userinfo_post_body(mode: Mode) {
    // A non-2xx answer is only a WARNING in the suite; we support it, so require it.
    userinfo_with(mode, UserinfoCall::PostBody).await;
}

async fn without_nonce(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client).without("nonce");
    let callback = suite.login(&mut Browser::new(), &request).await;
    // The module stops once the code arrives; we also check no nonce comes back.
    let tokens = suite.exchange(&suite.client, &callback.code()).await;
    let claims = suite.id_token(&suite.client, &tokens.id_token, None);
    assert!(claims.raw.get("nonce").is_none());
}

/// oidcc-scope-*: userinfo's sub equals the ID token's; the scope's claims come back.
async fn scope(mode: Mode, scope: &str, expected: &[&str]) {
    let suite = Suite::start(mode).await;
    let scopes = suite.metadata["scopes_supported"].as_array().unwrap();
    for token in scope.split(' ') {
        assert!(
            scopes.contains(&json!(token)),
            "{token} must be advertised or the module skips"
        );
    }
    let request = suite.request(&suite.client).set("scope", scope);
    let (tokens, claims) = happy(&suite, &mut Browser::new(), &request).await;
    let info = suite
        .userinfo(&tokens.access_token, UserinfoCall::Get)
        .await;
    assert_eq!(
        info["sub"],
        json!(claims.sub),
        "userinfo sub must equal the ID token sub"
    );
    for claim in expected {
        assert!(
            info.get(*claim).is_some(),
            "{claim} missing from userinfo (suite WARNING)"
        );
    }
}

async fn scope_profile(mode: Mode) {
    scope(
        mode,
        "openid profile",
        &["name", "preferred_username", "updated_at"],
    )
    .await;
}

async fn scope_email(mode: Mode) {
    scope(mode, "openid email", &["email", "email_verified"]).await;
}

async fn scope_address(mode: Mode) {
    scope(mode, "openid address", &["address"]).await;
}

async fn scope_phone(mode: Mode) {
    scope(
        mode,
        "openid phone",
        &["phone_number", "phone_number_verified"],
    )
    .await;
}

async fn scope_all(mode: Mode) {
    scope(
        mode,
        "openid profile email address phone",
        &[
            "name",
            "given_name",
            "family_name",
            "preferred_username",
            "updated_at",
            "email",
            "email_verified",
            "address",
            "phone_number",
            "phone_number_verified",
        ],
    )
    .await;
}

async fn alternate_happy_flow(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite
        .request(&suite.client)
        .set("scope", "email openid")
        .reversed();
    let (tokens, claims) = happy(&suite, &mut Browser::new(), &request).await;
    let info = suite
        .userinfo(&tokens.access_token, UserinfoCall::Get)
        .await;
    assert_eq!(info["sub"], json!(claims.sub));
}

/// A fresh browser (cookies cleared) and one extra parameter that must not cause an error.
async fn harmless_parameter(mode: Mode, name: &str, value: &str) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client).set(name, value);
    happy(&suite, &mut Browser::new(), &request).await;
}

async fn display_page(mode: Mode) {
    harmless_parameter(mode, "display", "page").await;
}

async fn display_popup(mode: Mode) {
    harmless_parameter(mode, "display", "popup").await;
}

async fn unknown_parameter(mode: Mode) {
    harmless_parameter(mode, "extra", "foobar").await;
}

async fn ui_locales(mode: Mode) {
    harmless_parameter(mode, "ui_locales", "se").await;
}

async fn claims_locales(mode: Mode) {
    harmless_parameter(mode, "claims_locales", "se").await;
}

async fn login_hint(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client).set("login_hint", EMAIL);
    let mut browser = Browser::new();
    let page = suite.open(&mut browser, &request).await;
    assert!(
        page.body.contains(&format!("value=\"{EMAIL}\"")),
        "the hint prefills the email"
    );
    let callback = suite.login_from(&mut browser, &request, page).await;
    suite.exchange(&suite.client, &callback.code()).await;
}

async fn prompt_login(mode: Mode) {
    let suite = Suite::start(mode).await;
    let mut browser = Browser::new();
    let first_request = suite.request(&suite.client);
    let (_, first) = happy(&suite, &mut browser, &first_request).await;
    suite.server.clock.advance(1);
    let request = suite.request(&suite.client).set("prompt", "login");
    let (_, second) = happy(&suite, &mut browser, &request).await;
    assert_eq!(second.sub, first.sub);
    if let (Some(before), Some(after)) = (first.auth_time, second.auth_time) {
        assert!(
            after > before,
            "prompt=login must re-authenticate: auth_time {before} → {after}"
        );
    }
}

async fn prompt_none_not_logged_in(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite
        .request(&suite.client)
        .set("state", &long_state())
        .set("prompt", "none");
    let answer = suite.open(&mut Browser::new(), &request).await;
    let error = suite.callback(&answer, &request).error();
    assert!(LOGIN_REQUIRED_FAMILY.contains(&error.as_str()), "{error}");
}

async fn prompt_none_logged_in(mode: Mode) {
    let suite = Suite::start(mode).await;
    let mut browser = Browser::new();
    let (_, first) = happy(&suite, &mut browser, &suite.request(&suite.client)).await;
    let request = suite.request(&suite.client).set("prompt", "none");
    let callback = suite.without_login(&mut browser, &request).await;
    let tokens = suite.exchange(&suite.client, &callback.code()).await;
    let second = suite.id_token(&suite.client, &tokens.id_token, request.get("nonce"));
    assert_eq!(second.sub, first.sub);
    assert_eq!(second.auth_time, first.auth_time);
}

async fn max_age_1(mode: Mode) {
    let suite = Suite::start(mode).await;
    let mut browser = Browser::new();
    let (_, first) = happy(&suite, &mut browser, &suite.request(&suite.client)).await;
    suite.server.clock.advance(2);
    let request = suite.request(&suite.client).set("max_age", "1");
    let (_, second) = happy(&suite, &mut browser, &request).await;
    let after = second
        .auth_time
        .expect("auth_time is required with max_age");
    assert!(
        after > first.auth_time.unwrap_or(i64::MIN),
        "a new authentication"
    );
    assert!(suite.now() - after <= 300, "a recent authentication");
}

async fn max_age_10000(mode: Mode) {
    let suite = Suite::start(mode).await;
    let mut browser = Browser::new();
    let first_request = suite.request(&suite.client).set("max_age", "15000");
    let (_, first) = happy(&suite, &mut browser, &first_request).await;
    let first_time = first.auth_time.expect("auth_time is required with max_age");
    suite.server.clock.advance(2);
    let request = suite.request(&suite.client).set("max_age", "10000");
    let callback = suite.without_login(&mut browser, &request).await;
    let tokens = suite.exchange(&suite.client, &callback.code()).await;
    let second = suite.id_token(&suite.client, &tokens.id_token, request.get("nonce"));
    assert_eq!(second.auth_time, Some(first_time), "no new authentication");
    assert_eq!(second.sub, first.sub);
}

async fn id_token_hint(mode: Mode) {
    let suite = Suite::start(mode).await;
    let mut browser = Browser::new();
    let (tokens, first) = happy(&suite, &mut browser, &suite.request(&suite.client)).await;
    let request = suite
        .request(&suite.client)
        .set("prompt", "none")
        .set("id_token_hint", &tokens.id_token);
    let callback = suite.without_login(&mut browser, &request).await;
    let tokens = suite.exchange(&suite.client, &callback.code()).await;
    let second = suite.id_token(&suite.client, &tokens.id_token, request.get("nonce"));
    assert_eq!(second.sub, first.sub);
    assert_eq!(second.auth_time, first.auth_time);
}

async fn acr_values(mode: Mode) {
    let suite = Suite::start(mode).await;
    let supported: Vec<&str> = suite.metadata["acr_values_supported"]
        .as_array()
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["1", "2"]);
    let request = suite
        .request(&suite.client)
        .set("acr_values", &supported.join(" "));
    let (_, claims) = happy(&suite, &mut Browser::new(), &request).await;
    let acr = claims.raw["acr"]
        .as_str()
        .expect("acr (suite WARNING if missing)");
    assert!(
        supported.contains(&acr),
        "acr {acr} was not requested (suite WARNING)"
    );
}

/// Logs in, redeems the code, waits `wait` seconds and presents the code again.
async fn reuse_after(mode: Mode, wait: i64) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client);
    let callback = suite.login(&mut Browser::new(), &request).await;
    let code = callback.code();
    let tokens = suite.exchange(&suite.client, &code).await;
    suite.server.clock.advance(wait);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let replay = suite.token(&suite.client, &form).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{}", replay.body);
    assert_eq!(replay.body["error"], "invalid_grant");
    // The tokens of the first redemption should be revoked (suite WARNING).
    let (status, _) = suite
        .userinfo_raw(&tokens.access_token, UserinfoCall::Get)
        .await;
    assert_ne!(status, StatusCode::OK, "the first access token still works");
}

async fn codereuse(mode: Mode) {
    reuse_after(mode, 0).await;
}

async fn codereuse_30seconds(mode: Mode) {
    reuse_after(mode, 30).await;
}

async fn registered_redirect_uri(mode: Mode) {
    let suite = Suite::start(mode).await;
    let wrong = format!("{CALLBACK}/{}", crate::harness::random_value());
    let request = suite.request(&suite.client).set("redirect_uri", &wrong);
    let page = suite.open(&mut Browser::new(), &request).await;
    assert!(page.status.is_client_error(), "{}", page.status);
    assert_error_page(&page, &[CALLBACK]);
}

async fn post_request(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite.request(&suite.client);
    let mut browser = Browser::new();
    let pairs: Vec<(&str, &str)> = request
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let endpoint = suite.metadata["authorization_endpoint"].as_str().unwrap();
    let page = browser.post(endpoint, &pairs).await;
    let callback = suite.login_from(&mut browser, &request, page).await;
    let tokens = suite.exchange(&suite.client, &callback.code()).await;
    suite.id_token(&suite.client, &tokens.id_token, request.get("nonce"));
}

async fn server_client_secret_post(mode: Mode) {
    let suite = Suite::start(mode).await;
    let rp = suite.client_post.clone();
    let request = suite.request(&rp);
    let callback = suite.login(&mut Browser::new(), &request).await;
    let tokens = suite.exchange(&rp, &callback.code()).await;
    let claims = suite.id_token(&rp, &tokens.id_token, request.get("nonce"));
    let info = suite
        .userinfo(&tokens.access_token, UserinfoCall::Get)
        .await;
    assert_eq!(info["sub"], json!(claims.sub));
}

/// An unsigned (`alg: none`) request object with `claims`.
fn alg_none_jwt(claims: &Value) -> String {
    use base64::Engine;
    let encode = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    format!("{}.{}.", encode(&json!({"alg": "none"})), encode(claims))
}

/// The request object the suite builds from `request`: every parameter; the
/// query then keeps only response_type, client_id, scope and redirect_uri.
fn request_object_for(suite: &Suite, request: &crate::harness::AuthRequest) -> String {
    let mut claims = serde_json::Map::new();
    for (k, v) in &request.params {
        claims.insert(k.clone(), json!(v));
    }
    claims.insert("iss".into(), json!(suite.client.id));
    claims.insert("aud".into(), json!(suite.issuer()));
    alg_none_jwt(&Value::Object(claims))
}

async fn unsigned_request_object(mode: Mode) {
    let suite = Suite::start(mode).await;
    let full = suite.request(&suite.client);
    let object = request_object_for(&suite, &full);
    let query = full
        .clone()
        .without("state")
        .without("nonce")
        .set("request", &object);
    let answer = suite.open(&mut Browser::new(), &query).await;
    // Not supported: the OP must say request_not_supported (the suite then
    // SKIPs the module). State lives only in the object, so none is echoed.
    let callback = suite.callback(&answer, &query);
    assert_eq!(callback.error(), "request_not_supported");
    assert_eq!(
        suite.metadata["request_parameter_supported"],
        json!(false),
        "discovery must agree"
    );
}

async fn claims_essential(mode: Mode) {
    let suite = Suite::start(mode).await;
    let request = suite
        .request(&suite.client)
        .set("claims", r#"{"userinfo":{"name":{"essential":true}}}"#);
    let (tokens, claims) = happy(&suite, &mut Browser::new(), &request).await;
    assert!(
        claims.raw.get("name").is_none(),
        "name must not be in the ID token (WARNING)"
    );
    let info = suite
        .userinfo(&tokens.access_token, UserinfoCall::Get)
        .await;
    assert_eq!(info["sub"], json!(claims.sub));
    // Asked for with the claims parameter (the scope is only openid).
    assert_eq!(info["name"], json!("Buffy Summers"), "{info}");
    assert_eq!(suite.metadata["claims_parameter_supported"], json!(true));
}

async fn request_object_with_redirect_uri(mode: Mode) {
    let suite = Suite::start(mode).await;
    let full = suite.request(&suite.client);
    let object = request_object_for(&suite, &full);
    let invalid = format!("{CALLBACK}_invalid");
    let query = full
        .clone()
        .without("state")
        .without("nonce")
        .set("redirect_uri", &invalid)
        .set("request", &object);
    let page = suite.open(&mut Browser::new(), &query).await;
    // Request objects are not supported, so the query's (unregistered)
    // redirect_uri decides: an error page, never a redirect with request_not_supported.
    assert!(page.status.is_client_error(), "{}", page.status);
    assert_error_page(&page, &[CALLBACK, &invalid]);
}

async fn refresh_token(mode: Mode) {
    let suite = Suite::start(mode).await;
    let mut browser = Browser::new();
    let scopes = suite.metadata["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!("offline_access")));
    let scope = "openid offline_access";
    let rp = suite.client.clone();
    let request = suite
        .request(&rp)
        .set("scope", scope)
        .set("prompt", "consent");
    let callback = suite.login(&mut browser, &request).await;
    let tokens = suite.exchange(&rp, &callback.code()).await;
    let first = suite.id_token(&rp, &tokens.id_token, request.get("nonce"));
    let refresh = tokens
        .refresh_token
        .clone()
        .expect("a refresh token (else SKIPPED)");
    assert!(
        refresh.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "RFC 6749 A.17"
    );

    suite.server.clock.advance(1);
    let reply = suite
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", scope),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_token_response(&reply);
    let access = reply.body["access_token"].as_str().unwrap();
    assert_strong("access token", access);
    assert!(access.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    if let Some(rotated) = reply.body["refresh_token"].as_str() {
        assert_strong("refresh token", rotated);
    }
    if let Some(id_token) = reply.body["id_token"].as_str() {
        let refreshed = suite.id_token(&rp, id_token, None);
        assert_eq!(refreshed.raw["iss"], first.raw["iss"]);
        assert_eq!(refreshed.sub, first.sub);
        assert_eq!(refreshed.raw["aud"], first.raw["aud"]);
        assert_ne!(refreshed.iat, first.iat, "a new ID token has a new iat");
        assert_eq!(refreshed.auth_time, first.auth_time, "auth_time is kept");
        assert_eq!(refreshed.raw.get("azp"), first.raw.get("azp"));
        assert_eq!(jwt_part(id_token, 0)["alg"], "RS256");
    }

    // client2's refresh token presented with client1's credentials: invalid_grant.
    let rp2 = suite.client2.clone();
    let request2 = suite
        .request(&rp2)
        .set("scope", scope)
        .set("prompt", "consent");
    let callback2 = suite.without_login(&mut browser, &request2).await;
    let tokens2 = suite.exchange(&rp2, &callback2.code()).await;
    let refresh2 = tokens2.refresh_token.expect("a refresh token for client2");
    let stolen = suite
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh2),
                ("scope", scope),
            ],
        )
        .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);
    assert_eq!(stolen.body["error"], "invalid_grant");
}

async fn valid_pkce(mode: Mode) {
    let suite = Suite::start(mode).await;
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let request = suite
        .request(&suite.client)
        .set("code_challenge", challenge.as_str())
        .set("code_challenge_method", "S256");
    let callback = suite.login(&mut Browser::new(), &request).await;
    let tokens = suite
        .exchange_with(
            &suite.client,
            &callback.code(),
            &[("code_verifier", verifier.secret())],
        )
        .await;
    suite.id_token(&suite.client, &tokens.id_token, request.get("nonce"));
}
