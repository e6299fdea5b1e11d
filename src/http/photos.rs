//! Photos: upload (the multipart form streamed in, then [`app::photos::upload`]), read, edit, and
//! the scrubbed image.

use std::collections::BTreeMap;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::BytesMut;
use serde::Serialize;

use super::doc::{FreeText, Id, ImageBytes, Tag};
use super::error::{ApiError, AuthErrors, ErrorBody, JsonErrors, NotFoundErrors, QueryErrors, UploadErrors};
use super::slots::NoSlot;
use super::state::HttpState;
use crate::app::photos::{NameCheck, PhotoEdit, Rendition, ShownPhoto, Upload, Uploaded};
use crate::app::{self, Actor, AppError};
use crate::policy::{Purpose, PurposeStatus};

/// The multipart form of an upload (documentation only; the handler streams the parts). A list
/// field may be repeated, or hold values separated by commas.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The photo: JPEG, PNG, WebP or HEIC/HEIF.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// Caption for publication.
    #[schema(value_type = FreeText, required = false)]
    caption: String,
    /// Alt text for publication.
    #[schema(value_type = FreeText, required = false)]
    alt_text: String,
    /// Title for publication.
    #[schema(value_type = FreeText, required = false)]
    title: String,
    /// Tags for publication; at most 30.
    #[schema(value_type = Vec<Tag>, max_items = 30, required = false)]
    tags: Vec<String>,
    /// Ids of the learners pictured (each must be a learner on record); at most 100.
    #[schema(value_type = Vec<Id>, max_items = 100, required = false)]
    learner_ids: Vec<String>,
    /// `true` when everyone pictured is tagged.
    #[schema(required = false)]
    all_tagged: bool,
    /// Purposes asked for; at least one.
    #[schema(min_items = 1)]
    purposes: Vec<Purpose>,
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
    pub name_check: NameCheck,
}

impl From<ShownPhoto> for PhotoView {
    fn from(ShownPhoto { photo, name_check }: ShownPhoto) -> PhotoView {
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
            name_check,
        }
    }
}

/// Longest value of a text field of the upload form, in bytes, before it is read whole: generous
/// for a caption of [`app::photos::MAX_TEXT`] characters in any script.
const MAX_FIELD_BYTES: usize = 4 * app::photos::MAX_TEXT;

/// Most parts an upload form may have: the file, three texts, `all_tagged`, every tag and every
/// learner sent as a field of its own, and a few purposes. Counted as they arrive, so a form of
/// millions of tiny fields is refused at the first one too many.
pub const MAX_FORM_FIELDS: usize = 1 + 3 + 1 + app::photos::MAX_TAGS + app::photos::MAX_LEARNERS + 16;

/// Longest form field name worth quoting back in an error.
const MAX_NAME_SHOWN: usize = 40;

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

/// Reads the form, streaming the file with the byte limit applied as it arrives. What the fields
/// mean is checked by the use case; here only their shape (one file, known names, booleans) and
/// the limits that bound what is held while reading: the number of fields, each text field's
/// bytes, and the number of tags and learner ids, each checked as it arrives. A form refused for
/// its shape has the rest of its body discarded (never kept) before the 422, so the client sees
/// the error rather than a reset.
async fn read_form(mut multipart: Multipart, max_bytes: u64) -> Result<Upload, ApiError> {
    let result = read_fields(&mut multipart, max_bytes).await;
    if let Err(e) = &result {
        if e.status == StatusCode::UNPROCESSABLE_ENTITY {
            drain(Ok(multipart)).await;
        }
    }
    result
}

async fn read_fields(multipart: &mut Multipart, max_bytes: u64) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    let (mut file_seen, mut all_tagged, mut fields) = (false, None, 0usize);
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(e, max_bytes))? {
        fields += 1;
        if fields > MAX_FORM_FIELDS {
            return Err(ApiError::bad_form(format!("the form has more than {MAX_FORM_FIELDS} fields")));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if file_seen {
                return Err(ApiError::bad_form("send one file per upload"));
            }
            file_seen = true;
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
            upload.file = buffer.freeze();
            continue;
        }
        // Before its value is read: an unknown field costs nothing more.
        if !["caption", "alt_text", "title", "tags", "learner_ids", "purposes", "all_tagged"].contains(&name.as_str()) {
            let shown: String = name.chars().take(MAX_NAME_SHOWN).collect();
            return Err(ApiError::bad_form(format!("unknown form field {shown:?}")));
        }
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, max_bytes))? {
            if text.len() + chunk.len() > MAX_FIELD_BYTES {
                return Err(ApiError::bad_form(format!(
                    "{name} is longer than {} characters (at most {MAX_FIELD_BYTES} bytes a field)",
                    app::photos::MAX_TEXT
                )));
            }
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(text).map_err(|_| ApiError::bad_form(format!("{name} is not UTF-8 text")))?;
        match name.as_str() {
            "caption" => upload.caption = text,
            "alt_text" => upload.alt_text = text,
            "title" => upload.title = text,
            "tags" => {
                for tag in list(&text) {
                    upload.tags.push(tag);
                    app::photos::check_tag_count(upload.tags.len()).map_err(ApiError::from)?;
                }
            }
            "learner_ids" => {
                for id in list(&text) {
                    upload.learner_ids.push(id);
                    app::photos::check_learner_count(upload.learner_ids.len()).map_err(ApiError::from)?;
                }
            }
            "purposes" => {
                for p in list(&text) {
                    let purpose = p.parse::<Purpose>().map_err(ApiError::bad_form)?;
                    // Repeats add nothing: the list never holds more than the four purposes.
                    if !upload.purposes.contains(&purpose) {
                        upload.purposes.push(purpose);
                    }
                }
            }
            // `all_tagged`, the only name left.
            _ => {
                all_tagged = Some(match text.trim() {
                    "true" | "on" | "1" | "yes" => true,
                    "false" | "off" | "0" | "no" => false,
                    other => {
                        return Err(ApiError::bad_form(format!("all_tagged must be true or false, not {other:?}")))
                    }
                })
            }
        }
    }
    if !file_seen {
        return Err(ApiError::bad_form("the form has no file field"));
    }
    upload.all_tagged = all_tagged.unwrap_or(false);
    Ok(upload)
}

/// `POST /api/v1/photos`: scrub, fingerprint and store an upload.
#[utoipa::path(post, path = "/api/v1/photos", operation_id = "upload_photo", tag = "photos",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(AuthErrors, UploadErrors,
        (status = 201, body = PhotoView, description = "stored; every purpose held until consent exists"),
        (status = 200, body = PhotoView, description = "the same bytes and form were uploaded before by this caller"),
        (status = 409, body = ErrorBody, description = "`duplicate_upload`: the same bytes were uploaded before with another form (`detail.photo_id`), or by someone else")),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<HttpState>,
    caller: Result<Actor, ApiError>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let caller = match caller {
        Ok(caller) => match caller.require(app::photos::UPLOADERS) {
            Ok(()) => caller,
            Err(e) => {
                // A valid token of the wrong role: someone known tried something they may not.
                // That is worth an audit row, under their name.
                let e = ApiError::from(e);
                app::photos::record_rejection(&state.app, Some(&caller), e.code).await;
                drain(multipart).await;
                return Err(e);
            }
        },
        Err(e) => {
            // No valid token: counted, never audited.
            if e.status.is_client_error() {
                app::photos::record_rejection(&state.app, None, e.code).await;
            }
            drain(multipart).await;
            return Err(e);
        }
    };
    // Bodies are buffered whole before scrubbing: bound how many are being received at once, in
    // all and per token, so memory is at most about `upload_concurrency × max_bytes` and one
    // token cannot hold every slot. A short wait absorbs a burst; beyond it the client is told to
    // come back (503 `busy`, or 429 when its own token holds its share, both with Retry-After)
    // rather than queued without limit, holding its connection and our memory.
    let slot = match state.upload_slots.acquire(&caller.token_id, UPLOAD_QUEUE_WAIT).await {
        Ok(slot) => slot,
        Err(no_slot) => {
            let e = match no_slot {
                NoSlot::Busy => ApiError::from(AppError::Busy),
                NoSlot::TokenAtLimit(per_token) => ApiError::too_many_uploads(per_token),
            };
            // Load, not misuse: counted, not audited.
            app::photos::record_rejection(&state.app, None, e.code).await;
            drain(multipart).await;
            return Err(e);
        }
    };
    let result = receive(&state, &caller, multipart).await;
    drop(slot);
    if let Err(e) = &result {
        if e.status.is_client_error() {
            app::photos::record_rejection(&state.app, Some(&caller), e.code).await;
        }
    }
    result
}

/// How long an upload waits for a free receiving slot (and for its token's share of them) before
/// it is answered 503 `busy` (or 429 `too_many_uploads`).
const UPLOAD_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

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
    state: &HttpState,
    caller: &Actor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let multipart =
        multipart.map_err(|_| ApiError::bad_form("send the photo as multipart/form-data with a 'file' field"))?;
    let upload = read_form(multipart, state.app.settings.limits.max_bytes).await?;
    Ok(match app::photos::upload(&state.app, caller, upload).await? {
        Uploaded::Created(photo) => (StatusCode::CREATED, Json(PhotoView::from(photo))).into_response(),
        Uploaded::Existing(photo) => (StatusCode::OK, Json(PhotoView::from(photo))).into_response(),
    })
}

/// `GET /api/v1/photos/{id}`: status with reasons.
#[utoipa::path(get, path = "/api/v1/photos/{id}", operation_id = "show_photo", tag = "photos",
    params(("id" = Id, Path, description = "Photo id")),
    responses(AuthErrors, NotFoundErrors, (status = 200, body = PhotoView, description = "the photo and its status per purpose")), security(("bearer" = [])))]
pub async fn show(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<PhotoView>, ApiError> {
    Ok(Json(app::photos::show(&state.app, &caller, &id).await?.into()))
}

/// `PATCH /api/v1/photos/{id}` body: only the fields sent change.
///
/// A patch that changes nothing is refused, so at least one field is sent.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct PhotoPatch {
    /// New caption.
    #[schema(value_type = Option<FreeText>)]
    pub caption: Option<String>,
    /// New alt text.
    #[schema(value_type = Option<FreeText>)]
    pub alt_text: Option<String>,
    /// New title.
    #[schema(value_type = Option<FreeText>)]
    pub title: Option<String>,
    /// New tags (replaces the list); at most 30.
    #[schema(value_type = Option<Vec<Tag>>, max_items = 30)]
    pub tags: Option<Vec<String>>,
    /// The learners pictured (replaces the list; each must be a learner on record); at most 100.
    #[schema(value_type = Option<Vec<Id>>, max_items = 100)]
    pub learner_ids: Option<Vec<String>>,
    /// Everyone pictured is tagged.
    pub all_tagged: Option<bool>,
    /// Purposes asked for (replaces the list); at least one.
    #[schema(min_items = 1)]
    pub purposes: Option<Vec<Purpose>>,
    /// `true`: replace caption and alt text with the suggested redaction (first names only).
    #[serde(default)]
    pub accept_redaction: bool,
}

impl From<PhotoPatch> for PhotoEdit {
    fn from(p: PhotoPatch) -> PhotoEdit {
        PhotoEdit {
            caption: p.caption,
            alt_text: p.alt_text,
            title: p.title,
            tags: p.tags,
            learner_ids: p.learner_ids,
            all_tagged: p.all_tagged,
            purposes: p.purposes,
            accept_redaction: p.accept_redaction,
        }
    }
}

/// `PATCH /api/v1/photos/{id}`: edit caption, alt text, learners, `all_tagged`, purposes; the
/// status is re-evaluated in the same transaction.
#[utoipa::path(patch, path = "/api/v1/photos/{id}", operation_id = "edit_photo", tag = "photos",
    params(("id" = Id, Path, description = "Photo id")), request_body = PhotoPatch,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 200, body = PhotoView, description = "the photo and its status per purpose"),
        (status = 409, body = ErrorBody, description = "`purpose_in_use`: a purpose marketing has claimed or published cannot be dropped")),
    security(("bearer" = [])))]
pub async fn edit(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    super::json::JsonBody(patch): super::json::JsonBody<PhotoPatch>,
) -> Result<Json<PhotoView>, ApiError> {
    Ok(Json(app::photos::edit(&state.app, &caller, &id, patch.into()).await?.into()))
}

/// `DELETE /api/v1/photos/{id}`: delete a photo never published, rows and image; its uploader or
/// an admin.
#[utoipa::path(delete, path = "/api/v1/photos/{id}", operation_id = "delete_photo", tag = "photos",
    params(("id" = Id, Path, description = "Photo id")),
    responses(AuthErrors, NotFoundErrors, (status = 204, description = "deleted, with its image"),
        (status = 409, body = ErrorBody, description = "`photo_published`, `photo_claimed`, `photo_retired` (its image was deleted after a no; the fingerprint stays) or `photo_is_evidence` (another upload is held for resembling it)")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app::photos::delete(&state.app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/name-check` body: the texts a photo would leave with, as typed so far. Each is
/// optional (empty when left out), with the limits of an upload.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameCheckRequest {
    /// Caption.
    #[serde(default)]
    #[schema(value_type = Option<FreeText>)]
    pub caption: String,
    /// Alt text.
    #[serde(default)]
    #[schema(value_type = Option<FreeText>)]
    pub alt_text: String,
    /// Title.
    #[serde(default)]
    #[schema(value_type = Option<FreeText>)]
    pub title: String,
    /// Tags; at most 30.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Tag>>, max_items = 30)]
    pub tags: Vec<String>,
}

/// `POST /api/v1/name-check`: the full names of learners in texts not stored yet, and the texts
/// with first names only, so a tutor sees them while typing. Nothing is stored or audited.
#[utoipa::path(post, path = "/api/v1/name-check", operation_id = "check_names", tag = "photos",
    request_body = NameCheckRequest,
    responses(AuthErrors, JsonErrors, (status = 200, body = NameCheck, description = "each full name found, and the suggested redaction when one was")),
    security(("bearer" = [])))]
pub async fn check_names(
    State(state): State<HttpState>,
    caller: Actor,
    super::json::JsonBody(texts): super::json::JsonBody<NameCheckRequest>,
) -> Result<Json<NameCheck>, ApiError> {
    let draft = app::photos::DraftTexts {
        caption: texts.caption,
        alt_text: texts.alt_text,
        title: texts.title,
        tags: texts.tags,
    };
    Ok(Json(app::photos::check_draft(&state.app, &caller, draft).await?))
}

/// `GET /api/v1/photos/{id}/image` query.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageQuery {
    /// `original` (the default): the scrubbed upload; `web`: upright, long side at most 2048 px,
    /// re-encoded as a JPEG with no metadata; `thumb`: the same at most 480 px, for the pages'
    /// grids (viewing one is not audited as a download).
    #[param(value_type = Option<RenditionName>)]
    pub rendition: Option<String>,
}

/// The renditions of an image (documentation only: the handler reads the name itself).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RenditionName {
    /// The scrubbed upload.
    Original,
    /// Upright, long side at most 2048 px, a JPEG.
    Web,
    /// Upright, long side at most 480 px, a JPEG.
    Thumb,
}

/// `GET /api/v1/photos/{id}/image`: the scrubbed bytes, or a web rendition. Admins always (until the
/// image is deleted); marketing only while an item of the photo is released, checked again now; a
/// tutor only the thumbnail of their own upload.
#[utoipa::path(get, path = "/api/v1/photos/{id}/image", operation_id = "photo_image", tag = "photos",
    params(("id" = Id, Path, description = "Photo id"), ImageQuery),
    responses(AuthErrors, NotFoundErrors, QueryErrors,
        (status = 200, description = "the image", content(
            (ImageBytes = "image/jpeg"), (ImageBytes = "image/png"), (ImageBytes = "image/webp"))),
        (status = 409, body = ErrorBody, description = "`not_released` (`detail.reasons`)"),
        (status = 410, body = ErrorBody, description = "`image_deleted`: the image was deleted after consent was withdrawn")),
    security(("bearer" = [])))]
pub async fn image(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
    query: Result<axum::extract::Query<ImageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // The role is checked before the query is read, so a caller without it learns nothing from
    // a malformed query (401 → 403 → 404 → 422, as on every route).
    caller.require(app::photos::THUMB_VIEWERS)?;
    let axum::extract::Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let rendition = match query.rendition.as_deref() {
        None | Some("original") => Rendition::Original,
        Some("web") => Rendition::Web,
        Some("thumb") => Rendition::Thumb,
        Some(other) => return Err(ApiError::bad_form(format!("rendition must be web or thumb, not {other:?}"))),
    };
    let image = app::photos::image(&state.app, &caller, &id, rendition).await?;
    Ok((
        [
            (header::CONTENT_TYPE, image.mime.to_string()),
            (header::ETAG, image.etag),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{}\"", image.file_name)),
        ],
        image.bytes,
    )
        .into_response())
}
