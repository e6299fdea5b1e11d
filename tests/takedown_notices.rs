//! Takedowns that do not wait for marketing to sign in: with a real SMTP server on loopback,
//! marketing officers and safeguarding leads with staff accounts are emailed once when a takedown
//! becomes owed and once more when it is overdue; a small copy of the deleted image (at most
//! 160 px) is kept while the takedown is open, shown on the marketing page, and deleted when it is
//! confirmed. On both store backends.

mod common;

use std::time::Duration;

use common::api::{consenting_adult, get, get_json, post, upload_tagged};
use common::fixtures::distinct_jpeg;
use common::pages::sign_in;
use common::server::{Blobs, Db, TestServer};
use common::smtp::SmtpSink;
use consentgate::objects::Objects;
use consentgate::store::Role;
use serde_json::{json, Value};

mod notices {
    use super::*;
    on_both_backends!(start = super::start; marketing_and_the_lead_are_told_once_and_again_when_overdue);
}

struct WithMail {
    server: TestServer,
    sink: SmtpSink,
}

async fn start(db: Db, blobs: Blobs) -> WithMail {
    let sink = SmtpSink::start();
    let smtp = common::smtp::settings(&sink, Duration::from_secs(5));
    let server = TestServer::start_adjusted(db, blobs, |s| {
        s.mail = Some(smtp);
        s.maintenance_interval = Duration::from_secs(1);
        s.takedown_overdue_after = Duration::from_secs(4);
        s.organisation_name = Some("Northfield Training".into());
    })
    .await;
    WithMail { server, sink }
}

async fn marketing_and_the_lead_are_told_once_and_again_when_overdue(with: WithMail) {
    let WithMail { server, sink } = with;
    for (name, email, role) in
        [("Dana Shaw", "dana@college.example", "marketing"), ("Sam Lead", "sam@college.example", "admin")]
    {
        let invited =
            post(&server, &server.admin, "/api/v1/staff", json!({"name": name, "email": email, "role": role})).await;
        assert_eq!(invited.status(), 201);
    }
    // A tutor's account is not told: takedowns are marketing's and the lead's business.
    let tutor_account = json!({"name": "Tia Tutor", "email": "tia@college.example", "role": "tutor"});
    assert_eq!(post(&server, &server.admin, "/api/v1/staff", tutor_account).await.status(), 201);
    assert_eq!(sink.wait_for(3, Duration::from_secs(20)).len(), 3, "three invitations");

    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let (amira, withdraw) = consenting_adult(&server, "Amira", "Okafor", &["website"]).await;
    let photo = upload_tagged(&server, &tutor, distinct_jpeg(7, 1600, 1200), "website", &[&amira], &[]).await;
    let photo_id = photo["id"].as_str().unwrap().to_string();
    let claimed = post(&server, &marketing, "/api/v1/queue/claim", json!({"purpose": "website"})).await;
    assert_eq!(claimed.status(), 200);
    let item = claimed.json::<Value>().await.unwrap()["item"].as_str().unwrap().to_string();
    let published = json!({"url": "https://college.example/news/robots", "channel": "website"});
    assert_eq!(post(&server, &marketing, &format!("/api/v1/queue/{item}/published"), published).await.status(), 200);
    // Nothing owed yet: nobody is told anything.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 3);

    assert_eq!(server.client.post(&withdraw).send().await.unwrap().status(), 200);
    // The image is deleted; a small copy stays for the open takedown.
    let copy_key = Objects::takedown_copy_key(&photo_id);
    let copy = server.objects.get(&copy_key).await.unwrap().expect("a small copy while the takedown is open");
    let decoded = image::load_from_memory(&copy).unwrap();
    assert!(decoded.width().max(decoded.height()) <= 160, "{}x{}", decoded.width(), decoded.height());
    assert_eq!(decoded.width(), 160, "the long side of a 4:3 photo");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("copy.jpg"), &copy).unwrap();
    common::oracle::assert_all_allowlisted(&[dir.path().join("copy.jpg")], |_| "takedown copy".into());

    // Both told that it is owed, within a maintenance pass or two; never the learner's name.
    let mail = sink.wait_for(5, Duration::from_secs(20));
    let owed: Vec<_> = mail.iter().filter(|m| m.subject.starts_with("A photo must come down now")).collect();
    let mut to: Vec<&str> = owed.iter().map(|m| m.to_address.as_str()).collect();
    to.sort();
    assert_eq!(to, ["dana@college.example", "sam@college.example"]);
    for m in &owed {
        assert!(m.body.contains("Where: website: https://college.example/news/robots"), "{}", m.body);
        assert!(m.body.contains("Why: Consent was withdrawn") && m.body.contains("/marketing"), "{}", m.body);
        assert!(!m.body.contains("Amira") && !m.body.contains("Okafor"), "{}", m.body);
    }

    // The marketing page shows the small copy; it is served to marketing and admins only.
    let officer = sign_in(&server, &marketing).await;
    let page = officer.get(&server, "/marketing").await.text().await.unwrap();
    let src = format!("/marketing/takedowns/{photo_id}/copy");
    assert!(page.contains(&src) && page.contains("this small copy goes when you confirm"), "{page}");
    let served = officer.get(&server, &src).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.bytes().await.unwrap(), copy);
    let tutor_page = sign_in(&server, &tutor).await;
    assert_eq!(tutor_page.get(&server, &src).await.status(), 403);
    assert_eq!(officer.get(&server, "/marketing/takedowns/not-an-id/copy").await.status(), 404);

    // Past the overdue setting: told once more, each of them, and only once.
    let mail = sink.wait_for(7, Duration::from_secs(20));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = sink.messages();
    assert_eq!(all.len(), 7, "{:?}", all.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let overdue: Vec<_> = mail.iter().filter(|m| m.subject.starts_with("Overdue:")).collect();
    assert_eq!(overdue.len(), 2);
    assert!(overdue.iter().all(|m| m.body.contains("still not confirmed")), "{}", overdue[0].body);
    assert!(all.iter().all(|m| m.to_address != "tia@college.example" || m.subject.contains("Your account")));
    let rows = get_json(&server, &server.admin, "/api/v1/audit?limit=1000").await;
    let notices: Vec<&Value> =
        rows.as_array().unwrap().iter().filter(|r| r["action"] == "takedown_notice_sent").collect();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[0]["details"]["notice"], "owed");
    assert_eq!(notices[1]["details"]["notice"], "overdue");
    assert_eq!(notices[0]["details"]["recipients"], 2);

    // Confirmed: the small copy goes, and nobody is told again.
    let takedowns: Value = get(&server, &marketing, "/api/v1/takedowns").await.json().await.unwrap();
    let id = takedowns[0]["id"].as_str().unwrap();
    assert_eq!(post(&server, &marketing, &format!("/api/v1/takedowns/{id}/done"), json!({})).await.status(), 204);
    assert!(server.objects.get(&copy_key).await.unwrap().is_none(), "the copy is deleted on confirmation");
    assert_eq!(officer.get(&server, &src).await.status(), 404);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.messages().len(), 7);
}
