//! Admission control for state that requests without authentication make the
//! server keep (today: pending authorization requests). Each such entry is
//! counted against two caps before it is stored — per client address (an IPv6
//! address counts by its /64, which one subscriber usually holds whole) and
//! overall — in fixed windows as long as the entry's lifetime, so at most
//! twice each cap is alive at once. The counters live in the cache, so on
//! Redis the caps hold across every instance. Admitted entries are stored as
//! [`Retention::Shed`]: the in-process cache drops them before anything a
//! signed-in person needs.
//!
//! A refusal is [`CacheError::CapacityReached`] with a log line naming the cap;
//! callers answer it as "temporarily unavailable".

use std::net::IpAddr;

use crate::app::AppState;
use crate::cache::{CacheError, Retention};
use crate::http::client_ip;

/// Stores `value` under `key` for `ttl_secs` if the request's client address
/// and all clients together are within their caps for this kind of entry.
/// The address is the one the edge decided for the request being served
/// (requests outside one share the bucket "unknown").
pub async fn put_unauthenticated(
    state: &AppState,
    key: &str,
    value: &[u8],
    ttl_secs: u64,
) -> Result<(), CacheError> {
    let config = &state.config;
    let address = client_ip::current().map_or_else(|| "unknown".to_owned(), address_bucket);
    let from_address = state
        .cache
        .incr(&format!("admission:address:{address}"), ttl_secs)
        .await?;
    if from_address > u64::from(config.max_pending_per_address) {
        tracing::warn!(
            %address,
            cap = config.max_pending_per_address,
            "pending sign-ins refused: max_pending_per_address reached"
        );
        return Err(CacheError::CapacityReached(
            "too many pending sign-ins from this address",
        ));
    }
    let overall = state.cache.incr("admission:all", ttl_secs).await?;
    if overall > u64::from(config.max_pending) {
        tracing::warn!(
            cap = config.max_pending,
            "pending sign-ins refused: max_pending reached"
        );
        return Err(CacheError::CapacityReached("too many pending sign-ins"));
    }
    state
        .cache
        .put_with(key, value, ttl_secs, Retention::Shed)
        .await
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
