//! Start-up and serving: open the store and objects, migrate, sweep orphans, make the first
//! admin token, then serve until SIGTERM, letting in-flight uploads finish.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::objects::Objects;
use crate::policy::consent::Rules;
use crate::roster;
use crate::store::{self, AuditDraft, Evaluation, FullStore, GuardianRecord, ImportSummary, LearnerRecord, Role};
use crate::tokens;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The object store could not be opened or swept.
    #[error(transparent)]
    Objects(#[from] crate::objects::ObjectError),
    /// The listen address could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// Another `consentgate serve` already owns this data directory (SQLite and local files).
    #[error("another consentgate serve is already using {0}: stop it first (one process owns a data directory)")]
    DataDirInUse(String),
    /// The data directory's lock file could not be opened or locked.
    #[error("cannot lock the data directory {0}: {1}")]
    DataDirLock(String, std::io::Error),
    /// A command that uses a database was pointed at one that does not exist.
    #[error(
        "no database at {0}: check --data (or DATABASE_URL), or create one with `consentgate migrate` or `consentgate serve`"
    )]
    NoDatabase(String),
}

/// The process-wide Prometheus recorder (metrics macros record into a global).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("consentgate_scrub_seconds".into()),
                    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                .expect("valid buckets")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Opens the configured store and applies migrations, creating an SQLite database (and its
/// directory) when there is none: for `serve` and `migrate`, the commands that set a store up.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn FullStore>, StartError> {
    let store: Arc<dyn FullStore> = Arc::from(store::open(&settings.effective_database_url()).await?);
    store.migrate().await?;
    Ok(store)
}

/// Opens a store that must already exist, never creating one: for the commands that only use a
/// store (`token create`, `learners import`, `audit verify`). A mistyped `--data` would otherwise
/// create a new, empty database there and report success on it. With `migrate`, pending
/// migrations are applied to the existing database (an upgrade); without, nothing is written.
pub async fn open_existing_store(settings: &Settings, migrate: bool) -> Result<Arc<dyn FullStore>, StartError> {
    let url = settings.effective_database_url();
    if let Some(path) = sqlite_file(&url) {
        if !path.is_file() {
            return Err(StartError::NoDatabase(path.display().to_string()));
        }
    }
    // PostgreSQL never creates a database on connect: a wrong name fails here by itself.
    let store: Arc<dyn FullStore> = Arc::from(store::open(&url).await?);
    if migrate {
        store.migrate().await?;
    }
    Ok(store)
}

/// The file an SQLite URL names; `None` for PostgreSQL and in-memory databases.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty() && path.as_os_str() != ":memory:").then(|| path.to_path_buf())
}

/// Creates a token and audits it; returns the token to show once.
pub async fn create_token(
    store: &dyn FullStore,
    role: Role,
    name: &str,
    actor: &str,
) -> Result<String, store::StoreError> {
    let new = tokens::generate(role, name);
    // The holder's name is a member of staff's, never a learner's: it may be in the audit log, and
    // is what makes the row useful to whoever reads it.
    let audit = AuditDraft::new(
        actor,
        "token_created",
        &new.record.id,
        serde_json::json!({ "role": role.as_str(), "name": name }),
    );
    store.create_token(&new.record, audit).await?;
    Ok(new.token)
}

/// Removes objects that no photo refers to and that are older than `grace`, and the staging
/// files of interrupted local writes. Each candidate is checked against the database just before
/// it goes, after the listing, so an upload committed meanwhile keeps its object. Returns how many
/// went.
pub async fn sweep_orphans(store: &dyn FullStore, objects: &Objects, grace: Duration) -> Result<usize, StartError> {
    let mut swept = objects.sweep_staging_files(grace)?;
    for key in objects.sweep_candidates(grace).await? {
        if !store.object_in_use(&key).await? {
            objects.delete(&key).await?;
            swept += 1;
        }
    }
    if swept > 0 {
        tracing::warn!(swept, "removed objects left by interrupted or failed uploads");
    }
    Ok(swept)
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file has bad lines; each is named.
    #[error("{} bad lines in the file", .0.len())]
    Lines(Vec<roster::LineError>),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Parses an MIS export and imports it, all or nothing (on a dry run, nothing at all): the one
/// path shared by `POST /api/v1/learners/import` and `consentgate learners import`.
pub async fn import_learners(
    store: &dyn FullStore,
    csv: &[u8],
    actor: &str,
    dry_run: bool,
    rules: Rules,
) -> Result<ImportSummary, ImportError> {
    let now = time::OffsetDateTime::now_utc();
    let drafts = roster::parse_mis_csv(csv, now.date()).map_err(ImportError::Lines)?;
    let at = store::now_ms();
    let learners: Vec<LearnerRecord> = drafts
        .into_iter()
        .map(|d| LearnerRecord {
            id: uuid::Uuid::now_v7().to_string(),
            given_name: d.given_name,
            family_name: d.family_name,
            preferred_name: d.preferred_name,
            date_of_birth: d.date_of_birth,
            external_ref: Some(d.external_ref),
            guardians: d
                .guardians
                .into_iter()
                .map(|g| GuardianRecord { id: uuid::Uuid::now_v7().to_string(), name: g.name, email: g.email })
                .collect(),
            created_at: at,
            updated_at: at,
        })
        .collect();
    // No index is built here: one built before the import would hold the old names. The store
    // re-evaluates with an index built from the table as imported, inside the import's transaction.
    let eval = Evaluation { at: now, live: true, rules, actor: actor.to_string(), names: Default::default() };
    let summary = store.import_learners(&learners, eval, dry_run).await?;
    tracing::info!(
        dry_run,
        created = summary.created,
        updated = summary.updated,
        unchanged = summary.unchanged,
        "learners imported"
    );
    Ok(summary)
}

/// Everything needed to serve, prepared.
pub struct Prepared {
    /// Handler state.
    pub state: AppState,
    /// The first admin token, when this start created it.
    pub initial_admin_token: Option<String>,
    /// With SQLite and local files: the exclusive lock on the data directory, held for as long as
    /// this value lives (the operating system releases it if the process dies).
    pub data_dir_lock: Option<std::fs::File>,
}

/// Takes the exclusive lock on `DATA/serve.lock`. The start-up sweep of a sole owner deletes every
/// object without a row, which is only safe when no other process is mid-upload in the same
/// directory: a second `serve` started by mistake must stop here, before it sweeps.
fn lock_data_dir(settings: &Settings) -> Result<std::fs::File, StartError> {
    let dir = settings.data_dir.display().to_string();
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| StartError::DataDirLock(dir.clone(), e))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(settings.data_dir.join("serve.lock"))
        .map_err(|e| StartError::DataDirLock(dir.clone(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::DataDirInUse(dir)),
        Err(std::fs::TryLockError::Error(e)) => Err(StartError::DataDirLock(dir, e)),
    }
}

/// The grace of the start-up sweep. With SQLite and the local file system one process owns the
/// data, and this one has not started serving yet, so no upload can be between its object and its
/// row: every orphan goes now (a grace would let the orphans of a crash outlive the restart). With
/// a shared database or bucket another replica may be mid-upload, so young objects are spared and
/// [`maintain`] sweeps again once they are old enough.
pub fn startup_sweep_grace(settings: &Settings) -> Duration {
    if settings.sole_owner() {
        Duration::ZERO
    } else {
        settings.sweep_grace
    }
}

/// Opens everything, sweeps orphaned objects and makes the first admin token if there is none.
pub async fn prepare(settings: Settings) -> Result<Prepared, StartError> {
    let data_dir_lock = if settings.sole_owner() { Some(lock_data_dir(&settings)?) } else { None };
    let store = open_store(&settings).await?;
    let objects = Objects::open(&settings)?;
    sweep_orphans(store.as_ref(), &objects, startup_sweep_grace(&settings)).await?;
    let initial_admin_token = if store.count_tokens(Role::Admin).await? == 0 {
        Some(create_token(store.as_ref(), Role::Admin, "initial admin", "system").await?)
    } else {
        None
    };
    let state = AppState {
        store,
        objects,
        scrub_permits: Arc::new(Semaphore::new(settings.scrub_concurrency)),
        upload_permits: Arc::new(Semaphore::new(settings.upload_concurrency())),
        settings: Arc::new(settings),
        metrics: metrics_handle(),
        withdraw_limiter: http::withdraw_limiter(),
        names: Default::default(),
    };
    log_audit_head(&state).await;
    // Time passed while the service was down: statuses catch up before the first request.
    let changed = reevaluate_all(&state).await?;
    if changed > 0 {
        tracing::info!(changed, "statuses changed while the service was stopped");
    }
    Ok(Prepared { state, initial_admin_token, data_dir_lock })
}

/// Runs until `shutdown` completes: every [`Settings::maintenance_interval`] re-evaluates every
/// photo that is still held or queued, so that the passing of time (a grant's expiry, an 18th
/// birthday) holds or releases it without anyone asking; about hourly, sweeps orphaned objects.
/// On a shared store the first sweep comes as soon as the orphans the start-up sweep had to spare
/// are old enough, rather than an hour later.
pub async fn maintain(state: AppState, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
    /// The periodic sweep runs while uploads are in flight in this very process, so it never
    /// uses a grace shorter than this, whatever the start-up sweep was given.
    const RUNNING_SWEEP_GRACE: Duration = Duration::from_secs(600);
    const SWEEP_EVERY: Duration = Duration::from_secs(3600);
    let running_grace = state.settings.sweep_grace.max(RUNNING_SWEEP_GRACE);
    let mut ticks = tokio::time::interval(state.settings.maintenance_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; start-up has just evaluated and swept
                        // Sole owner: the start-up sweep left nothing. Shared: an orphan spared at start-up (any age
                        // then) is at least `running_grace` old by this time, so this sweep removes it.
    let first_sweep = if state.settings.sole_owner() { SWEEP_EVERY } else { running_grace };
    let mut next_sweep = std::time::Instant::now() + first_sweep;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        match reevaluate_all(&state).await {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "statuses changed with the passing of time"),
            Err(e) => tracing::error!(error = %e, "periodic re-evaluation failed"),
        }
        // A retirement that failed just after a withdrawal (or a crash between the two) is done
        // here: nothing else would ever delete those images.
        match http::retire_unusable_images(&state).await {
            Ok(0) => {}
            Ok(deleted) => tracing::warn!(deleted, "retired images left after a withdrawal"),
            Err(e) => tracing::error!(error = %e, "periodic image retirement failed"),
        }
        // Forget the withdrawal pages' rate-limit state of addresses not seen lately, so the map
        // cannot grow without bound.
        state.withdraw_limiter.retain_recent();
        // Sessions that ran out are refused already; this only keeps the table small.
        if let Err(e) = state.store.prune_sessions(crate::store::now_ms()).await {
            tracing::error!(error = %e, "cannot prune expired sessions");
        }
        if std::time::Instant::now() >= next_sweep {
            next_sweep = std::time::Instant::now() + SWEEP_EVERY;
            log_audit_head(&state).await;
            if let Err(e) = sweep_orphans(state.store.as_ref(), &state.objects, running_grace).await {
                tracing::error!(error = %e, "periodic sweep failed");
            }
        }
    }
}

/// Logs the audit chain's head. Logs leave the machine; a head kept there is the anchor that
/// `audit verify --anchor` needs to detect rows cut from the end of the chain.
pub async fn log_audit_head(state: &AppState) {
    match state.store.audit_head().await {
        Ok((seq, hash)) => tracing::info!(anchor = %format!("{seq}:{hash}"), "audit head"),
        Err(e) => tracing::error!(error = %e, "cannot read the audit head"),
    }
}

/// Re-evaluates every held or queued photo now, a page at a time (each page one transaction, so
/// uploads and consent are never blocked for long). Returns how many statuses changed.
pub async fn reevaluate_all(state: &AppState) -> Result<usize, store::StoreError> {
    const PAGE: i64 = 200;
    let mut after = String::new();
    let mut changed = 0;
    loop {
        let ids = state.store.live_photo_ids(&after, PAGE).await?;
        let Some(last) = ids.last() else { return Ok(changed) };
        after = last.clone();
        changed += state.store.reevaluate(&ids, state.evaluation("system").await?).await?.len();
        metrics::counter!("consentgate_reevaluated_photos_total").increment(ids.len() as u64);
    }
}

/// Serves on `listener` until `shutdown` completes; in-flight requests are then allowed to finish,
/// for at most [`Settings::shutdown_grace`]: after that the server returns anyway, so a client
/// that stalls mid-request cannot keep the process alive. Whatever was cut off is safe: an object
/// without its row is swept at the next start.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.settings.shutdown_grace;
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        let _ = signalled_tx.send(());
    };
    // The peer address keys the withdrawal pages' rate limit.
    let server =
        axum::serve(listener, http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(shutdown);
    let deadline = async move {
        match signalled_rx.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended without a signal (an error): it is returning by itself.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = std::future::IntoFuture::into_future(server) => result,
        () = deadline => {
            tracing::warn!(grace_seconds = grace.as_secs(), "requests still running at the shutdown deadline were cut off");
            Ok(())
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutting down; letting in-flight requests finish (up to the shutdown grace)");
}

/// Binds the listen address.
pub async fn bind(settings: &Settings) -> Result<TcpListener, StartError> {
    TcpListener::bind(settings.listen).await.map_err(StartError::Listen)
}
