//! "Where was my child's photo used?": a learner's photos, where each was published, and the
//! takedowns owed for them, in the order they happened, for the learner's page.

use super::{Actor, App, AppError};
use crate::policy::Purpose;

/// Most photos a timeline covers (the newest): a learner in more has the audit log's CSV.
pub const MOST_PHOTOS: usize = 200;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// The photo was uploaded, with this caption.
    Uploaded {
        /// Its caption now.
        caption: String,
    },
    /// It was published.
    Published {
        /// For which use.
        purpose: Purpose,
        /// The URL, when there is one.
        url: String,
        /// The channel, or where it went offline.
        channel: String,
    },
    /// A takedown became owed for a publication.
    TakedownOwed {
        /// The URL it must come down from.
        url: String,
        /// The channel.
        channel: String,
        /// When it was confirmed down, if it was.
        done_at: Option<i64>,
    },
    /// The image was deleted (after a "no", or by retention).
    ImageDeleted,
}

/// One thing that happened to a photo of the learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// When, Unix ms.
    pub at: i64,
    /// The photo.
    pub photo_id: String,
    /// What.
    pub happened: Happened,
}

/// The timeline of the photos of `learner_id`, newest first. Reading it is not audited apart from
/// the learner page's own read.
pub async fn of_learner(app: &App, actor: &Actor, learner_id: &str) -> Result<Vec<TimelineEntry>, AppError> {
    actor.require(super::learners::MANAGERS)?;
    let learner_id = super::input::path_id(learner_id, "learner")?;
    let photos = app.store.photos_picturing(&learner_id).await?;
    let newest = photos.len().saturating_sub(MOST_PHOTOS);
    let mut entries = Vec::new();
    for photo_id in &photos[newest..] {
        let Some(photo) = app.store.photo(photo_id).await? else { continue };
        let entry = |at: i64, happened: Happened| TimelineEntry { at, photo_id: photo_id.clone(), happened };
        entries.push(entry(photo.created_at, Happened::Uploaded { caption: photo.caption.clone() }));
        if let Some(at) = photo.image_deleted_at {
            entries.push(entry(at, Happened::ImageDeleted));
        }
        for p in app.store.publications_of(photo_id).await? {
            entries.push(entry(
                p.published_at,
                Happened::Published { purpose: p.purpose, url: p.url, channel: p.channel },
            ));
        }
        for t in app.store.takedowns_of(photo_id).await? {
            let happened = Happened::TakedownOwed { url: t.url, channel: t.channel, done_at: t.done_at };
            entries.push(entry(t.created_at, happened));
        }
    }
    entries.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.photo_id.cmp(&b.photo_id)));
    Ok(entries)
}
