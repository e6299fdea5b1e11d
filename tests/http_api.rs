//! The HTTP API on a real server and real backends: SQLite + file system, and PostgreSQL + S3
//! (moto on loopback).

mod common;

use common::api::{consenting_adult, delete, get, post, post_raw, stalled_upload, upload_ok, upload_tagged};
use common::corpus_bytes;
use common::fixtures::distinct_jpeg;
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use serde_json::Value;

on_both_backends!(
    upload_stores_a_scrubbed_photo_held_for_consent,
    identical_reupload_answers_with_the_existing_photo,
    bad_uploads_get_a_json_4xx_and_store_nothing,
    tokens_and_roles_are_enforced,
    uploads_leave_no_trace_of_metadata_or_filenames,
    ops_endpoints_answer,
    wrong_methods_get_a_json_405,
    a_photo_never_published_can_be_deleted_and_a_published_one_cannot,
);

/// A tutor deletes a photo they uploaded while it was never published: every row and object of it
/// goes, the deletion is audited, and the same picture may be uploaded again. Other tutors and
/// marketing cannot; a photo marketing claimed or published stays.
async fn a_photo_never_published_can_be_deleted_and_a_published_one_cannot(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let other = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let before = server.snapshot().await;
    let bytes = distinct_jpeg(41, 900, 600);
    let held =
        upload_ok(&server, &tutor, "a.jpg", bytes.clone(), &[("purposes", "website"), ("caption", "Bench")]).await;
    let id = held["id"].as_str().unwrap();
    let path = format!("/api/v1/photos/{id}");
    // The thumbnail is made and stored beside the image: it must go too.
    assert_eq!(get(&server, &tutor, &format!("{path}/image?rendition=thumb")).await.status(), 200);

    assert_eq!(delete(&server, &other, &path).await.status(), 404, "another tutor's photo does not exist for them");
    assert_eq!(delete(&server, &marketing, &path).await.status(), 403);
    assert_eq!(delete(&server, &tutor, "/api/v1/photos/nonsense").await.status(), 404);
    let response = delete(&server, &tutor, &path).await;
    assert_eq!(response.status(), 204);
    assert_eq!(get(&server, &tutor, &path).await.status(), 404);
    assert_eq!(delete(&server, &tutor, &path).await.status(), 404, "deleted once only");
    let mut expected = before.clone();
    *expected.get_mut("audit_log").unwrap() += 2; // uploaded, deleted
    assert_eq!(server.snapshot().await, expected, "every row and object of the photo is gone");
    let audit = server.store.audit_log(0, 1000).await.unwrap();
    let row = audit.iter().find(|r| r.action == "photo_deleted" && r.subject == id).expect("the deletion is audited");
    assert!(!row.details.contains("Bench"), "the audit row holds no caption: {}", row.details);
    // The same picture may come back (it was a mistake, not a "no").
    upload_ok(&server, &tutor, "a.jpg", bytes, &[("purposes", "website")]).await;

    // Published: it stays on record, whoever asks; nothing changes.
    let (ben, _) = consenting_adult(&server, "Ben", "Deletiontest", &["website"]).await;
    let queued = upload_tagged(&server, &tutor, distinct_jpeg(42, 900, 600), "website", &[&ben], &[]).await;
    assert_eq!(queued["status"]["website"]["state"], "queued");
    let item: Value = post(&server, &marketing, "/api/v1/queue/claim", serde_json::json!({"purpose": "website"}))
        .await
        .json()
        .await
        .unwrap();
    let queued_path = format!("/api/v1/photos/{}", queued["id"].as_str().unwrap());
    let claimed = delete(&server, &server.admin, &queued_path).await;
    assert_eq!(claimed.status(), 409);
    assert_eq!(claimed.json::<Value>().await.unwrap()["error"], "photo_claimed");
    // An edit puts a claimed photo back on hold; it was claimed all the same, and may be out.
    let edited = common::api::patch(&server, &tutor, &queued_path, serde_json::json!({"caption": "Again"})).await;
    assert_eq!(edited.status(), 200);
    let after_edit = delete(&server, &tutor, &queued_path).await;
    assert_eq!(after_edit.status(), 409);
    assert_eq!(after_edit.json::<Value>().await.unwrap()["error"], "photo_claimed");
    let published = serde_json::json!({"url": "https://college.example/news/1", "channel": "website"});
    let item_id = item["item"].as_str().unwrap();
    assert_eq!(post(&server, &marketing, &format!("/api/v1/queue/{item_id}/published"), published).await.status(), 200);
    let snapshot = server.snapshot().await;
    for token in [&tutor, &server.admin] {
        let response = delete(&server, token, &queued_path).await;
        assert_eq!(response.status(), 409);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "photo_published");
        assert!(body["message"].as_str().unwrap().contains("withdrawal"), "{body}");
    }
    assert_eq!(server.snapshot().await, snapshot, "a refused deletion changes nothing");
}

async fn upload_stores_a_scrubbed_photo_held_for_consent(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let body = upload_ok(
        &server,
        &tutor,
        "IMG_0001.jpg",
        corpus_bytes("jpg/gps/DSCN0010.jpg"),
        &[
            ("purposes", "website,print"),
            ("caption", "Bricklaying practical"),
            ("all_tagged", "true"),
            ("tags", "workshop, bricks, workshop, site, bricks"),
        ],
    )
    .await;
    // Repeated tags go, wherever they are; the first of each keeps its place.
    assert_eq!(body["tags"], serde_json::json!(["workshop", "bricks", "site"]));
    assert_eq!((body["width"].as_i64(), body["height"].as_i64()), (Some(640), Some(480)));
    assert_eq!(body["status"]["website"]["state"], "held");
    // Nobody is tagged yet, and no consent could exist for them anyway.
    assert_eq!(body["status"]["website"]["reasons"], serde_json::json!(["no_learners_tagged"]));
    assert_eq!(body["status"]["print"]["state"], "held");
    assert!(body["status"].get("social_media").is_none());
    assert!(body["removed"].as_array().unwrap().contains(&Value::from("gps")));

    // The tutor reads it back; the admin downloads the scrubbed bytes, whose hash is the ETag.
    let id = body["id"].as_str().unwrap();
    let shown: Value = get(&server, &tutor, &format!("/api/v1/photos/{id}")).await.json().await.unwrap();
    assert_eq!(shown["id"], id);
    let image = get(&server, &server.admin, &format!("/api/v1/photos/{id}/image")).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert_eq!(image.headers()["etag"].to_str().unwrap(), format!("\"{}\"", body["blake3"].as_str().unwrap()));
    let bytes = image.bytes().await.unwrap();
    assert_eq!(blake3::hash(&bytes).to_hex().as_str(), body["blake3"].as_str().unwrap());
    assert!(!bytes.windows(6).any(|w| w == b"Exif\0\0"), "the stored image has an Exif block");

    // The upload is in the audit log, chained.
    let audit = server.store.audit_log(0, 100).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "photo_uploaded" && r.subject == id));
    consentgate::store::verify_chain(&audit, (0, consentgate::store::GENESIS_HASH.into())).unwrap();
}

async fn identical_reupload_answers_with_the_existing_photo(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let bytes = corpus_bytes("jpg/mobile/jolla.jpg");
    let form = [("purposes", "website"), ("caption", "Site visit")];
    let first = upload_ok(&server, &tutor, "a.jpg", bytes.clone(), &form).await;

    // A retry of the same upload (same bytes, same form) gets the photo it already made.
    let before = server.snapshot().await;
    let retry = server.upload(&tutor, "b.jpg", bytes.clone(), &form).await;
    assert_eq!(retry.status(), 200);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(first["id"], retry["id"]);
    assert_eq!(server.snapshot().await, before, "a retried upload stored something");

    // The same bytes with another form would silently lose the new details: 409, naming the photo
    // to edit, and nothing stored but the audit row of the rejection.
    let changed = server.upload(&tutor, "c.jpg", bytes.clone(), &[("purposes", "internal")]).await;
    assert_eq!(changed.status(), 409);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["error"], "duplicate_upload");
    assert_eq!(changed["detail"]["photo_id"], first["id"]);
    let edit = format!("/tutor/photos/{}/edit", first["id"].as_str().unwrap());
    assert_eq!(changed["detail"]["edit"], edit.as_str());
    let message = changed["message"].as_str().unwrap();
    assert!(message.contains("edit that photo") && !message.contains("PATCH"), "{message}");
    let mut expected = before.clone();
    *expected.get_mut("audit_log").unwrap() += 1;
    assert_eq!(server.snapshot().await, expected);

    // Another tutor learns only that it exists: no id, no caption, no status.
    let other = server.token(Role::Tutor).await;
    let theirs = server.upload(&other, "d.jpg", bytes, &form).await;
    assert_eq!(theirs.status(), 409);
    let text = theirs.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"], "duplicate_upload");
    assert!(!text.contains(first["id"].as_str().unwrap()) && !text.contains("Site visit"), "{text}");
}

async fn bad_uploads_get_a_json_4xx_and_store_nothing(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let photo = corpus_bytes("jpg/gps/DSCN0012.jpg");
    let mut truncated = photo.clone();
    truncated.truncate(photo.len() / 3);
    // (what, file, form fields, expected status, expected error code)
    type Case = (&'static str, Vec<u8>, Vec<(&'static str, &'static str)>, u16, &'static str);
    let cases: Vec<Case> = vec![
        ("text behind .jpg", b"not an image at all".to_vec(), vec![("purposes", "website")], 415, "unsupported_format"),
        ("empty file", Vec::new(), vec![("purposes", "website")], 422, "empty_file"),
        ("truncated jpeg", truncated, vec![("purposes", "website")], 422, "corrupt_image"),
        ("png bomb", common::fixtures::png_bomb(60_000), vec![("purposes", "website")], 413, "image_too_large"),
        ("unknown purpose", photo.clone(), vec![("purposes", "billboard")], 422, "bad_form"),
        ("no purpose", photo.clone(), vec![], 422, "bad_form"),
        (
            "unknown learner",
            photo.clone(),
            vec![("purposes", "website"), ("learner_ids", "nobody")],
            422,
            "unknown_learner",
        ),
        // PostgreSQL refuses NUL in text: that must be our 422, not its 500 (and no orphan object).
        ("NUL in caption", photo.clone(), vec![("purposes", "website"), ("caption", "a\0b")], 422, "bad_form"),
        (
            "control in alt text",
            photo.clone(),
            vec![("purposes", "website"), ("alt_text", "\u{1b}[31m")],
            422,
            "bad_form",
        ),
        (
            "NUL in learner id",
            photo.clone(),
            vec![("purposes", "website"), ("learner_ids", "0192f0c4-4b1e-7c3a-9d2e-\0")],
            422,
            "bad_form",
        ),
        ("bad flag", photo.clone(), vec![("purposes", "website"), ("all_tagged", "maybe")], 422, "bad_form"),
        ("unknown field", photo.clone(), vec![("purposes", "website"), ("gps", "51.5,0.1")], 422, "bad_form"),
    ];
    for (what, bytes, fields, status, code) in cases {
        let before = server.snapshot().await;
        let response = server.upload(&tutor, "x.jpg", bytes, &fields).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
        let mut after = server.snapshot().await;
        // The one trace a rejection leaves is its audit row.
        assert_eq!(after["audit_log"], before["audit_log"] + 1, "{what}");
        after.insert("audit_log".into(), before["audit_log"]);
        assert_eq!(after, before, "{what}: something was stored");
    }

    // Not multipart at all, and a file over the byte limit (the limit is lowered by sending more
    // than the default 40 MiB would take too long; the streaming check is the same code).
    let before = server.snapshot().await;
    let response = post_raw(&server, &tutor, "/api/v1/photos", "application/json", "{\"file\": \"nope\"}").await;
    assert_eq!(response.status(), 422);
    let big = vec![0xFFu8; (server.settings.limits.max_bytes + 10) as usize];
    let response = server.upload(&tutor, "big.jpg", big, &[("purposes", "website")]).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "file_too_large");
    // Each of the two leaves its audit row, and nothing else.
    let mut expected = before.clone();
    *expected.get_mut("audit_log").unwrap() += 2;
    assert_eq!(server.snapshot().await, expected);
}

async fn tokens_and_roles_are_enforced(server: TestServer) {
    let photo = corpus_bytes("jpg/gps/DSCN0021.jpg");
    let before = server.snapshot().await;
    for token in [
        "",
        "cg_nonsense",
        "cg_000000000000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let response = server.upload(token, "x.jpg", photo.clone(), &[("purposes", "website")]).await;
        assert_eq!(response.status(), 401, "{token:?}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized");
    }
    // A large body with a bad token still gets its JSON 401, not a reset connection: the server
    // reads the body to its end before answering.
    for _ in 0..3 {
        let response = server.upload("cg_nonsense", "big.jpg", vec![0xFF; 8 << 20], &[("purposes", "website")]).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized");
    }
    // A real id with a wrong secret.
    let tutor = server.token(Role::Tutor).await;
    let tail = if tutor.ends_with("0000") { "1111" } else { "0000" };
    let forged = format!("{}{tail}", &tutor[..tutor.len() - 4]);
    assert_eq!(server.upload(&forged, "x.jpg", photo.clone(), &[("purposes", "website")]).await.status(), 401);
    let marketing = server.token(Role::Marketing).await;
    let response = server.upload(&marketing, "x.jpg", photo.clone(), &[("purposes", "website")]).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "forbidden");
    // Two tokens made, each audited; the 403 audited under the marketing token; the 401s, which
    // have no actor, only counted.
    let mut expected = before.clone();
    *expected.get_mut("tokens").unwrap() += 2;
    *expected.get_mut("audit_log").unwrap() += 3;
    assert_eq!(server.snapshot().await, expected);
    let audit = server.store.audit_log(0, 1000).await.unwrap();
    let last = audit.last().unwrap();
    let marketing_id = marketing.split('_').nth(1).unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("upload_rejected", marketing_id), "{last:?}");
    assert_eq!(serde_json::from_str::<Value>(&last.details).unwrap(), serde_json::json!({ "code": "forbidden" }));
    let metrics =
        server.client.get(format!("{}/metrics", server.metrics_base)).send().await.unwrap().text().await.unwrap();
    for reason in ["unauthorized", "forbidden"] {
        let series = format!("consentgate_upload_rejections_total{{reason=\"{reason}\"}}");
        assert!(metrics.contains(&series), "{series} missing from /metrics");
    }

    // Tutors see their own photos only, and the thumbnails of their own uploads; only admins fetch
    // images (until the queue exists).
    let created: Value = server.upload(&tutor, "x.jpg", photo, &[("purposes", "website")]).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let other_tutor = server.token(Role::Tutor).await;
    let path = format!("/api/v1/photos/{id}");
    assert_eq!(get(&server, &other_tutor, &path).await.status(), 404);
    assert_eq!(get(&server, &server.admin, &path).await.status(), 200);
    assert_eq!(get(&server, &tutor, &format!("{path}/image")).await.status(), 403);
    assert_eq!(get(&server, &tutor, &format!("{path}/image?rendition=web")).await.status(), 403);
    assert_eq!(get(&server, &tutor, &format!("{path}/image?rendition=thumb")).await.status(), 200);
    assert_eq!(get(&server, &other_tutor, &format!("{path}/image?rendition=thumb")).await.status(), 404);
    // Ids that cannot be ours, NUL included, are a plain JSON 404 on both databases.
    for bad in ["nope", "%00", "0192f0c4-4b1e-7c3a-9d2e-%00"] {
        let response = get(&server, &server.admin, &format!("/api/v1/photos/{bad}")).await;
        assert_eq!(response.status(), 404, "{bad}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "not_found", "{bad}");
    }
}

/// Every corpus photo with GPS, every phone photo and every HEIC, uploaded; then no file under
/// the data directory (and no row of any table) holds the original's Exif block, its GPS values
/// (as stored, as decimal degrees or as degrees and minutes, in text) or the upload's file name.
async fn uploads_leave_no_trace_of_metadata_or_filenames(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    // A marker no data could hold by chance, in every file name: found alone, in any case, it
    // means the name (or part of it) was kept.
    let marker = format!("Mk{}", &uuid::Uuid::new_v4().simple().to_string()[..16]).to_uppercase();
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("file name marker".into(), marker.clone().into_bytes()),
        ("file name marker, lower case".into(), marker.to_lowercase().into_bytes()),
    ];
    let mut files = common::corpus_files("jpg/gps");
    files.extend(common::corpus_files("jpg/mobile"));
    files.extend(common::corpus_files("heic"));
    for (i, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let filename = format!("learner-upload-{marker}-{i}-{}", path.file_name().unwrap().to_string_lossy());
        let response = server.upload(&tutor, &filename, bytes.clone(), &[("purposes", "website")]).await;
        assert_eq!(response.status(), 201, "{}", path.display());
        for (what, needle) in metadata_needles(&bytes) {
            needles.push((format!("{what} of {}", path.display()), needle));
        }
    }
    assert!(needles.len() > files.len() * 2, "the corpus should yield Exif and GPS needles");
    assert!(needles.iter().any(|(what, _)| what.starts_with("GPS decimal")), "no GPS in the corpus");

    // Everything the service wrote: the data directory (SQLite, local objects) and, for the
    // PostgreSQL/S3 pair, every row and every object.
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in walkdir::WalkDir::new(&server.settings.data_dir).into_iter().filter_map(Result::ok) {
        if entry.file_type().is_file() {
            haystacks.push((entry.path().display().to_string(), std::fs::read(entry.path()).unwrap()));
        }
    }
    for (key, _) in server.objects.list_photos().await.unwrap() {
        haystacks.push((key.clone(), server.objects.get(&key).await.unwrap().unwrap().to_vec()));
    }
    if let Some(url) = &server.settings.database_url {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for table in consentgate::store::TABLES {
            let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            haystacks.push((format!("PostgreSQL table {table}"), rows.join("\n").into_bytes()));
        }
    }
    for (what, needle) in &needles {
        for (name, hay) in &haystacks {
            assert!(!hay.windows(needle.len()).any(|w| w == needle.as_slice()), "{what} found in {name}");
        }
    }
}

/// Byte strings that identify an original's metadata: its whole Exif TIFF header plus the first
/// IFD bytes, and each GPS coordinate value as stored (rational numerators and denominators), as
/// decimal degrees in text at 3 to 6 places (rounded and truncated), and as degrees and minutes in
/// the usual text forms (a leak through a JSON field or a log line would be text, not rationals).
fn metadata_needles(original: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut needles = Vec::new();
    if let Some(pos) = original.windows(6).position(|w| w == b"Exif\0\0") {
        let end = (pos + 6 + 64).min(original.len());
        needles.push(("Exif block", original[pos..end].to_vec()));
    }
    let tiff = original
        .windows(6)
        .position(|w| w == b"Exif\0\0")
        .map(|p| &original[p + 6..])
        .or_else(|| original.windows(4).position(|w| w == b"MM\0*" || w == b"II*\0").map(|p| &original[p..]));
    if let Some(tiff) = tiff {
        if let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) {
            for field in exif.fields().filter(|f| matches!(f.tag, exif::Tag::GPSLatitude | exif::Tag::GPSLongitude)) {
                if let exif::Value::Rational(values) = &field.value {
                    let raw: Vec<u8> = values
                        .iter()
                        .flat_map(|r| {
                            let (n, d) = if exif.little_endian() {
                                (r.num.to_le_bytes(), r.denom.to_le_bytes())
                            } else {
                                (r.num.to_be_bytes(), r.denom.to_be_bytes())
                            };
                            n.into_iter().chain(d)
                        })
                        .collect();
                    needles.push(("GPS value", raw));
                    if let [d, m, sec] = values.as_slice() {
                        let degrees = d.to_f64() + m.to_f64() / 60.0 + sec.to_f64() / 3600.0;
                        for places in 3..=6 {
                            let scale = 10f64.powi(places);
                            let truncated = (degrees * scale).trunc() / scale;
                            for text in
                                [format!("{degrees:.*}", places as usize), format!("{truncated:.*}", places as usize)]
                            {
                                needles.push(("GPS decimal degrees", text.into_bytes()));
                            }
                        }
                        let whole = degrees.trunc() as u32;
                        let minutes = ((degrees - f64::from(whole)) * 60.0).trunc() as u32;
                        for text in [
                            format!("{whole}°{minutes}'"),
                            format!("{whole}° {minutes}'"),
                            format!("{whole}°{minutes}′"),
                            format!("{whole} deg {minutes}'"),
                            field.display_value().to_string(),
                        ] {
                            needles.push(("GPS degrees and minutes", text.into_bytes()));
                        }
                    }
                }
            }
        }
    }
    needles
}

async fn ops_endpoints_answer(server: TestServer) {
    let get = |path: &str| server.client.get(format!("{}{path}", server.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let tutor = server.token(Role::Tutor).await;
    server.upload(&tutor, "x.jpg", corpus_bytes("jpg/gps/DSCN0025.jpg"), &[("purposes", "website")]).await;
    server.upload(&tutor, "x.jpg", b"nope".to_vec(), &[("purposes", "website")]).await;
    let metrics = server.client.get(format!("{}/metrics", server.metrics_base)).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert_eq!(get("/metrics").await.unwrap().status(), 404, "/metrics is not on the public listener");
    for expected in [
        "consentgate_uploads_total",
        "consentgate_upload_rejections_total{reason=\"unsupported_format\"}",
        "consentgate_scrub_seconds_bucket",
    ] {
        assert!(metrics.contains(expected), "{expected} missing from /metrics");
    }
    let openapi: Value = get("/api/v1/openapi.json").await.unwrap().json().await.unwrap();
    assert!(openapi["paths"]["/api/v1/photos"]["post"].is_object());
    assert!(openapi["paths"]["/api/v1/photos/{id}/image"]["get"].is_object());
    assert!(openapi["paths"]["/api/v1/learners/{id}/guardians"]["post"].is_object());
    for method in ["patch", "delete"] {
        assert!(openapi["paths"]["/api/v1/learners/{id}/guardians/{guardian_id}"][method].is_object(), "{method}");
    }
    assert!(openapi["paths"]["/api/v1/learners/{id}/consents/{event_id}/withdrawal-link"]["post"].is_object());
    let missing = get("/no/such/route").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "not_found");
}

/// A path that exists but not with the method used: a JSON 405 like every other error, naming the
/// methods it does answer to in `Allow`.
async fn wrong_methods_get_a_json_405(server: TestServer) {
    for (method, path, allowed) in [
        (reqwest::Method::GET, "/api/v1/photos", "POST"),
        (reqwest::Method::PUT, "/api/v1/photos/x", "PATCH"),
        (reqwest::Method::DELETE, "/api/v1/queue/claim", "POST"),
    ] {
        let response = server
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .bearer_auth(&server.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(allow.contains(allowed), "{method} {path}: Allow is {allow:?}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed", "{method} {path}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
}

/// Bodies are buffered whole before scrubbing, so only `2 × scrub_concurrency` uploads are
/// received at once: with both slots held by clients still sending, a third upload waits, then is
/// told 503 `busy` with `Retry-After`, and nothing is stored for it.
#[tokio::test(flavor = "multi_thread")]
async fn uploads_beyond_the_receiving_slots_are_told_to_come_back() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| s.scrub_concurrency = 1).await;
    let (tutor, other, third) =
        (server.token(Role::Tutor).await, server.token(Role::Tutor).await, server.token(Role::Tutor).await);
    // Two uploads (of two tokens: one token may hold only half the slots) that send their headers
    // and the start of a 1 MB body, then stall, for less than the body timeout.
    let stalled = [stalled_upload(&server.base, &other), stalled_upload(&server.base, &third)];
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = server.snapshot().await;
    let started = std::time::Instant::now();
    let response =
        server.upload(&tutor, "x.jpg", corpus_bytes("jpg/gps/DSCN0027.jpg"), &[("purposes", "website")]).await;
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() >= std::time::Duration::from_secs(5), "it did not wait for a slot");
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "busy");
    assert_eq!(server.snapshot().await, before);

    // Once a slot is free again, uploads go through.
    drop(stalled);
    let response =
        server.upload(&tutor, "x.jpg", corpus_bytes("jpg/gps/DSCN0027.jpg"), &[("purposes", "website")]).await;
    assert_eq!(response.status(), 201);
}
