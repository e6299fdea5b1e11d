//! What happens with the passing of time, without anyone asking: statuses re-evaluated (a grant
//! expires, a learner turns 18 or leaves), deletions retried, the retention rules applied,
//! orphaned objects swept, expired sessions forgotten, and the audit head logged as an anchor.

use std::time::Duration;

use super::statuses::reevaluate_all;
use super::{chase, outbox, retention, App};
use crate::store::{now_ms, StoreError};

/// Whether the database answers, for `/healthz`.
pub async fn database_answers(app: &App) -> Result<(), StoreError> {
    app.store.ping().await
}

/// Logs the audit chain's head. Logs leave the machine; a head kept there is the anchor that
/// `audit verify --anchor` needs to detect rows cut from the end of the chain.
pub async fn log_audit_head(app: &App) {
    match app.store.audit_head().await {
        Ok((seq, hash)) => tracing::info!(anchor = %format!("{seq}:{hash}"), "audit head"),
        Err(e) => tracing::error!(error = %e, "cannot read the audit head"),
    }
}

/// Runs until `shutdown` completes: every [`Settings::maintenance_interval`] re-evaluates every
/// photo that is still held or queued, so that the passing of time (a grant's expiry, an 18th
/// birthday) holds or releases it without anyone asking, and retries image deletions; about
/// hourly, sweeps orphaned objects. On a shared store the first sweep comes as soon as the orphans
/// the start-up sweep had to spare are old enough, rather than an hour later. `on_tick` runs on
/// every pass, for the edges' own housekeeping (the withdrawal pages' rate-limit memory).
///
/// [`Settings::maintenance_interval`]: crate::config::Settings::maintenance_interval
pub async fn maintain(
    app: App,
    on_tick: impl Fn() + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    /// The periodic sweep runs while uploads are in flight in this very process, so it never
    /// uses a grace shorter than this, whatever the start-up sweep was given.
    const RUNNING_SWEEP_GRACE: Duration = Duration::from_secs(600);
    const SWEEP_EVERY: Duration = Duration::from_secs(3600);
    let running_grace = app.settings.sweep_grace.max(RUNNING_SWEEP_GRACE);
    let mut ticks = tokio::time::interval(app.settings.maintenance_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; start-up has just evaluated and swept.
    ticks.tick().await;
    // Sole owner: the start-up sweep left nothing. Shared: an orphan spared at start-up (any age
    // then) is at least `running_grace` old by this time, so this sweep removes it.
    let first_sweep = if app.settings.sole_owner() { SWEEP_EVERY } else { running_grace };
    let mut next_sweep = std::time::Instant::now() + first_sweep;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        match reevaluate_all(&app).await {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "statuses changed with the passing of time"),
            Err(e) => tracing::error!(error = %e, "periodic re-evaluation failed"),
        }
        // A retirement that failed just after a withdrawal (or a crash between the two) is done
        // here: nothing else would ever delete those images.
        match retention::retire_unusable_images(&app).await {
            Ok(0) => {}
            Ok(deleted) => tracing::warn!(deleted, "retired images left after a withdrawal"),
            Err(e) => tracing::error!(error = %e, "periodic image retirement failed"),
        }
        // An erasure cut short (a crash, a replica's death) is finished.
        match super::erasure::resume_erasures(&app).await {
            Ok(0) => {}
            Ok(finished) => tracing::warn!(finished, "finished erasures that had been cut short"),
            Err(e) => tracing::error!(error = %e, "cannot look for erasures under way"),
        }
        // Personal data no longer needed: leavers' records, after `learner_record_after_leaving`.
        match super::erasure::erase_leavers(&app).await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "retention rule erased leavers' records"),
            Err(e) => tracing::error!(error = %e, "applying learner_record_after_leaving failed"),
        }
        // Images no longer needed: never released within `held_photo`, or of a learner who left
        // longer than `after_leaving` ago.
        match retention::apply_retention_rules(&app).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention rules deleted images"),
            Err(e) => tracing::error!(error = %e, "applying the retention rules failed"),
        }
        // Reminders, renewals and 18th birthdays: consent never lapses without the family asked.
        chase::chase(&app).await;
        if let Err(e) = super::takedowns::tell_due(&app).await {
            tracing::error!(error = %e, "cannot queue the takedown notices");
        }
        outbox::measure_depth(&app).await;
        on_tick();
        // Sessions that ran out are refused already; this only keeps the table small.
        if let Err(e) = app.store.prune_sessions(now_ms()).await {
            tracing::error!(error = %e, "cannot prune expired sessions");
        }
        if std::time::Instant::now() >= next_sweep {
            next_sweep = std::time::Instant::now() + SWEEP_EVERY;
            log_audit_head(&app).await;
            if let Err(e) = retention::sweep_orphans(app.store.as_ref(), &app.objects, running_grace).await {
                tracing::error!(error = %e, "periodic sweep failed");
            }
            if let Err(e) = super::takedowns::sweep_small_copies(&app).await {
                tracing::error!(error = %e, "cannot sweep the takedowns' small copies");
            }
        }
    }
}
