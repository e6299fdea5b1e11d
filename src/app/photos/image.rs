//! A photo's image for the people allowed it: the scrubbed original, or a web size or thumbnail
//! made once and stored beside it, with every download audited.

use bytes::Bytes;

use super::super::{input, Actor, App, AppError};
use super::access::{visible, IMAGE_READERS};
use crate::media;
use crate::objects::Objects;
use crate::store::{AuditAction, AuditDraft, PhotoRecord, Role};

/// Which bytes of an image are wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendition {
    /// The scrubbed file as stored.
    Original,
    /// Upright, long side at most 2048 px, re-encoded as a JPEG with no metadata.
    Web,
    /// The same at most 480 px, for the pages' grids (viewing one is not audited as a download).
    Thumb,
}

/// An image ready to send.
#[derive(Debug, Clone)]
pub struct Image {
    /// The bytes.
    pub bytes: Bytes,
    /// Its media type.
    pub mime: &'static str,
    /// A strong validator: the stored image's blake3, and the rendition.
    pub etag: String,
    /// A file name to offer: the photo id and the extension (never the uploaded name).
    pub file_name: String,
}

/// The image of photo `id` (as given in a path). Admins may have it until it is deleted;
/// marketing only while an item of the photo is released, checked again once the bytes are ready
/// (a withdrawal that returned meanwhile stops the answer). The original and the web size are
/// audited as a download for every role; a thumbnail is not. Marketing
/// may see the thumbnail of a photo whose takedown is owed (never the image itself), to recognise
/// what to take down. A tutor may see the thumbnail of a photo they uploaded, on the pages where
/// they change or delete it (never the image itself: marketing is the only channel out).
pub async fn image(app: &App, actor: &Actor, id: &str, rendition: Rendition) -> Result<Image, AppError> {
    let thumb = rendition == Rendition::Thumb;
    let photo = if thumb && actor.is(Role::Tutor) {
        visible(app, actor, id).await?
    } else {
        actor.require(IMAGE_READERS)?;
        let id = input::path_id(id, "photo")?;
        app.store.photo(&id).await?.ok_or(AppError::NotFound("photo"))?
    };
    let mut owed_thumbnail = false;
    if actor.is(Role::Marketing) {
        let released = app.store.released_for_download(&photo.id, app.evaluation(&actor.token_id).await?).await?;
        owed_thumbnail =
            thumb && released.is_err() && app.store.takedowns(false).await?.iter().any(|t| t.photo_id == photo.id);
        if let (Err(reasons), false) = (released, owed_thumbnail) {
            return Err(AppError::NotReleased { reasons });
        }
    }
    if photo.image_deleted_at.is_some() {
        return Err(AppError::ImageDeleted);
    }
    let image = match rendition {
        Rendition::Web | Rendition::Thumb => {
            let name = if thumb { "thumb" } else { "web" };
            Image {
                bytes: rendition_bytes(app, &photo, name).await?,
                mime: "image/jpeg",
                etag: format!("\"{}-{name}\"", photo.blake3),
                file_name: format!("{}.jpg", photo.id),
            }
        }
        Rendition::Original => {
            let (mime, extension) = match photo.format.as_str() {
                "png" => ("image/png", "png"),
                "webp" => ("image/webp", "webp"),
                _ => ("image/jpeg", "jpg"),
            };
            let bytes = stored_image(app, &photo).await?;
            Image { bytes, mime, etag: format!("\"{}\"", photo.blake3), file_name: format!("{}.{extension}", photo.id) }
        }
    };
    if actor.is(Role::Marketing) && !owed_thumbnail {
        // Reading the object and building the rendition happen outside the lock: a withdrawal
        // that returned meanwhile must still stop the answer, so the release is checked again now
        // that the bytes are ready, and only then is the download audited.
        still_released(app, actor, &photo.id).await?;
    }
    // Every download is audited, whoever makes it: an admin's copy of a child's photo leaves
    // as surely as marketing's. A grid's thumbnail is a view, not a download: auditing every tile
    // would bury the downloads. The row is written before the bytes leave, so a download the log
    // does not show never happened.
    if !thumb {
        let audit = AuditDraft::new(
            &actor.token_id,
            AuditAction::ImageDownloaded,
            &photo.id,
            serde_json::json!({ "web": rendition == Rendition::Web, "role": actor.role.as_str() }),
        );
        app.store.append_audit(audit).await?;
    }
    Ok(image)
}

/// The photo's scrubbed image from the object store; [`AppError::ImageDeleted`] when a withdrawal
/// retired it after the row was read.
async fn stored_image(app: &App, photo: &PhotoRecord) -> Result<Bytes, AppError> {
    match app.objects.get(&photo.object_key).await? {
        Some(bytes) => Ok(bytes),
        None if image_is_deleted(app, &photo.id).await? => Err(AppError::ImageDeleted),
        None => Err(AppError::internal("a photo's object is missing")),
    }
}

/// A rendition (`thumb`, `web`) of the photo's image: the derived object when it was made before,
/// else made now (decoded within the memory budget, off the async runtime) and stored beside the
/// image, so each is decoded once however often it is viewed. It is deleted with its image.
async fn rendition_bytes(app: &App, photo: &PhotoRecord, name: &str) -> Result<Bytes, AppError> {
    let key = Objects::rendition_key(&photo.object_key, name);
    if let Some(bytes) = app.objects.get(&key).await? {
        return Ok(bytes);
    }
    let stored = stored_image(app, photo).await?;
    let format = media::sniff(&stored).map_err(AppError::internal)?;
    let cost = media::limits::decode_cost(format, photo.width.unsigned_abs(), photo.height.unsigned_abs());
    let memory = app.reserve_memory(cost).await?;
    let permit = app.scrub_permits.clone().acquire_owned().await.map_err(AppError::internal)?;
    let limits = app.settings.limits;
    let thumb = name == "thumb";
    let rendered = tokio::task::spawn_blocking(move || {
        let _permits = (permit, memory);
        if thumb {
            media::rendition::thumb(&stored, &limits)
        } else {
            media::rendition::web(&stored, &limits)
        }
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    let rendered = Bytes::from(rendered);
    app.objects.put(&key, rendered.clone()).await?;
    // A retirement that committed while this was made deleted the objects that existed then; this
    // one came after, so it goes now. (A retirement committing after this check deletes it itself.)
    if image_is_deleted(app, &photo.id).await? {
        app.objects.delete(&key).await?;
        return Err(AppError::ImageDeleted);
    }
    Ok(rendered)
}

/// Whether the photo's image has been deleted (or the photo itself is gone), read now.
async fn image_is_deleted(app: &App, photo_id: &str) -> Result<bool, AppError> {
    Ok(app.store.photo(photo_id).await?.is_none_or(|p| p.image_deleted_at.is_some()))
}

/// Checks again, under the chain lock, that marketing may still have the image it has just read.
async fn still_released(app: &App, actor: &Actor, photo_id: &str) -> Result<(), AppError> {
    let Err(reasons) = app.store.released_for_download(photo_id, app.evaluation(&actor.token_id).await?).await? else {
        return Ok(());
    };
    if image_is_deleted(app, photo_id).await? {
        return Err(AppError::ImageDeleted);
    }
    Err(AppError::NotReleased { reasons })
}
