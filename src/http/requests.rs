//! Consent requests (admin): ask the families of some learners or of a group, see whom a request
//! went to and who answered. The rules are [`app::requests`]'s; here only the body's shape.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::doc::Id;
use super::error::{ApiError, AuthErrors, ErrorBody, JsonErrors, NotFoundErrors, QueryErrors};
use super::json::rfc3339;
use super::json::JsonBody;
use super::state::HttpState;
use crate::app::requests::{NewConsentRequest, RecipientOutcome};
use crate::app::{self, Actor};
use crate::policy::Purpose;
use crate::store::{RecipientKind, RecipientStatus, RequestKind, RequestRecord};

/// `POST /api/v1/consent-requests` body: whom to ask (`learner_ids` or `group`, not both) about
/// what.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    /// The learners whose families to ask; each must be on record.
    #[schema(min_items = 1, max_items = 5000, value_type = Option<Vec<Id>>)]
    pub learner_ids: Option<Vec<String>>,
    /// The group (class, course, cohort) whose learners' families to ask; it must have learners.
    #[schema(min_length = 1)]
    pub group: Option<String>,
    /// The purposes asked about; at least one.
    #[schema(min_items = 1)]
    pub purposes: Vec<Purpose>,
    /// The form's version, recorded with every answer (default: named after the hash of the
    /// form's words).
    #[schema(max_length = 100)]
    pub form_version: Option<String>,
}

/// One person a request was meant for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecipientAnswer {
    /// The learner.
    pub learner_id: String,
    /// Who answers: a guardian while the learner is under 18 (or has no date of birth), the
    /// learner from 18.
    pub to: RecipientKind,
    /// `queued` (a message with their own link is in the outbox), `no_contact` (nobody whose
    /// answer counts has an address: nothing was sent) or `answered`.
    pub status: RecipientStatus,
}

/// The answer to a new request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedRequestView {
    /// The request's id.
    pub id: String,
    /// One entry per message queued, and one per learner nobody could be asked for.
    pub recipients: Vec<RecipientAnswer>,
}

/// A request as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// Its id.
    pub id: String,
    /// `request` (an admin's), `renewal` (a grant running out) or `adult` (an 18th birthday).
    pub kind: RequestKind,
    /// The purposes asked about.
    pub purposes: Vec<Purpose>,
    /// The group it was made for.
    pub group: Option<String>,
    /// The form's version.
    pub form_version: String,
    /// blake3 of the exact words the form shows.
    pub form_text_hash: String,
    /// Who made it (a token id, or `system`).
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When its links stop working.
    pub expires_at: String,
    /// For a renewal, the grant it renews.
    pub renews_grant_id: Option<String>,
}

/// One request with whom it went to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestDetailView {
    /// The request.
    #[serde(flatten)]
    pub request: RequestView,
    /// Its recipients, by learner.
    pub recipients: Vec<RecipientDetail>,
}

/// A recipient, with what the safeguarding lead needs to chase them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecipientDetail {
    /// The learner.
    pub learner_id: String,
    /// Who answers.
    pub to: RecipientKind,
    /// The guardian, for a guardian.
    pub guardian_id: Option<String>,
    /// Where they stand.
    pub status: RecipientStatus,
    /// Reminders queued so far.
    pub reminders_sent: i64,
    /// When they answered.
    pub answered_at: Option<String>,
}

impl From<RequestRecord> for RequestView {
    fn from(r: RequestRecord) -> RequestView {
        RequestView {
            id: r.id,
            kind: r.kind,
            purposes: r.purposes,
            group: r.group,
            form_version: r.form_version,
            form_text_hash: r.form_text_hash,
            created_by: r.created_by,
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            renews_grant_id: r.renews_grant_id,
        }
    }
}

/// `POST /api/v1/consent-requests`: ask families, each by their own link, about some purposes.
#[utoipa::path(post, path = "/api/v1/consent-requests", operation_id = "create_consent_request", tag = "requests",
    request_body = NewRequestBody,
    responses(AuthErrors, JsonErrors, (status = 201, body = CreatedRequestView, description = "queued; `no_contact` learners were reported, not refused"),
        (status = 404, body = ErrorBody, description = "`not_found`: the group has no learners")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<HttpState>,
    caller: Actor,
    JsonBody(body): JsonBody<NewRequestBody>,
) -> Result<(StatusCode, Json<CreatedRequestView>), ApiError> {
    let new = NewConsentRequest {
        learner_ids: body.learner_ids,
        group: body.group,
        purposes: body.purposes,
        form_version: body.form_version,
    };
    let created = app::requests::create(&state.app, &caller, new).await?;
    let recipients = created
        .recipients
        .into_iter()
        .map(|RecipientOutcome { learner_id, to, status }| RecipientAnswer { learner_id, to, status })
        .collect();
    Ok((StatusCode::CREATED, Json(CreatedRequestView { id: created.id, recipients })))
}

/// `GET /api/v1/consent-requests` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many, newest first (1–500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// `GET /api/v1/consent-requests`: the latest requests, newest first.
#[utoipa::path(get, path = "/api/v1/consent-requests", operation_id = "list_consent_requests", tag = "requests",
    params(ListQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = Vec<RequestView>, description = "newest first")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    // The role first, so a caller without it learns nothing from a malformed query.
    caller.require(app::requests::ASKERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(
            ApiError::bad_form("limit must be between 1 and 500").with_detail(serde_json::json!({ "field": "limit" }))
        );
    }
    let requests = app::requests::list(&state.app, &caller, limit).await?;
    Ok(Json(requests.into_iter().map(RequestView::from).collect()))
}

/// `GET /api/v1/consent-requests/{id}`: a request and where each recipient stands.
#[utoipa::path(get, path = "/api/v1/consent-requests/{id}", operation_id = "show_consent_request", tag = "requests",
    params(("id" = Id, Path, description = "Request id")),
    responses(AuthErrors, NotFoundErrors, (status = 200, body = RequestDetailView, description = "the request and its recipients")),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<RequestDetailView>, ApiError> {
    let detail = app::requests::show(&state.app, &caller, &id).await?;
    let recipients = detail
        .recipients
        .into_iter()
        .map(|v| RecipientDetail {
            learner_id: v.recipient.learner_id,
            to: v.recipient.to,
            guardian_id: v.recipient.guardian_id,
            status: v.recipient.status,
            reminders_sent: v.recipient.reminders_sent,
            answered_at: v.recipient.answered_at.map(rfc3339),
        })
        .collect();
    Ok(Json(RequestDetailView { request: detail.request.into(), recipients }))
}

/// `GET /api/v1/coverage` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// One group (class, course, cohort); everyone without it.
    pub group: Option<String>,
}

/// The learners in one standing for one purpose.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StandingView {
    /// How many.
    pub count: usize,
    /// Who.
    pub learner_ids: Vec<String>,
}

/// Where a group stands, per purpose.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CoverageView {
    /// The group, or none for everyone.
    pub group: Option<String>,
    /// How many learners.
    pub learners: usize,
    /// Per purpose: `granted`, `refused`, `awaiting` (asked, the link still works, no answer yet),
    /// `never_asked` (or asked and the link ran out unanswered) and `no_contact` (nobody whose
    /// answer counts has an address).
    #[schema(value_type = Object)]
    pub purposes: std::collections::BTreeMap<Purpose, std::collections::BTreeMap<&'static str, StandingView>>,
}

/// `GET /api/v1/coverage`: for one group or everyone, how many learners are granted, refused,
/// awaiting an answer, never asked and without contact, per purpose, and who.
#[utoipa::path(get, path = "/api/v1/coverage", operation_id = "coverage", tag = "requests",
    params(CoverageQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = CoverageView, description = "per purpose, the learners in each standing"),
        (status = 404, body = ErrorBody, description = "`not_found`: the group has no learners")),
    security(("bearer" = [])))]
pub async fn coverage(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<CoverageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CoverageView>, ApiError> {
    caller.require(app::coverage::READERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let coverage = app::coverage::of_group(&state.app, &caller, query.group.as_deref()).await?;
    Ok(Json(CoverageView {
        group: coverage.group,
        learners: coverage.learners,
        purposes: coverage
            .purposes
            .into_iter()
            .map(|(purpose, standings)| {
                let standings = standings
                    .into_iter()
                    .map(|(standing, ids)| (standing.as_str(), StandingView { count: ids.len(), learner_ids: ids }))
                    .collect();
                (purpose, standings)
            })
            .collect(),
    }))
}
