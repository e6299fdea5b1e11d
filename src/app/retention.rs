//! What is deleted, and when: an image after a tagged learner's own "no" (the row and its
//! fingerprints stay, so a re-upload is recognised), the periodic retry of a deletion that failed,
//! and the sweep of objects no photo refers to.
//!
//! Which images a "no" makes unusable is `policy::retention::image_unusable`; the store applies it
//! in the transaction that marks them deleted (`retire_images_of`, run right after the "no" has
//! committed, which takes every twin along), and here the objects go once that has committed in
//! turn. Each photo owns its objects (keyed by its id), so deleting them can never take an image
//! from another photo, nor race an upload of the same bytes.

use std::time::Duration;

use super::{App, AppError};
use crate::objects::Objects;
use crate::store::{AuditAction, AuditDraft, FullStore, RetiredImage, StoreError};

/// After `learner_id` said no (refused or withdrew): deletes the images that no purpose can use
/// any more, and their twins. A failure here is logged, not returned: the "no" is already recorded
/// and the photos are out of the queue; [`retire_unusable_images`] retries on the next maintenance
/// pass, and the orphan sweep removes an object whose deletion failed.
pub async fn delete_images_after_no(app: &App, learner_id: &str, actor: &str) {
    let retired = match app.evaluation(actor).await {
        Ok(eval) => app.store.retire_images_of(learner_id, eval).await,
        Err(e) => Err(e),
    };
    match retired {
        Ok(images) => {
            delete_objects(app, &images, actor).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot retire images after a withdrawal"),
    }
}

/// Deletes the objects of images retired (each image and its renditions) and audits, per photo,
/// `object_deleted` with whether every one of them is gone: written after the deletion was tried,
/// so the log never says a file is gone that is not. Returns how many images lost every object.
async fn delete_objects(app: &App, images: &[RetiredImage], actor: &str) -> usize {
    let mut deleted = 0;
    for image in images {
        let keys = Objects::image_keys(&image.object_key);
        let mut gone = true;
        for key in &keys {
            if let Err(e) = app.objects.delete(key).await {
                // The row already says deleted, so the orphan sweep removes the object later.
                tracing::error!(error = %e, "cannot delete a retired image; the sweep will retry");
                gone = false;
            }
        }
        deleted += usize::from(gone);
        let audit = AuditDraft::new(
            actor,
            AuditAction::ObjectDeleted,
            &image.photo_id,
            serde_json::json!({ "object_deleted": gone, "objects": keys.len() }),
        );
        if let Err(e) = app.store.append_audit(audit).await {
            tracing::error!(error = %e, "cannot audit the deletion of an image's objects");
        }
    }
    deleted
}

/// Retires every image no purpose can use any more (each purpose held by a standing no), and every
/// live twin of an image retired before, a page at a time, and deletes the objects: the periodic
/// pass that makes a retirement that failed just after a withdrawal happen anyway. Returns how
/// many images lost their objects.
pub async fn retire_unusable_images(app: &App) -> Result<usize, StoreError> {
    const PAGE: i64 = 200;
    let mut after = String::new();
    let mut deleted = 0;
    loop {
        let (images, last) = app.store.retire_unusable_images(&after, PAGE, app.evaluation("system").await?).await?;
        deleted += delete_objects(app, &images, "system").await;
        match last {
            Some(last) => after = last,
            None => return Ok(deleted),
        }
    }
}

/// Removes objects that no photo refers to and that are older than `grace`, and the staging
/// files of interrupted local writes. Each candidate is checked against the database just before
/// it goes, after the listing, so an upload committed meanwhile keeps its object. Returns how many
/// went.
pub async fn sweep_orphans(store: &dyn FullStore, objects: &Objects, grace: Duration) -> Result<usize, AppError> {
    let mut swept = objects.sweep_staging_files(grace)?;
    for key in objects.sweep_candidates(grace).await? {
        // A rendition lives exactly as long as its image.
        if !store.object_in_use(Objects::image_key_of(&key)).await? {
            objects.delete(&key).await?;
            swept += 1;
        }
    }
    if swept > 0 {
        tracing::warn!(swept, "removed objects left by interrupted or failed uploads");
    }
    Ok(swept)
}
