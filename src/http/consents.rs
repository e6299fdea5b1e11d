//! Consent history (admin): record an event, read the history with the current decision. The
//! checks on an event are [`app::consents::validate`]'s; here only the body's shape.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::doc::{Expiry, FormHash, GivenAt, Id, ProofText};
use super::error::{ApiError, AuthErrors, ErrorBody, JsonErrors, NotFoundErrors};
use super::json::rfc3339;
use super::json::JsonBody;
use super::state::HttpState;
use crate::app::{self, Actor};
use crate::policy::consent::{Decision, DenyReason, EventKind, Giver};
use crate::policy::Purpose;
use crate::store::ConsentRecord;

/// `POST /api/v1/learners/{id}/consents` body: one consent event and its proof.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// What it says.
    pub kind: EventKind,
    /// Purposes it covers; at least one.
    #[schema(min_items = 1)]
    pub purposes: Vec<Purpose>,
    /// Who gave it.
    #[schema(value_type = GivenBy)]
    pub given_by: String,
    /// The guardian who gave it (one of this learner's): required when `given_by` is `guardian`,
    /// refused when it is `learner`.
    #[schema(value_type = Option<Id>)]
    pub guardian_id: Option<String>,
    /// When it was given (RFC 3339, or `YYYY-MM-DD` meaning that day's start in the organisation's
    /// zone); default now. Not in the future (beyond five minutes of clock skew), not before 1970.
    #[schema(value_type = Option<GivenAt>)]
    pub given_at: Option<String>,
    /// For a grant only: when it stops counting (RFC 3339, or `YYYY-MM-DD` meaning through that
    /// day in the organisation's zone); after `given_at`.
    #[schema(value_type = Option<Expiry>)]
    pub expires_at: Option<String>,
    /// Version of the consent form; left out with `template_id`.
    #[serde(default)]
    #[schema(value_type = Option<ProofText>)]
    pub form_version: String,
    /// A saved consent form (`GET /api/v1/form-templates`): its version and words stand for
    /// `form_version` and `form_text`, which are then left out.
    #[schema(value_type = Option<Id>)]
    pub template_id: Option<String>,
    /// The form's text, which is hashed; send exactly one of `form_text` (not blank) and
    /// `form_text_hash`, or `template_id`.
    #[schema(pattern = r"\S")]
    pub form_text: Option<String>,
    /// blake3 of the form's text.
    #[schema(value_type = Option<FormHash>)]
    pub form_text_hash: Option<String>,
    /// How it was given.
    #[schema(value_type = Method)]
    pub method: String,
    /// Where the proof is kept (a scan reference, an email id).
    #[schema(value_type = ProofText)]
    pub evidence: String,
}

/// Who gave a consent (documentation only: the handler reads the word itself).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum GivenBy {
    /// The learner.
    Learner,
    /// One of the learner's guardians, named by `guardian_id`.
    Guardian,
}

/// How consent was given: one of [`app::consents::METHODS`] (documentation only).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Method {
    /// A signed paper form.
    PaperForm,
    /// An online form.
    OnlineForm,
    /// An email.
    Email,
    /// In person.
    InPerson,
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
    /// What it says.
    pub kind: EventKind,
    /// Purposes covered.
    pub purposes: Vec<Purpose>,
    /// Who gave it.
    #[schema(value_type = GivenBy)]
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

impl From<NewConsent> for app::consents::NewConsent {
    fn from(b: NewConsent) -> Self {
        app::consents::NewConsent {
            kind: Some(b.kind),
            purposes: b.purposes,
            given_by: b.given_by,
            guardian_id: b.guardian_id,
            given_at: b.given_at,
            expires_at: b.expires_at,
            form_version: b.form_version,
            form_text: b.form_text,
            form_text_hash: b.form_text_hash,
            method: b.method,
            evidence: b.evidence,
            template_id: b.template_id,
            ask_first: false,
        }
    }
}

/// `POST /api/v1/learners/{id}/consents`: record a consent event; statuses follow at once.
#[utoipa::path(post, path = "/api/v1/learners/{id}/consents", operation_id = "record_consent", tag = "consents",
    params(("id" = Id, Path, description = "Learner id")), request_body = NewConsent,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 201, body = RecordedConsent, description = "recorded; statuses re-evaluated"),
        (status = 409, body = ErrorBody, description = "`guardian_removed`: a grant from a guardian an admin removed (their refusals and withdrawals are recorded)")),
    security(("bearer" = [])))]
pub async fn record(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewConsent>,
) -> Result<(StatusCode, Json<RecordedConsent>), ApiError> {
    let recorded = app::consents::record(&state.app, &caller, &id, body.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(RecordedConsent {
            id: recorded.event.id,
            withdraw_url: recorded.withdraw_url,
            statuses_changed: recorded.changes.len(),
        }),
    ))
}

/// The answer to re-issuing a withdrawal link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReissuedLink {
    /// The grant the link withdraws.
    pub event_id: String,
    /// The new link, to send to whoever gave the grant. Shown once; the old link no longer works.
    pub withdraw_url: String,
}

/// `POST /api/v1/learners/{id}/consents/{event_id}/withdrawal-link`: a new withdrawal link for a
/// standing grant whose link was lost; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/learners/{id}/consents/{event_id}/withdrawal-link", operation_id = "reissue_withdrawal_link", tag = "consents",
    params(("id" = Id, Path, description = "Learner id"), ("event_id" = Id, Path, description = "The grant's event id")),
    responses(AuthErrors, NotFoundErrors, (status = 201, body = ReissuedLink, description = "the new link, shown once; the old one no longer works"),
        (status = 409, body = ErrorBody, description = "`not_a_grant`, `already_withdrawn` or `guardian_removed`")),
    security(("bearer" = [])))]
pub async fn reissue_link(
    State(state): State<HttpState>,
    caller: Actor,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ReissuedLink>), ApiError> {
    let link = app::consents::reissue_link(&state.app, &caller, &id, &event_id).await?;
    Ok((StatusCode::CREATED, Json(ReissuedLink { event_id: link.event_id, withdraw_url: link.withdraw_url })))
}

impl From<Decision> for DecisionView {
    fn from(decision: Decision) -> DecisionView {
        match decision {
            Decision::Allow { basis } => DecisionView { allowed: true, basis: Some(basis), reasons: Vec::new() },
            Decision::Deny { reasons } => DecisionView { allowed: false, basis: None, reasons },
        }
    }
}

/// `GET /api/v1/learners/{id}/consents`: the history and the decision per purpose now.
#[utoipa::path(get, path = "/api/v1/learners/{id}/consents", operation_id = "consent_history", tag = "consents",
    params(("id" = Id, Path, description = "Learner id")),
    responses(AuthErrors, NotFoundErrors, (status = 200, body = ConsentHistory, description = "the history and the decision per purpose now")), security(("bearer" = [])))]
pub async fn history(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<ConsentHistory>, ApiError> {
    let history = app::consents::history(&state.app, &caller, &id).await?;
    Ok(Json(ConsentHistory {
        learner_id: history.learner.id,
        events: history.events.into_iter().map(ConsentView::from).collect(),
        decisions: history.decisions.into_iter().map(|(p, d)| (p, d.into())).collect(),
    }))
}
