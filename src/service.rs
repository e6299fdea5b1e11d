//! Start-up and serving: open the store and objects, migrate, sweep orphans, make the first
//! admin token, then serve until SIGTERM, letting in-flight uploads finish.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::objects::Objects;
use crate::store::{self, AuditDraft, Role, Store};
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

/// Opens the configured store and applies migrations.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    let store: Arc<dyn Store> = Arc::from(store::open(&settings.effective_database_url()).await?);
    store.migrate().await?;
    Ok(store)
}

/// Creates a token and audits it; returns the token to show once.
pub async fn create_token(store: &dyn Store, role: Role, name: &str, actor: &str) -> Result<String, store::StoreError> {
    let new = tokens::generate(role, name);
    let audit = AuditDraft::new(actor, "token_created", &new.record.id, serde_json::json!({ "role": role.as_str() }));
    store.create_token(&new.record, audit).await?;
    Ok(new.token)
}

/// Everything needed to serve, prepared.
pub struct Prepared {
    /// Handler state.
    pub state: AppState,
    /// The first admin token, when this start created it.
    pub initial_admin_token: Option<String>,
}

/// Opens everything, sweeps orphaned objects and makes the first admin token if there is none.
pub async fn prepare(settings: Settings) -> Result<Prepared, StartError> {
    let store = open_store(&settings).await?;
    let objects = Objects::open(&settings)?;
    let referenced: HashSet<String> = store.object_keys().await?.into_iter().collect();
    let swept = objects.sweep_orphans(&referenced, settings.sweep_grace).await?;
    if swept > 0 {
        tracing::warn!(swept, "removed objects left by interrupted uploads");
    }
    let initial_admin_token = if store.count_tokens(Role::Admin).await? == 0 {
        Some(create_token(store.as_ref(), Role::Admin, "initial admin", "system").await?)
    } else {
        None
    };
    let state = AppState {
        store,
        objects,
        scrub_permits: Arc::new(Semaphore::new(settings.scrub_concurrency)),
        settings: Arc::new(settings),
        metrics: metrics_handle(),
    };
    Ok(Prepared { state, initial_admin_token })
}

/// Serves on `listener` until `shutdown` completes; in-flight requests are allowed to finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown).await
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
    tracing::info!("shutting down; letting in-flight requests finish");
}

/// Binds the listen address.
pub async fn bind(settings: &Settings) -> Result<TcpListener, StartError> {
    TcpListener::bind(settings.listen).await.map_err(StartError::Listen)
}
