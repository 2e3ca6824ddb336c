//! The browser session: a small server-side record in the cache, found through
//! a 256-bit random id in a cookie; only the id's hash is a cache key. Idle and
//! absolute timeouts are checked against the injectable clock; the id changes
//! at every sign-in (DESIGN.md rules 1 and 10).
//!
//! Beside each session the cache keeps a tiny index entry under its public
//! `sid` (begin and last use, same TTL, written with it), so what was issued in
//! a session — codes, refresh tokens without `offline_access` — can ask in one
//! cache read whether the session is still live.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::FlowError;
use super::cookies::CookieKind;
use crate::app::AppState;
use crate::cache::{CacheError, Retention};
use crate::clock::UnixTime;
use crate::crypto::secret::{hash_secret, new_secret, random_id};

/// Seconds between writes that only refresh `last_seen`.
const TOUCH_INTERVAL: i64 = 60;

/// What the server remembers about a signed-in browser (≈ 150 bytes as JSON);
/// everything else is loaded on demand.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The person.
    #[serde(rename = "u")]
    pub user_id: String,
    /// Public session id, shared with clients as the ID token's `sid`.
    #[serde(rename = "s")]
    pub sid: String,
    /// When the person authenticated.
    #[serde(rename = "a")]
    pub auth_time: UnixTime,
    /// When the session began.
    #[serde(rename = "c")]
    pub created_at: UnixTime,
    /// Last time it was used.
    #[serde(rename = "l")]
    pub last_seen: UnixTime,
    /// How the person authenticated (RFC 8176), e.g. `["pwd"]`.
    #[serde(rename = "m")]
    pub amr: Vec<String>,
    /// Truncated hash of the client IP at sign-in.
    #[serde(rename = "i")]
    pub ip_hash: String,
    /// Truncated hash of the user agent at sign-in.
    #[serde(rename = "g")]
    pub agent_hash: String,
    /// The person's sign-out count when the session began: a sign-out
    /// everywhere ends it by moving the count on
    /// ([`crate::store::AccountStanding::allows`]). [`UNCOUNTED`] in a record
    /// written before sign-outs were counted, until its first use records
    /// the count.
    #[serde(rename = "o", default = "uncounted")]
    pub sign_outs: i64,
}

/// The sign-out count of a session recorded before sign-outs were counted.
pub const UNCOUNTED: i64 = -1;

fn uncounted() -> i64 {
    UNCOUNTED
}

fn cache_key(cookie_value: &str) -> String {
    format!(
        "session:{}",
        URL_SAFE_NO_PAD.encode(hash_secret(cookie_value))
    )
}

fn sid_key(sid: &str) -> String {
    format!("session-sid:{sid}")
}

/// The index entry under a session's `sid`: enough to tell whether it is live.
#[derive(Serialize, Deserialize)]
struct SidEntry {
    #[serde(rename = "c")]
    created_at: UnixTime,
    #[serde(rename = "l")]
    last_seen: UnixTime,
}

fn short_hash(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(hash_secret(value).get(..8).unwrap_or_default())
}

/// Whether a session begun at `created_at` and last used at `last_seen` is
/// within both its idle and absolute timeouts at `now`.
fn is_live(state: &AppState, created_at: UnixTime, last_seen: UnixTime, now: UnixTime) -> bool {
    now - last_seen <= state.config.session_idle_timeout_secs
        && now - created_at <= state.config.session_absolute_timeout_secs
}

impl Session {
    fn is_live(&self, state: &AppState, now: UnixTime) -> bool {
        is_live(state, self.created_at, self.last_seen, now)
    }

    fn ttl(&self, state: &AppState, now: UnixTime) -> u64 {
        let absolute_left = self
            .created_at
            .saturating_add(state.config.session_absolute_timeout_secs)
            .saturating_sub(now);
        u64::try_from(
            state
                .config
                .session_idle_timeout_secs
                .min(absolute_left)
                .max(1),
        )
        .unwrap_or(1)
    }
}

/// Starts a session for `user_id`, ending the browser's previous one (the id is
/// never reused across sign-ins). `sign_outs` is the person's sign-out count
/// read together with the credential just checked ([`crate::users::FoundUser`]),
/// so a sign-out everywhere committed since that read — a password change
/// racing this sign-in — ends this session too. Returns it with the
/// `Set-Cookie` to send.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    user_id: &str,
    sign_outs: i64,
    amr: Vec<String>,
    client_ip: &str,
) -> Result<(Session, Option<HeaderValue>), FlowError> {
    let policy = state.cookies;
    if let Some(previous) = policy.get(headers, CookieKind::Session) {
        discard(state, &cache_key(&previous)).await?;
    }
    let now = state.clock.now();
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let session = Session {
        user_id: user_id.to_owned(),
        sid: random_id(22)?,
        auth_time: now,
        created_at: now,
        last_seen: now,
        amr,
        ip_hash: short_hash(client_ip),
        agent_hash: short_hash(agent),
        sign_outs,
    };
    let secret = new_secret()?;
    store(state, &secret, &session, now).await?;
    let cookie = policy.set(
        CookieKind::Session,
        &secret,
        state.config.session_absolute_timeout_secs,
    );
    Ok((session, cookie))
}

async fn store(
    state: &AppState,
    secret: &str,
    session: &Session,
    now: UnixTime,
) -> Result<(), CacheError> {
    let (record, index, ttl) = encode(state, session, now);
    state.cache.put(&sid_key(&session.sid), &index, ttl).await?;
    state.cache.put(&cache_key(secret), &record, ttl).await
}

/// The session record, its `sid` index entry, and their TTL.
fn encode(state: &AppState, session: &Session, now: UnixTime) -> (Vec<u8>, Vec<u8>, u64) {
    let record = serde_json::to_vec(session).unwrap_or_default();
    let entry = SidEntry {
        created_at: session.created_at,
        last_seen: session.last_seen,
    };
    let index = serde_json::to_vec(&entry).unwrap_or_default();
    (record, index, session.ttl(state, now))
}

/// Refreshes a live session's record, then its `sid` index entry, each only if
/// it is still there: a sign-out racing this request removes them, and the
/// refresh never writes them back. Returns whether the session still exists.
async fn touch(
    state: &AppState,
    secret: &str,
    session: &Session,
    now: UnixTime,
) -> Result<bool, CacheError> {
    let (record, index, ttl) = encode(state, session, now);
    if !state
        .cache
        .replace(&cache_key(secret), &record, ttl, Retention::Keep)
        .await?
    {
        return Ok(false);
    }
    state
        .cache
        .replace(&sid_key(&session.sid), &index, ttl, Retention::Keep)
        .await
}

/// Removes the session under `key` and its `sid` index entry; returns it.
async fn discard(state: &AppState, key: &str) -> Result<Option<Session>, CacheError> {
    let ended = state
        .cache
        .take(key)
        .await?
        .and_then(|bytes| serde_json::from_slice::<Session>(&bytes).ok());
    if let Some(session) = &ended {
        state.cache.delete(&sid_key(&session.sid)).await?;
    }
    Ok(ended)
}

/// Whether the session with public id `sid` is still live: not logged out,
/// within its idle and absolute timeouts. One cache read, for the token
/// endpoint; whether the account still allows what was issued in it is the
/// caller's check ([`crate::store::AccountStanding::allows`]).
pub async fn is_live_sid(state: &AppState, sid: &str) -> Result<bool, CacheError> {
    let Some(bytes) = state.cache.get(&sid_key(sid)).await? else {
        return Ok(false);
    };
    let Ok(entry) = serde_json::from_slice::<SidEntry>(&bytes) else {
        return Ok(false);
    };
    Ok(is_live(
        state,
        entry.created_at,
        entry.last_seen,
        state.clock.now(),
    ))
}

/// The live session of this browser, if any; refreshes its idle timer.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, CacheError> {
    let policy = state.cookies;
    let Some(secret) = policy.get(headers, CookieKind::Session) else {
        return Ok(None);
    };
    let key = cache_key(&secret);
    let Some(bytes) = state.cache.get(&key).await? else {
        return Ok(None);
    };
    let Ok(mut session) = serde_json::from_slice::<Session>(&bytes) else {
        state.cache.delete(&key).await?;
        return Ok(None);
    };
    let now = state.clock.now();
    let counted = if session.is_live(state, now) {
        allowed_count(state, &session).await
    } else {
        None
    };
    let Some(sign_outs) = counted else {
        discard(state, &key).await?;
        return Ok(None);
    };
    let recount = sign_outs != session.sign_outs;
    session.sign_outs = sign_outs;
    if recount || now - session.last_seen >= TOUCH_INTERVAL {
        session.last_seen = now;
        if !touch(state, &secret, &session, now).await? {
            // Signed out while this request was checking it.
            return Ok(None);
        }
    }
    Ok(Some(session))
}

/// The sign-out count under which the person may still use this session —
/// the account is active and was not signed out everywhere since the session
/// began — or `None` when they may not. For a session recorded before
/// sign-outs were counted, the account's current count when the old rule
/// allows it.
async fn allowed_count(state: &AppState, session: &Session) -> Option<i64> {
    let standing = match state.store.account_standing(&session.user_id).await {
        Ok(standing) => standing?,
        Err(e) => {
            tracing::warn!(error = %e, "could not check the session's account; treating it as signed out");
            return None;
        }
    };
    if session.sign_outs == UNCOUNTED {
        return standing
            .allows_uncounted(session.created_at)
            .then_some(standing.sign_outs);
    }
    standing
        .allows(session.sign_outs)
        .then_some(session.sign_outs)
}

/// Ends this browser's session; returns it (if there was one) and the
/// `Set-Cookie` that clears the cookie.
pub async fn end(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Option<Session>, Option<HeaderValue>), CacheError> {
    let policy = state.cookies;
    let Some(secret) = policy.get(headers, CookieKind::Session) else {
        return Ok((None, None));
    };
    let ended = discard(state, &cache_key(&secret)).await?;
    Ok((ended, policy.set(CookieKind::Session, "", 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_stays_small() {
        let session = Session {
            user_id: "a".repeat(22),
            sid: "b".repeat(22),
            auth_time: 1_800_000_000,
            created_at: 1_800_000_000,
            last_seen: 1_800_000_000,
            amr: vec!["pwd".into()],
            ip_hash: short_hash("203.0.113.9"),
            agent_hash: short_hash("Mozilla/5.0"),
            sign_outs: 1_000,
        };
        let size = serde_json::to_vec(&session).unwrap().len();
        assert!(size <= 200, "session record is {size} bytes");
    }
}
