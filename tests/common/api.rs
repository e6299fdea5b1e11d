//! The HTTP API as the black-box tests call it: bearer-token requests, and the set-up steps many
//! tests share (a learner, a consent, an upload). The set-up helpers assert the status the step
//! must have and panic with the answer's body otherwise; the plain requests assert nothing, so a
//! test that is about a status checks it itself.

use std::io::Write;

use serde_json::{json, Value};

use super::server::TestServer;

/// `POST {server}{path}` as `token` with `body` as JSON. Asserts nothing; returns the response.
pub async fn post(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server.client.post(format!("{}{path}", server.base)).bearer_auth(token).json(&body).send().await.unwrap()
}

/// `POST {server}{path}` as `token` with the raw `body` declared as `content_type`: for bodies that
/// are not JSON, or are broken JSON. Asserts nothing; returns the response.
pub async fn post_raw(
    server: &TestServer,
    token: &str,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let request = server.client.post(format!("{}{path}", server.base)).bearer_auth(token);
    request.header("content-type", content_type).body(body).send().await.unwrap()
}

/// `PATCH {server}{path}` as `token` with `body` as JSON. Asserts nothing; returns the response.
pub async fn patch(server: &TestServer, token: &str, path: &str, body: Value) -> reqwest::Response {
    server.client.patch(format!("{}{path}", server.base)).bearer_auth(token).json(&body).send().await.unwrap()
}

/// `DELETE {server}{path}` as `token`. Asserts nothing; returns the response.
pub async fn delete(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    server.client.delete(format!("{}{path}", server.base)).bearer_auth(token).send().await.unwrap()
}

/// `GET {server}{path}` as `token`. Asserts nothing; returns the response.
pub async fn get(server: &TestServer, token: &str, path: &str) -> reqwest::Response {
    server.client.get(format!("{}{path}", server.base)).bearer_auth(token).send().await.unwrap()
}

/// `GET {server}{path}` as `token`; asserts 200 OK and returns the body as JSON.
pub async fn get_json(server: &TestServer, token: &str, path: &str) -> Value {
    let response = get(server, token, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// The body of `response` as JSON, after asserting its status is `expected` (the message names
/// `what` and shows the body).
async fn json_with_status(response: reqwest::Response, expected: u16, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, expected, "{what}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
}

/// Creates a learner from `body` as the admin; asserts 201 Created and returns the learner as the
/// API shows it (with `id` and each guardian's `id`).
pub async fn create_learner(server: &TestServer, body: Value) -> Value {
    json_with_status(post(server, &server.admin, "/api/v1/learners", body).await, 201, "create learner").await
}

/// A learner `given` `family` born `dob` with one guardian, "Parent of `given`"
/// (parent@example.org), created as the admin; asserts 201 and returns (learner id, guardian id).
pub async fn learner_with_guardian(server: &TestServer, given: &str, family: &str, dob: &str) -> (String, String) {
    let body = json!({
        "given_name": given, "family_name": family, "date_of_birth": dob,
        "guardians": [{"name": format!("Parent of {given}"), "email": "parent@example.org"}]
    });
    let created = create_learner(server, body).await;
    (created["id"].as_str().unwrap().into(), created["guardians"][0]["id"].as_str().unwrap().into())
}

/// Records the consent event `body` for `learner` as the admin; asserts 201 Created and returns the
/// answer (`withdraw_url`, `statuses_changed`, ...).
pub async fn record_consent(server: &TestServer, learner: &str, body: Value) -> Value {
    let response = post(server, &server.admin, &format!("/api/v1/learners/{learner}/consents"), body).await;
    json_with_status(response, 201, "record consent").await
}

/// An adult learner `given` `family` born 1990-01-01, no guardian, who has granted `purposes`
/// themself (online form, evidence "form 7"); asserts both steps' 201 and returns (learner id,
/// withdrawal link).
pub async fn consenting_adult(server: &TestServer, given: &str, family: &str, purposes: &[&str]) -> (String, String) {
    let created =
        create_learner(server, json!({"given_name": given, "family_name": family, "date_of_birth": "1990-01-01"}))
            .await;
    let id = created["id"].as_str().unwrap().to_string();
    let grant = json!({
        "kind": "granted", "purposes": purposes, "given_by": "learner", "form_version": "v1",
        "form_text": "I agree", "method": "online_form", "evidence": "form 7"
    });
    let url = record_consent(server, &id, grant).await["withdraw_url"].as_str().unwrap().to_string();
    (id, url)
}

/// Sends an upload of `bytes` named `filename` with the text `fields` to the server at `base`
/// (`http://HOST:PORT`) as `token`. Asserts nothing; returns what the client returned, so a test
/// may look at connection errors (a server being stopped) as well as answers.
pub async fn send_upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    filename: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> reqwest::Result<reqwest::Response> {
    let mut form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()));
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    client.post(format!("{base}/api/v1/photos")).bearer_auth(token).multipart(form).send().await
}

/// [`TestServer::upload`]s `bytes` as `filename` with `fields`; asserts 201 Created and returns the
/// new photo as JSON.
pub async fn upload_ok(
    server: &TestServer,
    token: &str,
    filename: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> Value {
    json_with_status(server.upload(token, filename, bytes, fields).await, 201, "upload").await
}

/// Uploads `bytes` as `tutor` for `purposes` (comma-separated), tagged with `learners` as everyone
/// in it (`all_tagged`), plus the `extra` fields (caption, ...); asserts 201 Created and returns
/// the new photo as JSON.
pub async fn upload_tagged(
    server: &TestServer,
    tutor: &str,
    bytes: Vec<u8>,
    purposes: &str,
    learners: &[&str],
    extra: &[(&str, &str)],
) -> Value {
    let ids = learners.join(",");
    let mut fields = vec![("purposes", purposes), ("all_tagged", "true"), ("learner_ids", ids.as_str())];
    fields.extend_from_slice(extra);
    upload_ok(server, tutor, "IMG_1.jpg", bytes, &fields).await
}

/// Starts an upload as `token` to the server at `base` (`http://HOST:PORT`) that never finishes:
/// the headers of a 1 MB multipart body, then only its first 4 KiB. The server is left waiting for
/// the rest until the returned connection is dropped.
pub fn stalled_upload(base: &str, token: &str) -> std::net::TcpStream {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /api/v1/photos HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000\r\n\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[0xFF; 4096]).unwrap();
    stream.flush().unwrap();
    stream
}
