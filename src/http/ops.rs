//! Operations: health, metrics (on their own listener), the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use super::error::{ApiError, ErrorBody};
use super::state::HttpState;
use crate::app;

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "healthy"), (status = 503, description = "database unreachable")))]
pub async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    match app::maintenance::database_answers(&state.app).await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "database unreachable"})))
        }
    }
}

/// `GET /metrics`: Prometheus text format. Served only by [`metrics_router`], on its own
/// listener: the counts (withdrawals, consent events by kind) are not for the public.
pub async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// What the metrics listener serves: `GET /metrics` and a JSON 404 for anything else. Nothing of
/// the public router (no pages, no API) is reachable through it.
pub fn metrics_router(state: HttpState) -> Router {
    Router::new().route("/metrics", get(metrics)).fallback(not_found).with_state(state)
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// Unknown routes get the same JSON error shape as everything else.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "consentgate", description = "Photos of learners, published only with consent."),
    paths(healthz, super::photos::upload, super::photos::show, super::photos::edit, super::photos::image,
        super::learners::create, super::learners::show, super::learners::correct, super::learners::search, super::learners::import,
        super::consents::record, super::consents::history, super::consents::reissue_link,
        super::learners::add_guardian, super::learners::correct_guardian, super::learners::remove_guardian, super::queue::list, super::queue::claim,
        super::queue::published, super::queue::takedowns, super::queue::takedown_done, super::audit::log),
    components(schemas(super::photos::PhotoView, super::photos::UploadForm, super::learners::LearnerView,
        super::learners::NewLearner, super::learners::NewGuardian, super::learners::LearnerPatch, super::learners::GuardianView, super::learners::GuardianPatch, super::learners::RemovedGuardianView, super::consents::ReissuedLink, crate::policy::PurposeStatus, crate::policy::Purpose, crate::policy::State, crate::policy::Reason, crate::policy::LearnerReason,
        super::photos::PhotoPatch, super::consents::NewConsent, super::consents::RecordedConsent,
        super::consents::ConsentView, super::learners::ImportAnswer, super::queue::ItemView, super::queue::ClaimRequest,
        super::queue::Published, super::queue::TakedownView, crate::app::photos::NameCheck, crate::app::photos::NameFound,
        crate::app::photos::SuggestedRedaction, super::audit::AuditRow, crate::store::ImportSummary, super::consents::DecisionView, super::consents::ConsentHistory, ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
