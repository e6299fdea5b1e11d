//! Staff accounts over real HTTP with a real SMTP server on loopback: a safeguarding lead invites a
//! member of staff, the invitation arrives with a one-time link, opening it changes nothing, its
//! button signs in (once), the header shows the person's name; the sign-in page sends a new link
//! to a known address and says the same for an unknown one; a revoked account stops at once. The
//! API lists, invites and revokes. On both store backends.

mod common;

use std::time::Duration;

use common::api::{delete, get, post};
use common::pages::{client, cookie_value, csrf_in, sign_in};
use common::server::{Blobs, Db, TestServer};
use common::smtp::{Received, SmtpSink};
use reqwest::header::{COOKIE, LOCATION};
use serde_json::{json, Value};

mod accounts {
    use super::*;
    on_both_backends!(
        start = super::start;
        an_invited_officer_signs_in_with_the_emailed_link_once,
        the_sign_in_page_sends_a_link_only_to_a_known_address_and_says_the_same_either_way,
        the_api_invites_lists_and_revokes_and_refuses_what_it_should,
    );
    #[tokio::test(flavor = "multi_thread")]
    async fn without_mail_nobody_can_be_invited() {
        without_mail(TestServer::start(Db::Sqlite, Blobs::Fs).await).await;
    }
}

/// The sink every server of these tests delivers to, started with it.
struct WithMail {
    server: TestServer,
    sink: SmtpSink,
}

async fn start(db: Db, blobs: Blobs) -> WithMail {
    let sink = SmtpSink::start();
    let smtp = common::smtp::settings(&sink, Duration::from_secs(5));
    let server = TestServer::start_adjusted(db, blobs, |s| {
        s.mail = Some(smtp);
        s.organisation_name = Some("Northfield Training".into());
    })
    .await;
    WithMail { server, sink }
}

/// The `/signin/link/…` link in a message.
fn link_in(message: &Received, base: &str) -> String {
    let start =
        message.body.find(&format!("{base}/signin/link/")).unwrap_or_else(|| panic!("no link in {}", message.body));
    message.body[start..].split_whitespace().next().unwrap().to_string()
}

/// Opens a sign-in link's page: (status, page, the form's CSRF cookie).
async fn open_link(link: &str) -> (u16, String, Option<String>) {
    let response = client().get(link).send().await.unwrap();
    let cookie = cookie_value(&response, "cg_signin").map(|(v, _)| v);
    (response.status().as_u16(), response.text().await.unwrap(), cookie)
}

/// Presses the link page's button: the response (a redirect home with a session cookie, or a page).
async fn press(link: &str) -> reqwest::Response {
    let (_, html, pre) = open_link(link).await;
    client()
        .post(link)
        .header(COOKIE, format!("cg_signin={}", pre.unwrap()))
        .form(&[("csrf", csrf_in(&html))])
        .send()
        .await
        .unwrap()
}

async fn an_invited_officer_signs_in_with_the_emailed_link_once(with: WithMail) {
    let WithMail { server, sink } = with;
    let admin = sign_in(&server, &server.admin).await;
    let page = admin.get(&server, "/admin/staff").await.text().await.unwrap();
    assert!(page.contains("No staff accounts yet") && !page.contains("No mail server"), "{page}");

    // Refused forms keep what was typed and store nothing.
    let tutor = sign_in(&server, &server.token(consentgate::store::Role::Tutor).await).await;
    let before = server.snapshot().await;
    let answer = admin
        .post_form(
            &server,
            "/admin/staff",
            &[("csrf", &admin.csrf), ("name", "Dana Shaw"), ("email", "dana at college"), ("role", "marketing")],
        )
        .await;
    assert_eq!(answer.status(), 422);
    let html = answer.text().await.unwrap();
    assert!(
        html.contains("Not invited:") && html.contains("not valid") && html.contains("value=\"Dana Shaw\""),
        "{html}"
    );
    let answer = admin
        .post_form(
            &server,
            "/admin/staff",
            &[("name", "Dana Shaw"), ("email", "dana@college.example"), ("role", "marketing")],
        )
        .await;
    assert_eq!(answer.status(), 403, "no CSRF token");
    assert_eq!(tutor.get(&server, "/admin/staff").await.status(), 403);
    assert_eq!(server.snapshot().await, before);

    let answer = admin
        .post_form(
            &server,
            "/admin/staff",
            &[("csrf", &admin.csrf), ("name", "Dana Shaw"), ("email", " Dana@College.example "), ("role", "marketing")],
        )
        .await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/admin/staff?done=staff_invited");
    let page = admin.get(&server, "/admin/staff").await.text().await.unwrap();
    assert!(
        page.contains("Dana Shaw") && page.contains("dana@college.example") && page.contains("can sign in"),
        "{page}"
    );
    // The account is not an API token and is not listed with them.
    assert!(!admin.get(&server, "/admin/tokens").await.text().await.unwrap().contains("Dana Shaw"));
    // The same address again: refused while the account is live.
    let again = admin
        .post_form(
            &server,
            "/admin/staff",
            &[("csrf", &admin.csrf), ("name", "D. Shaw"), ("email", "dana@college.example"), ("role", "admin")],
        )
        .await;
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("already has an account"));

    let mail = sink.wait_for(1, Duration::from_secs(20));
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to_address, "dana@college.example");
    assert!(
        mail[0].subject.contains("Your account") && mail[0].body.contains("a marketing account on Northfield Training")
    );
    let link = link_in(&mail[0], &server.base);
    // The outbox row no longer holds the link once delivered, and the families' outbox never listed it.
    let outbox = admin.get(&server, "/admin/outbox").await.text().await.unwrap();
    assert!(!outbox.contains("/signin/link/"), "{outbox}");

    // Opening the link (as a mail scanner does) changes nothing; the page names who it signs in.
    let before = server.snapshot().await;
    let (status, html, _) = open_link(&link).await;
    assert_eq!(status, 200);
    assert!(html.contains("Sign in as Dana Shaw"), "{html}");
    assert_eq!(server.snapshot().await, before);

    // The button without the form's own cookie: refused, the link kept.
    let (_, html, _) = open_link(&link).await;
    let forged = client().post(&link).form(&[("csrf", csrf_in(&html))]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(server.snapshot().await, before);

    let signed = press(&link).await;
    assert_eq!(signed.status(), 303);
    let (secret, _) = cookie_value(&signed, "cg_session").expect("a session");
    let cookie = format!("cg_session={secret}");
    let home = client().get(format!("{}/", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(home.headers()[LOCATION], "/marketing");
    let queue = client().get(format!("{}/marketing", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(queue.status(), 200);
    assert!(queue.text().await.unwrap().contains("<span class=\"who\">Dana Shaw</span>"));
    // Marketing may not manage staff.
    let staff = client().get(format!("{}/admin/staff", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(staff.status(), 403);

    // Once only.
    let (status, html, _) = open_link(&link).await;
    assert_eq!(status, 410);
    assert!(html.contains("has been used or has run out") && !html.contains("Dana Shaw"), "{html}");
    assert_eq!(press(&link).await.status(), 410);

    // The audit log says who signed in, and how.
    let rows: Value = common::api::get_json(&server, &server.admin, "/api/v1/audit?limit=500").await;
    let rows = rows.as_array().unwrap();
    let invited = rows.iter().find(|r| r["action"] == "staff_invited").unwrap();
    assert!(!invited.to_string().contains("dana@college.example"), "the address stays out of the log: {invited}");
    assert!(rows.iter().any(|r| r["action"] == "signed_in" && r["details"]["via"] == "link"));

    // Revoked from the page: the session stops at once.
    let accounts: Value = common::api::get_json(&server, &server.admin, "/api/v1/staff").await;
    let id = accounts[0]["id"].as_str().unwrap().to_string();
    let answer = admin.post_form(&server, &format!("/admin/staff/{id}/revoke"), &[("csrf", &admin.csrf)]).await;
    assert_eq!(answer.headers()[LOCATION], "/admin/staff?done=account_revoked");
    let queue = client().get(format!("{}/marketing", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(queue.status(), 303, "signed out: to the sign-in page");
    let page = admin.get(&server, "/admin/staff").await.text().await.unwrap();
    assert!(page.contains("revoked"), "{page}");
}

/// Asks the sign-in page for a link to `email`: (status, page).
async fn ask_for_link(server: &TestServer, email: &str) -> (u16, String) {
    let form = client().get(format!("{}/signin", server.base)).send().await.unwrap();
    let (pre, _) = cookie_value(&form, "cg_signin").unwrap();
    let html = form.text().await.unwrap();
    assert!(html.contains("Email me a sign-in link"), "{html}");
    let response = client()
        .post(format!("{}/signin/email", server.base))
        .header(COOKIE, format!("cg_signin={pre}"))
        .form(&[("csrf", csrf_in(&html).as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn the_sign_in_page_sends_a_link_only_to_a_known_address_and_says_the_same_either_way(with: WithMail) {
    let WithMail { server, sink } = with;
    let invited = post(
        &server,
        &server.admin,
        "/api/v1/staff",
        json!({"name": "Priya Tutor", "email": "priya@college.example", "role": "tutor"}),
    )
    .await;
    assert_eq!(invited.status(), 201);
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).len(), 1);

    let (status, unknown) = ask_for_link(&server, "nobody@college.example").await;
    assert_eq!(status, 200);
    let (status, known) = ask_for_link(&server, "PRIYA@college.example").await;
    assert_eq!(status, 200);
    let said = |html: &str| html.contains("If that address belongs to a staff account, a sign-in link is on its way");
    assert!(said(&unknown) && said(&known));
    let (status, bad) = ask_for_link(&server, "not an address").await;
    assert_eq!(status, 422);
    assert!(bad.contains("not an email address"), "{bad}");

    let mail = sink.wait_for(2, Duration::from_secs(20));
    assert_eq!(mail.len(), 2, "one invitation, one link asked for; nothing to the unknown address");
    assert!(mail.iter().all(|m| m.to_address == "priya@college.example"));
    let asked = mail.iter().find(|m| m.subject.contains("Your sign-in link")).expect("the link asked for");
    assert!(asked.body.contains("you asked for") && asked.body.contains("works once"), "{}", asked.body);
    let link = link_in(asked, &server.base);
    let signed = press(&link).await;
    assert_eq!(signed.status(), 303);
    let (secret, _) = cookie_value(&signed, "cg_session").unwrap();
    let home =
        client().get(format!("{}/", server.base)).header(COOKIE, format!("cg_session={secret}")).send().await.unwrap();
    assert_eq!(home.headers()[LOCATION], "/tutor");
    // The invitation's link, older, still works once too.
    let invitation = mail.iter().find(|m| m.subject.contains("Your account")).unwrap();
    assert_eq!(press(&link_in(invitation, &server.base)).await.status(), 303);
}

async fn the_api_invites_lists_and_revokes_and_refuses_what_it_should(with: WithMail) {
    let WithMail { server, sink } = with;
    let tutor = server.token(consentgate::store::Role::Tutor).await;
    let body = json!({"name": "Sam Lead", "email": "sam@college.example", "role": "admin"});
    assert_eq!(post(&server, &tutor, "/api/v1/staff", body.clone()).await.status(), 403);
    assert_eq!(get(&server, &tutor, "/api/v1/staff").await.status(), 403);
    for (bad, code) in [
        (json!({"name": "", "email": "sam@college.example", "role": "admin"}), 422),
        (json!({"name": "Sam", "email": "sam", "role": "admin"}), 422),
        (json!({"name": "Sam", "email": "sam@college.example", "role": "owner"}), 422),
        (json!({"name": "Sam", "email": "sam@college.example", "role": "admin", "extra": 1}), 422),
        // Addresses the mail server could never be given: refused now, not failed later unseen.
        (json!({"name": "Sam", "email": "sam@college.example,eve@evil.example", "role": "admin"}), 422),
        (json!({"name": "Sam", "email": "sam@b@college.example", "role": "admin"}), 422),
        // A name that would reorder the audit line it appears in.
        (json!({"name": "\u{202e}NIMDA\u{202c} Sam", "email": "sam@college.example", "role": "admin"}), 422),
    ] {
        let answer = post(&server, &server.admin, "/api/v1/staff", bad.clone()).await;
        assert_eq!(answer.status(), code, "{bad}");
        assert!(answer.json::<Value>().await.unwrap()["error"].is_string());
    }
    let made = post(&server, &server.admin, "/api/v1/staff", body.clone()).await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    assert_eq!((made["email"].as_str(), made["role"].as_str()), (Some("sam@college.example"), Some("admin")));
    let taken = post(&server, &server.admin, "/api/v1/staff", body.clone()).await;
    assert_eq!(taken.status(), 409);
    assert_eq!(taken.json::<Value>().await.unwrap()["error"], "email_taken");
    let listed: Value = common::api::get_json(&server, &server.admin, "/api/v1/staff").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "API tokens are not accounts: {listed}");

    // DELETE revokes accounts only: never an API token (the admin's own included).
    let id = made["id"].as_str().unwrap();
    let admin_id = &server.admin[3..27];
    assert_eq!(delete(&server, &server.admin, &format!("/api/v1/staff/{admin_id}")).await.status(), 404);
    assert_eq!(delete(&server, &server.admin, "/api/v1/staff/zzz").await.status(), 404);
    assert_eq!(delete(&server, &tutor, &format!("/api/v1/staff/{id}")).await.status(), 403);
    assert_eq!(delete(&server, &server.admin, &format!("/api/v1/staff/{id}")).await.status(), 204);
    let again = delete(&server, &server.admin, &format!("/api/v1/staff/{id}")).await;
    assert_eq!(again.status(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "account_revoked");
    // The staff page revokes accounts only, never an API token.
    let admin = sign_in(&server, &server.admin).await;
    let tutor_id = &tutor[3..27];
    let answer = admin.post_form(&server, &format!("/admin/staff/{tutor_id}/revoke"), &[("csrf", &admin.csrf)]).await;
    assert_eq!(answer.status(), 404);
    assert_eq!(
        get(&server, &tutor, "/api/v1/staff").await.status(),
        403,
        "the tutor's token still works (and is refused)"
    );

    // Links that are none of ours (the pages share the withdrawal pages' limit per address, so
    // these are counted here, not in the test that opens a real link several times).
    assert_eq!(open_link(&format!("{}/signin/link/{}", server.base, "ab".repeat(32))).await.0, 404);
    assert_eq!(open_link(&format!("{}/signin/link/not-a-link", server.base)).await.0, 404);

    // The address is free again.
    assert_eq!(post(&server, &server.admin, "/api/v1/staff", body).await.status(), 201);

    // Five links an hour at most, the invitation's included: four more asked for, then none.
    for _ in 0..6 {
        assert_eq!(ask_for_link(&server, "sam@college.example").await.0, 200, "the page says the same");
    }
    // The revoked account's invitation may have left before the revocation: only the new one's count.
    sink.wait_for(6, Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = sink.messages();
    assert!(messages.iter().all(|m| m.to_address == "sam@college.example"));
    let asked = messages.iter().filter(|m| m.subject.contains("Your sign-in link")).count();
    assert_eq!(asked, 4, "capped at five links in the hour, the invitation's included");
    // A link asked for on the sign-in page is logged as the page's doing, not the person's.
    let rows = common::api::get_json(&server, &server.admin, "/api/v1/audit?limit=1000").await;
    let asked_rows: Vec<&Value> =
        rows.as_array().unwrap().iter().filter(|r| r["action"] == "sign_in_link_sent").collect();
    assert!(!asked_rows.is_empty() && asked_rows.iter().all(|r| r["actor"] == "sign_in_page"), "{asked_rows:?}");
}

async fn without_mail(server: TestServer) {
    let body = json!({"name": "Sam Lead", "email": "sam@college.example", "role": "admin"});
    let before = server.snapshot().await;
    let answer = post(&server, &server.admin, "/api/v1/staff", body).await;
    assert_eq!(answer.status(), 409);
    assert_eq!(answer.json::<Value>().await.unwrap()["error"], "mail_not_configured");
    assert_eq!(server.snapshot().await, before);
    let admin = sign_in(&server, &server.admin).await;
    assert!(admin.get(&server, "/admin/staff").await.text().await.unwrap().contains("No mail server is set up"));
    // The sign-in page offers only the token.
    let html = client().get(format!("{}/signin", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("Email me a sign-in link") && html.contains("access token"));
}
