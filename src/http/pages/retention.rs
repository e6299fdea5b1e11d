//! The safeguarding lead's view of the retention rules: each rule's setting, and every image the
//! rules will delete in the next 30 days, with when and why, before it happens.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::frame::{render, require, Chrome, PageError};
use crate::app::retention;
use crate::http::retention::setting;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::store::ms_of_time;

pub(super) fn routes() -> Router<HttpState> {
    Router::new().route("/admin/retention", get(retention_page))
}

/// How far ahead the page looks.
const WITHIN_DAYS: u64 = 30;

struct RuleLine {
    name: &'static str,
    setting: String,
    deletes: &'static str,
}

/// One thing due: an image (`subject` a photo id) or a learner's record (a learner id).
struct DueLine {
    subject: String,
    rule: &'static str,
    due: String,
    overdue: bool,
    why: String,
    /// For a learner's erasure: the photos whose image it deletes.
    images: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_retention.html")]
struct RetentionPage {
    chrome: Chrome,
    rules: Vec<RuleLine>,
    within_days: u64,
    deletions: Vec<DueLine>,
    /// Learners due for erasure.
    erasures: Vec<DueLine>,
    truncated: bool,
}

async fn retention_page(State(state): State<HttpState>, session: Session) -> Result<Response, PageError> {
    require(&session, retention::RETENTION_VIEWERS)?;
    let within = std::time::Duration::from_secs(WITHIN_DAYS * 24 * 60 * 60);
    let preview = retention::preview(&state.app, &session.caller, within, 500).await?;
    let rules = state.app.settings.retention;
    let zone = state.app.settings.rules.zone;
    let format = time::macros::format_description!("[day] [month repr:short] [year] [hour]:[minute]");
    let now = ms_of_time(time::OffsetDateTime::now_utc());
    let line = |subject: String, rule: &'static str, due_at: time::OffsetDateTime, why: String, images| DueLine {
        subject,
        rule,
        due: zone.local(due_at).format(&format).unwrap_or_default(),
        overdue: ms_of_time(due_at) <= now,
        why,
        images,
    };
    let page = RetentionPage {
        chrome: Chrome::new("Retention", &session),
        rules: vec![
            RuleLine {
                name: "held_photo",
                setting: setting(rules.held_photo),
                deletes: "the image of a photo that never reached marketing's queue, counted from its upload",
            },
            RuleLine {
                name: "after_leaving",
                setting: setting(rules.after_leaving),
                deletes: "the image of every photo a learner who left is tagged in, counted from their leaving day",
            },
            RuleLine {
                name: "learner_record_after_leaving",
                setting: setting(rules.learner_record_after_leaving),
                deletes: "a learner's personal data, erased as on request (with the image of every photo they are \
                          tagged in that is still kept), counted from their leaving day",
            },
        ],
        erasures: preview
            .erasures
            .into_iter()
            .map(|e| {
                let why = format!("left on {}", e.left_on);
                line(e.learner_id, "learner_record_after_leaving", e.due_at, why, e.images)
            })
            .collect(),
        within_days: WITHIN_DAYS,
        deletions: preview
            .deletions
            .into_iter()
            .map(|d| line(d.photo_id, d.rule.as_str(), d.due_at, d.why, Vec::new()))
            .collect(),
        truncated: preview.truncated,
    };
    Ok(render(StatusCode::OK, &page))
}
