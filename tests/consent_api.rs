//! Consent through the API on both store backends: who may consent, group photos, withdrawal
//! links (GET changes nothing, POST empties the queue at once), expiry without any request, and
//! bad input that stores nothing.

mod common;

use std::time::Duration;

use common::api::{delete, get, get_json, learner_with_guardian, patch, post, post_raw, record_consent, upload_tagged};
use common::fixtures::marked_jpeg;
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use serde_json::{json, Value};

on_both_backends!(
    start = super::start;
    a_child_needs_a_guardian_and_a_group_needs_everyone,
    the_withdrawal_link_shows_on_get_and_withdraws_on_post_once,
    an_expired_grant_holds_the_photo_without_any_request,
    bad_consent_input_is_refused_and_stores_nothing,
    the_withdrawal_pages_are_rate_limited,
    a_no_dated_before_a_grant_or_ahead_of_the_clock_holds_at_once,
    untagging_a_learner_whose_no_stands_keeps_the_photo_held,
    an_adults_own_grant_releases_a_photo_their_parent_refused_as_a_child,
    a_lost_withdrawal_link_is_issued_again_and_the_old_one_stops_working,
    a_removed_guardians_grant_stops_counting_and_their_no_and_link_keep_working,
    a_saved_consent_form_is_chosen_by_id_instead_of_typing_its_words,
    a_family_withdraws_social_media_and_keeps_the_website,
    a_link_taken_back_in_full_otherwise_never_withdraws_a_newer_grant,
);

/// The withdrawal page lists each purpose the grant still covers as a ticked box: a family
/// withdraws social media only and the website use stays (queued, image kept); the same link
/// withdraws the rest later, and only then is it used up.
async fn a_family_withdraws_social_media_and_keeps_the_website(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, parent) = learner_with_guardian(&server, "Amira", "Partialtest", "2011-05-05").await;
    let photo = upload_tagged(
        &server,
        &tutor,
        marked_jpeg(320, 240, 31, 32, [0, 200, 255]),
        "website,social_media",
        &[&amira],
        &[],
    )
    .await;
    let photo = photo["id"].as_str().unwrap().to_string();
    let granted =
        record_consent(&server, &amira, grant_by("guardian", Some(&parent), &["website", "social_media"])).await;
    let link = granted["withdraw_url"].as_str().unwrap().to_string();
    assert_eq!(status(&server, &photo).await["social_media"]["state"], "queued");
    let form = |body: &'static str| {
        server.client.post(&link).header("content-type", "application/x-www-form-urlencoded").body(body).send()
    };

    let html = server.client.get(&link).send().await.unwrap().text().await.unwrap();
    for purpose in ["website", "social_media"] {
        assert!(html.contains(&format!("name=\"purposes\" value=\"{purpose}\" checked")), "{purpose} ticked: {html}");
    }
    // Nothing ticked, or only what the grant does not cover: nothing changes, and the page says so.
    let before = server.snapshot().await;
    for body in ["choice=1", "choice=1&purposes=print", "choice=1&purposes=nonsense"] {
        let response = form(body).await.unwrap();
        assert_eq!(response.status(), 422, "{body}");
        assert!(response.text().await.unwrap().contains("tick at least one use"), "{body}");
    }
    assert_eq!(server.snapshot().await, before);

    // Social media only: out of that queue at once; the website use stays, and so does the image.
    let response = form("choice=1&purposes=social_media").await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("on our social media accounts") && text.contains("Consent still stands"), "{text}");
    let stored = server.store.photo(&photo).await.unwrap().unwrap();
    let state = |p: &str| serde_json::to_value(&stored.status[&p.parse().unwrap()]).unwrap();
    assert_eq!(state("social_media")["state"], "held");
    assert_eq!(state("social_media")["reasons"], json!(["withdrawn"]));
    assert_eq!(state("website")["state"], "queued");
    assert!(stored.image_deleted_at.is_none(), "the website may still use the image");
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents")).await;
    assert_eq!(history["decisions"]["website"]["allowed"], true);
    assert_eq!(history["decisions"]["social_media"]["allowed"], false);
    let withdrawn: Vec<&Value> =
        history["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "withdrawn").collect();
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["purposes"], json!(["social_media"]));
    assert_eq!(withdrawn[0]["given_by"], "guardian");

    // The link still withdraws what is left, and offers only that; social media again is nothing.
    let html = server.client.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("value=\"website\" checked") && !html.contains("value=\"social_media\""), "{html}");
    assert_eq!(form("choice=1&purposes=social_media").await.unwrap().status(), 422);
    let rest = server.client.post(&link).send().await.unwrap();
    assert_eq!(rest.status(), 200);
    assert!(!rest.text().await.unwrap().contains("Consent still stands"));
    assert_eq!(status(&server, &photo).await["website"]["state"], "held");
    assert_eq!(server.client.post(&link).send().await.unwrap().status(), 410, "used up now");
}

/// A link whose grant was taken back in full otherwise (part through the link, part on paper) is
/// used up: it never withdraws the newer grant the family gave since. (A server of its own: the
/// withdrawal pages allow 20 requests a minute per address.)
async fn a_link_taken_back_in_full_otherwise_never_withdraws_a_newer_grant(server: TestServer) {
    let (ben, parent) = learner_with_guardian(&server, "Ben", "Partialtest", "2011-05-05").await;
    let first = record_consent(&server, &ben, grant_by("guardian", Some(&parent), &["website", "social_media"])).await;
    let old_link = first["withdraw_url"].as_str().unwrap().to_string();
    let partial = server
        .client
        .post(&old_link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("choice=1&purposes=social_media")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 200);
    record_consent(&server, &ben, grant_by("guardian", Some(&parent), &["social_media"])).await;
    let mut paper_no = grant_by("guardian", Some(&parent), &["website"]);
    paper_no["kind"] = json!("withdrawn");
    record_consent(&server, &ben, paper_no).await;
    let page = server.client.get(&old_link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("already been withdrawn"), "{page}");
    assert_eq!(server.client.post(&old_link).send().await.unwrap().status(), 410);
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{ben}/consents")).await;
    assert_eq!(history["decisions"]["social_media"]["allowed"], true, "the newer grant stands: {history}");
}

/// A consent form template: saved once (a version names one text for good), listed, chosen by id
/// when consent is recorded (its version and hash stand for typed ones, and its words can be read
/// back), retired from the list; marketing and tutors have no say.
async fn a_saved_consent_form_is_chosen_by_id_instead_of_typing_its_words(server: TestServer) {
    let words = "I agree to photos of my child being used on the college website.";
    let body = json!({"name": "Photo consent, autumn", "form_version": "paper-2026-autumn", "form_text": words});
    for role in [Role::Tutor, Role::Marketing] {
        let token = server.token(role).await;
        assert_eq!(post(&server, &token, "/api/v1/form-templates", body.clone()).await.status(), 403);
        assert_eq!(get(&server, &token, "/api/v1/form-templates").await.status(), 403);
    }
    let created = post(&server, &server.admin, "/api/v1/form-templates", body.clone()).await;
    assert_eq!(created.status(), 201);
    let template: Value = created.json().await.unwrap();
    let hash = blake3::hash(words.as_bytes()).to_hex().to_string();
    assert_eq!(
        (template["form_version"].as_str(), template["form_text_hash"].as_str()),
        (Some("paper-2026-autumn"), Some(hash.as_str()))
    );
    // The same version again, even with other words, is refused: one version, one text.
    let again = post(
        &server,
        &server.admin,
        "/api/v1/form-templates",
        json!({"name": "x", "form_version": "paper-2026-autumn", "form_text": "other"}),
    )
    .await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "form_version_taken");
    for bad in [
        json!({"name": "", "form_version": "v9", "form_text": "t"}),
        json!({"name": "n", "form_version": "v9", "form_text": "  "}),
    ] {
        assert_eq!(post(&server, &server.admin, "/api/v1/form-templates", bad.clone()).await.status(), 422, "{bad}");
    }
    let listed = get_json(&server, &server.admin, "/api/v1/form-templates").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["form_text"], words);

    // Chosen by id: the consent carries the template's version and hash.
    let (learner, guardian) = learner_with_guardian(&server, "Tara", "Templatetest", "2012-05-01").await;
    let id = template["id"].as_str().unwrap();
    let grant = json!({
        "kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
        "template_id": id, "method": "paper_form", "evidence": "box 3"
    });
    record_consent(&server, &learner, grant.clone()).await;
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{learner}/consents")).await;
    assert_eq!(history["events"][0]["form_version"], "paper-2026-autumn");
    assert_eq!(history["events"][0]["form_text_hash"], hash.as_str());
    assert_eq!(history["decisions"]["website"]["allowed"], true);
    // A template and typed words together is refused (which would be the proof?); so is an
    // unknown template; a consent with neither says what to do.
    let before = server.snapshot().await;
    let path = format!("/api/v1/learners/{learner}/consents");
    let mut both = grant.clone();
    both["form_version"] = json!("typed");
    let unknown = json!({"kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
        "template_id": "0192f0c4-4b1e-7c3a-9d2e-1234567890ab", "method": "paper_form", "evidence": "box 3"});
    let neither = json!({"kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
        "form_version": "v1", "method": "paper_form", "evidence": "box 3"});
    for (bad, says) in [(both, "not both"), (unknown, "choose one from the list"), (neither, "choose a saved form")] {
        let response = post(&server, &server.admin, &path, bad.clone()).await;
        assert_eq!(response.status(), 422, "{bad}");
        let message = response.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
        assert!(message.contains(says), "{message}");
    }
    assert_eq!(server.snapshot().await, before, "a refused consent stores nothing");

    // Retired: off the list, no longer chosen, the consent recorded on it unchanged.
    assert_eq!(delete(&server, &server.admin, &format!("/api/v1/form-templates/{id}")).await.status(), 204);
    assert_eq!(delete(&server, &server.admin, &format!("/api/v1/form-templates/{id}")).await.status(), 409);
    assert_eq!(delete(&server, &server.admin, "/api/v1/form-templates/nonsense").await.status(), 404);
    assert!(get_json(&server, &server.admin, "/api/v1/form-templates").await.as_array().unwrap().is_empty());
    assert_eq!(
        get_json(&server, &server.admin, "/api/v1/form-templates?retired=true").await.as_array().unwrap().len(),
        1
    );
    let retired = post(&server, &server.admin, &path, grant).await;
    assert_eq!(retired.status(), 422);
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{learner}/consents")).await;
    assert_eq!(history["events"][0]["form_version"], "paper-2026-autumn");
}

/// A server whose maintenance re-evaluates every second, so the passing of time shows quickly.
async fn start(db: Db, blobs: Blobs) -> TestServer {
    TestServer::start_adjusted(db, blobs, |s| s.maintenance_interval = Duration::from_secs(1)).await
}

fn grant_by(given_by: &str, guardian: Option<&str>, purposes: &[&str]) -> Value {
    let mut body = json!({
        "kind": "granted", "purposes": purposes, "given_by": given_by,
        "form_version": "2026-autumn", "form_text": "I agree to photos being used for...",
        "method": "paper_form", "evidence": "paper form filed in cabinet 3"
    });
    if let Some(g) = guardian {
        body["guardian_id"] = json!(g);
    }
    body
}

/// Uploads a picture distinct per `seed` (but a look-alike of every other seed's) for the website
/// and print, tagging `learners` as all in it; returns its id.
async fn upload(server: &TestServer, tutor: &str, seed: u32, learners: &[&str]) -> String {
    let photo = marked_jpeg(320, 240, seed, 32, [255, (seed * 37 % 256) as u8, 0]);
    upload_tagged(server, tutor, photo, "website,print", learners, &[]).await["id"].as_str().unwrap().into()
}

async fn status(server: &TestServer, photo: &str) -> Value {
    get_json(server, &server.admin, &format!("/api/v1/photos/{photo}")).await["status"].clone()
}

async fn a_child_needs_a_guardian_and_a_group_needs_everyone(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, amira_parent) = learner_with_guardian(&server, "Amira", "Testperson", "2011-05-05").await;
    let (ben, _) = learner_with_guardian(&server, "Ben", "Testperson", "2012-06-06").await;
    let solo = upload(&server, &tutor, 1, &[&amira]).await;
    let group = upload(&server, &tutor, 2, &[&amira, &ben]).await;

    // Her own grant, at 15, is not enough.
    let own = record_consent(&server, &amira, grant_by("learner", None, &["website"])).await;
    assert!(own["withdraw_url"].as_str().unwrap().contains("/w/"));
    let s = status(&server, &solo).await;
    assert_eq!(s["website"]["state"], "held");
    assert_eq!(s["website"]["reasons"], json!(["needs_guardian"]));
    assert_eq!(s["website"]["learners"], json!([{"learner_id": amira, "reason": "needs_guardian"}]));

    // Her guardian's grant queues the website purpose; print was not granted.
    let by_parent = record_consent(&server, &amira, grant_by("guardian", Some(&amira_parent), &["website"])).await;
    assert!(by_parent["statuses_changed"].as_u64().unwrap() >= 1);
    let s = status(&server, &solo).await;
    assert_eq!(s["website"], json!({"state": "queued", "reasons": [], "learners": []}));
    assert_eq!(s["print"]["reasons"], json!(["no_consent"]));

    // The group photo stays held while Ben has no consent, and says whose is missing.
    let s = status(&server, &group).await;
    assert_eq!(s["website"]["state"], "held");
    assert_eq!(s["website"]["learners"], json!([{"learner_id": ben, "reason": "no_consent"}]));

    // The history and the decision per purpose.
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents")).await;
    assert_eq!(history["events"].as_array().unwrap().len(), 2);
    assert_eq!(history["events"][1]["given_by"], "guardian");
    assert_eq!(history["events"][1]["guardian_id"], json!(amira_parent));
    assert_eq!(history["events"][1]["form_text_hash"].as_str().unwrap().len(), 64);
    assert_eq!(history["decisions"]["website"]["allowed"], true);
    assert_eq!(history["decisions"]["print"], json!({"allowed": false, "basis": null, "reasons": ["no_consent"]}));

    // Untagging Ben (the tutor's edit) re-evaluates at once.
    let response = patch(&server, &tutor, &format!("/api/v1/photos/{group}"), json!({"learner_ids": [amira]})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"]["website"]["state"], "queued");

    // Every event and every status change is in the audit log, with its actor, and no name.
    let audit = server.store.audit_log(0, 1000).await.unwrap();
    assert_eq!(audit.iter().filter(|r| r.action == "consent_recorded").count(), 2);
    assert!(audit.iter().any(|r| r.action == "status_changed" && r.subject == solo && r.actor != "system"));
    assert!(audit.iter().all(|r| !r.details.contains("Amira") && !r.details.contains("Testperson")));
}

async fn the_withdrawal_link_shows_on_get_and_withdraws_on_post_once(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, parent) = learner_with_guardian(&server, "Amira", "Testperson", "2011-05-05").await;
    let photos = [upload(&server, &tutor, 3, &[&amira]).await, upload(&server, &tutor, 4, &[&amira]).await];
    let granted = record_consent(&server, &amira, grant_by("guardian", Some(&parent), &["website", "print"])).await;
    for p in &photos {
        assert_eq!(status(&server, p).await["website"]["state"], "queued");
    }
    let link = granted["withdraw_url"].as_str().unwrap().to_string();
    assert!(link.starts_with(&server.base), "{link}");
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 64, "a 256-bit token");
    // Only the token's hash is stored.
    for row in server.store.audit_log(0, 1000).await.unwrap() {
        assert!(!row.details.contains(token));
    }

    // GET (what a mail scanner does) shows the page and changes nothing.
    let before = server.snapshot().await;
    let page = server.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(html.contains("Amira") && !html.contains("Testperson"), "first name only: {html}");
    assert!(html.contains("<form method=\"post\"") && html.contains("on our website"));
    assert!(!html.contains("<script"), "works without JavaScript");
    assert_eq!(server.snapshot().await, before, "GET changed something");
    for p in &photos {
        assert_eq!(status(&server, p).await["website"]["state"], "queued");
    }

    // POST withdraws, and when it has returned every photo of hers is out of the queue: read the
    // database directly, not through the API (which re-evaluates on read).
    let response = server.client.post(&link).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Consent withdrawn"));
    for p in &photos {
        let stored = server.store.photo(p).await.unwrap().unwrap();
        for purpose in ["website", "print"] {
            let st = &stored.status[&purpose.parse().unwrap()];
            assert_eq!(serde_json::to_value(st).unwrap()["state"], "held", "{p} {purpose}");
            assert_eq!(serde_json::to_value(st).unwrap()["reasons"], json!(["withdrawn"]));
        }
    }
    let audit = server.store.audit_log(0, 1000).await.unwrap();
    assert!(audit
        .iter()
        .any(|r| r.action == "consent_withdrawn" && r.actor == "withdrawal_link" && r.subject == amira));
    assert_eq!(audit.iter().filter(|r| r.action == "status_changed" && r.actor == "withdrawal_link").count(), 4);

    // A second POST changes nothing and says so; so does the page.
    let before = server.snapshot().await;
    let again = server.client.post(&link).send().await.unwrap();
    assert_eq!(again.status(), 410);
    let text = again.text().await.unwrap();
    assert!(text.contains("already been withdrawn"));
    // Consent may have been given again since: the page must not promise the photos are unused.
    assert!(!text.contains("not being used") && text.contains("given again"), "{text}");
    assert_eq!(server.snapshot().await, before);
    assert!(server.client.get(&link).send().await.unwrap().text().await.unwrap().contains("already been withdrawn"));

    // Every purpose of those photos was withdrawn, so their images are deleted (the rows and
    // fingerprints stay) and they can never be released again.
    assert_eq!(server.snapshot().await["objects"], 0);
    for p in &photos {
        assert!(server.store.photo(p).await.unwrap().unwrap().image_deleted_at.is_some());
    }
    // A later grant by the same guardian counts again (withdrawn, then granted later) for what
    // is photographed from now on; the old photos stay held.
    record_consent(&server, &amira, grant_by("guardian", Some(&parent), &["website"])).await;
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents")).await;
    assert_eq!(history["decisions"]["website"]["allowed"], true);
    assert_eq!(history["decisions"]["print"]["reasons"], json!(["withdrawn"]));
    assert_eq!(status(&server, &photos[0]).await["website"]["state"], "held");
    let fresh = upload(&server, &tutor, 9, &[&amira]).await;
    assert_eq!(status(&server, &fresh).await["website"]["state"], "queued");

    // Unknown and malformed tokens get a plain 404 page that reveals nothing.
    for bad in ["0".repeat(64), "not-a-token".to_string(), "%00".to_string()] {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let response =
                server.client.request(method.clone(), format!("{}/w/{bad}", server.base)).send().await.unwrap();
            assert_eq!(response.status(), 404, "{method} {bad}");
            let html = response.text().await.unwrap();
            assert!(html.contains("not recognised") && !html.contains("Amira"), "{html}");
        }
    }
}

async fn an_expired_grant_holds_the_photo_without_any_request(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, parent) = learner_with_guardian(&server, "Amira", "Testperson", "2011-05-05").await;
    let photo = upload(&server, &tutor, 5, &[&amira]).await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let mut body = grant_by("guardian", Some(&parent), &["website"]);
    body["expires_at"] = json!(expires.format(&time::format_description::well_known::Rfc3339).unwrap());
    record_consent(&server, &amira, body).await;
    let website = |p: &consentgate::store::PhotoRecord| {
        serde_json::to_value(&p.status[&consentgate::policy::Purpose::Website]).unwrap()
    };
    assert_eq!(website(&server.store.photo(&photo).await.unwrap().unwrap())["state"], "queued");
    // No request in between: only the server's own sweep can notice the expiry.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let stored = website(&server.store.photo(&photo).await.unwrap().unwrap());
        if stored["state"] == "held" {
            assert_eq!(stored["reasons"], json!(["expired"]));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the expired grant still releases the photo");
    }
    let audit = server.store.audit_log(0, 1000).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "status_changed" && r.actor == "system" && r.subject == photo));
}

async fn bad_consent_input_is_refused_and_stores_nothing(server: TestServer) {
    let (amira, parent) = learner_with_guardian(&server, "Amira", "Testperson", "2011-05-05").await;
    let (_, other_parent) = learner_with_guardian(&server, "Ben", "Testperson", "2012-06-06").await;
    let good = grant_by("guardian", Some(&parent), &["website"]);
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let mut without_form = good.clone();
    without_form.as_object_mut().unwrap().remove("form_text");
    // (what, learner path, body, status, error code)
    let cases: Vec<(&str, String, Value, u16, &str)> = vec![
        ("unknown learner", "0192f0c4-4b1e-7c3a-9d2e-1234567890ab".into(), good.clone(), 404, "not_found"),
        ("not an id", "nobody".into(), good.clone(), 404, "not_found"),
        ("unknown purpose", amira.clone(), with("purposes", json!(["billboard"])), 422, "bad_json"),
        ("no purpose", amira.clone(), with("purposes", json!([])), 422, "bad_form"),
        ("unknown kind", amira.clone(), with("kind", json!("maybe")), 422, "bad_json"),
        ("malformed given_at", amira.clone(), with("given_at", json!("31/02/2026")), 422, "bad_form"),
        ("future given_at", amira.clone(), with("given_at", json!("2999-01-01T00:00:00Z")), 422, "bad_form"),
        ("malformed expiry", amira.clone(), with("expires_at", json!("next summer")), 422, "bad_form"),
        ("expiry before grant", amira.clone(), with("expires_at", json!("2001-01-01")), 422, "bad_form"),
        (
            "expiry on a refusal",
            amira.clone(),
            json!({"kind": "refused", "purposes": ["website"], "given_by": "learner", "expires_at": "2030-01-01",
                   "form_version": "v", "form_text": "t", "method": "email", "evidence": "e"}),
            422,
            "bad_form",
        ),
        ("another learner's guardian", amira.clone(), with("guardian_id", json!(other_parent)), 422, "not_a_guardian"),
        ("guardian without id", amira.clone(), with("guardian_id", Value::Null), 422, "bad_form"),
        ("unknown giver", amira.clone(), with("given_by", json!("teacher")), 422, "bad_form"),
        ("no form text", amira.clone(), without_form, 422, "bad_form"),
        ("bad form hash", amira.clone(), with("form_text_hash", json!("xyz")), 422, "bad_form"),
        ("unknown method", amira.clone(), with("method", json!("telepathy")), 422, "bad_form"),
        ("NUL in evidence", amira.clone(), with("evidence", json!("a\u{0}b")), 422, "bad_form"),
        ("unknown field", amira.clone(), with("colour", json!("red")), 422, "bad_json"),
    ];
    for (what, learner, body, status, code) in cases {
        let before = server.snapshot().await;
        let response = post(&server, &server.admin, &format!("/api/v1/learners/{learner}/consents"), body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty(), "{what}");
        assert_eq!(server.snapshot().await, before, "{what}: something was stored");
    }
    // Malformed JSON, and the wrong role.
    let path = format!("/api/v1/learners/{amira}/consents");
    let response = post_raw(&server, &server.admin, &path, "application/json", "{\"kind\": ").await;
    assert_eq!(response.status(), 422);
    let tutor = server.token(Role::Tutor).await;
    assert_eq!(post(&server, &tutor, &format!("/api/v1/learners/{amira}/consents"), good).await.status(), 403);
}

async fn the_withdrawal_pages_are_rate_limited(server: TestServer) {
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses
            .push(server.client.get(format!("{}/w/{}", server.base, "1".repeat(64))).send().await.unwrap().status());
    }
    assert!(statuses[..5].iter().all(|s| *s == 404), "{statuses:?}");
    assert!(statuses.iter().any(|s| *s == 429), "30 requests at once were all answered: {statuses:?}");
}

fn no_by_learner(kind: &str, purposes: &[&str], given_at: &str) -> Value {
    let mut body = grant_by("learner", None, purposes);
    body["kind"] = json!(kind);
    body["given_at"] = json!(given_at);
    body
}

async fn a_no_dated_before_a_grant_or_ahead_of_the_clock_holds_at_once(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (cara, _) = learner_with_guardian(&server, "Cara", "Testperson", "1990-03-03").await;
    record_consent(&server, &cara, grant_by("learner", None, &["website", "print"])).await;
    let photo = upload(&server, &tutor, 31, &[&cara]).await;
    assert_eq!(status(&server, &photo).await["website"]["state"], "queued");

    // The admin form sends a date alone: midnight today, earlier than the grant recorded this
    // morning. The withdrawal is recorded after the grant, so it stands.
    let now = time::OffsetDateTime::now_utc();
    let midnight = now.date().midnight().assume_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    record_consent(&server, &cara, no_by_learner("withdrawn", &["website"], &midnight)).await;
    let s = status(&server, &photo).await;
    assert_eq!((s["website"]["state"].clone(), s["website"]["reasons"].clone()), (json!("held"), json!(["withdrawn"])));
    assert_eq!(s["print"]["state"], "queued");

    // A refusal dated two minutes ahead (a clock ahead of ours) counts now, and with every purpose
    // held by a no the image is deleted at once.
    let ahead = (now + time::Duration::minutes(2)).format(&time::format_description::well_known::Rfc3339).unwrap();
    record_consent(&server, &cara, no_by_learner("refused", &["print"], &ahead)).await;
    let s = status(&server, &photo).await;
    assert_eq!((s["print"]["state"].clone(), s["print"]["reasons"].clone()), (json!("held"), json!(["refused"])));
    let image = get(&server, &server.admin, &format!("/api/v1/photos/{photo}/image")).await;
    assert_eq!(image.status(), 410, "the image of a photo everyone said no to is deleted");

    // The history's decision agrees.
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{cara}/consents")).await;
    assert_eq!(history["decisions"]["print"]["reasons"], json!(["refused"]));
    assert_eq!(history["decisions"]["website"]["reasons"], json!(["withdrawn"]));
}

async fn untagging_a_learner_whose_no_stands_keeps_the_photo_held(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, _) = learner_with_guardian(&server, "Amira", "Testperson", "1990-01-01").await;
    let (ben, _) = learner_with_guardian(&server, "Ben", "Testperson", "1991-01-01").await;
    let (cara, _) = learner_with_guardian(&server, "Cara", "Testperson", "1992-01-01").await;
    for id in [&amira, &ben] {
        record_consent(&server, id, grant_by("learner", None, &["website", "print"])).await;
    }
    let photo = upload(&server, &tutor, 41, &[&amira, &ben, &cara]).await;
    let now = || time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap();
    record_consent(&server, &ben, no_by_learner("withdrawn", &["website"], &now())).await;
    assert_eq!(status(&server, &photo).await["website"]["state"], "held");

    // The tutor drops Ben (who withdrew) and Cara (who never answered) from the tags.
    let response = patch(&server, &tutor, &format!("/api/v1/photos/{photo}"), json!({ "learner_ids": [amira] })).await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["learner_ids"], json!([amira]));
    // Still held for Ben while his withdrawal stands; print, which he did not withdraw, and Cara,
    // who said nothing, do not hold it.
    assert_eq!(view["status"]["website"]["state"], "held", "{view}");
    assert_eq!(view["status"]["website"]["reasons"], json!(["matches_withdrawn"]));
    assert_eq!(view["status"]["website"]["learners"], json!([{"learner_id": ben, "reason": "matches_withdrawn"}]));
    assert_eq!(view["status"]["print"]["state"], "queued");
    let queue = get_json(&server, &server.token(Role::Marketing).await, "/api/v1/queue?purpose=website").await;
    assert!(!queue.to_string().contains(&photo), "an untagged refusal released the photo: {queue}");

    // When Ben grants again, later than his withdrawal, the block lifts.
    record_consent(&server, &ben, grant_by("learner", None, &["website"])).await;
    assert_eq!(status(&server, &photo).await["website"]["state"], "queued");
}

/// Holds the next S3 `GET` of a photo object between the service and moto until released: the
/// test can then act between the download's release check and its reading of the bytes.
#[derive(Default)]
struct S3Gate {
    hold_get: std::sync::atomic::AtomicBool,
    get_arrived: tokio::sync::Notify,
    release_get: tokio::sync::Notify,
}

/// A TCP proxy in front of moto that consults `gate`; returns its endpoint URL.
async fn gated_s3_proxy(gate: std::sync::Arc<S3Gate>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = common::server::moto_endpoint().trim_start_matches("http://").to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
            let gate = gate.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    let photo_get = chunk.starts_with(b"GET ") && chunk.windows(8).any(|w| w == b"/photos/");
                    if photo_get && gate.hold_get.swap(false, std::sync::atomic::Ordering::SeqCst) {
                        gate.get_arrived.notify_one();
                        gate.release_get.notified().await;
                    }
                    if server_write.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                let _ = server_write.shutdown().await;
            });
        }
    });
    endpoint
}

/// Marketing's download passes its release check, then a withdrawal returns before the image's
/// bytes are read: the answer must not be the image. When the withdrawal leaves the image (another
/// purpose has no answer yet) it is 409 `not_released`; when it deletes the image it is 410
/// `image_deleted` (it was a 500 when the row, read first, still named the object).
#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_between_the_release_check_and_the_bytes_stops_the_download() {
    let gate = std::sync::Arc::new(S3Gate::default());
    let proxy = gated_s3_proxy(gate.clone()).await;
    let server =
        TestServer::start_adjusted(Db::Sqlite, Blobs::S3, |s| s.s3.as_mut().unwrap().endpoint = Some(proxy)).await;
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    // Both photos are uploaded before anyone withdraws: the generated pictures look alike, and a
    // look-alike of a withdrawn learner's photo would be held from the start.
    let mut rounds = Vec::new();
    for (round, purposes) in [(0u32, vec!["website"]), (1, vec!["website", "print"])] {
        let (learner_id, _) = learner_with_guardian(&server, &format!("Dana{round}"), "Testperson", "1990-01-01").await;
        let granted = record_consent(&server, &learner_id, grant_by("learner", None, &purposes)).await;
        let link = granted["withdraw_url"].as_str().unwrap().to_string();
        let photo = upload(&server, &tutor, 50 + round, &[&learner_id]).await;
        assert_eq!(status(&server, &photo).await["website"]["state"], "queued");
        rounds.push((round, link, photo));
    }
    for (round, link, photo) in rounds {
        gate.hold_get.store(true, std::sync::atomic::Ordering::SeqCst);
        let download =
            server.client.get(format!("{}/api/v1/photos/{photo}/image", server.base)).bearer_auth(&marketing).send();
        let download = tokio::spawn(download);
        // The release check has passed: the service is reading the object.
        tokio::time::timeout(Duration::from_secs(20), gate.get_arrived.notified()).await.expect("the download reads");
        assert_eq!(server.client.post(&link).send().await.unwrap().status(), 200);
        gate.release_get.notify_one();
        let response = download.await.unwrap().unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if round == 0 {
            assert_eq!((status.as_u16(), body["error"].clone()), (409, json!("not_released")), "{body}");
            assert!(body["detail"]["reasons"].as_array().unwrap().contains(&json!("withdrawn")), "{body}");
        } else {
            assert_eq!((status.as_u16(), body["error"].clone()), (410, json!("image_deleted")), "{body}");
        }
    }
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    assert!(!audit.iter().any(|r| r.action == "image_downloaded"), "a refused download was audited as made");
}

/// A learner born 1 January 2006 (18 since 1 January 2024) whose parent refused the website on
/// 1 June 2022, at 16, given as a date alone; and a photo of them for the website and print.
/// Returns (learner, photo).
async fn refused_as_a_child(server: &TestServer) -> (String, String) {
    let tutor = server.token(Role::Tutor).await;
    let (dana, parent) = learner_with_guardian(server, "Dana", "Testperson", "2006-01-01").await;
    let mut refusal = grant_by("guardian", Some(&parent), &["website"]);
    refusal["kind"] = json!("refused");
    refusal["given_at"] = json!("2022-06-01");
    record_consent(server, &dana, refusal).await;
    // The date alone is the start of that day in London, in summer time.
    let history = get_json(server, &server.admin, &format!("/api/v1/learners/{dana}/consents")).await;
    let given_at = history["events"][0]["given_at"].as_str().unwrap();
    let given_at = time::OffsetDateTime::parse(given_at, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(given_at, time::macros::datetime!(2022-05-31 23:00 UTC));
    let photo = upload(server, &tutor, 41, &[&dana]).await;
    let s = status(server, &photo).await;
    assert_eq!((s["website"]["state"].clone(), s["website"]["reasons"].clone()), (json!("held"), json!(["refused"])));
    (dana, photo)
}

async fn an_adults_own_grant_releases_a_photo_their_parent_refused_as_a_child(server: TestServer) {
    let (dana, photo) = refused_as_a_child(&server).await;
    // Turning 18 released nothing: the maintenance pass (every second here) leaves it held.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&server, &photo).await["website"]["reasons"], json!(["refused"]));
    // Her own yes, as an adult, ends her parent's no.
    let answer = record_consent(&server, &dana, grant_by("learner", None, &["website", "print"])).await;
    assert!(answer["statuses_changed"].as_u64().unwrap() >= 1);
    let s = status(&server, &photo).await;
    assert_eq!(s["website"], json!({"state": "queued", "reasons": [], "learners": []}));
    assert_eq!(s["print"]["state"], "queued");
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{dana}/consents")).await;
    assert_eq!(history["decisions"]["website"]["allowed"], true);
    // Her parent's link now withdraws nothing that counts, and the page does not say it does.
    let parent = history["events"][0]["guardian_id"].as_str().unwrap().to_string();
    let parent_yes = record_consent(&server, &dana, grant_by("guardian", Some(&parent), &["print"])).await;
    let page = server.client.post(parent_yes["withdraw_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Your withdrawal is recorded") && !page.contains("will no longer be used"), "{page}");
    assert_eq!(status(&server, &photo).await["print"]["state"], "queued");

    // A provider who keeps a guardian's no after 18 sees it held still.
    let kept = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.rules.guardian_no_survives_majority = true;
    })
    .await;
    let (dana, photo) = refused_as_a_child(&kept).await;
    record_consent(&kept, &dana, grant_by("learner", None, &["website", "print"])).await;
    let s = status(&kept, &photo).await;
    assert_eq!((s["website"]["state"].clone(), s["website"]["reasons"].clone()), (json!("held"), json!(["refused"])));
    assert_eq!(s["print"]["state"], "queued");
}

/// `n` requests to an unknown withdrawal link, each saying it is forwarded for `client`; their
/// statuses.
async fn withdrawal_page_as(server: &TestServer, client: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let response = server
            .client
            .get(format!("{}/w/{}", server.base, "2".repeat(64)))
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

/// Behind a trusted proxy (here: loopback), each family has its own budget on the withdrawal
/// pages, IPv6 households by their /64; from an untrusted peer the header is ignored.
#[tokio::test(flavor = "multi_thread")]
async fn the_withdrawal_rate_limit_keys_on_the_client_a_trusted_proxy_names() {
    let proxied = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let first = withdrawal_page_as(&proxied, "198.51.100.1", 30).await;
    assert!(first.contains(&429), "one family's 30 requests were all answered: {first:?}");
    // A forged left-hand entry does not move a client to a fresh budget: the proxy's entry counts.
    assert_eq!(withdrawal_page_as(&proxied, "192.0.2.99, 198.51.100.1", 1).await, [429]);
    // The next family behind the same proxy is not held back by the first.
    assert_eq!(withdrawal_page_as(&proxied, "192.0.2.99, 198.51.100.2", 5).await, [404; 5]);
    // IPv6: one /64 is one household.
    let six = withdrawal_page_as(&proxied, "2001:db8:1:2::1", 30).await;
    assert!(six.contains(&429), "{six:?}");
    assert_eq!(withdrawal_page_as(&proxied, "2001:db8:1:2:ffff::9", 1).await, [429], "the same /64");
    assert_eq!(withdrawal_page_as(&proxied, "2001:db8:1:3::1", 5).await, [404; 5], "another /64");

    // Without trusted proxies the header is anyone's to write and is ignored: every "family"
    // shares the connecting address's budget.
    let direct = TestServer::start(Db::Sqlite, Blobs::Fs).await;
    let first = withdrawal_page_as(&direct, "198.51.100.1", 30).await;
    assert!(first.contains(&429), "{first:?}");
    assert_eq!(withdrawal_page_as(&direct, "198.51.100.2", 1).await, [429], "X-Forwarded-For was believed");
}

/// `X-Forwarded-Proto: https` makes the sign-in cookie `Secure` (and `__Host-` named) only when a
/// trusted proxy sends it: from anyone else the header is dropped on the way in.
#[tokio::test(flavor = "multi_thread")]
async fn only_a_trusted_proxy_can_say_the_request_came_over_tls() {
    async fn signin_cookie(server: &TestServer) -> String {
        let response = server
            .client
            .get(format!("{}/signin", server.base))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.headers()["set-cookie"].to_str().unwrap().to_string()
    }
    let proxied = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let cookie = signin_cookie(&proxied).await;
    assert!(cookie.starts_with("__Host-") && cookie.contains("; Secure"), "{cookie}");
    let direct = TestServer::start(Db::Sqlite, Blobs::Fs).await;
    let cookie = signin_cookie(&direct).await;
    assert!(!cookie.starts_with("__Host-") && !cookie.contains("Secure"), "{cookie}");
}

/// The error code of a JSON error answer, after checking its status.
async fn error_code(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_string()
}

/// An admin issues a standing grant's withdrawal link again: the new one is returned once and
/// withdraws, the old one is "not recognised" at once; audited by event id, never the token.
/// Other roles get 403, unknown ids (or another learner's event) 404, a refusal or withdrawal and a
/// grant withdrawn already 409.
async fn a_lost_withdrawal_link_is_issued_again_and_the_old_one_stops_working(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let (amira, parent) = learner_with_guardian(&server, "Amira", "Testperson", "2011-05-05").await;
    let (ben, _) = learner_with_guardian(&server, "Ben", "Testperson", "2012-06-06").await;
    let photo = upload(&server, &tutor, 11, &[&amira]).await;
    let granted = record_consent(&server, &amira, grant_by("guardian", Some(&parent), &["website"])).await;
    let grant = granted["id"].as_str().unwrap().to_string();
    let old = granted["withdraw_url"].as_str().unwrap().to_string();
    let mut refusal = grant_by("learner", None, &["print"]);
    refusal["kind"] = json!("refused");
    let refused = record_consent(&server, &amira, refusal).await["id"].as_str().unwrap().to_string();
    let path = |learner: &str, event: &str| format!("/api/v1/learners/{learner}/consents/{event}/withdrawal-link");
    assert_eq!(status(&server, &photo).await["website"]["state"], "queued");

    let before = server.snapshot().await;
    for token in [&tutor, &marketing] {
        assert_eq!(error_code(post(&server, token, &path(&amira, &grant), json!({})).await, 403).await, "forbidden");
    }
    let nobody = "0190f0f0-0000-7000-8000-000000000000";
    for p in [path(nobody, &grant), path(&amira, nobody), path(&amira, "not-an-id"), path(&ben, &grant)] {
        assert_eq!(error_code(post(&server, &server.admin, &p, json!({})).await, 404).await, "not_found", "{p}");
    }
    let not_a_grant = post(&server, &server.admin, &path(&amira, &refused), json!({})).await;
    assert_eq!(error_code(not_a_grant, 409).await, "not_a_grant");
    assert_eq!(server.snapshot().await, before, "a refused re-issue changed something");

    let response = post(&server, &server.admin, &path(&amira, &grant), json!({})).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["event_id"], json!(grant));
    let new = body["withdraw_url"].as_str().unwrap().to_string();
    assert!(new.starts_with(&server.base) && new != old, "{new}");
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let rows: Vec<_> = audit.iter().filter(|r| r.action == "withdrawal_link_reissued").collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].subject, amira);
    assert_eq!(serde_json::from_str::<Value>(&rows[0].details).unwrap(), json!({ "event": grant }));
    for link in [&old, &new] {
        let token = link.rsplit('/').next().unwrap();
        assert!(audit.iter().all(|r| !r.details.contains(token)), "a token in the audit log");
    }

    // The old link names nothing now, and changes nothing.
    let before = server.snapshot().await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = server.client.request(method.clone(), &old).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method}");
        assert!(response.text().await.unwrap().contains("not recognised"));
    }
    assert_eq!(server.snapshot().await, before, "the revoked link changed something");
    assert_eq!(status(&server, &photo).await["website"]["state"], "queued");

    // The new one withdraws.
    let response = server.client.post(&new).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Consent withdrawn"));
    assert_eq!(status(&server, &photo).await["website"]["reasons"], json!(["withdrawn"]));

    // Withdrawn: nothing left to issue a link for.
    assert_eq!(
        error_code(post(&server, &server.admin, &path(&amira, &grant), json!({})).await, 409).await,
        "already_withdrawn"
    );
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents")).await;
    let withdrawal =
        history["events"].as_array().unwrap().iter().find(|e| e["kind"] == "withdrawn").unwrap()["id"].clone();
    let response = post(&server, &server.admin, &path(&amira, withdrawal.as_str().unwrap()), json!({})).await;
    assert_eq!(error_code(response, 409).await, "not_a_grant");
}

/// Removing a guardian: their grant stops counting (photos re-evaluated in the same request), a
/// grant from them is refused, their refusal may still be recorded, and the withdrawal link they
/// hold still withdraws, over another guardian's yes.
async fn a_removed_guardians_grant_stops_counting_and_their_no_and_link_keep_working(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (amira, mum) = learner_with_guardian(&server, "Amira", "Testperson", "2011-05-05").await;
    let dad =
        post(&server, &server.admin, &format!("/api/v1/learners/{amira}/guardians"), json!({"name": "Dad Testperson"}))
            .await;
    assert_eq!(dad.status(), 201);
    let dad = dad.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let photo = upload(&server, &tutor, 12, &[&amira]).await;
    let by_mum = record_consent(&server, &amira, grant_by("guardian", Some(&mum), &["website"])).await;
    assert_eq!(status(&server, &photo).await["website"]["state"], "queued");

    let removed = delete(&server, &server.admin, &format!("/api/v1/learners/{amira}/guardians/{mum}")).await;
    assert_eq!(removed.status(), 200);
    assert_eq!(removed.json::<Value>().await.unwrap()["statuses_changed"], 1);
    // Read from the database, not through the API (which re-evaluates on read).
    let stored = server.store.photo(&photo).await.unwrap().unwrap();
    let website = serde_json::to_value(&stored.status[&"website".parse().unwrap()]).unwrap();
    assert_eq!((website["state"].clone(), website["reasons"].clone()), (json!("held"), json!(["no_consent"])));
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "status_changed" && r.subject == photo && r.actor != "system"));

    // A grant from her is refused; her refusal is not.
    let again = post(
        &server,
        &server.admin,
        &format!("/api/v1/learners/{amira}/consents"),
        grant_by("guardian", Some(&mum), &["website"]),
    )
    .await;
    assert_eq!(error_code(again, 409).await, "guardian_removed");
    let reissue = format!("/api/v1/learners/{amira}/consents/{}/withdrawal-link", by_mum["id"].as_str().unwrap());
    assert_eq!(error_code(post(&server, &server.admin, &reissue, json!({})).await, 409).await, "guardian_removed");

    // Dad's grant counts; her withdrawal through the link she holds still holds the photo.
    record_consent(&server, &amira, grant_by("guardian", Some(&dad), &["website"])).await;
    assert_eq!(status(&server, &photo).await["website"]["state"], "queued");
    let link = by_mum["withdraw_url"].as_str().unwrap();
    assert_eq!(server.client.get(link).send().await.unwrap().status(), 200);
    let response = server.client.post(link).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Consent withdrawn"));
    let s = status(&server, &photo).await;
    assert_eq!((s["website"]["state"].clone(), s["website"]["reasons"].clone()), (json!("held"), json!(["withdrawn"])));

    let mut refusal = grant_by("guardian", Some(&mum), &["print"]);
    refusal["kind"] = json!("refused");
    record_consent(&server, &amira, refusal).await;
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents")).await;
    assert_eq!(history["decisions"]["print"]["reasons"], json!(["refused"]));
    assert_eq!(history["decisions"]["website"]["reasons"], json!(["withdrawn"]));
}
