//! Where passkey ceremonies wait between their two requests: the state
//! webauthn-rs made for a challenge, kept server-side in the cache for a few
//! minutes, never sent to the browser. Each is stored under what it is bound
//! to — the browser session registering a passkey, or the interaction whose
//! sign-in it is for — so a new ceremony replaces the one before (there is at
//! most one per session or interaction, and so no more ceremonies than the
//! bounded interactions allow), and it is taken when used: a challenge works
//! once, only for what it was made for, and only from the browser that asked.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration,
};

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
        /// Names the browser that asked (a hash of its CSRF token).
        browser: String,
        /// webauthn-rs's state.
        state: DiscoverableAuthentication,
    },
    /// Passing the second factor with one of a known person's passkeys.
    SecondFactor {
        /// The person who passed the first factor.
        user_id: String,
        /// Names the browser that asked.
        browser: String,
        /// webauthn-rs's state.
        state: PasskeyAuthentication,
    },
}

/// What a ceremony is bound to.
#[derive(Clone, Copy)]
pub enum Bound<'a> {
    /// The browser session with this public id (registration).
    Session(&'a str),
    /// The interaction stored under this id (sign-in, second factor).
    Interaction(&'a str),
}

impl Bound<'_> {
    fn key(self) -> String {
        match self {
            Bound::Session(sid) => format!("passkey:session:{sid}"),
            Bound::Interaction(id) => format!("passkey:interaction:{id}"),
        }
    }

    /// Registrations belong to signed-in people; sign-in ceremonies are made
    /// for anyone, so they may be shed under memory pressure like the
    /// interactions they belong to.
    fn retention(self) -> Retention {
        match self {
            Bound::Session(_) => Retention::Keep,
            Bound::Interaction(_) => Retention::Shed,
        }
    }
}

/// Keeps `ceremony` for `bound`, replacing the one before.
pub async fn keep(cache: &Cache, bound: Bound<'_>, ceremony: &Ceremony) -> Result<(), CacheError> {
    let bytes = serde_json::to_vec(ceremony).unwrap_or_default();
    cache
        .put_with(&bound.key(), &bytes, TTL_SECS, bound.retention())
        .await
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
