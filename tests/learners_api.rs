//! Learners and guardians through the API, on SQLite and on PostgreSQL.

mod common;

use common::api::{delete, get, patch, post, post_raw, upload_ok};
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use serde_json::{json, Value};

on_both_backends!(
    create_read_correct_and_search,
    bad_learner_input_is_refused_and_stores_nothing,
    tagging_needs_a_learner_on_record,
    import_is_all_or_nothing_and_idempotent,
    a_blank_date_of_birth_on_re_import_keeps_the_one_on_record,
    reads_of_a_learner_and_their_consent_history_are_audited,
    guardians_are_added_corrected_and_removed_by_admins_only_and_audited,
    a_re_import_does_not_bring_back_a_removed_guardian,
    a_learners_email_and_groups_are_set_corrected_and_listed,
    a_re_import_keeps_a_blank_email_and_groups_and_replaces_given_ones,
    search_finds_every_word_typed_folded_as_names_are,
    the_name_check_answers_texts_as_they_are_typed_and_stores_nothing,
);

async fn create_read_correct_and_search(server: TestServer) {
    let amira = json!({
        "given_name": " Amira ", "family_name": "Haddad", "date_of_birth": "2009-04-17", "external_ref": "MIS-001",
        "guardians": [{"name": "Leila Haddad", "email": "leila@example.org"}]
    });
    let response = post(&server, &server.admin, "/api/v1/learners", amira).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["given_name"], "Amira", "names are trimmed");
    assert_eq!(created["guardians"].as_array().unwrap().len(), 1);
    assert!(created["guardians"][0]["id"].is_string());
    post(&server, &server.admin, "/api/v1/learners", json!({"given_name": "Zoë", "family_name": "O'Brien"})).await;

    let path = format!("/api/v1/learners/{id}");
    let read: Value = get(&server, &server.admin, &path).await.json().await.unwrap();
    assert_eq!(read, created);

    // Correct the date of birth; clear the preferred name that was never set; the audit names the
    // fields, never the values.
    let correction = json!({"date_of_birth": "2008-04-17", "preferred_name": null});
    let patched: Value = patch(&server, &server.admin, &path, correction).await.json().await.unwrap();
    assert_eq!(patched["date_of_birth"], "2008-04-17");
    assert_eq!(patched["family_name"], "Haddad");
    let audit = server.store.audit_log(0, 100).await.unwrap();
    let correction = audit.iter().find(|r| r.action == "learner_corrected").unwrap();
    assert!(correction.details.contains("date_of_birth"));
    let log = serde_json::to_string(&audit).unwrap();
    for secret in ["Amira", "Haddad", "Leila", "2008-04-17", "leila@example.org"] {
        assert!(!log.contains(secret), "{secret} reached the audit log");
    }

    let search = |q: &str| {
        let (client, base, admin) = (server.client.clone(), server.base.clone(), server.admin.clone());
        let q = q.to_string();
        async move {
            let found: Vec<Value> = client
                .get(format!("{base}/api/v1/learners"))
                .query(&[("q", q.as_str())])
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            found.iter().map(|l| l["family_name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(search("hadd").await, vec!["Haddad"]);
    assert_eq!(search("MIS-0").await, vec!["Haddad"]);
    assert_eq!(search("").await, vec!["Haddad", "O'Brien"]);
    assert_eq!(search("%").await, Vec::<String>::new(), "LIKE wildcards are literal");
    assert_eq!(search("o'b").await, vec!["O'Brien"]);
    // Folded alike on both backends: case beyond ASCII, diacritics, apostrophes.
    assert_eq!(search("zoe").await, vec!["O'Brien"]);
    assert_eq!(search("ZOË O’B").await, vec!["O'Brien"]);
    assert_eq!(search("amira haddad").await, vec!["Haddad"]);
    assert_eq!(search("_").await, Vec::<String>::new(), "LIKE wildcards are literal");
}

async fn bad_learner_input_is_refused_and_stores_nothing(server: TestServer) {
    post(
        &server,
        &server.admin,
        "/api/v1/learners",
        json!({"given_name": "A", "family_name": "B", "external_ref": "X1"}),
    )
    .await;
    let cases = [
        (json!({"given_name": "", "family_name": "Smith"}), 422, "bad_form"),
        (json!({"given_name": "Jo", "family_name": "Smith", "date_of_birth": "04/17/2009"}), 422, "bad_form"),
        (json!({"given_name": "Jo", "family_name": "Smith", "date_of_birth": "2009-02-30"}), 422, "bad_form"),
        (json!({"given_name": "Jo", "family_name": "Smith", "date_of_birth": "2999-01-01"}), 422, "bad_form"),
        (
            json!({"given_name": "Jo", "family_name": "Smith", "guardians": [{"name": "Mum", "email": "not-an-email"}]}),
            422,
            "bad_form",
        ),
        (json!({"given_name": "Jo", "family_name": "Smith", "shoe_size": 9}), 422, "bad_json"),
        (json!({"given_name": "Jo"}), 422, "bad_json"),
        (json!({"given_name": "Jo", "family_name": "Smith", "external_ref": "X1"}), 409, "conflict"),
    ];
    for (body, status, code) in cases {
        let before = server.snapshot().await;
        let response = post(&server, &server.admin, "/api/v1/learners", body.clone()).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], code, "{body}: {error}");
        assert_eq!(server.snapshot().await, before, "{body}: something was stored");
    }
    // Malformed JSON, the wrong content type, an unknown learner, a tutor's token.
    let raw = post_raw(&server, &server.admin, "/api/v1/learners", "application/json", "{\"given_name\": ").await;
    assert_eq!(raw.status(), 422);
    assert_eq!(raw.json::<Value>().await.unwrap()["error"], "bad_json");
    let text = server
        .client
        .post(format!("{}/api/v1/learners", server.base))
        .bearer_auth(&server.admin)
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let missing = patch(&server, &server.admin, "/api/v1/learners/nobody", json!({"family_name": "X"})).await;
    assert_eq!(missing.status(), 404);
    let tutor = server.token(Role::Tutor).await;
    assert_eq!(
        post(&server, &tutor, "/api/v1/learners", json!({"given_name": "A", "family_name": "B"})).await.status(),
        403
    );
    let listed = get(&server, &tutor, "/api/v1/learners").await;
    assert_eq!(listed.status(), 403);
}

async fn tagging_needs_a_learner_on_record(server: TestServer) {
    let created: Value =
        post(&server, &server.admin, "/api/v1/learners", json!({"given_name": "Sam", "family_name": "Lee"}))
            .await
            .json()
            .await
            .unwrap();
    let id = created["id"].as_str().unwrap();
    let tutor = server.token(Role::Tutor).await;
    let photo = common::corpus_bytes("jpg/gps/DSCN0027.jpg");
    let ok = upload_ok(&server, &tutor, "x.jpg", photo.clone(), &[("purposes", "website"), ("learner_ids", id)]).await;
    assert_eq!(ok["learner_ids"], json!([id]));
    let mut other = photo;
    other.extend_from_slice(b"different original bytes");
    let unknown = server
        .upload(&tutor, "x.jpg", other, &[("purposes", "website"), ("learner_ids", &format!("{id},ghost"))])
        .await;
    assert_eq!(unknown.status(), 422);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"], "unknown_learner");
    assert!(body["message"].as_str().unwrap().contains("ghost"));
}

async fn import(server: &TestServer, csv: &[u8], dry_run: bool) -> reqwest::Response {
    post_raw(server, &server.admin, &format!("/api/v1/learners/import?dry_run={dry_run}"), "text/csv", csv.to_vec())
        .await
}

async fn import_is_all_or_nothing_and_idempotent(server: TestServer) {
    let csv = "\u{feff}Given_Name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,form_group\r\n\
               Amira,Haddad,17/04/2010,MIS-1,Leila Haddad,leila@example.org,10B\r\n\
               Amira,Haddad,17/04/2010,MIS-1,Omar Haddad,,10B\r\n\
               \"Mary Anne\",\"van der Berg\",2001-02-03,MIS-2,,,12A\r\n";
    let before = server.snapshot().await;
    let response = import(&server, csv.as_bytes(), true).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"dry_run": true, "created": 2, "updated": 0, "unchanged": 0, "guardians_still_removed": 0, "not_in_file": 0, "marked_left": 0, "under_18_without_guardian": [], "guardians_without_email": ["Omar Haddad, for Amira Haddad (MIS-1)"]})
    );
    assert_eq!(server.snapshot().await, before, "a dry run stored something");

    let body: Value = import(&server, csv.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(
        body,
        json!({"dry_run": false, "created": 2, "updated": 0, "unchanged": 0, "guardians_still_removed": 0, "not_in_file": 0, "marked_left": 0, "under_18_without_guardian": [], "guardians_without_email": ["Omar Haddad, for Amira Haddad (MIS-1)"]})
    );
    let found: Value = get(&server, &server.admin, "/api/v1/learners?q=MIS-1").await.json().await.unwrap();
    assert_eq!(found[0]["date_of_birth"], "2010-04-17");
    assert_eq!(found[0]["guardians"].as_array().unwrap().len(), 2, "one learner, two guardian rows");

    // The same file again changes nothing; a corrected date of birth and a new guardian update.
    let body: Value = import(&server, csv.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(
        body,
        json!({"dry_run": false, "created": 0, "updated": 0, "unchanged": 2, "guardians_still_removed": 0, "not_in_file": 0, "marked_left": 0, "under_18_without_guardian": [], "guardians_without_email": ["Omar Haddad, for Amira Haddad (MIS-1)"]})
    );
    let corrected = csv.replace("17/04/2010,MIS-1,Omar Haddad", "17/04/2010,MIS-1,Sami Haddad");
    let body: Value = import(&server, corrected.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(body["updated"], 1);

    // Bad files: every bad line named, nothing stored.
    let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n";
    let mut latin1 = format!("{header}Cara,Jones,2011-01-01,MIS-3,,\n").into_bytes();
    latin1.extend_from_slice(b"Zo\xEB,Smith,2011-01-01,MIS-5,,\n");
    let cases: Vec<(&str, Vec<u8>, Vec<u64>)> = vec![
        ("missing columns", b"given_name,family_name\nAmira,Haddad\n".to_vec(), vec![1]),
        ("broken encoding", latin1, vec![3]),
        (
            "bad lines",
            format!("{header}Cara,Jones,2011-01-01,MIS-3,,\n,Patel,2011-01-01,MIS-4,,\nDev,Shah,2011-13-40,MIS-6,,\n")
                .into_bytes(),
            vec![3, 4],
        ),
        ("empty", Vec::new(), vec![1]),
    ];
    for (what, bytes, lines) in cases {
        let before = server.snapshot().await;
        let response = import(&server, &bytes, false).await;
        assert_eq!(response.status(), 422, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "bad_csv", "{what}: {body}");
        let reported: Vec<u64> =
            body["detail"]["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
        assert_eq!(reported, lines, "{what}: {body}");
        assert!(!body.to_string().contains("Patel") && !body.to_string().contains("Shah"), "{what}: names in {body}");
        assert_eq!(server.snapshot().await, before, "{what}: something was stored");
    }
    let response = post(&server, &server.admin, "/api/v1/learners/import", json!({"learners": []})).await;
    assert_eq!(response.status(), 415);

    // A large file with the wrong token gets its JSON 403, not a reset connection.
    let tutor = server.token(Role::Tutor).await;
    let big = format!(
        "{}{}",
        "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n",
        "a,b,,c,,\n".repeat(800_000)
    );
    let response = post_raw(&server, &tutor, "/api/v1/learners/import", "text/csv", big).await;
    assert_eq!(response.status(), 403);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "forbidden");
}

async fn a_blank_date_of_birth_on_re_import_keeps_the_one_on_record(server: TestServer) {
    let header = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n";
    let first = format!("{header}Nadia,Okafor,2000-01-01,MIS-9,Grace Okafor,grace@example.org\n");
    let body: Value = import(&server, first.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(body["created"], 1);
    let found: Value = get(&server, &server.admin, "/api/v1/learners?q=MIS-9").await.json().await.unwrap();
    let id = found[0]["id"].as_str().unwrap().to_string();
    let guardian = found[0]["guardians"][0]["id"].as_str().unwrap().to_string();
    // The guardian's grant does not count: she is an adult.
    let grant = json!({
        "kind": "granted", "purposes": ["website"], "given_by": "guardian", "guardian_id": guardian,
        "form_version": "v1", "form_text": "Photos may be used", "method": "paper_form", "evidence": "form 9"
    });
    assert_eq!(post(&server, &server.admin, &format!("/api/v1/learners/{id}/consents"), grant).await.status(), 201);
    let website = |history: &Value| history["decisions"]["website"].clone();
    let consents = format!("/api/v1/learners/{id}/consents");
    let history = async || get(&server, &server.admin, &consents).await.json::<Value>().await.unwrap();
    assert_eq!(website(&history().await)["reasons"], json!(["needs_adult_consent"]));

    // The MIS export leaves the cell blank: that is "not given", not "unknown".
    let blank = format!("{header}Nadia,Okafor,,MIS-9,Grace Okafor,grace@example.org\n");
    for dry_run in [true, false] {
        let body: Value = import(&server, blank.as_bytes(), dry_run).await.json().await.unwrap();
        assert_eq!((body["updated"].clone(), body["unchanged"].clone()), (json!(0), json!(1)), "{body}");
    }
    let read: Value = get(&server, &server.admin, &format!("/api/v1/learners/{id}")).await.json().await.unwrap();
    assert_eq!(read["date_of_birth"], "2000-01-01");
    let decision = website(&history().await);
    assert_eq!(
        (decision["allowed"].clone(), decision["reasons"].clone()),
        (json!(false), json!(["needs_adult_consent"]))
    );
}

/// A learner's record and consent history are personal data: each read through the API is an
/// audit row naming the reader and the learner (never the learner's name); a refused or missing
/// read writes nothing.
async fn reads_of_a_learner_and_their_consent_history_are_audited(server: TestServer) {
    let body = json!({"given_name": "Amira", "family_name": "Auditread", "date_of_birth": "2011-03-01",
        "guardians": [{"name": "Sara Auditread"}]});
    let created: Value = post(&server, &server.admin, "/api/v1/learners", body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let admin_id = consentgate::tokens::parse(&server.admin).unwrap().0.to_string();
    let rows = |action: &'static str| {
        let store = server.store.clone();
        async move {
            store.audit_log(0, 100_000).await.unwrap().into_iter().filter(|r| r.action == action).collect::<Vec<_>>()
        }
    };
    assert_eq!(get(&server, &server.admin, &format!("/api/v1/learners/{id}")).await.status(), 200);
    let read = rows("learner_read").await;
    assert_eq!(read.len(), 1);
    assert_eq!((read[0].actor.as_str(), read[0].subject.as_str()), (admin_id.as_str(), id.as_str()));
    assert!(!read[0].details.contains("Amira") && !read[0].details.contains("Auditread"));

    assert_eq!(get(&server, &server.admin, &format!("/api/v1/learners/{id}/consents")).await.status(), 200);
    let history = rows("consent_history_read").await;
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].actor.as_str(), history[0].subject.as_str()), (admin_id.as_str(), id.as_str()));
    assert_eq!(serde_json::from_str::<Value>(&history[0].details).unwrap(), json!({ "events": 0 }));

    let before = server.snapshot().await;
    let tutor = server.token(Role::Tutor).await;
    let before = {
        let mut b = before;
        *b.get_mut("tokens").unwrap() += 1;
        *b.get_mut("audit_log").unwrap() += 1;
        b
    };
    assert_eq!(get(&server, &tutor, &format!("/api/v1/learners/{id}")).await.status(), 403);
    assert_eq!(get(&server, &tutor, &format!("/api/v1/learners/{id}/consents")).await.status(), 403);
    let nobody = "0190f0f0-0000-7000-8000-000000000000";
    assert_eq!(get(&server, &server.admin, &format!("/api/v1/learners/{nobody}")).await.status(), 404);
    assert_eq!(get(&server, &server.admin, &format!("/api/v1/learners/{nobody}/consents")).await.status(), 404);
    assert_eq!(server.snapshot().await, before, "a refused or missing read is not audited as made");
}

/// Admins add, correct and remove guardians; every change is audited by id, never by name or
/// email; other roles get 403 and change nothing; unknown ids 404; bad values 422 as at creation.
async fn guardians_are_added_corrected_and_removed_by_admins_only_and_audited(server: TestServer) {
    let body = json!({"given_name": "Amira", "family_name": "Guardtest", "date_of_birth": "2011-03-01",
        "guardians": [{"name": "Sara Guardtest", "email": "sara@example.org"}]});
    let created: Value = post(&server, &server.admin, "/api/v1/learners", body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let sara = created["guardians"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(created["guardians"][0]["removed_at"], Value::Null);
    let guardians = format!("/api/v1/learners/{id}/guardians");

    // Other roles: 403, and nothing written (their token's own rows aside).
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let before = server.snapshot().await;
    for token in [&tutor, &marketing] {
        assert_eq!(post(&server, token, &guardians, json!({"name": "Omar Guardtest"})).await.status(), 403);
        let one = format!("{guardians}/{sara}");
        assert_eq!(patch(&server, token, &one, json!({"name": "Sarah Guardtest"})).await.status(), 403);
        assert_eq!(delete(&server, token, &one).await.status(), 403);
    }
    assert_eq!(post(&server, "cg_nope", &guardians, json!({"name": "Omar Guardtest"})).await.status(), 401);
    assert_eq!(server.snapshot().await, before, "a refused caller changed something");

    // Add one: 201 with its id.
    let added =
        post(&server, &server.admin, &guardians, json!({"name": " Omar Guardtest ", "email": "omar@example.org"}))
            .await;
    assert_eq!(added.status(), 201);
    let omar: Value = added.json().await.unwrap();
    assert_eq!((omar["name"].as_str(), omar["email"].as_str()), (Some("Omar Guardtest"), Some("omar@example.org")));
    let omar = omar["id"].as_str().unwrap().to_string();

    // Bad values, unknown ids, and a learner's fifth guardian are refused and store nothing.
    let before = server.snapshot().await;
    let nobody = "0190f0f0-0000-7000-8000-000000000000";
    for (path, body, status) in [
        (guardians.clone(), json!({"name": ""}), 422),
        (guardians.clone(), json!({"name": "Ok Name", "email": "not an email"}), 422),
        (guardians.clone(), json!({"name": "Ok Name", "role": "x"}), 422),
        (format!("/api/v1/learners/{nobody}/guardians"), json!({"name": "Ok Name"}), 404),
        ("/api/v1/learners/not-an-id/guardians".to_string(), json!({"name": "Ok Name"}), 404),
    ] {
        let response = post(&server, &server.admin, &path, body.clone()).await;
        assert_eq!(response.status(), status, "POST {path} {body}");
    }
    for (path, body, status) in [
        (format!("{guardians}/{sara}"), json!({"name": "  "}), 422),
        (format!("{guardians}/{sara}"), json!({"email": "nope"}), 422),
        (format!("{guardians}/{sara}"), json!({}), 422),
        (format!("{guardians}/{nobody}"), json!({"name": "Ok Name"}), 404),
        (format!("/api/v1/learners/{nobody}/guardians/{sara}"), json!({"name": "Ok Name"}), 404),
    ] {
        let response = patch(&server, &server.admin, &path, body.clone()).await;
        assert_eq!(response.status(), status, "PATCH {path} {body}");
    }
    assert_eq!(delete(&server, &server.admin, &format!("{guardians}/{nobody}")).await.status(), 404);
    assert_eq!(server.snapshot().await, before, "a refused change stored something");
    // Another learner's guardian is not this learner's.
    let other = json!({"given_name": "Ben", "family_name": "Guardtest", "guardians": [{"name": "Bea Guardtest"}]});
    let other: Value = post(&server, &server.admin, "/api/v1/learners", other).await.json().await.unwrap();
    let before = server.snapshot().await;
    let bea = other["guardians"][0]["id"].as_str().unwrap();
    assert_eq!(delete(&server, &server.admin, &format!("{guardians}/{bea}")).await.status(), 404);
    assert_eq!(server.snapshot().await, before, "a refused change stored something");
    for i in 0..2 {
        let response = post(&server, &server.admin, &guardians, json!({"name": format!("Extra {i} Guardtest")})).await;
        assert_eq!(response.status(), 201);
    }
    let fifth = post(&server, &server.admin, &guardians, json!({"name": "Fifth Guardtest"})).await;
    assert_eq!(fifth.status(), 422, "at most four guardians");

    // Correct a name and clear an email.
    let corrected = patch(
        &server,
        &server.admin,
        &format!("{guardians}/{sara}"),
        json!({"name": "Sarah Guardtest", "email": null}),
    )
    .await;
    assert_eq!(corrected.status(), 200);
    let corrected: Value = corrected.json().await.unwrap();
    assert_eq!((corrected["name"].as_str(), &corrected["email"]), (Some("Sarah Guardtest"), &Value::Null));

    // Remove Omar: 200, the record shows him removed, and a second removal or a correction is 409.
    let one = format!("{guardians}/{omar}");
    let removed = delete(&server, &server.admin, &one).await;
    assert_eq!(removed.status(), 200);
    let removed: Value = removed.json().await.unwrap();
    assert!(removed["guardian"]["removed_at"].is_string(), "{removed}");
    assert_eq!(removed["statuses_changed"], 0);
    let read: Value = get(&server, &server.admin, &format!("/api/v1/learners/{id}")).await.json().await.unwrap();
    let listed: Vec<_> = read["guardians"].as_array().unwrap().iter().filter(|g| g["id"] == json!(omar)).collect();
    assert!(listed[0]["removed_at"].is_string(), "kept on record, marked removed: {read}");
    for response in [
        delete(&server, &server.admin, &one).await,
        patch(&server, &server.admin, &one, json!({"name": "Omar Again"})).await,
    ] {
        assert_eq!(response.status(), 409);
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "guardian_removed");
    }
    // A removed guardian no longer counts towards the four.
    assert_eq!(post(&server, &server.admin, &guardians, json!({"name": "Fourth Guardtest"})).await.status(), 201);

    // Each change is audited with the guardian's id, never a name or an email.
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let of = |action: &str| audit.iter().filter(|r| r.action == action && r.subject == id).collect::<Vec<_>>();
    assert_eq!(of("guardian_added").len(), 4);
    let corrected = of("guardian_corrected");
    assert_eq!(corrected.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&corrected[0].details).unwrap(),
        json!({"guardian": sara, "fields": ["name", "email"]})
    );
    let removal = of("guardian_removed");
    assert_eq!(removal.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&removal[0].details).unwrap(),
        json!({"guardian": omar, "messages_cancelled": 0})
    );
    let log = serde_json::to_string(&audit).unwrap();
    for secret in ["Guardtest", "Sarah", "Omar", "sara@example.org", "omar@example.org"] {
        assert!(!log.contains(secret), "{secret} reached the audit log");
    }
}

/// A guardian an admin removed stays removed when the MIS file still lists them: the import
/// neither re-adds them nor reports nothing, it counts them in `guardians_still_removed`.
async fn a_re_import_does_not_bring_back_a_removed_guardian(server: TestServer) {
    let csv = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\r\n\
               Amira,Haddad,17/04/2010,MIS-R1,Omar Haddad,omar@example.org\r\n";
    let body: Value = import(&server, csv.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(body["created"], 1);
    let found: Value = get(&server, &server.admin, "/api/v1/learners?q=MIS-R1").await.json().await.unwrap();
    let id = found[0]["id"].as_str().unwrap().to_string();
    let omar = found[0]["guardians"][0]["id"].as_str().unwrap().to_string();
    // The email is corrected by hand; a re-import keeps the correction.
    let path = format!("/api/v1/learners/{id}/guardians/{omar}");
    assert_eq!(patch(&server, &server.admin, &path, json!({"email": "omar.h@example.org"})).await.status(), 200);
    let body: Value = import(&server, csv.as_bytes(), false).await.json().await.unwrap();
    assert_eq!((body["unchanged"].clone(), body["guardians_still_removed"].clone()), (json!(1), json!(0)), "{body}");
    let read: Value = get(&server, &server.admin, &format!("/api/v1/learners/{id}")).await.json().await.unwrap();
    assert_eq!(read["guardians"][0]["email"], "omar.h@example.org");

    assert_eq!(delete(&server, &server.admin, &path).await.status(), 200);
    let shouting = csv.replace("Omar Haddad", "OMAR HADDAD");
    let body: Value = import(&server, shouting.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(
        body,
        json!({"dry_run": false, "created": 0, "updated": 0, "unchanged": 1, "guardians_still_removed": 1, "not_in_file": 0, "marked_left": 0, "under_18_without_guardian": ["Amira Haddad (MIS-R1)"], "guardians_without_email": []})
    );
    let read: Value = get(&server, &server.admin, &format!("/api/v1/learners/{id}")).await.json().await.unwrap();
    let guardians = read["guardians"].as_array().unwrap();
    assert_eq!(guardians.len(), 1, "not re-added: {read}");
    assert!(guardians[0]["removed_at"].is_string());

    // Nor under a spacing or accent variant of the name, nor under the MIS's old spelling of a
    // name an admin corrected, when the email on record is the file's.
    let spaced = csv.replace("Omar Haddad", "Omar  Haddád");
    let body: Value = import(&server, spaced.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(body["guardians_still_removed"], 1, "{body}");
    let csv = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\r\n\
               Liam,Obi,17/04/2010,MIS-R2,Sara Kahn,sara@example.org\r\n";
    import(&server, csv.as_bytes(), false).await;
    let found: Value = get(&server, &server.admin, "/api/v1/learners?q=MIS-R2").await.json().await.unwrap();
    let (liam, sara) = (found[0]["id"].as_str().unwrap(), found[0]["guardians"][0]["id"].as_str().unwrap());
    let path = format!("/api/v1/learners/{liam}/guardians/{sara}");
    assert_eq!(patch(&server, &server.admin, &path, json!({"name": "Sara Khan"})).await.status(), 200);
    let body: Value = import(&server, csv.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(body["unchanged"], 1, "{body}");
    let read: Value = get(&server, &server.admin, &format!("/api/v1/learners/{liam}")).await.json().await.unwrap();
    assert_eq!(read["guardians"].as_array().unwrap().len(), 1, "the old spelling came back: {read}");
    assert_eq!(read["guardians"][0]["name"], "Sara Khan");
}

/// A learner's own email and groups: given at creation (groups trimmed, blank ones dropped,
/// repeats merged ignoring case, sorted), shown on reading, replaced or cleared by a PATCH (the
/// same values again write nothing), refused when bad with nothing stored, audited by field name
/// only; `GET /api/v1/groups` counts the learners per group for admins and tutors.
async fn a_learners_email_and_groups_are_set_corrected_and_listed(server: TestServer) {
    let body = json!({"given_name": "Amira", "family_name": "Grouptest", "date_of_birth": "2006-01-01",
        "learner_email": " amira@example.org ", "groups": [" Year 11 ", "", "Art", "year 11", "Drama"]});
    let created = post(&server, &server.admin, "/api/v1/learners", body).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["learner_email"], "amira@example.org");
    assert_eq!(created["groups"], json!(["Art", "Drama", "Year 11"]));
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/learners/{id}");
    let read: Value = get(&server, &server.admin, &path).await.json().await.unwrap();
    assert_eq!(
        (read["learner_email"].clone(), read["groups"].clone()),
        (created["learner_email"].clone(), created["groups"].clone())
    );
    let ben: Value = post(
        &server,
        &server.admin,
        "/api/v1/learners",
        json!({"given_name": "Ben", "family_name": "Grouptest", "groups": ["Year 11"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!((ben["learner_email"].clone(), ben["groups"].clone()), (Value::Null, json!(["Year 11"])));
    let plain: Value =
        post(&server, &server.admin, "/api/v1/learners", json!({"given_name": "Cy", "family_name": "Grouptest"}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!((plain["learner_email"].clone(), plain["groups"].clone()), (Value::Null, json!([])));

    // Both listed per group, sorted, for admins and tutors; not for marketing or without a token.
    let groups =
        json!([{"name": "Art", "learners": 1}, {"name": "Drama", "learners": 1}, {"name": "Year 11", "learners": 2}]);
    let tutor = server.token(Role::Tutor).await;
    for token in [&server.admin, &tutor] {
        let listed = get(&server, token, "/api/v1/groups").await;
        assert_eq!(listed.status(), 200);
        assert_eq!(listed.json::<Value>().await.unwrap(), groups);
    }
    let marketing = server.token(Role::Marketing).await;
    assert_eq!(get(&server, &marketing, "/api/v1/groups").await.status(), 403);
    assert_eq!(get(&server, "cg_nope", "/api/v1/groups").await.status(), 401);

    // Bad values are refused, naming the field, and store nothing.
    let many: Vec<String> = (0..21).map(|i| format!("Group {i}")).collect();
    let before = server.snapshot().await;
    for (method, body, field) in [
        (
            "post",
            json!({"given_name": "Di", "family_name": "Grouptest", "learner_email": "not-an-email"}),
            "learner_email",
        ),
        ("post", json!({"given_name": "Di", "family_name": "Grouptest", "groups": many}), "groups"),
        ("post", json!({"given_name": "Di", "family_name": "Grouptest", "groups": ["x".repeat(101)]}), "groups"),
        ("post", json!({"given_name": "Di", "family_name": "Grouptest", "groups": ["Year\u{7}11"]}), "groups"),
        ("patch", json!({"learner_email": "amira at example.org"}), "learner_email"),
        ("patch", json!({"groups": ["Art", "Drama\nClub"]}), "groups"),
        ("patch", json!({"groups": many}), "groups"),
    ] {
        let response = if method == "post" {
            post(&server, &server.admin, "/api/v1/learners", body.clone()).await
        } else {
            patch(&server, &server.admin, &path, body.clone()).await
        };
        assert_eq!(response.status(), 422, "{method} {body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "bad_form", "{body}: {error}");
        assert!(error.to_string().contains(field), "{body}: {error}");
        assert!(!error.to_string().contains("Drama") && !error.to_string().contains("xxxx"), "{error}");
    }
    let bad_type = patch(&server, &server.admin, &path, json!({"groups": "Art"})).await;
    assert_eq!(bad_type.status(), 422);
    assert_eq!(server.snapshot().await, before, "a refused change stored something");

    // A PATCH replaces the set (twenty repeats merge into one) and clears the email with null.
    let mut repeated: Vec<String> = vec!["Art".into(); 25];
    repeated.push(" Photography ".into());
    let patched = patch(&server, &server.admin, &path, json!({"groups": repeated, "learner_email": null})).await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(
        (patched["learner_email"].clone(), patched["groups"].clone()),
        (Value::Null, json!(["Art", "Photography"]))
    );
    let read: Value = get(&server, &server.admin, &path).await.json().await.unwrap();
    assert_eq!(read["groups"], json!(["Art", "Photography"]));
    let listed: Value = get(&server, &tutor, "/api/v1/groups").await.json().await.unwrap();
    assert_eq!(
        listed,
        json!([{"name": "Art", "learners": 1}, {"name": "Photography", "learners": 1}, {"name": "Year 11", "learners": 1}])
    );
    // The same values again: 200, nothing written, nothing audited.
    let before = server.snapshot().await;
    let again =
        patch(&server, &server.admin, &path, json!({"groups": ["Photography", " Art", "art"], "learner_email": null}))
            .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["groups"], json!(["Art", "Photography"]));
    assert_eq!(server.snapshot().await, before, "an unchanged email and groups wrote something");
    // null clears the groups, as an empty array does; an email is set again.
    let nulled = patch(&server, &server.admin, &path, json!({"groups": null})).await;
    assert_eq!(nulled.json::<Value>().await.unwrap()["groups"], json!([]));
    let refilled = patch(&server, &server.admin, &path, json!({"groups": ["Art", "Photography"]})).await;
    assert_eq!(refilled.status(), 200);
    let cleared: Value =
        patch(&server, &server.admin, &path, json!({"groups": [], "learner_email": "amira.g@example.org"}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(
        (cleared["learner_email"].clone(), cleared["groups"].clone()),
        (json!("amira.g@example.org"), json!([]))
    );

    // The audit names the fields changed, never an address or a group.
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let corrections: Vec<Value> = audit
        .iter()
        .filter(|r| r.action == "learner_corrected" && r.subject == id)
        .map(|r| serde_json::from_str(&r.details).unwrap())
        .collect();
    assert_eq!(
        corrections,
        vec![
            json!({"fields": ["learner_email", "groups"]}),
            json!({"fields": ["groups"]}),
            json!({"fields": ["groups"]}),
            json!({"fields": ["learner_email", "groups"]})
        ]
    );
    let log = serde_json::to_string(&audit).unwrap();
    for secret in ["amira@example.org", "amira.g@example.org", "Year 11", "Photography", "Drama"] {
        assert!(!log.contains(secret), "{secret} reached the audit log");
    }
}

/// The MIS file's `learner_email` and `groups` follow the date of birth's rule on a re-import: a
/// blank cell keeps what is on record, a value replaces it (the whole set of groups); the summary
/// counts such a learner as updated, and a dry run says exactly what the import then does.
async fn a_re_import_keeps_a_blank_email_and_groups_and_replaces_given_ones(server: TestServer) {
    let header =
        "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email,learner_email,groups\n";
    let first = format!(
        "{header}Nadia,Okafor,2000-01-01,MIS-E1,,,nadia@example.org,\"Year 13; Art ;art\"\n\
         Tom,Okafor,2010-01-01,MIS-E2,Grace Okafor,grace@example.org,,Year 9\n"
    );
    let body: Value = import(&server, first.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(body["created"], 2, "{body}");
    let read = |reference: &'static str| {
        let (client, base, admin) = (server.client.clone(), server.base.clone(), server.admin.clone());
        async move {
            let found: Value = client
                .get(format!("{base}/api/v1/learners"))
                .query(&[("q", reference)])
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (found[0]["learner_email"].clone(), found[0]["groups"].clone())
        }
    };
    assert_eq!(read("MIS-E1").await, (json!("nadia@example.org"), json!(["Art", "Year 13"])));
    assert_eq!(read("MIS-E2").await, (Value::Null, json!(["Year 9"])));

    // Blank cells, or a file without the columns: nothing changes.
    let blank = format!(
        "{header}Nadia,Okafor,2000-01-01,MIS-E1,,,, ; \n\
         Tom,Okafor,2010-01-01,MIS-E2,Grace Okafor,grace@example.org,,\n"
    );
    let without = "given_name,family_name,date_of_birth,external_ref,guardian_name,guardian_email\n\
                   Nadia,Okafor,2000-01-01,MIS-E1,,\n";
    for file in [blank.as_str(), without] {
        for dry_run in [true, false] {
            let body: Value = import(&server, file.as_bytes(), dry_run).await.json().await.unwrap();
            assert_eq!((body["updated"].clone(), body["created"].clone()), (json!(0), json!(0)), "{body}");
        }
    }
    assert_eq!(read("MIS-E1").await, (json!("nadia@example.org"), json!(["Art", "Year 13"])));
    assert_eq!(read("MIS-E2").await, (Value::Null, json!(["Year 9"])));

    // Given values replace: a dry run first, stating exactly what the import then does.
    let replaced = format!(
        "{header}Nadia,Okafor,2000-01-01,MIS-E1,,,nadia.o@example.org,\n\
         Tom,Okafor,2010-01-01,MIS-E2,Grace Okafor,grace@example.org,,Year 10;Chess Club\n\
         Nadia,Okafor,2000-01-01,MIS-E1,,,nadia.o@example.org,\n"
    );
    let before = server.snapshot().await;
    let dry: Value = import(&server, replaced.as_bytes(), true).await.json().await.unwrap();
    assert_eq!(server.snapshot().await, before, "a dry run stored something");
    let done: Value = import(&server, replaced.as_bytes(), false).await.json().await.unwrap();
    assert_eq!(dry["updated"], 2, "{dry}");
    assert_eq!(
        (dry["created"].clone(), dry["updated"].clone(), dry["unchanged"].clone()),
        (done["created"].clone(), done["updated"].clone(), done["unchanged"].clone())
    );
    assert_eq!(read("MIS-E1").await, (json!("nadia.o@example.org"), json!(["Art", "Year 13"])));
    assert_eq!(read("MIS-E2").await, (Value::Null, json!(["Chess Club", "Year 10"])));
    let groups: Value = get(&server, &server.admin, "/api/v1/groups").await.json().await.unwrap();
    assert_eq!(
        groups,
        json!([{"name": "Art", "learners": 1}, {"name": "Chess Club", "learners": 1}, {"name": "Year 10", "learners": 1},
            {"name": "Year 13", "learners": 1}])
    );

    // Bad cells are reported by line and column, never by value, and nothing is stored.
    let bad = format!(
        "{header}Nadia,Okafor,2000-01-01,MIS-E1,,,nadia@,\nTom,Okafor,2010-01-01,MIS-E2,,,,{}\n",
        "Chess;".repeat(21) + "Go;" + &(0..20).map(|i| format!("G{i};")).collect::<String>()
    );
    let before = server.snapshot().await;
    let response = import(&server, bad.as_bytes(), false).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let errors = body["detail"]["errors"].as_array().unwrap();
    assert_eq!(errors.iter().map(|e| e["line"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 3], "{body}");
    assert!(errors[0]["message"].as_str().unwrap().contains("learner_email"), "{body}");
    assert!(errors[1]["message"].as_str().unwrap().contains("groups"), "{body}");
    assert!(!body.to_string().contains("nadia@") && !body.to_string().contains("Chess"), "{body}");
    assert_eq!(server.snapshot().await, before, "a refused file stored something");

    // The corrections are audited by field name, the values stay out.
    let audit = server.store.audit_log(0, 100_000).await.unwrap();
    let fields: Vec<Value> = audit
        .iter()
        .filter(|r| r.action == "learner_corrected")
        .map(|r| serde_json::from_str::<Value>(&r.details).unwrap()["fields"].clone())
        .collect();
    assert_eq!(fields, vec![json!(["learner_email"]), json!(["groups"])]);
    let log = serde_json::to_string(&audit).unwrap();
    for secret in ["nadia@example.org", "nadia.o@example.org", "Year 13", "Chess Club", "Year 10"] {
        assert!(!log.contains(secret), "{secret} reached the audit log");
    }
}

async fn search_finds_every_word_typed_folded_as_names_are(server: TestServer) {
    for (given, family) in
        [("Amira", "Khan"), ("Amir", "Khanna"), ("Zoë", "O'Brien"), ("Siobhán", "Öztürk"), ("Ben", "Zane")]
    {
        let response =
            post(&server, &server.admin, "/api/v1/learners", json!({"given_name": given, "family_name": family})).await;
        assert_eq!(response.status(), 201);
    }
    let tutor = server.token(Role::Tutor).await;
    let families = |found: &Value| -> Vec<String> {
        found.as_array().unwrap().iter().map(|l| l["family_name"].as_str().unwrap().to_string()).collect()
    };
    for (query, expected) in [
        ("Amira%20Khan", &["Khan"][..]),
        ("khan%20amira", &["Khan"]),
        ("Amir", &["Khan", "Khanna"]),
        ("obrien", &["O'Brien"]),
        ("O%E2%80%99Brien", &["O'Brien"]),
        ("Siobhan", &["Öztürk"]),
        ("zoe", &["O'Brien"]),
        ("Amira%20Zane", &[]),
        // Listed by folded family name: Öztürk with the Os, before Zane.
        ("", &["Khan", "Khanna", "O'Brien", "Öztürk", "Zane"]),
    ] {
        let found: Value =
            get(&server, &server.admin, &format!("/api/v1/learners?q={query}")).await.json().await.unwrap();
        assert_eq!(families(&found), expected, "{query}");
    }
    // The tutor's picker finds the same learners, shown by first name and initial.
    for (typed, expected) in [("Amira Khan", &["Amira K."][..]), ("obrien", &["Zoë O."]), ("siobhan", &["Siobhán Ö."])]
    {
        let response = server
            .client
            .post(format!("{}/tutor/learners", server.base))
            .bearer_auth(&tutor)
            .json(&json!({"q": typed}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{typed}");
        let picked: Value = response.json().await.unwrap();
        let labels: Vec<&str> = picked.as_array().unwrap().iter().map(|p| p["label"].as_str().unwrap()).collect();
        assert_eq!(labels, expected, "{typed}");
    }
}

async fn the_name_check_answers_texts_as_they_are_typed_and_stores_nothing(server: TestServer) {
    for (given, family) in [("Amira", "Khan"), ("Liam", "Khan"), ("Liam", "O'Brien")] {
        post(&server, &server.admin, "/api/v1/learners", json!({"given_name": given, "family_name": family})).await;
    }
    let tutor = server.token(Role::Tutor).await;
    let marketing = server.token(Role::Marketing).await;
    let before = server.snapshot().await;
    let texts = json!({
        "caption": "Amira Khans robot",
        "alt_text": "Liam OBriens first brick wall",
        "title": "Amira and Liam Khan",
        "tags": ["Amira", "Khan", "level2"],
    });
    let response = post(&server, &tutor, "/api/v1/name-check", texts).await;
    assert_eq!(response.status(), 200);
    let check: Value = response.json().await.unwrap();
    let fields: Vec<&str> = check["matches"].as_array().unwrap().iter().map(|m| m["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["caption", "alt_text", "title", "title", "tags"]);
    assert_eq!(
        check["suggested_redaction"],
        json!({
            "caption": "Amira's robot",
            "alt_text": "Liam's first brick wall",
            "title": "Amira and Liam",
            "tags": ["Amira", "level2"],
        })
    );
    // Clean texts: nothing found, nothing to suggest; every field may be left out.
    let clean: Value =
        post(&server, &tutor, "/api/v1/name-check", json!({"caption": "Amira's robot"})).await.json().await.unwrap();
    assert_eq!(clean, json!({"matches": [], "suggested_redaction": null}));
    let empty: Value = post(&server, &server.admin, "/api/v1/name-check", json!({})).await.json().await.unwrap();
    assert_eq!(empty["matches"], json!([]));
    // Bad input is told apart; marketing does not write captions.
    for (body, code) in [
        (json!({"caption": "x".repeat(2001)}), "bad_form"),
        (json!({"tags": vec!["t"; 31]}), "bad_form"),
        (json!({"caption": "ok", "filename": "Amira Khan.jpg"}), "bad_json"),
        (json!({"caption": 7}), "bad_json"),
    ] {
        let response = post(&server, &tutor, "/api/v1/name-check", body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], code, "{body}");
    }
    assert_eq!(post(&server, &marketing, "/api/v1/name-check", json!({})).await.status(), 403);
    // Nothing was stored or audited.
    assert_eq!(server.snapshot().await, before);
}
