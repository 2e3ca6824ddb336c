//! The in-process cache: the embedded default, for a single instance.
//!
//! Keys are spread over [`SHARDS`] independently locked maps so concurrent
//! requests rarely wait on each other. Expired entries behave as absent and are
//! removed when touched; each shard also sweeps out every expired entry once
//! its writes since the last sweep reach half its size, so expired keys never
//! make memory grow without bound, at an amortised constant cost per write.
//! Locks are held only inside these synchronous methods, never across an await.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::CacheError;

/// Number of independently locked maps.
const SHARDS: usize = 16;

/// A shard sweeps at the earliest after this many writes, so small shards do
/// not sweep on every write.
const MIN_WRITES_BETWEEN_SWEEPS: usize = 64;

/// Entries held in this process's memory.
pub struct MemoryCache {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("shards", &SHARDS)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shard {
    entries: HashMap<String, Entry>,
    writes_since_sweep: usize,
}

struct Entry {
    value: Vec<u8>,
    expires: Instant,
}

impl Entry {
    fn new(value: Vec<u8>, ttl_secs: u64, now: Instant) -> Self {
        Self {
            value,
            expires: now + Duration::from_secs(ttl_secs),
        }
    }

    fn is_live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

impl Shard {
    /// The entry under `key` if it has not expired; an expired one is dropped.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Stores an entry and sweeps the shard when enough writes have happened.
    fn insert(&mut self, key: &str, entry: Entry, now: Instant) {
        self.entries.insert(key.to_owned(), entry);
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= MIN_WRITES_BETWEEN_SWEEPS.max(self.entries.len() / 2) {
            self.entries.retain(|_, e| e.is_live(now));
            self.writes_since_sweep = 0;
        }
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::default()),
            hasher: RandomState::new(),
        }
    }

    /// The locked shard that holds `key`. A poisoned lock is taken over: every
    /// critical section leaves the map consistent.
    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn put(&self, key: &str, value: &[u8], ttl_secs: u64) {
        let now = Instant::now();
        self.shard(key)
            .insert(key, Entry::new(value.to_vec(), ttl_secs, now), now);
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.shard(key).live(key, now).map(|e| e.value.clone())
    }

    pub(super) fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let entry = self.shard(key).entries.remove(key)?;
        entry.is_live(now).then_some(entry.value)
    }

    pub(super) fn delete(&self, key: &str) {
        self.shard(key).entries.remove(key);
    }

    /// Counts are stored as decimal text, as Redis stores them.
    pub(super) fn incr(&self, key: &str, ttl_secs: u64) -> Result<u64, CacheError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        if let Some(entry) = shard.live(key, now) {
            let count = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .and_then(|count| count.checked_add(1))
                .ok_or(CacheError::NotACounter)?;
            entry.value = count.to_string().into_bytes();
            return Ok(count);
        }
        shard.insert(key, Entry::new(b"1".to_vec(), ttl_secs, now), now);
        Ok(1)
    }
}

impl MemoryCache {
    /// [`super::Cache::decr`]: under the shard lock, so it never races an `incr`.
    pub(super) fn decr(&self, key: &str) -> Result<u64, CacheError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let Some(entry) = shard.live(key, now) else {
            return Ok(0);
        };
        let count = std::str::from_utf8(&entry.value)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or(CacheError::NotACounter)?
            .saturating_sub(1);
        entry.value = count.to_string().into_bytes();
        Ok(count)
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_so_memory_stays_bounded() {
        let cache = MemoryCache::new();
        let past = Instant::now() - Duration::from_secs(1);
        for shard in &cache.shards {
            let mut shard = shard.lock().unwrap();
            for i in 0..1000 {
                let key = format!("expired-{i}");
                shard.entries.insert(
                    key,
                    Entry {
                        value: vec![0; 16],
                        expires: past,
                    },
                );
            }
        }
        // Enough writes that every shard reaches its sweep threshold (half its size).
        for i in 0..40_000 {
            cache.put(&format!("live-{i}"), b"v", 60);
        }
        let expired: usize = cache
            .shards
            .iter()
            .map(|s| {
                let shard = s.lock().unwrap();
                shard
                    .entries
                    .keys()
                    .filter(|k| k.starts_with("expired-"))
                    .count()
            })
            .sum();
        assert_eq!(expired, 0, "every shard swept its expired entries");
    }
}
