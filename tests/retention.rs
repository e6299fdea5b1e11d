//! Personal data kept only as long as it is needed: each retention rule, on short durations,
//! deletes exactly the images it should and nothing else (a released photo survives `held_photo`;
//! a photo of a leaver and a stayer follows the leaver's rule; a publication already made is not
//! taken down); the preview lists them before they go; the MIS import marks leavers. On both store
//! backends.

mod common;

use std::time::Duration;

use common::api::{consenting_adult, create_learner, get, get_json, patch, post, post_raw, upload_tagged};
use common::fixtures::distinct_jpeg;
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use serde_json::{json, Value};

/// A server whose maintenance runs every second, with `held_photo` and `after_leaving` short.
async fn start(db: Db, blobs: Blobs) -> TestServer {
    TestServer::start_adjusted(db, blobs, |s| {
        s.maintenance_interval = Duration::from_secs(1);
        s.retention.held_photo = Some(Duration::from_secs(10));
        s.retention.after_leaving = Some(Duration::from_secs(2));
        s.retention.learner_record_after_leaving = None;
    })
    .await
}

async fn image_deleted(server: &TestServer, photo: &str) -> bool {
    server.store.photo(photo).await.unwrap().unwrap().image_deleted_at.is_some()
}

/// Waits (up to 30 s) until `photo`'s image is deleted.
async fn until_deleted(server: &TestServer, photo: &str) {
    for _ in 0..300 {
        if image_deleted(server, photo).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the image of {photo} was never deleted");
}

async fn preview(server: &TestServer, within: &str) -> Value {
    get_json(server, &server.admin, &format!("/api/v1/retention/preview?within={within}")).await
}

/// The planned deletions of `preview` as (photo id, rule).
fn planned(preview: &Value) -> Vec<(String, String)> {
    preview["deletions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["photo_id"].as_str().unwrap().to_string(), d["rule"].as_str().unwrap().to_string()))
        .collect()
}

fn today() -> String {
    let zone = consentgate::policy::zone::Zone::named("Europe/London").unwrap();
    let day = zone.date_of(time::OffsetDateTime::now_utc());
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

fn tomorrow() -> String {
    let zone = consentgate::policy::zone::Zone::named("Europe/London").unwrap();
    let day = zone.date_of(time::OffsetDateTime::now_utc()).next_day().unwrap();
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

async fn retention_rules_delete_exactly_what_they_should(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let (ben, _) = consenting_adult(&server, "Ben", "Baker", &["website"]).await;
    let (cara, _) = consenting_adult(&server, "Cara", "Cole", &["website"]).await;
    let dan =
        create_learner(&server, json!({"given_name": "Dan", "family_name": "Dale", "date_of_birth": "1990-02-02"}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
    let id = |photo: &Value| photo["id"].as_str().unwrap().to_string();
    // Never released: Dan has said nothing.
    let held = id(&upload_tagged(&server, &tutor, distinct_jpeg(1, 320, 240), "website", &[&dan], &[]).await);
    // Released, never published: the stayer alone.
    let released = id(&upload_tagged(&server, &tutor, distinct_jpeg(2, 320, 240), "website", &[&ben], &[]).await);
    // The leaver with the stayer, queued.
    let group = id(&upload_tagged(&server, &tutor, distinct_jpeg(3, 320, 240), "website", &[&ben, &cara], &[]).await);
    // The leaver alone, published before she leaves.
    let published = id(&upload_tagged(&server, &tutor, distinct_jpeg(4, 320, 240), "website", &[&cara], &[]).await);
    let item = format!("{published}:website");
    let claimed = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website", "item": item})).await;
    assert_eq!(claimed.status(), 200);
    let reported = json!({"url": "https://college.example/news/cara", "channel": "website"});
    assert_eq!(post(&server, &marketing, &format!("/api/v1/queue/{item}/published"), reported).await.status(), 200);
    for photo in [&released, &group] {
        let status = get_json(&server, &server.admin, &format!("/api/v1/photos/{photo}")).await["status"].clone();
        assert_eq!(status["website"]["state"], "queued", "{photo}: {status}");
    }

    // The preview, before anything is due: only the never-released photo, due 10 s after upload.
    let now = preview(&server, "0s").await;
    assert_eq!(planned(&now), vec![], "{now}");
    assert_eq!(
        now["rules"],
        json!({"held_photo": "10s", "after_leaving": "2s", "learner_record_after_leaving": "off"})
    );
    let soon = preview(&server, "1m").await;
    assert_eq!(planned(&soon), vec![(held.clone(), "held_photo".to_string())], "{soon}");
    assert!(soon["deletions"][0]["why"].as_str().unwrap().starts_with("never released since its upload on"));

    // Cara will leave tomorrow: listed ahead (two days), nothing changes today.
    let leaving =
        patch(&server, &server.admin, &format!("/api/v1/learners/{cara}"), json!({"left_on": tomorrow()})).await;
    assert_eq!(leaving.status(), 200);
    assert_eq!(leaving.json::<Value>().await.unwrap()["left_on"], tomorrow());
    let ahead = preview(&server, "2d").await;
    let mut expected = vec![
        (held.clone(), "held_photo".to_string()),
        (group.clone(), "after_leaving".to_string()),
        (published.clone(), "after_leaving".to_string()),
    ];
    let mut listed = planned(&ahead);
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected, "{ahead}");
    let why =
        ahead["deletions"].as_array().unwrap().iter().find(|d| d["photo_id"] == group.as_str()).unwrap()["why"].clone();
    assert_eq!(why, format!("a learner tagged in it left on {}", tomorrow()));
    assert!(!why.as_str().unwrap().contains("Cara"), "no names in the preview");
    // The safeguarding lead's page says the same.
    let page = common::pages::sign_in(&server, &server.admin).await.get(&server, "/admin/retention").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for photo in [&held, &group, &published] {
        assert!(html.contains(photo.as_str()), "the page lists {photo}");
    }
    assert!(html.contains("held_photo") && html.contains("after_leaving") && html.contains("10s"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!image_deleted(&server, &group).await && !image_deleted(&server, &published).await);

    // `held_photo` deletes the never-released image, and nothing else.
    until_deleted(&server, &held).await;
    assert!(!image_deleted(&server, &released).await, "a released photo is not deleted by held_photo");
    assert_eq!(get(&server, &server.admin, &format!("/api/v1/photos/{held}/image")).await.status(), 410);

    // Cara leaves today: the group photo leaves the queue for the leaver's rule and its image goes;
    // her published photo stays published (no takedown) while its image goes too.
    let left = patch(&server, &server.admin, &format!("/api/v1/learners/{cara}"), json!({"left_on": today()})).await;
    assert_eq!(left.status(), 200);
    until_deleted(&server, &group).await;
    until_deleted(&server, &published).await;
    let group_status = get_json(&server, &server.admin, &format!("/api/v1/photos/{group}")).await["status"].clone();
    assert_eq!(group_status["website"]["state"], "held", "{group_status}");
    assert_eq!(group_status["website"]["reasons"], json!(["learner_left"]), "{group_status}");
    let published_status =
        get_json(&server, &server.admin, &format!("/api/v1/photos/{published}")).await["status"].clone();
    assert_eq!(published_status["website"]["state"], "published", "{published_status}");
    let takedowns = get_json(&server, &marketing, "/api/v1/takedowns").await;
    assert_eq!(takedowns.as_array().map(Vec::len), Some(0), "retention takes nothing down: {takedowns}");
    assert!(!image_deleted(&server, &released).await, "the stayer's own photo stays");
    let status = get_json(&server, &server.admin, &format!("/api/v1/photos/{released}")).await["status"].clone();
    assert_eq!(status["website"]["state"], "queued");

    // Only the stayer's photo keeps objects; every deletion is audited with its rule, as system.
    let keys: Vec<String> = server.objects.list_photos().await.unwrap().into_iter().map(|(k, _)| k).collect();
    for gone in [&held, &group, &published] {
        assert!(!keys.iter().any(|k| k.contains(gone.as_str())), "{gone} still has objects: {keys:?}");
    }
    assert!(keys.iter().any(|k| k.contains(released.as_str())), "{keys:?}");
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    for (photo, rule) in [(&held, "held_photo"), (&group, "after_leaving"), (&published, "after_leaving")] {
        let row = audit.iter().find(|r| r.action == "image_deleted" && &r.subject == photo).expect("audited");
        assert_eq!(row.actor, "system");
        assert_eq!(serde_json::from_str::<Value>(&row.details).unwrap()["rule"], rule, "{photo}");
    }
    // Nothing is left to preview, and the chain verifies.
    assert_eq!(planned(&preview(&server, "0s").await), vec![]);
    let rows = server.store.audit_log(0, 100_000).await.unwrap();
    consentgate::store::verify_chain(&rows, (0, consentgate::store::GENESIS_HASH.into())).unwrap();
}

/// A rule set to `off` is never applied, and the preview says so.
async fn a_rule_that_is_off_deletes_nothing(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let dan =
        create_learner(&server, json!({"given_name": "Dan", "family_name": "Dale", "date_of_birth": "1990-02-02"}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
    let left =
        patch(&server, &server.admin, &format!("/api/v1/learners/{dan}"), json!({"left_on": "2020-07-20"})).await;
    assert_eq!(left.status(), 200);
    let photo = upload_tagged(&server, &tutor, distinct_jpeg(9, 320, 240), "website", &[&dan], &[]).await;
    let photo = photo["id"].as_str().unwrap();
    let shown = preview(&server, "3650d").await;
    assert_eq!(
        shown["rules"],
        json!({"held_photo": "off", "after_leaving": "off", "learner_record_after_leaving": "off"})
    );
    assert_eq!(planned(&shown), vec![]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!image_deleted(&server, photo).await);
    // Held for the leaver all the same: leaving holds new use whatever the retention rules say.
    let status = get_json(&server, &server.admin, &format!("/api/v1/photos/{photo}")).await["status"].clone();
    assert!(status["website"]["reasons"].as_array().unwrap().contains(&json!("learner_left")), "{status}");
}

/// The preview's own mistakes are the caller's: a clear 4xx, never a 500.
async fn the_preview_refuses_what_it_cannot_read(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    assert_eq!(get(&server, &tutor, "/api/v1/retention/preview").await.status(), 403);
    assert_eq!(get(&server, "nope", "/api/v1/retention/preview").await.status(), 401);
    for bad in ["soon", "-1d", "99999999999999d", "30d&limit=x"] {
        let response = get(&server, &server.admin, &format!("/api/v1/retention/preview?within={bad}")).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let default = preview(&server, "30d").await;
    assert_eq!(default["within"], "30d");
    assert_eq!(default["truncated"], false);
}

/// The MIS import reads `left_on`, counts learners it does not list, and marks them left only
/// when told to.
async fn the_import_marks_leavers(server: TestServer) {
    let import = |csv: String, query: &'static str| {
        let server = &server;
        async move {
            let response = post_raw(
                server,
                &server.admin,
                &format!("/api/v1/learners/import{query}"),
                "text/csv",
                csv.into_bytes(),
            )
            .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,left_on\n";
    let full = format!(
        "{header}Amira,Haddad,2001-04-17,MIS-1,,,\nBen,Baker,2001-05-01,MIS-2,,,20/07/2026\nCara,Cole,2001-06-01,MIS-3,,,\n"
    );
    let first = import(full, "").await;
    assert_eq!((first["created"].clone(), first["not_in_file"].clone()), (json!(3), json!(0)), "{first}");
    let found = get_json(&server, &server.admin, "/api/v1/learners?q=MIS-").await;
    let by_ref = |r: &str| found.as_array().unwrap().iter().find(|l| l["external_ref"] == r).unwrap().clone();
    assert_eq!(by_ref("MIS-2")["left_on"], "2026-07-20");
    assert_eq!(by_ref("MIS-1")["left_on"], Value::Null);

    // A partial export: Cara is missing. Counted, kept, not marked.
    let partial = format!("{header}Amira,Haddad,2001-04-17,MIS-1,,,\n");
    let kept = import(partial.clone(), "").await;
    assert_eq!((kept["not_in_file"].clone(), kept["marked_left"].clone()), (json!(1), json!(0)), "{kept}");
    let dry = import(partial.clone(), "?dry_run=true&mark_missing_as_left=true").await;
    assert_eq!((dry["not_in_file"].clone(), dry["marked_left"].clone()), (json!(1), json!(1)), "{dry}");
    let cara = by_ref("MIS-3")["id"].as_str().unwrap().to_string();
    let still = get_json(&server, &server.admin, &format!("/api/v1/learners/{cara}")).await;
    assert_eq!(still["left_on"], Value::Null, "a dry run marks nobody");
    let marked = import(partial, "?mark_missing_as_left=true").await;
    assert_eq!((marked["not_in_file"].clone(), marked["marked_left"].clone()), (json!(1), json!(1)), "{marked}");
    let cara_now = get_json(&server, &server.admin, &format!("/api/v1/learners/{cara}")).await;
    assert_eq!(cara_now["left_on"], today());
    // Ben left already, so he is not counted as missing; a blank cell keeps his leaving day.
    assert_eq!(get_json(&server, &server.admin, "/api/v1/learners?q=MIS-2").await[0]["left_on"], "2026-07-20");
    // An admin can clear a leaving day; a bad one is refused.
    let cleared = patch(&server, &server.admin, &format!("/api/v1/learners/{cara}"), json!({"left_on": null})).await;
    assert_eq!(cleared.json::<Value>().await.unwrap()["left_on"], Value::Null);
    let bad =
        patch(&server, &server.admin, &format!("/api/v1/learners/{cara}"), json!({"left_on": "31/02/2026"})).await;
    assert_eq!(bad.status(), 422);
}

/// `learner_record_after_leaving` on a short duration: listed ahead, then erased as on request,
/// by `system`, with the rule as its reason; a stayer is untouched.
async fn a_leavers_record_is_erased_by_the_rule(server: TestServer) {
    let dana = create_learner(
        &server,
        json!({"given_name": "Dana", "family_name": "Dunstable", "date_of_birth": "1999-02-02", "left_on": tomorrow()}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (eve, _) = consenting_adult(&server, "Eve", "Stays", &["website"]).await;
    let tutor = server.token(Role::Tutor).await;
    let pictured = upload_tagged(&server, &tutor, distinct_jpeg(41, 320, 240), "website", &[&dana, &eve], &[]).await;
    let pictured = pictured["id"].as_str().unwrap().to_string();
    let ahead = preview(&server, "2d").await;
    assert_eq!(ahead["erasures"][0]["learner_id"], dana.as_str(), "{ahead}");
    assert_eq!(ahead["erasures"][0]["left_on"], tomorrow());
    // The preview says which images the erasure takes with it.
    assert_eq!(ahead["erasures"][0]["images"], json!([pictured]), "{ahead}");
    assert_eq!(ahead["erasures"].as_array().unwrap().len(), 1, "{ahead}");
    assert_eq!(preview(&server, "0s").await["erasures"], json!([]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(server.store.learner(&dana).await.unwrap().unwrap().erased_at.is_none(), "not before it is due");

    let left = patch(&server, &server.admin, &format!("/api/v1/learners/{dana}"), json!({"left_on": today()})).await;
    assert_eq!(left.status(), 200);
    for _ in 0..300 {
        if server.store.learner(&dana).await.unwrap().unwrap().erased_at.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let record = server.store.learner(&dana).await.unwrap().unwrap();
    assert!(record.erased_at.is_some() && record.family_name.is_empty() && record.left_on.is_none(), "{record:?}");
    assert!(server.store.learner(&eve).await.unwrap().unwrap().erased_at.is_none());
    let photo = server.store.photo(&pictured).await.unwrap().unwrap();
    assert!(photo.image_deleted_at.is_some(), "the erasure deleted the image the preview named");
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    let started = audit.iter().find(|r| r.action == "erasure_started" && r.subject == dana).expect("audited");
    assert_eq!(started.actor, "system");
    assert!(started.details.contains("learner_record_after_leaving"), "{}", started.details);
    assert!(audit.iter().any(|r| r.action == "learner_erased" && r.subject == dana));
    assert_eq!(preview(&server, "2d").await["erasures"], json!([]));
}

async fn start_erasing_leavers(db: Db, blobs: Blobs) -> TestServer {
    TestServer::start_adjusted(db, blobs, |s| {
        s.maintenance_interval = Duration::from_secs(1);
        s.retention.learner_record_after_leaving = Some(Duration::from_secs(2));
    })
    .await
}

mod leavers {
    use super::*;
    on_both_backends!(start = super::start_erasing_leavers; a_leavers_record_is_erased_by_the_rule);
}

async fn start_without_rules(db: Db, blobs: Blobs) -> TestServer {
    TestServer::start_adjusted(db, blobs, |s| {
        s.maintenance_interval = Duration::from_secs(1);
        s.retention.held_photo = None;
        s.retention.after_leaving = None;
        s.retention.learner_record_after_leaving = None;
    })
    .await
}

on_both_backends!(start = super::start; retention_rules_delete_exactly_what_they_should);

mod off {
    use super::*;
    on_both_backends!(start = super::start_without_rules; a_rule_that_is_off_deletes_nothing);
}

mod defaults {
    use super::*;
    on_both_backends!(the_preview_refuses_what_it_cannot_read, the_import_marks_leavers);
}
