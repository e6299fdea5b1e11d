//! Real backends for service tests: SQLite in a temp dir or a fresh PostgreSQL database, the local
//! file system or a real S3-compatible server (moto) on loopback; the real server on an ephemeral
//! port.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use consentgate::config::{S3Settings, Settings};
use consentgate::media::Limits;
use consentgate::objects::Objects;
use consentgate::service;
use consentgate::store::{FullStore, Role};
use sqlx::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// SQLite in the test's data directory.
    Sqlite,
    /// A fresh database on the machine's PostgreSQL server.
    Postgres,
}

/// Which object store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blobs {
    /// The data directory.
    Fs,
    /// A fresh bucket on the moto S3 server.
    S3,
}

/// The PostgreSQL server tests use (`CONSENTGATE_TEST_PG`, default the local trust-auth server).
pub fn pg_server() -> String {
    std::env::var("CONSENTGATE_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Creates an empty database and returns its URL.
pub async fn fresh_pg_database() -> String {
    let name = format!("cg_test_{}", uuid::Uuid::new_v4().simple());
    let admin = format!("{}/postgres", pg_server());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin} ({e}); run scripts/setup"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    format!("{}/{name}", pg_server())
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The moto S3 server of this test process, started on first use and stopped when the process
/// ends (a shell loop watches our pid).
pub fn moto_endpoint() -> String {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            let port = free_port();
            let script = format!(
                "python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
                 while kill -0 {pid} 2>/dev/null; do sleep 1; done; kill $m",
                pid = std::process::id()
            );
            // The watcher outlives this process on purpose (it stops moto when we are gone), so it
            // is never waited for.
            #[allow(clippy::zombie_processes)]
            Command::new("bash").args(["-c", &script]).spawn().expect("bash runs");
            let endpoint = format!("http://127.0.0.1:{port}");
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return endpoint;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            panic!("moto_server did not start on port {port}; run scripts/setup (pip install 'moto[server]')");
        })
        .clone()
}

/// Creates a fresh bucket on moto and returns S3 settings for it.
pub async fn fresh_bucket() -> S3Settings {
    let endpoint = moto_endpoint();
    let bucket = format!("cg-test-{}", uuid::Uuid::new_v4().simple());
    let response = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(response.status().is_success(), "bucket creation failed: {}", response.status());
    S3Settings {
        endpoint: Some(endpoint),
        bucket,
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        path_style: true,
    }
}

/// Settings for a test: a temp data dir and the chosen backends.
pub async fn settings(db: Db, blobs: Blobs, data_dir: PathBuf) -> Settings {
    Settings {
        data_dir,
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        database_url: match db {
            Db::Sqlite => None,
            Db::Postgres => Some(fresh_pg_database().await),
        },
        s3: match blobs {
            Blobs::Fs => None,
            Blobs::S3 => Some(fresh_bucket().await),
        },
        limits: Limits::default(),
        scrub_concurrency: 2,
        memory_budget_mib: 512,
        sweep_grace: Duration::ZERO,
        shutdown_grace: Duration::from_secs(30),
        // Set once the port is known.
        public_url: String::new(),
        maintenance_interval: Duration::from_secs(60),
        takedown_overdue_after: Duration::from_secs(24 * 3600),
        rules: Default::default(),
        organisation_name: None,
        organisation_contact: None,
        connections: Default::default(),
        trusted_proxies: Vec::new(),
        mail: None,
        requests: Default::default(),
        consent_form: Default::default(),
        retention: Default::default(),
    }
}

/// A running server and handles on what it stores.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `http://127.0.0.1:PORT` of the metrics listener (`/metrics` is not on `base`).
    pub metrics_base: String,
    /// The admin token made at first start.
    pub admin: String,
    /// The database, for counting and inspecting.
    pub store: Arc<dyn FullStore>,
    /// The object store, for counting.
    pub objects: Objects,
    /// The settings it runs with.
    pub settings: Settings,
    /// HTTP client.
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on the given backends.
    pub async fn start(db: Db, blobs: Blobs) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(db, blobs, dir.path().join("data")).await;
        Self::start_with(settings, dir).await
    }

    /// Starts a server on the given backends with settings adjusted by `adjust`.
    pub async fn start_adjusted(db: Db, blobs: Blobs, adjust: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings(db, blobs, dir.path().join("data")).await;
        adjust(&mut settings);
        Self::start_with(settings, dir).await
    }

    /// Starts a server with explicit settings, keeping `dir` alive as long as it runs.
    pub async fn start_with(mut settings: Settings, dir: tempfile::TempDir) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        if settings.public_url.is_empty() {
            settings.public_url = base.clone();
        }
        let metrics_listener = service::bind_metrics(&settings).await.unwrap();
        let metrics_base = format!("http://{}", metrics_listener.local_addr().unwrap());
        let prepared = service::prepare(settings.clone()).await.unwrap();
        let admin = prepared.initial_admin_token.clone().expect("a fresh store gets an admin token");
        let store = prepared.state.app.store.clone();
        let objects = prepared.state.app.objects.clone();
        tokio::spawn(service::maintain(prepared.state.clone(), std::future::pending()));
        tokio::spawn(service::serve_metrics(prepared.state.clone(), metrics_listener, std::future::pending()));
        tokio::spawn(service::serve(prepared.state, listener, std::future::pending()));
        TestServer { base, metrics_base, admin, store, objects, settings, client: reqwest::Client::new(), _dir: dir }
    }

    /// A new token of `role`.
    pub async fn token(&self, role: Role) -> String {
        consentgate::app::access::create_token(self.store.as_ref(), role, "test user", "test").await.unwrap()
    }

    /// Table row counts plus the number of stored objects, to prove a failure stored nothing.
    pub async fn snapshot(&self) -> std::collections::BTreeMap<String, i64> {
        let mut counts = self.store.table_counts().await.unwrap();
        counts.insert("objects".into(), self.objects.list_photos().await.unwrap().len() as i64);
        counts
    }

    /// Uploads `bytes` as `filename` with the given extra text fields (see [`super::api::send_upload`]).
    /// Asserts nothing; returns the response.
    pub async fn upload(
        &self,
        token: &str,
        filename: &str,
        bytes: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        super::api::send_upload(&self.client, &self.base, token, filename, bytes, fields).await.unwrap()
    }
}
