//! Learners and their guardians (admin only).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::doc::{DateOfBirth, Email, ErasureReason, GroupName, Id, LeftOn, Name, OptionalName, SearchText};
use super::error::{ApiError, AuthErrors, CsvErrors, ErrorBody, JsonErrors, NotFoundErrors, QueryErrors};
use super::json::JsonBody;
use super::state::HttpState;
use crate::app::learners::{LearnerCorrection, NewLearner as NewLearnerDraft};
use crate::app::{self, Actor};
use crate::store::{time_of_ms, GuardianRecord, ImportSummary, LearnerRecord};
use time::format_description::well_known::Rfc3339;

/// A learner as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LearnerView {
    /// Learner id.
    pub id: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The name they go by.
    pub preferred_name: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// The MIS's reference.
    pub external_ref: Option<String>,
    /// The learner's own email address (an adult answers consent requests themselves).
    pub learner_email: Option<String>,
    /// The groups (classes, courses, cohorts) they belong to, sorted.
    pub groups: Vec<String>,
    /// The day they left, `YYYY-MM-DD`: from that day their photos are not released for new use,
    /// and the retention rules count from it.
    pub left_on: Option<String>,
    /// When their personal data was erased (RFC 3339): the record is then a tombstone (empty
    /// names, nothing else), its id a pseudonym.
    pub erased_at: Option<String>,
    /// Guardians, oldest first; removed ones too (with `removed_at`): their refusals and
    /// withdrawals still count, their grants do not.
    pub guardians: Vec<GuardianView>,
}

/// A guardian as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GuardianView {
    /// Guardian id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Email address for withdrawal links.
    pub email: Option<String>,
    /// When an admin removed them (RFC 3339); `null` while they speak for the learner.
    pub removed_at: Option<String>,
}

impl From<GuardianRecord> for GuardianView {
    fn from(g: GuardianRecord) -> Self {
        GuardianView {
            id: g.id,
            name: g.name,
            email: g.email,
            removed_at: g.removed_at.map(|ms| time_of_ms(ms).format(&Rfc3339).unwrap_or_default()),
        }
    }
}

impl From<LearnerRecord> for LearnerView {
    fn from(l: LearnerRecord) -> Self {
        LearnerView {
            id: l.id,
            given_name: l.given_name,
            family_name: l.family_name,
            preferred_name: l.preferred_name,
            date_of_birth: l.date_of_birth,
            external_ref: l.external_ref,
            learner_email: l.email,
            groups: l.groups,
            left_on: l.left_on,
            erased_at: l.erased_at.map(|ms| time_of_ms(ms).format(&Rfc3339).unwrap_or_default()),
            guardians: l.guardians.into_iter().map(GuardianView::from).collect(),
        }
    }
}

/// A guardian to record with a new learner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGuardian {
    /// Full name.
    #[schema(value_type = Name)]
    pub name: String,
    /// Email address for withdrawal links.
    #[schema(value_type = Option<Email>)]
    pub email: Option<String>,
}

/// `POST /api/v1/learners` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLearner {
    /// Given name.
    #[schema(value_type = Name)]
    pub given_name: String,
    /// Family name.
    #[schema(value_type = Name)]
    pub family_name: String,
    /// The name they go by.
    #[schema(value_type = Option<OptionalName>)]
    pub preferred_name: Option<String>,
    /// Date of birth.
    #[schema(value_type = Option<DateOfBirth>)]
    pub date_of_birth: Option<String>,
    /// The MIS's reference; unique among learners.
    #[schema(value_type = Option<OptionalName>)]
    pub external_ref: Option<String>,
    /// The learner's own email address, where an adult learner's consent requests go.
    #[schema(value_type = Option<Email>)]
    pub learner_email: Option<String>,
    /// Groups (classes, courses, cohorts): each trimmed, blank ones dropped, repeats merged
    /// ignoring case (the first spelling kept); at most 20 once merged.
    #[serde(default)]
    #[schema(value_type = Vec<GroupName>, max_items = 20)]
    pub groups: Vec<String>,
    /// The day they left (or will leave).
    #[schema(value_type = Option<LeftOn>)]
    pub left_on: Option<String>,
    /// Guardians (needed for consent while under 18); at most 4.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub guardians: Vec<NewGuardian>,
}

/// Distinguishes a field sent as `null` (clear it) from one not sent (keep it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/learners/{id}` body: only the fields sent change; `null` clears an optional one.
/// A patch that changes nothing is refused, so at least one field is sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct LearnerPatch {
    /// New given name.
    #[schema(value_type = Option<Name>)]
    pub given_name: Option<String>,
    /// New family name.
    #[schema(value_type = Option<Name>)]
    pub family_name: Option<String>,
    /// New preferred name, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OptionalName>, nullable)]
    pub preferred_name: Option<Option<String>>,
    /// Corrected date of birth, or null when unknown.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateOfBirth>, nullable)]
    pub date_of_birth: Option<Option<String>>,
    /// New MIS reference, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<OptionalName>, nullable)]
    pub external_ref: Option<Option<String>>,
    /// New email address of the learner's own, or null to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Email>, nullable)]
    pub learner_email: Option<Option<String>>,
    /// The learner's groups: replaces the set on record (an empty array, or null, clears it); the
    /// rules are those of a new learner's.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<GroupName>>, max_items = 20, nullable)]
    pub groups: Option<Option<Vec<String>>>,
    /// The day they left, or null when they have not (their photos may be released again).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<LeftOn>, nullable)]
    pub left_on: Option<Option<String>>,
}

/// `POST /api/v1/learners`: record a learner and their guardians.
#[utoipa::path(post, path = "/api/v1/learners", operation_id = "create_learner", tag = "learners", request_body = NewLearner,
    responses(AuthErrors, JsonErrors, (status = 201, body = LearnerView, description = "created"),
        (status = 409, body = ErrorBody, description = "`conflict`: another learner has this external_ref")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<HttpState>,
    caller: Actor,
    JsonBody(body): JsonBody<NewLearner>,
) -> Result<(StatusCode, Json<LearnerView>), ApiError> {
    let draft = NewLearnerDraft {
        given_name: body.given_name,
        family_name: body.family_name,
        preferred_name: body.preferred_name,
        date_of_birth: body.date_of_birth,
        external_ref: body.external_ref,
        email: body.learner_email,
        groups: body.groups,
        left_on: body.left_on,
        guardians: body.guardians.into_iter().map(|g| (g.name, g.email)).collect(),
    };
    let learner = app::learners::create(&state.app, &caller, draft).await?;
    Ok((StatusCode::CREATED, Json(learner.into())))
}

/// `GET /api/v1/learners/{id}`.
#[utoipa::path(get, path = "/api/v1/learners/{id}", operation_id = "show_learner", tag = "learners",
    params(("id" = Id, Path, description = "Learner id")),
    responses(AuthErrors, NotFoundErrors, (status = 200, body = LearnerView, description = "the learner")), security(("bearer" = [])))]
pub async fn show(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<LearnerView>, ApiError> {
    Ok(Json(app::learners::read(&state.app, &caller, &id).await?.into()))
}

/// `PATCH /api/v1/learners/{id}`: correct a learner's details.
#[utoipa::path(patch, path = "/api/v1/learners/{id}", operation_id = "correct_learner", tag = "learners",
    params(("id" = Id, Path, description = "Learner id")), request_body = LearnerPatch,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 200, body = LearnerView, description = "the learner"),
        (status = 409, body = ErrorBody, description = "`conflict`: another learner has this external_ref")),
    security(("bearer" = [])))]
pub async fn correct(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<LearnerPatch>,
) -> Result<Json<LearnerView>, ApiError> {
    let correction = LearnerCorrection {
        given_name: patch.given_name,
        family_name: patch.family_name,
        preferred_name: patch.preferred_name,
        date_of_birth: patch.date_of_birth,
        external_ref: patch.external_ref,
        email: patch.learner_email,
        groups: patch.groups.map(Option::unwrap_or_default),
        left_on: patch.left_on,
    };
    Ok(Json(app::learners::correct(&state.app, &caller, &id, correction).await?.into()))
}

/// `PATCH /api/v1/learners/{id}/guardians/{guardian_id}` body: only the fields sent change; an
/// `email` of `null` clears it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianPatch {
    /// Corrected full name.
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Corrected email address, or null to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Email>, nullable)]
    pub email: Option<Option<String>>,
}

/// The answer to removing a guardian.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovedGuardianView {
    /// The guardian, with `removed_at` set.
    pub guardian: GuardianView,
    /// How many photo purposes changed status because their grants stopped counting.
    pub statuses_changed: usize,
}

/// `POST /api/v1/learners/{id}/guardians`: add a guardian.
#[utoipa::path(post, path = "/api/v1/learners/{id}/guardians", operation_id = "add_guardian", tag = "learners",
    params(("id" = Id, Path, description = "Learner id")), request_body = NewGuardian,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 201, body = GuardianView, description = "the guardian added"),
        (status = 409, body = ErrorBody, description = "`learner_erased`: the learner's personal data was erased"),
        (status = 422, body = ErrorBody, description = "`bad_form`: a bad name or email, or a fifth current guardian")),
    security(("bearer" = [])))]
pub async fn add_guardian(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewGuardian>,
) -> Result<(StatusCode, Json<GuardianView>), ApiError> {
    let guardian = app::learners::add_guardian(&state.app, &caller, &id, &body.name, body.email.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(guardian.into())))
}

/// `PATCH /api/v1/learners/{id}/guardians/{guardian_id}`: correct a guardian's name or email.
#[utoipa::path(patch, path = "/api/v1/learners/{id}/guardians/{guardian_id}", operation_id = "correct_guardian", tag = "learners",
    params(("id" = Id, Path, description = "Learner id"), ("guardian_id" = Id, Path, description = "Guardian id (one of this learner's)")),
    request_body = GuardianPatch,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 200, body = GuardianView, description = "the guardian as corrected"),
        (status = 409, body = ErrorBody, description = "`guardian_removed`: the guardian was removed")),
    security(("bearer" = [])))]
pub async fn correct_guardian(
    State(state): State<HttpState>,
    caller: Actor,
    Path((id, guardian_id)): Path<(String, String)>,
    JsonBody(patch): JsonBody<GuardianPatch>,
) -> Result<Json<GuardianView>, ApiError> {
    let correction = app::learners::GuardianCorrection { name: patch.name, email: patch.email };
    Ok(Json(app::learners::correct_guardian(&state.app, &caller, &id, &guardian_id, correction).await?.into()))
}

/// `DELETE /api/v1/learners/{id}/guardians/{guardian_id}`: remove a guardian. Their grants stop
/// counting and their refusals and withdrawals keep counting; the learner's photos are
/// re-evaluated at once.
#[utoipa::path(delete, path = "/api/v1/learners/{id}/guardians/{guardian_id}", operation_id = "remove_guardian", tag = "learners",
    params(("id" = Id, Path, description = "Learner id"), ("guardian_id" = Id, Path, description = "Guardian id (one of this learner's)")),
    responses(AuthErrors, NotFoundErrors, (status = 200, body = RemovedGuardianView, description = "the guardian, removed, and how many statuses changed"),
        (status = 409, body = ErrorBody, description = "`guardian_removed`: removed already")),
    security(("bearer" = [])))]
pub async fn remove_guardian(
    State(state): State<HttpState>,
    caller: Actor,
    Path((id, guardian_id)): Path<(String, String)>,
) -> Result<Json<RemovedGuardianView>, ApiError> {
    let removed = app::learners::remove_guardian(&state.app, &caller, &id, &guardian_id).await?;
    Ok(Json(RemovedGuardianView { guardian: removed.guardian.into(), statuses_changed: removed.changes.len() }))
}

/// A group and how many learners are in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    /// The group's name, as stored (requests are made to a group by this exact name).
    pub name: String,
    /// How many learners are in it.
    pub learners: i64,
}

/// `GET /api/v1/groups`: every group with its learner count, sorted by name.
#[utoipa::path(get, path = "/api/v1/groups", operation_id = "list_groups", tag = "groups",
    responses(AuthErrors, (status = 200, body = [GroupView], description = "every group, sorted by name")),
    security(("bearer" = [])))]
pub async fn groups(State(state): State<HttpState>, caller: Actor) -> Result<Json<Vec<GroupView>>, ApiError> {
    let groups = app::learners::groups(&state.app, &caller).await?;
    Ok(Json(groups.into_iter().map(|(name, learners)| GroupView { name, learners }).collect()))
}

/// `GET /api/v1/learners?q=` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Part of a name or external reference; empty lists everyone. At most 200 characters, no
    /// control characters but line breaks and tabs.
    #[serde(default)]
    #[param(required = false, value_type = Option<SearchText>)]
    pub q: String,
    /// At most this many (default 50); values outside 1 to 500 are brought into that range.
    pub limit: Option<i64>,
}

/// `GET /api/v1/learners`: list and search.
#[utoipa::path(get, path = "/api/v1/learners", operation_id = "search_learners", tag = "learners", params(SearchQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = [LearnerView], description = "the learners found")), security(("bearer" = [])))]
pub async fn search(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<LearnerView>>, ApiError> {
    // The role is checked before the query is read, so a caller without it learns nothing from
    // a malformed query (401 → 403 → 404 → 422, as on every route).
    caller.require(app::learners::MANAGERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let found = app::learners::search(&state.app, &caller, &query.q, query.limit.unwrap_or(50)).await?;
    Ok(Json(found.into_iter().map(LearnerView::from).collect()))
}

/// `POST /api/v1/learners/{id}/erase` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (a request's reference, a date): kept and audited after the names are gone, so it may
    /// not name the learner. At most 500 characters.
    #[schema(value_type = ErasureReason)]
    pub reason: String,
}

/// What an erasure did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasedView {
    /// The learner, now a pseudonymous id.
    pub learner_id: String,
    /// When the tombstone was written (RFC 3339).
    pub erased_at: String,
    /// Whether they had been erased before this request (nothing was done again).
    pub already_erased: bool,
}

/// `POST /api/v1/learners/{id}/erase`: erase a learner's personal data (a withdrawal of every
/// purpose, their photos' images deleted, their record, guardians, evidence and the texts naming
/// them replaced by a tombstone). Idempotent; an erasure cut short is finished.
#[utoipa::path(post, path = "/api/v1/learners/{id}/erase", operation_id = "erase_learner", tag = "learners",
    params(("id" = Id, Path, description = "Learner id")), request_body = EraseRequest,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 200, body = ErasedView, description = "erased (now, or before)")),
    security(("bearer" = [])))]
pub async fn erase(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EraseRequest>,
) -> Result<Json<ErasedView>, ApiError> {
    let erased = app::erasure::erase(&state.app, &caller, &id, &body.reason).await?;
    Ok(Json(ErasedView {
        learner_id: erased.learner_id,
        erased_at: time_of_ms(erased.erased_at).format(&Rfc3339).unwrap_or_default(),
        already_erased: erased.already,
    }))
}

/// `GET /api/v1/learners/{id}/export`: everything held about the learner, as one ZIP (a subject
/// access request's answer), streamed. Audited `learner_export_started` before the first byte and
/// `learner_exported` with the outcome at the end. A `HEAD` checks the caller and the learner only:
/// nothing is read, written or audited.
#[utoipa::path(get, path = "/api/v1/learners/{id}/export", operation_id = "export_learner", tag = "learners",
    params(("id" = Id, Path, description = "Learner id")),
    responses(AuthErrors, NotFoundErrors, (status = 200, content_type = "application/zip", body = Vec<u8>,
        description = "the ZIP: README.txt, learner.json, consents.json, photos/, audit.jsonl")),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    method: axum::http::Method,
) -> Result<axum::response::Response, ApiError> {
    let (file_name, body) = if method == axum::http::Method::HEAD {
        let learner_id = app::export::check(&state.app, &caller, &id).await?;
        (app::export::file_name(&learner_id), axum::body::Body::empty())
    } else {
        let export = app::export::prepare(&state.app, &caller, &id).await?;
        (export.file_name(), axum::body::Body::from_stream(app::export::stream(state.app.clone(), export)))
    };
    let disposition = format!("attachment; filename=\"{file_name}\"");
    Ok(axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/zip")
        .header(axum::http::header::CONTENT_DISPOSITION, disposition)
        .header(axum::http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(|e| ApiError::from(app::AppError::internal(e)))?)
}

/// `POST /api/v1/learners/import` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check the file and report what would change, storing nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Mark learners on record (with an external reference, not left) whom the file does not
    /// list as left today. Off by default: exports are often partial.
    #[serde(default)]
    pub mark_missing_as_left: bool,
}

/// The answer to an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportAnswer {
    /// Whether this was a dry run (nothing stored).
    pub dry_run: bool,
    /// What was (or would be) done.
    #[serde(flatten)]
    pub summary: ImportSummary,
}

/// Most bytes an MIS export may have: tens of thousands of learners fit easily.
pub const MAX_IMPORT_BYTES: usize = 10 << 20;

/// `POST /api/v1/learners/import`: an MIS export as `text/csv`, all or nothing; every bad line is
/// reported with its number in `detail.errors`.
#[utoipa::path(post, path = "/api/v1/learners/import", operation_id = "import_learners", tag = "learners", params(ImportQuery),
    request_body(content = String, content_type = "text/csv",
        description = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email (preferred_name, \
            learner_email, groups and left_on optional; groups are separated by `;`; a blank cell keeps what is on record)"),
    responses(AuthErrors, CsvErrors, (status = 200, body = ImportAnswer, description = "imported (or, on a dry run, what would be)")),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<HttpState>,
    // Taken as a result so that a refused caller's body is read (and dropped, chunk by chunk)
    // before the 401 or 403 is sent: a client still writing a large file would otherwise see a
    // reset instead of the answer. Nothing it sends is kept.
    caller: Result<Actor, ApiError>,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<ImportAnswer>, ApiError> {
    // Before the body's type is looked at: a 403 comes first, as for every other route.
    let caller = match caller
        .and_then(|caller| caller.require(app::learners::MANAGERS).map(|()| caller).map_err(ApiError::from))
    {
        Ok(caller) => caller,
        Err(e) => {
            super::body::discard(body, MAX_IMPORT_BYTES).await;
            return Err(e);
        }
    };
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("text/csv") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_csv",
            "send the MIS export as the body with 'Content-Type: text/csv'",
        ));
    }
    let body = super::body::read_capped(body, MAX_IMPORT_BYTES).await.map_err(|e| match e {
        super::body::BodyError::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("the file is too large: an import may have at most {MAX_IMPORT_BYTES} bytes"),
        ),
        super::body::BodyError::Broken(e) => ApiError::bad_form(format!("the body could not be read: {e}")),
    })?;
    let mode = app::learners::ImportMode { dry_run: query.dry_run, mark_missing_as_left: query.mark_missing_as_left };
    let summary = app::learners::import(&state.app, &caller, &body, mode).await?;
    Ok(Json(ImportAnswer { dry_run: query.dry_run, summary }))
}
