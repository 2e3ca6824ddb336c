//! Admission control for state that requests without authentication make the
//! server keep (today: pending authorization requests). Two bounds hold before
//! an entry is stored:
//!
//! - **Per client address** (an IPv6 address counts by its /64, which one
//!   subscriber usually holds whole): a fixed window as long as the entry's
//!   lifetime, so at most twice the cap from one address is alive at once. A
//!   refusal is [`CacheError::CapacityReached`], with a log line naming the cap;
//!   callers answer it as "temporarily unavailable".
//! - **Overall**: a ring of `max_pending` slots. The n-th admitted entry takes
//!   slot n mod `max_pending` and the entry that held the slot — the oldest
//!   still tracked — is dropped. So at most `max_pending` entries are alive, and
//!   a flood from many addresses sheds the oldest pending requests (whose owners
//!   restart at worst) instead of refusing everyone's new ones.
//!
//! Counters and slots live in the cache, so on Redis both bounds hold across
//! every instance. Admitted entries are stored as [`Retention::Shed`]: the
//! in-process cache drops them before anything a signed-in person needs.

use std::net::IpAddr;

use crate::cache::{Cache, CacheError, Retention};
use crate::config::Config;
use crate::http::client_ip;

/// The two bounds, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Entries one address may have admitted per window (`max_pending_per_address`).
    pub per_address: u32,
    /// Slots of the overall ring (`max_pending`).
    pub overall: u32,
}

impl Limits {
    /// The limits `config` sets.
    pub fn of(config: &Config) -> Self {
        Self {
            per_address: config.max_pending_per_address,
            overall: config.max_pending,
        }
    }
}

/// How long the admission sequence number lives: far longer than any entry,
/// so slots are reused in order and never early.
const SEQUENCE_TTL_SECS: u64 = 365 * 86_400;

/// Stores `value` under `key` for `ttl_secs` if the request's client address
/// is within its cap, dropping the oldest admitted entry when the overall
/// ring is full (see the module). The address is the one the edge decided for
/// the request being served (requests outside one share the bucket "unknown").
pub async fn put_unauthenticated(
    cache: &Cache,
    limits: Limits,
    key: &str,
    value: &[u8],
    ttl_secs: u64,
) -> Result<(), CacheError> {
    let address = client_ip::current().map_or_else(|| "unknown".to_owned(), address_bucket);
    let from_address = cache
        .incr(&format!("admission:address:{address}"), ttl_secs)
        .await?;
    if from_address > u64::from(limits.per_address) {
        tracing::warn!(
            %address,
            cap = limits.per_address,
            "pending sign-ins refused: max_pending_per_address reached"
        );
        return Err(CacheError::CapacityReached(
            "too many pending sign-ins from this address",
        ));
    }
    take_slot(cache, limits, key, ttl_secs).await?;
    cache.put_with(key, value, ttl_secs, Retention::Shed).await
}

/// Records `key` in the next slot of the overall ring and drops the entry
/// that held the slot before, if it is still there.
async fn take_slot(
    cache: &Cache,
    limits: Limits,
    key: &str,
    ttl_secs: u64,
) -> Result<(), CacheError> {
    let slots = u64::from(limits.overall.max(1));
    let n = cache.incr("admission:sequence", SEQUENCE_TTL_SECS).await?;
    let slot = format!("admission:slot:{}", n % slots);
    let older = cache
        .swap(&slot, key.as_bytes(), ttl_secs, Retention::Keep)
        .await?;
    if let Some(older) = older.and_then(|bytes| String::from_utf8(bytes).ok()) {
        if n % slots == 0 {
            // Once per turn of the ring, not once per entry: a flood is one line a turn.
            tracing::warn!(
                cap = limits.overall,
                "max_pending reached: the oldest pending sign-ins are being dropped"
            );
        }
        cache.delete(&older).await?;
    }
    Ok(())
}

/// The bucket an address is counted in: itself for IPv4, its /64 for IPv6
/// (one subscriber usually holds a whole /64). Every per-address limit uses it.
pub fn address_bucket(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(address_bucket(ip("192.0.2.9")), "192.0.2.9");
        assert_eq!(address_bucket(ip("::ffff:192.0.2.9")), "192.0.2.9");
        assert_eq!(
            address_bucket(ip("2001:db8:1:2:aaaa::1")),
            address_bucket(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            address_bucket(ip("2001:db8:1:2::1")),
            address_bucket(ip("2001:db8:1:3::1"))
        );
    }
}
