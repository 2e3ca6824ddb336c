//! The in-process cache: the embedded default, for a single instance.
//!
//! Keys are spread over [`SHARDS`] independently locked maps so concurrent
//! requests rarely wait on each other. Expired entries behave as absent and are
//! removed when touched; each shard also sweeps out every expired entry once
//! its writes since the last sweep reach half its size, so expired keys never
//! make memory grow without bound, at an amortised constant cost per write.
//! Locks are held only inside these synchronous methods, never across an await.
//!
//! Memory is bounded: each shard holds at most its share of the byte budget
//! (keys, values and a fixed per-entry overhead). A write that would go over
//! first sweeps expired entries (when a sweep is due), then sheds live
//! [`Retention::Shed`] entries oldest first; [`Retention::Keep`] entries
//! (sessions, codes, counters) are never shed. A write that still does not fit
//! is refused with [`CacheError::CapacityReached`], and the previous value
//! under its key, if any, is kept.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{CacheError, Retention};

/// Number of independently locked maps.
const SHARDS: usize = 16;

/// A shard sweeps at the earliest after this many writes, so small shards do
/// not sweep on every write.
const MIN_WRITES_BETWEEN_SWEEPS: usize = 64;

/// When full, a shard sweeps expired entries before shedding live ones if its
/// last sweep is at least this old (or enough writes happened since), so a
/// full cache does not rescan itself on every write.
const FULL_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Bytes counted per entry beyond its key and value: the map slot, the
/// `String` and `Vec` headers, the expiry, allocator rounding.
const ENTRY_OVERHEAD: usize = 96;

/// Bytes counted for a shed entry's place in the eviction queue, beyond its key.
const QUEUE_OVERHEAD: usize = 48;

/// The byte budget of [`MemoryCache::new`].
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Entries held in this process's memory, within a byte budget.
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

struct Shard {
    entries: HashMap<String, Entry>,
    writes_since_sweep: usize,
    last_sweep: Instant,
    /// Bytes counted for the entries held.
    bytes: usize,
    /// The most `bytes` may reach.
    budget: usize,
    /// Shed entries in insertion order, as (key, sequence number); an item
    /// whose key now holds another entry (or none) is stale and skipped.
    shed_queue: VecDeque<(String, u64)>,
    /// Live shed entries in `entries`, to know when `shed_queue` needs compacting.
    shed_count: usize,
    next_seq: u64,
}

struct Entry {
    value: Vec<u8>,
    expires: Instant,
    retention: Retention,
    seq: u64,
}

/// Bytes counted for an entry.
fn cost(key: &str, value_len: usize, retention: Retention) -> usize {
    let queued = match retention {
        Retention::Keep => 0,
        Retention::Shed => key.len() + QUEUE_OVERHEAD,
    };
    key.len() + value_len + ENTRY_OVERHEAD + queued
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

impl Shard {
    fn new(budget: usize) -> Self {
        Self {
            entries: HashMap::new(),
            writes_since_sweep: 0,
            last_sweep: Instant::now(),
            bytes: 0,
            budget,
            shed_queue: VecDeque::new(),
            shed_count: 0,
            next_seq: 0,
        }
    }

    /// Removes `key`, keeping the byte count right.
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.bytes -= cost(key, entry.value.len(), entry.retention);
        if entry.retention == Retention::Shed {
            self.shed_count -= 1;
        }
        Some(entry)
    }

    /// The entry under `key` if it has not expired; an expired one is dropped.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now)) {
            self.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Drops every expired entry.
    fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        let mut shed = 0;
        self.entries.retain(|key, e| {
            let live = e.is_live(now);
            if !live {
                freed += cost(key, e.value.len(), e.retention);
                shed += usize::from(e.retention == Retention::Shed);
            }
            live
        });
        self.bytes -= freed;
        self.shed_count -= shed;
        self.writes_since_sweep = 0;
        self.last_sweep = now;
        self.compact_queue();
    }

    fn sweep_is_due(&self) -> bool {
        self.writes_since_sweep >= MIN_WRITES_BETWEEN_SWEEPS.max(self.entries.len() / 2)
    }

    /// Drops stale queue items once they outnumber the live shed entries, so
    /// the queue stays proportional to what it tracks.
    fn compact_queue(&mut self) {
        if self.shed_queue.len() > 2 * self.shed_count + MIN_WRITES_BETWEEN_SWEEPS {
            let entries = &self.entries;
            self.shed_queue
                .retain(|(key, seq)| entries.get(key).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Sheds the oldest live shed entry; false when there is none.
    fn shed_oldest(&mut self) -> bool {
        while let Some((key, seq)) = self.shed_queue.pop_front() {
            if self.entries.get(&key).is_some_and(|e| e.seq == seq) {
                self.remove(&key);
                return true;
            }
        }
        false
    }

    /// Stores an entry if it fits, making room as the module describes.
    fn insert(
        &mut self,
        key: &str,
        value: Vec<u8>,
        ttl_secs: u64,
        retention: Retention,
        now: Instant,
    ) -> Result<(), CacheError> {
        self.writes_since_sweep += 1;
        if self.sweep_is_due() {
            self.sweep(now);
        }
        let needed = cost(key, value.len(), retention);
        if needed > self.budget {
            return Err(CacheError::CapacityReached(
                "the value is larger than the cache",
            ));
        }
        let previous = self.remove(key);
        let mut swept = false;
        while self.bytes + needed > self.budget {
            let may_sweep = self.writes_since_sweep >= MIN_WRITES_BETWEEN_SWEEPS
                || now.saturating_duration_since(self.last_sweep) >= FULL_SWEEP_INTERVAL;
            if !swept && may_sweep {
                self.sweep(now);
                swept = true;
            } else if !self.shed_oldest() {
                if let Some(previous) = previous {
                    self.bytes += cost(key, previous.value.len(), previous.retention);
                    self.shed_count += usize::from(previous.retention == Retention::Shed);
                    self.entries.insert(key.to_owned(), previous);
                }
                tracing::warn!(
                    budget = self.budget,
                    "in-process cache shard full; write refused"
                );
                return Err(CacheError::CapacityReached("the in-process cache is full"));
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if retention == Retention::Shed {
            self.shed_queue.push_back((key.to_owned(), seq));
            self.shed_count += 1;
            self.compact_queue();
        }
        // TTLs are clamped to ten years, so the addition cannot overflow; were
        // it to, the entry would be born expired rather than panic.
        let expires = now
            .checked_add(Duration::from_secs(ttl_secs))
            .unwrap_or(now);
        self.bytes += needed;
        self.entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires,
                retention,
                seq,
            },
        );
        Ok(())
    }
}

impl MemoryCache {
    /// An empty cache with the default byte budget.
    pub fn new() -> Self {
        Self::with_budget(DEFAULT_MAX_BYTES)
    }

    /// An empty cache holding at most about `max_bytes`.
    pub fn with_budget(max_bytes: usize) -> Self {
        let per_shard = max_bytes / SHARDS;
        Self {
            shards: std::array::from_fn(|_| Mutex::new(Shard::new(per_shard))),
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

    pub(super) fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
        retention: Retention,
    ) -> Result<(), CacheError> {
        let now = Instant::now();
        self.shard(key)
            .insert(key, value.to_vec(), ttl_secs, retention, now)
    }

    pub(super) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.shard(key).live(key, now).map(|e| e.value.clone())
    }

    pub(super) fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        let entry = self.shard(key).remove(key)?;
        entry.is_live(now).then_some(entry.value)
    }

    pub(super) fn delete(&self, key: &str) {
        self.shard(key).remove(key);
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
            let text = count.to_string().into_bytes();
            let grown = text.len() - entry.value.len().min(text.len());
            entry.value = text;
            shard.bytes += grown;
            return Ok(count);
        }
        shard.insert(key, b"1".to_vec(), ttl_secs, Retention::Keep, now)?;
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
        if count == 0 {
            // Nothing left to remember: the key goes, so refunds leave no trace.
            shard.remove(key);
        } else {
            entry.value = count.to_string().into_bytes();
        }
        Ok(count)
    }

    /// [`super::Cache::swap`]: the read and the write happen under one shard
    /// lock. When the new value does not fit, the old one stays and is not returned.
    pub(super) fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
        retention: Retention,
    ) -> Result<Option<Vec<u8>>, CacheError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let previous = shard.live(key, now).map(|e| e.value.clone());
        shard.insert(key, value.to_vec(), ttl_secs, retention, now)?;
        Ok(previous)
    }

    /// [`super::Cache::set_add`]: the set is a JSON array of (member, expiry
    /// in Unix seconds) in one entry, changed under the shard lock.
    pub(super) fn set_add(
        &self,
        key: &str,
        member: &str,
        ttl_secs: u64,
        max_members: usize,
    ) -> Result<Vec<String>, CacheError> {
        let now = Instant::now();
        let unix = unix_now();
        let mut shard = self.shard(key);
        let mut members = match shard.live(key, now) {
            Some(entry) => decode_set(&entry.value)?,
            None => Vec::new(),
        };
        members.retain(|(m, expires)| *expires > unix && m != member);
        members.push((member.to_owned(), unix + ttl_secs));
        members.sort_by_key(|(_, expires)| *expires);
        let over = members.len().saturating_sub(max_members);
        let dropped = members.drain(..over).map(|(m, _)| m).collect();
        let last = members.last().map_or(unix + 1, |(_, expires)| *expires);
        shard.insert(key, encode_set(&members), last - unix, Retention::Keep, now)?;
        Ok(dropped)
    }

    /// [`super::Cache::set_remove`], under the shard lock; an emptied set goes.
    pub(super) fn set_remove(&self, key: &str, remove: &[String]) -> Result<(), CacheError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let Some(entry) = shard.live(key, now) else {
            return Ok(());
        };
        let left = entry.expires - now;
        let mut members = decode_set(&entry.value)?;
        members.retain(|(m, _)| !remove.contains(m));
        if members.is_empty() {
            shard.remove(key);
            return Ok(());
        }
        let ttl_secs = left.as_secs().max(1);
        shard.insert(key, encode_set(&members), ttl_secs, Retention::Keep, now)
    }

    pub(super) fn set_contains(&self, key: &str, member: &str) -> Result<bool, CacheError> {
        let unix = unix_now();
        match self.get(key) {
            Some(value) => Ok(decode_set(&value)?
                .iter()
                .any(|(m, expires)| m == member && *expires > unix)),
            None => Ok(false),
        }
    }

    pub(super) fn set_members(&self, key: &str) -> Result<Vec<String>, CacheError> {
        let unix = unix_now();
        match self.get(key) {
            Some(value) => Ok(decode_set(&value)?
                .into_iter()
                .filter(|(_, expires)| *expires > unix)
                .map(|(m, _)| m)
                .collect()),
            None => Ok(Vec::new()),
        }
    }

    /// [`super::Cache::replace`]: the presence check and the write happen under
    /// one shard lock, so a concurrent `take` or `delete` either comes first
    /// (and nothing is written) or after (and removes the new value).
    pub(super) fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
        retention: Retention,
    ) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        if shard.live(key, now).is_none() {
            return Ok(false);
        }
        shard.insert(key, value.to_vec(), ttl_secs, retention, now)?;
        Ok(true)
    }
}

/// A set's members with their expiry, Unix seconds.
type Members = Vec<(String, u64)>;

fn encode_set(members: &Members) -> Vec<u8> {
    serde_json::to_vec(members).unwrap_or_default()
}

fn decode_set(value: &[u8]) -> Result<Members, CacheError> {
    serde_json::from_slice(value).map_err(|_| CacheError::NotASet)
}

/// Real time in Unix seconds, the clock set members expire by (as Redis's do).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(shard: &Shard, key: &str) -> bool {
        shard.entries.contains_key(key)
    }

    #[test]
    fn a_full_shard_drops_expired_entries_then_the_oldest_shed_ones_never_kept_ones() {
        let entry = cost("shed-00", 1000, Retention::Shed);
        let mut shard = Shard::new(10 * entry);
        let t0 = Instant::now();
        shard
            .insert("expired", vec![0; 1000], 1, Retention::Keep, t0)
            .unwrap();
        for i in 0..3 {
            let key = format!("session-{i}");
            shard
                .insert(&key, vec![0; 1000], 3600, Retention::Keep, t0)
                .unwrap();
        }
        for i in 0..5 {
            let key = format!("shed-{i:02}");
            shard
                .insert(&key, vec![0; 1000], 900, Retention::Shed, t0)
                .unwrap();
        }
        assert!(shard.bytes <= shard.budget);
        // Two seconds later the first entry has expired: making room takes it
        // before any live entry.
        let t1 = t0 + Duration::from_secs(2);
        shard
            .insert("shed-05", vec![0; 1000], 900, Retention::Shed, t1)
            .unwrap();
        shard
            .insert("shed-06", vec![0; 1000], 900, Retention::Shed, t1)
            .unwrap();
        assert!(!has(&shard, "expired"), "the expired entry went first");
        assert!((0..7).all(|i| has(&shard, &format!("shed-{i:02}"))));
        // Then the oldest shed entries go, one per entry that needs the room.
        for i in 7..12 {
            let key = format!("shed-{i:02}");
            shard
                .insert(&key, vec![0; 1000], 900, Retention::Shed, t1)
                .unwrap();
            assert!(shard.bytes <= shard.budget, "over budget after {key}");
        }
        let kept: Vec<bool> = (0..12)
            .map(|i| has(&shard, &format!("shed-{i:02}")))
            .collect();
        assert_eq!(
            kept,
            [vec![false; 5], vec![true; 7]].concat(),
            "oldest first"
        );
        assert!(
            (0..3).all(|i| has(&shard, &format!("session-{i}"))),
            "kept entries stay"
        );
        // A kept entry that needs the room sheds every shed entry if it must...
        shard
            .insert(
                "session-0",
                vec![1; 7 * entry + 100],
                3600,
                Retention::Keep,
                t1,
            )
            .unwrap();
        assert!((0..12).all(|i| !has(&shard, &format!("shed-{i:02}"))));
        // ...but kept entries are never shed: a write that does not fit among
        // them is refused, and a value being replaced stays as it was.
        let refused = shard.insert("session-3", vec![2; 3000], 3600, Retention::Keep, t1);
        assert!(
            matches!(refused, Err(CacheError::CapacityReached(_))),
            "{refused:?}"
        );
        let refused = shard.insert("session-1", vec![2; 3000], 3600, Retention::Shed, t1);
        assert!(
            matches!(refused, Err(CacheError::CapacityReached(_))),
            "{refused:?}"
        );
        assert_eq!(shard.entries["session-1"].value, vec![0; 1000]);
        assert!((0..3).all(|i| has(&shard, &format!("session-{i}"))));
        assert!(shard.bytes <= shard.budget);
        let counted: usize = shard
            .entries
            .iter()
            .map(|(k, e)| cost(k, e.value.len(), e.retention))
            .sum();
        assert_eq!(counted, shard.bytes, "the byte count matches the entries");
    }

    #[test]
    fn the_whole_cache_stays_within_its_budget_under_a_flood_of_shed_entries() {
        let budget = 1024 * 1024;
        let cache = MemoryCache::with_budget(budget);
        for i in 0..50 {
            cache
                .put(&format!("session-{i}"), &[7; 200], 3600, Retention::Keep)
                .unwrap();
        }
        for i in 0..20_000 {
            cache
                .put(&format!("pending-{i}"), &[0; 2000], 900, Retention::Shed)
                .unwrap();
        }
        let bytes: usize = cache.shards.iter().map(|s| s.lock().unwrap().bytes).sum();
        assert!(bytes <= budget, "{bytes} > {budget}");
        for i in 0..50 {
            assert_eq!(
                cache.get(&format!("session-{i}")),
                Some(vec![7; 200]),
                "session-{i}"
            );
        }
        assert!(
            cache.get("pending-19999").is_some(),
            "the newest pending entry is kept"
        );
        assert!(cache.get("pending-0").is_none(), "the oldest went");
        let queued: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().shed_queue.len())
            .sum();
        assert!(
            queued < 2_000,
            "the eviction queue stays proportional: {queued}"
        );
    }

    #[test]
    fn expired_entries_are_swept_so_memory_stays_bounded() {
        let cache = MemoryCache::new();
        let past = Instant::now() - Duration::from_secs(1);
        for shard in &cache.shards {
            let mut shard = shard.lock().unwrap();
            for i in 0..1000 {
                let key = format!("expired-{i}");
                shard.bytes += cost(&key, 16, Retention::Keep);
                shard.entries.insert(
                    key,
                    Entry {
                        value: vec![0; 16],
                        expires: past,
                        retention: Retention::Keep,
                        seq: 0,
                    },
                );
            }
        }
        // Enough writes that every shard reaches its sweep threshold (half its size).
        for i in 0..40_000 {
            cache
                .put(&format!("live-{i}"), b"v", 60, Retention::Keep)
                .unwrap();
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
