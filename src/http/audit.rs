//! The audit log for the safeguarding lead: every upload, rejection, token, learner change,
//! consent event, withdrawal, status change, claim, publication, takedown and download, in order.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, AuthErrors, QueryErrors};
use super::state::HttpState;
use crate::app::{self, Actor};
use crate::store::time_of_ms;

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Rows after this sequence number (default 0: from the start; below 0 counts as 0).
    #[serde(default)]
    #[param(required = false)]
    pub after: i64,
    /// At most this many (default 100); values outside 1 to 1000 are brought into that range.
    pub limit: Option<i64>,
}

/// One audit row.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    /// Position in the chain.
    pub seq: i64,
    /// When, RFC 3339.
    pub at: String,
    /// Who: a token id, `system`, `withdrawal_link`, `cli`.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What it happened to (an id).
    pub subject: String,
    /// Details: ids, codes and field names, never a learner's name or a token.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// This row's hash, which the next row includes.
    pub hash: String,
}

/// `GET /api/v1/audit`: a page of the audit log, oldest first; page on with `after`.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "audit_log", tag = "audit", params(AuditQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = [AuditRow], description = "a page of the audit log, oldest first")), security(("bearer" = [])))]
pub async fn log(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditRow>>, ApiError> {
    // The role is checked before the query is read, so a caller without it learns nothing from
    // a malformed query (401 → 403 → 404 → 422, as on every route).
    caller.require(app::audit::AUDITORS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let rows = app::audit::log(&state.app, &caller, query.after, query.limit.unwrap_or(100)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| AuditRow {
                seq: r.seq,
                at: time_of_ms(r.at).format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                actor: r.actor,
                action: r.action,
                subject: r.subject,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::String(r.details)),
                hash: r.hash,
            })
            .collect(),
    ))
}
