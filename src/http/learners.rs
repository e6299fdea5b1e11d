//! Learners and their guardians (admin only).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::json::JsonBody;
use super::{input, ApiError, AppState, Caller};
use crate::roster::fields;
use crate::store::{now_ms, AuditDraft, GuardianRecord, ImportSummary, LearnerRecord, Role, StoreError};

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
    /// Guardians.
    pub guardians: Vec<GuardianRecord>,
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
            guardians: l.guardians,
        }
    }
}

/// A guardian to record with a new learner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGuardian {
    /// Full name.
    pub name: String,
    /// Email address for withdrawal links.
    pub email: Option<String>,
}

/// `POST /api/v1/learners` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLearner {
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
    /// Guardians (needed for consent while under 18).
    #[serde(default)]
    pub guardians: Vec<NewGuardian>,
}

/// Distinguishes a field sent as `null` (clear it) from one not sent (keep it).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/v1/learners/{id}` body: only the fields sent change; `null` clears an optional one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LearnerPatch {
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New preferred name, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub preferred_name: Option<Option<String>>,
    /// Corrected date of birth, or null when unknown.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub date_of_birth: Option<Option<String>>,
    /// New MIS reference, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub external_ref: Option<Option<String>>,
}

const MAX_NAME: usize = fields::MAX_NAME;
const MAX_GUARDIANS: usize = crate::roster::MAX_GUARDIANS;

fn name(field: &str, value: &str) -> Result<String, ApiError> {
    fields::name(field, value).map_err(ApiError::bad_form)
}

fn optional_name(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    fields::optional_name(field, value).map_err(ApiError::bad_form)
}

fn date_of_birth(value: &str) -> Result<String, ApiError> {
    fields::date_of_birth(value, time::OffsetDateTime::now_utc().date()).map_err(ApiError::bad_form)
}

fn email(value: Option<&str>) -> Result<Option<String>, ApiError> {
    fields::email(value).map_err(ApiError::bad_form)
}

fn conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", "another learner has this external_ref")
        }
        other => other.into(),
    }
}

/// `POST /api/v1/learners`: record a learner and their guardians.
#[utoipa::path(post, path = "/api/v1/learners", request_body = NewLearner,
    responses((status = 201, body = LearnerView), (status = 409, body = super::ops::ErrorBody), (status = 422, body = super::ops::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewLearner>,
) -> Result<(StatusCode, Json<LearnerView>), ApiError> {
    caller.require(&[Role::Admin])?;
    if body.guardians.len() > MAX_GUARDIANS {
        return Err(ApiError::bad_form(format!("at most {MAX_GUARDIANS} guardians")));
    }
    let guardians = body
        .guardians
        .iter()
        .map(|g| {
            Ok(GuardianRecord {
                id: uuid::Uuid::now_v7().to_string(),
                name: name("guardian name", &g.name)?,
                email: email(g.email.as_deref())?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let now = now_ms();
    let learner = LearnerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        given_name: name("given_name", &body.given_name)?,
        family_name: name("family_name", &body.family_name)?,
        preferred_name: optional_name("preferred_name", body.preferred_name.as_deref())?,
        date_of_birth: body.date_of_birth.as_deref().map(date_of_birth).transpose()?,
        external_ref: optional_name("external_ref", body.external_ref.as_deref())?,
        guardians,
        created_at: now,
        updated_at: now,
    };
    let audit = AuditDraft::new(
        &caller.token_id,
        "learner_created",
        &learner.id,
        serde_json::json!({ "guardians": learner.guardians.len() }),
    );
    state.store.insert_learner(&learner, audit).await.map_err(conflict)?;
    super::refresh_statuses_in_background(&state);
    Ok((StatusCode::CREATED, Json(learner.into())))
}

/// `GET /api/v1/learners/{id}`.
#[utoipa::path(get, path = "/api/v1/learners/{id}", params(("id" = String, Path)),
    responses((status = 200, body = LearnerView), (status = 404, body = super::ops::ErrorBody)), security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LearnerView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = input::path_id(&id, "learner")?;
    let learner = state.store.learner(&id).await?.ok_or_else(|| ApiError::not_found("learner"))?;
    Ok(Json(learner.into()))
}

/// `PATCH /api/v1/learners/{id}`: correct a learner's details.
#[utoipa::path(patch, path = "/api/v1/learners/{id}", params(("id" = String, Path)), request_body = LearnerPatch,
    responses((status = 200, body = LearnerView), (status = 404, body = super::ops::ErrorBody), (status = 422, body = super::ops::ErrorBody)),
    security(("bearer" = [])))]
pub async fn correct(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<LearnerPatch>,
) -> Result<Json<LearnerView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = input::path_id(&id, "learner")?;
    let mut learner = state.store.learner(&id).await?.ok_or_else(|| ApiError::not_found("learner"))?;
    let mut changed = Vec::new();
    if let Some(v) = &patch.given_name {
        learner.given_name = name("given_name", v)?;
        changed.push("given_name");
    }
    if let Some(v) = &patch.family_name {
        learner.family_name = name("family_name", v)?;
        changed.push("family_name");
    }
    if let Some(v) = &patch.preferred_name {
        learner.preferred_name = optional_name("preferred_name", v.as_deref())?;
        changed.push("preferred_name");
    }
    if let Some(v) = &patch.date_of_birth {
        learner.date_of_birth = v.as_deref().map(date_of_birth).transpose()?;
        changed.push("date_of_birth");
    }
    if let Some(v) = &patch.external_ref {
        learner.external_ref = optional_name("external_ref", v.as_deref())?;
        changed.push("external_ref");
    }
    if changed.is_empty() {
        return Err(ApiError::bad_form("the patch changes nothing"));
    }
    learner.updated_at = now_ms();
    // The audit names which fields changed, never their values: names stay out of the log.
    let audit =
        AuditDraft::new(&caller.token_id, "learner_corrected", &learner.id, serde_json::json!({ "fields": changed }));
    let eval = state.evaluation(&caller.token_id).await?;
    if !state.store.update_learner(&learner, audit, eval).await.map_err(conflict)? {
        return Err(ApiError::not_found("learner"));
    }
    super::refresh_statuses_in_background(&state);
    Ok(Json(learner.into()))
}

/// `GET /api/v1/learners?q=` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// Part of a name or external reference; empty lists everyone.
    #[serde(default)]
    pub q: String,
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
}

/// `GET /api/v1/learners`: list and search.
#[utoipa::path(get, path = "/api/v1/learners", params(SearchQuery),
    responses((status = 200, body = [LearnerView])), security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<LearnerView>>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    if query.q.chars().count() > MAX_NAME || input::has_forbidden_control(&query.q) {
        return Err(ApiError::bad_form(format!("q must be at most {MAX_NAME} printable characters")));
    }
    let found = state.store.search_learners(query.q.trim(), limit).await?;
    Ok(Json(found.into_iter().map(LearnerView::from).collect()))
}

/// `POST /api/v1/learners/import` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// Check the file and report what would change, storing nothing.
    #[serde(default)]
    pub dry_run: bool,
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
#[utoipa::path(post, path = "/api/v1/learners/import", params(ImportQuery),
    request_body(content = String, content_type = "text/csv",
        description = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email (preferred_name optional)"),
    responses((status = 200, body = ImportAnswer), (status = 413, body = super::ops::ErrorBody),
        (status = 415, body = super::ops::ErrorBody), (status = 422, body = super::ops::ErrorBody, description = "bad lines: detail.errors lists each with its line number")),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    // Taken as a result so that the (size-limited) body is read before a 401 or 403 is sent: a
    // client still writing a large file would otherwise see a reset instead of the answer.
    caller: Result<Caller, ApiError>,
    query: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ImportAnswer>, ApiError> {
    let caller = caller?;
    caller.require(&[Role::Admin])?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.starts_with("text/csv") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_csv",
            "send the MIS export as the body with 'Content-Type: text/csv'",
        ));
    }
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("the file is too large: {}", e.body_text()),
        )
    })?;
    match crate::service::import_learners(
        state.store.as_ref(),
        &body,
        &caller.token_id,
        query.dry_run,
        state.settings.rules,
    )
    .await
    {
        Ok(summary) => {
            if !query.dry_run {
                super::refresh_statuses_in_background(&state);
            }
            Ok(Json(ImportAnswer { dry_run: query.dry_run, summary }))
        }
        Err(crate::service::ImportError::Lines(errors)) => {
            let listed: Vec<_> =
                errors.iter().map(|e| serde_json::json!({ "line": e.line, "message": e.message })).collect();
            let first = errors.first().map(|e| format!("line {}: {}", e.line, e.message)).unwrap_or_default();
            Err(ApiError::bad_form(format!(
                "nothing was imported: {} bad line{} ({first}{})",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                if errors.len() > 1 { "; see detail.errors for the rest" } else { "" }
            ))
            .with_code("bad_csv")
            .with_detail(serde_json::json!({ "errors": listed })))
        }
        Err(crate::service::ImportError::Store(e)) => Err(e.into()),
    }
}
