//! The Redis cache: shared by every instance for scale-out.
//!
//! One multiplexed [`ConnectionManager`] per process carries every command and
//! reconnects by itself after a lost connection. Every key is prefixed with the
//! configured namespace so several deployments (or parallel tests) can share
//! one Redis without seeing each other's keys.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::CacheError;

/// Increments a counter and starts its window only when this increment
/// created it, in one atomic step.
static INCR_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count",
    )
});

/// Gives one count back to a live counter above zero, keeping its TTL (DECR
/// does); never creates the key; a value that is not a count is an error, as
/// for INCR.
static DECR_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local count = tonumber(value)
if not count then return redis.error_reply('not a counter') end
if count > 1 then return redis.call('DECR', KEYS[1]) end
redis.call('DEL', KEYS[1])
return 0",
    )
});

/// Lua that makes `now` Redis's clock in microseconds, and replaces a key of
/// another type (a set an older release wrote) with nothing. Every set script
/// starts with it, so set members are scored the same way everywhere.
const SET_PRELUDE: &str = r"local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local kind = redis.call('TYPE', KEYS[1]).ok
if kind ~= 'zset' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
";

/// Adds a member to a sorted set scored by its expiry in microseconds (fine
/// enough to keep members added in one second in order), drops expired members
/// and, beyond the cap, those expiring soonest (returned), and keeps the key
/// until its last member expires.
static SET_ADD_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{SET_PRELUDE}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2]) * 1000000), ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
local dropped = {{}}
if over > 0 then
  dropped = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2]) / 1000000))
return dropped"
    ))
});

/// The members of a set made by [`SET_ADD_SCRIPT`] that have not expired.
static SET_MEMBERS_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{SET_PRELUDE}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', now), '+inf')"
    ))
});

/// 1 when the member is in a set made by [`SET_ADD_SCRIPT`] and has not expired.
static SET_CONTAINS_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{SET_PRELUDE}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then return 1 end
return 0"
    ))
});

/// Removes members from a set made by [`SET_ADD_SCRIPT`].
static SET_REMOVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{SET_PRELUDE}
if #ARGV == 0 then return 0 end
return redis.call('ZREM', KEYS[1], unpack(ARGV))"
    ))
});

/// Time allowed to open a connection, and for Redis to answer a command. Generous
/// for a loaded host, short enough that a dead Redis fails requests quickly.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Reconnection attempts per outage before the next command tries again.
const RECONNECT_ATTEMPTS: usize = 3;

/// A namespaced handle to one Redis; cheap to clone.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    namespace: Arc<str>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects to `url` and checks that Redis answers `PING`.
    pub(super) async fn connect(url: &str, namespace: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(CacheError::Connect)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(RECONNECT_ATTEMPTS);
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(CacheError::Connect)?;
        let _pong: String = connection.ping().await.map_err(CacheError::Connect)?;
        Ok(Self {
            connection,
            namespace: namespace.into(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.namespace)
    }

    /// A handle for one command (clones share the multiplexed connection).
    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub(super) async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
    ) -> Result<(), CacheError> {
        let () = self
            .connection()
            .set_ex(self.key(key), value, ttl_secs)
            .await?;
        Ok(())
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.connection().get(self.key(key)).await?)
    }

    pub(super) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(self.connection().get_del(self.key(key)).await?)
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let _removed: u64 = self.connection().del(self.key(key)).await?;
        Ok(())
    }

    pub(super) async fn incr(&self, key: &str, ttl_secs: u64) -> Result<u64, CacheError> {
        Ok(INCR_SCRIPT
            .key(self.key(key))
            .arg(ttl_secs)
            .invoke_async(&mut self.connection())
            .await?)
    }

    pub(super) async fn decr(&self, key: &str) -> Result<u64, CacheError> {
        Ok(DECR_SCRIPT
            .key(self.key(key))
            .invoke_async(&mut self.connection())
            .await?)
    }

    pub(super) async fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
    ) -> Result<bool, CacheError> {
        let written: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("EX")
            .arg(ttl_secs)
            .arg("XX")
            .query_async(&mut self.connection())
            .await?;
        Ok(written.is_some())
    }

    pub(super) async fn swap(
        &self,
        key: &str,
        value: &[u8],
        ttl_secs: u64,
    ) -> Result<Option<Vec<u8>>, CacheError> {
        Ok(redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("EX")
            .arg(ttl_secs)
            .arg("GET")
            .query_async(&mut self.connection())
            .await?)
    }

    pub(super) async fn set_add(
        &self,
        key: &str,
        member: &str,
        ttl_secs: u64,
        max_members: usize,
    ) -> Result<Vec<String>, CacheError> {
        Ok(SET_ADD_SCRIPT
            .key(self.key(key))
            .arg(member)
            .arg(ttl_secs)
            .arg(max_members)
            .invoke_async(&mut self.connection())
            .await?)
    }

    pub(super) async fn set_remove(&self, key: &str, members: &[String]) -> Result<(), CacheError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut script = SET_REMOVE_SCRIPT.key(self.key(key));
        for member in members {
            script.arg(member);
        }
        let _removed: u64 = script.invoke_async(&mut self.connection()).await?;
        Ok(())
    }

    pub(super) async fn set_members(&self, key: &str) -> Result<Vec<String>, CacheError> {
        Ok(SET_MEMBERS_SCRIPT
            .key(self.key(key))
            .invoke_async(&mut self.connection())
            .await?)
    }

    pub(super) async fn set_contains(&self, key: &str, member: &str) -> Result<bool, CacheError> {
        let found: u64 = SET_CONTAINS_SCRIPT
            .key(self.key(key))
            .arg(member)
            .invoke_async(&mut self.connection())
            .await?;
        Ok(found == 1)
    }

    pub(super) async fn get_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        Ok(redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.connection())
            .await?)
    }

    pub(super) async fn ping(&self) -> Result<(), CacheError> {
        let _pong: String = self.connection().ping().await?;
        Ok(())
    }
}
