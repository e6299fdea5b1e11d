//! The tutor's pages: upload several photos from a phone with a caption, the learners pictured and
//! the purposes for each, then see each photo's status in plain words and accept a suggested
//! redaction with one tap. The uploads themselves go to `POST /api/v1/photos` from the script,
//! authenticated by the session cookie and its CSRF header.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::frame::{done, notice_text, render, require, Chrome, NoticeQuery, PageError, PageForm};
use super::labels;
use super::words::{self, Line};
use crate::app::photos::PhotoEdit;
use crate::app::{self, Actor};
use crate::http::error::ApiError;
use crate::http::json::JsonBody;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::Purpose;
use crate::store::{time_of_ms, LearnerRecord, PhotoRecord};

pub(super) fn routes() -> axum::Router<HttpState> {
    Router::new()
        .route("/tutor", get(upload_page))
        .route("/tutor/learners", post(pick_learners))
        .route("/tutor/photos", get(my_photos))
        .route("/tutor/photos/{id}/status", get(photo_status))
        .route("/tutor/photos/{id}/redaction", post(accept_redaction))
}

/// The name a learner goes by, for sentences about them.
pub fn first_name(learner: &LearnerRecord) -> String {
    labels::first_name(learner).to_string()
}

#[derive(Template)]
#[template(path = "tutor_upload.html")]
struct UploadPage {
    chrome: Chrome,
    csrf: String,
    purposes: Vec<(&'static str, &'static str)>,
}

async fn upload_page(session: Session) -> Result<Response, PageError> {
    require(&session, app::photos::UPLOADERS)?;
    let mut chrome = Chrome::new("Upload photos", &session);
    chrome.script = true;
    let purposes = Purpose::ALL.iter().map(|p| (p.as_str(), words::purpose_words(*p))).collect();
    Ok(render(StatusCode::OK, &UploadPage { chrome, csrf: session.csrf.clone(), purposes }))
}

/// `POST /tutor/learners` body: what the tutor typed in the picker. A POST, so that the names
/// typed never appear in an address or a log line.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PickQuery {
    /// Part of a name.
    pub q: String,
}

/// One learner in the picker.
#[derive(Debug, serde::Serialize)]
pub struct Pick {
    /// Learner id.
    pub id: String,
    /// The name they go by, as much of the family name as tells them apart from the others
    /// listed, and their groups (see `labels`).
    pub label: String,
}

/// The learner picker: at most 20 learners matching every word typed, no two labelled alike.
async fn pick_learners(
    State(state): State<HttpState>,
    caller: Actor,
    JsonBody(query): JsonBody<PickQuery>,
) -> Result<Json<Vec<Pick>>, ApiError> {
    let found = app::learners::pick(&state.app, &caller, query.q).await?;
    let shown = labels::distinct_labels(&found.iter().collect::<Vec<_>>(), true);
    Ok(Json(found.iter().zip(shown).map(|(l, label)| Pick { id: l.id.clone(), label }).collect()))
}

#[derive(Template)]
#[template(path = "photo_card.html")]
struct PhotoCard {
    id: String,
    caption: String,
    uploaded: String,
    pictured: String,
    lines: Vec<Line>,
    /// The texts that name a learner in full ("caption and alt text"), when any does.
    named_in: Option<String>,
    /// Whether `named_in` is more than one text (for the verb's number).
    named_in_several: bool,
    /// The caption with first names only, when the caption is one of them.
    suggested_caption: Option<String>,
    csrf: String,
    /// Whether the card offers a delete (never published, image kept).
    can_delete: bool,
}

/// A text's name as the tutor knows it from the upload form.
fn field_words(field: &str) -> &'static str {
    match field {
        "caption" => "caption",
        "alt_text" => "alt text",
        "title" => "title",
        _ => "tags",
    }
}

fn date_time(ms: i64) -> String {
    let format = time::macros::format_description!("[day] [month repr:short] [year], [hour]:[minute] UTC");
    time_of_ms(ms).format(&format).unwrap_or_default()
}

/// A photo's card: what it shows, who is in it, and its status in words.
async fn card(state: &HttpState, session: &Session, photo: &PhotoRecord) -> Result<PhotoCard, PageError> {
    let mut ids: Vec<String> = photo.learner_ids.clone();
    ids.extend(photo.status.values().flat_map(|s| s.learners.iter().map(|l| l.learner_id.clone())));
    let learners = app::learners::pictured(&state.app, &session.caller, ids).await?;
    let name_of = |id: &str| learners.get(id).map_or_else(|| "a learner".to_string(), first_name);
    let tagged: Vec<&LearnerRecord> = photo.learner_ids.iter().filter_map(|id| learners.get(id)).collect();
    let pictured = labels::distinct_labels(&tagged, false);
    // The same name check the API shows (every text, and names split across tags), said in the
    // tutor's words: which texts name someone, so the prompt sends them to the right place.
    let check = app::photos::name_check(photo, &*state.app.name_index().await?);
    let mut named: Vec<String> = Vec::new();
    for found in &check.matches {
        let words = field_words(&found.field).to_string();
        if !named.contains(&words) {
            named.push(words);
        }
    }
    let suggested_caption = check
        .suggested_redaction
        .filter(|_| check.matches.iter().any(|m| m.field == "caption"))
        .map(|redaction| redaction.caption);
    let (today, zone) = (time::OffsetDateTime::now_utc(), state.app.settings.rules.zone);
    let is_minor = |id: &str| learners.get(id).is_none_or(|l| words::is_minor(l.date_of_birth.as_deref(), today, zone));
    Ok(PhotoCard {
        id: photo.id.clone(),
        caption: photo.caption.clone(),
        uploaded: date_time(photo.created_at),
        pictured: words::and_list(&pictured),
        lines: words::describe(&photo.status, &name_of, &is_minor),
        named_in_several: named.len() > 1,
        named_in: (!named.is_empty()).then(|| words::and_list(&named)),
        suggested_caption,
        csrf: session.csrf.clone(),
        can_delete: super::photo_edit::deletable(photo),
    })
}

#[derive(Template)]
#[template(path = "tutor_photos.html")]
struct PhotosPage {
    chrome: Chrome,
    cards: Vec<String>,
}

async fn my_photos(
    State(state): State<HttpState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    require(&session, app::photos::UPLOADERS)?;
    // Statuses shown must be true now (an expiry, a birthday), not as of the last sweep.
    let photos = app::photos::uploaded_by_me(&state.app, &session.caller, 100).await?;
    let mut cards = Vec::with_capacity(photos.len());
    for photo in &photos {
        cards.push(card(&state, &session, photo).await?.render().map_err(ApiError::internal)?);
    }
    let chrome = Chrome::new("My photos", &session).with_notice(notice_text(notice.done.as_deref()));
    Ok(render(StatusCode::OK, &PhotosPage { chrome, cards }))
}

/// One photo's card as an HTML fragment, for the upload page's script to show after an upload.
async fn photo_status(
    State(state): State<HttpState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    require(&session, app::photos::UPLOADERS)?;
    let photo = app::photos::show(&state.app, &session.caller, &id).await?.photo;
    Ok(render(StatusCode::OK, &card(&state, &session, &photo).await?))
}

async fn accept_redaction(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::photos::UPLOADERS)?;
    let shown = app::photos::edit(&state.app, &form.session.caller, &id, PhotoEdit::accept_redaction()).await?;
    Ok(done(&format!("/tutor/photos#photo-{}", shown.photo.id), "redaction_accepted").into_response())
}
