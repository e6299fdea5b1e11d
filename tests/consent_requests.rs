//! Families answer for themselves: a request goes out through the outbox to a real SMTP server on
//! loopback (aiosmtpd), the emailed link is followed with a real HTTP client, the form is posted,
//! and the photo follows exactly the purposes answered yes; the confirmation's withdrawal link
//! then withdraws. Reminders, renewals and 18th birthdays arrive on short durations; a stopped
//! SMTP server loses nothing; a refused address is marked failed. On both store backends.

mod common;

use std::time::Duration;

use common::api::{create_learner, get, get_json, post, record_consent};
use common::server::{Blobs, Db, TestServer};
use common::smtp::{Received, SmtpSink};
use consentgate::store::MailState;
use serde_json::{json, Value};

/// A server delivering to `sink`, with maintenance every second and the given request timings.
async fn start(
    db: Db,
    blobs: Blobs,
    sink: &SmtpSink,
    adjust: impl FnOnce(&mut consentgate::config::Settings),
) -> TestServer {
    let smtp = common::smtp::settings(sink, Duration::from_secs(5));
    TestServer::start_adjusted(db, blobs, |s| {
        s.mail = Some(smtp);
        s.maintenance_interval = Duration::from_secs(1);
        s.organisation_name = Some("Northfield Training".into());
        s.organisation_contact = Some("office@northfield.example".into());
        adjust(s);
    })
    .await
}

/// The messages to `address` among `messages`.
fn to<'a>(messages: &'a [Received], address: &str) -> Vec<&'a Received> {
    messages.iter().filter(|m| m.to_address.contains(address)).collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

async fn post_form(server: &TestServer, url: &str, pairs: &[(&str, &str)]) -> (u16, String) {
    let response = server
        .client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "PhoneBrowser/1.0")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn statuses(server: &TestServer, photo: &str) -> Value {
    get_json(server, &server.admin, &format!("/api/v1/photos/{photo}")).await["status"].clone()
}

async fn request(server: &TestServer, body: Value) -> Value {
    let response = post(server, &server.admin, "/api/v1/consent-requests", body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn a_parent_and_an_adult_answer_from_the_emailed_link(db: Db, blobs: Blobs) {
    let sink = SmtpSink::start();
    let server = start(db, blobs, &sink, |_| {}).await;
    let child = create_learner(
        &server,
        json!({
            "given_name": "Amira", "family_name": "Okafor", "date_of_birth": "2014-05-02",
            "guardians": [{"name": "Sam Okafor", "email": "sam.okafor@example.org"}],
        }),
    )
    .await;
    let child_id = child["id"].as_str().unwrap().to_string();
    let adult = create_learner(
        &server,
        json!({
            "given_name": "Jordan", "family_name": "Bell", "date_of_birth": "1999-01-10",
            "learner_email": "jordan.bell@example.org",
        }),
    )
    .await;
    let adult_id = adult["id"].as_str().unwrap().to_string();
    let unreachable = create_learner(
        &server,
        json!({
            "given_name": "Noor", "family_name": "Hale", "date_of_birth": "2013-01-10",
            "guardians": [{"name": "Parent of Noor"}],
        }),
    )
    .await;
    let unreachable_id = unreachable["id"].as_str().unwrap().to_string();
    let tutor = server.token(consentgate::store::Role::Tutor).await;
    let bytes = common::fixtures::jpeg_with_gps(64, 48);
    let uploaded = common::api::upload_tagged(&server, &tutor, bytes, "website,print", &[child_id.as_str()], &[]).await;
    let photo = uploaded["id"].as_str().unwrap().to_string();

    let created = request(
        &server,
        json!({
            "learner_ids": [child_id, adult_id, unreachable_id], "purposes": ["website", "print"],
        }),
    )
    .await;
    let recipients = created["recipients"].as_array().unwrap();
    let status_of = |id: &str| recipients.iter().find(|r| r["learner_id"] == id).unwrap().clone();
    assert_eq!(status_of(&child_id)["to"], "guardian");
    assert_eq!(status_of(&child_id)["status"], "queued");
    assert_eq!(status_of(&adult_id)["to"], "learner");
    assert_eq!(status_of(&unreachable_id)["status"], "no_contact");

    let messages = sink.wait_for(2, Duration::from_secs(20));
    assert_eq!(messages.len(), 2, "one message per person asked, none for no contact");
    let parent_mail = to(&messages, "sam.okafor@example.org")[0].clone();
    assert!(parent_mail.subject.contains("Amira") && !parent_mail.body.contains("Okafor Amira"));
    assert!(parent_mail.message_id.contains('@'), "{parent_mail:?}");
    let link = parent_mail.link(&server.base, "c");

    // GET shows the form and changes nothing (mail scanners follow links).
    let before = server.snapshot().await;
    let page = server.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Amira") && !html.contains("Okafor"), "first name only");
    assert!(html.contains(r#"name="website" value="granted""#) && html.contains(r#"name="print" value="refused""#));
    assert!(!html.contains("checked"), "nothing preselected");
    assert!(html.contains(r#"name="responsibility""#));
    assert_eq!(server.snapshot().await, before, "GET changed nothing");

    // Missing signature: the form again, choices kept, nothing recorded.
    let (status, html) =
        post_form(&server, &link, &[("website", "granted"), ("print", "refused"), ("responsibility", "yes")]).await;
    assert_eq!(status, 422);
    // Both choices and the parental-responsibility tick are kept.
    assert!(html.contains("full name") && html.matches("checked").count() == 3, "{html}");
    // A purpose the form did not offer.
    let (status, _) = post_form(
        &server,
        &link,
        &[
            ("website", "granted"),
            ("print", "refused"),
            ("social_media", "granted"),
            ("signature", "Sam Okafor"),
            ("responsibility", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(server.snapshot().await, before, "refused posts recorded nothing");

    let (status, html) = post_form(
        &server,
        &link,
        &[("website", "granted"), ("print", "refused"), ("signature", "Sam Okafor"), ("responsibility", "yes")],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    let s = statuses(&server, &photo).await;
    assert_eq!(s["website"]["state"], "queued", "{s}");
    assert_eq!(s["print"]["state"], "held", "{s}");

    // The answer is proof: who, how, which words, with the signature and the request.
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{child_id}/consents")).await;
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for e in events {
        assert_eq!(e["method"], "online_form");
        assert_eq!(e["given_by"], "guardian");
        assert_eq!(e["guardian_id"], child["guardians"][0]["id"]);
        let evidence: Value = serde_json::from_str(e["evidence"].as_str().unwrap()).unwrap();
        assert_eq!(evidence["signature"], "Sam Okafor");
        assert_eq!(evidence["request"], created["id"]);
        assert_eq!(evidence["user_agent"], "PhoneBrowser/1.0");
        assert_eq!(evidence["address_hash"].as_str().unwrap().len(), 64);
    }

    // Posted twice: 410, nothing more.
    let after = server.snapshot().await;
    let (status, html) = post_form(
        &server,
        &link,
        &[("website", "refused"), ("print", "refused"), ("signature", "Sam Okafor"), ("responsibility", "yes")],
    )
    .await;
    assert_eq!(status, 410);
    assert!(html.contains("already been used"));
    assert_eq!(server.snapshot().await, after);

    // The confirmation carries the withdrawal link, which withdraws.
    let all = sink.wait_for(3, Duration::from_secs(20));
    let confirmations: Vec<_> =
        to(&all, "sam.okafor@example.org").into_iter().filter(|m| m.subject.contains("Your answer")).collect();
    assert_eq!(confirmations.len(), 1, "{all:?}");
    assert!(confirmations[0].body.contains("YES") && confirmations[0].body.contains("NO"));
    let withdraw = confirmations[0].link(&server.base, "w");
    let (status, _) = post_form(&server, &withdraw, &[]).await;
    assert_eq!(status, 200);
    assert_ne!(statuses(&server, &photo).await["website"]["state"], "queued");

    // The adult answers for themselves: no responsibility box, given by the learner.
    let adult_link = to(&all, "jordan.bell@example.org")[0].link(&server.base, "c");
    let html = server.client.get(&adult_link).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains(r#"name="responsibility""#));
    let (status, _) =
        post_form(&server, &adult_link, &[("website", "refused"), ("print", "refused"), ("signature", "Jordan Bell")])
            .await;
    assert_eq!(status, 200);
    let history = get_json(&server, &server.admin, &format!("/api/v1/learners/{adult_id}/consents")).await;
    assert_eq!(history["events"][0]["given_by"], "learner");
    assert_eq!(history["events"][0]["kind"], "refused");
    let refusal = sink.wait_for(4, Duration::from_secs(20));
    let to_adult = to(&refusal, "jordan.bell@example.org");
    assert!(
        to_adult.iter().any(|m| m.subject.contains("Your answer") && !m.body.contains("/w/")),
        "a refusal has no withdrawal link"
    );

    // Every message was delivered once, and the outbox kept no body.
    let sent = server.store.outbox(MailState::Sent, 100).await.unwrap();
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|m| m.body.is_empty() && m.link.is_none()));
    let ids: std::collections::BTreeSet<_> = refusal.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), 4, "no message twice");
}

async fn reminders_renewals_and_birthdays_arrive_on_their_own(db: Db, blobs: Blobs) {
    let sink = SmtpSink::start();
    let server = start(db, blobs, &sink, |s| {
        s.requests.reminder_after = Duration::from_secs(2);
        s.requests.max_reminders = 2;
    })
    .await;
    let child = create_learner(
        &server,
        json!({
            "given_name": "Ola", "family_name": "Nowak", "date_of_birth": "2015-03-03",
            "guardians": [{"name": "Ewa Nowak", "email": "ewa@example.org"}],
        }),
    )
    .await;
    let child_id = child["id"].as_str().unwrap().to_string();
    request(&server, json!({"learner_ids": [child_id], "purposes": ["internal"]})).await;
    // The request and two reminders, and no third.
    let messages = sink.wait_for(3, Duration::from_secs(30));
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages.iter().filter(|m| m.subject.starts_with("Reminder")).count(), 2);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sink.messages().len(), 3, "at most max_reminders reminders");
    // The reminder's link opens the same form; answering through it uses the first one up too.
    let first = messages.iter().find(|m| !m.subject.starts_with("Reminder")).unwrap().link(&server.base, "c");
    let reminder = messages.iter().find(|m| m.subject.starts_with("Reminder")).unwrap().link(&server.base, "c");
    assert_ne!(first, reminder);
    let (status, _) = post_form(
        &server,
        &reminder,
        &[("internal", "granted"), ("signature", "Ewa Nowak"), ("responsibility", "yes")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(server.client.get(&first).send().await.unwrap().status(), 410);

    // A grant running out within the renewal notice gets one renewal request.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    let soon = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
    let renewing = create_learner(
        &server,
        json!({
            "given_name": "Rae", "family_name": "Lind", "date_of_birth": "2012-02-02",
            "guardians": [{"name": "Kim Lind", "email": "kim@example.org"}],
        }),
    )
    .await;
    let guardian = renewing["guardians"][0]["id"].as_str().unwrap();
    record_consent(&server, renewing["id"].as_str().unwrap(), json!({
        "kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
        "expires_at": soon, "form_version": "paper 1", "form_text": "I agree", "method": "paper_form", "evidence": "scan 12",
    }))
    .await;
    // A learner with an address who turned 18 yesterday is asked for their own consent.
    let today = time::OffsetDateTime::now_utc().date();
    let dob = today.replace_year(today.year() - 18).unwrap_or(today) - time::Duration::days(1);
    create_learner(
        &server,
        json!({
            "given_name": "Tam", "family_name": "Ruiz", "date_of_birth": dob.to_string(),
            "learner_email": "tam@example.org",
        }),
    )
    .await;
    // The request, two reminders, the confirmation, the renewal and the birthday request; then
    // the renewal and birthday requests are reminded too, like any unanswered request.
    let messages = sink.wait_for(6, Duration::from_secs(30));
    let firsts = |address: &str| -> Vec<Received> {
        to(&messages, address).into_iter().filter(|m| !m.subject.starts_with("Reminder")).cloned().collect()
    };
    let renewal = firsts("kim@example.org");
    assert_eq!(renewal.len(), 1, "{messages:?}");
    assert!(renewal[0].subject.contains("running out") && renewal[0].body.contains("/c/"));
    let birthday = firsts("tam@example.org");
    assert_eq!(birthday.len(), 1, "{messages:?}");
    assert!(birthday[0].body.contains("18th birthday"), "{}", birthday[0].body);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let messages = sink.messages();
    for address in ["kim@example.org", "tam@example.org"] {
        let theirs = to(&messages, address);
        let reminders = theirs.iter().filter(|m| m.subject.starts_with("Reminder")).count();
        assert_eq!((theirs.len() - reminders, reminders), (1, 2), "asked once, reminded at most twice: {theirs:?}");
    }
    assert_eq!(to(&messages, "ewa@example.org").len(), 4, "the request, two reminders and the confirmation");
    let listed = get_json(&server, &server.admin, "/api/v1/consent-requests").await;
    let kinds: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"renewal") && kinds.contains(&"adult") && kinds.contains(&"request"), "{kinds:?}");
}

async fn a_stopped_smtp_server_loses_nothing_and_a_refusal_is_marked_failed(db: Db, blobs: Blobs) {
    let mut sink = SmtpSink::start();
    let server = start(db, blobs, &sink, |_| {}).await;
    sink.stop();
    let mut ids = Vec::new();
    for i in 0..5 {
        let created = create_learner(
            &server,
            json!({
                "given_name": format!("Kid{i}"), "family_name": "Stone", "date_of_birth": "2014-01-01",
                "guardians": [{"name": format!("Parent {i}"), "email": format!("parent{i}@example.org")}],
            }),
        )
        .await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let refused = create_learner(
        &server,
        json!({
            "given_name": "Lee", "family_name": "Voss", "date_of_birth": "2014-01-01",
            "guardians": [{"name": "Pat Voss", "email": "reject.pat@example.org"}],
        }),
    )
    .await;
    ids.push(refused["id"].as_str().unwrap().to_string());
    request(&server, json!({"learner_ids": ids, "purposes": ["website"]})).await;
    // While the server is down every message waits, with the reason.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pending = server.store.outbox(MailState::Pending, 100).await.unwrap();
        if pending.len() == 6 && pending.iter().all(|m| m.attempts >= 1 && m.last_error.is_some()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the outbox did not record the failures: {pending:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sink.restart();
    let messages = sink.wait_for(5, Duration::from_secs(60));
    assert_eq!(messages.len(), 5, "{messages:?}");
    let ids: std::collections::BTreeSet<_> = messages.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), 5, "none twice");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let failed = server.store.outbox(MailState::Failed, 10).await.unwrap();
        if !failed.is_empty() || std::time::Instant::now() > deadline {
            break failed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed.len(), 1, "the refused address is failed for good");
    assert!(failed[0].last_error.as_deref().unwrap().contains("550"), "{failed:?}");
    assert!(!failed[0].body.is_empty(), "a failed message keeps its words, to be posted instead");
    let metrics =
        server.client.get(format!("{}/metrics", server.metrics_base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("consentgate_mail_sent_total") && metrics.contains("consentgate_mail_failed_total"));
    assert!(metrics.contains("consentgate_outbox_depth"));
}

async fn bad_requests_get_clear_answers_and_store_nothing(db: Db, blobs: Blobs) {
    let sink = SmtpSink::start();
    let server = start(db, blobs, &sink, |s| s.requests.request_valid_for = Duration::from_secs(2)).await;
    let tutor = server.token(consentgate::store::Role::Tutor).await;
    let before = server.snapshot().await;
    let cases = [
        (json!({"learner_ids": [], "purposes": ["website"]}), 422, "learner_ids"),
        (
            json!({"learner_ids": ["0192f0c4-4b1e-7c3a-9d2e-1234567890ab"], "purposes": ["website"]}),
            422,
            "unknown_learner",
        ),
        (json!({"learner_ids": ["0192f0c4-4b1e-7c3a-9d2e-1234567890ab"], "purposes": []}), 422, "purposes"),
        (json!({"group": "Nobody's group", "purposes": ["website"]}), 404, "not_found"),
        (
            json!({"group": "x", "learner_ids": ["0192f0c4-4b1e-7c3a-9d2e-1234567890ab"], "purposes": ["website"]}),
            422,
            "not both",
        ),
        (json!({"learner_ids": ["0192f0c4-4b1e-7c3a-9d2e-1234567890ab"], "purposes": ["billboards"]}), 422, "bad_json"),
        (
            json!({"learner_ids": ["0192f0c4-4b1e-7c3a-9d2e-1234567890ab"], "purposes": ["website"], "junk": 1}),
            422,
            "bad_json",
        ),
    ];
    for (body, status, says) in cases {
        let response = post(&server, &server.admin, "/api/v1/consent-requests", body.clone()).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
    let response =
        post(&server, &tutor, "/api/v1/consent-requests", json!({"group": "A", "purposes": ["website"]})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(get(&server, &tutor, "/api/v1/consent-requests").await.status(), 403);
    // Unknown and tampered links: a plain 404 page.
    for token in ["0".repeat(64), "zz".into(), "a".repeat(65)] {
        let response = server.client.get(format!("{}/c/{token}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let (status, _) = post_form(&server, &format!("{}/c/{token}", server.base), &[("website", "granted")]).await;
        assert_eq!(status, 404);
    }
    assert_eq!(server.snapshot().await, before);
    assert!(sink.messages().is_empty());

    // A link past `request_valid_for` (two seconds here) answers 410 and records nothing.
    let child = create_learner(
        &server,
        json!({
            "given_name": "Iris", "family_name": "Moor", "date_of_birth": "2014-01-01",
            "guardians": [{"name": "Lou Moor", "email": "lou@example.org"}],
        }),
    )
    .await;
    request(&server, json!({"learner_ids": [child["id"]], "purposes": ["website"]})).await;
    let link = sink.wait_for(1, Duration::from_secs(20))[0].link(&server.base, "c");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let page = server.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("expired"));
    let (status, _) =
        post_form(&server, &link, &[("website", "granted"), ("signature", "Lou Moor"), ("responsibility", "yes")])
            .await;
    assert_eq!(status, 410);
    let history =
        get_json(&server, &server.admin, &format!("/api/v1/learners/{}/consents", child["id"].as_str().unwrap())).await;
    assert!(history["events"].as_array().unwrap().is_empty());
}

/// A guardian removed after a request went out gets nothing more (their unsent request is
/// cancelled); a giver whose address was cleared after the request still gets their withdrawal
/// link: on the answer page, and as a letter waiting to be posted. No SMTP here: letters.
async fn a_removed_guardian_gets_nothing_and_a_giver_without_an_address_keeps_their_link(db: Db, blobs: Blobs) {
    let server = TestServer::start(db, blobs).await;
    let child = create_learner(
        &server,
        json!({
            "given_name": "Gideon", "family_name": "Bounce", "date_of_birth": "2015-01-01", "groups": ["Class D"],
            "guardians": [{"name": "Rita Bounce", "email": "rita@example.org"}, {"name": "Tess Bounce", "email": "tess@example.org"}],
        }),
    )
    .await;
    let child_id = child["id"].as_str().unwrap().to_string();
    let (rita, tess) = (child["guardians"][0]["id"].as_str().unwrap(), child["guardians"][1]["id"].as_str().unwrap());
    request(&server, json!({"group": "Class D", "purposes": ["website"]})).await;
    let pending = server.store.outbox(MailState::Pending, 10).await.unwrap();
    assert_eq!(pending.len(), 2);

    let removed = consentgate_delete(&server, &format!("/api/v1/learners/{child_id}/guardians/{tess}")).await;
    assert_eq!(removed, 200);
    let pending = server.store.outbox(MailState::Pending, 10).await.unwrap();
    assert_eq!(pending.iter().map(|m| m.to_address.as_str()).collect::<Vec<_>>(), ["rita@example.org"]);
    let form_link = pending[0].link.clone().unwrap();

    // Rita's address is cleared, then she answers from the letter's link.
    let cleared = common::api::patch(
        &server,
        &server.admin,
        &format!("/api/v1/learners/{child_id}/guardians/{rita}"),
        json!({"email": null}),
    )
    .await;
    assert_eq!(cleared.status(), 200);
    // A wrong answer keeps the tick and refuses a signature that reorders text.
    let (status, page) = post_form(
        &server,
        &form_link,
        &[("website", "granted"), ("signature", "\u{202e}Rita"), ("responsibility", "yes")],
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains(r#"value="yes" checked"#), "the box stays ticked");
    let (status, page) = post_form(
        &server,
        &form_link,
        &[("website", "granted"), ("signature", "Rita Bounce"), ("responsibility", "yes")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("post you a copy"), "{page}");
    let start = page.find(&format!("{}/w/", server.base)).expect("the withdrawal link is on the page");
    let withdraw_link: String = page[start..].chars().take_while(|c| !matches!(c, '<' | '"' | ' ')).collect();
    let letters = server.store.outbox(MailState::Pending, 10).await.unwrap();
    let confirmation = letters.iter().find(|m| m.kind == consentgate::store::MailKind::Confirmation).expect("a letter");
    assert_eq!(confirmation.to_address, "");
    assert!(confirmation.body.contains(&withdraw_link), "the letter carries the same link");
    assert_eq!(server.client.post(&withdraw_link).send().await.unwrap().status(), 200);
}

async fn consentgate_delete(server: &TestServer, path: &str) -> u16 {
    common::api::delete(server, &server.admin, path).await.status().as_u16()
}

mod sqlite_fs {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_removed_guardian_gets_nothing_and_a_giver_without_an_address_keeps_their_link() {
        super::a_removed_guardian_gets_nothing_and_a_giver_without_an_address_keeps_their_link(
            super::Db::Sqlite,
            super::Blobs::Fs,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn a_parent_and_an_adult_answer_from_the_emailed_link() {
        super::a_parent_and_an_adult_answer_from_the_emailed_link(super::Db::Sqlite, super::Blobs::Fs).await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn reminders_renewals_and_birthdays_arrive_on_their_own() {
        super::reminders_renewals_and_birthdays_arrive_on_their_own(super::Db::Sqlite, super::Blobs::Fs).await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stopped_smtp_server_loses_nothing_and_a_refusal_is_marked_failed() {
        super::a_stopped_smtp_server_loses_nothing_and_a_refusal_is_marked_failed(super::Db::Sqlite, super::Blobs::Fs)
            .await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn bad_requests_get_clear_answers_and_store_nothing() {
        super::bad_requests_get_clear_answers_and_store_nothing(super::Db::Sqlite, super::Blobs::Fs).await;
    }
}

mod postgres_s3 {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_removed_guardian_gets_nothing_and_a_giver_without_an_address_keeps_their_link() {
        super::a_removed_guardian_gets_nothing_and_a_giver_without_an_address_keeps_their_link(
            super::Db::Postgres,
            super::Blobs::S3,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn a_parent_and_an_adult_answer_from_the_emailed_link() {
        super::a_parent_and_an_adult_answer_from_the_emailed_link(super::Db::Postgres, super::Blobs::S3).await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn reminders_renewals_and_birthdays_arrive_on_their_own() {
        super::reminders_renewals_and_birthdays_arrive_on_their_own(super::Db::Postgres, super::Blobs::S3).await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stopped_smtp_server_loses_nothing_and_a_refusal_is_marked_failed() {
        super::a_stopped_smtp_server_loses_nothing_and_a_refusal_is_marked_failed(
            super::Db::Postgres,
            super::Blobs::S3,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread")]
    async fn bad_requests_get_clear_answers_and_store_nothing() {
        super::bad_requests_get_clear_answers_and_store_nothing(super::Db::Postgres, super::Blobs::S3).await;
    }
}
