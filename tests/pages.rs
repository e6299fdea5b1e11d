//! The pages' security over real HTTP, on both store backends: sign-in and sign-out, the session
//! cookie's flags, CSRF on every form and on the API when used with the cookie, roles, the
//! Content-Security-Policy, and no learner data in any address.

mod common;

use common::api::{consenting_adult, create_learner, learner_with_guardian, patch, post, upload_ok};
use common::pages::{client, cookie_value, csrf_in, sign_in};
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, REFERRER_POLICY};
use serde_json::{json, Value};

/// A server behind a TLS-terminating reverse proxy on loopback, trusted to say so
/// (`X-Forwarded-Proto: https` from anyone else is dropped).
async fn behind_a_trusted_proxy(db: Db, blobs: Blobs) -> TestServer {
    TestServer::start_adjusted(db, blobs, |s| s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await
}

mod proxied {
    use super::*;
    on_both_backends!(start = super::behind_a_trusted_proxy; signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it);
}

on_both_backends!(
    sign_in_refuses_a_form_from_elsewhere_and_a_wrong_token,
    forms_without_this_sessions_csrf_token_change_nothing,
    the_api_with_a_session_cookie_needs_the_csrf_header_to_change_anything,
    pages_are_for_their_roles,
    pages_allow_no_inline_script_and_send_no_referrer,
    no_learner_data_appears_in_any_address,
    the_redaction_publication_and_takedown_forms_need_the_csrf_token,
    marketing_can_record_a_lapsed_claim_and_sees_which_photo_must_come_down,
    a_recorded_consent_redirects_and_shows_its_link_once_and_a_refused_form_keeps_its_values,
    a_revoked_token_and_its_open_sessions_stop_at_once,
    an_expired_token_and_its_session_stop_working,
    the_tokens_page_is_for_admins_needs_csrf_and_shows_a_new_token_once,
    the_learner_page_audits_its_read_and_an_admin_download_is_audited,
    the_learner_page_corrects_and_removes_guardians_and_shows_a_reissued_link_once,
    the_learner_page_shows_and_sets_the_learners_own_email_and_groups,
    one_saved_form_is_recorded_for_several_learners_or_for_none,
    the_learner_list_shows_ages_and_decisions_and_filters_who_needs_chasing,
);

/// The learners list shows each learner's age and where they stand per use, and its filters find
/// who still needs someone to act: under 18 with nothing granted, a guardian without email, a
/// refusal, never asked.
async fn the_learner_list_shows_ages_and_decisions_and_filters_who_needs_chasing(server: TestServer) {
    let year = time::OffsetDateTime::now_utc().year();
    let child = |given: &str, email: Option<&str>| {
        json!({"given_name": given, "family_name": "Listtest", "date_of_birth": format!("{}-01-01", year - 12),
            "guardians": [{"name": format!("Parent of {given}"), "email": email}]})
    };
    create_learner(&server, child("Una", Some("una.parent@example.org"))).await;
    create_learner(&server, child("Gus", None)).await;
    consenting_adult(&server, "Ada", "Listtest", &["website"]).await;
    let (rae, _) = consenting_adult(&server, "Rae", "Listtest", &["print"]).await;
    let no = json!({"kind": "refused", "purposes": ["website"], "given_by": "learner", "form_version": "v1",
        "form_text": "No thanks", "method": "email", "evidence": "mail 1"});
    assert_eq!(post(&server, &server.admin, &format!("/api/v1/learners/{rae}/consents"), no).await.status(), 201);

    let admin = sign_in(&server, &server.admin).await;
    let names = |html: &str| -> Vec<&'static str> {
        ["Una", "Gus", "Ada", "Rae"].into_iter().filter(|n| html.contains(&format!("{n} Listtest</a>"))).collect()
    };
    let all = admin.get(&server, "/admin/learners").await.text().await.unwrap();
    assert_eq!(names(&all), ["Una", "Gus", "Ada", "Rae"]);
    let age = 12 - i32::from(false);
    assert!(
        all.contains(&format!("<td>{age}<span class=\"visually-hidden\"> (under 18)</span></td>")),
        "ages shown: {all}"
    );
    assert!(
        all.contains("<td class=\"good\">yes</td>") && all.contains("<td class=\"stopped\">no</td>"),
        "decisions shown"
    );
    assert!(all.contains("a guardian has no email"));
    for (filter, expected) in [
        ("under_18_without_grant", vec!["Una", "Gus"]),
        ("guardian_without_email", vec!["Gus"]),
        ("refused", vec!["Rae"]),
        ("never_asked", vec!["Una", "Gus"]),
    ] {
        let html = admin.get(&server, &format!("/admin/learners?filter={filter}")).await.text().await.unwrap();
        assert_eq!(names(&html), expected, "{filter}");
        assert!(
            html.contains(&format!("href=\"/admin/learners?filter={filter}\" aria-current=\"page\"")),
            "{filter} marked"
        );
    }
    assert_eq!(admin.get(&server, "/admin/learners?filter=everyone").await.status(), 422);
}

/// The safeguarding lead's stack of paper forms: a form saved once on `/admin/forms`, three learners
/// ticked in the list, who signed for each; a line that would not count stops them all until it is
/// confirmed, and then each grant is recorded on the saved form with its link shown once.
async fn one_saved_form_is_recorded_for_several_learners_or_for_none(server: TestServer) {
    let admin = sign_in(&server, &server.admin).await;
    let saved = admin
        .post_form(
            &server,
            "/admin/forms",
            &[("csrf", &admin.csrf), ("name", "Photo consent"), ("form_version", "p-1"), ("form_text", "I agree.")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let forms = admin.get(&server, "/admin/forms").await.text().await.unwrap();
    assert!(forms.contains("Version p-1") && forms.contains("(required)"), "{forms}");
    let template = server.store.form_templates(false).await.unwrap().remove(0).id;
    // A version is saved once: the form comes back with what was typed.
    let again = admin
        .post_form(
            &server,
            "/admin/forms",
            &[("csrf", &admin.csrf), ("name", "Copy"), ("form_version", "p-1"), ("form_text", "x")],
        )
        .await;
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("value=\"Copy\""));

    // Born mid-June fourteen years ago: thirteen or fourteen today, as the calendar has it.
    let today = time::OffsetDateTime::now_utc().date();
    let born_year = today.year() - 14;
    let age = 14 - i32::from((u8::from(today.month()), today.day()) < (6, 15));
    let mut children: Vec<(String, String)> = Vec::new();
    for given in ["Ada", "Bo", "Cy"] {
        children.push(learner_with_guardian(&server, given, "Batchtest", &format!("{born_year}-06-15")).await);
    }
    let list = admin.get(&server, "/admin/learners").await.text().await.unwrap();
    assert!(list.contains("form=\"batch-pick\""), "the list has a box per learner");
    let mut pick = vec![("csrf", admin.csrf.clone())];
    pick.extend(children.iter().map(|(id, _)| ("learner_ids", id.clone())));
    let pick: Vec<(&str, &str)> = pick.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = admin.post_form(&server, "/admin/consents/batch", &pick).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for (_, guardian) in &children {
        assert!(
            page.contains(&format!("value=\"guardian:{guardian}\" selected>")),
            "a child's guardian signs by default"
        );
    }

    // Cy signs himself: a child's own grant would not count, so nothing is recorded for anyone.
    let signer_fields: Vec<(String, String)> = children
        .iter()
        .enumerate()
        .map(|(i, (id, guardian))| {
            (format!("given_by_{id}"), if i == 2 { "learner".to_string() } else { format!("guardian:{guardian}") })
        })
        .collect();
    let mut fields: Vec<(&str, &str)> = pick.clone();
    fields.extend(signer_fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    fields.extend([
        ("template_id", template.as_str()),
        ("kind", "granted"),
        ("purposes", "website"),
        ("method", "paper_form"),
        ("evidence", "box 3"),
    ]);
    let before = server.snapshot().await;
    let warned = admin.post_form(&server, "/admin/consents/batch/record", &fields).await;
    assert_eq!(warned.status(), 409);
    let html = warned.text().await.unwrap();
    assert!(html.contains(&format!("Cy is {age}: their own consent does not count")), "{html}");
    assert!(html.contains("name=\"record_anyway\"") && html.contains("value=\"box 3\""), "{html}");
    assert_eq!(server.snapshot().await, before, "nothing recorded for anyone");

    fields.push(("record_anyway", "1"));
    let recorded = admin.post_form(&server, "/admin/consents/batch/record", &fields).await;
    assert_eq!(recorded.status(), 303, "{:?}", recorded.text().await);
    let result = recorded.headers()[LOCATION].to_str().unwrap().to_string();
    let first = admin.get(&server, &result).await.text().await.unwrap();
    assert_eq!(first.matches("/w/").count(), 3, "a link per grant: {first}");
    let refresh = admin.get(&server, &result).await.text().await.unwrap();
    assert!(!refresh.contains("/w/") && refresh.contains("not shown again"));
    for (i, (id, _)) in children.iter().enumerate() {
        let events = server.store.consents(id).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].form_version, "p-1");
        assert_eq!(events[0].form_text_hash, blake3::hash(b"I agree.").to_hex().to_string());
        assert_eq!(matches!(events[0].giver, consentgate::policy::consent::Giver::Learner), i == 2);
    }
    // A learner of no use (unknown id) is refused outright.
    let unknown = admin
        .post_form(
            &server,
            "/admin/consents/batch",
            &[("csrf", &admin.csrf), ("learner_ids", "0192f0c4-4b1e-7c3a-9d2e-1234567890ab")],
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

/// Amira Khan, a child, with her guardian Sara Khan: the names and the year the address checks look
/// for. Returns her id.
async fn learner(server: &TestServer) -> String {
    let body = json!({"given_name": "Amira", "family_name": "Khan", "date_of_birth": "2011-03-01",
        "guardians": [{"name": "Sara Khan", "email": "sara@example.org"}]});
    create_learner(server, body).await["id"].as_str().unwrap().to_string()
}

async fn signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let c = client();
    // Behind a TLS-terminating proxy, the cookies are Secure and carry the __Host- prefix (only this
    // host, over TLS, may set them); an unprefixed one is then ignored.
    let form = c.get(format!("{}/signin", server.base)).header("x-forwarded-proto", "https").send().await.unwrap();
    let (pre, _) = cookie_value(&form, "__Host-cg_signin").unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    let unprefixed = c
        .post(format!("{}/signin", server.base))
        .header(COOKIE, format!("cg_signin={pre}"))
        .header("x-forwarded-proto", "https")
        .form(&[("csrf", csrf.as_str()), ("token", tutor.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(unprefixed.status(), 403, "over TLS only the __Host- cookie counts");
    let answer = c
        .post(format!("{}/signin", server.base))
        .header(COOKIE, format!("__Host-cg_signin={pre}"))
        .header("x-forwarded-proto", "https")
        .form(&[("csrf", csrf.as_str()), ("token", tutor.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    let (secret, header) = cookie_value(&answer, "__Host-cg_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(header.contains(flag), "{flag} in {header}");
    }
    assert_eq!(secret.len(), 64);
    assert!(!header.contains(&tutor), "the cookie is not the token");
    assert_eq!(server.store.table_counts().await.unwrap()["sessions"], 1);

    // Over plain HTTP, no Secure flag (the browser would drop the cookie).
    let browser = sign_in(&server, &tutor).await;
    let page = browser.get(&server, "/tutor").await;
    assert_eq!(page.status(), 200);
    let sessions = server.store.table_counts().await.unwrap()["sessions"];
    assert_eq!(sessions, 2);

    let out = browser.post_form(&server, "/signout", &[("csrf", &browser.csrf)]).await;
    assert_eq!(out.status(), 303);
    let (cleared, header) = cookie_value(&out, "cg_session").unwrap();
    assert!(cleared.is_empty() && header.contains("Max-Age=0"), "{header}");
    assert_eq!(server.store.table_counts().await.unwrap()["sessions"], 1, "the session row is gone");
    let audit = server.store.audit_log(0, 1000).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"signed_in") && actions.contains(&"signed_out"), "sign-out is audited: {actions:?}");
    let after = browser.get(&server, "/tutor").await;
    assert_eq!(after.status(), 303, "the old cookie no longer signs anyone in");
    assert_eq!(after.headers()[LOCATION], "/signin");
    let api = browser.get(&server, "/api/v1/queue").await;
    assert_eq!(api.status(), 401);
}

async fn sign_in_refuses_a_form_from_elsewhere_and_a_wrong_token(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let before = server.snapshot().await;
    let c = client();
    // A form posted from another site has neither our sign-in cookie nor its token.
    let forged = c
        .post(format!("{}/signin", server.base))
        .form(&[("csrf", "0".repeat(64).as_str()), ("token", tutor.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(cookie_value(&forged, "cg_session").is_none());
    let form = c.get(format!("{}/signin", server.base)).send().await.unwrap();
    let (pre, _) = cookie_value(&form, "cg_signin").unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    // The last character changed to a different one: the real token with one character wrong.
    let last = if tutor.ends_with('0') { '1' } else { '0' };
    let one_off = format!("{}{last}", &tutor[..tutor.len() - 1]);
    for wrong in ["", "cg_nope", one_off.as_str()] {
        let answer = c
            .post(format!("{}/signin", server.base))
            .header(COOKIE, format!("cg_signin={pre}"))
            .form(&[("csrf", csrf.as_str()), ("token", wrong)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{wrong:?}");
        assert!(answer.text().await.unwrap().contains("was not recognised"));
    }
    assert_eq!(server.snapshot().await, before, "no session and no audit row for a failed sign-in");
}

async fn forms_without_this_sessions_csrf_token_change_nothing(server: TestServer) {
    let amira = learner(&server).await;
    let mine = sign_in(&server, &server.admin).await;
    let other_admin = server.token(Role::Admin).await;
    let theirs = sign_in(&server, &other_admin).await;
    assert_ne!(mine.csrf, theirs.csrf, "every session has its own CSRF token");
    let page = mine.get(&server, &format!("/admin/learners/{amira}")).await.text().await.unwrap();
    let guardian = page.split("value=\"guardian:").nth(1).unwrap()[..36].to_string();
    let given_by = format!("guardian:{guardian}");
    let path = format!("/admin/learners/{amira}/consents");
    let fields = |csrf: Option<&str>| -> Vec<(String, String)> {
        let mut form: Vec<(String, String)> = [
            ("kind", "granted"),
            ("purposes", "website"),
            ("given_by", given_by.as_str()),
            ("form_version", "v1"),
            ("form_text", "I agree to photos on the website."),
            ("method", "paper_form"),
            ("evidence", "scan 1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(csrf) = csrf {
            form.push(("csrf".into(), csrf.into()));
        }
        form
    };
    let post = |csrf: Option<&str>| {
        let form = fields(csrf);
        client().post(format!("{}{path}", server.base)).header(COOKIE, &mine.cookie).form(&form).send()
    };
    let before = server.snapshot().await;
    for (what, csrf) in [("missing", None), ("another session's", Some(theirs.csrf.as_str())), ("made up", Some("abc"))]
    {
        let answer = post(csrf).await.unwrap();
        assert_eq!(answer.status(), 403, "{what} CSRF token");
        assert!(answer.text().await.unwrap().contains("CSRF"), "the page says why");
        assert_eq!(server.snapshot().await, before, "{what} CSRF token: nothing changed");
    }
    // Takedowns, claims and sign-out are forms too.
    let marketing = sign_in(&server, &server.token(Role::Marketing).await).await;
    let claim = marketing.post_form(&server, "/marketing/claim", &[("csrf", &mine.csrf), ("purpose", "website")]).await;
    assert_eq!(claim.status(), 403);
    let out = marketing.post_form(&server, "/signout", &[]).await;
    assert_eq!(out.status(), 403);
    assert_eq!(marketing.get(&server, "/marketing").await.status(), 200, "still signed in");
    let before = server.snapshot().await;

    let answer = post(Some(mine.csrf.as_str())).await.unwrap();
    assert_eq!(answer.status(), 303, "with its own token the form works");
    let html = mine.get(&server, answer.headers()[LOCATION].to_str().unwrap()).await.text().await.unwrap();
    assert!(html.contains("/w/"), "the withdrawal link is shown once: {html}");
    let after = server.snapshot().await;
    assert_eq!(after["consent_events"], before["consent_events"] + 1);
    assert_eq!(after["withdrawal_links"], before["withdrawal_links"] + 1);
}

async fn the_api_with_a_session_cookie_needs_the_csrf_header_to_change_anything(server: TestServer) {
    let tutor = sign_in(&server, &server.token(Role::Tutor).await).await;
    let other = sign_in(&server, &server.token(Role::Tutor).await).await;
    let photo = common::fixtures::jpeg_everything();
    let upload = |csrf: Option<String>| {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(photo.clone()).file_name("x.jpg"))
            .text("purposes", "website");
        let mut request =
            client().post(format!("{}/api/v1/photos", server.base)).header(COOKIE, &tutor.cookie).multipart(form);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let before = server.snapshot().await;
    for csrf in [None, Some(other.csrf.clone())] {
        let answer = upload(csrf).await.unwrap();
        assert_eq!(answer.status(), 403);
        assert_eq!(answer.json::<Value>().await.unwrap()["error"], "csrf");
        assert_eq!(server.snapshot().await, before);
    }
    let answer = upload(Some(tutor.csrf.clone())).await.unwrap();
    assert_eq!(answer.status(), 201);
    let id = answer.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // Reading needs no header; the learner picker (a POST) does.
    assert_eq!(tutor.get(&server, &format!("/api/v1/photos/{id}")).await.status(), 200);
    let pick = |csrf: &str| {
        client()
            .post(format!("{}/tutor/learners", server.base))
            .header(COOKIE, &tutor.cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({"q": "Am"}))
            .send()
    };
    learner(&server).await;
    assert_eq!(pick(&other.csrf).await.unwrap().status(), 403);
    let found: Value = pick(&tutor.csrf).await.unwrap().json().await.unwrap();
    assert_eq!(found[0]["label"], "Amira K.", "a tutor sees a first name and a family initial");
    assert!(!found.to_string().contains("Khan") && !found.to_string().contains("2011"));
}

async fn pages_are_for_their_roles(server: TestServer) {
    let tutor = sign_in(&server, &server.token(Role::Tutor).await).await;
    let marketing = sign_in(&server, &server.token(Role::Marketing).await).await;
    for (who, path) in [
        (&tutor, "/admin/learners"),
        (&tutor, "/marketing"),
        (&tutor, "/admin/audit"),
        (&marketing, "/tutor"),
        (&marketing, "/admin/held"),
        (&tutor, "/admin/retention"),
    ] {
        let answer = who.get(&server, path).await;
        assert_eq!(answer.status(), 403, "{path}");
        assert!(answer.text().await.unwrap().contains("this needs the"), "{path}: the page says which role");
    }
    // Without a session, every page sends the visitor to sign in.
    for path in [
        "/tutor",
        "/tutor/photos",
        "/marketing",
        "/admin/learners",
        "/admin/held",
        "/admin/audit",
        "/admin/tokens",
        "/admin/retention",
    ] {
        let answer = client().get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(answer.status(), 303, "{path}");
        assert_eq!(answer.headers()[LOCATION], "/signin");
    }
}

async fn pages_allow_no_inline_script_and_send_no_referrer(server: TestServer) {
    let amira = learner(&server).await;
    let admin = sign_in(&server, &server.admin).await;
    let tutor = sign_in(&server, &server.token(Role::Tutor).await).await;
    let marketing = sign_in(&server, &server.token(Role::Marketing).await).await;
    // In a group and asked: the request pages, a letter with its QR code, coverage, the tutor's list
    // and the family's form all have something to show.
    let grouped =
        patch(&server, &server.admin, &format!("/api/v1/learners/{amira}"), json!({"groups": ["Year 9"]})).await;
    assert_eq!(grouped.status(), 200);
    let asked =
        post(&server, &server.admin, "/api/v1/consent-requests", json!({"group": "Year 9", "purposes": ["website"]}))
            .await;
    assert_eq!(asked.status(), 201);
    let request = asked.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let letters = server.store.outbox(consentgate::store::MailState::Pending, 10).await.unwrap();
    let form_link = letters[0].link.clone().expect("a request carries its form's link");
    let pages = [
        (&admin, "/admin/learners".to_string()),
        (&admin, format!("/admin/learners/{amira}")),
        (&admin, "/admin/held".into()),
        (&admin, "/admin/audit".into()),
        (&admin, "/admin/tokens".into()),
        (&admin, "/admin/tokens/created".into()),
        (&admin, "/admin/requests".into()),
        (&admin, format!("/admin/requests/{request}")),
        (&admin, "/admin/outbox".into()),
        (&admin, "/admin/coverage?group=Year+9".into()),
        (&admin, "/admin/retention".into()),
        (&tutor, "/tutor".into()),
        (&tutor, "/tutor/photos".into()),
        (&tutor, "/tutor/groups".into()),
        (&tutor, "/tutor/groups/Year%209".into()),
        (&marketing, "/marketing".into()),
    ];
    let mut bodies = Vec::new();
    for (who, path) in &pages {
        let answer = who.get(&server, path).await;
        assert_eq!(answer.status(), 200, "{path}");
        bodies.push((path.clone(), answer));
    }
    bodies.push(("/c/…".into(), client().get(&form_link).send().await.unwrap()));
    bodies.push(("/signin".into(), client().get(format!("{}/signin", server.base)).send().await.unwrap()));
    bodies.push(("/w/…".into(), client().get(format!("{}/w/{}", server.base, "a".repeat(64))).send().await.unwrap()));
    for (path, answer) in bodies {
        let csp = answer.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(answer.headers()[REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
        let html = answer.text().await.unwrap().to_lowercase();
        assert!(html.starts_with("<!doctype html>"), "{path}");
        // The test server's public_url is its loopback address: every safeguarding lead's page
        // says the links sent to families would not open; nobody else's does.
        let warned = html.contains("links sent to families will not open");
        assert_eq!(warned, path.starts_with("/admin"), "{path}: the loopback public_url warning");
        assert!(
            !html.contains("<script>") && !html.contains(" style=") && !html.contains("<style"),
            "{path}: inline code"
        );
        assert!(!html.contains(" onclick=") && !html.contains(" onload=") && !html.contains("javascript:"), "{path}");
        for tag in ["<input", "<select", "<textarea"] {
            // Every control sits in a label (or is hidden): screen readers can name it.
            for piece in html.split(tag).skip(1) {
                let attrs = &piece[..piece.find('>').unwrap()];
                if attrs.contains("type=\"hidden\"") || attrs.contains("readonly") {
                    continue;
                }
                let before = &html[..html.find(&format!("{tag}{attrs}")).unwrap()];
                let labelled = before
                    .rfind("<label")
                    .is_some_and(|open| before.rfind("</label>").is_none_or(|close| close < open))
                    || attrs.contains("id=\"")
                        && html.contains(&format!(
                            "for=\"{}\"",
                            attrs.split("id=\"").nth(1).unwrap().split('"').next().unwrap()
                        ));
                assert!(labelled, "{path}: {tag}{attrs}> has no label");
            }
        }
    }
}

async fn no_learner_data_appears_in_any_address(server: TestServer) {
    let amira = learner(&server).await;
    let tutor_token = server.token(Role::Tutor).await;
    let photo = common::fixtures::jpeg_everything();
    let fields = [("learner_ids", amira.as_str()), ("purposes", "website"), ("caption", "Amira Khan at work")];
    upload_ok(&server, &tutor_token, "Amira Khan.jpg", photo, &fields).await;
    let admin = sign_in(&server, &server.admin).await;
    let tutor = sign_in(&server, &tutor_token).await;
    let search = admin.post_form(&server, "/admin/learners/search", &[("csrf", &admin.csrf), ("q", "Khan")]).await;
    assert_eq!(search.status(), 200);
    let mut pages = vec![search.text().await.unwrap()];
    for path in
        ["/admin/learners".to_string(), format!("/admin/learners/{amira}"), "/admin/held".into(), "/admin/audit".into()]
    {
        pages.push(admin.get(&server, &path).await.text().await.unwrap());
    }
    pages.push(tutor.get(&server, "/tutor/photos").await.text().await.unwrap());
    let all = pages.join("\n");
    assert!(all.contains("Amira Khan"), "the admin pages do show the name");
    for attr in ["href=\"", "src=\"", "action=\""] {
        for piece in all.split(attr).skip(1) {
            let address = piece.split('"').next().unwrap();
            for secret in ["Amira", "Khan", "2011", "Sara", "sara@"] {
                assert!(!address.contains(secret), "{secret} in the address {address}");
            }
        }
    }
    // The tutor sees the suggested redaction, and first names only.
    assert!(
        pages.last().unwrap().contains("Use &ldquo;Amira at work&rdquo;?")
            || pages.last().unwrap().contains("Amira at work")
    );
}

async fn the_redaction_publication_and_takedown_forms_need_the_csrf_token(server: TestServer) {
    let amira = learner(&server).await;
    let tutor_token = server.token(Role::Tutor).await;
    let fields = [("learner_ids", amira.as_str()), ("purposes", "website"), ("caption", "Amira Khan at work")];
    let uploaded = upload_ok(&server, &tutor_token, "a.jpg", common::fixtures::jpeg_everything(), &fields).await;
    let photo = uploaded["id"].as_str().unwrap().to_string();
    let tutor = sign_in(&server, &tutor_token).await;
    let marketing = sign_in(&server, &server.token(Role::Marketing).await).await;
    let item = format!("/marketing/items/{photo}:website/published");
    let takedown = format!("/marketing/takedowns/{}/done", uuid_like());
    let redaction = format!("/tutor/photos/{photo}/redaction");
    let before = server.snapshot().await;
    for (who, path, form) in [
        (&tutor, redaction.as_str(), vec![]),
        (&marketing, item.as_str(), vec![("url", "https://example.org/x"), ("channel", "website")]),
        (&marketing, takedown.as_str(), vec![]),
    ] {
        for csrf in [None, Some("0".repeat(64))] {
            let mut form = form.clone();
            if let Some(csrf) = csrf.as_deref() {
                form.push(("csrf", csrf));
            }
            let answer = who.post_form(&server, path, &form).await;
            assert_eq!(answer.status(), 403, "{path} without this session's CSRF token");
            assert_eq!(server.snapshot().await, before, "{path}: nothing changed");
        }
    }
    let stored = server.store.photo(&photo).await.unwrap().unwrap();
    assert_eq!(stored.caption, "Amira Khan at work", "the redaction was not applied");

    // The prompt names the text that names someone: here the alt text, not the caption.
    let fields = [("learner_ids", amira.as_str()), ("purposes", "website"), ("alt_text", "Khan, Amira smiling")];
    let other = common::fixtures::encode_jpeg(&common::fixtures::picture(300, 200), 90);
    assert_eq!(server.upload(&tutor_token, "b.jpg", other, &fields).await.status(), 201);
    let page = tutor.get(&server, "/tutor/photos").await.text().await.unwrap();
    assert!(page.contains("The alt text names a learner in full."), "{page}");
    assert!(page.contains("The caption names a learner in full."), "the first photo's prompt: {page}");
}

fn uuid_like() -> String {
    "0190f0f0-0000-7000-8000-000000000000".to_string()
}

async fn audit_actions(server: &TestServer, action: &str) -> usize {
    server.store.audit_log(0, 100_000).await.unwrap().iter().filter(|r| r.action == action).count()
}

async fn marketing_can_record_a_lapsed_claim_and_sees_which_photo_must_come_down(server: TestServer) {
    let (ben, withdraw_url) = consenting_adult(&server, "Ben", "Pagestest", &["website"]).await;
    let tutor = server.token(Role::Tutor).await;
    let fields = [
        ("learner_ids", ben.as_str()),
        ("purposes", "website"),
        ("all_tagged", "true"),
        ("caption", "Ben at the bench"),
    ];
    let uploaded = upload_ok(&server, &tutor, "a.jpg", common::fixtures::jpeg_everything(), &fields).await;
    let photo = uploaded["id"].as_str().unwrap().to_string();
    let marketing_token = server.token(Role::Marketing).await;
    let marketing = sign_in(&server, &marketing_token).await;

    // The grid's thumbnail is small and is not a download; the web size is, and is audited.
    let thumb = marketing.get(&server, &format!("/api/v1/photos/{photo}/image?rendition=thumb")).await;
    assert_eq!(thumb.status(), 200);
    let pixels = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert!(pixels.width().max(pixels.height()) <= 480, "{}x{}", pixels.width(), pixels.height());
    assert_eq!(audit_actions(&server, "image_downloaded").await, 0, "a thumbnail is not a download");
    let web = marketing.get(&server, &format!("/api/v1/photos/{photo}/image?rendition=web")).await;
    assert_eq!(web.status(), 200);
    assert_eq!(audit_actions(&server, "image_downloaded").await, 1, "the web size is");
    let grid = marketing.get(&server, "/marketing").await.text().await.unwrap();
    assert!(grid.contains(&format!("/api/v1/photos/{photo}/image?rendition=thumb")), "the grid shows thumbnails");

    // A claim whose time ran out (and nobody took since) can still be recorded as published.
    let claimed =
        post(&server, &marketing_token, "/api/v1/queue/claim", json!({"purpose": "website", "lease_seconds": 1})).await;
    assert_eq!(claimed.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let page = marketing.get(&server, "/marketing").await.text().await.unwrap();
    assert!(page.contains("Your time ran out on these"), "{page}");
    assert!(page.contains("Record where it was published anyway") && page.contains("Claim it again"));
    let item = format!("/marketing/items/{photo}:website/published");
    assert!(page.contains(&format!("action=\"{item}\"")));
    let form = [("csrf", marketing.csrf.as_str()), ("url", "https://example.org/news/bench"), ("channel", "website")];
    let answer = marketing.post_form(&server, &item, &form).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/marketing?done=published");
    assert!(!marketing.get(&server, "/marketing").await.text().await.unwrap().contains("Your time ran out"));

    // Recording the same post twice (a double tap) is one publication, owing one takedown.
    let again = marketing.post_form(&server, &item, &form).await;
    assert_eq!(again.headers()[LOCATION], "/marketing?done=published");

    // The withdrawal owes a takedown: the banner says which photo and why.
    let withdrawn = client().post(&withdraw_url).send().await.unwrap();
    assert_eq!(withdrawn.status(), 200);
    let page = marketing.get(&server, "/marketing").await.text().await.unwrap();
    let banner = &page[page.find("class=\"takedowns\"").expect("a takedown banner")..];
    assert!(banner.contains("&ldquo;Ben at the bench&rdquo;"), "the caption says which photo: {banner}");
    assert!(banner.contains("Consent was withdrawn."), "{banner}");
    assert!(banner.contains("https://example.org/news/bench"));
    assert!(banner.contains("the image itself has been deleted"), "no thumbnail of a deleted image: {banner}");
    let mut owed = server.store.takedowns(false).await.unwrap();
    assert_eq!(owed.len(), 1, "one post, one takedown: {owed:?}");
    let takedown = owed.remove(0);
    let path = format!("/marketing/takedowns/{}/done", takedown.id);
    let done = marketing.post_form(&server, &path, &[("csrf", &marketing.csrf)]).await;
    assert_eq!(done.headers()[LOCATION], "/marketing?done=takedown_done");
    let twice = marketing.post_form(&server, &path, &[("csrf", &marketing.csrf)]).await;
    assert_eq!(twice.headers()[LOCATION], "/marketing?done=takedown_gone");
}

async fn a_recorded_consent_redirects_and_shows_its_link_once_and_a_refused_form_keeps_its_values(server: TestServer) {
    let amira = learner(&server).await;
    let admin = sign_in(&server, &server.admin).await;
    let path = format!("/admin/learners/{amira}/consents");
    // No purpose ticked: refused, and everything typed comes back.
    let refused = admin
        .post_form(
            &server,
            &path,
            &[
                ("csrf", &admin.csrf),
                ("kind", "granted"),
                ("given_by", "learner"),
                ("form_version", "photo-consent-2026-09"),
                ("form_text", "I agree to photos."),
                ("method", "email"),
                ("evidence", "mail 42"),
                ("expires_on", "2030-01-31"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    for kept in [
        "value=\"granted\" required checked",
        "value=\"learner\" selected",
        "value=\"photo-consent-2026-09\"",
        ">I agree to photos.</textarea>",
        "value=\"email\" selected",
        "value=\"mail 42\"",
        "value=\"2030-01-31\"",
    ] {
        assert!(html.contains(kept), "{kept} kept in the form");
    }
    let before = server.snapshot().await;
    let mut form = vec![
        ("csrf", admin.csrf.as_str()),
        ("kind", "granted"),
        ("purposes", "website"),
        ("given_by", "learner"),
        ("form_version", "v1"),
        ("form_text", "I agree to photos on the website."),
        ("method", "paper_form"),
        ("evidence", "scan 1"),
    ];
    // Amira is a child: her own grant would not count, and the form says so before recording it.
    let warned = admin.post_form(&server, &path, &form).await;
    assert_eq!(warned.status(), 409);
    let html = warned.text().await.unwrap();
    assert!(html.contains("Amira is ") && html.contains("their own consent does not count"), "{html}");
    assert!(html.contains("name=\"record_anyway\""), "it offers to record it anyway");
    // Nothing recorded; the only new row audits the history the page shows again.
    let mut expected = before.clone();
    *expected.get_mut("audit_log").unwrap() += 1;
    assert_eq!(server.snapshot().await, expected, "nothing is recorded before the answer");
    form.push(("record_anyway", "1"));
    let answer = admin.post_form(&server, &path, &form).await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    let result = answer.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(result, format!("/admin/learners/{amira}/recorded"), "the link is not in the address");
    let first = admin.get(&server, &result).await.text().await.unwrap();
    assert!(first.contains("/w/"), "the withdrawal link is shown: {first}");
    let refresh = admin.get(&server, &result).await.text().await.unwrap();
    assert!(!refresh.contains("/w/") && refresh.contains("not shown again"), "only once: {refresh}");
    let after = server.snapshot().await;
    assert_eq!(after["consent_events"], before["consent_events"] + 1, "a refresh records nothing");
}

/// Served over TLS under an organisation's name: browsers are told to stay on HTTPS, the cookies
/// carry the `__Host-` prefix, and the withdrawal page says whose it is and whom to ask.
#[tokio::test(flavor = "multi_thread")]
async fn over_tls_the_pages_send_hsts_and_the_withdrawal_page_names_the_organisation() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.public_url = "https://consent.northfield.example".into();
        s.organisation_name = Some("Northfield College".into());
        s.organisation_contact = Some("safeguarding@northfield.example".into());
    })
    .await;
    let form = client().get(format!("{}/signin", server.base)).send().await.unwrap();
    assert_eq!(form.headers()["strict-transport-security"], "max-age=31536000");
    assert!(cookie_value(&form, "__Host-cg_signin").is_some_and(|(_, h)| h.contains("Secure")));
    let page = client().get(format!("{}/w/{}", server.base, "a".repeat(64))).send().await.unwrap();
    assert!(page.headers().contains_key("strict-transport-security"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<span class=\"brand\">Northfield College</span>"), "{html}");
    assert!(html.contains("Questions? Contact Northfield College at safeguarding@northfield.example."), "{html}");

    // Over plain HTTP (the default), no HSTS and no organisation: the product's own name.
    let plain = TestServer::start(Db::Sqlite, Blobs::Fs).await;
    let page = client().get(format!("{}/w/{}", plain.base, "a".repeat(64))).send().await.unwrap();
    assert!(!page.headers().contains_key("strict-transport-security"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<span class=\"brand\">consentgate</span>") && !html.contains("Questions?"));
}

/// The public id of a token `cg_<id>_<secret>`.
fn token_id(token: &str) -> String {
    consentgate::tokens::parse(token).unwrap().0.to_string()
}

/// A revoked token stops at once: the API answers 401 to it and to the sessions opened with it,
/// the pages send those sessions to sign in, it cannot sign in again, and the revocation is audited
/// with the number of sessions it ended. Other tokens keep working.
async fn a_revoked_token_and_its_open_sessions_stop_at_once(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let colleague = server.token(Role::Tutor).await;
    let (phone, laptop) = (sign_in(&server, &tutor).await, sign_in(&server, &tutor).await);
    let other = sign_in(&server, &colleague).await;
    for session in [&phone, &laptop] {
        assert_eq!(session.get(&server, "/tutor/photos").await.status(), 200);
    }
    let photo_api = format!("/api/v1/photos/{}", uuid_like());
    assert_eq!(phone.get(&server, &photo_api).await.status(), 404, "the session reaches the API");

    let admin = sign_in(&server, &server.admin).await;
    let answer =
        admin.post_form(&server, &format!("/admin/tokens/{}/revoke", token_id(&tutor)), &[("csrf", &admin.csrf)]).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()[LOCATION], "/admin/tokens?done=token_revoked");

    // The token itself, at once.
    let upload = server.upload(&tutor, "x.jpg", common::fixtures::jpeg_everything(), &[("purposes", "website")]).await;
    assert_eq!(upload.status(), 401);
    assert_eq!(upload.json::<Value>().await.unwrap()["error"], "unauthorized");
    // Both of its sessions, on the pages and on the API.
    for session in [&phone, &laptop] {
        let page = session.get(&server, "/tutor/photos").await;
        assert_eq!(page.status(), 303);
        assert_eq!(page.headers()[LOCATION], "/signin");
        assert_eq!(session.get(&server, &photo_api).await.status(), 401);
    }
    // It cannot open a new one.
    let c = client();
    let form = c.get(format!("{}/signin", server.base)).send().await.unwrap();
    let (pre, _) = cookie_value(&form, "cg_signin").unwrap();
    let csrf = csrf_in(&form.text().await.unwrap());
    let again = c
        .post(format!("{}/signin", server.base))
        .header(COOKIE, format!("cg_signin={pre}"))
        .form(&[("csrf", csrf.as_str()), ("token", tutor.as_str())])
        .send()
        .await
        .unwrap();
    assert!(cookie_value(&again, "cg_session").is_none(), "a revoked token signed in");
    // A colleague's token and session are untouched.
    assert_eq!(other.get(&server, "/tutor/photos").await.status(), 200);
    assert_eq!(server.upload(&colleague, "x.jpg", vec![1, 2, 3], &[("purposes", "website")]).await.status(), 415);

    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let row = audit.iter().find(|r| r.action == "token_revoked").expect("the revocation is audited");
    assert_eq!(
        (row.actor.as_str(), row.subject.as_str()),
        (token_id(&server.admin).as_str(), token_id(&tutor).as_str())
    );
    assert_eq!(serde_json::from_str::<Value>(&row.details).unwrap()["sessions_ended"], 2);
    // Revoking again changes nothing and writes nothing; an unknown id is a 404 page.
    let before = server.snapshot().await;
    let again =
        admin.post_form(&server, &format!("/admin/tokens/{}/revoke", token_id(&tutor)), &[("csrf", &admin.csrf)]).await;
    assert_eq!(again.headers()[LOCATION], "/admin/tokens?done=token_already_revoked");
    let unknown =
        admin.post_form(&server, &format!("/admin/tokens/{}/revoke", "ab".repeat(12)), &[("csrf", &admin.csrf)]).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(server.snapshot().await, before);
    let listed = admin.get(&server, "/admin/tokens").await.text().await.unwrap();
    assert!(listed.contains("revoked "), "the list shows the revocation");
}

/// Sets a token's expiry to a moment just past, in the database itself: what the clock does to a
/// token made with `--expires`, without waiting for it.
async fn expire(server: &TestServer, id: &str) {
    use sqlx::Connection;
    let url = server.settings.effective_database_url();
    let past = consentgate::store::now_ms() - 1;
    let sql = "UPDATE tokens SET expires_at = $1 WHERE id = $2";
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sql).bind(past).bind(id).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(sql).bind(past).bind(id).execute(&mut conn).await.unwrap();
    }
}

/// A token made to expire works until then, with its expiry on the tokens page; once it has
/// passed, the token and the session opened with it stop, with nobody revoking anything.
async fn an_expired_token_and_its_session_stop_working(server: TestServer) {
    let day = 24 * 3600 * 1000;
    let marketing = consentgate::app::access::create_expiring_token(
        server.store.as_ref(),
        Role::Marketing,
        "Temp",
        "test",
        Some(day),
    )
    .await
    .unwrap();
    let session = sign_in(&server, &marketing).await;
    assert_eq!(session.get(&server, "/marketing").await.status(), 200);
    assert_eq!(common::api::get(&server, &marketing, "/api/v1/takedowns").await.status(), 200);
    let admin = sign_in(&server, &server.admin).await;
    let listed = admin.get(&server, "/admin/tokens").await.text().await.unwrap();
    let row = listed.split("<tr>").find(|r| r.contains(&token_id(&marketing))).unwrap();
    assert!(!row.contains("never") && row.contains("works"), "the expiry is shown: {row}");

    expire(&server, &token_id(&marketing)).await;
    assert_eq!(common::api::get(&server, &marketing, "/api/v1/takedowns").await.status(), 401);
    let page = session.get(&server, "/marketing").await;
    assert_eq!((page.status().as_u16(), page.headers()[LOCATION].to_str().unwrap()), (303, "/signin"));
    assert_eq!(session.get(&server, "/api/v1/takedowns").await.status(), 401);
    let listed = admin.get(&server, "/admin/tokens").await.text().await.unwrap();
    let row = listed.split("<tr>").find(|r| r.contains(&token_id(&marketing))).unwrap();
    assert!(row.contains("expired") && !row.contains("/revoke"), "{row}");
}

/// The tokens page: admins only; it lists ids, roles and holders but no secret; making a token
/// needs the CSRF token, redirects, and shows the token once; the new token works and its
/// creation (with its expiry) is audited; a bad expiry comes back with the form kept.
async fn the_tokens_page_is_for_admins_needs_csrf_and_shows_a_new_token_once(server: TestServer) {
    let tutor_token = server.token(Role::Tutor).await;
    let tutor = sign_in(&server, &tutor_token).await;
    let marketing = sign_in(&server, &server.token(Role::Marketing).await).await;
    for who in [&tutor, &marketing] {
        assert_eq!(who.get(&server, "/admin/tokens").await.status(), 403);
        let post =
            who.post_form(&server, "/admin/tokens", &[("csrf", &who.csrf), ("role", "admin"), ("name", "Me")]).await;
        assert_eq!(post.status(), 403, "only admins make tokens");
        let revoke = who
            .post_form(&server, &format!("/admin/tokens/{}/revoke", token_id(&server.admin)), &[("csrf", &who.csrf)])
            .await;
        assert_eq!(revoke.status(), 403, "only admins revoke");
    }
    let signed_out = client().get(format!("{}/admin/tokens", server.base)).send().await.unwrap();
    assert_eq!(signed_out.headers()[LOCATION], "/signin");

    let admin = sign_in(&server, &server.admin).await;
    let page = admin.get(&server, "/admin/tokens").await.text().await.unwrap();
    assert!(page.contains(&token_id(&tutor_token)) && page.contains("tutor") && page.contains("test user"));
    let secret = tutor_token.rsplit('_').next().unwrap();
    assert!(!page.contains(secret) && !page.contains(&server.admin), "a secret on the tokens page");
    let (_, hash) = server.store.token(&token_id(&tutor_token)).await.unwrap().map(|t| (t.id, t.secret_hash)).unwrap();
    assert!(!page.contains(&hash), "a secret's hash on the tokens page");

    // Without this session's CSRF token nothing is made or revoked.
    let before = server.snapshot().await;
    let fields = [("role", "tutor"), ("name", "Nia Newtutor"), ("expires", "90d")];
    for csrf in [None, Some(tutor.csrf.as_str()), Some("abc")] {
        let mut form = fields.to_vec();
        form.extend(csrf.map(|c| ("csrf", c)));
        assert_eq!(admin.post_form(&server, "/admin/tokens", &form).await.status(), 403);
        let mut revoke = vec![];
        revoke.extend(csrf.map(|c| ("csrf", c)));
        let path = format!("/admin/tokens/{}/revoke", token_id(&tutor_token));
        assert_eq!(admin.post_form(&server, &path, &revoke).await.status(), 403);
    }
    assert_eq!(server.snapshot().await, before);
    assert_eq!(tutor.get(&server, "/tutor").await.status(), 200, "the tutor's session is untouched");

    // A bad expiry: refused, the form keeps what was typed.
    let mut form =
        vec![("csrf", admin.csrf.as_str()), ("role", "marketing"), ("name", "Nia Newtutor"), ("expires", "90 days")];
    let refused = admin.post_form(&server, "/admin/tokens", &form).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("not a lifetime")
            && html.contains("value=\"90 days\"")
            && html.contains("value=\"marketing\" selected"),
        "{html}"
    );
    assert_eq!(server.snapshot().await, before);

    form[1] = ("role", "tutor");
    form[3] = ("expires", "90d");
    let made = admin.post_form(&server, "/admin/tokens", &form).await;
    assert_eq!(made.status(), 303);
    let shown_at = made.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(shown_at, "/admin/tokens/created", "the token is not in the address");
    let html = admin.get(&server, &shown_at).await.text().await.unwrap();
    let at = html.find("value=\"cg_").expect("the new token is shown") + "value=\"".len();
    let new_token = html[at..].split('"').next().unwrap().to_string();
    let refresh = admin.get(&server, &shown_at).await.text().await.unwrap();
    assert!(!refresh.contains(&new_token) && refresh.contains("not shown again"), "shown only once");
    let upload = server.upload(&new_token, "x.jpg", vec![1, 2, 3], &[("purposes", "website")]).await;
    assert_eq!(upload.status(), 415, "the new token works as a tutor's");
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let row = audit.iter().rev().find(|r| r.action == "token_created").unwrap();
    assert_eq!(
        (row.actor.as_str(), row.subject.as_str()),
        (token_id(&server.admin).as_str(), token_id(&new_token).as_str())
    );
    let details: Value = serde_json::from_str(&row.details).unwrap();
    assert_eq!((details["role"].as_str(), details["name"].as_str()), (Some("tutor"), Some("Nia Newtutor")));
    let expires = details["expires_at"].as_i64().expect("the expiry is audited");
    let ninety_days = 90 * 24 * 3600 * 1000;
    assert!((expires - consentgate::store::now_ms() - ninety_days).abs() < 3600 * 1000, "{expires}");
}

/// Reading a learner's page (their record and consent history) is audited, and so is an admin's
/// download of an image; the held page's thumbnails are views and are not.
async fn the_learner_page_audits_its_read_and_an_admin_download_is_audited(server: TestServer) {
    let amira = learner(&server).await;
    let admin = sign_in(&server, &server.admin).await;
    assert_eq!(audit_actions(&server, "consent_history_read").await, 0);
    assert_eq!(admin.get(&server, &format!("/admin/learners/{amira}")).await.status(), 200);
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let row = audit.iter().find(|r| r.action == "consent_history_read").expect("the page's read is audited");
    assert_eq!((row.actor.as_str(), row.subject.as_str()), (token_id(&server.admin).as_str(), amira.as_str()));

    let tutor = server.token(Role::Tutor).await;
    let fields = [("learner_ids", amira.as_str()), ("purposes", "website"), ("all_tagged", "true")];
    let photo = upload_ok(&server, &tutor, "a.jpg", common::fixtures::jpeg_everything(), &fields).await;
    let photo = photo["id"].as_str().unwrap();
    let held = admin.get(&server, "/admin/held").await.text().await.unwrap();
    assert!(held.contains(&format!("/api/v1/photos/{photo}/image?rendition=thumb")));
    assert_eq!(admin.get(&server, &format!("/api/v1/photos/{photo}/image?rendition=thumb")).await.status(), 200);
    assert_eq!(audit_actions(&server, "image_downloaded").await, 0, "a thumbnail is a view");
    assert_eq!(admin.get(&server, &format!("/api/v1/photos/{photo}/image")).await.status(), 200);
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let row = audit.iter().find(|r| r.action == "image_downloaded").expect("an admin's download is audited");
    assert_eq!((row.actor.as_str(), row.subject.as_str()), (token_id(&server.admin).as_str(), photo));
    assert_eq!(serde_json::from_str::<Value>(&row.details).unwrap(), json!({ "web": false, "role": "admin" }));
}

/// The learner's page adds, corrects and removes guardians (CSRF needed, a refused value shown with
/// nothing changed), and issues a grant's withdrawal link again, shown once on the page it
/// redirects to: the old link then names nothing.
async fn the_learner_page_corrects_and_removes_guardians_and_shows_a_reissued_link_once(server: TestServer) {
    let amira = learner(&server).await;
    let sara = server.store.learner(&amira).await.unwrap().unwrap().guardians[0].id.clone();
    let admin = sign_in(&server, &server.admin).await;
    let page_path = format!("/admin/learners/{amira}");
    let page = admin.get(&server, &page_path).await.text().await.unwrap();
    assert!(page.contains(&format!("action=\"/admin/learners/{amira}/guardians/{sara}/remove\"")), "{page}");
    let add = format!("/admin/learners/{amira}/guardians");

    // Without this session's CSRF token nothing changes.
    let before = server.snapshot().await;
    for csrf in [None, Some("0".repeat(64))] {
        let mut form = vec![("name", "Omar Khan")];
        if let Some(csrf) = csrf.as_deref() {
            form.push(("csrf", csrf));
        }
        assert_eq!(admin.post_form(&server, &add, &form).await.status(), 403);
        let remove = format!("/admin/learners/{amira}/guardians/{sara}/remove");
        let mut form = vec![];
        if let Some(csrf) = csrf.as_deref() {
            form.push(("csrf", csrf));
        }
        assert_eq!(admin.post_form(&server, &remove, &form).await.status(), 403);
    }
    assert_eq!(server.snapshot().await, before, "a form without the CSRF token changed something");

    // Added, then back to the page with a notice.
    let added = admin.post_form(&server, &add, &[("csrf", &admin.csrf), ("name", "Omar Khan"), ("email", "")]).await;
    assert_eq!(added.status(), 303);
    let back = added.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(back, format!("{page_path}?done=guardian_added"));
    let page = admin.get(&server, &back).await.text().await.unwrap();
    assert!(page.contains("Guardian added.") && page.contains("value=\"Omar Khan\""), "{page}");
    let omar = server.store.learner(&amira).await.unwrap().unwrap().guardians[1].id.clone();

    // A bad email comes back with the error and changes nothing; a good correction is stored.
    let correct = format!("/admin/learners/{amira}/guardians/{sara}");
    let before = server.snapshot().await;
    let refused =
        admin.post_form(&server, &correct, &[("csrf", &admin.csrf), ("name", "Sarah Khan"), ("email", "nope")]).await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("Nothing was changed: the email address is not valid"));
    // The page shown again is a read of the learner's record, audited as such; nothing else moved.
    let mut expected = before;
    *expected.get_mut("audit_log").unwrap() += 1;
    assert_eq!(server.snapshot().await, expected);
    assert_eq!(server.store.audit_log(0, 10_000).await.unwrap().last().unwrap().action, "consent_history_read");
    let fields = [("csrf", admin.csrf.as_str()), ("name", "Sarah Khan"), ("email", "sarah@example.org")];
    assert_eq!(admin.post_form(&server, &correct, &fields).await.status(), 303);
    let stored = server.store.learner(&amira).await.unwrap().unwrap();
    assert_eq!(
        (stored.guardians[0].name.as_str(), stored.guardians[0].email.as_deref()),
        ("Sarah Khan", Some("sarah@example.org"))
    );

    // Removed: kept on the page, marked removed, with no forms of its own.
    let removed = admin.post_form(&server, &format!("{correct}/remove"), &[("csrf", &admin.csrf)]).await;
    assert_eq!(removed.headers()[LOCATION].to_str().unwrap(), format!("{page_path}?done=guardian_removed"));
    assert!(server.store.learner(&amira).await.unwrap().unwrap().guardians[0].removed_at.is_some());
    let page = admin.get(&server, &page_path).await.text().await.unwrap();
    assert!(page.contains("<s>Sarah Khan</s>") && page.contains("removed on"), "{page}");
    assert!(!page.contains(&format!("{correct}/remove")));
    let again = admin.post_form(&server, &format!("{correct}/remove"), &[("csrf", &admin.csrf)]).await;
    assert_eq!(again.status(), 409);

    // Omar's grant: its history row offers a new link; the new link is shown once.
    let grant = json!({"kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": omar,
        "form_version": "v1", "form_text": "I agree", "method": "paper_form", "evidence": "scan 2"});
    let granted: Value =
        post(&server, &server.admin, &format!("/api/v1/learners/{amira}/consents"), grant).await.json().await.unwrap();
    let old = granted["withdraw_url"].as_str().unwrap().to_string();
    let action = format!("/admin/learners/{amira}/consents/{}/withdrawal-link", granted["id"].as_str().unwrap());
    let page = admin.get(&server, &page_path).await.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    assert_eq!(admin.post_form(&server, &action, &[]).await.status(), 403, "the CSRF token is needed");
    let issued = admin.post_form(&server, &action, &[("csrf", &admin.csrf)]).await;
    assert_eq!(issued.status(), 303);
    let result = issued.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(result, format!("/admin/learners/{amira}/new-link"), "the link is not in the address");
    let first = admin.get(&server, &result).await.text().await.unwrap();
    let marker = "id=\"withdraw-url\" class=\"copy\" readonly value=\"";
    let at = first.find(marker).unwrap_or_else(|| panic!("no link shown: {first}")) + marker.len();
    let new = &first[at..at + first[at..].find('"').unwrap()];
    assert!(new.contains("/w/") && new != old && first.contains("no longer works"), "{first}");
    let refresh = admin.get(&server, &result).await.text().await.unwrap();
    assert!(!refresh.contains("/w/") && refresh.contains("not shown again"), "only once: {refresh}");
    assert_eq!(server.client.get(&old).send().await.unwrap().status(), 404, "the old link is revoked");
    assert_eq!(server.client.get(new).send().await.unwrap().status(), 200);
}

/// The learner's page shows their own email and groups and has a form to set both (groups
/// separated by `;`, as in the MIS file): it needs the CSRF token, a bad value comes back with the
/// error and what was typed and changes nothing, and saving the same values again writes nothing.
async fn the_learner_page_shows_and_sets_the_learners_own_email_and_groups(server: TestServer) {
    let body = json!({"given_name": "Amira", "family_name": "Khan", "date_of_birth": "2006-03-01",
        "learner_email": "amira@example.org", "groups": ["Year 13", "Art"]});
    let amira = create_learner(&server, body).await["id"].as_str().unwrap().to_string();
    let admin = sign_in(&server, &server.admin).await;
    let page_path = format!("/admin/learners/{amira}");
    let page = admin.get(&server, &page_path).await.text().await.unwrap();
    assert!(page.contains("Their own email: amira@example.org · Groups: Art, Year 13"), "{page}");
    let action = format!("/admin/learners/{amira}/details");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    assert!(page.contains("name=\"learner_email\" value=\"amira@example.org\""), "{page}");
    assert!(page.contains("name=\"groups\" value=\"Art; Year 13\""), "{page}");

    let before = server.snapshot().await;
    let form = [("learner_email", ""), ("groups", "Drama")];
    assert_eq!(admin.post_form(&server, &action, &form).await.status(), 403, "the CSRF token is needed");
    assert_eq!(server.snapshot().await, before);

    // A bad value: the page again with the error and what was typed; only the read is recorded.
    let typed = [("csrf", admin.csrf.as_str()), ("learner_email", "amira at home"), ("groups", "Drama; Chess Club")];
    let refused = admin.post_form(&server, &action, &typed).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Nothing was changed: learner_email is not a valid email address"), "{html}");
    assert!(html.contains("value=\"amira at home\"") && html.contains("value=\"Drama; Chess Club\""), "{html}");
    let mut expected = before.clone();
    *expected.get_mut("audit_log").unwrap() += 1;
    assert_eq!(server.snapshot().await, expected);

    // Saved: the email cleared, the groups replaced.
    let fields = [("csrf", admin.csrf.as_str()), ("learner_email", " "), ("groups", " Drama ;; chess club; Drama")];
    let saved = admin.post_form(&server, &action, &fields).await;
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()[LOCATION].to_str().unwrap(), format!("{page_path}?done=learner_details_saved"));
    let stored = server.store.learner(&amira).await.unwrap().unwrap();
    assert_eq!((stored.email, stored.groups), (None, vec!["Drama".to_string(), "chess club".into()]));
    let page = admin.get(&server, &format!("{page_path}?done=learner_details_saved")).await.text().await.unwrap();
    assert!(page.contains("Email, groups and leaving day saved."), "{page}");
    assert!(page.contains("Their own email: none · Groups: Drama, chess club"), "{page}");
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    let row = audit.iter().rev().find(|r| r.action == "learner_corrected").unwrap();
    assert_eq!(serde_json::from_str::<Value>(&row.details).unwrap(), json!({"fields": ["learner_email", "groups"]}));

    // The same values again: back with the notice, nothing written.
    let before = server.snapshot().await;
    let same = [("csrf", admin.csrf.as_str()), ("learner_email", ""), ("groups", "chess club; Drama")];
    assert_eq!(admin.post_form(&server, &action, &same).await.status(), 303);
    assert_eq!(server.snapshot().await, before);

    // A leaving day, in either spelling; the page shows it.
    let leaving = [
        ("csrf", admin.csrf.as_str()),
        ("learner_email", ""),
        ("groups", "chess club; Drama"),
        ("left_on", "20/07/2026"),
    ];
    assert_eq!(admin.post_form(&server, &action, &leaving).await.status(), 303);
    assert_eq!(server.store.learner(&amira).await.unwrap().unwrap().left_on.as_deref(), Some("2026-07-20"));
    let page = admin.get(&server, &page_path).await.text().await.unwrap();
    assert!(page.contains("Left on 2026-07-20") && page.contains(r#"name="left_on" value="2026-07-20""#), "{page}");
}
