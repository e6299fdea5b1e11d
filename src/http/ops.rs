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

/// What `GET /healthz` answers (documentation only).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by utoipa's derive only
pub struct Health {
    /// `ok`, or `database unreachable`.
    status: String,
}

/// `GET /healthz`: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "ops",
    responses((status = 200, body = Health, description = "healthy"), (status = 503, body = Health, description = "database unreachable")))]
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
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "openapi", tag = "ops",
    responses((status = 200, body = Object, description = "this document (OpenAPI 3.1)")))]
pub async fn openapi() -> impl IntoResponse {
    Json(document())
}

/// Unknown routes get the same JSON error shape as everything else.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "consentgate", description = "Photos of learners, published only with consent."),
    paths(healthz, openapi, super::withdraw::show, super::withdraw::withdraw, super::photos::upload, super::photos::show, super::photos::edit, super::photos::delete, super::photos::image, super::photos::check_names,
        super::learners::create, super::learners::show, super::learners::correct, super::learners::search, super::learners::import,
        super::consents::record, super::consents::history, super::consents::reissue_link,
        super::learners::add_guardian, super::learners::correct_guardian, super::learners::remove_guardian, super::learners::groups, super::queue::list, super::queue::claim,
        super::queue::published, super::queue::takedowns, super::queue::takedown_done, super::audit::log,
        super::requests::create, super::requests::list, super::requests::show, super::requests::coverage, super::consent_form::show, super::consent_form::answer, super::retention::preview, super::learners::erase, super::learners::export, super::forms::list, super::forms::create, super::forms::retire, super::staff::list, super::staff::invite, super::staff::revoke),
    components(schemas(Health, super::doc::Id, super::doc::ItemId, super::doc::SearchText, super::photos::RenditionName, super::photos::PhotoView, super::photos::UploadForm, super::learners::LearnerView,
        super::learners::NewLearner, super::learners::NewGuardian, super::learners::LearnerPatch, super::learners::GuardianView, super::learners::GuardianPatch, super::learners::GroupView, super::learners::RemovedGuardianView, super::consents::ReissuedLink, crate::policy::PurposeStatus, crate::policy::Purpose, crate::policy::State, crate::policy::Reason, crate::policy::LearnerReason,
        super::photos::PhotoPatch, super::photos::NameCheckRequest, super::consents::NewConsent, super::consents::RecordedConsent,
        super::consents::ConsentView, super::learners::ImportAnswer, super::queue::ItemView, super::queue::ClaimRequest,
        super::queue::Published, super::queue::TakedownView, crate::app::photos::NameCheck, crate::app::photos::NameFound,
        crate::app::photos::SuggestedRedaction, super::audit::AuditRow, crate::store::ImportSummary, super::consents::DecisionView, super::consents::ConsentHistory, ErrorBody,
        super::requests::NewRequestBody, super::requests::CreatedRequestView, super::requests::RecipientAnswer, super::requests::RequestView,
        super::requests::RequestDetailView, super::requests::RecipientDetail, super::requests::CoverageView, super::requests::StandingView, crate::store::RecipientKind, crate::store::RecipientStatus, crate::store::RequestKind,
        super::retention::PreviewView, super::learners::EraseRequest, super::learners::ErasedView, super::retention::RulesView, super::retention::ErasureView, super::retention::DeletionView, crate::policy::retention::Rule, super::forms::NewFormTemplate, super::forms::FormTemplateView, super::staff::NewStaffAccount, super::staff::StaffAccountView, crate::store::Role)),
    tags((name = "photos", description = "Uploads, their texts and learners, and the scrubbed image"),
        (name = "learners", description = "Learners and their guardians (admins)"),
        (name = "groups", description = "Groups of learners: classes, courses, cohorts"),
        (name = "consents", description = "Consent events and the decision they make (admins)"),
        (name = "queue", description = "Marketing's publishing queue"),
        (name = "takedowns", description = "Publications that must come down"),
        (name = "audit", description = "The audit log"),
        (name = "retention", description = "What the retention rules will delete, and when (admins)"),
        (name = "requests", description = "Consent requests sent to families, each with their own link, and the coverage they reach (admins)"),
        (name = "withdrawal", description = "The pages behind the links sent to families: the consent form and withdrawal (HTML)"),
        (name = "staff", description = "Staff accounts that sign in with a one-time link sent by email (admins)"),
        (name = "ops", description = "Health and this document")),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// One row of [`LINKS`]: from operation, status, to operation, and (parameter, where its value is)
/// for each path parameter of the target.
pub type Link = (&'static str, &'static str, &'static str, &'static [(&'static str, &'static str)]);

/// The links from an operation's answer to the operations that use the ids it returns: (from
/// operation, status, to operation, and for each of its path parameters where the value is: in
/// the answer, or in the request's own path). New
/// operations that create something add their rows here; `tests/openapi.rs` checks that every
/// row names operations and parameters that exist.
pub const LINKS: &[Link] = &[
    ("create_learner", "201", "show_learner", &[("id", "$response.body#/id")]),
    ("create_learner", "201", "correct_learner", &[("id", "$response.body#/id")]),
    ("create_learner", "201", "record_consent", &[("id", "$response.body#/id")]),
    ("create_learner", "201", "consent_history", &[("id", "$response.body#/id")]),
    ("upload_photo", "201", "show_photo", &[("id", "$response.body#/id")]),
    ("upload_photo", "201", "edit_photo", &[("id", "$response.body#/id")]),
    ("upload_photo", "201", "photo_image", &[("id", "$response.body#/id")]),
    ("upload_photo", "201", "delete_photo", &[("id", "$response.body#/id")]),
    ("upload_photo", "200", "show_photo", &[("id", "$response.body#/id")]),
    ("upload_photo", "200", "edit_photo", &[("id", "$response.body#/id")]),
    ("upload_photo", "200", "photo_image", &[("id", "$response.body#/id")]),
    ("claim_item", "200", "record_publication", &[("item", "$response.body#/item")]),
    ("claim_item", "200", "photo_image", &[("id", "$response.body#/photo_id")]),
    ("create_learner", "201", "add_guardian", &[("id", "$response.body#/id")]),
    ("add_guardian", "201", "correct_guardian", &[("id", "$request.path.id"), ("guardian_id", "$response.body#/id")]),
    ("add_guardian", "201", "remove_guardian", &[("id", "$request.path.id"), ("guardian_id", "$response.body#/id")]),
    ("create_consent_request", "201", "show_consent_request", &[("id", "$response.body#/id")]),
    ("create_form_template", "201", "retire_form_template", &[("id", "$response.body#/id")]),
    ("invite_staff", "201", "revoke_staff", &[("id", "$response.body#/id")]),
    (
        "record_consent",
        "201",
        "reissue_withdrawal_link",
        &[("id", "$request.path.id"), ("event_id", "$response.body#/id")],
    ),
];

/// The document as served: [`ApiDoc`] with [`LINKS`] added to its responses. The links are
/// added to the JSON because utoipa 5 writes a link's `operationId` as `operation_id`.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let Some(paths) = doc.get_mut("paths").and_then(serde_json::Value::as_object_mut) else { return doc };
    for operation in paths.values_mut().filter_map(serde_json::Value::as_object_mut).flat_map(|item| item.values_mut())
    {
        let Some(id) = operation.get("operationId").and_then(serde_json::Value::as_str).map(String::from) else {
            continue;
        };
        for (_, status, to, parameters) in LINKS.iter().filter(|link| link.0 == id) {
            if let Some(response) = operation.pointer_mut(&format!("/responses/{status}")) {
                let parameters: serde_json::Map<String, serde_json::Value> =
                    parameters.iter().map(|(name, value)| (name.to_string(), serde_json::json!(value))).collect();
                response["links"][*to] = serde_json::json!({ "operationId": to, "parameters": parameters });
            }
        }
    }
    doc
}

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
