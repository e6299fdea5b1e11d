//! What is deleted, and when: an image after a tagged learner's own "no" (the row and its
//! fingerprints stay, so a re-upload is recognised), images the retention rules say are no longer
//! needed (and the preview of those), the periodic retry of a deletion that failed, and the sweep
//! of objects no photo refers to.
//!
//! Which images a "no" makes unusable is `policy::retention::image_unusable`; the store applies it
//! in the transaction that marks them deleted (`retire_images_of`, run right after the "no" has
//! committed, which takes every twin along), and here the objects go once that has committed in
//! turn. Each photo owns its objects (keyed by its id), so deleting them can never take an image
//! from another photo, nor race an upload of the same bytes.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Actor, App, AppError};
use crate::objects::Objects;
use crate::policy::calendar::{iso_date, parse_iso_date};
use crate::policy::retention::{self as rules, Rule};
use crate::store::{
    ms_of_time, time_of_ms, AuditAction, AuditDraft, FullStore, RetentionDue, RetiredImage, Role, StoreError,
};

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
        // A takedown still open needs something to find the post by.
        super::takedowns::keep_small_copy(app, &image.photo_id, &image.object_key).await;
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

/// What the rules make due at or before `by`, as the store's cut-offs; a rule that is off is
/// left out.
fn dues_by(app: &App, by: OffsetDateTime) -> Vec<RetentionDue> {
    let retention = app.settings.retention;
    let mut dues = Vec::new();
    if let Some(uploaded_by) = rules::uploaded_due_by(ms_of_time(by), retention.held_photo) {
        dues.push(RetentionDue::HeldPhoto { uploaded_by });
    }
    if let Some(day) = rules::left_on_due_by(by, retention.after_leaving, &app.settings.rules.zone) {
        dues.push(RetentionDue::AfterLeaving { left_by: iso_date(day) });
    }
    dues
}

/// Applies the retention rules now: deletes the image of every photo a rule makes due (a page at a
/// time, each page one transaction, audited per photo with the rule's name as `system`), then its
/// objects. Returns how many images were retired.
pub async fn apply_retention_rules(app: &App) -> Result<usize, StoreError> {
    const PAGE: i64 = 200;
    let mut retired = 0;
    for due in dues_by(app, OffsetDateTime::now_utc()) {
        loop {
            let (count, images) = app.store.retire_due(&due, PAGE, app.evaluation("system").await?).await?;
            delete_objects(app, &images, "system").await;
            retired += count;
            metrics::counter!("consentgate_retention_deleted_total", "rule" => due.rule().as_str())
                .increment(count as u64);
            if count < PAGE as usize {
                break;
            }
        }
    }
    Ok(retired)
}

/// One image a retention rule will delete (or should have: one already due is listed until the
/// next maintenance pass deletes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDeletion {
    /// The photo whose image goes (the row, its fingerprints and its audit trail stay).
    pub photo_id: String,
    /// The rule that deletes it; when two would, the one due first.
    pub rule: Rule,
    /// When it is due.
    pub due_at: OffsetDateTime,
    /// Why, in plain words, without names: the upload date or the leaving day the rule counts from.
    pub why: String,
}

/// A learner whose personal data `learner_record_after_leaving` will erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedErasure {
    /// The learner.
    pub learner_id: String,
    /// When it is due.
    pub due_at: OffsetDateTime,
    /// The leaving day it counts from.
    pub left_on: String,
    /// The photos they are tagged in whose image the erasure will delete (with any exact copy),
    /// oldest first, at most the preview's limit: those `after_leaving` has not deleted already.
    pub images: Vec<String>,
}

/// What the retention rules will delete within `within` from now: the preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPreview {
    /// Every deletion due by then, soonest first (at most the limit asked for).
    pub deletions: Vec<PlannedDeletion>,
    /// Every learner record due for erasure by then, soonest first (at most the limit).
    pub erasures: Vec<PlannedErasure>,
    /// More were due than the limit let through.
    pub truncated: bool,
}

/// Who may see what retention will delete: the safeguarding lead.
pub const RETENTION_VIEWERS: &[Role] = &[Role::Admin];

/// What the retention rules will delete within `within` from now, soonest first, at most `limit`
/// (1 to 1000): the same cut-offs [`apply_retention_rules`] uses, computed for a later moment.
pub async fn preview(app: &App, actor: &Actor, within: Duration, limit: i64) -> Result<RetentionPreview, AppError> {
    actor.require(RETENTION_VIEWERS)?;
    let limit = limit.clamp(1, 1000);
    let now = OffsetDateTime::now_utc();
    let by = time::Duration::try_from(within)
        .ok()
        .and_then(|within| now.checked_add(within))
        .ok_or_else(|| AppError::invalid_field("within", "within is too far ahead"))?;
    let zone = &app.settings.rules.zone;
    let retention = app.settings.retention;
    let mut planned: std::collections::BTreeMap<String, PlannedDeletion> = Default::default();
    let mut truncated = false;
    for due in dues_by(app, by) {
        // One more than the limit, to know whether there were more.
        let candidates = app.store.retention_candidates(&due, limit + 1).await?;
        truncated |= candidates.len() as i64 > limit;
        for candidate in candidates.into_iter().take(limit as usize) {
            let uploaded_at = time_of_ms(candidate.uploaded_at);
            let (due_at, why) = match due.rule() {
                Rule::HeldPhoto => (
                    rules::held_photo_due(uploaded_at, false, retention.held_photo),
                    format!("never released since its upload on {}", iso_date(zone.date_of(uploaded_at))),
                ),
                Rule::AfterLeaving => {
                    let days = candidate.left_on.iter().filter_map(|d| parse_iso_date(d)).collect::<Vec<_>>();
                    let first = days.iter().min().copied();
                    (
                        rules::leaver_photo_due(days, retention.after_leaving, zone),
                        format!(
                            "a learner tagged in it left on {}",
                            first.map(iso_date).unwrap_or_else(|| "an unreadable date".into())
                        ),
                    )
                }
            };
            let Some(due_at) = due_at else { continue };
            let deletion = PlannedDeletion { photo_id: candidate.photo_id.clone(), rule: due.rule(), due_at, why };
            match planned.get(&candidate.photo_id) {
                Some(earlier) if earlier.due_at <= deletion.due_at => {}
                _ => {
                    planned.insert(candidate.photo_id, deletion);
                }
            }
        }
    }
    let mut deletions: Vec<PlannedDeletion> = planned.into_values().collect();
    deletions.sort_by(|a, b| (a.due_at, &a.photo_id).cmp(&(b.due_at, &b.photo_id)));
    truncated |= deletions.len() as i64 > limit;
    deletions.truncate(limit as usize);
    let mut erasures = Vec::new();
    if let Some(day) = rules::left_on_due_by(by, retention.learner_record_after_leaving, zone) {
        let leavers = app.store.leavers_left_by(&iso_date(day), limit + 1).await?;
        truncated |= leavers.len() as i64 > limit;
        for (learner_id, left_on) in leavers.into_iter().take(limit as usize) {
            let due_at = parse_iso_date(&left_on)
                .and_then(|d| rules::leaver_photo_due([d], retention.learner_record_after_leaving, zone));
            if let Some(due_at) = due_at {
                let images = app.store.kept_images_picturing(&learner_id, limit + 1).await?;
                truncated |= images.len() as i64 > limit;
                let images = images.into_iter().take(limit as usize).collect();
                erasures.push(PlannedErasure { learner_id, due_at, left_on, images });
            }
        }
    }
    Ok(RetentionPreview { deletions, erasures, truncated })
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
