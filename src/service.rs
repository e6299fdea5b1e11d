//! Start-up and serving, and nothing else: open the store and objects, migrate, lock the data
//! directory, sweep orphans, make the first admin token, then serve until SIGTERM, letting
//! in-flight uploads finish. What the service does is in [`crate::app`]; how it speaks HTTP, in
//! [`crate::http`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::app::{access, maintenance, outbox, retention, statuses, App, AppError};
use crate::config::Settings;
use crate::http::{self, HttpState};
use crate::objects::Objects;
use crate::store::{self, FullStore, Role};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The object store could not be opened or swept.
    #[error(transparent)]
    Objects(#[from] crate::objects::ObjectError),
    /// A start-up step of the application failed (the orphan sweep).
    #[error(transparent)]
    App(#[from] AppError),
    /// The listen address could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// The SMTP settings could not make a mailer.
    #[error("cannot set up mail: {0}")]
    Mail(#[from] crate::mail::MailError),
    /// The metrics address could not be bound.
    #[error("cannot listen for /metrics on {0}: {1} (choose another address with --metrics-listen)")]
    MetricsListen(std::net::SocketAddr, std::io::Error),
    /// No admin token is on record, but the file the first one would be written to exists: it is
    /// left from another database (or an interrupted start), and is not overwritten.
    #[error(
        "no admin token is on record, but {0} already exists (left from an earlier database or an interrupted \
         start): move it away and start again, and a new admin token will be written there"
    )]
    AdminTokenFileExists(String),
    /// The first admin token's file could not be written.
    #[error("cannot write the first admin token to {0}: {1}")]
    AdminTokenFile(String, std::io::Error),
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

/// Everything needed to serve, prepared.
pub struct Prepared {
    /// Handler state.
    pub state: HttpState,
    /// The first admin token, when this start created it (also written to
    /// [`Prepared::admin_token_file`]).
    pub initial_admin_token: Option<String>,
    /// The file the first admin token was written to (`DATA/admin-token`, mode 0600), when this
    /// start created it.
    pub admin_token_file: Option<std::path::PathBuf>,
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
/// [`maintenance::maintain`] sweeps again once they are old enough.
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
    retention::sweep_orphans(store.as_ref(), &objects, startup_sweep_grace(&settings)).await?;
    let (initial_admin_token, admin_token_file) = if store.count_tokens(Role::Admin).await? == 0 {
        let path = settings.data_dir.join(ADMIN_TOKEN_FILE);
        (Some(first_admin_token(store.as_ref(), &path).await?), Some(path))
    } else {
        (None, None)
    };
    let mailer = settings.mail.as_ref().map(crate::mail::Mailer::new).transpose()?;
    let mut app = App::new(store, objects, settings);
    if let Some(mailer) = mailer {
        app = app.with_mailer(mailer);
    }
    maintenance::log_audit_head(&app).await;
    // Time passed while the service was down: statuses catch up before the first request.
    let changed = statuses::reevaluate_all(&app).await?;
    if changed > 0 {
        tracing::info!(changed, "statuses changed while the service was stopped");
    }
    Ok(Prepared { state: HttpState::new(app, metrics_handle()), initial_admin_token, admin_token_file, data_dir_lock })
}

/// The file in the data directory the first admin token is written to.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Makes the first admin token and writes it to `path`, readable by this user only. The token
/// never goes to a log (under systemd or in a container, stdout is one): the file is created
/// exclusively (never following a link someone planted, never replacing a file) with mode 0600,
/// holds the token before the token is stored, and is removed again if storing fails, so a
/// failed start leaves neither a token without its file nor a file without its token. With
/// PostgreSQL and S3 the data directory exists for this file alone.
async fn first_admin_token(store: &dyn FullStore, path: &std::path::Path) -> Result<String, StartError> {
    use std::io::Write;
    let shown = path.display().to_string();
    let failed = |e: std::io::Error| StartError::AdminTokenFile(shown.clone(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StartError::AdminTokenFileExists(shown.clone()));
        }
        Err(e) => return Err(failed(e)),
    };
    let new = access::new_token(Role::Admin, "initial admin", None);
    let written = file.write_all(format!("{}\n", new.token).as_bytes()).and_then(|()| file.sync_all());
    let stored = match written {
        Ok(()) => access::store_token(store, &new, "system").await.map_err(StartError::from),
        Err(e) => Err(failed(e)),
    };
    if let Err(e) = stored {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(new.token)
}

/// Runs the maintenance loop of `state`'s application and its outbox sender until `shutdown`
/// completes, with the HTTP side's own housekeeping on each pass.
pub async fn maintain(state: HttpState, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
    use futures::FutureExt;
    let app = state.app.clone();
    let shutdown = shutdown.shared();
    let sender = outbox::run(app.clone(), shutdown.clone());
    let maintenance = maintenance::maintain(app, move || state.forget_idle_clients(), shutdown);
    futures::join!(sender, maintenance);
}

/// Serves on `listener` until `shutdown` completes; in-flight requests are then allowed to finish,
/// for at most [`Settings::shutdown_grace`]: after that the server returns anyway, so a client
/// that stalls mid-request cannot keep the process alive. Whatever was cut off is safe: an object
/// without its row is swept at the next start.
///
/// Connections are served under [`crate::config::Connections`]' timeouts and cap (see
/// [`http::conn`]); the soft open-file limit is raised to the hard one first, and the cap kept
/// below it.
pub async fn serve(
    state: HttpState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = state.app.settings.clone();
    let open_files = raise_open_file_limit();
    let configured = settings.connections.max_connections;
    let cap = http::conn::connection_cap(open_files, configured);
    if configured.is_some_and(|c| c > cap) {
        tracing::warn!(max_connections = cap, open_files, "max_connections lowered to what the open-file limit allows");
    }
    tracing::info!(max_connections = cap, open_files, "connections");
    http::conn::serve(http::router(state), listener, &settings.connections, cap, settings.shutdown_grace, shutdown)
        .await;
    Ok(())
}

/// Raises the soft limit on open files to the hard one, so connections are bounded by the cap
/// rather than by a low default (often 1024), and returns the soft limit now in effect; `None`
/// when it cannot be read.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given, which lives on this stack frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct. Where the hard limit is "unlimited" (macOS) it
        // fails, and the soft limit stays as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(limit.rlim_cur as u64)
}

/// Raises the soft limit on open files where there is one; elsewhere there is nothing to raise.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
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

/// Binds the metrics address ([`Settings::metrics_listen`]).
pub async fn bind_metrics(settings: &Settings) -> Result<TcpListener, StartError> {
    TcpListener::bind(settings.metrics_listen).await.map_err(|e| StartError::MetricsListen(settings.metrics_listen, e))
}

/// Serves `/metrics` (and nothing else) on `listener` until `shutdown` completes. Kept apart from
/// [`serve`]: the public listener answers 404 for `/metrics`, and this one is meant for loopback
/// or a private network, where the scraper is the only client.
pub async fn serve_metrics(
    state: HttpState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::metrics_router(state)).with_graceful_shutdown(shutdown).await
}
