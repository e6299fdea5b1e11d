//! The pages end to end in headless Chromium: `e2e/journey.mjs` (playwright-core driving Debian's
//! `/usr/bin/chromium`) walks a tutor, a safeguarding lead, marketing and a guardian through the
//! whole product against a real server, saving a screenshot of every page under
//! `target/e2e-screenshots/`. The server sends mail to a real SMTP server on loopback (aiosmtpd):
//! a parent opens the emailed consent request on a phone with JavaScript off and answers it.
//! `scripts/setup` installs Chromium and the script's one npm package.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::api::{create_learner, get_json, learner_with_guardian, post};
use common::server::{Blobs, Db, TestServer};
use common::smtp::SmtpSink;
use consentgate::store::Role;
use serde_json::{json, Value};

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e")
}

/// Where the screenshots go: a test artifact, kept after the run.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("e2e-screenshots")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_journey_works_in_a_real_browser() {
    let chromium = std::env::var("E2E_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(Path::new(&chromium).exists(), "{chromium} is missing: run scripts/setup (Debian package chromium)");
    assert!(
        e2e_dir().join("node_modules/playwright-core").is_dir(),
        "e2e/node_modules is missing: run scripts/setup (npm ci in e2e/)"
    );
    let sink = SmtpSink::start();
    let smtp = common::smtp::settings(&sink, Duration::from_secs(5));
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| s.mail = Some(smtp)).await;
    let (tutor, marketing) = (server.token(Role::Tutor).await, server.token(Role::Marketing).await);
    // Two learners of fifteen, each with a guardian: the journey needs under-18s (Ben's own grant
    // is not enough; Amira's guardian's is).
    let born = format!("{}-03-01", time::OffsetDateTime::now_utc().year() - 15);
    let (amira, _) = learner_with_guardian(&server, "Amira", "Khan", &born).await;
    let (ben, _) = learner_with_guardian(&server, "Ben", "Okafor", &born).await;
    let learners = json!([
        {"id": amira, "given": "Amira", "family": "Khan"},
        {"id": ben, "given": "Ben", "family": "Okafor"},
    ]);
    // Three more under-18s with a guardian each: one stack of paper forms is recorded for them.
    let mut batch = Vec::new();
    for (given, family) in [("Dana", "Evans"), ("Eli", "Ford"), ("Farah", "Gill")] {
        let (id, _) = learner_with_guardian(&server, given, family, &born).await;
        batch.push(json!({"id": id, "given": given, "family": family}));
    }
    let batch = Value::Array(batch);
    let batch_ids: Vec<String> =
        batch.as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
    // Two learners a tutor's picker must tell apart: the same first name and family initial.
    for (family, group) in [("Ahmed", "Level 2 Catering"), ("Ali", "Level 3 Plumbing")] {
        create_learner(&server, json!({"given_name": "Mohammed", "family_name": family, "groups": [group]})).await;
    }
    // Chloe's family is asked by email about the website and print; the parent answers in the browser.
    let chloe = create_learner(
        &server,
        json!({"given_name": "Chloe", "family_name": "Adeyemi", "date_of_birth": born, "groups": ["Year 10"],
            "guardians": [{"name": "Parent of Chloe", "email": "chloe.parent@example.org"}]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let asked = post(
        &server,
        &server.admin,
        "/api/v1/consent-requests",
        json!({"learner_ids": [chloe], "purposes": ["website", "print"]}),
    )
    .await;
    assert_eq!(asked.status(), 201);
    let request = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(request.len(), 1, "the request was emailed");
    let form_url = request[0].link(&server.base, "c");
    // A marketing officer with a staff account: the journey signs them in on a phone with the
    // link their invitation brought.
    let invited = post(
        &server,
        &server.admin,
        "/api/v1/staff",
        json!({"name": "Dana Shaw", "email": "dana.shaw@college.example", "role": "marketing"}),
    )
    .await;
    assert_eq!(invited.status(), 201);
    let mail = sink.wait_for(2, Duration::from_secs(20));
    let invitation = mail.iter().find(|m| m.to_address == "dana.shaw@college.example").expect("the invitation");
    let start = invitation.body.find(&format!("{}/signin/link/", server.base)).expect("a sign-in link");
    let signin_link = invitation.body[start..].split_whitespace().next().unwrap().to_string();
    let corpus = common::corpus_dir();
    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);

    let tutor_id = consentgate::tokens::parse(&tutor).unwrap().0.to_string();
    let (base, admin) = (server.base.clone(), server.admin.clone());
    let screenshots = shots.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("journey.mjs")
            .current_dir(e2e_dir())
            .env("E2E_BASE", base)
            .env("E2E_TUTOR", tutor)
            .env("E2E_ADMIN", admin)
            .env("E2E_MARKETING", marketing)
            .env("E2E_PHOTO_A", corpus.join("jpg/mobile/jolla.jpg"))
            .env("E2E_PHOTO_B", corpus.join("jpg/gps/DSCN0010.jpg"))
            .env("E2E_LEARNERS", learners.to_string())
            .env("E2E_SHOTS", &screenshots)
            .env("E2E_FORM_URL", form_url)
            .env("E2E_FORM_LEARNER", "Chloe")
            .env("E2E_GROUP", "Year 10")
            .env("E2E_BATCH", batch.to_string())
            .env("E2E_SIGNIN_LINK", signin_link)
            .env("E2E_CHROMIUM", chromium)
            .output()
            .expect("node runs (Debian's nodejs; scripts/setup)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser journey failed:\n{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the journey printed no summary ({e}):\n{stdout}"));
    assert_eq!(summary["ok"], true);
    println!("{} screenshots in {}", summary["screenshots"], shots.display());

    // What the browser did is what the store holds.
    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("png".as_ref()))
        .count();
    assert!(pngs >= 20, "a screenshot of every page: {pngs}");
    let phone_pages = summary["pages"].as_array().unwrap().iter().filter(|p| p["width"] == 390).count();
    assert!(phone_pages >= 10, "pages checked at phone width: {phone_pages}");
    let takedowns = server.store.takedowns(true).await.unwrap();
    assert_eq!(takedowns.len(), 1);
    assert_eq!(takedowns[0].url, "https://example.org/news/robotics");
    assert!(takedowns[0].done_at.is_some(), "marketing confirmed the takedown");
    let mut amiras = server.store.photos_uploaded_by(&tutor_id, 10).await.unwrap();
    amiras.retain(|p| p.learner_ids == [amira.clone()]);
    assert_eq!(amiras.len(), 1);
    assert!(amiras[0].image_deleted_at.is_some(), "withdrawal deleted the stored image");
    // The parent's answer is on record as given on the online form, by Chloe's guardian.
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{chloe}/consents")).await;
    let events = history["events"].as_array().unwrap();
    let answered: Vec<(&str, &str)> =
        events.iter().map(|e| (e["kind"].as_str().unwrap(), e["purposes"][0].as_str().unwrap())).collect();
    assert_eq!(events.len(), 2, "{history}");
    assert!(answered.contains(&("granted", "website")) && answered.contains(&("refused", "print")), "{answered:?}");
    for e in events {
        assert_eq!(e["method"], "online_form");
        assert_eq!(e["given_by"], "guardian");
        let evidence: Value = serde_json::from_str(e["evidence"].as_str().unwrap()).unwrap();
        assert_eq!(evidence["signature"], "Parent of Chloe");
        assert!(evidence["user_agent"].as_str().unwrap().contains("Chrom"), "{evidence}");
    }
    // Her parent's confirmation carries the withdrawal link of the grant.
    let mail = sink.wait_for(4, Duration::from_secs(20));
    let confirmation = mail
        .iter()
        .find(|m| m.to_address == "chloe.parent@example.org" && m.subject.contains("Your answer"))
        .unwrap_or_else(|| panic!("no confirmation among {mail:?}"));
    let withdraw = confirmation.link(&server.base, "w");
    assert_eq!(withdraw.len(), server.base.len() + "/w/".len() + 64, "{withdraw}");
    // The stack of paper forms: one grant each, on the saved form, from each learner's guardian.
    for id in &batch_ids {
        let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{id}/consents")).await;
        let events = history["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{history}");
        assert_eq!(events[0]["form_version"], "photo-consent-2026-09-paper");
        assert_eq!(events[0]["given_by"], "guardian");
        assert_eq!(events[0]["method"], "paper_form");
        assert_eq!(history["decisions"]["website"]["allowed"], true, "{history}");
    }
    let counts = server.store.table_counts().await.unwrap();
    assert_eq!(
        counts["consent_events"], 9,
        "two grants and two withdrawals (social media, then the website); the parent's yes and no; three paper forms"
    );
    // The family withdrew social media first and kept the website, then withdrew the website too.
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents")).await;
    let withdrawn: Vec<&Value> =
        history["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "withdrawn").collect();
    assert_eq!(withdrawn.len(), 2, "{history}");
    assert_eq!(withdrawn[0]["purposes"], json!(["social_media"]));
    assert_eq!(withdrawn[1]["purposes"], json!(["website"]));
    let rows = server.store.audit_log(0, 10_000).await.unwrap();
    let genesis = (0, consentgate::store::GENESIS_HASH.to_string());
    assert!(consentgate::store::verify_chain(&rows, genesis).is_ok(), "the audit chain verifies");
}
