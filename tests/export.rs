//! Subject access: the export ZIP of a learner in a group photo holds their record, guardians,
//! consents, photos (image and texts), publications, takedowns and audit rows, and no other
//! learner's family name; the API and the command line give the same. On both store backends.

mod common;

use std::io::Read;

use common::api::{consenting_adult, create_learner, get, post, record_consent, upload_tagged};
use common::fixtures::varied_jpeg;
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use serde_json::{json, Value};

/// Every entry of a ZIP, name → bytes, read back with the `zip` crate (a reader independent of how
/// it was written: stream entries with data descriptors).
fn entries(zip: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a readable ZIP");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        out.insert(file.name().unwrap().to_string(), bytes);
    }
    out
}

/// The audit rows about `subject`.
async fn audit_rows(server: &TestServer, subject: &str) -> Vec<Value> {
    let rows: Vec<Value> = get(server, &server.admin, "/api/v1/audit?limit=1000").await.json().await.unwrap();
    rows.into_iter().filter(|r| r["subject"] == subject).collect()
}

/// How many exports of `subject` were audited as begun.
async fn exports_started(server: &TestServer, subject: &str) -> usize {
    audit_rows(server, subject).await.iter().filter(|r| r["action"] == "learner_export_started").count()
}

async fn the_export_holds_everything_about_them_and_nothing_of_others(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let created = create_learner(
        &server,
        json!({
            "given_name": "Amira", "family_name": "Okonkwo", "date_of_birth": "2012-05-02", "groups": ["Year 9"],
            "guardians": [{"name": "Sam Okonkwo", "email": "sam.okonkwo@example.org"}],
        }),
    )
    .await;
    let amira = created["id"].as_str().unwrap().to_string();
    let guardian = created["guardians"][0]["id"].as_str().unwrap();
    record_consent(
        &server,
        &amira,
        json!({"kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
               "form_version": "v3", "form_text": "We may use photos of your child on our website.",
               "method": "paper_form", "evidence": "form in the office file"}),
    )
    .await;
    let (ben, _) = consenting_adult(&server, "Ben", "Bartholomew", &["website"]).await;
    let group = upload_tagged(
        &server,
        &tutor,
        varied_jpeg(21),
        "website",
        &[&amira, &ben],
        &[
            ("caption", "Amira with Ben at the bench; the Bartholomews came too"),
            ("alt_text", "Two learners at a bench, Mr Bartholomew's bench"),
            ("title", "b. bartholomew and Okonkwo"),
        ],
    )
    .await;
    let group = group["id"].as_str().unwrap().to_string();
    let item = format!("{group}:website");
    assert_eq!(
        post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website", "item": item})).await.status(),
        200
    );
    let went = json!({"url": "https://college.example/news/bench", "channel": "website"});
    assert_eq!(post(&server, &marketing, &format!("/api/v1/queue/{item}/published"), went).await.status(), 200);
    // A photo of Ben alone is none of her business.
    let bens =
        upload_tagged(&server, &tutor, varied_jpeg(22), "website", &[&ben], &[("caption", "Ben Bartholomew")]).await;
    let bens = bens["id"].as_str().unwrap().to_string();

    assert_eq!(get(&server, &tutor, &format!("/api/v1/learners/{amira}/export")).await.status(), 403);
    assert_eq!(get(&server, &marketing, &format!("/api/v1/learners/{amira}/export")).await.status(), 403);
    assert_eq!(
        get(&server, &server.admin, "/api/v1/learners/0192f0c4-0000-7000-8000-000000000000/export").await.status(),
        404
    );
    assert_eq!(get(&server, &server.admin, "/api/v1/learners/not-an-id/export").await.status(), 404);

    // A HEAD says whether there is an export to have, and neither makes nor audits one.
    let before = audit_rows(&server, &amira).await.len();
    let head = reqwest::Client::new()
        .head(format!("{}/api/v1/learners/{amira}/export", server.base))
        .bearer_auth(&server.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers()["content-disposition"].to_str().unwrap().contains(&amira));
    assert_eq!(audit_rows(&server, &amira).await.len(), before, "a HEAD is audited as nothing");

    let response = get(&server, &server.admin, &format!("/api/v1/learners/{amira}/export")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.contains(&amira) && !disposition.contains("Amira"), "{disposition}");
    let zip = response.bytes().await.unwrap().to_vec();
    let files = entries(&zip);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    let image_name = format!("photos/{group}.jpeg");
    let json_name = format!("photos/{group}.json");
    assert_eq!(
        names,
        ["README.txt", "audit.jsonl", "consents.json", "learner.json", image_name.as_str(), json_name.as_str()],
    );
    let text = |name: &str| String::from_utf8(files[name].clone()).unwrap();
    assert!(text("README.txt").contains("learner.json"));

    let record: Value = serde_json::from_str(&text("learner.json")).unwrap();
    assert_eq!((record["given_name"].as_str(), record["family_name"].as_str()), (Some("Amira"), Some("Okonkwo")));
    assert_eq!(record["date_of_birth"], "2012-05-02");
    assert_eq!(record["groups"], json!(["Year 9"]));
    assert_eq!(record["guardians"][0]["email"], "sam.okonkwo@example.org");

    let consents: Value = serde_json::from_str(&text("consents.json")).unwrap();
    assert_eq!(consents.as_array().unwrap().len(), 1);
    assert_eq!(
        (consents[0]["kind"].as_str(), consents[0]["evidence"].as_str()),
        (Some("granted"), Some("form in the office file"))
    );
    assert_eq!(consents[0]["form_text_hash"].as_str().map(str::len), Some(64));

    let photo: Value = serde_json::from_str(&text(&json_name)).unwrap();
    // Ben's family name goes however it is written; hers stays, it is her own.
    assert_eq!(photo["caption"], "Amira with Ben at the bench; the [family name] came too");
    assert_eq!(photo["alt_text"], "Two learners at a bench, Mr [family name]'s bench");
    assert_eq!(photo["title"], "b. [family name] and Okonkwo");
    assert_eq!(photo["others_pictured"], 1);
    assert_eq!(photo["publications"][0]["url"], "https://college.example/news/bench");
    assert_eq!(photo["status"]["website"]["state"], "published");
    // The image is the scrubbed one, byte for byte.
    let original = get(&server, &server.admin, &format!("/api/v1/photos/{group}/image")).await.bytes().await.unwrap();
    assert_eq!(files[&image_name], original.to_vec());

    let audit = text("audit.jsonl");
    let actions: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].as_str().unwrap().to_string())
        .collect();
    for expected in
        ["learner_created", "consent_recorded", "photo_uploaded", "item_published", "learner_export_started"]
    {
        assert!(actions.iter().any(|a| a == expected), "{expected} in {actions:?}");
    }
    // The export's end is audited once it has all gone, with its outcome.
    let rows = audit_rows(&server, &amira).await;
    let ends: Vec<&Value> = rows.iter().filter(|r| r["action"] == "learner_exported").collect();
    assert_eq!(ends.len(), 1, "{rows:?}");
    assert_eq!(ends[0]["details"]["outcome"], "complete");
    // Nothing of Ben's beyond his first name; nothing of his own photo.
    for (name, bytes) in &files {
        let content = String::from_utf8_lossy(bytes);
        assert!(!content.contains("Bartholomew"), "{name} names Ben in full");
        assert!(!content.contains(&ben), "{name} holds Ben's id");
        assert!(!content.contains(&bens), "{name} mentions Ben's own photo");
    }

    // The command line writes the same entries (SQLite: the binary opens the same database).
    if server.settings.database_url.is_none() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("amira.zip");
        let run = common::process::command()
            .args(["--data", &server.settings.data_dir.display().to_string(), "learners", "export", &amira, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let from_cli = entries(&std::fs::read(&out).unwrap());
        assert_eq!(from_cli.keys().collect::<Vec<_>>(), files.keys().collect::<Vec<_>>());
        assert_eq!(from_cli[&image_name], files[&image_name]);
        // A child's data: readable by its owner only.
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        let started_before = exports_started(&server, &amira).await;
        // An existing file is not overwritten, nor a file made where none can be; neither is
        // audited as an export begun. An unknown learner is an error.
        let again = common::process::command()
            .args(["--data", &server.settings.data_dir.display().to_string(), "learners", "export", &amira, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(!again.status.success());
        let nowhere = common::process::command()
            .args(["--data", &server.settings.data_dir.display().to_string(), "learners", "export", &amira, "--out"])
            .arg(dir.path().join("no such dir").join("amira.zip"))
            .output()
            .unwrap();
        assert_eq!(nowhere.status.code(), Some(2), "{}", String::from_utf8_lossy(&nowhere.stderr));
        assert_eq!(exports_started(&server, &amira).await, started_before);
        let unknown = common::process::command()
            .args(["--data", &server.settings.data_dir.display().to_string(), "learners", "export"])
            .args(["0192f0c4-0000-7000-8000-000000000000", "--out"])
            .arg(dir.path().join("nobody.zip"))
            .output()
            .unwrap();
        assert_eq!(unknown.status.code(), Some(1));
        assert!(!dir.path().join("nobody.zip").exists());
    }
}

on_both_backends!(the_export_holds_everything_about_them_and_nothing_of_others);
