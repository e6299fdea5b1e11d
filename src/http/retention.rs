//! What the retention rules will delete, before it happens: the safeguarding lead's preview.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, AuthErrors, QueryErrors};
use super::json::rfc3339;
use super::state::HttpState;
use crate::app::retention;
use crate::app::Actor;
use crate::policy::retention::Rule;

/// `GET /api/v1/retention/preview` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// How far ahead to look, like `30d` (the default), `12h` or `0s` (only what is due now).
    pub within: Option<String>,
    /// At most this many deletions (default 200); values outside 1 to 1000 are brought into that
    /// range.
    pub limit: Option<i64>,
}

/// What the rules will delete.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    /// The look-ahead used, as given (or the default).
    pub within: String,
    /// Each rule's setting: a duration like `90days`, or `off`.
    pub rules: RulesView,
    /// Every image due by then, soonest first: the photo rows, fingerprints and audit trail stay.
    pub deletions: Vec<DeletionView>,
    /// Every learner whose personal data is due for erasure by then (`learner_record_after_leaving`),
    /// soonest first.
    pub erasures: Vec<ErasureView>,
    /// More were due than `limit` let through.
    pub truncated: bool,
}

/// One image a rule will delete (one already due stays listed until the next maintenance pass
/// deletes it).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletionView {
    /// The photo whose image goes.
    pub photo_id: String,
    /// The rule that deletes it; when two would, the one due first.
    pub rule: Rule,
    /// When, RFC 3339.
    pub due_at: String,
    /// Why, in plain words and without names: the upload date or leaving day the rule counts from.
    pub why: String,
}

/// A learner record due for erasure.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureView {
    /// The learner.
    pub learner_id: String,
    /// When, RFC 3339.
    pub due_at: String,
    /// The leaving day it counts from, `YYYY-MM-DD`.
    pub left_on: String,
    /// The photos whose image the erasure deletes (they are tagged in them and `after_leaving`
    /// has not deleted them already), oldest first.
    pub images: Vec<String>,
}

/// Each retention rule's setting.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulesView {
    /// Images of photos never released, this long after upload.
    pub held_photo: String,
    /// Images of photos of a learner who left, this long after their leaving day.
    pub after_leaving: String,
    /// A leaver's personal data, this long after their leaving day.
    pub learner_record_after_leaving: String,
}

/// A rule's setting in words: `off`, or the duration in the largest unit that writes it whole
/// (`90d`, `6years`, `36h`, `2s`), as it would be typed in the settings. humantime's own output
/// counts months of 30.44 days, which turns `90d` into "2months 29days 2h 52m 48s".
pub fn setting(keep: Option<std::time::Duration>) -> String {
    /// humantime's year: 365.25 days.
    const YEAR: u64 = 31_557_600;
    let Some(keep) = keep else { return "off".to_string() };
    if keep.subsec_nanos() != 0 {
        return humantime::format_duration(keep).to_string();
    }
    let seconds = keep.as_secs();
    if seconds == 0 {
        return "0s".to_string();
    }
    let units = [(YEAR, "years"), (86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let (unit, name) = units.into_iter().find(|(unit, _)| seconds % unit == 0).unwrap_or((1, "s"));
    match (seconds / unit, name) {
        (1, "years") => "1year".to_string(),
        (count, name) => format!("{count}{name}"),
    }
}

/// `GET /api/v1/retention/preview`: every image the retention rules will delete within `within`,
/// with the rule and the reason, soonest first (admins).
#[utoipa::path(get, path = "/api/v1/retention/preview", operation_id = "retention_preview", tag = "retention",
    params(PreviewQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = PreviewView, description = "what will be deleted, when and why")),
    security(("bearer" = [])))]
pub async fn preview(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<PreviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PreviewView>, ApiError> {
    caller.require(retention::RETENTION_VIEWERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let within_text = query.within.unwrap_or_else(|| "30d".to_string());
    let within = humantime::parse_duration(within_text.trim()).map_err(|e| {
        ApiError::bad_form(format!("within: {within_text:?} is not a duration like 30d, 12h or 0s ({e})"))
    })?;
    let preview = retention::preview(&state.app, &caller, within, query.limit.unwrap_or(200)).await?;
    let rules = state.app.settings.retention;
    Ok(Json(PreviewView {
        within: within_text,
        rules: RulesView {
            held_photo: setting(rules.held_photo),
            after_leaving: setting(rules.after_leaving),
            learner_record_after_leaving: setting(rules.learner_record_after_leaving),
        },
        deletions: preview
            .deletions
            .into_iter()
            .map(|d| DeletionView {
                photo_id: d.photo_id,
                rule: d.rule,
                due_at: rfc3339(crate::store::ms_of_time(d.due_at)),
                why: d.why,
            })
            .collect(),
        erasures: preview
            .erasures
            .into_iter()
            .map(|e| ErasureView {
                learner_id: e.learner_id,
                due_at: rfc3339(crate::store::ms_of_time(e.due_at)),
                left_on: e.left_on,
                images: e.images,
            })
            .collect(),
        truncated: preview.truncated,
    }))
}

#[cfg(test)]
mod tests {
    use super::setting;
    use std::time::Duration;

    #[test]
    fn a_setting_reads_as_it_would_be_typed_and_types_back_the_same() {
        for typed in ["90d", "365d", "6years", "1year", "36h", "90m", "2s", "0s"] {
            let keep = humantime::parse_duration(typed).unwrap();
            assert_eq!(setting(Some(keep)), typed);
        }
        assert_eq!(setting(None), "off");
        assert_eq!(setting(Some(Duration::from_millis(1500))), "1s 500ms");
    }
}
