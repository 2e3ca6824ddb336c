//! Hot, short-lived state — browser sessions, authorization codes, rate
//! counters — that every instance must see but that need not survive forever.
//!
//! One [`Cache`] with two backends picked once at start: in-process (the
//! embedded default, [`MemoryCache`]) or Redis when `redis_url` is set, so
//! several instances share it ([`RedisCache`]). Every entry has a TTL measured
//! in real time; services keep their own timestamps for protocol decisions.
//!
//! Every entry has a [`Retention`] class. The in-process cache holds a bounded
//! number of bytes and, when full, sheds [`Retention::Shed`] entries first and
//! never a [`Retention::Keep`] one; Redis is bounded by its own `maxmemory`.

mod memory;
mod redis;

use std::sync::Arc;

pub use memory::{DEFAULT_MAX_BYTES, MemoryCache};
pub use redis::RedisCache;

/// The longest TTL accepted (ten years): keeps `Instant` arithmetic and Redis
/// expiry times far from overflow whatever a caller passes.
const MAX_TTL_SECS: u64 = 10 * 365 * 86_400;

/// Why a cache operation failed. Never carries a cached value or a URL.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis could not be reached or did not answer `PING` at start.
    #[error("cannot connect to Redis: {0}")]
    Connect(::redis::RedisError),
    /// A Redis command failed (connection lost, timeout, server error).
    #[error("Redis command failed: {0}")]
    Command(#[from] ::redis::RedisError),
    /// [`Cache::incr`] found a key that holds something other than a count.
    #[error("cached value is not a counter")]
    NotACounter,
    /// A set operation found a key that holds something other than a set.
    #[error("cached value is not a set")]
    NotASet,
    /// A bound was reached: the in-process cache is full of entries it may
    /// not shed, or an admission cap refused new state. Callers answer
    /// "temporarily unavailable".
    #[error("capacity reached: {0}")]
    CapacityReached(&'static str),
}

/// How much an entry is worth keeping when the in-process cache is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Never shed while live: sessions, codes, rate counters.
    Keep,
    /// May be shed (oldest first) to make room: state that requests without
    /// authentication create, such as pending sign-ins, whose loss costs the
    /// person a restart at worst.
    Shed,
}

/// Handle to the cache; cheap to clone.
#[derive(Clone)]
pub enum Cache {
    /// In-process: one server, nothing to run beside it.
    Memory(Arc<MemoryCache>),
    /// Shared by every instance pointed at the same Redis.
    Redis(RedisCache),
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cache::Memory(memory) => f.debug_tuple("Memory").field(memory).finish(),
            Cache::Redis(redis) => f.debug_tuple("Redis").field(redis).finish(),
        }
    }
}

/// A TTL both backends can represent: at least one second (Redis refuses 0),
/// at most [`MAX_TTL_SECS`].
fn clamp_ttl(ttl_secs: u64) -> u64 {
    ttl_secs.clamp(1, MAX_TTL_SECS)
}

impl Cache {
    /// Redis when `redis_url` is Some (connect + PING at start, fail clearly if unreachable), else in-process.
    /// Every key is stored under `namespace` (e.g. "gatehouse:"), so deployments or tests can share one Redis.
    pub async fn connect(redis_url: Option<&str>, namespace: &str) -> Result<Cache, CacheError> {
        match redis_url {
            Some(url) => Ok(Cache::Redis(RedisCache::connect(url, namespace).await?)),
            None => Ok(Cache::memory()),
        }
    }

    /// A fresh in-process cache with the default byte budget (handy in tests).
    pub fn memory() -> Cache {
        Cache::Memory(Arc::new(MemoryCache::new()))
    }

    /// A fresh in-process cache holding at most about `max_bytes`.
    pub fn memory_bounded(max_bytes: usize) -> Cache {
        Cache::Memory(Arc::new(MemoryCache::with_budget(max_bytes)))
    }

    /// Stores `value` under `key` for `ttl_secs` (at least 1), replacing any
    /// previous value, as an entry that is never shed.
    pub async fn put(&self, key: &str, value: &[u8], ttl_secs: u64) -> Result<(), CacheError> {
        self.put_with(key, value, ttl_secs, Retention::Keep).await
    }

    /// [`Cache::put`] with an explicit [`Retention`] class.
    pub async fn put_with(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
        retention: Retention,
    ) -> Result<(), CacheError> {
        let ttl_secs = clamp_ttl(ttl_secs);
        match self {
            Cache::Memory(memory) => memory.put(key, value, ttl_secs, retention),
            Cache::Redis(redis) => redis.put(key, value, ttl_secs).await,
        }
    }

    /// Overwrites the value under `key` only if a live one is there (`SET … XX`
    /// on Redis), atomically; returns whether it wrote. For records that may be
    /// ended concurrently — a session being signed out, an interaction being
    /// finished — so that refreshing one can never bring it back.
    pub async fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
        retention: Retention,
    ) -> Result<bool, CacheError> {
        let ttl_secs = clamp_ttl(ttl_secs);
        match self {
            Cache::Memory(memory) => memory.replace(key, value, ttl_secs, retention),
            Cache::Redis(redis) => redis.replace(key, value, ttl_secs).await,
        }
    }

    /// Stores `value` under `key` as [`Cache::put_with`] does and returns the
    /// live value it replaced, atomically (`SET … GET` on Redis): of two
    /// concurrent swaps of one key, each gets back a different previous value.
    pub async fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
        retention: Retention,
    ) -> Result<Option<Vec<u8>>, CacheError> {
        let ttl_secs = clamp_ttl(ttl_secs);
        match self {
            Cache::Memory(memory) => memory.swap(key, value, ttl_secs, retention),
            Cache::Redis(redis) => redis.swap(key, value, ttl_secs).await,
        }
    }

    /// Adds `member` to the small set under `key` — such as the ids of one
    /// person's sessions — to stay for `ttl_secs` (re-adding renews it), and
    /// keeps at most `max_members`: expired members go first, then those due
    /// to expire soonest, which are returned so the caller can end what they
    /// stand for. Atomic (one script on Redis, by Redis's clock); the key lives
    /// as long as its last member. Sets are never shed.
    pub async fn set_add(
        &self,
        key: &str,
        member: &str,
        ttl_secs: u64,
        max_members: usize,
    ) -> Result<Vec<String>, CacheError> {
        let ttl_secs = clamp_ttl(ttl_secs);
        match self {
            Cache::Memory(memory) => memory.set_add(key, member, ttl_secs, max_members),
            Cache::Redis(redis) => redis.set_add(key, member, ttl_secs, max_members).await,
        }
    }

    /// Removes `members` from the set under `key`, atomically; a set left
    /// empty is removed.
    pub async fn set_remove(&self, key: &str, members: &[String]) -> Result<(), CacheError> {
        match self {
            Cache::Memory(memory) => memory.set_remove(key, members),
            Cache::Redis(redis) => redis.set_remove(key, members).await,
        }
    }

    /// The members of the set under `key` that have not expired, in no
    /// particular order.
    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, CacheError> {
        match self {
            Cache::Memory(memory) => memory.set_members(key),
            Cache::Redis(redis) => redis.set_members(key).await,
        }
    }

    /// Whether `member` is in the set under `key` and has not expired.
    pub async fn set_contains(&self, key: &str, member: &str) -> Result<bool, CacheError> {
        match self {
            Cache::Memory(memory) => memory.set_contains(key, member),
            Cache::Redis(redis) => redis.set_contains(key, member).await,
        }
    }

    /// The values under `keys`, in their order (`MGET` on Redis: one round trip).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        match self {
            Cache::Memory(memory) => Ok(keys.iter().map(|key| memory.get(key)).collect()),
            Cache::Redis(redis) => redis.get_many(keys).await,
        }
    }

    /// The value under `key`, unless it is absent or expired.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(memory) => Ok(memory.get(key)),
            Cache::Redis(redis) => redis.get(key).await,
        }
    }

    /// atomic get-and-delete: of two concurrent takes exactly one gets the value (GETDEL on Redis)
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        match self {
            Cache::Memory(memory) => Ok(memory.take(key)),
            Cache::Redis(redis) => redis.take(key).await,
        }
    }

    /// Removes `key` (no error if it is absent).
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match self {
            Cache::Memory(memory) => {
                memory.delete(key);
                Ok(())
            }
            Cache::Redis(redis) => redis.delete(key).await,
        }
    }

    /// fixed-window counter: increments, sets the TTL only when the key is created (atomic: a Lua script INCR + EXPIRE on Redis), returns the new count
    pub async fn incr(&self, key: &str, ttl_secs: u64) -> Result<u64, CacheError> {
        let ttl_secs = clamp_ttl(ttl_secs);
        match self {
            Cache::Memory(memory) => memory.incr(key, ttl_secs),
            Cache::Redis(redis) => redis.incr(key, ttl_secs).await,
        }
    }

    /// Gives one count back to a counter made by [`Cache::incr`], atomically: a
    /// live count above zero goes down by one, keeping its window; an absent or
    /// expired counter stays absent (a refund never starts a window), and a
    /// count that reaches zero is removed. Returns the count after the refund
    /// (0 when there was none).
    pub async fn decr(&self, key: &str) -> Result<u64, CacheError> {
        match self {
            Cache::Memory(memory) => memory.decr(key),
            Cache::Redis(redis) => redis.decr(key).await,
        }
    }

    /// Whether the cache answers (for `/readyz`); always true in-process.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match self {
            Cache::Memory(_) => Ok(()),
            Cache::Redis(redis) => redis.ping().await,
        }
    }
}
