//! The client's address as the edge sees it. Without `trusted_proxies` it is
//! the TCP peer. When the peer is a trusted proxy (a load balancer), it is
//! taken from `Forwarded` (RFC 7239) or, without that header, `X-Forwarded-For`:
//! the right-most address that is not itself a trusted proxy, because every
//! hop appends the address it received the request from and only the hops we
//! trust can be believed. A header that cannot be read is ignored whole, so a
//! malformed value never makes a spoofed address count.
//!
//! [`resolve_client_ip`] is a middleware that decides the address once per
//! request: handlers read it with the [`ClientIp`] extractor, and code that
//! accounts per address below the handlers (admission caps) reads it with
//! [`current`], without every signature in between carrying it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Hops read from the end of a forwarding chain at most; a longer chain of
/// trusted proxies is not believed (the peer is used), bounding the work.
const MAX_HOPS: usize = 32;

tokio::task_local! {
    static CURRENT: IpAddr;
}

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a single
/// address), as `trusted_proxies` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    network: IpAddr,
    prefix: u8,
}

/// A `trusted_proxies` entry that is not an address or CIDR.
#[derive(Debug, thiserror::Error)]
#[error("not an IP address or CIDR like 10.0.0.0/8")]
pub struct InvalidNetwork;

impl IpNetwork {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> u32 {
    u32::from(ip)
        .checked_shr(32 - u32::from(prefix))
        .and_then(|v| v.checked_shl(32 - u32::from(prefix)))
        .unwrap_or(0)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> u128 {
    u128::from(ip)
        .checked_shr(128 - u32::from(prefix))
        .and_then(|v| v.checked_shl(128 - u32::from(prefix)))
        .unwrap_or(0)
}

impl FromStr for IpNetwork {
    type Err = InvalidNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidNetwork;
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().map_err(|_| invalid())?;
        let address = address.to_canonical();
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(invalid)?,
        };
        let network = match address {
            IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(mask_v4(ip, prefix))),
            IpAddr::V6(ip) => IpAddr::V6(Ipv6Addr::from(mask_v6(ip, prefix))),
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for IpNetwork {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNetwork {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The one header the trusted proxies set to name the client. Only that one is
/// read: a proxy that appends to `X-Forwarded-For` passes a client's own
/// `Forwarded` header through untouched (and the other way round), so reading
/// whichever is present would let a client pick its address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most cloud load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

/// The client address for a request that came from `peer` with `headers`.
pub fn client_address(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNetwork],
    header: ForwardedHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(chain) = forwarded_chain(headers, header) else {
        return peer;
    };
    let mut leftmost = peer;
    for hop in chain.iter().rev().take(MAX_HOPS) {
        let Some(ip) = *hop else {
            return peer;
        };
        if !is_trusted(ip) {
            return ip;
        }
        leftmost = ip;
    }
    if chain.len() > MAX_HOPS {
        return peer;
    }
    leftmost
}

/// The addresses a request passed through, oldest first, from `header`;
/// `None` for a hop that cannot be read. Several header lines are one list, in
/// order (RFC 7230 §3.2.2).
fn forwarded_chain(headers: &HeaderMap, header: ForwardedHeader) -> Option<Vec<Option<IpAddr>>> {
    let joined = |name: &str| -> Option<Option<String>> {
        let mut values = headers.get_all(name).iter().peekable();
        values.peek()?;
        let texts: Option<Vec<&str>> = values.map(|v| v.to_str().ok()).collect();
        Some(texts.map(|t| t.join(",")))
    };
    match header {
        ForwardedHeader::Forwarded => {
            let forwarded = joined("forwarded")??;
            Some(forwarded.split(',').map(forwarded_for).collect())
        }
        ForwardedHeader::XForwardedFor => {
            let xff = joined("x-forwarded-for")??;
            Some(xff.split(',').map(|hop| parse_node(hop.trim())).collect())
        }
    }
}

/// The `for=` node of one `Forwarded` element (RFC 7239 §4): `for=192.0.2.1`,
/// `for="[2001:db8::1]:4711"`; `unknown` and obfuscated names are unreadable.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        parse_node(value)
    })
}

/// An address, with or without a port: `192.0.2.1`, `192.0.2.1:80`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    node.strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .and_then(|v| v.parse::<Ipv6Addr>().ok())
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

/// The client address of the request being handled on this task, as
/// [`resolve_client_ip`] decided it; `None` outside a request.
pub fn current() -> Option<IpAddr> {
    CURRENT.try_with(|ip| *ip).ok()
}

/// Middleware: decides the client address once (from the peer and, for a
/// trusted peer, the forwarding headers), stores it as [`ClientIp`] and runs
/// the rest of the request with it as [`current`].
pub async fn resolve_client_ip(
    trusted: Arc<[IpNetwork]>,
    header: ForwardedHeader,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let Some(peer) = peer else {
        return next.run(request).await;
    };
    let ip = client_address(peer, request.headers(), &trusted, header);
    request.extensions_mut().insert(ClientIp(ip.to_string()));
    CURRENT.scope(ip, next.run(request)).await
}

/// The client address of a request, for per-address limits: the TCP peer, or
/// for a trusted proxy the address it forwarded for ("unknown" when the server
/// was started without connection info).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .cloned()
            .unwrap_or_else(|| Self("unknown".to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const FWD: ForwardedHeader = ForwardedHeader::Forwarded;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNetwork> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_mask_and_match() {
        let net: IpNetwork = "10.1.2.3/8".parse().unwrap();
        assert_eq!(net.to_string(), "10.0.0.0/8");
        assert!(net.contains(ip("10.255.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.9")));
        assert!(!net.contains(ip("11.0.0.1")));
        let single: IpNetwork = "192.0.2.7".parse().unwrap();
        assert!(single.contains(ip("192.0.2.7")) && !single.contains(ip("192.0.2.8")));
        let v6: IpNetwork = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        let all: IpNetwork = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "host",
            "10.0.0.0/x",
            "1.2.3.4/-1",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
        }
    }

    #[test]
    fn without_a_trusted_peer_the_headers_are_ignored() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            client_address(ip("198.51.100.1"), &spoofed, &[], XFF),
            ip("198.51.100.1")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("198.51.100.1"), &spoofed, &trusted, XFF),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client claims 1.1.1.1; the load balancer appended the real peer.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, XFF),
            ip("203.0.113.9")
        );
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9:5555"),
        ]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, XFF),
            ip("203.0.113.9")
        );
        // Only trusted hops: the left-most one is the client.
        let h = headers(&[("x-forwarded-for", "10.0.0.7, 10.0.0.8")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, XFF),
            ip("10.0.0.7")
        );
        // A trusted peer without the header is the client.
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted, XFF),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn only_the_configured_header_is_read_and_forwarded_syntax_is_understood() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.77"),
            (
                "forwarded",
                r#"for=1.1.1.1, For="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60;by=10.0.0.1"#,
            ),
        ]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, FWD),
            ip("192.0.2.60")
        );
        // With X-Forwarded-For configured, a client's own Forwarded is ignored.
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, XFF),
            ip("198.51.100.77")
        );
        let h = headers(&[(
            "forwarded",
            r#"for="[2001:db8:1::1]", for="[2001:db9::5]:80""#,
        )]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, FWD),
            ip("2001:db9::5")
        );
    }

    #[test]
    fn malformed_headers_fall_back_to_the_peer() {
        let trusted = nets(&["10.0.0.0/8"]);
        for value in ["garbage", "203.0.113.9, ", "", "unknown", "1.2.3.4.5"] {
            let h = headers(&[("x-forwarded-for", value)]);
            assert_eq!(
                client_address(ip("10.0.0.1"), &h, &trusted, XFF),
                ip("10.0.0.1"),
                "{value:?}"
            );
        }
        for value in ["for=unknown", "for=_hidden", "proto=https", "for=\"[::1\""] {
            let h = headers(&[("forwarded", value)]);
            assert_eq!(
                client_address(ip("10.0.0.1"), &h, &trusted, FWD),
                ip("10.0.0.1"),
                "{value:?}"
            );
        }
        // Unreadable parts left of the client do not matter: they are the client's own claims.
        let h = headers(&[("x-forwarded-for", "garbage, 203.0.113.9")]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, XFF),
            ip("203.0.113.9")
        );
        // A chain of trusted hops longer than MAX_HOPS is not believed.
        let long = vec!["10.0.0.5"; MAX_HOPS + 1].join(",");
        let h = headers(&[("x-forwarded-for", &long)]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted, XFF),
            ip("10.0.0.1")
        );
    }
}
