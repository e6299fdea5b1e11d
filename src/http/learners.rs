//! Learners and their guardians (admin only).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::json::JsonBody;
use super::{input, ApiError, AppState, Caller};
use crate::store::{now_ms, AuditDraft, GuardianRecord, LearnerRecord, Role, StoreError};

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

const MAX_NAME: usize = 200;
const MAX_GUARDIANS: usize = 4;

/// A trimmed, non-empty, reasonably short text.
fn name(field: &str, value: &str) -> Result<String, ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_form(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > MAX_NAME || trimmed.chars().any(char::is_control) {
        return Err(ApiError::bad_form(format!("{field} must be at most {MAX_NAME} printable characters")));
    }
    Ok(trimmed.to_string())
}

fn optional_name(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    value.filter(|v| !v.trim().is_empty()).map(|v| name(field, v)).transpose()
}

/// Parses `YYYY-MM-DD`, refusing dates in the future or before 1900.
pub fn date_of_birth(value: &str) -> Result<String, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value.trim(), &format)
        .map_err(|_| ApiError::bad_form(format!("date_of_birth {value:?} is not a date of the form YYYY-MM-DD")))?;
    let today = time::OffsetDateTime::now_utc().date();
    if date > today || date.year() < 1900 {
        return Err(ApiError::bad_form(format!("date_of_birth {value} is not a plausible date of birth")));
    }
    Ok(date.format(&format).expect("a date formats"))
}

fn email(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let valid = v.len() <= 254 && v.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if !valid || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_form(format!("{v:?} is not an email address")));
    }
    Ok(Some(v.to_string()))
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
    let eval = state.evaluation(&caller.token_id);
    if !state.store.update_learner(&learner, audit, eval).await.map_err(conflict)? {
        return Err(ApiError::not_found("learner"));
    }
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
