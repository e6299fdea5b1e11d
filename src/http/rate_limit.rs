//! The withdrawal pages' rate limit, keyed by the client's address: shared by the routes' state
//! and the pages that check it.
//!
//! The client is the connecting address, unless that is a trusted reverse proxy
//! ([`Settings::trusted_proxies`]); then it is the address the proxies name in
//! `X-Forwarded-For` (see [`client_address`]). An IPv6 client is keyed by its /64, since one
//! household or phone is given a whole /64 and could otherwise take a fresh address per request.
//!
//! [`Settings::trusted_proxies`]: crate::config::Settings::trusted_proxies

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

/// Requests to `/w/` per client address: a person needs two or three; guessing 256-bit tokens
/// needs billions, and this makes sure nobody tries from one address.
const PER_MINUTE: u32 = 20;

/// The shared limiter for `/w/`, keyed by [`client_key`].
pub type WithdrawLimiter = Arc<DefaultKeyedRateLimiter<IpAddr>>;

/// A limiter allowing [`PER_MINUTE`] requests a minute per address, in bursts of up to 10.
pub fn limiter() -> WithdrawLimiter {
    let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).expect("non-zero"))
        .allow_burst(NonZeroU32::new(10).expect("non-zero"));
    Arc::new(RateLimiter::keyed(quota))
}

/// The client a request comes from, as far as `trusted` proxies say: `peer` itself unless it is
/// one of them; then `forwarded` (the `X-Forwarded-For` values, in order) walked from the right,
/// skipping the trusted proxies that appended themselves, to the first address that is not one
/// (the leftmost, when all are). Entries left of that were written by the client and are not
/// believed, nor even read: junk there changes nothing. An entry that is not an address (with or
/// without a port) within the part our proxies wrote names nobody reliably: the peer is the client
/// then, as it is when the header is absent.
pub fn client_address(peer: IpAddr, forwarded: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut leftmost_trusted = None;
    for entry in forwarded.iter().rev().flat_map(|value| value.rsplit(',')) {
        if entry.trim().is_empty() {
            continue;
        }
        match hop(entry) {
            None => return peer,
            Some(ip) if is_trusted(&ip) => leftmost_trusted = Some(ip),
            Some(ip) => return ip,
        }
    }
    leftmost_trusted.unwrap_or(peer)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The rate-limit key of a client: an IPv4 address as it is, an IPv6 address by its /64.
pub fn client_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// What a request says about its client: the connecting address (when the server was started
/// with connect info, as it always is outside unit tests) and its `X-Forwarded-For` values.
pub struct Peer {
    address: Option<IpAddr>,
    /// `None` when a value is not text: then the header names nobody reliably.
    forwarded: Option<Vec<String>>,
}

impl Peer {
    /// The client's address: the connecting one, or the one the trusted proxies in front of it
    /// name ([`client_address`]); `None` without connect info.
    pub fn client(&self, trusted: &[IpNet]) -> Option<IpAddr> {
        let peer = self.address?;
        Some(match &self.forwarded {
            Some(values) => client_address(peer, &values.iter().map(String::as_str).collect::<Vec<_>>(), trusted),
            None => peer.to_canonical(),
        })
    }

    /// The rate-limit key of the client ([`client_address`], then [`client_key`]) given the
    /// `trusted` proxies. Without connect info every client shares one bucket.
    pub fn key(&self, trusted: &[IpNet]) -> IpAddr {
        let Some(peer) = self.address else {
            return IpAddr::from([0, 0, 0, 0]);
        };
        let client = match &self.forwarded {
            Some(values) => client_address(peer, &values.iter().map(String::as_str).collect::<Vec<_>>(), trusted),
            None => peer.to_canonical(),
        };
        client_key(client)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // A proxy may add a header of its own rather than append to the last one: all, in order.
        let forwarded =
            parts.headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().ok().map(str::to_string)).collect();
        let address = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Peer { address, forwarded })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_names_another() {
        let trusted: Vec<IpNet> = ["10.0.0.0/8", "2001:db8:ffff::/48"].iter().map(|n| n.parse().unwrap()).collect();
        let table: &[(&str, &str, &[&str], &str)] = &[
            // (case, peer, X-Forwarded-For values, client)
            ("direct, no header", "203.0.113.5", &[], "203.0.113.5"),
            ("an untrusted peer's header is ignored", "203.0.113.5", &["198.51.100.1"], "203.0.113.5"),
            ("trusted proxy, one hop", "10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            ("trusted proxy, no header", "10.0.0.2", &[], "10.0.0.2"),
            ("trusted proxy, empty header", "10.0.0.2", &[""], "10.0.0.2"),
            ("a client's own forgery left of the real hop", "10.0.0.2", &["1.1.1.1, 198.51.100.1"], "198.51.100.1"),
            ("chained trusted proxies are skipped", "10.0.0.2", &["198.51.100.1, 10.0.0.9, 10.1.1.1"], "198.51.100.1"),
            ("several headers read as one list", "10.0.0.2", &["1.1.1.1", "198.51.100.1, 10.0.0.9"], "198.51.100.1"),
            ("all hops trusted: the leftmost", "10.0.0.2", &["10.9.9.9, 10.0.0.9"], "10.9.9.9"),
            ("ports are dropped", "10.0.0.2", &["198.51.100.1:5555"], "198.51.100.1"),
            ("a malformed entry our proxy wrote: the peer", "10.0.0.2", &["1.1.1.1, unknown"], "10.0.0.2"),
            ("garbage: the peer", "10.0.0.2", &["<script>"], "10.0.0.2"),
            (
                "junk a client wrote left of the real hop is never read",
                "10.0.0.2",
                &["junk, 198.51.100.1"],
                "198.51.100.1",
            ),
            ("or in an earlier header", "10.0.0.2", &["<script>", "198.51.100.1, 10.0.0.9"], "198.51.100.1"),
            (
                "a malformed entry between trusted hops: the peer",
                "10.0.0.2",
                &["198.51.100.1, junk, 10.0.0.9"],
                "10.0.0.2",
            ),
            ("an IPv6 client through a proxy", "10.0.0.2", &["[2001:db8:1:2::9]:443"], "2001:db8:1:2::9"),
            ("an IPv6 trusted proxy", "2001:db8:ffff:1::1", &["2001:db8:1:2::9"], "2001:db8:1:2::9"),
            ("a v4-mapped peer is its v4 address", "::ffff:10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            ("a v4-mapped hop", "10.0.0.2", &["::ffff:198.51.100.1"], "198.51.100.1"),
        ];
        for (case, peer, forwarded, client) in table {
            assert_eq!(client_address(ip(peer), forwarded, &trusted), ip(client), "{case}");
        }
        // With nothing trusted, the header never counts.
        assert_eq!(client_address(ip("10.0.0.2"), &["198.51.100.1"], &[]), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let table = [
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
            ("2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::"),
            ("2001:db8:1:3::1", "2001:db8:1:3::"),
            ("203.0.113.5", "203.0.113.5"),
            ("::ffff:203.0.113.5", "203.0.113.5"),
        ];
        for (client, key) in table {
            assert_eq!(client_key(ip(client)), ip(key), "{client}");
        }
    }
}
