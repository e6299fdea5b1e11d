//! The HTTP adapter: routes, authentication, error mapping, pages. Handlers translate between HTTP
//! and the core; they hold no rules of their own.

mod audit;
mod auth;
mod consents;
mod error;
mod input;
mod json;
mod learners;
mod ops;
mod pages;
mod photos;
mod queue;
pub mod session;
mod withdraw;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;

pub use auth::Caller;
pub use error::ApiError;
pub use ops::ApiDoc;

use crate::config::Settings;
use crate::objects::Objects;
use crate::policy::names::NameIndex;
use crate::store::{Evaluation, FullStore, StoreError};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn FullStore>,
    /// The object store.
    pub objects: Objects,
    /// Resolved settings.
    pub settings: Arc<Settings>,
    /// Bounds how many uploads are scrubbed at once, so a burst cannot exhaust memory or cores.
    pub scrub_permits: Arc<Semaphore>,
    /// Bounds how many uploads are received at once: each buffers its whole body (up to the byte
    /// limit) before it waits for a scrub permit, so without this memory would grow with the
    /// number of clients.
    pub upload_permits: Arc<Semaphore>,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Rate limit of the withdrawal pages, per client address.
    pub withdraw_limiter: withdraw::WithdrawLimiter,
    /// The name index and the learners-table version it was built from.
    pub names: NameCache,
}

/// The name index, rebuilt when the learners table has changed (on any replica).
pub type NameCache = Arc<tokio::sync::Mutex<Option<(i64, Arc<NameIndex>)>>>;

impl AppState {
    /// An evaluation of statuses now, under the configured rules and the current name index,
    /// caused by `actor`.
    pub async fn evaluation(&self, actor: &str) -> Result<Evaluation, StoreError> {
        Ok(Evaluation {
            at: time::OffsetDateTime::now_utc(),
            live: true,
            rules: self.settings.rules,
            actor: actor.to_string(),
            names: self.name_index().await?,
        })
    }

    /// The index of every learner's names, current as of this call. A learner added or renamed on
    /// another replica changes the version, so the index is rebuilt here too.
    pub async fn name_index(&self) -> Result<Arc<NameIndex>, StoreError> {
        let version = self.store.learners_version().await?;
        let mut cache = self.names.lock().await;
        if let Some((built, index)) = cache.as_ref() {
            if *built == version {
                return Ok(index.clone());
            }
        }
        let index = Arc::new(NameIndex::build(self.store.learner_names().await?));
        *cache = Some((version, index.clone()));
        Ok(index)
    }
}

/// After someone said no: deletes the images that no purpose can use any more (the rows and
/// fingerprints stay, so a re-upload is recognised). A failure here is logged, not returned: the
/// "no" is already recorded and the photos are out of the queue; the sweep retries the objects.
pub async fn retire_images(state: &AppState, learner_id: &str, actor: &str) {
    let retired = match state.evaluation(actor).await {
        Ok(eval) => state.store.retire_images_of(learner_id, eval).await,
        Err(e) => Err(e),
    };
    match retired {
        Ok(keys) => {
            for key in keys {
                if let Err(e) = state.objects.delete(&key).await {
                    tracing::error!(error = %e, "cannot delete a retired image; the sweep will retry");
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot retire images after a withdrawal"),
    }
}

/// Retires every image no purpose can use any more (each purpose held by a standing no), a page
/// at a time, and deletes the objects: the periodic pass that makes a retirement that failed just
/// after a withdrawal happen anyway. Returns how many objects went.
pub async fn retire_unusable_images(state: &AppState) -> Result<usize, StoreError> {
    const PAGE: i64 = 200;
    let mut after = String::new();
    let mut deleted = 0;
    loop {
        let (keys, last) = state.store.retire_unusable_images(&after, PAGE, state.evaluation("system").await?).await?;
        for key in keys {
            match state.objects.delete(&key).await {
                Ok(()) => deleted += 1,
                // The row already says deleted, so the orphan sweep removes the object later.
                Err(e) => tracing::error!(error = %e, "cannot delete a retired image; the sweep will retry"),
            }
        }
        match last {
            Some(last) => after = last,
            None => return Ok(deleted),
        }
    }
}

/// Re-evaluates every live photo in the background: after a learner is added or renamed, a caption
/// may now name someone. Claims and downloads re-check anyway; this keeps statuses shown current.
pub fn refresh_statuses_in_background(state: &AppState) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::service::reevaluate_all(&state).await {
            tracing::error!(error = %e, "re-evaluation after a learner change failed");
        }
    });
}

/// A new rate limiter for the withdrawal pages.
pub fn withdraw_limiter() -> withdraw::WithdrawLimiter {
    withdraw::limiter()
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    // Room for the largest accepted file plus the form's other fields and multipart framing.
    let upload_limit = usize::try_from(state.settings.limits.max_bytes).unwrap_or(usize::MAX).saturating_add(1 << 20);
    Router::new()
        .route("/api/v1/photos", post(photos::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/api/v1/photos/{id}", get(photos::show).patch(photos::edit))
        .route("/api/v1/photos/{id}/image", get(photos::image))
        .route("/api/v1/learners", post(learners::create).get(learners::search))
        .route(
            "/api/v1/learners/import",
            post(learners::import).layer(DefaultBodyLimit::max(learners::MAX_IMPORT_BYTES)),
        )
        .route("/api/v1/learners/{id}", get(learners::show).patch(learners::correct))
        .route("/api/v1/learners/{id}/consents", post(consents::record).get(consents::history))
        .route("/w/{token}", get(withdraw::show).post(withdraw::withdraw))
        .route("/api/v1/queue", get(queue::list))
        .route("/api/v1/queue/claim", post(queue::claim))
        .route("/api/v1/queue/{item}/published", post(queue::published))
        .route("/api/v1/takedowns", get(queue::takedowns))
        .route("/api/v1/takedowns/{id}/done", post(queue::takedown_done))
        .route("/api/v1/audit", get(audit::log))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .merge(pages::routes())
        // After every route: it applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(ops::not_found)
        .layer(axum::middleware::map_response_with_state(state.clone(), pages::security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The JSON 405 every error of this API has a body like, instead of axum's empty one. axum
/// adds the `Allow` header to what this returns.
async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// A span naming the route pattern, never the concrete path: paths can hold ids and (later)
/// withdrawal tokens, which must not reach the logs.
fn request_span(request: &Request) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("request", method = %request.method(), route)
}
