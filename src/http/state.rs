//! What the routes share: the application, and what only HTTP needs.

use super::rate_limit::{self, WithdrawLimiter};
use super::slots::UploadSlots;
use crate::app::App;

/// What the routes share: the application, and what only HTTP needs (the receiving slots of
/// uploads, the withdrawal pages' rate limit, the metrics renderer).
#[derive(Clone)]
pub struct HttpState {
    /// The use cases.
    pub app: App,
    /// Bounds how many uploads are received at once, in all and per token: each buffers its
    /// whole body (up to the byte limit) before it waits for a scrub permit, so without this
    /// memory would grow with the number of clients.
    pub upload_slots: UploadSlots,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Rate limit of the withdrawal pages, per client address.
    pub withdraw_limiter: WithdrawLimiter,
}

impl HttpState {
    /// The HTTP side of `app`: its receiving slots sized from the settings, a fresh rate limiter.
    pub fn new(app: App, metrics: metrics_exporter_prometheus::PrometheusHandle) -> HttpState {
        HttpState {
            upload_slots: UploadSlots::new(app.settings.upload_concurrency()),
            app,
            metrics,
            withdraw_limiter: rate_limit::limiter(),
        }
    }

    /// Whether `peer` has used up its share of the pages behind secret links (withdrawal, consent
    /// form, sign-in link): one limit per client address, counted here for all of them.
    pub fn over_link_limit(&self, peer: &rate_limit::Peer) -> bool {
        self.withdraw_limiter.check_key(&peer.key(&self.app.settings.trusted_proxies)).is_err()
    }

    /// Forgets the withdrawal pages' rate-limit state of addresses not seen lately, so the map
    /// cannot grow without bound; the maintenance loop calls it.
    pub fn forget_idle_clients(&self) {
        self.withdraw_limiter.retain_recent();
    }
}
