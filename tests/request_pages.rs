//! The consent-request pages over real HTTP, signed in as a browser is: asking a group or one
//! learner's family, the outbox as printable letters (and a message the mail server refused),
//! coverage per purpose with its CSV, and the tutor's list of who not to photograph yet. On both
//! store backends.

mod common;

use std::time::Duration;

use common::api::{create_learner, post};
use common::pages::{client, sign_in};
use common::server::{Blobs, Db, TestServer};
use common::smtp::SmtpSink;
use consentgate::store::{MailState, Role};
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::{json, Value};

mod letters {
    use super::*;
    on_both_backends!(
        the_lead_asks_a_group_from_the_requests_page,
        the_lead_asks_one_learners_family_from_their_page,
        without_smtp_the_outbox_shows_letters_and_a_posted_one_is_forgotten,
        coverage_counts_each_purpose_and_the_tutor_sees_only_first_names,
    );
}

/// The learners of Year 9, all aged 14: Amira (her guardian has an address), Ben (his has none)
/// and Cara (her guardian has one); and Dev, in Year 10.
struct Year9 {
    amira: String,
    ben: String,
    cara: String,
    dev: String,
}

async fn child(server: &TestServer, given: &str, family: &str, guardian: Value, group: &str) -> String {
    let born = format!("{}-03-01", time::OffsetDateTime::now_utc().year() - 14);
    let body = json!({"given_name": given, "family_name": family, "date_of_birth": born,
        "guardians": [guardian], "groups": [group]});
    create_learner(server, body).await["id"].as_str().unwrap().to_string()
}

async fn year_nine(server: &TestServer) -> Year9 {
    Year9 {
        amira: child(server, "Amira", "Khan", json!({"name": "Sara Khan", "email": "sara@example.org"}), "Year 9")
            .await,
        ben: child(server, "Ben", "Okafor", json!({"name": "Tom Okafor"}), "Year 9").await,
        cara: child(server, "Cara", "Lind", json!({"name": "Kim Lind", "email": "kim@example.org"}), "Year 9").await,
        dev: child(server, "Dev", "Shah", json!({"name": "Ravi Shah", "email": "ravi@example.org"}), "Year 10").await,
    }
}

/// Asks `group` about `purposes` through the API; returns the request's id.
async fn ask(server: &TestServer, group: &str, purposes: &[&str]) -> String {
    let response =
        post(server, &server.admin, "/api/v1/consent-requests", json!({"group": group, "purposes": purposes})).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// The request's messages waiting (as letters, without SMTP), with their form links.
async fn letters_for(server: &TestServer, learner: &str) -> Vec<consentgate::store::OutboxMessage> {
    let mut waiting = server.store.outbox(MailState::Pending, 100).await.unwrap();
    waiting.retain(|m| m.learner_id.as_deref() == Some(learner));
    waiting
}

async fn the_lead_asks_a_group_from_the_requests_page(server: TestServer) {
    let year9 = year_nine(&server).await;
    let admin = sign_in(&server, &server.admin).await;
    let page = admin.get(&server, "/admin/requests").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<option value="Year 9">Year 9 (3 learners)</option>"#), "{html}");
    assert!(html.contains(r#"<option value="Year 10">Year 10 (1 learner)</option>"#), "{html}");
    assert!(html.contains("No request has been sent yet."));

    // Not for tutors, and never without this session's CSRF token.
    let tutor = sign_in(&server, &server.token(Role::Tutor).await).await;
    assert_eq!(tutor.get(&server, "/admin/requests").await.status(), 403);
    let before = server.snapshot().await;
    let answer = tutor
        .post_form(&server, "/admin/requests", &[("csrf", &tutor.csrf), ("group", "Year 9"), ("purposes", "website")])
        .await;
    assert_eq!(answer.status(), 403);
    let answer = admin.post_form(&server, "/admin/requests", &[("group", "Year 9"), ("purposes", "website")]).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("CSRF"));
    let answer = admin
        .post_form(&server, "/admin/requests", &[("csrf", &tutor.csrf), ("group", "Year 9"), ("purposes", "website")])
        .await;
    assert_eq!(answer.status(), 403, "another session's token");

    // Nothing ticked: the form again, saying why, the group still chosen.
    let answer = admin.post_form(&server, "/admin/requests", &[("csrf", &admin.csrf), ("group", "Year 9")]).await;
    assert_eq!(answer.status(), 422);
    let html = answer.text().await.unwrap();
    assert!(html.contains("role=\"alert\">Not sent:") && html.contains("at least one purpose"), "{html}");
    assert!(html.contains(r#"<option value="Year 9" selected>"#), "the group is kept: {html}");
    // A group nobody is in.
    let answer = admin
        .post_form(&server, "/admin/requests", &[("csrf", &admin.csrf), ("group", "Year 12"), ("purposes", "print")])
        .await;
    assert_eq!(answer.status(), 404);
    assert!(answer.text().await.unwrap().contains("Not sent:"));
    assert_eq!(server.snapshot().await, before, "refused forms stored nothing");
    assert!(server.store.requests(10).await.unwrap().is_empty());

    let answer = admin
        .post_form(
            &server,
            "/admin/requests",
            &[("csrf", &admin.csrf), ("group", "Year 9"), ("purposes", "website"), ("purposes", "print")],
        )
        .await;
    assert_eq!(answer.status(), 303);
    let location = answer.headers()[LOCATION].to_str().unwrap().to_string();
    let id = location.strip_prefix("/admin/requests/").unwrap().strip_suffix("?done=request_sent").unwrap();
    let stored = server.store.request(id).await.unwrap().expect("the request is stored");
    assert_eq!(stored.group.as_deref(), Some("Year 9"));
    let mut asked_about: Vec<&str> = stored.purposes.iter().map(|p| p.as_str()).collect();
    asked_about.sort();
    assert_eq!(asked_about, ["print", "website"]);
    assert!(letters_for(&server, &year9.dev).await.is_empty(), "Year 10 was not asked");

    let page = admin.get(&server, &location).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Request made"), "the notice says what happened: {html}");
    assert!(html.contains("A request to the group Year 9"), "{html}");
    let about = &html[html.find(", about ").expect("what was asked")..];
    let about = &about[..about.find('.').unwrap()];
    assert!(about.contains("website") && about.contains("print") && !about.contains("social"), "{about}");
    assert!(
        html.contains("<strong>2</strong> asked, <strong>0</strong> answered, <strong>1</strong> with no contact"),
        "Amira's and Cara's guardians were asked; Ben's has no address: {html}"
    );
    for learner in [&year9.amira, &year9.ben, &year9.cara] {
        assert!(html.contains(&format!("/admin/learners/{learner}")), "every learner asked is listed");
    }
    assert!(html.contains("Sara Khan") && html.contains("no contact:"), "{html}");

    // Once Cara's guardian answers, the page counts it.
    let link = letters_for(&server, &year9.cara).await[0].link.clone().unwrap();
    let answered = client()
        .post(&link)
        .form(&[("website", "granted"), ("print", "granted"), ("signature", "Kim Lind"), ("responsibility", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let html = admin.get(&server, &format!("/admin/requests/{id}")).await.text().await.unwrap();
    assert!(html.contains("<strong>2</strong> asked, <strong>1</strong> answered"), "{html}");
    // And the list of requests links to it.
    let html = admin.get(&server, "/admin/requests").await.text().await.unwrap();
    assert!(html.contains(&format!(r#"href="/admin/requests/{id}""#)), "{html}");
}

async fn the_lead_asks_one_learners_family_from_their_page(server: TestServer) {
    let year9 = year_nine(&server).await;
    let admin = sign_in(&server, &server.admin).await;
    let path = format!("/admin/learners/{}", year9.amira);
    let html = admin.get(&server, &path).await.text().await.unwrap();
    let form = &html[html.find(r#"<form method="post" action="/admin/requests""#).expect("an ask form")..];
    let form = &form[..form.find("</form>").unwrap()];
    assert!(form.contains(&format!(r#"<input type="hidden" name="learner_id" value="{}">"#, year9.amira)));
    assert!(form.contains(r#"name="csrf""#) && form.contains("<legend>Ask about</legend>"));
    for purpose in ["website", "social_media", "print", "internal"] {
        assert!(form.contains(&format!(r#"<input type="checkbox" name="purposes" value="{purpose}">"#)), "{form}");
    }

    // Nothing ticked: the learner's page again, with why (showing it audits a read, as it does).
    let before = server.snapshot().await;
    let answer =
        admin.post_form(&server, "/admin/requests", &[("csrf", &admin.csrf), ("learner_id", &year9.amira)]).await;
    assert_eq!(answer.status(), 422);
    let html = answer.text().await.unwrap();
    assert!(html.contains("<h1>Amira Khan</h1>") && html.contains("at least one purpose"), "{html}");
    let answer =
        admin.post_form(&server, "/admin/requests", &[("learner_id", &year9.amira), ("purposes", "internal")]).await;
    assert_eq!(answer.status(), 403, "no CSRF token");
    let after = server.snapshot().await;
    for table in ["consent_requests", "request_recipients", "request_links", "outbox"] {
        assert_eq!(after[table], before[table], "{table}: nothing asked");
    }

    let answer = admin
        .post_form(
            &server,
            "/admin/requests",
            &[("csrf", &admin.csrf), ("learner_id", &year9.amira), ("purposes", "internal")],
        )
        .await;
    assert_eq!(answer.status(), 303);
    let location = answer.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with("/admin/requests/"), "{location}");
    let html = admin.get(&server, &location).await.text().await.unwrap();
    assert!(html.contains("A request, sent") && html.contains("about internal use"), "{html}");
    assert!(html.contains("<strong>1</strong> asked, <strong>0</strong> answered, <strong>0</strong> with no contact"));
    let letters = letters_for(&server, &year9.amira).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].to_address, "sara@example.org");
    assert!(letters_for(&server, &year9.cara).await.is_empty(), "only Amira's family was asked");
}

async fn without_smtp_the_outbox_shows_letters_and_a_posted_one_is_forgotten(server: TestServer) {
    let year9 = year_nine(&server).await;
    ask(&server, "Year 9", &["website"]).await;
    let admin = sign_in(&server, &server.admin).await;
    let page = admin.get(&server, "/admin/outbox").await;
    assert_eq!(page.status(), 200);
    let reference = admin.get(&server, "/admin/learners").await;
    assert_eq!(
        page.headers()[CONTENT_SECURITY_POLICY],
        reference.headers()[CONTENT_SECURITY_POLICY],
        "the inline QR codes need no change to the policy"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("No email server is set up") && html.contains("Letters to print (2)"), "{html}");
    assert!(!html.contains(" style=") && !html.contains("<script"), "the SVG carries no inline style or script");
    let pending = server.store.outbox(MailState::Pending, 100).await.unwrap();
    assert_eq!(pending.len(), 2, "Amira's and Cara's guardians");
    for message in &pending {
        let link = message.link.as_deref().unwrap();
        assert!(link.starts_with(&format!("{}/c/", server.base)), "{link}");
        let at = html.find(&format!("/admin/outbox/{}/posted", message.id)).expect("a form per letter");
        let letter = &html[html[..at].rfind("<article").unwrap()..at];
        assert!(letter.contains(&format!("<figcaption>{link}</figcaption>")), "the link as text: {letter}");
        assert!(letter.contains(r#"<svg role="img" aria-label="QR code of the link below""#), "{letter}");
        assert!(letter.contains(&message.subject) && letter.contains(&message.to_name));
        assert!(letter.contains(link), "the body names the link too");
    }
    assert_eq!(html.matches("<svg").count(), 2);

    let posted = letters_for(&server, &year9.amira).await.remove(0);
    let path = format!("/admin/outbox/{}/posted", posted.id);
    let tutor = sign_in(&server, &server.token(Role::Tutor).await).await;
    assert_eq!(tutor.get(&server, "/admin/outbox").await.status(), 403);
    assert_eq!(tutor.post_form(&server, &path, &[("csrf", &tutor.csrf)]).await.status(), 403);
    assert_eq!(admin.post_form(&server, &path, &[]).await.status(), 403, "no CSRF token");
    assert_eq!(server.store.outbox_message(&posted.id).await.unwrap().unwrap(), posted, "unchanged");

    let answer = admin.post_form(&server, &path, &[("csrf", &admin.csrf)]).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/admin/outbox?done=letter_posted");
    let after = server.store.outbox_message(&posted.id).await.unwrap().unwrap();
    assert_eq!(after.state, MailState::Posted);
    assert!(after.body.is_empty() && after.link.is_none(), "the words and the link are forgotten: {after:?}");
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    assert!(audit.iter().any(|r| r.action == "letter_posted" && r.subject == posted.id), "audited");

    let html = admin.get(&server, "/admin/outbox?done=letter_posted").await.text().await.unwrap();
    assert!(html.contains("Marked as posted") && html.contains("Letters to print (1)"), "{html}");
    assert!(!html.contains(&posted.id) && !html.contains(posted.link.as_deref().unwrap()));
    assert_eq!(html.matches("<svg").count(), 1, "Cara's letter is still there");
    // Posted already: nothing more to mark.
    assert_eq!(admin.post_form(&server, &path, &[("csrf", &admin.csrf)]).await.status(), 404);
}

async fn coverage_counts_each_purpose_and_the_tutor_sees_only_first_names(server: TestServer) {
    let year9 = year_nine(&server).await;
    ask(&server, "Year 9", &["website", "print"]).await;
    // Amira's guardian answers on the form: yes for the website, no for print.
    let link = letters_for(&server, &year9.amira).await[0].link.clone().unwrap();
    let answered = client()
        .post(&link)
        .form(&[("website", "granted"), ("print", "refused"), ("signature", "Sara Khan"), ("responsibility", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);

    let admin = sign_in(&server, &server.admin).await;
    let page = admin.get(&server, "/admin/coverage?group=Year+9").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Coverage: Year 9</h1>") && html.contains("3 learners."), "{html}");
    let row = |purpose: &str| -> Vec<String> {
        let at =
            html.find(&format!(r#"<th scope="row">{purpose}</th>"#)).unwrap_or_else(|| panic!("{purpose}: {html}"));
        let row = &html[at..at + html[at..].find("</tr>").unwrap()];
        row.split("<td>").skip(1).map(|cell| cell.split('<').next().unwrap().to_string()).collect()
    };
    // The bar, then granted, refused, awaiting, never asked, no contact.
    assert_eq!(row("website")[1..], ["1", "0", "1", "0", "1"], "Amira yes, Cara awaited, Ben unreachable");
    assert_eq!(row("print")[1..], ["0", "1", "1", "0", "1"]);
    assert_eq!(row("social media")[1..], ["0", "0", "0", "2", "1"]);
    assert!(html.contains(r#"<meter min="0" max="3" value="1" aria-label="website: 1 of 3 granted">"#), "{html}");
    assert!(html.contains(r#"href="/admin/coverage.csv?group=Year+9""#), "{html}");

    let csv = admin.get(&server, "/admin/coverage.csv?group=Year+9").await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "learner_id,purpose,standing");
    assert_eq!(lines.len(), 1 + 3 * 4, "one line per learner and purpose: {csv}");
    for line in [
        format!("{},website,granted", year9.amira),
        format!("{},print,refused", year9.amira),
        format!("{},website,awaiting", year9.cara),
        format!("{},social_media,never_asked", year9.cara),
        format!("{},internal,no_contact", year9.ben),
    ] {
        assert!(lines.contains(&line.as_str()), "{line} in {csv}");
    }
    assert!(!csv.contains("Khan") && !csv.contains(&year9.dev), "ids only, Year 9 only");

    for path in ["/admin/coverage?group=Year+12", "/admin/coverage.csv?group=Year+12"] {
        assert_eq!(admin.get(&server, path).await.status(), 404, "{path}");
    }

    // The tutor's list: who may not be photographed for any purpose, as "First I.", never why.
    let tutor = sign_in(&server, &server.token(Role::Tutor).await).await;
    assert_eq!(tutor.get(&server, "/admin/coverage?group=Year+9").await.status(), 403);
    let html = tutor.get(&server, "/tutor/groups").await.text().await.unwrap();
    assert!(html.contains(r#"<a href="/tutor/groups/Year%209">Year 9</a> (3 learners)"#), "{html}");
    let page = tutor.get(&server, "/tutor/groups/Year%209").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<li>Ben O.</li>") && html.contains("<li>Cara L.</li>"), "{html}");
    assert!(html.contains("(2)"), "{html}");
    assert!(!html.contains("Amira"), "a grant for any purpose takes her off the list: {html}");
    for never in ["Okafor", "Lind", "Khan", "refused", "no contact", "awaiting", "address", "guardian"] {
        assert!(!html.to_lowercase().contains(&never.to_lowercase()), "{never} on the tutor's list: {html}");
    }
    assert_eq!(tutor.get(&server, "/tutor/groups/Year%2012").await.status(), 404);
    let marketing = sign_in(&server, &server.token(Role::Marketing).await).await;
    for path in ["/tutor/groups", "/tutor/groups/Year%209"] {
        assert_eq!(marketing.get(&server, path).await.status(), 403, "{path}");
    }
}

/// A refused address on a server that sends by email: the message shows as failed, with the
/// server's reply and the way to post it instead.
async fn a_refused_address_shows_on_the_outbox_with_the_reply(db: Db, blobs: Blobs) {
    let sink = SmtpSink::start();
    let smtp = common::smtp::settings(&sink, Duration::from_secs(5));
    let server = TestServer::start_adjusted(db, blobs, |s| s.mail = Some(smtp)).await;
    let refused =
        child(&server, "Lee", "Voss", json!({"name": "Pat Voss", "email": "reject.x@example.org"}), "Year 11").await;
    child(&server, "Mo", "Reyes", json!({"name": "Ana Reyes", "email": "ana@example.org"}), "Year 11").await;
    ask(&server, "Year 11", &["website"]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let failed = loop {
        let failed = server.store.outbox(MailState::Failed, 10).await.unwrap();
        if !failed.is_empty() {
            break failed.into_iter().next().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "the refusal was not recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1, "the other one was delivered");
    let admin = sign_in(&server, &server.admin).await;
    let html = admin.get(&server, "/admin/outbox").await.text().await.unwrap();
    assert!(html.contains("Messages are sent by email"), "{html}");
    assert!(html.contains("Refused by the mail server"), "{html}");
    let reply = failed.last_error.as_deref().unwrap();
    assert!(reply.contains("550"), "{reply}");
    let at = html.find(&format!("/admin/outbox/{}/posted", failed.id)).expect("it can be posted instead");
    let letter = &html[html[..at].rfind("<article").unwrap()..at];
    assert!(letter.contains("550") && letter.contains("reject.x@example.org"), "{letter}");
    assert!(letter.contains(&format!(r#"href="/admin/learners/{refused}""#)), "where to correct it: {letter}");
    assert!(!html.contains("ana@example.org"), "a delivered message is not listed");
}

mod smtp_sqlite_fs {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_address_shows_on_the_outbox_with_the_reply() {
        super::a_refused_address_shows_on_the_outbox_with_the_reply(super::Db::Sqlite, super::Blobs::Fs).await;
    }
}

mod smtp_postgres_s3 {
    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_address_shows_on_the_outbox_with_the_reply() {
        super::a_refused_address_shows_on_the_outbox_with_the_reply(super::Db::Postgres, super::Blobs::S3).await;
    }
}
