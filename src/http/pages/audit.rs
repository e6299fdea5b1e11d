//! The safeguarding lead's audit log: who (by name) did what to whom, each row linked to what it is
//! about, filtered by learner, photo, action and day, and downloaded as CSV; and the takedowns still
//! owed with how long each has waited.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::frame::{render, require, when, Chrome, PageError};
use super::words::{purpose_words, takedown_words};
use crate::app::audit::{self, AuditFilter, Subject};
use crate::app::AppError;
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::store::now_ms;

pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit.csv", get(audit_csv))
        .route("/admin/takedowns", get(takedowns_page))
}

/// `/admin/audit?learner=&photo=&action=&from=&to=&before=`: every filter optional.
#[derive(Debug, Default, serde::Deserialize)]
struct AuditQuery {
    #[serde(default)]
    learner: String,
    #[serde(default)]
    photo: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

/// The filters as typed, to show them again.
#[derive(Debug, Default)]
struct Typed {
    learner: String,
    photo: String,
    action: String,
    from: String,
    to: String,
}

impl AuditQuery {
    fn typed(&self) -> Typed {
        Typed {
            learner: self.learner.trim().to_string(),
            photo: self.photo.trim().to_string(),
            action: self.action.trim().to_string(),
            from: self.from.trim().to_string(),
            to: self.to.trim().to_string(),
        }
    }

    /// The filter the use case takes; a day that is not one is the form's mistake.
    fn filter(&self) -> Result<AuditFilter, AppError> {
        let typed = self.typed();
        let day = |field: &str, value: &str| -> Result<Option<time::Date>, AppError> {
            if value.is_empty() {
                return Ok(None);
            }
            crate::policy::calendar::parse_iso_date(value)
                .map(Some)
                .ok_or_else(|| AppError::invalid_field(field, format!("{field} is not a day: give YYYY-MM-DD")))
        };
        let given = |value: String| (!value.is_empty()).then_some(value);
        Ok(AuditFilter {
            from: day("from", &typed.from)?,
            to: day("to", &typed.to)?,
            learner: given(typed.learner),
            photo: given(typed.photo),
            action: given(typed.action),
        })
    }

    /// The filters as a query string, for the next page and the CSV link.
    fn query_string(&self) -> String {
        let typed = self.typed();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                [
                    ("learner", typed.learner),
                    ("photo", typed.photo),
                    ("action", typed.action),
                    ("from", typed.from),
                    ("to", typed.to),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty()),
            )
            .finish()
    }
}

struct Line {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    about: String,
    link: Option<String>,
    details: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<Line>,
    older: Option<i64>,
    head: String,
    filter: Typed,
    actions: &'static [(&'static str, &'static str)],
    query: String,
    learner_name: Option<String>,
    error: Option<String>,
}

/// A row's details as `key: value` pairs, for people (the CSV keeps the JSON).
fn details_words(details: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(details) else {
        return details.to_string();
    };
    map.iter().map(|(k, v)| format!("{}: {}", k.replace('_', " "), value_words(v))).collect::<Vec<_>>().join(" · ")
}

/// A detail's value in words: text as it is, lists joined, objects as `key value` pairs.
fn value_words(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(value_words).collect::<Vec<_>>().join(", "),
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{} {}", k.replace('_', " "), value_words(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

const AUDIT_PAGE: i64 = 100;

async fn audit_page(
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, audit::AUDITORS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let found = match query.filter() {
        Ok(filter) => {
            audit::search(&state.app, &session.caller, &filter, query.before, AUDIT_PAGE).await.map(|f| (f, filter))
        }
        Err(e) => Err(e),
    };
    let (found, filter, error) = match found {
        Ok((found, filter)) => (Some(found), Some(filter), None),
        Err(e @ AppError::Invalid { .. }) => (None, None, Some(ApiError::from(e).message)),
        Err(e) => return Err(e.into()),
    };
    let learner_name = match filter.as_ref().and_then(|f| f.learner.as_deref()) {
        Some(id) => crate::app::learners::show(&state.app, &session.caller, id)
            .await
            .ok()
            .map(|l| format!("{} {}", l.given_name, l.family_name)),
        None => None,
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (rows, older, head) = match found {
        Some(found) => {
            let rows = found
                .entries
                .into_iter()
                .map(|e| {
                    let (about, link) = match &e.subject {
                        Subject::Learner(id) => ("a learner".to_string(), Some(format!("/admin/learners/{id}"))),
                        Subject::Photo(id) => ("a photo".to_string(), Some(format!("/admin/audit?photo={id}"))),
                        Subject::Staff(_) => {
                            (e.subject_name.clone().unwrap_or_default(), Some("/admin/staff".to_string()))
                        }
                        Subject::Request(id) => ("a request".to_string(), Some(format!("/admin/requests/{id}"))),
                        Subject::Other(_) => (String::new(), None),
                    };
                    Line {
                        seq: e.record.seq,
                        at: when(e.record.at),
                        actor: e.actor_name,
                        action: audit::action_words(&e.record.action).to_string(),
                        about,
                        link,
                        details: details_words(&e.record.details),
                    }
                })
                .collect();
            (rows, found.older, format!("{}:{}", found.head.0, found.head.1))
        }
        None => (Vec::new(), None, String::new()),
    };
    let page = AuditPage {
        chrome: Chrome::new("Audit log", &session),
        rows,
        older,
        head,
        filter: query.typed(),
        actions: audit::ACTIONS,
        query: query.query_string(),
        learner_name,
        error,
    };
    Ok(render(status, &page))
}

/// `/admin/audit.csv?…`: the rows the same filters find, as CSV.
async fn audit_csv(
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, audit::AUDITORS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let text = audit::csv(&state.app, &session.caller, &query.filter()?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit-log.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}

struct OwedRow {
    waited: String,
    overdue: bool,
    since: String,
    url: String,
    channel: String,
    purpose: &'static str,
    why: String,
    photo_id: String,
    told: String,
}

#[derive(Template)]
#[template(path = "admin_takedowns.html")]
struct TakedownsPage {
    chrome: Chrome,
    rows: Vec<OwedRow>,
    overdue_after: String,
}

/// How long, in words, for a table cell.
fn waited(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        ..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// `/admin/takedowns`: every takedown still owed, oldest first, with how long it has waited.
async fn takedowns_page(State(state): State<HttpState>, session: Session) -> Result<Response, PageError> {
    require(&session, audit::AUDITORS)?;
    let now = now_ms();
    let overdue_ms = i64::try_from(state.app.settings.takedown_overdue_after.as_millis()).unwrap_or(i64::MAX);
    let rows = crate::app::queue::takedowns(&state.app, &session.caller, false)
        .await?
        .into_iter()
        .map(|t| OwedRow {
            waited: waited(now - t.created_at),
            overdue: now - t.created_at >= overdue_ms,
            since: when(t.created_at),
            told: match (t.owed_told_at, t.overdue_told_at) {
                (_, Some(at)) => format!("owed and overdue ({})", when(at)),
                (Some(at), None) => format!("owed ({})", when(at)),
                (None, None) => "not yet".to_string(),
            },
            url: t.url,
            channel: t.channel,
            purpose: purpose_words(t.purpose),
            why: takedown_words(&t.reasons),
            photo_id: t.photo_id,
        })
        .collect();
    let hours = state.app.settings.takedown_overdue_after.as_secs() / 3600;
    let page = TakedownsPage {
        chrome: Chrome::new("Takedowns owed", &session),
        rows,
        overdue_after: format!("after {hours} hours"),
    };
    Ok(render(StatusCode::OK, &page))
}
