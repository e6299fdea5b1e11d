//! The API's contract: `/api/v1/openapi.json` checked as a document (parameters where their
//! template says, unique operation ids, resource tags, every error status with the error schema,
//! every `$ref` resolving, the limits equal to the code's constants) and by two tools nobody here
//! wrote: `openapi-spec-validator`, and `schemathesis` run against the real release server with
//! each role's token. Both come from PyPI through `scripts/setup`; a machine without them fails
//! here rather than skipping.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const TAGS: &[&str] = &[
    "photos",
    "learners",
    "groups",
    "consents",
    "queue",
    "takedowns",
    "staff",
    "audit",
    "requests",
    "retention",
    "withdrawal",
    "ops",
];
const ERROR_SCHEMA: &str = "#/components/schemas/ErrorBody";

fn document() -> Value {
    consentgate::http::openapi_document()
}

/// Every operation: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(*method) {
                found.push((path.clone(), method.to_string(), op.clone()));
            }
        }
    }
    found
}

/// The `{name}`s of a path template.
fn template_names(path: &str) -> BTreeSet<String> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name.to_string()).collect()
}

/// Follows `#/a/b/c` in the document.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn all_refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    found.push(v.as_str().unwrap_or_default().to_string());
                } else {
                    all_refs(v, found);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| all_refs(v, found)),
        _ => {}
    }
}

fn parameters(op: &Value, place: &str) -> BTreeSet<String> {
    op["parameters"]
        .as_array()
        .map(|params| {
            params.iter().filter(|p| p["in"] == place).map(|p| p["name"].as_str().unwrap().to_string()).collect()
        })
        .unwrap_or_default()
}

/// The statuses an operation lists, each with whether its JSON body is the error schema.
fn error_statuses(op: &Value) -> BTreeMap<u16, bool> {
    op["responses"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(status, response)| {
            let status: u16 = status.parse().ok()?;
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            (status >= 400).then_some((status, schema == ERROR_SCHEMA))
        })
        .collect()
}

#[test]
fn parameters_are_where_their_path_template_says() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let in_path = parameters(&op, "path");
        assert_eq!(in_path, template_names(&path), "{method} {path}: path parameters vs template");
        for p in op["parameters"].as_array().into_iter().flatten() {
            assert!(["path", "query", "header"].contains(&p["in"].as_str().unwrap()), "{method} {path}: {p}");
            if p["in"] == "path" {
                assert_eq!(p["required"], true, "{method} {path}: a path parameter is required: {p}");
            }
        }
    }
    // The ones that were declared `in: path` before, by name.
    let doc_ops = operations(&doc);
    let query = |path: &str, method: &str| {
        let (_, _, op) = doc_ops.iter().find(|(p, m, _)| p == path && m == method).unwrap();
        parameters(op, "query")
    };
    assert_eq!(query("/api/v1/audit", "get"), ["after", "limit"].map(String::from).into());
    assert_eq!(query("/api/v1/learners", "get"), ["limit", "q"].map(String::from).into());
    assert_eq!(query("/api/v1/learners/import", "post"), ["dry_run", "mark_missing_as_left"].map(String::from).into());
    assert_eq!(query("/api/v1/retention/preview", "get"), ["limit", "within"].map(String::from).into());
    assert_eq!(query("/api/v1/photos/{id}/image", "get"), ["rendition".to_string()].into());
    assert_eq!(query("/api/v1/queue", "get"), ["purpose".to_string()].into());
    assert_eq!(query("/api/v1/takedowns", "get"), ["all".to_string()].into());
}

#[test]
fn operation_ids_are_unique_and_tags_are_resources() {
    let doc = document();
    let mut seen = BTreeSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{method} {path}: operation id {id:?}"
        );
        assert!(seen.insert(id.to_string()), "operation id {id} is used twice");
        let tags: Vec<&str> = op["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(tags.len(), 1, "{method} {path}: one tag, not {tags:?}");
        assert!(TAGS.contains(&tags[0]), "{method} {path}: tag {:?} is not a resource", tags[0]);
    }
    let declared: BTreeSet<&str> =
        doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(declared, TAGS.iter().copied().collect(), "the document declares each resource tag");
    // Every route the API serves is in the document.
    for id in [
        "upload_photo",
        "show_photo",
        "edit_photo",
        "delete_photo",
        "photo_image",
        "check_names",
        "create_learner",
        "search_learners",
        "import_learners",
        "show_learner",
        "correct_learner",
        "list_groups",
        "record_consent",
        "consent_history",
        "list_queue",
        "claim_item",
        "record_publication",
        "list_takedowns",
        "confirm_takedown",
        "audit_log",
        "healthz",
        "openapi",
        "withdrawal_page",
        "withdraw_consent",
        "create_consent_request",
        "list_consent_requests",
        "show_consent_request",
        "coverage",
        "consent_form",
        "answer_consent_form",
        "retention_preview",
        "list_form_templates",
        "create_form_template",
        "retire_form_template",
        "list_staff",
        "invite_staff",
        "revoke_staff",
        "erase_learner",
        "export_learner",
    ] {
        assert!(seen.contains(id), "no operation {id}");
    }
}

#[test]
fn every_operation_lists_its_errors_with_the_error_schema() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let errors = error_statuses(&op);
        let at = format!("{method} {path}");
        if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
            for (status, is_error_body) in &errors {
                assert!(is_error_body, "{at}: {status} does not answer the error schema");
            }
            let mut owed: Vec<u16> = vec![401, 403, 500];
            assert!(op["security"].is_array(), "{at}: needs a token");
            if !template_names(&path).is_empty() {
                owed.push(404);
            }
            if !parameters(&op, "query").is_empty() {
                owed.push(422);
            }
            match op["requestBody"]["content"].as_object().and_then(|c| c.keys().next().cloned()).as_deref() {
                Some("application/json") => owed.extend([408, 413, 415, 422]),
                Some("multipart/form-data") => owed.extend([408, 413, 415, 422, 429, 503]),
                Some("text/csv") => owed.extend([408, 413, 415, 422]),
                Some(other) => panic!("{at}: unexpected body type {other}"),
                None => {}
            }
            for status in owed {
                assert!(errors.contains_key(&status), "{at}: does not list {status}");
            }
            let unauthorized = &op["responses"]["401"]["headers"];
            assert!(unauthorized.get("WWW-Authenticate").is_some(), "{at}: 401 names its header");
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            assert!(response["description"].as_str().is_some_and(|d| !d.is_empty()), "{at} {status}: description");
        }
    }
}

/// The conflicts the use cases answer (each tested through the API in its own suite: a second
/// learner with one MIS reference, a grant from a removed guardian, a removed guardian corrected or
/// removed again, a link for a refusal, a claim of an item that is not queued) are in the document.
#[test]
fn every_conflict_an_operation_answers_is_listed() {
    let doc = document();
    let ops = operations(&doc);
    for id in [
        "create_learner",
        "correct_learner",
        "record_consent",
        "correct_guardian",
        "remove_guardian",
        "reissue_withdrawal_link",
        "claim_item",
    ] {
        let (path, method, op) = ops.iter().find(|(_, _, o)| o["operationId"] == id).expect(id);
        assert!(error_statuses(op).contains_key(&409), "{method} {path} ({id}) does not list 409");
    }
}

#[test]
fn every_reference_resolves_and_every_link_reaches_an_operation() {
    let doc = document();
    let mut refs = Vec::new();
    all_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "the document uses its components: {}", refs.len());
    for reference in &refs {
        assert!(resolve(&doc, reference).is_some(), "{reference} resolves to nothing");
    }
    let ops = operations(&doc);
    let mut links = 0;
    for (path, method, op) in &ops {
        for (status, response) in op["responses"].as_object().unwrap() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                links += 1;
                let target = link["operationId"].as_str().unwrap();
                let (target_path, _, target_op) = ops
                    .iter()
                    .find(|(_, _, o)| o["operationId"] == target)
                    .unwrap_or_else(|| panic!("{method} {path} {status}: link {name} to no operation {target}"));
                let wanted: BTreeSet<String> = link["parameters"].as_object().unwrap().keys().cloned().collect();
                assert_eq!(wanted, parameters(target_op, "path"), "{name}: the parameters of {target_path}");
                for value in link["parameters"].as_object().unwrap().values() {
                    let value = value.as_str().unwrap();
                    if let Some(name) = value.strip_prefix("$request.path.") {
                        assert!(parameters(op, "path").contains(name), "{name}: {path} has no such parameter");
                        continue;
                    }
                    let pointer = value.strip_prefix("$response.body#").unwrap();
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    let schema = resolve(&doc, schema.as_str().unwrap()).unwrap();
                    let field = pointer.trim_start_matches('/');
                    assert!(schema["properties"].get(field).is_some(), "{name}: the answer has no {field}");
                }
            }
        }
    }
    assert_eq!(links, consentgate::http::LINKS.len(), "every row of LINKS is in the document");
    let has_link = |op_id: &str, to: &str| {
        ops.iter().any(|(_, _, o)| {
            o["operationId"] == op_id
                && o["responses"].as_object().unwrap().values().any(|r| r["links"].get(to).is_some())
        })
    };
    for (from, to) in [
        ("create_learner", "show_learner"),
        ("create_learner", "correct_learner"),
        ("create_learner", "record_consent"),
        ("create_learner", "consent_history"),
        ("upload_photo", "show_photo"),
        ("upload_photo", "edit_photo"),
        ("upload_photo", "photo_image"),
        ("upload_photo", "delete_photo"),
        ("claim_item", "record_publication"),
        ("add_guardian", "correct_guardian"),
        ("add_guardian", "remove_guardian"),
        ("record_consent", "reissue_withdrawal_link"),
    ] {
        assert!(has_link(from, to), "no link from {from} to {to}");
    }
}

/// The limits the document states are the code's, so neither can change without the other.
#[test]
fn the_documented_limits_are_the_codes() {
    use consentgate::app;
    let doc = document();
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let number = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a number: {v}")) as usize;
    assert_eq!(number(&schema("FreeText")["maxLength"]), app::photos::MAX_TEXT);
    assert_eq!(number(&schema("Tag")["maxLength"]), app::photos::MAX_TAG);
    let check = &schema("NameCheckRequest")["properties"];
    assert_eq!(number(&check["tags"]["maxItems"]), app::photos::MAX_TAGS);
    for form in ["UploadForm", "PhotoPatch"] {
        let props = &schema(form)["properties"];
        assert_eq!(number(&props["tags"]["maxItems"]), app::photos::MAX_TAGS, "{form}");
        assert_eq!(number(&props["learner_ids"]["maxItems"]), app::photos::MAX_LEARNERS, "{form}");
        assert_eq!(number(&props["purposes"]["minItems"]), 1, "{form}");
    }
    assert_eq!(number(&schema("Name")["maxLength"]), consentgate::roster::fields::MAX_NAME);
    assert_eq!(number(&schema("OptionalName")["maxLength"]), consentgate::roster::fields::MAX_NAME);
    assert_eq!(
        number(&schema("NewLearner")["properties"]["guardians"]["maxItems"]),
        consentgate::roster::MAX_GUARDIANS
    );
    assert_eq!(number(&schema("GroupName")["maxLength"]), consentgate::roster::fields::MAX_GROUP);
    assert_eq!(
        number(&schema("NewLearner")["properties"]["groups"]["maxItems"]),
        consentgate::roster::fields::MAX_GROUPS
    );
    assert_eq!(
        number(&schema("LearnerPatch")["properties"]["groups"]["maxItems"]),
        consentgate::roster::fields::MAX_GROUPS
    );
    assert_eq!(number(&schema("ProofText")["maxLength"]), app::consents::MAX_TEXT);
    assert_eq!(
        number(&schema("ClaimRequest")["properties"]["lease_seconds"]["maximum"]),
        app::queue::MAX_LEASE_SECONDS as usize
    );
    let method = schema("Method");
    let methods: Vec<&str> = method["enum"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert_eq!(methods, app::consents::METHODS);
    let purposes: Vec<Value> = schema("Purpose")["enum"].as_array().unwrap().clone();
    assert_eq!(purposes.len(), 4);
    for p in &purposes {
        assert!(p.as_str().unwrap().parse::<consentgate::policy::Purpose>().is_ok(), "{p}");
    }
    // Empty strings that are refused are stated as such.
    assert_eq!(schema("Name")["minLength"], 1);
    assert_eq!(schema("ProofText")["minLength"], 1);
    assert_eq!(schema("Channel")["minLength"], 1);
    // Formats.
    assert_eq!(schema("Id")["format"], "uuid");
    assert_eq!(number(&schema("PublishedUrl")["maxLength"]), app::queue::MAX_URL);
    assert_eq!(number(&schema("Channel")["maxLength"]), app::queue::MAX_CHANNEL);
    assert_eq!(number(&schema("SearchText")["maxLength"]), app::learners::MAX_QUERY);
    assert_eq!(schema("DateOfBirth")["format"], "date");
    // A consent's moments take a date alone too (the organisation's day), so they are patterns.
    for moment in ["GivenAt", "Expiry"] {
        let pattern = regex::Regex::new(schema(moment)["pattern"].as_str().unwrap()).unwrap();
        for (text, ok) in [
            ("2026-07-01", true),
            ("2026-07-01T09:30:00Z", true),
            ("2026-07-01T09:30:00.5+01:00", true),
            ("1 July 2026", false),
            ("2026-07-01 09:30", false),
        ] {
            assert_eq!(pattern.is_match(text), ok, "{moment}: {text}");
        }
    }
}

/// `openapi-spec-validator` (PyPI), which refused the document when query parameters were
/// declared in the path and an operation id was used twice.
#[test]
fn openapi_spec_validator_accepts_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&document()).unwrap()).unwrap();
    let out = Command::new("openapi-spec-validator").arg(&file).output().unwrap_or_else(|e| {
        panic!("openapi-spec-validator is not installed ({e}); scripts/setup installs it from PyPI")
    });
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the binary's `ARGS` on `data`, answering its stdout.
fn run(data: &std::path::Path, args: &[&str]) -> String {
    let out =
        common::process::command().arg("--data").arg(data).args(args).env("CONSENTGATE_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A learner with her own standing grant for every purpose, and a photo of her asked for the
/// website: so the queue holds an item and the generated requests reach past "not found".
async fn seed(base: &str, admin: &str) {
    let client = reqwest::Client::new();
    let learner: Value = client
        .post(format!("{base}/api/v1/learners"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"given_name": "Amira", "family_name": "Khan", "date_of_birth": "2000-01-01",
            "guardians": [{"name": "Sara Khan", "email": "sara@example.org"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = learner["id"].as_str().unwrap();
    let consent = client
        .post(format!("{base}/api/v1/learners/{id}/consents"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"kind": "granted", "purposes": ["website", "social_media", "print", "internal"],
            "given_by": "learner", "form_version": "2026-1", "form_text": "I agree", "method": "paper_form",
            "evidence": "scan 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 201, "{}", consent.text().await.unwrap());
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(common::fixtures::distinct_jpeg(7, 64, 48)).file_name("a.jpg"))
        .text("learner_ids", id.to_string())
        .text("all_tagged", "true")
        .text("purposes", "website,print");
    let upload = client.post(format!("{base}/api/v1/photos")).bearer_auth(admin).multipart(form).send().await.unwrap();
    assert_eq!(upload.status(), 201, "{}", upload.text().await.unwrap());
}

/// schemathesis against the real release server, once with each role's token: no server error,
/// every status and content type documented, every body as its schema says. Bounded in examples so
/// the three runs take a few minutes on two cores.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_with_any_role() {
    let version = Command::new("schemathesis")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("schemathesis is not installed ({e}); scripts/setup installs it from PyPI"));
    assert!(version.status.success(), "schemathesis --version failed");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    run(&data, &["migrate"]);
    let token = |role: &str| {
        let out = run(&data, &["token", "create", "--role", role, "--name", &format!("schemathesis {role}")]);
        out.lines().last().unwrap().trim().to_string()
    };
    let tokens: Vec<(&str, String)> = ["admin", "tutor", "marketing"].into_iter().map(|r| (r, token(r))).collect();
    let mut server = common::process::start(&["--data".to_string(), data.display().to_string()]);
    seed(&server.base, &tokens[0].1).await;
    let examples = std::env::var("CONSENTGATE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let mut failures = Vec::new();
    // The coverage phase trips an internal error of hypothesis under Python 3.11 ("AST
    // constructor recursion depth mismatch" while describing one of its own strategies: a
    // Runtime Error about the tool, not a finding about the API), so it is left out.
    let passes: [&[&str]; 1] = [&["--phases", "examples,fuzzing,stateful"]];
    for (role, token) in &tokens {
        for pass in passes {
            let out = Command::new("schemathesis")
                .args(["run", &format!("{}/api/v1/openapi.json", server.base), "--url", &server.base])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                ])
                .args(["--max-examples", &examples, "--seed", "12", "--workers", "2", "--request-timeout", "30"])
                .args(["--generation-database", "none", "--no-color", "--suppress-health-check", "all"])
                .args(pass)
                .current_dir(dir.path())
                .output()
                .unwrap();
            let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let tail: Vec<&str> = report.lines().rev().take(12).collect();
            eprintln!("schemathesis as {role} {pass:?}:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            if !out.status.success() {
                // Long enough for every finding; a Python traceback can quote whole source files.
                let shown: String = report.chars().take(20_000).collect();
                failures.push(format!("as {role} {pass:?}:\n{shown}"));
            }
        }
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(failures.is_empty(), "schemathesis reported failures:\n{}", failures.join("\n\n"));
}
