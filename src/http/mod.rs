//! The HTTP adapter: routes, authentication, error mapping, pages. Each handler extracts what the
//! request says, calls one use case in [`crate::app`], and renders its outcome (JSON, or a page);
//! statuses are chosen for [`crate::app::AppError`] in one place (`error.rs`).

mod audit;
mod auth;
mod body;
pub mod conn;
mod consent_form;
mod consents;
mod doc;
mod error;
mod forms;
mod json;
mod learners;
mod ops;
mod pages;
mod photos;
mod queue;
mod rate_limit;
mod requests;
mod retention;
pub mod session;
pub mod slots;
mod staff;
mod state;
mod withdraw;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorBody};
pub use ops::{document as openapi_document, metrics_router, ApiDoc, LINKS};
pub use state::HttpState;

/// The whole API.
pub fn router(state: HttpState) -> Router {
    // Room for the largest accepted file plus the form's other fields and multipart framing.
    let upload_limit =
        usize::try_from(state.app.settings.limits.max_bytes).unwrap_or(usize::MAX).saturating_add(1 << 20);
    Router::new()
        .route("/api/v1/photos", post(photos::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/api/v1/photos/{id}", get(photos::show).patch(photos::edit).delete(photos::delete))
        .route("/api/v1/photos/{id}/image", get(photos::image))
        .route("/api/v1/name-check", post(photos::check_names))
        .route("/api/v1/learners", post(learners::create).get(learners::search))
        // The import caps its body itself, after the caller is known (see `learners::import`).
        .route("/api/v1/learners/import", post(learners::import))
        .route("/api/v1/learners/{id}", get(learners::show).patch(learners::correct))
        .route("/api/v1/learners/{id}/consents", post(consents::record).get(consents::history))
        .route("/api/v1/learners/{id}/consents/{event_id}/withdrawal-link", post(consents::reissue_link))
        .route("/api/v1/learners/{id}/guardians", post(learners::add_guardian))
        .route("/api/v1/learners/{id}/erase", post(learners::erase))
        .route("/api/v1/learners/{id}/export", get(learners::export))
        .route(
            "/api/v1/learners/{id}/guardians/{guardian_id}",
            axum::routing::patch(learners::correct_guardian).delete(learners::remove_guardian),
        )
        .route("/api/v1/groups", get(learners::groups))
        .route("/w/{token}", get(withdraw::show).post(withdraw::withdraw))
        .route("/api/v1/consent-requests", post(requests::create).get(requests::list))
        .route("/api/v1/consent-requests/{id}", get(requests::show))
        .route("/api/v1/coverage", get(requests::coverage))
        .route("/c/{token}", get(consent_form::show).post(consent_form::answer))
        .route("/api/v1/queue", get(queue::list))
        .route("/api/v1/queue/claim", post(queue::claim))
        .route("/api/v1/queue/{item}/published", post(queue::published))
        .route("/api/v1/takedowns", get(queue::takedowns))
        .route("/api/v1/takedowns/{id}/done", post(queue::takedown_done))
        .route("/api/v1/audit", get(audit::log))
        .route("/api/v1/retention/preview", get(retention::preview))
        .route("/api/v1/form-templates", get(forms::list).post(forms::create))
        .route("/api/v1/form-templates/{id}", axum::routing::delete(forms::retire))
        .route("/api/v1/staff", get(staff::list).post(staff::invite))
        .route("/api/v1/staff/{id}", axum::routing::delete(staff::revoke))
        .route("/healthz", get(ops::healthz))
        .route("/api/v1/openapi.json", get(ops::openapi))
        .merge(pages::routes())
        // A backstop for any extractor that buffers a body: nothing but an upload needs more than
        // a JSON body's cap (the upload's own limit, set on its route, takes precedence).
        .layer(DefaultBodyLimit::max(body::MAX_JSON_BYTES))
        // After every route: it applies to the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(ops::not_found)
        .layer(axum::middleware::map_response_with_state(state.clone(), pages::security_headers))
        .layer(axum::middleware::map_request_with_state(state.clone(), forget_untrusted_forwarding))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// Drops the forwarding headers (`X-Forwarded-For`, `X-Forwarded-Proto`, `Forwarded`) of a request
/// that did not come through a trusted proxy ([`crate::config::Settings::trusted_proxies`]): a
/// client could otherwise name its own address to the rate limit, or claim TLS to the cookies.
/// Everything downstream may then believe what is left.
async fn forget_untrusted_forwarding(State(state): State<HttpState>, mut request: Request) -> Request {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical());
    let trusted = &state.app.settings.trusted_proxies;
    if !peer.is_some_and(|peer| trusted.iter().any(|net| net.contains(&peer))) {
        let headers = request.headers_mut();
        for name in ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"] {
            headers.remove(name);
        }
    }
    request
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
