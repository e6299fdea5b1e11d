//! The withdrawal pages' rate limit, keyed by the client's address: shared by the routes' state
//! and the pages that check it.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests to `/w/` per client address: a person needs two or three; guessing 256-bit tokens
/// needs billions, and this makes sure nobody tries from one address.
const PER_MINUTE: u32 = 20;

/// The shared limiter for `/w/`, keyed by the client's address.
pub type WithdrawLimiter = Arc<DefaultKeyedRateLimiter<IpAddr>>;

/// A limiter allowing [`PER_MINUTE`] requests a minute per address, in bursts of up to 10.
pub fn limiter() -> WithdrawLimiter {
    let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).expect("non-zero"))
        .allow_burst(NonZeroU32::new(10).expect("non-zero"));
    Arc::new(RateLimiter::keyed(quota))
}

/// The client's address, when the server was started with connect info (it always is outside
/// unit tests); all clients without one share a single bucket.
pub struct Peer(Option<IpAddr>);

impl Peer {
    /// The client's address, if known.
    pub fn address(&self) -> Option<IpAddr> {
        self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}
