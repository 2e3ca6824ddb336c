//! Browser sessions: a small server-side record in the cache per signed-in
//! browser (DESIGN.md rules 1 and 10), what a person's session list shows,
//! and ending one at once with what was issued in it.
//!
//! The service knows no HTTP: it is handed the cookie's secret and the words
//! describing the device, and hands back a new cookie secret to set. The
//! browser glue (reading and setting the cookie) is [`crate::login::session`];
//! the admin API, the CLI and the account pages call the same functions here.
//! Idle and absolute timeouts are checked against the clock the caller passes;
//! the id changes at every sign-in. Where the records live is [`records`].
//!
//! Records written by versions before this layout are not read: after the
//! upgrade those browsers sign in again, and what was tied to their sessions
//! (codes, refresh tokens without `offline_access`) ends with them.

mod records;

use serde::{Deserialize, Serialize};

use self::records::{cookie_key, sessions_of_key};
use crate::cache::{Cache, CacheError, Retention};
use crate::clock::UnixTime;
use crate::config::Config;
use crate::crypto::secret::{new_secret, random_id};
use crate::service_error::ServiceError;
use crate::store::{AuditEvent, GrantFilter, Store};

/// Seconds between writes that only refresh `last_seen`.
const TOUCH_INTERVAL: i64 = 60;

/// Live sessions one person may have; signing in once more ends the oldest,
/// so what one account can make the server keep stays bounded.
pub const MAX_SESSIONS_PER_PERSON: usize = 100;

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
    /// The browser and system at sign-in in words ("Firefox on Linux").
    #[serde(rename = "d", default)]
    pub device: String,
    /// The person's sign-out count when the session began: a sign-out
    /// everywhere ends it by moving the count on
    /// ([`crate::store::AccountStanding::allows`]).
    #[serde(rename = "o")]
    pub sign_outs: i64,
}

impl Session {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// How long sessions live, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Seconds a session may go unused.
    pub idle_secs: i64,
    /// Seconds a session may last in all.
    pub absolute_secs: i64,
}

impl Timeouts {
    /// The timeouts `config` sets.
    pub fn of(config: &Config) -> Self {
        Self {
            idle_secs: config.session_idle_timeout_secs,
            absolute_secs: config.session_absolute_timeout_secs,
        }
    }
}

/// What the session service works with: the cache holding sessions, the
/// store holding account standing and grants, the timeouts, and the time now.
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    /// Where sessions live.
    pub cache: &'a Cache,
    /// Account standing, grants tied to sessions, audit events.
    pub store: &'a Store,
    /// How long sessions live.
    pub timeouts: Timeouts,
    /// The time now.
    pub now: UnixTime,
}

/// A sign-in to turn into a session.
pub struct NewSession<'a> {
    /// The person.
    pub user_id: &'a str,
    /// The person's sign-out count read together with the credential just
    /// checked ([`crate::users::FoundUser`]), so a sign-out everywhere
    /// committed since that read — a password change racing this sign-in —
    /// ends this session too.
    pub sign_outs: i64,
    /// How the person authenticated (RFC 8176).
    pub amr: Vec<String>,
    /// The client address.
    pub ip: &'a str,
    /// The browser and system in words.
    pub device: String,
}

impl Sessions<'_> {
    /// Whether `session` is within both its idle and absolute timeouts.
    fn is_live(&self, session: &Session) -> bool {
        self.now - session.last_seen <= self.timeouts.idle_secs
            && self.now - session.created_at <= self.timeouts.absolute_secs
    }

    /// Seconds `session`'s entries are kept: until the nearer timeout.
    fn ttl(&self, session: &Session) -> u64 {
        let absolute_left = session
            .created_at
            .saturating_add(self.timeouts.absolute_secs)
            .saturating_sub(self.now);
        u64::try_from(self.timeouts.idle_secs.min(absolute_left).max(1)).unwrap_or(1)
    }

    /// Starts a session for `new`, ending the one the browser's cookie
    /// `replaces` stood for (the id is never reused across sign-ins). Returns
    /// the session and the secret of the cookie that stands for it.
    ///
    /// The person's set is written first, so no live session is ever missing
    /// from their list; sessions crowded out beyond
    /// [`MAX_SESSIONS_PER_PERSON`] end with the grants tied to them. If this
    /// one was crowded out meanwhile (concurrent sign-ins of the person), it
    /// is ended again now that its record exists, and the sign-in fails
    /// rather than leave a session missing from the list.
    pub async fn start(
        self,
        replaces: Option<&str>,
        new: NewSession<'_>,
    ) -> Result<(Session, String), ServiceError> {
        if let Some(previous) = replaces {
            self.discard(&cookie_key(previous)).await?;
        }
        let session = Session {
            user_id: new.user_id.to_owned(),
            sid: random_id(22)?,
            auth_time: self.now,
            created_at: self.now,
            last_seen: self.now,
            amr: new.amr,
            ip: new.ip.to_owned(),
            device: new.device,
            sign_outs: new.sign_outs,
        };
        let secret = new_secret()?;
        let key = cookie_key(&secret);
        let index = sessions_of_key(&session.user_id);
        let lifetime = u64::try_from(self.timeouts.absolute_secs).unwrap_or(1);
        let crowded_out = self
            .cache
            .set_add(&index, &session.sid, lifetime, MAX_SESSIONS_PER_PERSON)
            .await?;
        for sid in crowded_out {
            self.end_crowded_out(&session.user_id, &sid).await?;
        }
        self.write(&key, &session).await?;
        if !self.cache.set_contains(&index, &session.sid).await? {
            self.cache.delete(&key).await?;
            self.end_crowded_out(&session.user_id, &session.sid).await?;
            return Err(
                CacheError::CapacityReached("too many sign-ins of this person at once").into(),
            );
        }
        Ok((session, secret))
    }

    /// Adds the methods `more` (RFC 8176) to the live session `sid` that the
    /// cookie secret `cookie` stands for — a step-up: the person passed a
    /// further factor in that session — keeping its id (what apps were
    /// issued in it stays valid) and its `auth_time` (the first sign-in's),
    /// and moving it to a new cookie secret (a privilege change never keeps
    /// a cookie). Returns the session and the new secret, or `None` when the
    /// cookie no longer stands for that live session.
    pub async fn upgrade(
        self,
        cookie: &str,
        sid: &str,
        more: &[String],
    ) -> Result<Option<(Session, String)>, ServiceError> {
        let old_key = cookie_key(cookie);
        let Some(mut session) = self.current(cookie).await? else {
            return Ok(None);
        };
        if session.sid != sid {
            return Ok(None);
        }
        for method in more {
            if !session.amr.contains(method) {
                session.amr.push(method.clone());
            }
        }
        session.last_seen = self.now;
        let secret = new_secret()?;
        // The old cookie stops first, so a failure from here on leaves the
        // browser signed out, never the old cookie with the new methods; the
        // record is only replaced, never recreated, so a session ended
        // meanwhile stays ended (a new pointer to it is dropped at its use).
        let pointed = self.cache.take(&old_key).await?;
        if pointed.as_deref() != Some(sid.as_bytes()) {
            return Ok(None);
        }
        let ttl = self.ttl(&session);
        let record = session.encode();
        if !self
            .cache
            .replace(&records::sid_key(sid), &record, ttl, Retention::Keep)
            .await?
        {
            return Ok(None);
        }
        self.cache
            .put(&cookie_key(&secret), sid.as_bytes(), ttl)
            .await?;
        Ok(Some((session, secret)))
    }

    /// The live session the cookie secret `cookie` stands for, if any;
    /// refreshes its idle timer. A session past a timeout, of a disabled
    /// account, or begun before a sign-out everywhere is ended here.
    pub async fn current(self, cookie: &str) -> Result<Option<Session>, CacheError> {
        let key = cookie_key(cookie);
        let Some(mut session) = self.pointed_at(&key).await? else {
            return Ok(None);
        };
        if !self.is_live(&session) || !self.still_allowed(&session).await {
            self.discard(&key).await?;
            return Ok(None);
        }
        if self.now - session.last_seen >= TOUCH_INTERVAL {
            session.last_seen = self.now;
            if !self.touch(&key, &session).await? {
                // Signed out while this request was checking it.
                return Ok(None);
            }
        }
        Ok(Some(session))
    }

    /// Whether the person may still use this session: the account is active
    /// and was not signed out everywhere since the session began. A failed
    /// read counts as signed out.
    async fn still_allowed(&self, session: &Session) -> bool {
        match self.store.account_standing(&session.user_id).await {
            Ok(standing) => standing.is_some_and(|s| s.allows(session.sign_outs)),
            Err(e) => {
                tracing::warn!(error = %e, "could not check the session's account; treating it as signed out");
                false
            }
        }
    }

    /// Ends the session the cookie secret `cookie` stands for; returns it, if
    /// there was one. What was issued in it is the caller's to end (logout
    /// ends it with the grants; [`Self::end_one`] does both).
    pub async fn end(self, cookie: &str) -> Result<Option<Session>, CacheError> {
        self.discard(&cookie_key(cookie)).await
    }

    /// Whether the session with public id `sid` is still live: not logged
    /// out, within its idle and absolute timeouts. One cache read, for the
    /// token endpoint; whether the account still allows what was issued in it
    /// is the caller's check ([`crate::store::AccountStanding::allows`]).
    pub async fn is_live_sid(self, sid: &str) -> Result<bool, CacheError> {
        Ok(self
            .record(sid)
            .await?
            .is_some_and(|session| self.is_live(&session)))
    }

    /// Ends `user_id`'s session `sid` at once — its browser must sign in
    /// again — with the grants tied to it (refresh tokens without
    /// `offline_access`), auditing `why`. Returns whether the person had such
    /// a session, or grants of it still live. The admin API, the CLI and the
    /// account pages end sessions here.
    ///
    /// The session ends first, then its grants (so none can be issued in it
    /// after the revocation); a failure between the two is finished by
    /// sending the request again, which revokes what is left of the
    /// person's grants of that session.
    pub async fn end_one(self, user_id: &str, sid: &str, why: &str) -> Result<bool, ServiceError> {
        let owned = self
            .record(sid)
            .await?
            .is_some_and(|session| session.user_id == user_id);
        let ended = owned && self.end_record(sid).await?.is_some();
        let revoked = self.end_grants(user_id, sid, why, ended).await?;
        if !ended && revoked == 0 {
            return Ok(false);
        }
        tracing::info!(%user_id, why, "session ended");
        Ok(true)
    }

    /// Every live session of `user_id`, most recently used first. Sessions a
    /// sign-out everywhere ended are left out (they end at their next use).
    pub async fn list(self, user_id: &str) -> Result<Vec<Session>, ServiceError> {
        let sids = self.cache.set_members(&sessions_of_key(user_id)).await?;
        let records = self.records(&sids).await?;
        let standing = self.store.account_standing(user_id).await?;
        let mut live: Vec<Session> = records
            .into_iter()
            .filter(|s| s.user_id == user_id && self.is_live(s))
            .filter(|s| standing.is_some_and(|standing| standing.allows(s.sign_outs)))
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse(s.last_seen));
        Ok(live)
    }

    /// Ends session `sid` of `user_id`, pushed out of the person's set by
    /// newer ones, as [`Self::end_one`] ends a session.
    async fn end_crowded_out(&self, user_id: &str, sid: &str) -> Result<(), ServiceError> {
        let ended = self.end_record(sid).await?.is_some();
        let why = format!("more than {MAX_SESSIONS_PER_PERSON} sessions: the oldest ended");
        self.end_grants(user_id, sid, &why, ended).await?;
        tracing::info!(%user_id, "oldest session ended: too many sessions");
        Ok(())
    }

    /// Revokes `user_id`'s grants tied to the ended session `sid` (those
    /// without `offline_access`, as a logout does) and audits the session's
    /// end with `why` — when it `ended` now, or grants of it were left — in
    /// one unit of work. Returns how many grants it revoked.
    async fn end_grants(
        &self,
        user_id: &str,
        sid: &str,
        why: &str,
        ended: bool,
    ) -> Result<usize, ServiceError> {
        let mut tx = self.store.begin().await?;
        let revoked = tx
            .revoke_grants(GrantFilter::SessionOnline(user_id, sid), self.now, None)
            .await?;
        if !ended && revoked == 0 {
            return Ok(0);
        }
        let detail = format!("{why}; {revoked} grants revoked");
        let event = AuditEvent {
            kind: "session_ended",
            user_id: Some(user_id),
            client_id: None,
            detail: &detail,
        };
        tx.record_audit(&event, self.now).await?;
        tx.commit().await?;
        Ok(revoked)
    }
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
