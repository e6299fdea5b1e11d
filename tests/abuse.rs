//! Hostile clients, measured from outside: sockets that send half a request and wait, uploads
//! that stall mid-body, one token trying to hold every upload slot. The pages a parent or a tutor
//! needs keep answering within a second, and stalled clients lose what they hold.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::api::stalled_upload;
use common::corpus_bytes;
use common::process::{self, Server};
use common::server::{Blobs, Db, TestServer};
use consentgate::store::Role;
use serde_json::Value;

/// Kills the server when the test ends, passed or failed.
struct Killed(Server);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

fn data_args(dir: &tempfile::TempDir, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["--data".to_string(), dir.path().display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A connection that sends the start of a request's headers and then nothing.
fn half_header(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Waiting: ").unwrap();
    stream
}

/// Reads until the server closes `stream` (EOF or reset), for at most `limit`; how long it took,
/// and what was read. `None` if it was still open at the limit.
fn wait_for_close(stream: &mut TcpStream, limit: Duration) -> Option<(Duration, String)> {
    let started = Instant::now();
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return Some((started.elapsed(), String::from_utf8_lossy(&read).into_owned())),
            Ok(n) => read.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return None,
            Err(_) => return Some((started.elapsed(), String::from_utf8_lossy(&read).into_owned())),
        }
    }
}

/// Item 1 of issue 12: with a hard limit of 512 open files, 500 sockets that each send half a
/// request header and wait do not keep a parent from the withdrawal page, a tutor from signing
/// in, or a monitor from `/healthz`: each answers within a second. (Under `axum::serve` they
/// timed out: every descriptor was taken, and accept failed once a second.)
#[tokio::test(flavor = "multi_thread")]
async fn half_sent_headers_do_not_shut_out_the_pages_that_matter() {
    let dir = tempfile::tempdir().unwrap();
    // A long header timeout, so it is the connection cap that keeps the server reachable here.
    let server =
        Killed(process::start_with_open_file_limit(&data_args(&dir, &["--header-timeout-seconds", "120"]), 512));
    let address = server.0.base.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..500 {
        idle.push(half_header(&address));
    }
    // Let the server accept what the kernel queued.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for (path, expected) in [("/healthz", 200), ("/signin", 200), ("/w/cg_not_a_real_withdrawal_token", 404)] {
        let started = Instant::now();
        let response = client.get(format!("{}{path}", server.0.base)).send().await;
        let elapsed = started.elapsed();
        let response = response.unwrap_or_else(|e| panic!("GET {path} with 500 half-sent requests open: {e}"));
        assert_eq!(response.status(), expected, "GET {path}");
        assert!(elapsed < Duration::from_secs(1), "GET {path} took {elapsed:?} with 500 half-sent requests open");
    }
    // The connections closed to make room were the oldest; the newest are still open.
    let mut newest = idle.pop().unwrap();
    assert!(wait_for_close(&mut newest, Duration::from_millis(200)).is_none(), "the newest waiting socket was closed");
    let mut oldest = idle.remove(0);
    assert!(wait_for_close(&mut oldest, Duration::from_secs(2)).is_some(), "the oldest waiting socket is still open");
}

/// A connection that sends half a header is closed once the header timeout has passed, and a
/// kept-alive connection once it has been idle for the idle timeout. (`axum::serve` had no timer:
/// both stayed open for as long as the client liked.)
#[tokio::test(flavor = "multi_thread")]
async fn half_sent_headers_and_idle_connections_are_closed_after_their_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let args = data_args(&dir, &["--header-timeout-seconds", "5", "--idle-timeout-seconds", "1"]);
    let server = Killed(process::start(&args));
    let address = server.0.base.trim_start_matches("http://").to_string();

    let mut half = half_header(&address);
    let (elapsed, _) = wait_for_close(&mut half, Duration::from_secs(20))
        .expect("a connection with half a header was still open 20 s later, with a 5 s header timeout");
    assert!(elapsed >= Duration::from_secs(4), "closed after {elapsed:?}, before the header timeout");

    // One whole request, answered; then nothing more is sent.
    let mut kept = TcpStream::connect(&address).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = [0u8; 1024];
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = kept.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    let (elapsed, _) = wait_for_close(&mut kept, Duration::from_secs(20))
        .expect("an idle kept-alive connection was still open 20 s later, with a 1 s idle timeout");
    assert!(elapsed < Duration::from_secs(4), "closed after {elapsed:?}: the idle timeout did not apply");
}

/// Item 4 of issue 12: with two receiving slots, two uploads that stall mid-body lose their slots
/// at the body timeout (and are told 408), so a third upload, of another token, goes through; and
/// one token cannot take both slots: its second upload waits for its own share, then is told 429,
/// while another token's upload goes through at once.
#[tokio::test(flavor = "multi_thread")]
async fn stalled_uploads_lose_their_slots_and_no_token_holds_them_all() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.scrub_concurrency = 1;
        s.connections.body_timeout = Duration::from_secs(2);
    })
    .await;
    let (a, b, c) = (server.token(Role::Tutor).await, server.token(Role::Tutor).await, server.token(Role::Tutor).await);
    let photo = || corpus_bytes("jpg/gps/DSCN0027.jpg");

    let mut stalled = [stalled_upload(&server.base, &a), stalled_upload(&server.base, &b)];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = server.upload(&c, "x.jpg", photo(), &[("purposes", "website")]).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    for stream in &mut stalled {
        let (_, answer) = wait_for_close(stream, Duration::from_secs(10)).expect("a stalled upload was kept open");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");
    }
}

/// One token cannot take every slot, even with bodies that do not time out: its second upload
/// waits for its own share and is told 429 with Retry-After, while another token's upload goes
/// through at once.
#[tokio::test(flavor = "multi_thread")]
async fn one_token_cannot_hold_every_upload_slot() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| s.scrub_concurrency = 1).await;
    let (a, b) = (server.token(Role::Tutor).await, server.token(Role::Tutor).await);
    let photo = || corpus_bytes("jpg/gps/DSCN0027.jpg");
    let _stalled = stalled_upload(&server.base, &a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second_of_a = {
        let (base, a, client) = (server.base.clone(), a.clone(), server.client.clone());
        tokio::spawn(async move {
            common::api::send_upload(&client, &base, &a, "x.jpg", photo(), &[("purposes", "website")]).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let response = server.upload(&b, "x.jpg", photo(), &[("purposes", "website")]).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert!(started.elapsed() < Duration::from_secs(5), "another token's upload waited for a slot");
    let response = second_of_a.await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_uploads", "{body}");
}

/// A body that drips a byte at a time, never stalling as long as the body timeout, is cut off once
/// it falls below the minimum rate.
#[tokio::test(flavor = "multi_thread")]
async fn a_dripping_upload_is_cut_off_below_the_minimum_rate() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.connections.body_timeout = Duration::from_secs(2);
        s.connections.min_body_rate = 1024;
    })
    .await;
    let tutor = server.token(Role::Tutor).await;
    let mut stream = stalled_upload(&server.base, &tutor);
    let started = Instant::now();
    let closed = loop {
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        if stream.write_all(b"x").is_err() {
            break wait_for_close(&mut stream, Duration::from_secs(1));
        }
        stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buffer = [0u8; 4096];
        match stream.read(&mut buffer) {
            Ok(n) => break Some((started.elapsed(), String::from_utf8_lossy(&buffer[..n]).into_owned())),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break Some((started.elapsed(), String::new())),
        }
    };
    let (elapsed, answer) = closed.expect("a body dripping 2 bytes a second was still being read after 20 s");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(elapsed >= Duration::from_secs(1), "cut off after {elapsed:?}, before the grace of one body timeout");
}

/// Uploads about 11 MB of noise as a PNG (which no compression shrinks: far more than the loopback
/// socket buffers hold, about 4 MB sending and 128 KB receiving for a client that does not read)
/// and opens a raw connection asking for it as an admin. Returns the connection, the response's
/// content length, and how many bytes (head included) the first read took.
async fn large_image_request(server: &TestServer) -> (TcpStream, usize, usize) {
    let (tutor, admin) = (server.token(Role::Tutor).await, server.token(Role::Admin).await);
    let mut seed = 0x2545_f491_u32;
    let noise = image::RgbImage::from_fn(2000, 1800, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let [a, b, c, _] = seed.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut png = Vec::new();
    noise.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let response = server.upload(&tutor, "noise.png", png, &[("purposes", "website")]).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let photo: Value = response.json().await.unwrap();
    let id = photo["id"].as_str().unwrap();

    let mut stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    write!(stream, "GET /api/v1/photos/{id}/image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n")
        .unwrap();
    let mut head = vec![0u8; 4096];
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .expect("a content length");
    let head_length = head.find("\r\n\r\n").expect("the whole head in the first read") + 4;
    assert!(length > 8 << 20, "the image is only {length} bytes");
    (stream, length, n - head_length)
}

/// Reads `stream`, pausing `pause` between reads of at most 64 KiB, until it ends or (if given)
/// `expected` bytes have arrived (a kept-alive connection stays open after a whole response); how
/// many bytes arrived. Panics if the connection stays open 20 s without sending anything.
fn read_slowly(stream: &mut TcpStream, expected: Option<usize>, pause: Duration) -> usize {
    let mut total = 0;
    let mut buffer = vec![0u8; 1 << 16];
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while expected.is_none_or(|expected| total < expected) {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => total += read,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("the connection was still open, silent, after {total} bytes")
            }
            Err(_) => break,
        }
        std::thread::sleep(pause);
    }
    total
}

/// A client that asks for a large image and stops reading it loses its connection once it has
/// taken nothing for the body timeout: a connection with a request in progress is never closed to
/// make room, so without a write timeout it would hold its connection, and the response's memory,
/// for as long as it liked. (Long idle and header timeouts here, so that only the write timeout
/// can end it.)
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_its_response_is_cut_off() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.connections.body_timeout = Duration::from_secs(2);
        s.connections.idle_timeout = Duration::from_secs(120);
        s.connections.header_timeout = Duration::from_secs(120);
    })
    .await;
    let (mut stream, length, first) = large_image_request(&server).await;
    // The client stops reading for more than twice the timeout, then takes what is left: only
    // what the kernel's socket buffers held arrives before the connection ends.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rest = read_slowly(&mut stream, None, Duration::ZERO);
    assert!(first + rest < length, "all {length} bytes arrived though the client had stopped reading for 5 s");
}

/// A download slower than the idle timeout is not cut off: hyper takes a response body whole and
/// counts the request finished while most of it still waits to be sent, and the idle timeout used
/// to close the connection then, losing the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_download_is_not_taken_for_an_idle_connection() {
    let server = TestServer::start_adjusted(Db::Sqlite, Blobs::Fs, |s| {
        s.connections.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let (mut stream, length, first) = large_image_request(&server).await;
    // About 1.3 MB/s: eight seconds for the image, eight idle timeouts.
    let started = Instant::now();
    let rest = read_slowly(&mut stream, Some(length - first), Duration::from_millis(50));
    assert_eq!(first + rest, length, "the download was cut off after {:?}", started.elapsed());
    assert!(started.elapsed() > Duration::from_secs(2), "the download was not slow: {:?}", started.elapsed());
}
