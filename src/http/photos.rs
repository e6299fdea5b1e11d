//! Photos: upload (scrub, fingerprint, store), read, and the scrubbed image.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use serde::Serialize;

use super::{input, ApiError, AppState, Caller};
use crate::media::{self, ContentHash};
use crate::objects::Objects;
use crate::policy::names::NameIndex;
use crate::policy::{self, Purpose, PurposeStatus};
use crate::store::{now_ms, AuditDraft, PhotoRecord, Role, StoreError};

/// The multipart form of an upload (documentation only; the handler streams the parts).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The photo: JPEG, PNG, WebP or HEIC/HEIF.
    #[schema(format = Binary)]
    file: String,
    /// Caption for publication.
    caption: Option<String>,
    /// Alt text for publication.
    alt_text: Option<String>,
    /// Title for publication.
    title: Option<String>,
    /// Tags for publication; repeat the field or separate with commas.
    tags: Option<String>,
    /// Ids of the learners pictured; repeat the field or separate with commas.
    learner_ids: Option<String>,
    /// `true` when everyone pictured is tagged.
    all_tagged: Option<bool>,
    /// Purposes asked for (website, social_media, print, internal); repeat or separate with commas.
    purposes: Option<String>,
}

/// A photo as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PhotoView {
    /// Photo id.
    pub id: String,
    /// Format of the stored image.
    pub format: String,
    /// Displayed width in pixels.
    pub width: i64,
    /// Displayed height in pixels.
    pub height: i64,
    /// Size of the stored image in bytes.
    pub bytes: i64,
    /// blake3 of the stored image (its ETag).
    pub blake3: String,
    /// Perceptual hash.
    pub phash: String,
    /// Caption.
    pub caption: String,
    /// Alt text.
    pub alt_text: String,
    /// Title.
    pub title: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Learners pictured.
    pub learner_ids: Vec<String>,
    /// Everyone pictured is tagged.
    pub all_tagged: bool,
    /// Status per purpose asked for.
    pub status: BTreeMap<Purpose, PurposeStatus>,
    /// What the scrubber removed from the upload.
    #[schema(value_type = Vec<String>)]
    pub removed: serde_json::Value,
    /// Upload time, RFC 3339.
    pub created_at: String,
    /// Full names of learners found in the caption or alt text, and a redaction that keeps first
    /// names only (accept it with `PATCH {"accept_redaction": true}`).
    pub name_check: NameCheckView,
}

/// What the name check found in a photo's texts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NameCheckView {
    /// Each full name found: which field, the byte span, whose name.
    pub matches: Vec<NameFound>,
    /// The texts with every full name cut to the first name, when something was found.
    pub suggested_redaction: Option<SuggestedRedaction>,
}

/// One full name found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
fn name_check(photo: &PhotoRecord, names: &NameIndex) -> NameCheckView {
    let mut matches = Vec::new();
    for (field, text) in photo.texts() {
        for m in names.find(text) {
            matches.push(NameFound { field: field.clone(), start: m.start, end: m.end, learner_id: m.learner_id });
        }
    }
    let tags: Vec<&str> = photo.tags.iter().map(String::as_str).collect();
    for m in names.find_across(&tags) {
        matches.push(NameFound { field: "tags".into(), start: m.start, end: m.end, learner_id: m.learner_id });
    }
    let suggested_redaction = (!matches.is_empty()).then(|| SuggestedRedaction {
        caption: names.redact(&photo.caption),
        alt_text: names.redact(&photo.alt_text),
        title: names.redact(&photo.title),
        tags: names.redact_tags(&tags),
    });
    NameCheckView { matches, suggested_redaction }
}

impl PhotoView {
    fn of(photo: &PhotoRecord, names: &NameIndex) -> PhotoView {
        let created = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(photo.created_at) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        PhotoView {
            id: photo.id.clone(),
            format: photo.format.clone(),
            width: photo.width,
            height: photo.height,
            bytes: photo.byte_size,
            blake3: photo.blake3.clone(),
            phash: photo.phash.clone(),
            caption: photo.caption.clone(),
            alt_text: photo.alt_text.clone(),
            title: photo.title.clone(),
            tags: photo.tags.clone(),
            learner_ids: photo.learner_ids.clone(),
            all_tagged: photo.all_tagged,
            status: photo.status.clone(),
            removed: serde_json::from_str(&photo.removed).unwrap_or_default(),
            created_at: created,
            name_check: name_check(photo, names),
        }
    }
}

/// The parsed form, file included.
struct Form {
    file: Bytes,
    caption: String,
    alt_text: String,
    title: String,
    tags: Vec<String>,
    learner_ids: Vec<String>,
    all_tagged: bool,
    purposes: Vec<Purpose>,
}

/// Most tags on one photo.
const MAX_TAGS: usize = 30;
/// Longest accepted caption, alt text, title or tag list, in characters.
const MAX_TEXT: usize = 2_000;

fn list(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

fn multipart_error(e: axum::extract::multipart::MultipartError, max_bytes: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", format!("the upload exceeds {max_bytes} bytes"))
    } else {
        ApiError::bad_form(format!("the multipart body is malformed: {}", e.body_text()))
    }
}

/// Reads the form, streaming the file with the byte limit applied as it arrives.
async fn read_form(mut multipart: Multipart, max_bytes: u64) -> Result<Form, ApiError> {
    let mut file = None;
    let (mut caption, mut alt_text, mut title, mut all_tagged) = (String::new(), String::new(), String::new(), None);
    let mut tags = Vec::new();
    let (mut learner_ids, mut purposes) = (Vec::new(), Vec::new());
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(e, max_bytes))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if file.is_some() {
                return Err(ApiError::bad_form("send one file per upload"));
            }
            let mut buffer = BytesMut::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max_bytes))? {
                if (buffer.len() + chunk.len()) as u64 > max_bytes {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "file_too_large",
                        format!("the file exceeds {max_bytes} bytes"),
                    ));
                }
                buffer.extend_from_slice(&chunk);
            }
            file = Some(buffer.freeze());
            continue;
        }
        let text = field.text().await.map_err(|e| multipart_error(e, max_bytes))?;
        let text = input::free_text(&name, text, MAX_TEXT)?;
        match name.as_str() {
            "caption" => caption = text,
            "alt_text" => alt_text = text,
            "title" => title = text,
            "tags" => tags.extend(list(&text)),
            "learner_ids" => {
                for raw in list(&text) {
                    // Something that cannot be one of our ids names no learner on record.
                    let id = input::body_id(&raw).ok_or_else(|| unknown_learners(&[raw]))?;
                    learner_ids.push(id);
                }
            }
            "purposes" => {
                for p in list(&text) {
                    purposes.push(p.parse::<Purpose>().map_err(ApiError::bad_form)?);
                }
            }
            "all_tagged" => {
                all_tagged = Some(match text.trim() {
                    "true" | "on" | "1" | "yes" => true,
                    "false" | "off" | "0" | "no" => false,
                    other => {
                        return Err(ApiError::bad_form(format!("all_tagged must be true or false, not {other:?}")))
                    }
                })
            }
            other => return Err(ApiError::bad_form(format!("unknown form field {other:?}"))),
        }
    }
    let file = file.ok_or_else(|| ApiError::bad_form("the form has no file field"))?;
    if purposes.is_empty() {
        return Err(ApiError::bad_form("ask for at least one purpose: website, social_media, print or internal"));
    }
    purposes.sort();
    purposes.dedup();
    learner_ids.sort();
    learner_ids.dedup();
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad_form(format!("at most {MAX_TAGS} tags")));
    }
    // Keep the tutor's order; drop every repeat, not only adjacent ones.
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    Ok(Form { file, caption, alt_text, title, tags, learner_ids, all_tagged: all_tagged.unwrap_or(false), purposes })
}

fn unknown_learners(ids: &[String]) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_learner",
        format!(
            "no learner on record with id {}",
            ids.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", ")
        ),
    )
}

/// What to answer when the same original bytes were stored before.
///
/// A phone that retries after a lost response sends the same form again: it gets the photo it
/// already made (200). The same bytes with a different form would otherwise silently drop the new
/// caption, tags or purposes, so that is a 409 pointing at the photo to edit. Another tutor's photo
/// is not shown to a tutor, only that it exists (its details are the other tutor's).
fn answer_for_existing(
    existing: &PhotoRecord,
    form: &Form,
    caller: &Caller,
    names: &NameIndex,
) -> Result<Response, ApiError> {
    let same_form = existing.caption == form.caption
        && existing.alt_text == form.alt_text
        && existing.title == form.title
        && existing.tags == form.tags
        && existing.all_tagged == form.all_tagged
        && existing.learner_ids == form.learner_ids
        && existing.purposes == form.purposes;
    let may_see = caller.role == Role::Admin || existing.uploaded_by == caller.token_id;
    if !may_see {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_upload",
            "this photo has already been uploaded by someone else; ask a safeguarding lead if it needs changes",
        ));
    }
    if !same_form {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_upload",
            format!(
                "this photo was uploaded before with different details; change them with PATCH /api/v1/photos/{}",
                existing.id
            ),
        )
        .with_detail(serde_json::json!({ "photo_id": existing.id })));
    }
    Ok((StatusCode::OK, Json(PhotoView::of(existing, names))).into_response())
}

/// `POST /api/v1/photos`: scrub, fingerprint and store an upload.
#[utoipa::path(post, path = "/api/v1/photos",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = PhotoView, description = "stored; every purpose held until consent exists"),
        (status = 200, body = PhotoView, description = "the same bytes and form were uploaded before by this caller"),
        (status = 409, body = super::ops::ErrorBody, description = "the same bytes were uploaded before with another form, or by someone else"),
        (status = 401, body = super::ops::ErrorBody), (status = 403, body = super::ops::ErrorBody),
        (status = 413, body = super::ops::ErrorBody), (status = 415, body = super::ops::ErrorBody),
        (status = 422, body = super::ops::ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let caller = match caller {
        Ok(caller) => match caller.require(&[Role::Tutor, Role::Admin]) {
            Ok(()) => caller,
            Err(e) => {
                // A valid token of the wrong role: someone known tried something they may not.
                // That is worth an audit row, under their name.
                reject(&state, Some(&caller), &e).await;
                drain(multipart).await;
                return Err(e);
            }
        },
        Err(e) => {
            // No valid token: counted, never audited. Anyone can send these, as fast as they
            // like, and with no actor to name an audit row would only let them flood the log.
            if e.status.is_client_error() {
                reject(&state, None, &e).await;
            }
            drain(multipart).await;
            return Err(e);
        }
    };
    // Bodies are buffered whole before scrubbing: bound how many are being received at once, so
    // memory is at most about `upload_concurrency × max_bytes`. A short wait absorbs a burst;
    // beyond it the client is told to come back (503 with Retry-After) rather than queued without
    // limit, holding its connection and our memory.
    let permit = match tokio::time::timeout(UPLOAD_QUEUE_WAIT, state.upload_permits.clone().acquire_owned()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(e)) => return Err(ApiError::internal(e)),
        Err(_) => {
            let e = ApiError::busy();
            reject(&state, None, &e).await;
            drain(multipart).await;
            return Err(e);
        }
    };
    let result = receive(&state, &caller, multipart).await;
    drop(permit);
    if let Err(e) = &result {
        if e.status.is_client_error() {
            reject(&state, Some(&caller), e).await;
        }
    }
    result
}

/// How long an upload waits for a free receiving slot before it is answered 503 `busy`.
const UPLOAD_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts a refused upload in `consentgate_upload_rejections_total` and, when the caller is known,
/// audits it under the caller's token.
async fn reject(state: &AppState, caller: Option<&Caller>, e: &ApiError) {
    metrics::counter!("consentgate_upload_rejections_total", "reason" => e.code).increment(1);
    let Some(caller) = caller else { return };
    let audit = AuditDraft::new(&caller.token_id, "upload_rejected", "-", serde_json::json!({ "code": e.code }));
    if let Err(audit_error) = state.store.append_audit(audit).await {
        tracing::error!(error = %audit_error, "cannot audit a rejected upload");
    }
}

/// Reads a refused upload's (size-limited) body to its end and drops it, a chunk at a time, so
/// nothing is kept. Answering before the client has sent its body makes the connection close
/// under a client still writing, which then sees a reset instead of the JSON error.
async fn drain(multipart: Result<Multipart, MultipartRejection>) {
    if let Ok(mut multipart) = multipart {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    }
}

async fn receive(
    state: &AppState,
    caller: &Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let limits = state.settings.limits;
    let multipart =
        multipart.map_err(|_| ApiError::bad_form("send the photo as multipart/form-data with a 'file' field"))?;
    let form = read_form(multipart, limits.max_bytes).await?;

    let original_blake3 = ContentHash::of(&form.file).to_string();
    if let Some(existing) = state.store.photo_by_original(&original_blake3).await? {
        return answer_for_existing(&existing, &form, caller, &*state.name_index().await?);
    }
    let unknown = state.store.unknown_learners(&form.learner_ids).await?;
    if !unknown.is_empty() {
        return Err(unknown_learners(&unknown));
    }

    // Scrubbing is CPU-bound: run it off the async runtime, a bounded number at a time.
    let permit = state.scrub_permits.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let file = form.file.clone();
    let started = Instant::now();
    let processed = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        media::process(&file, &limits)
    })
    .await
    .map_err(ApiError::internal)?;
    // Recorded for failed scrubs too: a bomb or a corrupt file costs time as well, and leaving
    // them out would hide exactly the slow cases.
    metrics::histogram!("consentgate_scrub_seconds").record(started.elapsed().as_secs_f64());
    let processed = processed?;
    let form = Form { file: Bytes::new(), ..form };

    let scrubbed = &processed.scrubbed;
    let (width, height) = scrubbed.display_dimensions();
    let blake3 = processed.fingerprint.blake3.to_string();
    let object_key = Objects::photo_key(&blake3, scrubbed.format.extension());
    let photo = PhotoRecord {
        id: uuid::Uuid::now_v7().to_string(),
        object_key: object_key.clone(),
        format: scrubbed.format.name().to_string(),
        width: i64::from(width),
        height: i64::from(height),
        byte_size: scrubbed.bytes.len() as i64,
        blake3,
        original_blake3,
        phash: processed.fingerprint.phash.to_string(),
        removed: serde_json::to_string(&scrubbed.removed).map_err(ApiError::internal)?,
        caption: form.caption.clone(),
        alt_text: form.alt_text.clone(),
        title: form.title.clone(),
        tags: form.tags.clone(),
        all_tagged: form.all_tagged,
        uploaded_by: caller.token_id.clone(),
        created_at: now_ms(),
        learner_ids: form.learner_ids.clone(),
        purposes: form.purposes.clone(),
        status: BTreeMap::new(),
        resembles: lookalikes_of_refusals(state, &processed.fingerprint.phash).await?,
        image_deleted_at: None,
    };
    let mut photo = photo;

    // Object first, then the row: a crash or a failed insert in between leaves an orphan object
    // for the sweep, never a row without its image. The object is not deleted here on failure:
    // objects are content-addressed, so another photo may have just stored the same bytes, and
    // only the sweep (which re-checks references after a grace period) may remove one.
    state.objects.put(&object_key, Bytes::from(processed.scrubbed.bytes)).await?;
    let audit = AuditDraft::new(
        &caller.token_id,
        "photo_uploaded",
        &photo.id,
        serde_json::json!({ "blake3": photo.blake3, "format": photo.format, "removed": processed.scrubbed.removed }),
    );
    let eval = state.evaluation(&caller.token_id).await?;
    let names = eval.names.clone();
    match state.store.insert_photo(&photo, audit, eval).await {
        Ok(status) => photo.status = status,
        Err(StoreError::Conflict(_)) => {
            // The same original arrived twice at once; the other upload won. The object is the
            // same content, so it stays.
            let existing = state
                .store
                .photo_by_original(&photo.original_blake3)
                .await?
                .ok_or_else(|| ApiError::internal("a conflicting photo vanished"))?;
            return answer_for_existing(&existing, &form, caller, &*state.name_index().await?);
        }
        Err(e) => return Err(e.into()),
    }
    metrics::counter!("consentgate_uploads_total").increment(1);
    tracing::info!(photo = %photo.id, format = %photo.format, bytes = photo.byte_size, "photo stored");
    Ok((StatusCode::CREATED, Json(PhotoView::of(&photo, &names))).into_response())
}

/// The learners who said no (withdrew or refused) to a photo that this one resembles, each with
/// one such photo: an upload of a re-encoded, resized or cropped-a-little copy is held for them
/// even when the tutor does not tag them. The scan is over photos of learners with a "no" on
/// record only, compared 256 bits at a time.
async fn lookalikes_of_refusals(
    state: &AppState,
    phash: &media::PerceptualHash,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for (photo_id, hash, learner_id) in state.store.photos_of_learners_who_said_no().await? {
        let Ok(hash) = hash.parse::<media::PerceptualHash>() else { continue };
        if phash.matches(&hash) {
            found.entry(learner_id).or_insert(photo_id);
        }
    }
    Ok(found.into_iter().collect())
}

/// Loads a photo the caller may see: admins see all, tutors their own; others get 403.
async fn visible_photo(state: &AppState, caller: &Caller, id: &str) -> Result<PhotoRecord, ApiError> {
    caller.require(&[Role::Tutor, Role::Admin])?;
    let id = input::path_id(id, "photo")?;
    let photo = state.store.photo(&id).await?.ok_or_else(|| ApiError::not_found("photo"))?;
    // A tutor asking for someone else's photo learns nothing about whether it exists.
    if caller.role == Role::Tutor && photo.uploaded_by != caller.token_id {
        return Err(ApiError::not_found("photo"));
    }
    Ok(photo)
}

/// `GET /api/v1/photos/{id}`: status with reasons.
#[utoipa::path(get, path = "/api/v1/photos/{id}", params(("id" = String, Path)),
    responses((status = 200, body = PhotoView), (status = 404, body = super::ops::ErrorBody)), security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PhotoView>, ApiError> {
    let photo = visible_photo(&state, &caller, &id).await?;
    // Time may have passed since the last sweep (an expiry, a birthday): the answer is for now.
    let eval = state.evaluation("system").await?;
    let names = eval.names.clone();
    let changes = state.store.reevaluate(std::slice::from_ref(&photo.id), eval).await?;
    let photo = if changes.is_empty() {
        photo
    } else {
        state.store.photo(&photo.id).await?.ok_or_else(|| ApiError::not_found("photo"))?
    };
    Ok(Json(PhotoView::of(&photo, &names)))
}

/// `PATCH /api/v1/photos/{id}` body: only the fields sent change.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoPatch {
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
    /// `true`: replace caption and alt text with the suggested redaction (first names only).
    #[serde(default)]
    pub accept_redaction: bool,
}

/// `PATCH /api/v1/photos/{id}`: edit caption, alt text, learners, `all_tagged`, purposes; the
/// status is re-evaluated in the same transaction.
#[utoipa::path(patch, path = "/api/v1/photos/{id}", params(("id" = String, Path)), request_body = PhotoPatch,
    responses((status = 200, body = PhotoView), (status = 404, body = super::ops::ErrorBody), (status = 422, body = super::ops::ErrorBody)),
    security(("bearer" = [])))]
pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    super::json::JsonBody(patch): super::json::JsonBody<PhotoPatch>,
) -> Result<Json<PhotoView>, ApiError> {
    let mut photo = visible_photo(&state, &caller, &id).await?;
    let mut changed = Vec::new();
    let names = state.name_index().await?;
    if patch.accept_redaction {
        if patch.caption.is_some() || patch.alt_text.is_some() || patch.title.is_some() || patch.tags.is_some() {
            return Err(ApiError::bad_form("send either accept_redaction or new texts, not both"));
        }
        let Some(redaction) = name_check(&photo, &names).suggested_redaction else {
            return Err(ApiError::bad_form("there is no redaction to accept: no full name is in the texts"));
        };
        photo.caption = redaction.caption;
        photo.alt_text = redaction.alt_text;
        photo.title = redaction.title;
        photo.tags = redaction.tags;
        changed.push("redaction_accepted");
    }
    if let Some(caption) = patch.caption {
        photo.caption = input::free_text("caption", caption, MAX_TEXT)?;
        changed.push("caption");
    }
    if let Some(alt_text) = patch.alt_text {
        photo.alt_text = input::free_text("alt_text", alt_text, MAX_TEXT)?;
        changed.push("alt_text");
    }
    if let Some(title) = patch.title {
        photo.title = input::free_text("title", title, MAX_TEXT)?;
        changed.push("title");
    }
    if let Some(tags) = patch.tags {
        if tags.len() > MAX_TAGS {
            return Err(ApiError::bad_form(format!("at most {MAX_TAGS} tags")));
        }
        let mut clean = Vec::with_capacity(tags.len());
        for tag in tags {
            let tag = input::free_text("tags", tag.trim().to_string(), 200)?;
            if !tag.is_empty() && !clean.contains(&tag) {
                clean.push(tag);
            }
        }
        photo.tags = clean;
        changed.push("tags");
    }
    if let Some(ids) = patch.learner_ids {
        let mut parsed = Vec::with_capacity(ids.len());
        for raw in ids {
            parsed.push(input::body_id(&raw).ok_or_else(|| unknown_learners(&[raw]))?);
        }
        parsed.sort();
        parsed.dedup();
        let unknown = state.store.unknown_learners(&parsed).await?;
        if !unknown.is_empty() {
            return Err(unknown_learners(&unknown));
        }
        photo.learner_ids = parsed;
        changed.push("learner_ids");
    }
    if let Some(all_tagged) = patch.all_tagged {
        photo.all_tagged = all_tagged;
        changed.push("all_tagged");
    }
    if let Some(mut purposes) = patch.purposes {
        purposes.sort();
        purposes.dedup();
        if purposes.is_empty() {
            return Err(ApiError::bad_form("ask for at least one purpose: website, social_media, print or internal"));
        }
        // An item marketing has claimed or published cannot just vanish: where it went matters.
        let taken: Vec<&str> = photo
            .status
            .iter()
            .filter(|(p, st)| !purposes.contains(p) && !matches!(st.state, policy::State::Held | policy::State::Queued))
            .map(|(p, _)| p.as_str())
            .collect();
        if !taken.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "purpose_in_use",
                format!("{} cannot be removed: marketing has already taken it", taken.join(", ")),
            ));
        }
        photo.purposes = purposes;
        changed.push("purposes");
    }
    if changed.is_empty() {
        return Err(ApiError::bad_form("the patch changes nothing"));
    }
    // The audit names the fields changed, never the caption's words (they may hold a name).
    let audit = AuditDraft::new(&caller.token_id, "photo_edited", &photo.id, serde_json::json!({ "fields": changed }));
    if !state.store.update_photo(&photo, audit, state.evaluation(&caller.token_id).await?).await? {
        return Err(ApiError::not_found("photo"));
    }
    let photo = state.store.photo(&photo.id).await?.ok_or_else(|| ApiError::not_found("photo"))?;
    Ok(Json(PhotoView::of(&photo, &names)))
}

/// `GET /api/v1/photos/{id}/image` query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ImageQuery {
    /// `web`: upright, long side at most 2048 px, re-encoded as a JPEG with no metadata; `thumb`:
    /// the same at most 480 px, for the pages' grids (viewing one is not audited as a download).
    pub rendition: Option<String>,
}

/// `GET /api/v1/photos/{id}/image`: the scrubbed bytes, or a web rendition. Admins always (until the
/// image is deleted); marketing only while an item of the photo is released, checked again now.
#[utoipa::path(get, path = "/api/v1/photos/{id}/image", params(("id" = String, Path), ImageQuery),
    responses((status = 200, description = "the image"), (status = 404, body = super::ops::ErrorBody),
        (status = 409, body = super::ops::ErrorBody, description = "not released (reasons in detail)"),
        (status = 410, body = super::ops::ErrorBody, description = "the image was deleted after consent was withdrawn")),
    security(("bearer" = [])))]
pub async fn image(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<ImageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Marketing])?;
    let axum::extract::Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let (web, thumb) = match query.rendition.as_deref() {
        None | Some("original") => (false, false),
        Some("web") => (true, false),
        Some("thumb") => (false, true),
        Some(other) => return Err(ApiError::bad_form(format!("rendition must be web or thumb, not {other:?}"))),
    };
    let id = input::path_id(&id, "photo")?;
    let photo = state.store.photo(&id).await?.ok_or_else(|| ApiError::not_found("photo"))?;
    let mut owed_thumbnail = false;
    if caller.role == Role::Marketing {
        let released = state.store.released_for_download(&photo.id, state.evaluation(&caller.token_id).await?).await?;
        // A photo that must come down is no longer released, but marketing has to recognise it to
        // take it down: its thumbnail (never the image itself) stays visible while that is owed.
        owed_thumbnail =
            thumb && released.is_err() && state.store.takedowns(false).await?.iter().any(|t| t.photo_id == photo.id);
        if let (Err(reasons), false) = (released, owed_thumbnail) {
            return Err(not_released(reasons));
        }
    }
    if photo.image_deleted_at.is_some() {
        return Err(image_deleted());
    }
    let bytes = match state.objects.get(&photo.object_key).await? {
        Some(bytes) => bytes,
        // Deleted after the row was read: a withdrawal retired the image meanwhile.
        None if image_is_deleted(&state, &photo.id).await? => return Err(image_deleted()),
        None => return Err(ApiError::internal("a photo's object is missing")),
    };
    let (bytes, mime, etag, extension) = if web || thumb {
        let permit = state.scrub_permits.clone().acquire_owned().await.map_err(ApiError::internal)?;
        let limits = state.settings.limits;
        let rendition = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            if thumb {
                media::rendition::thumb(&bytes, &limits)
            } else {
                media::rendition::web(&bytes, &limits)
            }
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        let etag = format!("\"{}-{}\"", photo.blake3, if thumb { "thumb" } else { "web" });
        (Bytes::from(rendition), "image/jpeg", etag, "jpg")
    } else {
        let mime = match photo.format.as_str() {
            "png" => "image/png",
            "webp" => "image/webp",
            _ => "image/jpeg",
        };
        let extension = match photo.format.as_str() {
            "png" => "png",
            "webp" => "webp",
            _ => "jpg",
        };
        (bytes, mime, format!("\"{}\"", photo.blake3), extension)
    };
    if caller.role == Role::Marketing && !owed_thumbnail {
        // Reading the object and building the rendition happen outside the lock: a withdrawal
        // that returned meanwhile must still stop the answer, so the release is checked again now
        // that the bytes are ready, and only then is the download audited. A grid's thumbnail is
        // a view, not a download: auditing every tile would bury the downloads.
        still_released(&state, &caller, &photo.id).await?;
        if !thumb {
            let audit =
                AuditDraft::new(&caller.token_id, "image_downloaded", &photo.id, serde_json::json!({ "web": web }));
            state.store.append_audit(audit).await?;
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{}.{extension}\"", photo.id)),
        ],
        bytes,
    )
        .into_response())
}

/// 410 `image_deleted`.
fn image_deleted() -> ApiError {
    ApiError::new(StatusCode::GONE, "image_deleted", "the image was deleted after consent was withdrawn")
}

/// Whether the photo's image has been deleted (or the photo itself is gone), read now.
async fn image_is_deleted(state: &AppState, photo_id: &str) -> Result<bool, ApiError> {
    Ok(state.store.photo(photo_id).await?.is_none_or(|p| p.image_deleted_at.is_some()))
}

/// 409 `not_released`, with the reasons.
fn not_released(reasons: Vec<policy::Reason>) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_released",
        "this photo is not released to marketing now; it has left the queue",
    )
    .with_detail(serde_json::json!({ "reasons": reasons }))
}

/// Checks again, under the chain lock, that marketing may still have the image it has just read:
/// 410 `image_deleted` when a withdrawal has deleted it meanwhile, 409 `not_released` with the
/// reasons when it has otherwise left the queue.
async fn still_released(state: &AppState, caller: &Caller, photo_id: &str) -> Result<(), ApiError> {
    let Err(reasons) = state.store.released_for_download(photo_id, state.evaluation(&caller.token_id).await?).await?
    else {
        return Ok(());
    };
    if image_is_deleted(state, photo_id).await? {
        return Err(image_deleted());
    }
    Err(not_released(reasons))
}
