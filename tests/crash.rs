//! A server killed with SIGKILL in the middle of a batch of uploads, then restarted: no row without
//! its object, no object without its row, and the audit chain verifies.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::{send_upload, stalled_upload};
use common::process::{command, start};
use common::server::{fresh_bucket, fresh_pg_database};

/// Distinct photos (distinct originals, distinct scrubbed bytes), each about 200 KB.
fn photo(i: usize) -> Vec<u8> {
    common::fixtures::encode_jpeg(&common::fixtures::picture(1200 + i as u32, 900), 90)
}

/// The form of every upload here: a photo for the website.
const WEBSITE: &[(&str, &str)] = &[("purposes", "website")];

async fn crash_and_recover(backend_args: Vec<String>) {
    let mut server = start(&backend_args);
    let admin = server.admin_token(Duration::from_secs(10)).expect("first start writes the admin token");
    let client = reqwest::Client::new();
    let created = Arc::new(AtomicUsize::new(0));
    let photos: Arc<Vec<Vec<u8>>> = Arc::new((0..64).map(photo).collect());

    // Eight clients upload in parallel; the server is killed once a few uploads have landed.
    let mut clients = Vec::new();
    for c in 0..8 {
        let (client, base, admin, created, photos) =
            (client.clone(), server.base.clone(), admin.clone(), created.clone(), photos.clone());
        clients.push(tokio::spawn(async move {
            for i in (c..photos.len()).step_by(8) {
                match send_upload(&client, &base, &admin, "x.jpg", photos[i].clone(), WEBSITE).await {
                    Ok(r) if r.status() == 201 => {
                        created.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    while created.load(Ordering::SeqCst) < 6 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let landed = created.load(Ordering::SeqCst);
    assert!(landed < photos.len(), "the kill came too late to interrupt anything");

    // Restart on the same data, with the default sweep settings: the sweep removes objects whose
    // rows never committed.
    let mut restarted = start(&backend_args);
    assert!(restarted.printed_token(Duration::from_millis(500)).is_none(), "a restart printed a token");
    let settings = consentgate::config::Settings::resolve(&overrides(&backend_args)).unwrap();
    let store = consentgate::service::open_store(&settings).await.unwrap();
    let admins = store.count_tokens(consentgate::store::Role::Admin).await.unwrap();
    assert_eq!(admins, 1, "a restart made a second admin token");
    let objects = consentgate::objects::Objects::open(&settings).unwrap();
    let rows: HashSet<String> = store.object_keys().await.unwrap().into_iter().collect();
    let stored: HashSet<String> = objects.list_photos().await.unwrap().into_iter().map(|(k, _)| k).collect();
    assert!(rows.len() >= landed, "{} rows for {landed} acknowledged uploads", rows.len());
    if settings.sole_owner() {
        assert_eq!(rows, stored, "rows and objects disagree after the restart");
    } else {
        // Shared stores: another replica could be mid-upload, so the start-up sweep spares young
        // objects until a sweep one grace later. Every row has its object; what is left over is
        // only orphans, which a sweep with no grace (the one due later) removes.
        assert!(rows.is_subset(&stored), "rows without their object after the restart");
        consentgate::app::retention::sweep_orphans(store.as_ref(), &objects, Duration::ZERO).await.unwrap();
        let stored: HashSet<String> = objects.list_photos().await.unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(rows, stored, "objects left over that rows refer to");
    }
    // A write killed mid-way on the local backend leaves a `<key>#<n>` staging file that listing
    // does not show; the sweep removes those too.
    let staging_dir = settings.data_dir.join("objects").join("photos");
    let staging: Vec<_> = std::fs::read_dir(&staging_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).filter(|n| n.to_string_lossy().contains('#')).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "staging files left after the sweep: {staging:?}");
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();

    let verify = command().args(&backend_args).args(["audit", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}

/// The command-line flags a backend list stands for, as settings overrides.
fn overrides(args: &[String]) -> consentgate::config::Overrides {
    let mut o = consentgate::config::Overrides::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().cloned();
        match flag.as_str() {
            "--data" => o.data = value.map(Into::into),
            "--database-url" => o.database_url = value,
            "--s3-bucket" => o.s3_bucket = value,
            "--s3-endpoint" => o.s3_endpoint = value,
            "--s3-access-key-id" => o.s3_access_key_id = value,
            "--s3-secret-access-key" => o.s3_secret_access_key = value,
            "--s3-path-style" => o.s3_path_style = value.map(|v| v == "true"),
            "--shutdown-grace-seconds" => o.shutdown_grace_seconds = value.map(|v| v.parse().unwrap()),
            other => panic!("unexpected flag {other}"),
        }
    }
    o
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_and_files_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    crash_and_recover(vec!["--data".into(), dir.path().display().to_string()]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_and_s3_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = fresh_bucket().await;
    crash_and_recover(common::process::shared_backend_args(dir.path(), &fresh_pg_database().await, &s3)).await;
}

/// SIGTERM while uploads are in flight: every request the server had begun completes with 201,
/// the process exits cleanly, and every 201 is stored.
///
/// A request sent in the last instant before the signal may meet a listener that is already
/// closing (refused, or reset on a connection the kernel had queued but the server never read);
/// that is not a cut-off. So a failure counts as a cut-off when its request started well before
/// the signal (`MARGIN`), by which time the server was reading it: each upload takes several times
/// longer than that here, so a server that aborted its in-flight work would fail this test.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_uploads_finish() {
    const MARGIN: Duration = Duration::from_millis(20);
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["--data".to_string(), dir.path().display().to_string()];
    let mut server = start(&args);
    let admin = server.admin_token(Duration::from_secs(10)).expect("first start writes the admin token");
    // No connection reuse: each upload is one connection, so "begun" means "accepted".
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let created = Arc::new(AtomicUsize::new(0));
    let signalled: Arc<std::sync::OnceLock<Instant>> = Arc::new(std::sync::OnceLock::new());
    // (started, finished) of every upload, and the start of every one that failed.
    let finished: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let failed: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    // Photos large enough (4 MP) that each upload takes several times MARGIN with eight at once.
    let photos: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..32u32).map(|i| common::fixtures::encode_jpeg(&common::fixtures::picture(2400 + i, 1800), 90)).collect(),
    );
    let mut clients = Vec::new();
    for c in 0..8 {
        let (client, base, admin, created, finished, failed, photos) = (
            client.clone(),
            server.base.clone(),
            admin.clone(),
            created.clone(),
            finished.clone(),
            failed.clone(),
            photos.clone(),
        );
        clients.push(tokio::spawn(async move {
            for i in (c..photos.len()).step_by(8) {
                let started = Instant::now();
                match send_upload(&client, &base, &admin, "x.jpg", photos[i].clone(), WEBSITE).await {
                    Ok(r) if r.status() == 201 => {
                        created.fetch_add(1, Ordering::SeqCst);
                        finished.lock().unwrap().push((started, Instant::now()));
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(e) => {
                        failed.lock().unwrap().push((started, format!("{e:?}")));
                        return;
                    }
                }
            }
        }));
    }
    while created.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    signalled.set(Instant::now()).unwrap();
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    for c in clients {
        c.await.unwrap();
    }
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "the server did not exit cleanly: {exit:?}");

    let signal = *signalled.get().unwrap();
    let cut_off: Vec<_> =
        failed.lock().unwrap().iter().filter(|(started, _)| *started + MARGIN < signal).cloned().collect();
    assert!(cut_off.is_empty(), "uploads begun before SIGTERM were cut off: {cut_off:?}");
    // The test proves something only if uploads were in flight when the signal came.
    let spanning = finished.lock().unwrap().iter().filter(|(s, f)| *s + MARGIN < signal && *f > signal).count();
    assert!(spanning > 0, "no upload was in flight at SIGTERM; the test did not exercise shutdown");

    let settings = consentgate::config::Settings::resolve(&overrides(&args)).unwrap();
    let store = consentgate::service::open_store(&settings).await.unwrap();
    assert_eq!(store.table_counts().await.unwrap()["photos"], created.load(Ordering::SeqCst) as i64);
}

/// The orphans a crash leaves (a published object whose row never committed, and a local staging
/// file of a write cut short), seconds old as they are when a service is restarted at once, are
/// gone after a restart with the default settings: SQLite with local files needs no grace. The
/// photo that did commit keeps its object.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_default_settings_removes_young_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["--data".to_string(), dir.path().display().to_string()];
    let mut server = start(&args);
    let admin = server.admin_token(Duration::from_secs(10)).expect("first start writes the admin token");
    let response =
        send_upload(&reqwest::Client::new(), &server.base, &admin, "x.jpg", photo(0), WEBSITE).await.unwrap();
    assert_eq!(response.status(), 201);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let photos = dir.path().join("objects").join("photos");
    let orphan = photos.join(format!("{}.jpg", "ab".repeat(32)));
    let staging = photos.join(format!("{}.jpg#3", "cd".repeat(32)));
    std::fs::write(&orphan, b"an object whose row never committed").unwrap();
    std::fs::write(&staging, b"half an object").unwrap();

    let mut restarted = start(&args);
    let (orphan_left, staging_left) = (orphan.exists(), staging.exists());
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    assert!(!orphan_left, "an orphaned object survived the restart");
    assert!(!staging_left, "a staging file survived the restart");
    let settings = consentgate::config::Settings::resolve(&overrides(&args)).unwrap();
    let store = consentgate::service::open_store(&settings).await.unwrap();
    let keys = store.object_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(dir.path().join("objects").join(&keys[0]).is_file(), "the committed photo lost its object");
}

/// With SQLite and local files the start-up sweep takes every orphan, which is only safe while one
/// process owns the directory: a second `serve` started on it by mistake (another port) must stop
/// before it sweeps, leaving what the first one is writing alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_serve_on_the_same_data_directory_stops_before_sweeping() {
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["--data".to_string(), dir.path().display().to_string()];
    let mut first = start(&args);
    first.admin_token(Duration::from_secs(10)).expect("first start writes the admin token");
    // As if the first server were between writing an upload's object and committing its row.
    let photos = dir.path().join("objects").join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let in_flight = photos.join(format!("{}.jpg", "ee".repeat(32)));
    std::fs::write(&in_flight, b"an upload the first server is about to commit").unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut second = common::process::command()
        .args(&args)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CONSENTGATE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Without the lock it would sweep, then serve on its own port until killed: give it a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while second.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if second.try_wait().unwrap().is_none() {
        second.kill().unwrap();
    }
    let second = second.wait_with_output().unwrap();
    let in_flight_left = in_flight.exists();
    let first_alive = first.child.try_wait().unwrap().is_none();
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second serve started: {stderr}");
    assert!(stderr.contains("already using"), "{stderr}");
    assert!(in_flight_left, "the second serve swept the first one's upload");
    assert!(first_alive, "the first serve stopped");

    // Once the first has stopped, the directory is free again (the lock dies with the process).
    let mut again = start(&args);
    assert!(!in_flight.exists(), "a restart as sole owner sweeps the orphan");
    again.child.kill().unwrap();
    again.child.wait().unwrap();
}

/// On a shared database and bucket another replica may be between its object and its row, so the
/// start-up sweep spares an orphan younger than the grace; the orphan is still an orphan, and a
/// sweep without grace (as the one due one grace after start) removes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_shared_store_spares_young_orphans_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        common::server::settings(common::server::Db::Postgres, common::server::Blobs::S3, dir.path().join("data"))
            .await;
    settings.sweep_grace = Duration::from_secs(600);
    settings.public_url = "http://127.0.0.1:1".into();
    assert_eq!(consentgate::service::startup_sweep_grace(&settings), Duration::from_secs(600));
    let objects = consentgate::objects::Objects::open(&settings).unwrap();
    let key = consentgate::objects::Objects::photo_key(&"ef".repeat(32), "jpg");
    objects.put(&key, bytes::Bytes::from_static(b"another replica's upload, row not yet committed")).await.unwrap();

    let prepared = consentgate::service::prepare(settings).await.unwrap();
    assert!(objects.get(&key).await.unwrap().is_some(), "the start-up sweep took a young object");
    let swept = consentgate::app::retention::sweep_orphans(prepared.state.app.store.as_ref(), &objects, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert!(objects.get(&key).await.unwrap().is_none());
}

/// A client that stalls mid-upload cannot keep a stopping server alive: after SIGTERM the server
/// waits the shutdown grace for it, then exits anyway.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_upload_does_not_hold_shutdown_past_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<String> = ["--data", &dir.path().display().to_string(), "--shutdown-grace-seconds", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut server = start(&args);
    let admin = server.admin_token(Duration::from_secs(10)).expect("first start writes the admin token");
    // Headers promising a 1 MB multipart body, then only its start: the handler waits for the rest.
    let stream = stalled_upload(&server.base, &admin);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break Some(exit);
        }
        if signalled.elapsed() > Duration::from_secs(15) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let Some(exit) = exit else {
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        panic!("the server was still running 15 s after SIGTERM with a 1 s shutdown grace");
    };
    assert!(exit.success(), "{exit:?}");
    assert!(signalled.elapsed() >= Duration::from_millis(900), "the server did not wait for the upload at all");
    drop(stream);
}

/// `serve` honours the same limit variables as `scrub`: a file over `CONSENTGATE_MAX_BYTES` is
/// refused with 413.
#[tokio::test(flavor = "multi_thread")]
async fn serve_honours_the_limit_variables() {
    let dir = tempfile::tempdir().unwrap();
    let args = vec!["--data".to_string(), dir.path().display().to_string()];
    let mut server = common::process::start_with_env(&args, &[("CONSENTGATE_MAX_BYTES", "50000")]);
    let admin = server.admin_token(Duration::from_secs(10)).expect("first start writes the admin token");
    let response =
        send_upload(&reqwest::Client::new(), &server.base, &admin, "x.jpg", photo(1), WEBSITE).await.unwrap();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"], "file_too_large");
}
