//! Marketing's queue through the API: claim, download, publish, takedown; the re-upload block; two
//! replicas claiming concurrently; withdrawals racing claims and downloads.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::{consenting_adult, get, patch, post, send_upload, upload_ok, upload_tagged};
use common::fixtures::{distinct_jpeg, varied_jpeg};
use common::server::{Blobs, Db, TestServer};
use consentgate::policy::consent::{EventKind, Giver, Rules};
use consentgate::policy::Purpose;
use consentgate::store::{AuditAction, AuditDraft, ConsentRecord, Evaluation, LearnerRecord, Role};
use serde_json::{json, Value};

on_both_backends!(
    from_the_queue_to_a_takedown,
    a_withdrawn_learners_lookalike_is_held,
    no_claim_or_download_succeeds_after_a_withdrawal_returns,
    a_caption_naming_a_learner_is_held_until_redacted,
    a_name_in_lookalike_letters_is_held_and_redacted,
    the_queue_listing_rechecks_consent,
);

/// Uploads `bytes` for the website, tagging `learners` as all in it, with `caption`; asserts 201
/// and returns the photo.
async fn upload(server: &TestServer, tutor: &str, bytes: Vec<u8>, learners: &[&str], caption: &str) -> Value {
    upload_tagged(server, tutor, bytes, "website", learners, &[("caption", caption)]).await
}

async fn from_the_queue_to_a_takedown(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let (ben, withdraw) = consenting_adult(&server, "Ben", "Marketingtest", &["website"]).await;
    let photo = upload(&server, &tutor, distinct_jpeg(1, 3000, 2000), &[&ben], "Ben at the bench").await;
    let photo_id = photo["id"].as_str().unwrap();
    assert_eq!(photo["status"]["website"]["state"], "queued");

    // The queue shows captions and sizes, and nothing about the learner.
    let response = get(&server, &marketing, "/api/v1/queue?purpose=website").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let queue: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["caption"], "Ben at the bench");
    for secret in [ben.as_str(), "Marketingtest", "1990-01-01", "form 7", "learner_ids"] {
        assert!(!text.contains(secret), "the queue shows {secret}: {text}");
    }
    // Marketing reaches no learner, no photo record and no consent.
    assert_eq!(get(&server, &marketing, "/api/v1/learners").await.status(), 403);
    assert_eq!(get(&server, &marketing, &format!("/api/v1/learners/{ben}/consents")).await.status(), 403);
    assert_eq!(get(&server, &marketing, &format!("/api/v1/photos/{photo_id}")).await.status(), 403);

    // Claim; the queue is then empty for everyone.
    let response =
        post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website", "lease_seconds": 600})).await;
    assert_eq!(response.status(), 200);
    let item: Value = response.json().await.unwrap();
    assert_eq!((item["state"].as_str(), item["photo_id"].as_str()), (Some("claimed"), Some(photo_id)));
    assert!(item["lease_expires_at"].is_string());
    assert_eq!(post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website"})).await.status(), 204);
    assert_eq!(post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "print"})).await.status(), 204);
    for bad in [json!({"purpose": "billboard"}), json!({"purpose": "website", "lease_seconds": 0}), json!({})] {
        assert_eq!(post(&server, &marketing, "/api/v1/queue/claim", bad.clone()).await.status(), 422, "{bad}");
    }
    // A particular item (as chosen from the grid): taken already, so 409; named wrongly, 404 or 422.
    let item_id = item["item"].as_str().unwrap();
    let named = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website", "item": item_id})).await;
    assert_eq!(named.status(), 409);
    assert_eq!(named.json::<Value>().await.unwrap()["error"], "not_available");
    let other_purpose = item_id.replace(":website", ":print");
    for (bad, status) in [
        (json!({"purpose": "website", "item": "nonsense"}), 404),
        (json!({"purpose": "website", "item": other_purpose}), 422),
        (json!({"purpose": "print", "item": other_purpose}), 409),
    ] {
        assert_eq!(post(&server, &marketing, "/api/v1/queue/claim", bad.clone()).await.status(), status, "{bad}");
    }

    // Download: the web rendition is upright, at most 2048 px, and carries no metadata.
    let image = get(&server, &marketing, item["image_url"].as_str().unwrap()).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    let web = image.bytes().await.unwrap();
    let decoded = image::load_from_memory(&web).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (2048, 1365));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.jpg");
    std::fs::write(&path, &web).unwrap();
    common::oracle::assert_all_allowlisted(&[path], |_| "web rendition".into());
    assert_eq!(get(&server, &marketing, &format!("/api/v1/photos/{photo_id}/image")).await.status(), 200);
    assert_eq!(
        get(&server, &marketing, &format!("/api/v1/photos/{photo_id}/image?rendition=huge")).await.status(),
        422
    );

    // Publish, then the learner withdraws: a takedown says where it went.
    let item_id = item["item"].as_str().unwrap();
    let published = json!({"url": "https://college.example/news/workshop", "channel": "website"});
    assert_eq!(
        post(
            &server,
            &marketing,
            &format!("/api/v1/queue/{item_id}/published"),
            json!({"url": "ftp://x", "channel": "w"})
        )
        .await
        .status(),
        422
    );
    let response = post(&server, &marketing, &format!("/api/v1/queue/{item_id}/published"), published.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["state"], "published");
    // A colleague posted it on a second channel: that is a publication too, recorded, and owed a
    // takedown of its own.
    let other = server.token(Role::Marketing).await;
    let insta = json!({"url": "https://instagram.example/p/1", "channel": "instagram"});
    let response = post(&server, &other, &format!("/api/v1/queue/{item_id}/published"), insta).await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.snapshot().await["publications"], 2);

    let objects_before = server.snapshot().await["objects"];
    assert_eq!(server.client.post(&withdraw).send().await.unwrap().status(), 200);
    let takedowns: Value = get(&server, &marketing, "/api/v1/takedowns").await.json().await.unwrap();
    let takedowns = takedowns.as_array().unwrap().clone();
    let mut urls: Vec<&str> = takedowns.iter().map(|t| t["url"].as_str().unwrap()).collect();
    urls.sort_unstable();
    assert_eq!(urls, ["https://college.example/news/workshop", "https://instagram.example/p/1"]);
    for t in &takedowns {
        assert_eq!(t["reasons"], json!(["withdrawn"]));
        // Which photo to remove, in the words it went out with.
        assert_eq!((t["caption"].as_str(), t["alt_text"].as_str()), (Some("Ben at the bench"), Some("")));
    }
    // The image is gone from storage, with the web rendition stored when it was downloaded, and
    // from marketing; its row and fingerprints stay.
    assert_eq!(objects_before, 2, "the image and its web rendition");
    assert_eq!(server.snapshot().await["objects"], 0);
    let response = get(&server, &marketing, &format!("/api/v1/photos/{photo_id}/image?rendition=web")).await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!((body["error"].as_str(), &body["detail"]["reasons"]), (Some("not_released"), &json!(["withdrawn"])));
    assert_eq!(get(&server, &server.admin, &format!("/api/v1/photos/{photo_id}/image")).await.status(), 410);
    let shown: Value = get(&server, &server.admin, &format!("/api/v1/photos/{photo_id}")).await.json().await.unwrap();
    assert_eq!(shown["status"]["website"]["state"], "withdrawn");
    // Asking for the item by name now says why it cannot be had.
    let named = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website", "item": item_id})).await;
    assert_eq!(named.status(), 409);
    let body: Value = named.json().await.unwrap();
    assert_eq!((body["error"].as_str(), &body["detail"]["reasons"]), (Some("not_available"), &json!(["withdrawn"])));

    // Each publication is taken down on its own; the item is taken down once both are.
    let first = takedowns[0]["id"].as_str().unwrap();
    assert_eq!(post(&server, &marketing, &format!("/api/v1/takedowns/{first}/done"), json!({})).await.status(), 204);
    assert_eq!(post(&server, &marketing, &format!("/api/v1/takedowns/{first}/done"), json!({})).await.status(), 404);
    let shown: Value = get(&server, &server.admin, &format!("/api/v1/photos/{photo_id}")).await.json().await.unwrap();
    assert_eq!(shown["status"]["website"]["state"], "withdrawn", "one post is still up");
    let open: Value = get(&server, &marketing, "/api/v1/takedowns").await.json().await.unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1);
    let second = takedowns[1]["id"].as_str().unwrap();
    assert_eq!(post(&server, &marketing, &format!("/api/v1/takedowns/{second}/done"), json!({})).await.status(), 204);
    let open: Value = get(&server, &marketing, "/api/v1/takedowns").await.json().await.unwrap();
    assert!(open.as_array().unwrap().is_empty());
    let shown: Value = get(&server, &server.admin, &format!("/api/v1/photos/{photo_id}")).await.json().await.unwrap();
    assert_eq!(shown["status"]["website"]["state"], "taken_down");
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    for action in
        ["item_claimed", "image_downloaded", "item_published", "takedown_owed", "image_deleted", "takedown_done"]
    {
        assert!(audit.iter().any(|r| r.action == action), "no {action} in the audit log");
    }
}

async fn a_withdrawn_learners_lookalike_is_held(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (zara, withdraw) = consenting_adult(&server, "Zara", "Marketingtest", &["website"]).await;
    let (amira, _) = consenting_adult(&server, "Amira", "Marketingtest", &["website"]).await;
    let original = common::corpus_bytes("jpg/gps/DSCN0010.jpg");
    upload(&server, &tutor, original.clone(), &[&zara], "Workshop").await;
    assert_eq!(server.client.post(&withdraw).send().await.unwrap().status(), 200);

    // The same scene re-encoded at quality 60 and resized to 70 %, tagged only with Amira.
    let img = image::load_from_memory(&original).unwrap();
    let smaller = img.resize(img.width() * 7 / 10, img.height() * 7 / 10, image::imageops::FilterType::Triangle);
    let copy = common::fixtures::encode_jpeg(&smaller.to_rgb8(), 60);
    let held = upload(&server, &tutor, copy, &[&amira], "Workshop again").await;
    assert_eq!(held["status"]["website"]["state"], "held");
    assert_eq!(held["status"]["website"]["reasons"], json!(["matches_withdrawn"]));
    assert_eq!(held["status"]["website"]["learners"], json!([{"learner_id": zara, "reason": "matches_withdrawn"}]));

    // A different photo of Amira is not held.
    let other = upload(&server, &tutor, distinct_jpeg(5, 640, 480), &[&amira], "Another day").await;
    assert_eq!(other["status"]["website"]["state"], "queued");
}

/// When a request was sent, what it was, the photo, and its status.
type Attempt = (Instant, &'static str, String, u16);

/// Claimers and downloaders run without pause while the learner withdraws, with hundreds of her
/// items still in the queue. Once the withdrawal POST has returned, no claim or download sent
/// afterwards may succeed for her photos. The test checks that her items were still queued when
/// the withdrawal happened and that both kinds of request were sent after it, so it can fail.
/// Several rounds.
async fn no_claim_or_download_succeeds_after_a_withdrawal_returns(server: TestServer) {
    const ITEMS: u32 = 200;
    let tutor = server.token(Role::Tutor).await;
    for round in 0..3u32 {
        let (learner, withdraw) =
            consenting_adult(&server, &format!("Racer{round}"), "Marketingtest", &["website"]).await;
        let mut theirs = HashSet::new();
        for i in 0..ITEMS {
            let photo = upload(&server, &tutor, varied_jpeg(round * 10_000 + i), &[&learner], "Race").await;
            assert_eq!(photo["status"]["website"]["state"], "queued", "round {round}: item {i} was not released");
            theirs.insert(photo["id"].as_str().unwrap().to_string());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<Attempt>>> = Arc::default();
        // Photos some claimer has held: what the downloaders keep asking for.
        let claimed: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut tasks = Vec::new();
        for n in 0..6 {
            let token = server.token(Role::Marketing).await;
            let (client, base) = (server.client.clone(), server.base.clone());
            let (stop, log, claimed) = (stop.clone(), log.clone(), claimed.clone());
            tasks.push(tokio::spawn(async move {
                let mut turn = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    turn += 1;
                    if n < 4 {
                        let sent = Instant::now();
                        let r = client
                            .post(format!("{base}/api/v1/queue/claim"))
                            .bearer_auth(&token)
                            .json(&json!({"purpose": "website", "lease_seconds": 60}))
                            .send()
                            .await
                            .unwrap();
                        let status = r.status().as_u16();
                        let photo = if status == 200 {
                            r.json::<Value>().await.unwrap()["photo_id"].as_str().unwrap_or_default().to_string()
                        } else {
                            String::new()
                        };
                        if status == 200 {
                            claimed.lock().unwrap().push(photo.clone());
                        }
                        log.lock().unwrap().push((sent, "claim", photo, status));
                        // Slow enough that the queue outlasts the withdrawal.
                        tokio::time::sleep(Duration::from_millis(8)).await;
                    } else {
                        let photo = {
                            let claimed = claimed.lock().unwrap();
                            if claimed.is_empty() {
                                None
                            } else {
                                Some(claimed[(turn * 7 + n) % claimed.len()].clone())
                            }
                        };
                        let Some(photo) = photo else {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                            continue;
                        };
                        let sent = Instant::now();
                        let r = client
                            .get(format!("{base}/api/v1/photos/{photo}/image"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        log.lock().unwrap().push((sent, "download", photo, r.status().as_u16()));
                    }
                }
            }));
        }
        // Let claims and downloads get going, then withdraw while most items are still queued.
        let started = Instant::now();
        while log.lock().unwrap().iter().filter(|(_, what, _, status)| *what == "download" && *status == 200).count()
            < 3
        {
            assert!(started.elapsed() < Duration::from_secs(10), "round {round}: no download succeeded");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seq_before = server.store.audit_head().await.unwrap().0;
        assert_eq!(server.client.post(&withdraw).send().await.unwrap().status(), 200);
        let returned = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }

        // Her items that the withdrawal itself took out of the queue: proof that it raced live items.
        let audit = server.store.audit_log(seq_before, 100_000).await.unwrap();
        let pulled = audit
            .iter()
            .filter(|r| r.action == "status_changed" && r.actor == "withdrawal_link" && theirs.contains(&r.subject))
            .filter(|r| {
                let details: Value = serde_json::from_str(&r.details).unwrap();
                details["from"] == "queued" || details["from"] == "claimed"
            })
            .count();
        assert!(pulled >= 10, "round {round}: only {pulled} of her items were live when she withdrew");

        let log = log.lock().unwrap();
        let late: Vec<_> = log
            .iter()
            .filter(|(sent, _, photo, status)| {
                *sent > returned && *status == 200 && (photo.is_empty() || theirs.contains(photo))
            })
            .collect();
        assert!(late.is_empty(), "round {round}: succeeded after the withdrawal returned: {late:?}");
        for what in ["claim", "download"] {
            let after = log.iter().filter(|(sent, w, _, _)| *sent > returned && *w == what).count();
            assert!(after > 0, "round {round}: no {what} was sent after the withdrawal; the race was not exercised");
            let before_ok = log.iter().filter(|(sent, w, _, s)| *sent <= returned && *w == what && *s == 200).count();
            assert!(before_ok > 0, "round {round}: no {what} succeeded before the withdrawal");
        }
    }
}

/// Two `consentgate serve` processes on one PostgreSQL database and one S3 bucket, two claimers on
/// each, 500 items uploaded through both: every item is claimed exactly once, and its image is
/// downloaded from the shared bucket by the claimer (often from the process that did not write it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_four_claimers_claim_each_item_once() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = common::server::fresh_pg_database().await;
    let s3 = common::server::fresh_bucket().await;
    let args = common::process::shared_backend_args(dir.path(), &database_url, &s3);
    let mut first = common::process::start(&args);
    assert!(first.admin_token(Duration::from_secs(10)).is_some(), "the first start writes the admin token");
    let mut second = common::process::start(&args);

    // The learner and their consent are seeded through the store; the photos are real uploads.
    let store: Arc<dyn consentgate::store::FullStore> =
        Arc::from(consentgate::store::open(&database_url).await.unwrap());
    let eval = || Evaluation {
        at: time::OffsetDateTime::now_utc(),
        live: false,
        rules: Rules::default(),
        actor: "test".into(),
        names: Default::default(),
    };
    let learner = LearnerRecord {
        id: uuid::Uuid::now_v7().to_string(),
        given_name: "Queue".into(),
        family_name: "Person".into(),
        preferred_name: None,
        date_of_birth: Some("1990-01-01".into()),
        external_ref: None,
        email: None,
        groups: vec![],
        left_on: None,
        erased_at: None,
        guardians: vec![],
        created_at: 0,
        updated_at: 0,
    };
    store
        .insert_learner(&learner, AuditDraft::new("test", AuditAction::LearnerCreated, &learner.id, json!({})))
        .await
        .unwrap();
    let now = consentgate::store::now_ms();
    let grant = ConsentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        learner_id: learner.id.clone(),
        kind: EventKind::Granted,
        purposes: vec![Purpose::Website],
        giver: Giver::Learner,
        given_at: now - 1000,
        expires_at: None,
        form_version: "v1".into(),
        form_text_hash: "0".repeat(64),
        method: "paper_form".into(),
        evidence: "test".into(),
        recorded_by: "test".into(),
        recorded_at: now,
    };
    store
        .record_consent(
            &grant,
            None,
            AuditDraft::new("test", AuditAction::ConsentRecorded, &learner.id, json!({})),
            eval(),
        )
        .await
        .unwrap();
    let tutor = consentgate::app::access::create_token(store.as_ref(), Role::Tutor, "tutor", "test").await.unwrap();
    let client = reqwest::Client::new();
    // 500 real uploads (small distinct JPEGs), spread over both processes: each scrubs and writes
    // its object to the shared bucket, so claims and downloads below read what the other wrote.
    let bases = [first.base.clone(), second.base.clone()];
    let mut uploads = Vec::new();
    for lane in 0..4u32 {
        let (client, bases, tutor, learner_id) = (client.clone(), bases.clone(), tutor.clone(), learner.id.clone());
        uploads.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in (lane..500).step_by(4) {
                let base = &bases[(i % 2) as usize];
                let caption = format!("item {i}");
                let fields = [
                    ("purposes", "website"),
                    ("all_tagged", "true"),
                    ("learner_ids", learner_id.as_str()),
                    ("caption", caption.as_str()),
                ];
                let r = send_upload(&client, base, &tutor, "IMG.jpg", varied_jpeg(50_000 + i), &fields).await.unwrap();
                assert_eq!(r.status(), 201, "upload {i}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["status"]["website"]["state"], "queued", "upload {i}");
                made.push((body["id"].as_str().unwrap().to_string(), base.clone()));
            }
            made
        }));
    }
    let mut uploaded_via = std::collections::HashMap::new();
    for u in uploads {
        uploaded_via.extend(u.await.unwrap());
    }
    assert_eq!(uploaded_via.len(), 500);
    let uploaded_via = Arc::new(uploaded_via);
    let crossed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (n, base) in [&first.base, &first.base, &second.base, &second.base].into_iter().enumerate() {
        let token =
            consentgate::app::access::create_token(store.as_ref(), Role::Marketing, "mkt", "test").await.unwrap();
        let (client, base, uploaded_via, crossed) =
            (client.clone(), base.clone(), uploaded_via.clone(), crossed.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let r = client
                    .post(format!("{base}/api/v1/queue/claim"))
                    .bearer_auth(&token)
                    .json(&json!({"purpose": "website", "lease_seconds": 3600}))
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    200 => {
                        let item: Value = r.json().await.unwrap();
                        let photo = item["photo_id"].as_str().unwrap().to_string();
                        // The claimed image is read from the bucket, whichever process wrote it.
                        let image = client
                            .get(format!("{base}/api/v1/photos/{photo}/image"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(image.status(), 200, "claimer {n}: download of {photo}");
                        let bytes = image.bytes().await.unwrap();
                        assert_eq!(image::load_from_memory(&bytes).unwrap().width(), 96);
                        if uploaded_via[&photo] != base {
                            crossed.fetch_add(1, Ordering::SeqCst);
                        }
                        got.push(item["item"].as_str().unwrap().to_string());
                    }
                    204 => return (n, got),
                    other => panic!("claimer {n}: status {other}"),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let (n, got) = t.await.unwrap();
        assert!(!got.is_empty(), "claimer {n} got nothing: the test did not run concurrently");
        all.extend(got);
    }
    for server in [&mut first, &mut second] {
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 500, "claims made");
    assert_eq!(distinct.len(), 500, "an item was claimed twice");
    // Each claim is in the one audit chain, which both processes appended to.
    let audit = store.audit_log(0, 100_000).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.action == "item_claimed").count(), 500);
    assert_eq!(audit.iter().filter(|r| r.action == "image_downloaded").count(), 500);
    assert!(crossed.load(Ordering::SeqCst) > 0, "no image was read by the process that did not write it");
    consentgate::store::verify_chain(&audit, (0, consentgate::store::GENESIS_HASH.into())).unwrap();
}

async fn a_caption_naming_a_learner_is_held_until_redacted(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let (amira, _) = consenting_adult(&server, "Amira", "Marketingtest", &["website"]).await;
    // Another learner on record, not in the photo: the check covers everyone.
    let ben = json!({"given_name": "Ben", "family_name": "Baker"});
    assert_eq!(post(&server, &server.admin, "/api/v1/learners", ben).await.status(), 201);

    let ids = amira.clone();
    let fields = [
        ("purposes", "website"),
        ("all_tagged", "true"),
        ("learner_ids", ids.as_str()),
        ("caption", "AMIRA MARKETINGTEST and Ben Baker's garden wall"),
        ("alt_text", "Amira Marketingtest pointing brickwork"),
        ("title", "Garden wall"),
        ("tags", "bricklaying, Marketingtest-Amira, level2"),
    ];
    let photo = upload_ok(&server, &tutor, "x.jpg", distinct_jpeg(77, 320, 240), &fields).await;
    let id = photo["id"].as_str().unwrap();
    assert_eq!(photo["status"]["website"]["state"], "held");
    assert_eq!(photo["status"]["website"]["reasons"], json!(["name_in_text"]));
    let fields: Vec<&str> =
        photo["name_check"]["matches"].as_array().unwrap().iter().map(|m| m["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["caption", "caption", "alt_text", "tags[1]"]);
    assert_eq!(photo["name_check"]["matches"][0]["learner_id"], json!(amira));
    assert_eq!(
        photo["name_check"]["suggested_redaction"],
        json!({
            "caption": "AMIRA and Ben's garden wall", "alt_text": "Amira pointing brickwork", "title": "Garden wall",
            "tags": ["bricklaying", "Amira", "level2"]
        })
    );
    assert_eq!(post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website"})).await.status(), 204);

    // One tap: the redaction is accepted and the photo is released.
    let patched = patch(&server, &tutor, &format!("/api/v1/photos/{id}"), json!({"accept_redaction": true})).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["caption"], "AMIRA and Ben's garden wall");
    assert_eq!(patched["tags"], json!(["bricklaying", "Amira", "level2"]));
    assert_eq!(patched["status"]["website"]["state"], "queued");
    assert!(patched["name_check"]["suggested_redaction"].is_null());
    let again = patch(&server, &tutor, &format!("/api/v1/photos/{id}"), json!({"accept_redaction": true})).await;
    assert_eq!(again.status(), 422, "nothing left to redact");

    // A caption that names nobody on record yet is released; once that learner is added, the item
    // is not delivered at claim and leaves the queue.
    let fields = [
        ("purposes", "website"),
        ("all_tagged", "true"),
        ("learner_ids", ids.as_str()),
        ("caption", "Zed Quinn visited the site"),
    ];
    let second: Value =
        server.upload(&tutor, "y.jpg", distinct_jpeg(78, 320, 240), &fields).await.json().await.unwrap();
    assert_eq!(second["status"]["website"]["state"], "queued");
    let zed = json!({"given_name": "Zed", "family_name": "Quinn"});
    assert_eq!(post(&server, &server.admin, "/api/v1/learners", zed).await.status(), 201);
    let claimed = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website"})).await;
    assert_eq!(claimed.status(), 200);
    let claimed: Value = claimed.json().await.unwrap();
    assert_eq!(claimed["photo_id"], json!(id), "only the redacted photo is delivered");
    assert_eq!(post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website"})).await.status(), 204);
    let shown: Value = get(&server, &server.admin, &format!("/api/v1/photos/{}", second["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"]["website"]["reasons"], json!(["name_in_text"]));
}

/// A full name written with Cyrillic and Greek lookalike letters ("Аmira Kоchar" with a Cyrillic
/// А and о, "ΑΜΙRΑ" in Greek capitals) is a full name: held, and the suggested redaction cuts it at
/// the right place in the text as written.
async fn a_name_in_lookalike_letters_is_held_and_redacted(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, _) = consenting_adult(&server, "Amira", "Kochar", &["website"]).await;
    let caption = "\u{410}mira K\u{43E}char's garden wall";
    let alt_text = "\u{391}\u{39C}\u{399}R\u{391} \u{39A}\u{39F}CHAR pointing brickwork";
    let fields = [
        ("purposes", "website"),
        ("all_tagged", "true"),
        ("learner_ids", amira.as_str()),
        ("caption", caption),
        ("alt_text", alt_text),
        ("tags", "bricklaying, K\u{43E}char\u{200D}\u{410}mira"),
    ];
    let photo = upload_ok(&server, &tutor, "z.jpg", distinct_jpeg(79, 320, 240), &fields).await;
    let id = photo["id"].as_str().unwrap();
    assert_eq!(photo["status"]["website"]["state"], "held");
    assert_eq!(photo["status"]["website"]["reasons"], json!(["name_in_text"]));
    let matches = photo["name_check"]["matches"].as_array().unwrap();
    let fields: Vec<&str> = matches.iter().map(|m| m["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["caption", "alt_text", "tags[1]"]);
    assert!(matches.iter().all(|m| m["learner_id"] == json!(amira)), "{matches:?}");
    let redaction = json!({
        "caption": "\u{410}mira's garden wall", "alt_text": "\u{391}\u{39C}\u{399}R\u{391} pointing brickwork",
        "title": "", "tags": ["bricklaying", "\u{410}mira"]
    });
    assert_eq!(photo["name_check"]["suggested_redaction"], redaction);
    let patched = patch(&server, &tutor, &format!("/api/v1/photos/{id}"), json!({"accept_redaction": true})).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["caption"], redaction["caption"]);
    assert_eq!(patched["alt_text"], redaction["alt_text"]);
    assert_eq!(patched["tags"], redaction["tags"]);
    assert_eq!(patched["status"]["website"]["state"], "queued");
    assert!(patched["name_check"]["suggested_redaction"].is_null());
}

/// The queue as listed is checked again at the moment it is read: an item whose grant expired since
/// the last sweep is not shown, and leaves the queue with its reason.
async fn the_queue_listing_rechecks_consent(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let body = json!({"given_name": "Eve", "family_name": "Expiring", "date_of_birth": "1990-01-01"});
    let created: Value = post(&server, &server.admin, "/api/v1/learners", body).await.json().await.unwrap();
    let eve = created["id"].as_str().unwrap().to_string();
    let now = time::OffsetDateTime::now_utc();
    let rfc = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let expiry = now + time::Duration::seconds(2);
    let grant = json!({
        "kind": "granted", "purposes": ["website"], "given_by": "learner", "form_version": "v1",
        "form_text": "I agree", "method": "online_form", "evidence": "form 8",
        "given_at": rfc(now - time::Duration::minutes(1)), "expires_at": rfc(expiry)
    });
    let response = post(&server, &server.admin, &format!("/api/v1/learners/{eve}/consents"), grant).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let photo = upload(&server, &tutor, distinct_jpeg(91, 320, 240), &[&eve], "Short-lived").await;
    let photo_id = photo["id"].as_str().unwrap();
    let listed: Value = get(&server, &marketing, "/api/v1/queue?purpose=website").await.json().await.unwrap();
    assert!(listed.as_array().unwrap().iter().any(|i| i["photo_id"] == json!(photo_id)), "{listed}");

    // The grant runs out; no sweep runs in between (the test server's interval is long).
    let wait = (expiry - time::OffsetDateTime::now_utc()).unsigned_abs() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    let listed: Value = get(&server, &marketing, "/api/v1/queue?purpose=website").await.json().await.unwrap();
    assert!(!listed.as_array().unwrap().iter().any(|i| i["photo_id"] == json!(photo_id)), "still listed: {listed}");
    let shown: Value = get(&server, &server.admin, &format!("/api/v1/photos/{photo_id}")).await.json().await.unwrap();
    assert_eq!(shown["status"]["website"]["state"], "held");
    assert_eq!(shown["status"]["website"]["reasons"], json!(["expired"]));
}
