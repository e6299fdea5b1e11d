//! The safeguarding lead's view of what happened, over real HTTP on both backends: the audit log
//! with staff names and links, filtered by learner, photo, action and day, paged and exported as
//! CSV (formula-safe); a learner's page listing where photos of them went and the takedown still
//! owed; and the page of takedowns owed with how long each has waited.

mod common;

use common::api::{consenting_adult, get, post, upload_tagged};
use common::fixtures::distinct_jpeg;
use common::pages::sign_in;
use common::server::{Blobs, Db, TestServer};
use consentgate::app::access::create_token;
use consentgate::store::{AuditAction, AuditDraft, Role};
use serde_json::json;

mod audit {
    use super::*;
    on_both_backends!(the_lead_finds_where_a_childs_photo_went_and_what_is_still_owed);
}

/// The `<li>` rows of the audit page's list.
fn rows(html: &str) -> Vec<String> {
    let Some(start) = html.find("<ol class=\"audit\"") else { return Vec::new() };
    let end = html[start..].find("</ol>").unwrap() + start;
    html[start..end].split("<li>").skip(1).map(str::to_string).collect()
}

async fn the_lead_finds_where_a_childs_photo_went_and_what_is_still_owed(server: TestServer) {
    let store = server.store.as_ref();
    let tutor = create_token(store, Role::Tutor, "Tia Tutor", "test").await.unwrap();
    let marketing = create_token(store, Role::Marketing, "=HYPERLINK(\"x\")", "test").await.unwrap();
    let (amira, withdraw) = consenting_adult(&server, "Amira", "Okafor", &["website"]).await;
    let (ben, _) = consenting_adult(&server, "Ben", "Shah", &["website"]).await;
    let photo =
        upload_tagged(&server, &tutor, distinct_jpeg(3, 800, 600), "website", &[&amira], &[("caption", "Robots")])
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
    upload_tagged(&server, &tutor, distinct_jpeg(4, 800, 600), "website", &[&ben], &[]).await;
    // Marketing takes Amira's photo (the oldest in the queue) and publishes it; then she withdraws.
    let claimed = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website"})).await;
    let item: serde_json::Value = claimed.json().await.unwrap();
    assert_eq!(item["photo_id"], photo.as_str());
    let published = json!({"url": "https://college.example/news/robots", "channel": "website"});
    let item = item["item"].as_str().unwrap();
    assert_eq!(post(&server, &marketing, &format!("/api/v1/queue/{item}/published"), published).await.status(), 200);
    assert_eq!(server.client.post(&withdraw).send().await.unwrap().status(), 200);

    let admin = sign_in(&server, &server.admin).await;
    let html = admin.get(&server, "/admin/audit").await.text().await.unwrap();
    let all = rows(&html);
    let upload = all.iter().find(|r| r.contains("uploaded a photo") && r.contains(&photo)).expect("the upload's row");
    assert!(upload.contains("<strong>Tia Tutor</strong>"), "staff by name: {upload}");
    assert!(upload.contains(&format!("href=\"/admin/audit?photo={photo}\"")), "{upload}");
    let consent = all.iter().find(|r| r.contains("withdrew consent")).expect("the withdrawal's row");
    assert!(consent.contains(&format!("href=\"/admin/learners/{amira}\"")), "{consent}");
    assert!(!html.contains("{&quot;") && !html.contains("{\""), "details in words, not raw JSON");

    // By learner: only rows about Amira and her photo; Ben's never.
    let html = admin.get(&server, &format!("/admin/audit?learner={amira}")).await.text().await.unwrap();
    assert!(html.contains("Everything about") && html.contains("Amira Okafor"), "{html}");
    let about_her = rows(&html);
    assert!(about_her.len() >= 6, "{about_her:?}");
    assert!(about_her.iter().all(|r| !r.contains(&ben)), "{about_her:?}");
    assert!(about_her.iter().any(|r| r.contains("owed a takedown")));
    assert!(about_her.iter().any(|r| r.contains("recorded a publication")));
    // By action, and by day.
    let html = admin.get(&server, "/admin/audit?action=takedown_owed").await.text().await.unwrap();
    let owed = rows(&html);
    assert_eq!(owed.len(), 1, "{owed:?}");
    let today = time::OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap();
    let html = admin.get(&server, &format!("/admin/audit?from={tomorrow}")).await.text().await.unwrap();
    assert!(html.contains("Nothing matches."), "{html}");
    let yesterday = today.previous_day().unwrap();
    let html = admin.get(&server, &format!("/admin/audit?from={yesterday}&to={tomorrow}&action=photo_uploaded")).await;
    assert_eq!(rows(&html.text().await.unwrap()).len(), 2);
    // Mistakes in the filters are said, with 422, never a 500.
    for (query, words) in [
        (format!("from={tomorrow}&to={yesterday}"), "the last day comes before the first"),
        ("from=31/12/2026".to_string(), "from is not a day"),
        ("action=dropped_tables".to_string(), "choose what happened"),
        ("learner=Amira".to_string(), "follow its audit link"),
    ] {
        let answer = admin.get(&server, &format!("/admin/audit?{query}")).await;
        assert_eq!(answer.status(), 422, "{query}");
        assert!(answer.text().await.unwrap().contains(words), "{query}");
    }

    // CSV: the same filter, the JSON details and hashes kept, a formula-like name made text.
    let csv = admin.get(&server, &format!("/admin/audit.csv?learner={amira}")).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["seq", "at", "actor", "actor_name", "action", "subject", "details", "hash"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), about_her.len());
    let claim = records.iter().find(|r| &r[4] == "item_claimed").expect("the claim");
    assert_eq!(&claim[3], "'=HYPERLINK(\"x\")", "a spreadsheet shows it as text");
    assert!(records.iter().all(|r| r[5] == *amira || r[5] == *photo));
    assert_eq!(admin.get(&server, "/admin/audit.csv?action=nope").await.status(), 422);

    // Paged: a hundred rows a page, older ones behind a link.
    for n in 0..120 {
        let draft = AuditDraft::new("system", AuditAction::LearnerRead, &ben, json!({ "n": n }));
        server.store.append_audit(draft).await.unwrap();
    }
    let html = admin.get(&server, "/admin/audit").await.text().await.unwrap();
    assert_eq!(rows(&html).len(), 100);
    let at = html.find("before=").expect("an older page");
    let before: String = html[at + 7..].chars().take_while(char::is_ascii_digit).collect();
    let older = admin.get(&server, &format!("/admin/audit?before={before}")).await.text().await.unwrap();
    let older_rows = rows(&older);
    assert!(!older_rows.is_empty() && older_rows.len() <= 100);
    assert!(!older_rows.iter().any(|r| rows(&html).contains(r)), "no row on both pages");

    // The learner's page: where photos of her went, and the takedown still owed.
    let page = admin.get(&server, &format!("/admin/learners/{amira}")).await.text().await.unwrap();
    let at = page.find("<ol class=\"timeline\">").expect("a timeline");
    let timeline = &page[at..at + page[at..].find("</ol>").unwrap()];
    assert!(timeline.contains("Photo uploaded: \u{201c}Robots\u{201d}"), "{timeline}");
    assert!(
        timeline.contains("Published on website (website)") && timeline.contains("https://college.example/news/robots")
    );
    assert!(timeline.contains("Takedown from website: still owed") && timeline.contains("Image deleted"), "{timeline}");
    let ben_page = admin.get(&server, &format!("/admin/learners/{ben}")).await.text().await.unwrap();
    assert!(!ben_page.contains("Robots"), "one learner's timeline shows only photos of them");

    // Takedowns owed: how long each has waited; admins only.
    let page = admin.get(&server, "/admin/takedowns").await.text().await.unwrap();
    assert!(page.contains("https://college.example/news/robots") && page.contains(" min"), "{page}");
    assert!(page.contains("Consent was withdrawn") && page.contains("not yet"), "{page}");
    let officer = sign_in(&server, &marketing).await;
    assert_eq!(officer.get(&server, "/admin/takedowns").await.status(), 403);
    assert_eq!(officer.get(&server, "/admin/audit").await.status(), 403);
    assert_eq!(officer.get(&server, "/admin/audit.csv").await.status(), 403);
    assert_eq!(get(&server, &tutor, "/api/v1/audit").await.status(), 403);
}
