//! A photo's details changed or the photo deleted after it was uploaded, by its tutor or a
//! safeguarding lead: the upload form again with the photo's caption, alt text, title, tags,
//! learners, "everyone pictured is tagged" and purposes, and a delete that asks first. Without
//! these a photo held for a missing tick or a wrong tag would be stuck for good.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::frame::{done, render, require, Chrome, Fields, PageError, PageForm};
use super::{labels, words};
use crate::app::photos::PhotoEdit;
use crate::app::{self, Actor};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::{Purpose, State as ItemState};
use crate::store::{LearnerRecord, PhotoRecord, Role};

pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/tutor/photos/{id}/edit", get(edit_page).post(save))
        .route("/tutor/photos/{id}/delete", get(delete_page).post(delete))
}

/// Whether a photo may still be deleted: nothing of it was claimed or published, and its image is
/// there (a deleted image's row is the fingerprint that keeps the picture out). The store checks
/// again when it deletes.
pub fn deletable(photo: &PhotoRecord) -> bool {
    photo.image_deleted_at.is_none()
        && photo.status.values().all(|status| matches!(status.state, ItemState::Held | ItemState::Queued))
}

/// Where someone goes after saving or deleting: the tutor to their photos, a safeguarding lead
/// back to the photos on hold.
fn back_to(caller: &Actor, photo_id: Option<&str>) -> String {
    match (caller.is(Role::Admin), photo_id) {
        (true, _) => "/admin/held".to_string(),
        (false, Some(id)) => format!("/tutor/photos#photo-{id}"),
        (false, None) => "/tutor/photos".to_string(),
    }
}

/// A learner tagged on the form: their id and the label the picker would show.
struct Tagged {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "photo_edit.html")]
struct EditPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    /// Whether the image can be shown beside the form.
    has_image: bool,
    caption: String,
    alt_text: String,
    title: String,
    /// The tags joined by commas, as typed in one field.
    tags: String,
    tagged: Vec<Tagged>,
    all_tagged: bool,
    /// Every purpose with its words and whether it is ticked.
    purposes: Vec<(&'static str, &'static str, bool)>,
    /// What was wrong with the form sent, in the API's words.
    error: Option<String>,
    /// The photo's status in words, so the tutor sees what is holding it.
    lines: Vec<words::Line>,
    back: String,
    can_delete: bool,
}

/// The form's values: the photo's, or what was posted when it comes back with an error.
#[derive(Clone)]
struct Values {
    caption: String,
    alt_text: String,
    title: String,
    tags: Vec<String>,
    learner_ids: Vec<String>,
    all_tagged: bool,
    purposes: Vec<Purpose>,
}

impl Values {
    fn of(photo: &PhotoRecord) -> Values {
        Values {
            caption: photo.caption.clone(),
            alt_text: photo.alt_text.clone(),
            title: photo.title.clone(),
            tags: photo.tags.clone(),
            learner_ids: photo.learner_ids.clone(),
            all_tagged: photo.all_tagged,
            purposes: photo.purposes.clone(),
        }
    }

    /// What the form posted. An unknown purpose is a form no page of ours sends: refused.
    fn posted(fields: &Fields) -> Result<Values, ApiError> {
        let purposes = fields
            .all("purposes")
            .into_iter()
            .map(|p| p.parse::<Purpose>().map_err(ApiError::bad_form))
            .collect::<Result<Vec<_>, _>>()?;
        // Too many tags or learners is the use case's to refuse: the form then comes back with
        // what was typed (the form's size bounds the lists).
        let mut learner_ids: Vec<String> = fields.all("learner_ids").into_iter().map(str::to_owned).collect();
        learner_ids.dedup();
        let tags: Vec<String> =
            fields.text("tags").split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
        Ok(Values {
            caption: fields.get("caption").unwrap_or_default().to_string(),
            alt_text: fields.get("alt_text").unwrap_or_default().to_string(),
            title: fields.get("title").unwrap_or_default().to_string(),
            tags,
            learner_ids,
            all_tagged: fields.get("all_tagged").is_some(),
            purposes,
        })
    }

    /// The edit that makes `photo` look like these values: only what differs, so the audit names
    /// the fields really changed. `None` when nothing does.
    fn edit_of(self, photo: &PhotoRecord) -> Option<PhotoEdit> {
        let differs = |old: &str, new: String| (old != new).then_some(new);
        let mut ids = self.learner_ids;
        ids.sort();
        ids.dedup();
        let mut purposes = self.purposes;
        purposes.sort();
        purposes.dedup();
        let edit = PhotoEdit {
            caption: differs(&photo.caption, self.caption),
            alt_text: differs(&photo.alt_text, self.alt_text),
            title: differs(&photo.title, self.title),
            tags: (photo.tags != self.tags).then_some(self.tags),
            learner_ids: (photo.learner_ids != ids).then_some(ids),
            all_tagged: (photo.all_tagged != self.all_tagged).then_some(self.all_tagged),
            purposes: (photo.purposes != purposes).then_some(purposes),
            accept_redaction: false,
        };
        let unchanged = edit.caption.is_none()
            && edit.alt_text.is_none()
            && edit.title.is_none()
            && edit.tags.is_none()
            && edit.learner_ids.is_none()
            && edit.all_tagged.is_none()
            && edit.purposes.is_none();
        (!unchanged).then_some(edit)
    }
}

async fn form_page(
    state: &HttpState,
    session: &Session,
    photo: &PhotoRecord,
    values: Values,
    error: Option<String>,
) -> Result<EditPage, PageError> {
    let caller = &session.caller;
    let mut ids = values.learner_ids.clone();
    ids.extend(photo.status.values().flat_map(|s| s.learners.iter().map(|l| l.learner_id.clone())));
    let learners = app::learners::pictured(&state.app, caller, ids).await?;
    // Ids not on record (a learner erased since) are not offered again.
    let found: Vec<&LearnerRecord> = values.learner_ids.iter().filter_map(|id| learners.get(id)).collect();
    let tagged = found
        .iter()
        .zip(labels::distinct_labels(&found, true))
        .map(|(learner, label)| Tagged { id: learner.id.clone(), label })
        .collect();
    let name_of =
        |id: &str| learners.get(id).map_or_else(|| "a learner".to_string(), |l| labels::first_name(l).to_string());
    let (today, zone) = (time::OffsetDateTime::now_utc(), state.app.settings.rules.zone);
    let is_minor = |id: &str| learners.get(id).is_none_or(|l| words::is_minor(l.date_of_birth.as_deref(), today, zone));
    let mut chrome = Chrome::new("Change a photo's details", session);
    chrome.script = true;
    Ok(EditPage {
        chrome,
        csrf: session.csrf.clone(),
        id: photo.id.clone(),
        has_image: photo.image_deleted_at.is_none(),
        caption: values.caption,
        alt_text: values.alt_text,
        title: values.title,
        tags: values.tags.join(", "),
        tagged,
        all_tagged: values.all_tagged,
        purposes: Purpose::ALL
            .iter()
            .map(|p| (p.as_str(), words::purpose_words(*p), values.purposes.contains(p)))
            .collect(),
        error,
        lines: words::describe(&photo.status, &name_of, &is_minor),
        back: back_to(caller, Some(&photo.id)),
        can_delete: deletable(photo),
    })
}

async fn edit_page(
    State(state): State<HttpState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    require(&session, app::photos::UPLOADERS)?;
    let photo = app::photos::show(&state.app, &session.caller, &id).await?.photo;
    let page = form_page(&state, &session, &photo, Values::of(&photo), None).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn save(State(state): State<HttpState>, Path(id): Path<String>, form: PageForm) -> Result<Response, PageError> {
    let session = &form.session;
    require(session, app::photos::UPLOADERS)?;
    let photo = app::photos::visible(&state.app, &session.caller, &id).await?;
    let values = Values::posted(&form.fields)?;
    let keep = values.clone();
    let Some(edit) = values.edit_of(&photo) else {
        return Ok(done(&back_to(&session.caller, Some(&photo.id)), "photo_unchanged"));
    };
    match app::photos::edit(&state.app, &session.caller, &photo.id, edit).await {
        Ok(shown) => Ok(done(&back_to(&session.caller, Some(&shown.photo.id)), "photo_saved")),
        // The form comes back with what was typed and what was wrong, never lost.
        Err(e) => {
            let error = ApiError::from(e);
            if error.status.is_server_error() || error.status == StatusCode::NOT_FOUND {
                return Err(PageError(error));
            }
            let page = form_page(&state, session, &photo, keep, Some(error.message)).await?;
            Ok(render(error.status, &page))
        }
    }
}

#[derive(Template)]
#[template(path = "photo_delete.html")]
struct DeletePage {
    chrome: Chrome,
    csrf: String,
    id: String,
    caption: String,
    has_image: bool,
    back: String,
    /// Whether it may still be deleted as far as its status shows (the store checks again).
    can_delete: bool,
}

async fn delete_page(
    State(state): State<HttpState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    require(&session, app::photos::UPLOADERS)?;
    let photo = app::photos::visible(&state.app, &session.caller, &id).await?;
    let page = DeletePage {
        chrome: Chrome::new("Delete a photo", &session),
        csrf: session.csrf.clone(),
        caption: photo.caption.clone(),
        has_image: photo.image_deleted_at.is_none(),
        back: back_to(&session.caller, Some(&photo.id)),
        can_delete: deletable(&photo),
        id: photo.id,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn delete(State(state): State<HttpState>, Path(id): Path<String>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::photos::UPLOADERS)?;
    app::photos::delete(&state.app, &form.session.caller, &id).await?;
    Ok(done(&back_to(&form.session.caller, None), "photo_deleted").into_response())
}
