//! Re-evaluating every live photo's status: at start, on every maintenance pass, and soon after a
//! learner change (apart from the maintenance loop, which the learner use cases must not import:
//! the loop asks for consent through them).

use super::App;
use crate::store::StoreError;

/// Re-evaluates every held or queued photo now, a page at a time (each page one transaction, so
/// uploads and consent are never blocked for long). Returns how many statuses changed.
pub async fn reevaluate_all(app: &App) -> Result<usize, StoreError> {
    const PAGE: i64 = 200;
    let mut after = String::new();
    let mut changed = 0;
    loop {
        let ids = app.store.live_photo_ids(&after, PAGE).await?;
        let Some(last) = ids.last() else { return Ok(changed) };
        after = last.clone();
        changed += app.store.reevaluate(&ids, app.evaluation("system").await?).await?.len();
        metrics::counter!("consentgate_reevaluated_photos_total").increment(ids.len() as u64);
    }
}

/// Re-evaluates every live photo in the background: after a learner is added or renamed, a caption
/// may now name someone. Claims and downloads re-check anyway; this only keeps the statuses shown
/// current sooner than the next maintenance pass, so losing it (a crash) loses nothing.
pub fn refresh_statuses_soon(app: &App) {
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = reevaluate_all(&app).await {
            tracing::error!(error = %e, "re-evaluation after a learner change failed");
        }
    });
}
