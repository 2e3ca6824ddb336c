//! The key ring: which key signs now and which keys the JWKS publishes.
//!
//! Both follow from each key's activation time (DESIGN.md rule 12): a key is
//! published from the moment it is stored, signs from its activation time until
//! the next key activates, and stays published for `retention` seconds after that
//! — the longest lifetime of any token it signed — so every token it signed
//! still verifies until it expires.

use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use serde::Serialize;

use super::signing_key::{PublicJwk, SigningKey};
use crate::clock::UnixTime;

/// Where a key is in its life at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not yet signing: relying parties are fetching it.
    Pending,
    /// The key that signs new tokens.
    Active,
    /// Superseded, still published until the tokens it signed have expired.
    Retiring,
    /// No longer published; tokens it signed have all expired.
    Retired,
}

impl KeyState {
    /// Whether the JWKS lists the key and tokens signed by it are accepted.
    pub fn is_published(self) -> bool {
        self != KeyState::Retired
    }
}

/// The state of each key at `now`, for keys sorted by ascending activation time.
pub fn key_states(activations: &[UnixTime], now: UnixTime, retention: i64) -> Vec<KeyState> {
    let signer = activations.iter().rposition(|&at| at <= now);
    activations
        .iter()
        .enumerate()
        .map(|(i, &at)| match signer {
            _ if at > now => KeyState::Pending,
            Some(s) if i == s => KeyState::Active,
            _ => match activations.get(i + 1) {
                Some(&next) if now < next.saturating_add(retention) => KeyState::Retiring,
                _ => KeyState::Retired,
            },
        })
        .collect()
}

/// The moments when some key changes state: activations and end of retention.
fn change_points(activations: &[UnixTime], retention: i64) -> impl Iterator<Item = UnixTime> + '_ {
    let ends = activations
        .iter()
        .skip(1)
        .map(move |&at| at.saturating_add(retention));
    activations.iter().copied().chain(ends)
}

/// A loaded key and the moment it starts signing.
#[derive(Clone, Debug)]
pub struct RingKey {
    /// The key material.
    pub key: Arc<SigningKey>,
    /// When it becomes the signing key.
    pub activate_at: UnixTime,
}

/// The keys as they stand during one interval of time in which no key changes state.
#[derive(Debug)]
pub struct KeySet {
    all: Arc<Vec<RingKey>>,
    signer: Option<Arc<SigningKey>>,
    published: Vec<Arc<SigningKey>>,
    jwks: Bytes,
    valid_from: UnixTime,
    valid_until: UnixTime,
}

#[derive(Serialize)]
struct Jwks<'a> {
    keys: Vec<&'a PublicJwk>,
}

impl KeySet {
    fn at(all: Arc<Vec<RingKey>>, now: UnixTime, retention: i64) -> Self {
        let activations: Vec<UnixTime> = all.iter().map(|k| k.activate_at).collect();
        let states = key_states(&activations, now, retention);
        let mut signer = None;
        let mut published = Vec::new();
        for (ring_key, state) in all.iter().zip(states) {
            if state == KeyState::Active {
                signer = Some(ring_key.key.clone());
            }
            if state.is_published() {
                published.push(ring_key.key.clone());
            }
        }
        published.reverse(); // newest first
        let jwks = Jwks {
            keys: published.iter().map(|k| k.jwk()).collect(),
        };
        let jwks = serde_json::to_vec(&jwks).map_or_else(|_| Bytes::new(), Bytes::from);
        let points = change_points(&activations, retention);
        let (mut valid_from, mut valid_until) = (UnixTime::MIN, UnixTime::MAX);
        for point in points {
            if point <= now {
                valid_from = valid_from.max(point);
            } else {
                valid_until = valid_until.min(point);
            }
        }
        Self {
            all,
            signer,
            published,
            jwks,
            valid_from,
            valid_until,
        }
    }

    /// The key that signs new tokens now, if any key has activated.
    pub fn signer(&self) -> Option<&SigningKey> {
        self.signer.as_deref()
    }

    /// A published key by `kid`: the only keys whose signatures we accept.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.published
            .iter()
            .find(|k| k.kid() == kid)
            .map(|k| k.as_ref())
    }

    /// The serialized JWKS document (public parts only).
    pub fn jwks(&self) -> Bytes {
        self.jwks.clone()
    }
}

/// The shared, reloadable key ring. Cheap to read on every request.
#[derive(Debug)]
pub struct KeyRing {
    current: RwLock<Arc<KeySet>>,
    retention: i64,
}

impl KeyRing {
    /// A ring over `keys` (any order); `retention` is the longest token lifetime in seconds.
    pub fn new(keys: Vec<RingKey>, now: UnixTime, retention: i64) -> Self {
        Self {
            current: RwLock::new(Arc::new(Self::build(keys, now, retention))),
            retention,
        }
    }

    fn build(mut keys: Vec<RingKey>, now: UnixTime, retention: i64) -> KeySet {
        keys.sort_by_key(|k| k.activate_at);
        KeySet::at(Arc::new(keys), now, retention)
    }

    /// Replaces the keys, e.g. after the CLI rotated them in the database.
    pub fn replace(&self, keys: Vec<RingKey>, now: UnixTime) {
        let set = Arc::new(Self::build(keys, now, self.retention));
        if let Ok(mut current) = self.current.write() {
            *current = set;
        }
    }

    /// The key set in force at `now`, recomputed when a key changed state since the last call.
    pub fn at(&self, now: UnixTime) -> Arc<KeySet> {
        let set = match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if (set.valid_from..set.valid_until).contains(&now) {
            return set;
        }
        let fresh = Arc::new(KeySet::at(set.all.clone(), now, self.retention));
        if let Ok(mut current) = self.current.write() {
            *current = fresh.clone();
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::KeyState::*;
    use super::*;

    #[test]
    fn a_rotation_walks_pending_active_retiring_retired() {
        // Key A active since 0; key B stored at 100, activates at 200; tokens live 50 s.
        let acts = [0, 200];
        assert_eq!(key_states(&acts, 150, 50), vec![Active, Pending]);
        assert_eq!(key_states(&acts, 200, 50), vec![Retiring, Active]);
        assert_eq!(key_states(&acts, 249, 50), vec![Retiring, Active]);
        assert_eq!(key_states(&acts, 250, 50), vec![Retired, Active]);
    }

    #[test]
    fn nothing_signs_before_the_first_activation() {
        assert_eq!(key_states(&[10], 5, 50), vec![Pending]);
    }

    #[test]
    fn key_set_changes_at_the_activation_time() {
        let (a, _) = SigningKey::generate(2048).unwrap();
        let (b, _) = SigningKey::generate(2048).unwrap();
        let (kid_a, kid_b) = (a.kid().to_owned(), b.kid().to_owned());
        let keys = vec![
            RingKey {
                key: Arc::new(b),
                activate_at: 200,
            },
            RingKey {
                key: Arc::new(a),
                activate_at: 0,
            },
        ];
        let ring = KeyRing::new(keys, 150, 50);
        let before = ring.at(150);
        assert_eq!(before.signer().unwrap().kid(), kid_a);
        assert!(before.find(&kid_b).is_some(), "published before it signs");
        let after = ring.at(210);
        assert_eq!(after.signer().unwrap().kid(), kid_b);
        assert!(
            after.find(&kid_a).is_some(),
            "old key kept while its tokens live"
        );
        assert!(ring.at(260).find(&kid_a).is_none());
    }
}
