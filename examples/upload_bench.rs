//! Upload benchmark against a real server on the embedded default (SQLite + local files):
//! N distinct phone-sized JPEGs uploaded C at a time; prints photos/s, latency percentiles and the
//! server's peak RSS. Run through `bench/uploads`, which builds both binaries first.
//!
//! `upload_bench BINARY [PHOTOS] [CONCURRENCY]`

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// A 4032×3024 photo-like JPEG (gradients, texture and sensor noise) of about 4 MB, distinct per seed.
fn phone_photo(seed: u64) -> Vec<u8> {
    let (w, h) = (4032u32, 3024u32);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state & 0x1F) as u32;
            let t = ((x / 97 + y / 89 + seed as u32) % 7) * 12;
            rgb.extend_from_slice(&[
                ((x * 180 / w) + n + t) as u8,
                ((y * 180 / h) + n / 2 + t) as u8,
                (((x + y + seed as u32 * 31) % 200) / 2 + n) as u8,
            ]);
        }
    }
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 88);
    encoder.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let binary = args.get(1).expect("usage: upload_bench BINARY [PHOTOS] [CONCURRENCY]").clone();
    let photos: usize = args.get(2).map_or(200, |v| v.parse().unwrap());
    let concurrency: usize = args.get(3).map_or(8, |v| v.parse().unwrap());

    eprintln!("generating {photos} distinct 12 MP JPEGs…");
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..photos as u64).into_par_iter().map(phone_photo).collect());
    let mean_size = bodies.iter().map(Vec::len).sum::<usize>() as f64 / photos as f64;

    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new(&binary)
        .args(["--data", &data.path().display().to_string(), "serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CONSENTGATE_LOG", "warn")
        // Any free port: a server already on the default one must not stop the benchmark.
        .env("CONSENTGATE_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first admin token is written to DATA/admin-token before the server listens.
    let token = std::fs::read_to_string(data.path().join("admin-token"))
        .expect("the server writes its first admin token to DATA/admin-token")
        .trim()
        .to_string();

    eprintln!("uploading {photos} photos ({:.1} MB each on average), {concurrency} at a time…", mean_size / 1e6);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(photos)));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, base, token, next, bodies, latencies) =
                (client.clone(), base.clone(), token.clone(), next.clone(), bodies.clone(), latencies.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= bodies.len() {
                        return;
                    }
                    let form = reqwest::multipart::Form::new()
                        .part("file", reqwest::multipart::Part::bytes(bodies[i].clone()).file_name("IMG.jpg"))
                        .text("purposes", "website,social_media")
                        .text("all_tagged", "true");
                    let t = Instant::now();
                    let response = client
                        .post(format!("{base}/api/v1/photos"))
                        .bearer_auth(&token)
                        .multipart(form)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap_or_default());
                    latencies.lock().unwrap().push(t.elapsed());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let rss = peak_rss_kib(server.id());
    server.kill().unwrap();
    server.wait().unwrap();

    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    println!(
        "{photos} uploads of {:.1} MB 12 MP JPEGs, {concurrency} at a time, SQLite + local files: {:.1} photos/s; \
         latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; server peak RSS {:.0} MiB",
        mean_size / 1e6,
        photos as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        rss as f64 / 1024.0,
    );
}
