//! A person's live browser sessions: the per-person index kept beside the
//! sessions on either cache, listed and ended one by one through the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::browser::Browser;
use common::flow::{self, redeem, refresh};
use common::{TestServer, json_body};
use gatehouse::login::session;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

async fn sessions(server: &TestServer, admin: &str, user_id: &str) -> Vec<Value> {
    let r = server
        .http
        .get(server.url(&format!("/admin/users/{user_id}/sessions")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    json_body(r, StatusCode::OK)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn end(server: &TestServer, admin: &str, user_id: &str, sid: &str) -> StatusCode {
    server
        .http
        .delete(server.url(&format!("/admin/users/{user_id}/sessions/{sid}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .status()
}

/// Whether `browser`'s session still signs it in: `/authorize` answers with a
/// code rather than the sign-in page.
async fn still_signed_in(server: &TestServer, browser: &mut Browser, client_id: &str) -> bool {
    let url = flow::authorize_url(server, client_id, "openid", &"v".repeat(50));
    browser.get(&url).await.status == StatusCode::FOUND
}

#[tokio::test]
async fn an_admin_lists_a_persons_sessions_and_ends_one_with_its_online_tokens() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid offline_access").await;

    let mut laptop = Browser::with_user_agent(FIREFOX);
    let laptop_code = flow::code(&server, &mut laptop, &id, "openid").await;
    let laptop_tokens = json_body(
        redeem(&server, &id, &secret, &laptop_code).await,
        StatusCode::OK,
    )
    .await;
    server.clock.advance(120);
    let admin = server.admin_token().await;
    let mut phone = Browser::with_user_agent(SAFARI);
    let phone_code = flow::code(&server, &mut phone, &id, "openid").await;
    let phone_tokens = json_body(
        redeem(&server, &id, &secret, &phone_code).await,
        StatusCode::OK,
    )
    .await;

    let listed = sessions(&server, &admin, &user_id).await;
    let devices: Vec<&str> = listed
        .iter()
        .map(|s| s["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        devices,
        ["Safari on iPhone", "Firefox on Linux"],
        "most recent first: {listed:?}"
    );
    assert_eq!(listed[0]["ip"], "127.0.0.1");
    assert_eq!(listed[0]["methods"], serde_json::json!(["pwd"]));
    let phone_sid = listed[0]["session_id"].as_str().unwrap().to_owned();

    assert_eq!(
        end(&server, &admin, &user_id, &phone_sid).await,
        StatusCode::NO_CONTENT
    );
    assert!(
        !still_signed_in(&server, &mut phone, &id).await,
        "the ended session still signs in"
    );
    let phone_refresh = phone_tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        json_body(
            refresh(&server, &id, &secret, phone_refresh).await,
            StatusCode::BAD_REQUEST
        )
        .await["error"],
        "invalid_grant",
        "a refresh token of the ended session still works"
    );
    assert!(
        still_signed_in(&server, &mut laptop, &id).await,
        "the other session ended too"
    );
    let laptop_refresh = laptop_tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        refresh(&server, &id, &secret, laptop_refresh)
            .await
            .status(),
        StatusCode::OK
    );

    let listed = sessions(&server, &admin, &user_id).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["device"], "Firefox on Linux");
    assert_eq!(
        end(&server, &admin, &user_id, &phone_sid).await,
        StatusCode::NOT_FOUND
    );
    let other = server
        .seed_user(serde_json::json!({"email": "other@example.com", "password": flow::PASSWORD}))
        .await;
    let laptop_sid = listed[0]["session_id"].as_str().unwrap();
    assert_eq!(
        end(&server, &admin, &other, laptop_sid).await,
        StatusCode::NOT_FOUND,
        "a session is ended only under its own person"
    );
    // The audit log, filtered by person, shows the ending; no one else's.
    let audit = |query: String| {
        let (server, admin) = (&server, &admin);
        async move {
            let r = server
                .http
                .get(server.url(&format!("/admin/audit-events?{query}")))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            json_body(r, StatusCode::OK).await
        }
    };
    let mine = audit(format!("user_id={user_id}")).await;
    assert_eq!(mine[0]["kind"], "session_ended", "{mine}");
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|e| e["user_id"] == user_id.as_str())
    );
    assert_eq!(audit(format!("user_id={other}")).await, json!([]));
    assert_eq!(audit("user_id=%00".to_owned()).await, json!([]));
    let r = server
        .http
        .get(server.url("/admin/users/nobody/sessions"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The session ids the person's index holds.
async fn indexed(server: &TestServer, index: &str) -> Vec<String> {
    server.state.cache.set_members(index).await.unwrap()
}

#[tokio::test]
async fn logout_timeouts_and_sign_out_everywhere_take_sessions_off_the_list() {
    let server = TestServer::start_with(|c| c.session_idle_timeout_secs = 120).await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let admin = server.admin_token().await;
    let index = format!("sessions-of:{user_id}");

    // Logout: off the list and out of the index at once.
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid").await;
    let tokens = json_body(redeem(&server, &id, &secret, &code).await, StatusCode::OK).await;
    assert_eq!(sessions(&server, &admin, &user_id).await.len(), 1);
    let hint = tokens["id_token"].as_str().unwrap();
    let _ = browser
        .get(&format!("{}/logout?id_token_hint={hint}", server.base))
        .await;
    assert!(sessions(&server, &admin, &user_id).await.is_empty());
    assert!(indexed(&server, &index).await.is_empty());

    // Idle timeout: off the list (its id stays in the set until the session's
    // absolute timeout, within the per-person cap).
    let mut browser = Browser::new();
    let _ = flow::code(&server, &mut browser, &id, "openid").await;
    server.clock.advance(121);
    let admin = server.admin_token().await;
    assert!(sessions(&server, &admin, &user_id).await.is_empty());

    // Sign out everywhere: every session is off the list.
    for _ in 0..3 {
        let mut browser = Browser::new();
        let _ = flow::code(&server, &mut browser, &id, "openid").await;
    }
    assert_eq!(sessions(&server, &admin, &user_id).await.len(), 3);
    let r = server
        .http
        .post(server.url(&format!("/admin/users/{user_id}/sign-out")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(sessions(&server, &admin, &user_id).await.is_empty());
}

fn cookie_key(value: &str) -> String {
    format!(
        "session:{}",
        URL_SAFE_NO_PAD.encode(gatehouse::crypto::secret::hash_secret(value))
    )
}

fn headers_of(browser: &Browser) -> HeaderMap {
    let cookie = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
    headers
}

/// Listing a person's sessions while they sign in never loses the new one.
/// (It once did: the listing dropped an id whose record was not written yet.)
#[tokio::test]
async fn a_listing_racing_a_sign_in_never_loses_the_new_session() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let mut lost = 0;
    let trials = 60;
    for _ in 0..trials {
        let headers = HeaderMap::new();
        let (_, started) = tokio::join!(
            async {
                tokio::task::yield_now().await;
                server.state.sessions().list(&user_id).await.ok()
            },
            session::start(
                &server.state,
                &headers,
                &user_id,
                0,
                vec!["pwd".into()],
                "127.0.0.1",
            ),
        );
        let (started, _) = started.unwrap();
        let listed = server.state.sessions().list(&user_id).await.ok().unwrap();
        if !listed.iter().any(|s| s.sid == started.sid) {
            lost += 1;
        }
    }
    assert_eq!(
        lost, 0,
        "{lost}/{trials} live sessions missing from the list"
    );
}

/// A person has at most [`gatehouse::sessions::MAX_SESSIONS_PER_PERSON`] sessions: one
/// more sign-in ends the oldest, so the per-person set stays bounded whatever
/// one account does. (Once, ids of timed-out sessions stayed forever.)
#[tokio::test]
async fn one_sign_in_beyond_the_cap_ends_the_oldest_session() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let headers = HeaderMap::new();
    let mut sids = Vec::new();
    for _ in 0..=gatehouse::sessions::MAX_SESSIONS_PER_PERSON {
        let (started, _) = session::start(
            &server.state,
            &headers,
            &user_id,
            0,
            vec!["pwd".into()],
            "x",
        )
        .await
        .unwrap();
        sids.push(started.sid);
    }
    let kept = server
        .state
        .cache
        .set_members(&format!("sessions-of:{user_id}"))
        .await
        .unwrap();
    assert_eq!(kept.len(), gatehouse::sessions::MAX_SESSIONS_PER_PERSON);
    assert!(!kept.contains(&sids[0]), "the oldest is out of the set");
    assert!(
        !server.state.sessions().is_live_sid(&sids[0]).await.unwrap(),
        "the oldest session was ended"
    );
    assert!(server.state.sessions().is_live_sid(&sids[1]).await.unwrap());
    let listed = server.state.sessions().list(&user_id).await.unwrap();
    assert_eq!(listed.len(), gatehouse::sessions::MAX_SESSIONS_PER_PERSON);
}

/// Odd ids in the admin paths answer JSON errors, never 500 or
/// plain text (a NUL once reached PostgreSQL and came back as 503).
#[tokio::test]
async fn odd_ids_in_the_admin_session_paths_answer_json() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let admin = server.admin_token().await;
    let long = "a".repeat(4000);
    let odd = [
        "%00",
        "%FF",
        "..%2F..",
        "%20",
        &long,
        "session-sid:x",
        "%E2%80%AE",
    ];
    let mut bad = Vec::new();
    for o in odd {
        for (method, path) in [
            ("GET", format!("/admin/users/{o}/sessions")),
            ("DELETE", format!("/admin/users/{user_id}/sessions/{o}")),
            ("DELETE", format!("/admin/users/{o}/sessions/{o}")),
            // The same extractor guards every admin path id.
            ("GET", format!("/admin/users/{o}")),
            ("GET", format!("/admin/clients/{o}")),
            ("DELETE", format!("/admin/clients/{o}")),
        ] {
            let request = match method {
                "GET" => server.http.get(server.url(&path)),
                _ => server.http.delete(server.url(&path)),
            };
            let r = request.bearer_auth(&admin).send().await.unwrap();
            let status = r.status();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = r.text().await.unwrap();
            if status.is_server_error() || !ctype.contains("json") {
                bad.push(format!(
                    "{method} {} -> {status} {ctype} {body:.80}",
                    &path[..path.len().min(60)]
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Rewrites `browser`'s session the way the previous release kept it: the whole
/// record under the cookie's key, `{c,l}` under its id, no per-person set entry.
async fn to_previous_layout(server: &TestServer, browser: &Browser, user_id: &str) {
    for value in browser.cookies.values() {
        let ck = cookie_key(value);
        let Some(sid) = server.state.cache.get(&ck).await.unwrap() else {
            continue;
        };
        let sid = String::from_utf8(sid).unwrap();
        let sk = format!("session-sid:{sid}");
        let bytes = server.state.cache.get(&sk).await.unwrap().unwrap();
        let mut record: Value = serde_json::from_slice(&bytes).unwrap();
        let fields = record.as_object_mut().unwrap();
        fields.remove("i");
        fields.remove("d");
        let index = json!({"c": fields["c"], "l": fields["l"]});
        let cache = &server.state.cache;
        cache
            .put(&ck, &serde_json::to_vec(&record).unwrap(), 3600)
            .await
            .unwrap();
        cache
            .put(&sk, &serde_json::to_vec(&index).unwrap(), 3600)
            .await
            .unwrap();
        cache
            .set_remove(
                &format!("sessions-of:{user_id}"),
                std::slice::from_ref(&sid),
            )
            .await
            .unwrap();
        return;
    }
    panic!("no session cookie");
}

/// A session kept in the previous release's layout is over after the upgrade:
/// its browser signs in again, and its online refresh token ends with it, even
/// when its logout or a new sign-in races its first request. (Adopting such
/// sessions once let a racing request write one back after its logout.)
#[tokio::test]
async fn a_session_from_before_the_upgrade_is_over_with_what_was_tied_to_it() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let mut browser = Browser::new();
    let code = flow::code(&server, &mut browser, &id, "openid").await;
    let tokens = json_body(redeem(&server, &id, &secret, &code).await, StatusCode::OK).await;
    to_previous_layout(&server, &browser, &user_id).await;
    let headers = headers_of(&browser);
    let (current, ended) = tokio::join!(
        session::current(&server.state, &headers),
        session::end(&server.state, &headers)
    );
    assert!(current.unwrap().is_none());
    assert!(ended.unwrap().0.is_none());
    assert!(!still_signed_in(&server, &mut browser, &id).await);
    let online = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        json_body(
            refresh(&server, &id, &secret, online).await,
            StatusCode::BAD_REQUEST
        )
        .await["error"],
        "invalid_grant"
    );
}

/// On Redis, a set key of another type (a plain set an earlier build wrote) is
/// replaced, never a WRONGTYPE error that keeps its person from signing in.
#[tokio::test]
async fn a_person_with_a_previous_release_session_set_can_still_sign_in() {
    let server = TestServer::start().await;
    let Some((url, namespace)) = server.db().redis.clone() else {
        eprintln!("needs TEST_REDIS_URL");
        return;
    };
    let user_id = flow::seed_user(&server).await;
    // What the previous release's SET_ADD_SCRIPT left behind.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{namespace}sessions-of:{user_id}");
    let _: () = redis::cmd("SADD")
        .arg(&key)
        .arg("old-sid")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("EXPIRE")
        .arg(&key)
        .arg(43_200)
        .query_async(&mut conn)
        .await
        .unwrap();

    let started = session::start(
        &server.state,
        &HeaderMap::new(),
        &user_id,
        0,
        vec!["pwd".into()],
        "127.0.0.1",
    )
    .await;
    assert!(
        started.is_ok(),
        "sign-in after upgrade failed: {:?}",
        started.err()
    );
    let listed = server.state.sessions().list(&user_id).await;
    assert!(
        listed.is_ok(),
        "listing after upgrade failed: {:?}",
        listed.err()
    );
}

/// Concurrent sign-ins of one person never leave a live session missing from
/// their list or beyond the cap. (Once, a session crowded out before its record
/// was written was written anyway: live, unlisted, uncounted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_crowded_out_while_being_written_does_not_survive() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let n = gatehouse::sessions::MAX_SESSIONS_PER_PERSON * 3;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let state = server.state.clone();
        let user_id = user_id.clone();
        set.spawn(async move {
            session::start(
                &state,
                &HeaderMap::new(),
                &user_id,
                0,
                vec!["pwd".into()],
                "x",
            )
            .await
            .ok()
            .map(|(session, _)| session.sid)
        });
    }
    let sids: Vec<String> = set.join_all().await.into_iter().flatten().collect();
    let listed: Vec<String> = server
        .state
        .sessions()
        .list(&user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    let mut hidden = 0;
    let mut live = 0;
    for sid in &sids {
        if server.state.sessions().is_live_sid(sid).await.unwrap() {
            live += 1;
            if !listed.contains(sid) {
                hidden += 1;
            }
        }
    }
    assert_eq!(
        hidden,
        0,
        "{live} live sessions (cap {}), {hidden} of them missing from the list",
        gatehouse::sessions::MAX_SESSIONS_PER_PERSON
    );
    assert!(
        live <= gatehouse::sessions::MAX_SESSIONS_PER_PERSON,
        "{live} live sessions"
    );
}

/// The CLI lists and ends a person's sessions through the same functions as
/// the admin API when the cache is shared (Redis); with the embedded cache,
/// where sessions live in the server's memory, it says so and changes nothing.
#[tokio::test]
async fn the_cli_lists_and_ends_sessions_on_the_shared_cache() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, _) = flow::web_app(&server, "openid").await;
    let mut browser = Browser::with_user_agent(FIREFOX);
    let _ = flow::code(&server, &mut browser, &id, "openid").await;

    let listed = server.cli(&["user", "sessions", &user_id, "--json"]);
    if server.db().redis.is_none() {
        assert!(!listed.status.success());
        let stderr = String::from_utf8_lossy(&listed.stderr);
        assert!(stderr.contains("embedded cache"), "{stderr}");
        assert!(still_signed_in(&server, &mut browser, &id).await);
        return;
    }
    let listed = common::cli_json(&listed);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["device"], "Firefox on Linux");
    let sid = listed[0]["session_id"].as_str().unwrap();
    let ended = server.cli(&["user", "end-session", &user_id, sid]);
    assert!(
        ended.status.success(),
        "{}",
        String::from_utf8_lossy(&ended.stderr)
    );
    assert!(!still_signed_in(&server, &mut browser, &id).await);
    let again = server.cli(&["user", "end-session", &user_id, sid]);
    assert!(!again.status.success(), "ending it twice is an error");
}

/// Ending a session is finished by sending it again: when the grants'
/// revocation fails after the session ended, the retry revokes them (the
/// access token stops introspecting as active) and the session stays ended.
#[tokio::test]
async fn ending_a_session_that_failed_halfway_is_finished_by_a_retry() {
    let server = TestServer::start().await;
    let user_id = flow::seed_user(&server).await;
    let (id, secret) = flow::web_app(&server, "openid").await;
    let admin = server.admin_token().await;
    let mut phone = Browser::with_user_agent(SAFARI);
    let code = flow::code(&server, &mut phone, &id, "openid").await;
    let tokens = json_body(redeem(&server, &id, &secret, &code).await, StatusCode::OK).await;
    let access = tokens["access_token"].as_str().unwrap();
    let sid = sessions(&server, &admin, &user_id).await[0]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    flow::break_writes(&server, "audit_events", "insert").await;
    assert_eq!(
        end(&server, &admin, &user_id, &sid).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(
        !still_signed_in(&server, &mut phone, &id).await,
        "the session ended before its grants"
    );
    assert!(
        flow::is_active(&server, &id, &secret, access).await,
        "the failed revocation changed nothing durable"
    );

    flow::heal(&server, "audit_events", "insert").await;
    assert_eq!(
        end(&server, &admin, &user_id, &sid).await,
        StatusCode::NO_CONTENT
    );
    assert!(
        !flow::is_active(&server, &id, &secret, access).await,
        "the retry left the session's access token active"
    );
    assert_eq!(
        end(&server, &admin, &user_id, &sid).await,
        StatusCode::NOT_FOUND,
        "nothing is left to end"
    );
}
