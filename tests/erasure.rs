//! Erasure: a learner's personal data replaced by a tombstone everywhere it is stored, their
//! photos' images deleted and takedowns owed, while the audit chain verifies and a re-upload of
//! their picture is still held. On both store backends through the API; then through the real
//! binary, where a raw byte search of the SQLite database, its WAL, every object and every log
//! line finds none of the erased names, email or date of birth; and cut short between any two
//! steps, a re-run (or the maintenance loop) finishes it.

mod common;

use std::time::Duration;

use common::api::{consenting_adult, create_learner, get, get_json, patch, post, record_consent, upload_tagged};
use common::fixtures::{encode_jpeg, varied_jpeg};
use common::server::{Blobs, Db, TestServer};
use consentgate::app::erasure::{self, Step};
use consentgate::store::Role;
use serde_json::{json, Value};

/// What must be gone after the erasure, wherever it was stored. (Her group's name stays: it is
/// the class's, on the requests made to it, not hers; her membership goes.)
const SECRETS: &[&str] = &[
    "Zephyrine",
    "Quillfeather",
    "Marguerite",
    "marguerite.quill@example.org",
    "zephyrine.q@example.org",
    "2008-03-04",
    "MIS-ZQ-77",
];

/// A learner with everything personal in it: names, date of birth (an adult now, with her own
/// address), an MIS reference, a group, a guardian with an address, a guardian's grant whose
/// evidence names the guardian, and her own grant.
async fn zephyrine(server: &TestServer) -> (String, Value) {
    let created = create_learner(
        server,
        json!({
            "given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2008-03-04",
            "external_ref": "MIS-ZQ-77", "learner_email": "zephyrine.q@example.org", "groups": ["Lathe Group Q"],
            "guardians": [{"name": "Marguerite Quillfeather", "email": "marguerite.quill@example.org"}],
        }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    let guardian = created["guardians"][0]["id"].as_str().unwrap().to_string();
    record_consent(
        server,
        &id,
        json!({
            "kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
            "given_at": "2025-09-01", "form_version": "v1", "form_text": "I agree", "method": "paper_form",
            "evidence": "signed by Marguerite Quillfeather",
        }),
    )
    .await;
    record_consent(
        server,
        &id,
        json!({
            "kind": "granted", "purposes": ["website"], "given_by": "learner", "form_version": "v1",
            "form_text": "I agree", "method": "online_form", "evidence": "typed Zephyrine Quillfeather",
        }),
    )
    .await;
    (id, created)
}

/// A request for her group's consent, so the outbox holds a letter naming her.
async fn ask_her_group(server: &TestServer) {
    let asked = post(
        server,
        &server.admin,
        "/api/v1/consent-requests",
        json!({"group": "Lathe Group Q", "purposes": ["print"]}),
    )
    .await;
    assert_eq!(asked.status(), 201);
}

fn reencoded(bytes: &[u8], quality: u8) -> Vec<u8> {
    encode_jpeg(&image::load_from_memory(bytes).unwrap().to_rgb8(), quality)
}

async fn erasure_leaves_only_a_pseudonym(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let (ben, _) = consenting_adult(&server, "Ben", "Baker", &["website"]).await;
    let (zq, _) = zephyrine(&server).await;
    ask_her_group(&server).await;
    // The two of them, published; Ben alone, with her full name in the caption (held for it).
    let group_bytes = varied_jpeg(1);
    let group = upload_tagged(
        &server,
        &tutor,
        group_bytes.clone(),
        "website",
        &[&ben, &zq],
        &[("caption", "Zephyrine and Ben at the lathe"), ("title", "Woodwork"), ("tags", "Zephyrine,lathe")],
    )
    .await;
    let group = group["id"].as_str().unwrap().to_string();
    let item = format!("{group}:website");
    let claimed = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website", "item": item})).await;
    assert_eq!(claimed.status(), 200);
    let where_ = json!({"url": "https://college.example/news/lathe", "channel": "website"});
    assert_eq!(post(&server, &marketing, &format!("/api/v1/queue/{item}/published"), where_).await.status(), 200);
    let ben_alone = upload_tagged(
        &server,
        &tutor,
        varied_jpeg(2),
        "website",
        &[&ben],
        &[("caption", "Ben showed Zephyrine Quillfeather the lathe")],
    )
    .await;
    let ben_alone = ben_alone["id"].as_str().unwrap().to_string();
    let held = get_json(&server, &server.admin, &format!("/api/v1/photos/{ben_alone}")).await;
    assert_eq!(held["status"]["website"]["reasons"], json!(["name_in_text"]), "{held}");

    // A reason is required and must not name her; other roles may not erase.
    let erase = |token: String, body: Value| {
        let server = &server;
        let zq = zq.clone();
        async move { post(server, &token, &format!("/api/v1/learners/{zq}/erase"), body).await }
    };
    for (body, named) in [
        (json!({"reason": "asked by Marguerite"}), "reason"),
        (json!({"reason": "the Quillfeathers asked"}), "reason"),
        (json!({"reason": "born 04/03/2008"}), "reason"),
        (json!({"reason": "born 2008-03-04"}), "reason"),
        (json!({"reason": "MIS-ZQ-77 left"}), "reason"),
        (json!({"reason": "mail from zephyrine.q@example.org"}), "reason"),
        (json!({"reason": "ref \u{202e}42"}), "reason"),
        (json!({"reason": "   "}), "reason"),
        (json!({}), ""),
        (json!({"reason": "x", "extra": 1}), ""),
    ] {
        let refused = erase(server.admin.clone(), body.clone()).await;
        assert_eq!(refused.status(), 422, "{body}");
        let answer: Value = refused.json().await.unwrap();
        assert!(answer["message"].as_str().unwrap().contains(named), "{answer}");
    }
    assert_eq!(erase(tutor.clone(), json!({"reason": "SAR 14"})).await.status(), 403);
    assert_eq!(erase(marketing.clone(), json!({"reason": "SAR 14"})).await.status(), 403);
    let unknown = post(
        &server,
        &server.admin,
        "/api/v1/learners/0192f0c4-0000-7000-8000-000000000000/erase",
        json!({"reason": "SAR 14"}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(get_json(&server, &server.admin, &format!("/api/v1/learners/{zq}")).await["given_name"], "Zephyrine");

    // The link of the request her group was sent, as a family would still hold it.
    let letters = server.store.outbox(consentgate::store::MailState::Pending, 100).await.unwrap();
    let her_link = letters
        .iter()
        .find(|m| m.learner_id.as_deref() == Some(zq.as_str()))
        .and_then(|m| m.link.clone())
        .expect("her letter");
    let done = erase(server.admin.clone(), json!({"reason": "subject access request SAR-2026-14, by email"})).await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!((done["learner_id"].as_str(), done["already_erased"].as_bool()), (Some(zq.as_str()), Some(false)));
    assert!(done["erased_at"].is_string(), "{done}");

    // The record is a tombstone; she is no longer found, listed or counted in her group.
    let record = get_json(&server, &server.admin, &format!("/api/v1/learners/{zq}")).await;
    assert!(record["erased_at"].is_string(), "{record}");
    for field in ["given_name", "family_name"] {
        assert_eq!(record[field], "", "{record}");
    }
    for field in ["preferred_name", "date_of_birth", "external_ref", "learner_email", "left_on"] {
        assert_eq!(record[field], Value::Null, "{field}: {record}");
    }
    assert_eq!(record["groups"], json!([]));
    assert_eq!(
        (record["guardians"][0]["name"].as_str(), record["guardians"][0]["email"].clone()),
        (Some(""), Value::Null)
    );
    let everyone = get_json(&server, &server.admin, "/api/v1/learners").await;
    assert!(everyone.as_array().unwrap().iter().all(|l| l["id"] != zq.as_str()), "erased learners are not listed");
    // Her consent history stays as proof, without its evidence; the last event withdraws everything.
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{zq}/consents")).await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{history}");
    assert!(events.iter().all(|e| e["evidence"] == "erased"), "{history}");
    assert_eq!(events[2]["kind"], "withdrawn");
    assert_eq!(events[2]["purposes"].as_array().unwrap().len(), 4);

    // Marketing is told where it went; the image is gone; Ben's caption no longer names her.
    let takedowns = get_json(&server, &marketing, "/api/v1/takedowns").await;
    let urls: Vec<&str> = takedowns.as_array().unwrap().iter().map(|t| t["url"].as_str().unwrap()).collect();
    assert_eq!(urls, ["https://college.example/news/lathe"]);
    assert!(!takedowns.to_string().contains("Zephyrine"), "{takedowns}");
    assert_eq!(get(&server, &server.admin, &format!("/api/v1/photos/{group}/image")).await.status(), 410);
    let photo = get_json(&server, &server.admin, &format!("/api/v1/photos/{group}")).await;
    assert_eq!(photo["caption"], "[erased] and Ben at the lathe", "{photo}");
    assert_eq!(photo["tags"], json!(["[erased]", "lathe"]), "{photo}");
    let ben_photo = get_json(&server, &server.admin, &format!("/api/v1/photos/{ben_alone}")).await;
    assert_eq!(ben_photo["caption"], "Ben showed [erased] the lathe", "{ben_photo}");
    assert_eq!(ben_photo["status"]["website"]["state"], "queued", "her name no longer holds Ben's photo: {ben_photo}");

    // A re-upload of her picture (re-encoded: other bytes, same look) is held for her pseudonym.
    let again = upload_tagged(&server, &tutor, reencoded(&group_bytes, 70), "website", &[&ben], &[]).await;
    let reasons = again["status"]["website"]["reasons"].clone();
    assert!(reasons.as_array().unwrap().contains(&json!("matches_withdrawn")), "{again}");
    // She cannot be tagged, asked or given consent again.
    let tagged =
        server.upload(&tutor, "x.jpg", varied_jpeg(3), &[("purposes", "website"), ("learner_ids", zq.as_str())]).await;
    assert_eq!(tagged.status(), 422);
    let consent = post(
        &server,
        &server.admin,
        &format!("/api/v1/learners/{zq}/consents"),
        json!({"kind": "granted", "purposes": ["website"], "given_by": "learner", "form_version": "v1",
               "form_text": "I agree", "method": "online_form", "evidence": "x"}),
    )
    .await;
    assert_eq!(consent.status(), 409);
    let correct = patch(&server, &server.admin, &format!("/api/v1/learners/{zq}"), json!({"given_name": "Z"})).await;
    assert_eq!(correct.status(), 409);

    // The request's link names nobody now: nothing can be answered through it.
    assert_eq!(server.client.get(&her_link).send().await.unwrap().status(), 404);
    let answered = server
        .client
        .post(&her_link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("print=granted&responsibility=yes&signature=Marguerite+Quillfeather")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 404);
    assert_eq!(server.store.consents(&zq).await.unwrap().len(), 3, "nothing recorded through the old link");

    // Erasing again does nothing and says so.
    let again = erase(server.admin.clone(), json!({"reason": "again"})).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["already_erased"], true);

    // The audit chain verifies, and holds none of her personal data.
    let rows = server.store.audit_log(0, 100_000).await.unwrap();
    consentgate::store::verify_chain(&rows, (0, consentgate::store::GENESIS_HASH.into())).unwrap();
    assert!(rows.iter().any(|r| r.action == "learner_erased" && r.subject == zq));
    let audit_text: String = rows.iter().map(|r| format!("{} {} {}\n", r.subject, r.action, r.details)).collect();
    for secret in SECRETS {
        assert!(!audit_text.contains(secret), "the audit log holds {secret}");
    }
    // Every table, row by row, as the store reads them.
    let dump = dump_database(&server).await;
    for secret in SECRETS {
        assert!(!dump.contains(secret), "the database still holds {secret}");
    }
}

/// Every text of every row of every table, as one string: a logical search of the database, the
/// same on both backends (the SQLite file's raw bytes are searched in `tests::on_disk`).
async fn dump_database(server: &TestServer) -> String {
    let url = server.settings.effective_database_url();
    let store_url = url.clone();
    let tables = consentgate::store::TABLES;
    let mut out = String::new();
    if store_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&store_url).await.unwrap();
        for table in tables {
            let rows: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT CAST(t AS TEXT) FROM {table} t")).fetch_all(&pool).await.unwrap();
            for (row,) in rows {
                out.push_str(&row);
                out.push('\n');
            }
        }
    } else {
        let pool = sqlx::SqlitePool::connect(&store_url).await.unwrap();
        for table in tables {
            let columns: Vec<(String,)> = sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&pool)
                .await
                .unwrap();
            let concat = columns.iter().map(|(c,)| format!("COALESCE(CAST({c} AS TEXT), '')")).collect::<Vec<_>>();
            let sql = format!("SELECT {} FROM {table}", concat.join(" || '|' || "));
            let rows: Vec<(String,)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
            for (row,) in rows {
                out.push_str(&row);
                out.push('\n');
            }
        }
    }
    out
}

/// Cut short after each step in turn, as a crash would leave it: erasing again finishes it, and
/// so does the maintenance loop on its own.
async fn an_erasure_cut_short_is_finished(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    for (n, stop_after) in [Step::Mark, Step::Withdraw, Step::DeleteImages, Step::Tombstone].into_iter().enumerate() {
        let created = create_learner(
            &server,
            json!({"given_name": "Zephyrine", "family_name": format!("Quillfeather{n}"), "date_of_birth": "2000-01-01"}),
        )
        .await;
        let id = created["id"].as_str().unwrap().to_string();
        let photo = upload_tagged(&server, &tutor, varied_jpeg(10 + n as u32), "website", &[&id], &[]).await;
        let photo = photo["id"].as_str().unwrap().to_string();
        let app = consentgate::app::App::new(server.store.clone(), server.objects.clone(), server.settings.clone());
        let audit = consentgate::store::AuditDraft::new(
            "test",
            consentgate::store::AuditAction::ErasureStarted,
            &id,
            json!({"reason": "cut short"}),
        );
        server.store.begin_erasure(&id, "cut short", audit).await.unwrap();
        for step in Step::ALL.into_iter().filter(|s| *s != Step::Mark && *s <= stop_after) {
            erasure::run_step(&app, &id, step, "test").await.unwrap();
        }
        if n % 2 == 0 {
            // The admin erases again.
            let again =
                post(&server, &server.admin, &format!("/api/v1/learners/{id}/erase"), json!({"reason": "again"})).await;
            assert_eq!(again.status(), 200, "after {stop_after:?}");
        } else {
            // The maintenance loop (every second here) finishes it.
            for _ in 0..100 {
                if server.store.learner(&id).await.unwrap().unwrap().erased_at.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let learner = server.store.learner(&id).await.unwrap().unwrap();
        assert!(learner.erased_at.is_some() && learner.family_name.is_empty(), "after {stop_after:?}");
        assert!(server.store.photo(&photo).await.unwrap().unwrap().image_deleted_at.is_some(), "{stop_after:?}");
        let withdrawals = server.store.consents(&id).await.unwrap().iter().filter(|e| e.method == "erasure").count();
        assert_eq!(withdrawals, 1, "one withdrawal however often it ran ({stop_after:?})");
    }
    let rows = server.store.audit_log(0, 100_000).await.unwrap();
    consentgate::store::verify_chain(&rows, (0, consentgate::store::GENESIS_HASH.into())).unwrap();
}

async fn start(db: Db, blobs: Blobs) -> TestServer {
    TestServer::start_adjusted(db, blobs, |s| s.maintenance_interval = Duration::from_secs(1)).await
}

on_both_backends!(start = super::start; erasure_leaves_only_a_pseudonym, an_erasure_cut_short_is_finished);

/// The real binary, SQLite and local files, logging at `debug`: after the erasure, the bytes of the
/// database file, its WAL, every object and the whole log hold none of her personal data.
mod on_disk {
    use std::io::Read;

    use super::*;
    use common::process::command;

    fn every_file_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(every_file_under(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn nothing_of_an_erased_learner_is_left_on_disk_or_in_the_logs() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let log_path = dir.path().join("serve.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = command()
            .args(["--data", &data.display().to_string(), "serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("CONSENTGATE_LOG", "debug")
            .env("CONSENTGATE_MAINTENANCE_INTERVAL_SECONDS", "1")
            .stdout(std::fs::File::create(dir.path().join("serve.out")).unwrap())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let mut admin = None;
        for _ in 0..300 {
            if let Ok(text) = std::fs::read_to_string(data.join("admin-token")) {
                if text.ends_with('\n') && client.get(format!("{base}/healthz")).send().await.is_ok() {
                    admin = Some(text.trim().to_string());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let admin = admin.expect("the server started");
        let call = |method: reqwest::Method, path: &str, body: Value| {
            client.request(method, format!("{base}{path}")).bearer_auth(&admin).json(&body).send()
        };
        let created: Value = call(
            reqwest::Method::POST,
            "/api/v1/learners",
            json!({
                "given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2008-03-04",
                "external_ref": "MIS-ZQ-77", "learner_email": "zephyrine.q@example.org", "groups": ["Lathe Group Q"],
                "guardians": [{"name": "Marguerite Quillfeather", "email": "marguerite.quill@example.org"}],
            }),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let zq = created["id"].as_str().unwrap().to_string();
        let grant = json!({
            "kind": "granted", "purposes": ["website"], "given_by": "learner", "form_version": "v1",
            "form_text": "I agree", "method": "online_form", "evidence": "typed Zephyrine Quillfeather",
        });
        let granted = call(reqwest::Method::POST, &format!("/api/v1/learners/{zq}/consents"), grant).await.unwrap();
        assert_eq!(granted.status(), 201);
        let asked = call(
            reqwest::Method::POST,
            "/api/v1/consent-requests",
            json!({"group": "Lathe Group Q", "purposes": ["print"]}),
        )
        .await
        .unwrap();
        assert_eq!(asked.status(), 201);
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(varied_jpeg(7)).file_name("Zephyrine_Quillfeather.jpg"))
            .text("purposes", "website")
            .text("all_tagged", "true")
            .text("learner_ids", zq.clone())
            .text("caption", "Zephyrine Quillfeather at the lathe");
        let uploaded =
            client.post(format!("{base}/api/v1/photos")).bearer_auth(&admin).multipart(form).send().await.unwrap();
        assert_eq!(uploaded.status(), 201);
        // Read her record once more (audited), then erase.
        assert_eq!(
            call(reqwest::Method::GET, &format!("/api/v1/learners/{zq}"), json!(null)).await.unwrap().status(),
            200
        );
        let erased =
            call(reqwest::Method::POST, &format!("/api/v1/learners/{zq}/erase"), json!({"reason": "SAR-2026-14"}))
                .await
                .unwrap();
        assert_eq!(erased.status(), 200);
        // A maintenance pass or two, then a clean stop.
        tokio::time::sleep(Duration::from_secs(2)).await;
        unsafe_sigterm(child.id());
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");

        let mut files = every_file_under(&data);
        files.push(log_path.clone());
        files.push(dir.path().join("serve.out"));
        assert!(files.iter().any(|f| f.file_name().unwrap() == "consentgate.db"), "{files:?}");
        for file in &files {
            let mut bytes = Vec::new();
            std::fs::File::open(file).unwrap().read_to_end(&mut bytes).unwrap();
            let lower = String::from_utf8_lossy(&bytes).to_lowercase();
            for secret in SECRETS {
                assert!(!lower.contains(&secret.to_lowercase()), "{} holds {secret}", file.display());
                // UTF-16 too, in case anything wrote it that way.
                let wide: Vec<u8> = secret.encode_utf16().flat_map(u16::to_le_bytes).collect();
                assert!(!bytes.windows(wide.len()).any(|w| w == wide.as_slice()), "{} holds {secret}", file.display());
            }
        }
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert!(log.contains("learner erased"), "the log says an erasure happened, without whom: {log}");
    }

    /// SIGTERM, as a service manager stops the server.
    fn unsafe_sigterm(pid: u32) {
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
        assert!(status.success());
    }
}
