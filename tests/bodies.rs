//! Bounded memory per request, measured from outside: the real binary as a child process, its
//! resident memory read from `/proc/<pid>/status`, hostile bodies sent over loopback (issue 12,
//! items 2 and 3). Every loop here is bounded in count, and every read has a timeout.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::process;
use serde_json::{json, Value};

/// A server started on a fresh data directory, with an admin's and a tutor's token.
struct Running {
    server: process::Server,
    admin: String,
    tutor: String,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start() -> Running {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data").display().to_string();
        let run = |args: &[&str]| {
            let out =
                process::command().args(["--data", &data]).args(args).env("CONSENTGATE_LOG", "warn").output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        run(&["migrate"]);
        let token = |role: &str| {
            run(&["token", "create", "--role", role, "--name", "Bounded"]).lines().last().unwrap().to_string()
        };
        let (admin, tutor) = (token("admin"), token("tutor"));
        let server = process::start(&["--data".to_string(), data.clone()]);
        Running { server, admin, tutor, _dir: dir }
    }

    fn address(&self) -> String {
        self.server.base.trim_start_matches("http://").to_string()
    }

    /// A line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
    fn memory(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.server.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }

    /// Opens a connection and sends a request's head.
    fn send_head(&self, head: &str) -> TcpStream {
        let mut stream = TcpStream::connect(self.address()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
    }
}

const MB: u64 = 1 << 20;

/// Reads one HTTP/1.1 answer: its status and its body (by Content-Length).
fn answer(stream: &mut TcpStream) -> (u16, String) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut byte).expect("no answer in time");
        assert!(n > 0, "the connection closed without an answer");
        seen.extend_from_slice(&byte[..n]);
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    while seen.len() < head_end + length {
        let n = stream.read(&mut byte).expect("the answer's body did not arrive");
        assert!(n > 0, "the connection closed inside the answer");
        seen.extend_from_slice(&byte[..n]);
    }
    (status, String::from_utf8_lossy(&seen[head_end..head_end + length]).to_string())
}

/// Thirty imports by callers without a valid token (and three by a tutor, who may not import)
/// send 8 MiB each of a declared 9 MiB and stall: the server keeps none of it (its resident
/// memory grows by far less than the 264 MiB sent), and once each body is finished every
/// caller gets its 401 or 403 as JSON.
#[test]
fn stalled_imports_of_refused_callers_hold_no_memory_and_each_gets_its_answer() {
    let s = Running::start();
    let before = s.memory("VmHWM");
    const DECLARED: usize = 9 << 20;
    const SENT: usize = 8 << 20;
    let chunk = vec![b'a'; 64 << 10];
    let mut clients = Vec::new();
    for i in 0..33 {
        let (token, expected) =
            if i >= 30 { (s.tutor.clone(), 403) } else { (format!("cg_nobody{i}_notarealsecretatall"), 401) };
        let mut stream = s.send_head(&format!(
            "POST /api/v1/learners/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: text/csv\r\nContent-Length: {DECLARED}\r\n\r\n"
        ));
        for _ in 0..SENT / chunk.len() {
            stream.write_all(&chunk).unwrap();
        }
        clients.push((stream, expected));
    }
    // What a stalled client sent is in the server's hands by now (or in socket buffers, which are
    // not the process's memory).
    std::thread::sleep(Duration::from_millis(500));
    let during = s.memory("VmHWM");
    assert!(
        during < before + 50 * MB,
        "33 stalled refused imports took the server from {} MB to {} MB",
        before / MB,
        during / MB
    );
    for (mut stream, expected) in clients {
        for _ in 0..(DECLARED - SENT) / chunk.len() {
            stream.write_all(&chunk).unwrap();
        }
        let (status, body) = answer(&mut stream);
        assert_eq!(status, expected, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
}

/// A sign-in form (anyone may post one) and a JSON body are refused at their caps while they
/// are still arriving: the 413 comes after the first 64 KiB (or 256 KiB) although the client
/// declared more and has stopped sending, instead of after the whole declared body was read.
#[test]
fn bodies_past_their_cap_are_refused_before_they_are_read_whole() {
    let s = Running::start();
    for (head, sent, code) in [
        (
            "POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: 1500000\r\n\r\n"
                .to_string(),
            100 << 10,
            "form_too_large",
        ),
        (
            format!(
                "POST /api/v1/learners HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1500000\r\n\r\n",
                s.admin
            ),
            300 << 10,
            "body_too_large",
        ),
    ] {
        let mut stream = s.send_head(&head);
        stream.write_all(&vec![b' '; sent]).unwrap();
        let (status, body) = answer(&mut stream);
        assert_eq!(status, 413, "{body}");
        if code == "body_too_large" {
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"], code, "{body}");
        } else {
            assert!(body.contains("too large"), "{body}");
        }
    }
}

/// Sends a multipart upload with the text `fields` (in order) and then a small JPEG.
async fn upload(s: &Running, fields: Vec<(&'static str, String)>) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name, value);
    }
    let jpeg = common::fixtures::distinct_jpeg(7, 64, 48);
    form = form.part("file", reqwest::multipart::Part::bytes(jpeg).file_name("IMG_1.jpg"));
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/photos", s.server.base))
        .bearer_auth(&s.tutor)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The shape that took the server to 1 GB, scaled down: two million one-letter tags in 500
/// fields of 8 000 bytes. The form is refused at the 31st tag with a 422 naming the limit, and
/// the server's peak resident memory hardly moves. Too many fields, and too many learners, are
/// refused the same way; a hundred unknown (well-formed) ids are named five at most, with how
/// many more there were, in a short answer.
#[tokio::test(flavor = "multi_thread")]
async fn upload_forms_are_bounded_while_they_stream() {
    let s = Running::start();
    let before = s.memory("VmHWM");
    let tags = vec!["a"; 4_000].join(",");
    let (status, body) = upload(&s, (0..500).map(|_| ("tags", tags.clone())).collect()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at most 30 tags"), "{body}");
    let after = s.memory("VmHWM");
    assert!(after < before + 50 * MB, "two million tags took the server from {} MB to {} MB", before / MB, after / MB);

    let (status, body) = upload(&s, (0..1_000).map(|_| ("all_tagged", "true".to_string())).collect()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("more than 151 fields"), "{body}");

    // 100 000 well-formed ids, 200 to a field.
    let ids: Vec<String> = (0..100_000).map(|i| format!("0192f0c4-0000-7000-8000-{i:012}")).collect();
    let fields = ids.chunks(200).map(|c| ("learner_ids", c.join(","))).collect();
    let (status, body) = upload(&s, fields).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("at most 100 learners on one photo"), "{body}");
    assert!(body.len() < 1_000, "{body}");

    let mut fields = vec![("purposes", "website".to_string())];
    fields.extend(ids[..100].iter().map(|id| ("learner_ids", id.clone())));
    let (status, body) = upload(&s, fields).await;
    assert_eq!(status, 422, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["error"], "unknown_learner", "{body}");
    let message = answer["message"].as_str().unwrap();
    assert_eq!(ids[..100].iter().filter(|id| message.contains(id.as_str())).count(), 5, "{message}");
    assert!(message.ends_with("and 95 more"), "{message}");
    assert!(body.len() < 1_000, "{body}");
}

/// A photo's PATCH is bounded too: more than a hundred learners, or a JSON body past its cap
/// (100 000 tags), are refused before any id is looked up; a hundred unknown ids are named five
/// at most.
#[tokio::test(flavor = "multi_thread")]
async fn photo_patches_are_bounded() {
    let s = Running::start();
    let (status, body) = upload(&s, vec![("purposes", "website".to_string())]).await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let patch = |body: Value| {
        client.patch(format!("{}/api/v1/photos/{id}", s.server.base)).bearer_auth(&s.tutor).json(&body).send()
    };
    let ids: Vec<String> = (0..101).map(|i| format!("0192f0c4-0000-7000-8000-{i:012}")).collect();

    let response = patch(json!({ "learner_ids": ids })).await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("at most 100 learners on one photo"));

    let response = patch(json!({ "learner_ids": ids[..100] })).await.unwrap();
    assert_eq!(response.status(), 422);
    let message = response.json::<Value>().await.unwrap()["message"].as_str().unwrap().to_string();
    assert!(message.ends_with("and 95 more"), "{message}");

    let response = patch(json!({ "tags": vec!["a"; 100_000] })).await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "body_too_large");
}
