//! Consent history (admin): record an event, read the history with the current decision.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::input;
use super::json::JsonBody;
use super::{ApiError, AppState, Caller};
use crate::policy::consent::{self, Decision, DenyReason, EventKind, Giver, Learner};
use crate::policy::Purpose;
use crate::store::{ms_of_time, time_of_ms, AuditDraft, ConsentRecord, LearnerRecord, Role};
use crate::tokens;

/// How consent was given.
const METHODS: &[&str] = &["paper_form", "online_form", "email", "in_person"];
/// Longest form version or evidence text.
const MAX_TEXT: usize = 500;
/// How far in the future a `given_at` may lie (clocks differ a little).
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// `POST /api/v1/learners/{id}/consents` body: one consent event and its proof.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// `granted`, `refused` or `withdrawn`.
    #[schema(value_type = String)]
    pub kind: EventKind,
    /// Purposes it covers.
    pub purposes: Vec<Purpose>,
    /// `learner` or `guardian`.
    pub given_by: String,
    /// The guardian who gave it, when `given_by` is `guardian`.
    pub guardian_id: Option<String>,
    /// When it was given (RFC 3339); default now. Not in the future.
    pub given_at: Option<String>,
    /// For a grant: when it stops counting (RFC 3339, or `YYYY-MM-DD` meaning through that day, UTC).
    pub expires_at: Option<String>,
    /// Version of the consent form.
    pub form_version: String,
    /// The form's text, which is hashed; or send `form_text_hash`.
    pub form_text: Option<String>,
    /// blake3 of the form's text (64 hex digits).
    pub form_text_hash: Option<String>,
    /// How it was given: `paper_form`, `online_form`, `email`, `in_person`.
    pub method: String,
    /// Where the proof is kept (a scan reference, an email id).
    pub evidence: String,
}

/// The answer to a recorded event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordedConsent {
    /// Event id.
    pub id: String,
    /// For a grant: the link that withdraws it, to send to whoever gave it. Shown once.
    pub withdraw_url: Option<String>,
    /// How many photo purposes changed status because of it.
    pub statuses_changed: usize,
}

/// A consent event as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    /// Event id.
    pub id: String,
    /// `granted`, `refused` or `withdrawn`.
    #[schema(value_type = String)]
    pub kind: EventKind,
    /// Purposes covered.
    pub purposes: Vec<Purpose>,
    /// `learner` or `guardian`.
    pub given_by: &'static str,
    /// The guardian, when a guardian gave it.
    pub guardian_id: Option<String>,
    /// When it was given.
    pub given_at: String,
    /// When a grant stops counting.
    pub expires_at: Option<String>,
    /// Form version.
    pub form_version: String,
    /// blake3 of the form text.
    pub form_text_hash: String,
    /// How it was given.
    pub method: String,
    /// Where the proof is.
    pub evidence: String,
    /// Who recorded it (a token id, or `withdrawal_link`).
    pub recorded_by: String,
    /// When it was recorded.
    pub recorded_at: String,
}

/// The current decision for one purpose.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionView {
    /// Whether photos of this learner may be used for the purpose now.
    pub allowed: bool,
    /// The grant relied on, when allowed.
    pub basis: Option<String>,
    /// Why not, when not allowed.
    #[schema(value_type = Vec<String>)]
    pub reasons: Vec<DenyReason>,
}

/// `GET /api/v1/learners/{id}/consents` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsentHistory {
    /// The learner.
    pub learner_id: String,
    /// Every event, oldest first.
    pub events: Vec<ConsentView>,
    /// The decision per purpose, now.
    pub decisions: BTreeMap<Purpose, DecisionView>,
}

fn rfc3339(ms: i64) -> String {
    time_of_ms(ms).format(&Rfc3339).unwrap_or_default()
}

impl From<ConsentRecord> for ConsentView {
    fn from(e: ConsentRecord) -> Self {
        let (given_by, guardian_id) = match e.giver {
            Giver::Learner => ("learner", None),
            Giver::Guardian(id) => ("guardian", Some(id)),
        };
        ConsentView {
            id: e.id,
            kind: e.kind,
            purposes: e.purposes,
            given_by,
            guardian_id,
            given_at: rfc3339(e.given_at),
            expires_at: e.expires_at.map(rfc3339),
            form_version: e.form_version,
            form_text_hash: e.form_text_hash,
            method: e.method,
            evidence: e.evidence,
            recorded_by: e.recorded_by,
            recorded_at: rfc3339(e.recorded_at),
        }
    }
}

/// A moment from RFC 3339, or (for expiries) a date meaning the end of that day in UTC.
fn moment(field: &str, value: &str, date_means_end_of_day: bool) -> Result<OffsetDateTime, ApiError> {
    if let Ok(t) = OffsetDateTime::parse(value.trim(), &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(value.trim(), &format) {
        Ok(date) if date_means_end_of_day => date
            .next_day()
            .map(|d| d.midnight().assume_utc())
            .ok_or_else(|| ApiError::bad_form(format!("{field} is out of range"))),
        _ => Err(ApiError::bad_form(format!(
            "{field} {value:?} is not a time like 2026-09-01T09:00:00Z{}",
            if date_means_end_of_day { " or a date like 2027-08-31" } else { "" }
        ))),
    }
}

fn bounded(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::bad_form(format!("{field} must not be empty")));
    }
    input::free_text(field, value.to_string(), MAX_TEXT)
}

/// Loads a learner for an admin, or 404.
async fn learner_for_admin(state: &AppState, caller: &Caller, id: &str) -> Result<LearnerRecord, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = input::path_id(id, "learner")?;
    state.store.learner(&id).await?.ok_or_else(|| ApiError::not_found("learner"))
}

/// Checks a new event against the learner and turns it into a record.
fn validate(
    body: NewConsent,
    learner: &LearnerRecord,
    recorded_by: &str,
    now: OffsetDateTime,
) -> Result<ConsentRecord, ApiError> {
    let mut purposes = body.purposes;
    purposes.sort();
    purposes.dedup();
    if purposes.is_empty() {
        return Err(ApiError::bad_form("name at least one purpose: website, social_media, print or internal"));
    }
    let giver = match (body.given_by.as_str(), body.guardian_id) {
        ("learner", None) => Giver::Learner,
        ("learner", Some(_)) => return Err(ApiError::bad_form("guardian_id goes with given_by \"guardian\" only")),
        ("guardian", Some(id)) => {
            let id = input::body_id(&id).filter(|id| learner.guardians.iter().any(|g| &g.id == id));
            // A guardian of another learner has no say over this one.
            Giver::Guardian(id.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "not_a_guardian",
                    "guardian_id is not a guardian of this learner",
                )
            })?)
        }
        ("guardian", None) => return Err(ApiError::bad_form("given_by \"guardian\" needs a guardian_id")),
        (other, _) => {
            return Err(ApiError::bad_form(format!("given_by must be \"learner\" or \"guardian\", not {other:?}")))
        }
    };
    let now_ms = ms_of_time(now);
    let given_at = match &body.given_at {
        Some(v) => ms_of_time(moment("given_at", v, false)?),
        None => now_ms,
    };
    if given_at > now_ms + CLOCK_SKEW_MS {
        return Err(ApiError::bad_form("given_at is in the future; record consent once it has been given"));
    }
    if given_at < 0 {
        return Err(ApiError::bad_form("given_at is before 1970"));
    }
    let expires_at = match (&body.expires_at, body.kind) {
        (None, _) => None,
        (Some(v), EventKind::Granted) => Some(ms_of_time(moment("expires_at", v, true)?)),
        (Some(_), _) => return Err(ApiError::bad_form("only a grant can have expires_at")),
    };
    if expires_at.is_some_and(|e| e <= given_at) {
        return Err(ApiError::bad_form("expires_at is not after given_at: the grant would never count"));
    }
    let form_text_hash = match (body.form_text, body.form_text_hash) {
        (Some(text), None) if !text.trim().is_empty() => blake3::hash(text.as_bytes()).to_hex().to_string(),
        (None, Some(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            hash.to_ascii_lowercase()
        }
        (None, Some(_)) => return Err(ApiError::bad_form("form_text_hash must be 64 hex digits (a blake3 hash)")),
        _ => return Err(ApiError::bad_form("send exactly one of form_text and form_text_hash")),
    };
    if !METHODS.contains(&body.method.as_str()) {
        return Err(ApiError::bad_form(format!("method must be one of {}", METHODS.join(", "))));
    }
    Ok(ConsentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        learner_id: learner.id.clone(),
        kind: body.kind,
        purposes,
        giver,
        given_at,
        expires_at,
        form_version: bounded("form_version", &body.form_version)?,
        form_text_hash,
        method: body.method,
        evidence: bounded("evidence", &body.evidence)?,
        recorded_by: recorded_by.to_string(),
        recorded_at: now_ms,
    })
}

/// `POST /api/v1/learners/{id}/consents`: record a consent event; statuses follow at once.
#[utoipa::path(post, path = "/api/v1/learners/{id}/consents", params(("id" = String, Path)), request_body = NewConsent,
    responses((status = 201, body = RecordedConsent), (status = 404, body = super::ops::ErrorBody), (status = 422, body = super::ops::ErrorBody)),
    security(("bearer" = [])))]
pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewConsent>,
) -> Result<(StatusCode, Json<RecordedConsent>), ApiError> {
    let learner = learner_for_admin(&state, &caller, &id).await?;
    let eval = state.evaluation(&caller.token_id).await?;
    let event = validate(body, &learner, &caller.token_id, eval.at)?;
    let link = (event.kind == EventKind::Granted).then(tokens::new_withdrawal_token);
    // The audit row names the giver by id and never the form text or evidence.
    let audit = AuditDraft::new(
        &caller.token_id,
        "consent_recorded",
        &learner.id,
        serde_json::json!({
            "event": event.id, "kind": event.kind, "purposes": event.purposes,
            "given_by": match &event.giver { Giver::Learner => "learner".to_string(), Giver::Guardian(g) => g.clone() },
        }),
    );
    let changes = state.store.record_consent(&event, link.as_ref().map(|(_, hash)| hash.as_str()), audit, eval).await?;
    metrics::counter!("consentgate_consent_events_total", "kind" => match event.kind {
        EventKind::Granted => "granted",
        EventKind::Refused => "refused",
        EventKind::Withdrawn => "withdrawn",
    })
    .increment(1);
    if event.kind != EventKind::Granted {
        super::retire_images(&state, &event.learner_id, &caller.token_id).await;
    }
    let withdraw_url = link.map(|(token, _)| format!("{}/w/{token}", state.settings.public_url));
    Ok((StatusCode::CREATED, Json(RecordedConsent { id: event.id, withdraw_url, statuses_changed: changes.len() })))
}

/// The decision for every purpose at `at`.
pub fn decisions(
    learner: &LearnerRecord,
    events: &[ConsentRecord],
    state: &AppState,
    at: OffsetDateTime,
) -> Result<BTreeMap<Purpose, DecisionView>, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date_of_birth = learner
        .date_of_birth
        .as_deref()
        .map(|d| time::Date::parse(d, &format))
        .transpose()
        .map_err(ApiError::internal)?;
    let facts = Learner { date_of_birth, guardian_ids: learner.guardians.iter().map(|g| g.id.clone()).collect() };
    let events: Vec<_> = events.iter().map(ConsentRecord::to_event).collect();
    Ok(Purpose::ALL
        .into_iter()
        .map(|p| {
            let view = match consent::decide(&facts, &events, p, at, state.settings.rules) {
                Decision::Allow { basis } => DecisionView { allowed: true, basis: Some(basis), reasons: Vec::new() },
                Decision::Deny { reasons } => DecisionView { allowed: false, basis: None, reasons },
            };
            (p, view)
        })
        .collect())
}

/// `GET /api/v1/learners/{id}/consents`: the history and the decision per purpose now.
#[utoipa::path(get, path = "/api/v1/learners/{id}/consents", params(("id" = String, Path)),
    responses((status = 200, body = ConsentHistory), (status = 404, body = super::ops::ErrorBody)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsentHistory>, ApiError> {
    let learner = learner_for_admin(&state, &caller, &id).await?;
    let events = state.store.consents(&learner.id).await?;
    let decisions = decisions(&learner, &events, &state, OffsetDateTime::now_utc())?;
    Ok(Json(ConsentHistory {
        learner_id: learner.id,
        events: events.into_iter().map(ConsentView::from).collect(),
        decisions,
    }))
}
