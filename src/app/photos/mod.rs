//! Photos: an upload scrubbed, fingerprinted and stored with its status; edits; a photo shown with
//! its status brought up to date and its name check; and access to the image itself.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use serde::Serialize;

use super::{input, Actor, App, AppError};
use crate::media::{self, ContentHash};
use crate::objects::Objects;
use crate::policy::names::NameIndex;
use crate::policy::{self, Purpose};
use crate::store::{now_ms, AuditAction, AuditDraft, PhotoDeletion, PhotoRecord, Role, StoreError};

mod access;
mod image;
pub use access::{visible, IMAGE_READERS, REVIEWERS, THUMB_VIEWERS, UPLOADERS};
pub use image::{image, Image, Rendition};

/// Most tags on one photo.
pub const MAX_TAGS: usize = 30;
/// Longest accepted caption, alt text or title, in characters.
pub const MAX_TEXT: usize = 2_000;
/// Longest accepted tag, in characters.
pub const MAX_TAG: usize = 200;
/// Most learners named on one photo: a class photo fits; the ids are checked in one query.
pub const MAX_LEARNERS: usize = 100;

/// Refuses a photo with more than [`MAX_TAGS`] tags. The HTTP adapter calls it as each tag of a
/// form arrives, so a form of millions of tags is refused at the 31st, not after it was read.
pub fn check_tag_count(count: usize) -> Result<(), AppError> {
    if count > MAX_TAGS {
        return Err(AppError::invalid_field("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(())
}

/// Refuses a photo naming more than [`MAX_LEARNERS`] learners, before any id is looked up; called
/// as ids arrive like [`check_tag_count`].
pub fn check_learner_count(count: usize) -> Result<(), AppError> {
    if count > MAX_LEARNERS {
        return Err(AppError::invalid_field("learner_ids", format!("at most {MAX_LEARNERS} learners on one photo")));
    }
    Ok(())
}

/// An upload as the tutor sent it: the file and the form's fields, before any check.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// The file's bytes as received.
    pub file: Bytes,
    /// Caption for publication.
    pub caption: String,
    /// Alt text for publication.
    pub alt_text: String,
    /// Title for publication.
    pub title: String,
    /// Tags, in the tutor's order.
    pub tags: Vec<String>,
    /// Ids of the learners pictured, as sent.
    pub learner_ids: Vec<String>,
    /// Everyone pictured is tagged.
    pub all_tagged: bool,
    /// Purposes asked for.
    pub purposes: Vec<Purpose>,
}

/// The form of an upload once checked: texts bounded, tags without repeats, ids canonical,
/// purposes sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CheckedForm {
    caption: String,
    alt_text: String,
    title: String,
    tags: Vec<String>,
    learner_ids: Vec<String>,
    all_tagged: bool,
    purposes: Vec<Purpose>,
}

/// Ids as sent, parsed to their canonical form: something that cannot be one of our ids names no
/// learner on record.
fn learner_ids(raw: Vec<String>) -> Result<Vec<String>, AppError> {
    check_learner_count(raw.len())?;
    let mut ids = Vec::with_capacity(raw.len());
    let mut bad = Vec::new();
    for id in raw {
        match input::body_id(&id) {
            Some(id) => ids.push(id),
            None => bad.push(id),
        }
    }
    if !bad.is_empty() {
        return Err(AppError::unknown_learners(&bad));
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn purposes(mut purposes: Vec<Purpose>) -> Result<Vec<Purpose>, AppError> {
    purposes.sort();
    purposes.dedup();
    if purposes.is_empty() {
        return Err(AppError::invalid_field(
            "purposes",
            "ask for at least one purpose: website, social_media, print or internal",
        ));
    }
    Ok(purposes)
}

/// Tags trimmed and bounded, empty ones dropped, every repeat dropped (not only adjacent ones),
/// the tutor's order kept.
fn tags(tags: Vec<String>) -> Result<Vec<String>, AppError> {
    check_tag_count(tags.len())?;
    let mut seen = HashSet::new();
    let mut clean = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = input::free_text("tags", tag.trim().to_string(), MAX_TAG)?;
        if !tag.is_empty() && seen.insert(tag.clone()) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

impl Upload {
    fn check(&mut self) -> Result<CheckedForm, AppError> {
        Ok(CheckedForm {
            caption: input::free_text("caption", std::mem::take(&mut self.caption), MAX_TEXT)?,
            alt_text: input::free_text("alt_text", std::mem::take(&mut self.alt_text), MAX_TEXT)?,
            title: input::free_text("title", std::mem::take(&mut self.title), MAX_TEXT)?,
            tags: tags(std::mem::take(&mut self.tags))?,
            // A form field is text first: control characters in it are a malformed form, before
            // any of it is read as ids. Counted before that, so a long list costs nothing more.
            learner_ids: learner_ids({
                check_learner_count(self.learner_ids.len())?;
                std::mem::take(&mut self.learner_ids)
                    .into_iter()
                    .map(|id| input::free_text("learner_ids", id, MAX_TEXT))
                    .collect::<Result<_, _>>()?
            })?,
            all_tagged: self.all_tagged,
            purposes: purposes(std::mem::take(&mut self.purposes))?,
        })
    }
}

/// What the name check found in a photo's texts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NameCheck {
    /// Each full name found: which field, the byte span, whose name.
    pub matches: Vec<NameFound>,
    /// The texts with every full name cut to the first name, when something was found.
    pub suggested_redaction: Option<SuggestedRedaction>,
}

/// One full name found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NameFound {
    /// `caption`, `alt_text`, `title`, `tags[i]`, or `tags` for a name split across tags (offsets
    /// then in the tags joined by single spaces).
    pub field: String,
    /// Byte offset where the name starts.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// Whose name it is.
    pub learner_id: String,
}

/// The texts with first names only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuggestedRedaction {
    /// Caption.
    pub caption: String,
    /// Alt text.
    pub alt_text: String,
    /// Title.
    pub title: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// The name check of every text that leaves with the photo.
pub fn name_check(photo: &PhotoRecord, names: &NameIndex) -> NameCheck {
    check_texts(&photo.caption, &photo.alt_text, &photo.title, &photo.tags, names)
}

/// The name check of a caption, alt text, title and tags, wherever they come from.
fn check_texts(caption: &str, alt_text: &str, title: &str, tags: &[String], names: &NameIndex) -> NameCheck {
    let mut matches = Vec::new();
    let fields = [("caption".to_string(), caption), ("alt_text".to_string(), alt_text), ("title".to_string(), title)];
    let tag_fields = tags.iter().enumerate().map(|(i, t)| (format!("tags[{i}]"), t.as_str()));
    for (field, text) in fields.into_iter().chain(tag_fields) {
        for m in names.find(text) {
            matches.push(NameFound { field: field.clone(), start: m.start, end: m.end, learner_id: m.learner_id });
        }
    }
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    for m in names.find_across(&tags) {
        matches.push(NameFound { field: "tags".into(), start: m.start, end: m.end, learner_id: m.learner_id });
    }
    let suggested_redaction = (!matches.is_empty()).then(|| SuggestedRedaction {
        caption: names.redact(caption),
        alt_text: names.redact(alt_text),
        title: names.redact(title),
        tags: names.redact_tags(&tags),
    });
    NameCheck { matches, suggested_redaction }
}

/// Texts typed for a photo, checked before they are stored (`POST /api/v1/name-check`, and the
/// upload form as the tutor types).
#[derive(Debug, Clone, Default)]
pub struct DraftTexts {
    /// Caption.
    pub caption: String,
    /// Alt text.
    pub alt_text: String,
    /// Title.
    pub title: String,
    /// Tags, in the tutor's order.
    pub tags: Vec<String>,
}

/// The name check of texts not stored yet: the same check, and the same limits on the texts, as
/// an upload's, with nothing stored or audited (nothing happened to anyone's data). Tutors and
/// safeguarding leads, who write the texts.
pub async fn check_draft(app: &App, actor: &Actor, draft: DraftTexts) -> Result<NameCheck, AppError> {
    actor.require(UPLOADERS)?;
    let caption = input::free_text("caption", draft.caption, MAX_TEXT)?;
    let alt_text = input::free_text("alt_text", draft.alt_text, MAX_TEXT)?;
    let title = input::free_text("title", draft.title, MAX_TEXT)?;
    let tags = tags(draft.tags)?;
    let names = app.name_index().await?;
    Ok(check_texts(&caption, &alt_text, &title, &tags, &names))
}

/// A photo as shown to the tutor or admin: its record with statuses current, and its name check.
#[derive(Debug, Clone)]
pub struct ShownPhoto {
    /// The photo.
    pub photo: PhotoRecord,
    /// Full names found in its texts.
    pub name_check: NameCheck,
}

impl ShownPhoto {
    fn of(photo: PhotoRecord, names: &NameIndex) -> ShownPhoto {
        ShownPhoto { name_check: name_check(&photo, names), photo }
    }
}

/// What an upload did.
#[derive(Debug, Clone)]
pub enum Uploaded {
    /// Stored now, every purpose evaluated.
    Created(ShownPhoto),
    /// The same bytes and the same form were stored before by this caller (a phone retrying
    /// after a lost answer): that photo, unchanged.
    Existing(ShownPhoto),
}

/// Records a refused upload: counted in `consentgate_upload_rejections_total` under `code`, and,
/// when the caller is known, audited under their token. Anyone can send refused uploads as fast as
/// they like; with no actor to name, an audit row would only let them flood the log.
pub async fn record_rejection(app: &App, actor: Option<&Actor>, code: &'static str) {
    metrics::counter!("consentgate_upload_rejections_total", "reason" => code).increment(1);
    let Some(actor) = actor else { return };
    let audit = AuditDraft::new(&actor.token_id, AuditAction::UploadRejected, "-", serde_json::json!({ "code": code }));
    if let Err(e) = app.store.append_audit(audit).await {
        tracing::error!(error = %e, "cannot audit a rejected upload");
    }
}

/// What to answer when the same original bytes were stored before.
///
/// A phone that retries after a lost response sends the same form again: it gets the photo it
/// already made. The same bytes with a different form would otherwise silently drop the new
/// caption, tags or purposes, so that is a conflict pointing at the photo to edit. Another tutor's
/// photo is not shown to a tutor, only that it exists (its details are the other tutor's).
fn answer_for_existing(
    existing: PhotoRecord,
    form: &CheckedForm,
    actor: &Actor,
    names: &NameIndex,
) -> Result<Uploaded, AppError> {
    let same_form = existing.caption == form.caption
        && existing.alt_text == form.alt_text
        && existing.title == form.title
        && existing.tags == form.tags
        && existing.all_tagged == form.all_tagged
        && existing.learner_ids == form.learner_ids
        && existing.purposes == form.purposes;
    if !(actor.is(Role::Admin) || existing.uploaded_by == actor.token_id) {
        return Err(AppError::conflict(
            "duplicate_upload",
            "this photo has already been uploaded by someone else; ask a safeguarding lead if it needs changes",
        ));
    }
    if !same_form {
        return Err(AppError::Conflict {
            code: "duplicate_upload",
            message: "this photo was uploaded before with other details: to change them, edit that photo instead of \
                      uploading it again"
                .to_string(),
            detail: Some(serde_json::json!({ "photo_id": existing.id, "edit": edit_page(&existing.id) })),
        });
    }
    Ok(Uploaded::Existing(ShownPhoto::of(existing, names)))
}

/// Scrubs, fingerprints and stores an upload by a tutor or admin. The image is decoded off the
/// async runtime, a bounded number at a time; the object is written before its row, so a crash
/// in between leaves an orphan for the sweep, never a row without its image.
pub async fn upload(app: &App, actor: &Actor, mut upload: Upload) -> Result<Uploaded, AppError> {
    actor.require(UPLOADERS)?;
    let form = upload.check()?;
    let limits = app.settings.limits;
    let original_blake3 = ContentHash::of(&upload.file).to_string();
    if let Some(existing) = app.store.photo_by_original(&original_blake3).await? {
        return answer_for_existing(existing, &form, actor, &*app.name_index().await?);
    }
    let unknown = app.store.unknown_learners(&form.learner_ids).await?;
    if !unknown.is_empty() {
        return Err(AppError::unknown_learners(&unknown));
    }

    // Memory is set by pixels, not bytes (a 389 KB PNG can hold 100 MP): reserve the header's
    // estimate before decoding. A header that cannot be read reserves for the largest picture
    // allowed; the scrub then says what is wrong with it.
    let estimate = media::dimensions(&upload.file)
        .map_or(media::limits::decode_cost(media::Format::Png, limits.max_pixels, 1), |(format, width, height)| {
            media::limits::decode_cost(format, width.into(), height.into())
        });
    let memory = app.reserve_memory(estimate).await?;
    // Scrubbing is CPU-bound: run it off the async runtime, a bounded number at a time.
    let permit = app.scrub_permits.clone().acquire_owned().await.map_err(AppError::internal)?;
    let file = std::mem::take(&mut upload.file);
    let started = Instant::now();
    let processed = tokio::task::spawn_blocking(move || {
        let _permits = (permit, memory);
        media::process(&file, &limits)
    })
    .await
    .map_err(AppError::internal)?;
    // Recorded for failed scrubs too: a bomb or a corrupt file costs time as well, and leaving
    // them out would hide exactly the slow cases.
    metrics::histogram!("consentgate_scrub_seconds").record(started.elapsed().as_secs_f64());
    let processed = processed?;

    let scrubbed = &processed.scrubbed;
    let (width, height) = scrubbed.display_dimensions();
    let blake3 = processed.fingerprint.blake3.to_string();
    let id = uuid::Uuid::now_v7().to_string();
    // Keyed by the photo, not its content: twins never share an object (see `Objects::photo_key`).
    let object_key = Objects::photo_key(&id, scrubbed.format.extension());
    let mut photo = PhotoRecord {
        id,
        object_key: object_key.clone(),
        format: scrubbed.format.name().to_string(),
        width: i64::from(width),
        height: i64::from(height),
        byte_size: scrubbed.bytes.len() as i64,
        blake3,
        original_blake3,
        phash: processed.fingerprint.phash.to_string(),
        removed: serde_json::to_string(&scrubbed.removed).map_err(AppError::internal)?,
        caption: form.caption.clone(),
        alt_text: form.alt_text.clone(),
        title: form.title.clone(),
        tags: form.tags.clone(),
        all_tagged: form.all_tagged,
        uploaded_by: actor.token_id.clone(),
        created_at: now_ms(),
        learner_ids: form.learner_ids.clone(),
        purposes: form.purposes.clone(),
        status: BTreeMap::new(),
        resembles: lookalikes_of_refusals(app, &processed.fingerprint.phash).await?,
        image_deleted_at: None,
    };

    // Object first, then the row: a crash in between leaves an orphan object for the sweep, never
    // a row without its image. The object is this photo's alone, so a failed insert deletes it.
    app.objects.put(&object_key, Bytes::from(processed.scrubbed.bytes)).await?;
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::PhotoUploaded,
        &photo.id,
        serde_json::json!({ "blake3": photo.blake3, "format": photo.format, "removed": processed.scrubbed.removed }),
    );
    let eval = app.evaluation(&actor.token_id).await?;
    let names = eval.names.clone();
    let inserted = app.store.insert_photo(&photo, audit, eval).await;
    if inserted.is_err() {
        if let Err(e) = app.objects.delete(&object_key).await {
            tracing::error!(error = %e, "cannot delete the object of a failed upload; the sweep will");
        }
    }
    match inserted {
        Ok(status) => photo.status = status,
        Err(StoreError::Conflict(_)) => {
            // The same original arrived twice at once; the other upload won.
            let existing = app
                .store
                .photo_by_original(&photo.original_blake3)
                .await?
                .ok_or_else(|| AppError::internal("a conflicting photo vanished"))?;
            return answer_for_existing(existing, &form, actor, &*app.name_index().await?);
        }
        Err(e) => return Err(e.into()),
    }
    metrics::counter!("consentgate_uploads_total").increment(1);
    tracing::info!(photo = %photo.id, format = %photo.format, bytes = photo.byte_size, "photo stored");
    Ok(Uploaded::Created(ShownPhoto::of(photo, &names)))
}

/// The learners who said no (withdrew or refused) to a photo that this one resembles, each with
/// one such photo: an upload of a re-encoded, resized or cropped-a-little copy is held for them
/// even when the tutor does not tag them. The scan is over photos of learners with a "no" on
/// record only, compared 256 bits at a time.
async fn lookalikes_of_refusals(app: &App, phash: &media::PerceptualHash) -> Result<Vec<(String, String)>, AppError> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for (photo_id, hash, learner_id) in app.store.photos_of_learners_who_said_no().await? {
        let Ok(hash) = hash.parse::<media::PerceptualHash>() else { continue };
        if phash.matches(&hash) {
            found.entry(learner_id).or_insert(photo_id);
        }
    }
    Ok(found.into_iter().collect())
}

/// A photo the actor may see, with its statuses brought up to now (time may have passed since the
/// last maintenance pass: an expiry, a birthday) and its name check.
pub async fn show(app: &App, actor: &Actor, id: &str) -> Result<ShownPhoto, AppError> {
    let photo = visible(app, actor, id).await?;
    let eval = app.evaluation("system").await?;
    let names = eval.names.clone();
    let changes = app.store.reevaluate(std::slice::from_ref(&photo.id), eval).await?;
    let photo = if changes.is_empty() {
        photo
    } else {
        app.store.photo(&photo.id).await?.ok_or(AppError::NotFound("photo"))?
    };
    Ok(ShownPhoto::of(photo, &names))
}

/// The photos the actor uploaded, newest first, at most `limit`, with statuses true now.
pub async fn uploaded_by_me(app: &App, actor: &Actor, limit: i64) -> Result<Vec<PhotoRecord>, AppError> {
    actor.require(UPLOADERS)?;
    let photos = app.store.photos_uploaded_by(&actor.token_id, limit).await?;
    let ids: Vec<String> = photos.iter().map(|p| p.id.clone()).collect();
    let changed = !app.store.reevaluate(&ids, app.evaluation("system").await?).await?.is_empty();
    Ok(if changed { app.store.photos_uploaded_by(&actor.token_id, limit).await? } else { photos })
}

/// An edit of a photo: only the fields that are `Some` change.
#[derive(Debug, Clone, Default)]
pub struct PhotoEdit {
    /// New caption.
    pub caption: Option<String>,
    /// New alt text.
    pub alt_text: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New tags (replaces the list).
    pub tags: Option<Vec<String>>,
    /// The learners pictured (replaces the list).
    pub learner_ids: Option<Vec<String>>,
    /// Everyone pictured is tagged.
    pub all_tagged: Option<bool>,
    /// Purposes asked for (replaces the list).
    pub purposes: Option<Vec<Purpose>>,
    /// Replace the texts with the suggested redaction (first names only).
    pub accept_redaction: bool,
}

impl PhotoEdit {
    /// The edit that accepts the suggested redaction and nothing else.
    pub fn accept_redaction() -> PhotoEdit {
        PhotoEdit { accept_redaction: true, ..PhotoEdit::default() }
    }
}

/// Edits a photo's texts, learners, `all_tagged` or purposes; the status is re-evaluated in the
/// same transaction. A purpose marketing has claimed or published cannot be dropped: where it
/// went matters.
pub async fn edit(app: &App, actor: &Actor, id: &str, edit: PhotoEdit) -> Result<ShownPhoto, AppError> {
    let mut photo = visible(app, actor, id).await?;
    let mut changed = Vec::new();
    let names = app.name_index().await?;
    if edit.accept_redaction {
        if edit.caption.is_some() || edit.alt_text.is_some() || edit.title.is_some() || edit.tags.is_some() {
            return Err(AppError::invalid("send either accept_redaction or new texts, not both"));
        }
        let Some(redaction) = name_check(&photo, &names).suggested_redaction else {
            return Err(AppError::invalid("there is no redaction to accept: no full name is in the texts"));
        };
        photo.caption = redaction.caption;
        photo.alt_text = redaction.alt_text;
        photo.title = redaction.title;
        photo.tags = redaction.tags;
        changed.push("redaction_accepted");
    }
    if let Some(caption) = edit.caption {
        photo.caption = input::free_text("caption", caption, MAX_TEXT)?;
        changed.push("caption");
    }
    if let Some(alt_text) = edit.alt_text {
        photo.alt_text = input::free_text("alt_text", alt_text, MAX_TEXT)?;
        changed.push("alt_text");
    }
    if let Some(title) = edit.title {
        photo.title = input::free_text("title", title, MAX_TEXT)?;
        changed.push("title");
    }
    if let Some(new_tags) = edit.tags {
        photo.tags = tags(new_tags)?;
        changed.push("tags");
    }
    if let Some(ids) = edit.learner_ids {
        let parsed = learner_ids(ids)?;
        let unknown = app.store.unknown_learners(&parsed).await?;
        if !unknown.is_empty() {
            return Err(AppError::unknown_learners(&unknown));
        }
        photo.learner_ids = parsed;
        changed.push("learner_ids");
    }
    if let Some(all_tagged) = edit.all_tagged {
        photo.all_tagged = all_tagged;
        changed.push("all_tagged");
    }
    if let Some(new_purposes) = edit.purposes {
        let new_purposes = purposes(new_purposes)?;
        let taken: Vec<&str> = photo
            .status
            .iter()
            .filter(|(p, st)| {
                !new_purposes.contains(p) && !matches!(st.state, policy::State::Held | policy::State::Queued)
            })
            .map(|(p, _)| p.as_str())
            .collect();
        if !taken.is_empty() {
            return Err(AppError::conflict(
                "purpose_in_use",
                format!("{} cannot be removed: marketing has already taken it", taken.join(", ")),
            ));
        }
        photo.purposes = new_purposes;
        changed.push("purposes");
    }
    if changed.is_empty() {
        return Err(AppError::invalid("the patch changes nothing"));
    }
    // The audit names the fields changed, never the caption's words (they may hold a name).
    let audit =
        AuditDraft::new(&actor.token_id, AuditAction::PhotoEdited, &photo.id, serde_json::json!({ "fields": changed }));
    if !app.store.update_photo(&photo, audit, app.evaluation(&actor.token_id).await?).await? {
        return Err(AppError::NotFound("photo"));
    }
    let photo = app.store.photo(&photo.id).await?.ok_or(AppError::NotFound("photo"))?;
    Ok(ShownPhoto::of(photo, &names))
}

/// The page where a photo's details are changed, for tutors and safeguarding leads alike.
pub fn edit_page(photo_id: &str) -> String {
    format!("/tutor/photos/{photo_id}/edit")
}

/// Deletes a photo its uploader (or a safeguarding lead) no longer wants, while it was never
/// published: its rows go in one transaction, then its image and renditions. A published photo
/// stays on record (where it went matters for a takedown), as does a photo marketing has claimed,
/// one whose image a "no" deleted (its fingerprint blocks the picture coming back), and one
/// another upload was held for resembling. The audit row names the photo and how many learners it
/// pictured, never its texts.
pub async fn delete(app: &App, actor: &Actor, id: &str) -> Result<(), AppError> {
    let photo = visible(app, actor, id).await?;
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::PhotoDeleted,
        &photo.id,
        serde_json::json!({ "learners": photo.learner_ids.len(), "purposes": photo.purposes }),
    );
    let refused = |code: &'static str, why: &str| Err(AppError::conflict(code, why.to_string()));
    match app.store.delete_photo(&photo.id, audit).await? {
        PhotoDeletion::Deleted(object_key) => {
            tracing::info!(photo = %photo.id, "photo deleted by its uploader or an admin");
            for key in object_key.iter().flat_map(|key| Objects::image_keys(key)) {
                if let Err(e) = app.objects.delete(&key).await {
                    // The row is gone, so the orphan sweep removes the object later.
                    tracing::error!(error = %e, "cannot delete a deleted photo's image; the sweep will retry");
                }
            }
            Ok(())
        }
        PhotoDeletion::Missing => Err(AppError::NotFound("photo")),
        PhotoDeletion::Published => refused(
            "photo_published",
            "this photo has been published, so it stays on record; if it must come down, record a withdrawal",
        ),
        PhotoDeletion::Claimed => refused(
            "photo_claimed",
            "marketing has claimed or downloaded this photo, so it may be published; it stays on record (a withdrawal takes it down)",
        ),
        PhotoDeletion::Retired => refused(
            "photo_retired",
            "this photo's image was already deleted after a \"no\"; its fingerprint stays so it cannot be uploaded again",
        ),
        PhotoDeletion::Evidence => refused(
            "photo_is_evidence",
            "another upload is on hold because it looks like this photo of a learner who said no; it stays on record",
        ),
    }
}

/// Photos with at least one purpose held, newest first, at most `limit`: the safeguarding lead's
/// review list.
pub async fn held(app: &App, actor: &Actor, limit: i64) -> Result<Vec<PhotoRecord>, AppError> {
    actor.require(REVIEWERS)?;
    Ok(app.store.held_photos(limit).await?)
}
