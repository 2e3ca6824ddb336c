//! Where sessions live in the cache, and the low-level moves on them. Three
//! entries per session, all with the session's TTL:
//! - `session-sid:<sid>`: the [`Session`] record itself, under its public id, so
//!   what was issued in a session — codes, refresh tokens without
//!   `offline_access` — asks in one read whether it is still live, and a
//!   session can be ended by its id (from the person's list, or by an admin);
//! - `session:<hash of the cookie>`: the `sid` the browser's cookie stands for
//!   (only the 256-bit cookie's hash is a key; the cookie itself is never stored);
//! - `sessions-of:<user id>`: the set of the person's session ids, each kept
//!   until its session's absolute timeout, so their sessions can be listed on
//!   either cache. Added to before a session is written and removed from after
//!   it is ended, so it always holds every live session of the person.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Session, Sessions};
use crate::cache::{CacheError, Retention};
use crate::crypto::secret::hash_secret;

/// The key of the pointer a browser's cookie stands for.
pub(super) fn cookie_key(cookie: &str) -> String {
    format!("session:{}", URL_SAFE_NO_PAD.encode(hash_secret(cookie)))
}

/// The key of session `sid`'s record.
pub(super) fn sid_key(sid: &str) -> String {
    format!("session-sid:{sid}")
}

/// The key of the set of `user_id`'s session ids.
pub(super) fn sessions_of_key(user_id: &str) -> String {
    format!("sessions-of:{user_id}")
}

fn decode(bytes: &[u8]) -> Option<Session> {
    serde_json::from_slice(bytes).ok()
}

impl Sessions<'_> {
    /// The record of session `sid`, if there is one (live or not).
    pub(super) async fn record(&self, sid: &str) -> Result<Option<Session>, CacheError> {
        Ok(self
            .cache
            .get(&sid_key(sid))
            .await?
            .and_then(|bytes| decode(&bytes)))
    }

    /// The records of sessions `sids` that still exist.
    pub(super) async fn records(&self, sids: &[String]) -> Result<Vec<Session>, CacheError> {
        let keys: Vec<String> = sids.iter().map(|sid| sid_key(sid)).collect();
        Ok(self
            .cache
            .get_many(&keys)
            .await?
            .into_iter()
            .flatten()
            .filter_map(|bytes| decode(&bytes))
            .collect())
    }

    /// Writes `session`'s record and the cookie's pointer to it.
    pub(super) async fn write(
        &self,
        cookie_key: &str,
        session: &Session,
    ) -> Result<(), CacheError> {
        let ttl = self.ttl(session);
        self.cache
            .put(&sid_key(&session.sid), &session.encode(), ttl)
            .await?;
        self.cache
            .put(cookie_key, session.sid.as_bytes(), ttl)
            .await
    }

    /// Refreshes a live session's record, then the cookie's pointer, each only
    /// if it is still there: a sign-out racing this request removes them, and
    /// the refresh never writes them back. Returns whether the session still
    /// exists.
    pub(super) async fn touch(
        &self,
        cookie_key: &str,
        session: &Session,
    ) -> Result<bool, CacheError> {
        let ttl = self.ttl(session);
        if !self
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
        self.cache
            .replace(cookie_key, session.sid.as_bytes(), ttl, Retention::Keep)
            .await
    }

    /// The session a cookie's entry points at; a pointer to a record that is
    /// gone (the session was ended by its id) is dropped.
    pub(super) async fn pointed_at(&self, cookie_key: &str) -> Result<Option<Session>, CacheError> {
        let Some(pointer) = self.cache.get(cookie_key).await? else {
            return Ok(None);
        };
        let found = match String::from_utf8(pointer) {
            Ok(sid) => self.record(&sid).await?,
            Err(_) => None,
        };
        if found.is_none() {
            self.cache.delete(cookie_key).await?;
        }
        Ok(found)
    }

    /// Ends the session the cookie behind `cookie_key` stands for; returns it.
    pub(super) async fn discard(&self, cookie_key: &str) -> Result<Option<Session>, CacheError> {
        let Some(pointer) = self.cache.take(cookie_key).await? else {
            return Ok(None);
        };
        match String::from_utf8(pointer) {
            Ok(sid) => self.end_record(&sid).await,
            Err(_) => Ok(None),
        }
    }

    /// Removes the record of session `sid`, then its id from its person's
    /// set; returns the session that was live.
    pub(super) async fn end_record(&self, sid: &str) -> Result<Option<Session>, CacheError> {
        let ended = self
            .cache
            .take(&sid_key(sid))
            .await?
            .and_then(|bytes| decode(&bytes));
        if let Some(session) = &ended {
            self.cache
                .set_remove(
                    &sessions_of_key(&session.user_id),
                    std::slice::from_ref(&session.sid),
                )
                .await?;
        }
        Ok(ended)
    }
}
