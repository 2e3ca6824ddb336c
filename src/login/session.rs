//! The browser session: a small server-side record in the cache (DESIGN.md
//! rules 1 and 10). Idle and absolute timeouts are checked against the
//! injectable clock; the id changes at every sign-in.
//!
//! Three cache entries per session, all with the session's TTL:
//! - `session-sid:<sid>`: the [`Session`] record itself, under its public id, so
//!   what was issued in a session — codes, refresh tokens without
//!   `offline_access` — asks in one read whether it is still live, and a
//!   session can be ended by its id (from the person's list, or by an admin);
//! - `session:<hash of the cookie>`: the `sid` the browser's cookie stands for
//!   (only the 256-bit cookie's hash is a key; the cookie itself is never stored);
//! - `sessions-of:<user id>`: the set of the person's session ids, each kept
//!   until its session's absolute timeout, so their sessions can be listed on
//!   either cache. Added to before a session is written and removed from after
//!   it is ended, so it always holds every live session of the person; at most
//!   [`MAX_SESSIONS_PER_PERSON`], a new sign-in ending the oldest beyond.
//!
//! Records written by versions before this layout are not read: after the
//! upgrade those browsers sign in again, and what was tied to their sessions
//! (codes, refresh tokens without `offline_access`) ends with them.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::FlowError;
use super::cookies::CookieKind;
use super::device;
use crate::app::AppState;
use crate::cache::{CacheError, Retention};
use crate::clock::UnixTime;
use crate::crypto::secret::{hash_secret, new_secret, random_id};
use crate::interaction::SignedIn;
use crate::oauth::tokens;
use crate::store::{AuditEvent, GrantFilter};

/// Seconds between writes that only refresh `last_seen`.
const TOUCH_INTERVAL: i64 = 60;

/// What the server remembers about a signed-in browser (at most 200 bytes as
/// JSON); everything else is loaded on demand.
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
    /// The client address at sign-in, shown in the person's session list.
    #[serde(rename = "i", default)]
    pub ip: String,
    /// The browser and system at sign-in in words ("Firefox on Linux"), from
    /// the user agent ([`device::label`]).
    #[serde(rename = "d", default)]
    pub device: String,
    /// The person's sign-out count when the session began: a sign-out
    /// everywhere ends it by moving the count on
    /// ([`crate::store::AccountStanding::allows`]).
    #[serde(rename = "o")]
    pub sign_outs: i64,
}

/// Live sessions one person may have; signing in once more ends the oldest,
/// so what one account can make the server keep stays bounded.
pub const MAX_SESSIONS_PER_PERSON: usize = 100;

fn cookie_key(cookie_value: &str) -> String {
    format!(
        "session:{}",
        URL_SAFE_NO_PAD.encode(hash_secret(cookie_value))
    )
}

fn sid_key(sid: &str) -> String {
    format!("session-sid:{sid}")
}

fn sessions_of_key(user_id: &str) -> String {
    format!("sessions-of:{user_id}")
}

/// Whether a session begun at `created_at` and last used at `last_seen` is
/// within both its idle and absolute timeouts at `now`.
fn is_live(state: &AppState, created_at: UnixTime, last_seen: UnixTime, now: UnixTime) -> bool {
    now - last_seen <= state.config.session_idle_timeout_secs
        && now - created_at <= state.config.session_absolute_timeout_secs
}

impl Session {
    /// The sign-in this session stands for, as the interaction engine records it.
    pub fn signed_in(&self) -> SignedIn {
        SignedIn {
            sid: self.sid.clone(),
            user_id: self.user_id.clone(),
            auth_time: self.auth_time,
        }
    }

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

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
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
        discard(state, &cookie_key(&previous)).await?;
    }
    let now = state.clock.now();
    let agent = device::user_agent(headers);
    let session = Session {
        user_id: user_id.to_owned(),
        sid: random_id(22)?,
        auth_time: now,
        created_at: now,
        last_seen: now,
        amr,
        ip: client_ip.to_owned(),
        device: device::label(agent),
        sign_outs,
    };
    let secret = new_secret()?;
    store(state, &cookie_key(&secret), &session, now).await?;
    let cookie = policy.set(
        CookieKind::Session,
        &secret,
        state.config.session_absolute_timeout_secs,
    );
    Ok((session, cookie))
}

/// Writes a new session: into the person's set first (so no live session is
/// ever missing from their list), then its record, then the cookie's pointer.
/// Sessions crowded out beyond [`MAX_SESSIONS_PER_PERSON`] end, with the
/// grants tied to them. If this one was crowded out meanwhile (concurrent
/// sign-ins of the person), it is ended again now that its record exists,
/// and the sign-in fails rather than leave a session missing from the list.
async fn store(
    state: &AppState,
    cookie_key: &str,
    session: &Session,
    now: UnixTime,
) -> Result<(), FlowError> {
    let ttl = session.ttl(state, now);
    let lifetime = u64::try_from(state.config.session_absolute_timeout_secs).unwrap_or(ttl);
    let index = sessions_of_key(&session.user_id);
    let crowded_out = state
        .cache
        .set_add(&index, &session.sid, lifetime, MAX_SESSIONS_PER_PERSON)
        .await?;
    for sid in crowded_out {
        end_crowded_out(state, &session.user_id, &sid).await?;
    }
    state
        .cache
        .put(&sid_key(&session.sid), &session.encode(), ttl)
        .await?;
    state
        .cache
        .put(cookie_key, session.sid.as_bytes(), ttl)
        .await?;
    if !state.cache.set_contains(&index, &session.sid).await? {
        state.cache.delete(cookie_key).await?;
        end_crowded_out(state, &session.user_id, &session.sid).await?;
        return Err(CacheError::CapacityReached("too many sign-ins of this person at once").into());
    }
    Ok(())
}

/// Ends session `sid` of `user_id`, pushed out of the person's set by newer
/// ones, as [`end_one`] ends a session.
async fn end_crowded_out(state: &AppState, user_id: &str, sid: &str) -> Result<(), FlowError> {
    end_record(state, sid).await?;
    let why = format!("more than {MAX_SESSIONS_PER_PERSON} sessions: the oldest ended");
    end_grants(state, user_id, sid, &why).await?;
    tracing::info!(%user_id, "oldest session ended: too many sessions");
    Ok(())
}

/// Revokes the grants tied to the ended session `sid` (those without
/// `offline_access`, as a logout does) and audits the session's end with `why`.
async fn end_grants(
    state: &AppState,
    user_id: &str,
    sid: &str,
    why: &str,
) -> Result<(), FlowError> {
    let revoked = tokens::revoke_grants(state, GrantFilter::SessionOnline(sid), None).await?;
    let detail = format!("{why}; {revoked} grants revoked");
    let event = AuditEvent {
        kind: "session_ended",
        user_id: Some(user_id),
        client_id: None,
        detail: &detail,
    };
    state.store.record_audit(&event, state.clock.now()).await?;
    Ok(())
}

/// Refreshes a live session's record, then the cookie's pointer, each only if
/// it is still there: a sign-out racing this request removes them, and the
/// refresh never writes them back. Returns whether the session still exists.
async fn touch(
    state: &AppState,
    cookie_key: &str,
    session: &Session,
    now: UnixTime,
) -> Result<bool, CacheError> {
    let ttl = session.ttl(state, now);
    if !state
        .cache
        .replace(
            &sid_key(&session.sid),
            &session.encode(),
            ttl,
            Retention::Keep,
        )
        .await?
    {
        return Ok(false);
    }
    state
        .cache
        .replace(cookie_key, session.sid.as_bytes(), ttl, Retention::Keep)
        .await
}

/// Ends the session the cookie behind `cookie_key` stands for; returns it.
async fn discard(state: &AppState, cookie_key: &str) -> Result<Option<Session>, CacheError> {
    let Some(pointer) = state.cache.take(cookie_key).await? else {
        return Ok(None);
    };
    match String::from_utf8(pointer) {
        Ok(sid) => end_record(state, &sid).await,
        Err(_) => Ok(None),
    }
}

/// Removes the record of session `sid`, then its id from its person's set;
/// returns the session that was live.
async fn end_record(state: &AppState, sid: &str) -> Result<Option<Session>, CacheError> {
    let ended = state
        .cache
        .take(&sid_key(sid))
        .await?
        .and_then(|bytes| serde_json::from_slice::<Session>(&bytes).ok());
    if let Some(session) = &ended {
        state
            .cache
            .set_remove(
                &sessions_of_key(&session.user_id),
                std::slice::from_ref(&session.sid),
            )
            .await?;
    }
    Ok(ended)
}

/// The record of session `sid`, if there is one (live or not).
async fn record(state: &AppState, sid: &str) -> Result<Option<Session>, CacheError> {
    Ok(state
        .cache
        .get(&sid_key(sid))
        .await?
        .and_then(|bytes| serde_json::from_slice::<Session>(&bytes).ok()))
}

/// Whether the session with public id `sid` is still live: not logged out,
/// within its idle and absolute timeouts. One cache read, for the token
/// endpoint; whether the account still allows what was issued in it is the
/// caller's check ([`crate::store::AccountStanding::allows`]).
pub async fn is_live_sid(state: &AppState, sid: &str) -> Result<bool, CacheError> {
    Ok(record(state, sid)
        .await?
        .is_some_and(|session| session.is_live(state, state.clock.now())))
}

/// The live session of this browser, if any; refreshes its idle timer.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, CacheError> {
    let policy = state.cookies;
    let Some(secret) = policy.get(headers, CookieKind::Session) else {
        return Ok(None);
    };
    let key = cookie_key(&secret);
    let Some(pointer) = state.cache.get(&key).await? else {
        return Ok(None);
    };
    let Some(mut session) = pointed_at(state, &key, pointer).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    if !session.is_live(state, now) || !still_allowed(state, &session).await {
        discard(state, &key).await?;
        return Ok(None);
    }
    if now - session.last_seen >= TOUCH_INTERVAL {
        session.last_seen = now;
        if !touch(state, &key, &session, now).await? {
            // Signed out while this request was checking it.
            return Ok(None);
        }
    }
    Ok(Some(session))
}

/// The session a cookie's entry points at; a pointer to a record that is gone
/// (the session was ended by its id) is dropped.
async fn pointed_at(
    state: &AppState,
    cookie_key: &str,
    pointer: Vec<u8>,
) -> Result<Option<Session>, CacheError> {
    let found = match String::from_utf8(pointer) {
        Ok(sid) => record(state, &sid).await?,
        Err(_) => None,
    };
    if found.is_none() {
        state.cache.delete(cookie_key).await?;
    }
    Ok(found)
}

/// Whether the person may still use this session: the account is active and
/// was not signed out everywhere since the session began.
async fn still_allowed(state: &AppState, session: &Session) -> bool {
    match state.store.account_standing(&session.user_id).await {
        Ok(standing) => standing.is_some_and(|s| s.allows(session.sign_outs)),
        Err(e) => {
            tracing::warn!(error = %e, "could not check the session's account; treating it as signed out");
            false
        }
    }
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
    let ended = discard(state, &cookie_key(&secret)).await?;
    Ok((ended, policy.set(CookieKind::Session, "", 0)))
}

/// Removes `user_id`'s session `sid`, wherever its browser is (the browser's
/// next request finds no session); returns it, or `None` when the person has
/// no such session.
async fn end_by_id(
    state: &AppState,
    user_id: &str,
    sid: &str,
) -> Result<Option<Session>, CacheError> {
    match record(state, sid).await? {
        Some(session) if session.user_id == user_id => end_record(state, sid).await,
        _ => Ok(None),
    }
}

/// Ends `user_id`'s session `sid` at once — its browser must sign in again —
/// with the grants tied to it (refresh tokens without `offline_access`),
/// auditing `why`. Returns whether the person had such a live session. The
/// admin API and the CLI end sessions here.
pub async fn end_one(
    state: &AppState,
    user_id: &str,
    sid: &str,
    why: &str,
) -> Result<bool, FlowError> {
    if end_by_id(state, user_id, sid).await?.is_none() {
        return Ok(false);
    }
    end_grants(state, user_id, sid, why).await?;
    tracing::info!(%user_id, why, "session ended");
    Ok(true)
}

/// Every live session of `user_id`, most recently used first. Sessions a
/// sign-out everywhere ended are left out (they end at their next use).
pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<Session>, FlowError> {
    let sids = state.cache.set_members(&sessions_of_key(user_id)).await?;
    let keys: Vec<String> = sids.iter().map(|sid| sid_key(sid)).collect();
    let records = state.cache.get_many(&keys).await?;
    let standing = state.store.account_standing(user_id).await?;
    let now = state.clock.now();
    let mut live: Vec<Session> = records
        .into_iter()
        .flatten()
        .filter_map(|bytes| serde_json::from_slice::<Session>(&bytes).ok())
        .filter(|s| s.user_id == user_id && s.is_live(state, now))
        .filter(|s| standing.is_some_and(|standing| standing.allows(s.sign_outs)))
        .collect();
    live.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
    Ok(live)
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
            ip: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff".into(),
            device: "Firefox on ChromeOS".into(),
            sign_outs: 1_000,
        };
        let size = serde_json::to_vec(&session).unwrap().len();
        assert!(size <= 200, "session record is {size} bytes");
    }
}
