//! Where passkey ceremonies wait between their two requests: the state
//! webauthn-rs made for a challenge, kept server-side in the cache for a few
//! minutes, never sent to the browser. Each is stored under what it is bound
//! to — the browser session registering a passkey or proving a change, or the
//! interaction (and browser) whose sign-in it is for — so a new ceremony
//! replaces the one before, and it is taken when used: a challenge works once,
//! only for what it was made for, and only from the browser that asked.
//! Ceremonies made before a session exists are unauthenticated state, stored
//! under the same admission bounds as pending sign-ins
//! ([`crate::admission`]).

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration,
};

use crate::admission::{Limits, put_unauthenticated};
use crate::cache::{Cache, CacheError, Retention};

/// How long a ceremony may take, from the challenge to the answer.
pub const TTL_SECS: u64 = 300;

/// A ceremony waiting for its answer.
#[derive(Serialize, Deserialize)]
pub enum Ceremony {
    /// Registering a passkey for a signed-in person.
    Register {
        /// The person.
        user_id: String,
        /// webauthn-rs's state.
        state: PasskeyRegistration,
    },
    /// Signing in with any passkey (discoverable: no email typed).
    SignIn {
        /// webauthn-rs's state.
        state: DiscoverableAuthentication,
    },
    /// Using one of a known person's passkeys: their second factor, or the
    /// proof a signed-in person gives for a change.
    Person {
        /// The person.
        user_id: String,
        /// webauthn-rs's state.
        state: PasskeyAuthentication,
    },
}

/// What a ceremony is bound to.
#[derive(Clone, Copy)]
pub enum Bound<'a> {
    /// Registering a passkey in the browser session with this public id.
    Registration(&'a str),
    /// Proving a change in the browser session with this public id.
    Proof(&'a str),
    /// The interaction stored under `id`, in the browser `browser` names (a
    /// hash of its CSRF token): sign-in and second factor.
    Interaction {
        /// The interaction's id.
        id: &'a str,
        /// The browser's mark.
        browser: &'a str,
    },
}

impl Bound<'_> {
    fn key(self) -> String {
        match self {
            Bound::Registration(sid) => format!("passkey:registration:{sid}"),
            Bound::Proof(sid) => format!("passkey:proof:{sid}"),
            Bound::Interaction { id, browser } => format!("passkey:interaction:{id}:{browser}"),
        }
    }
}

/// Keeps `ceremony` for `bound`, replacing the one before. One bound to an
/// interaction is admitted under `limits` like the interaction itself.
pub async fn keep(
    cache: &Cache,
    limits: Limits,
    bound: Bound<'_>,
    ceremony: &Ceremony,
) -> Result<(), CacheError> {
    // These types serialise to JSON without fail (no maps with other keys).
    let bytes = serde_json::to_vec(ceremony).unwrap_or_default();
    match bound {
        Bound::Interaction { .. } => {
            put_unauthenticated(cache, limits, &bound.key(), &bytes, TTL_SECS).await
        }
        Bound::Registration(_) | Bound::Proof(_) => {
            cache
                .put_with(&bound.key(), &bytes, TTL_SECS, Retention::Keep)
                .await
        }
    }
}

/// Takes the ceremony waiting for `bound`, if any: no one gets it twice.
pub async fn take(cache: &Cache, bound: Bound<'_>) -> Result<Option<Ceremony>, CacheError> {
    let Some(bytes) = cache.take(&bound.key()).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(ceremony) => Ok(Some(ceremony)),
        Err(e) => {
            tracing::warn!(error = %e, "a stored passkey ceremony could not be read");
            Ok(None)
        }
    }
}
