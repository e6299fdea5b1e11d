//! Stored images and what is derived from them: a deletion reaches every copy of a picture (twins
//! uploaded with other metadata) and every rendition, renditions are made once, and a picture's
//! memory is bounded by more than its file size (a 100 MP PNG of a few hundred kilobytes).

mod common;

use std::time::Duration;

use common::api::{consenting_adult, get, upload_tagged};
use common::fixtures::distinct_jpeg;
use common::server::{Blobs, Db, TestServer};
use consentgate::objects::Objects;
use consentgate::store::Role;
use serde_json::Value;

on_both_backends!(a_deleted_image_survives_in_no_twin_and_no_rendition, a_rendition_is_made_once,);

/// The status of `GET /api/v1/photos/{id}/image?rendition=…` as the admin, who may read any image
/// still kept.
async fn image_status(server: &TestServer, id: &str, rendition: &str) -> u16 {
    get(server, &server.admin, &format!("/api/v1/photos/{id}/image?rendition={rendition}")).await.status().as_u16()
}

/// The same picture uploaded twice with different trailing bytes (two photo rows, one scrubbed
/// content), tagged with different learners by different tutors. One of the learners withdraws:
/// neither photo's image, original or rendition, can be had any more, the object store holds no
/// copy, and the audit log says each file is really gone.
async fn a_deleted_image_survives_in_no_twin_and_no_rendition(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let colleague = server.token(Role::Tutor).await;
    let (zara, withdraw) = consenting_adult(&server, "Zara", "Twintest", &["website"]).await;
    let (amira, _) = consenting_adult(&server, "Amira", "Twintest", &["website"]).await;
    let picture = distinct_jpeg(11, 900, 600);
    let mut first = picture.clone();
    first.extend_from_slice(b"trailing bytes of one camera");
    let mut second = picture;
    second.extend_from_slice(b"and of another");
    let one = upload_tagged(&server, &tutor, first, "website", &[&zara], &[("caption", "Workshop")]).await;
    let two = upload_tagged(&server, &colleague, second, "website", &[&amira], &[("caption", "Bench")]).await;
    assert_eq!(one["blake3"], two["blake3"], "the two uploads scrub to the same bytes");
    let ids = [one["id"].as_str().unwrap().to_string(), two["id"].as_str().unwrap().to_string()];
    for id in &ids {
        for rendition in ["original", "thumb", "web"] {
            assert_eq!(image_status(&server, id, rendition).await, 200, "{id} {rendition}");
        }
    }
    assert!(!server.objects.list_photos().await.unwrap().is_empty());

    assert_eq!(server.client.post(&withdraw).send().await.unwrap().status(), 200);

    for id in &ids {
        for rendition in ["original", "thumb", "web"] {
            assert_eq!(image_status(&server, id, rendition).await, 410, "{id} {rendition} after the withdrawal");
        }
    }
    let left = server.objects.list_photos().await.unwrap();
    assert!(left.is_empty(), "the object store still holds {left:?}");
    let audit = server.store.audit_log(0, 10_000).await.unwrap();
    for id in &ids {
        let gone = audit.iter().find(|r| r.action == "object_deleted" && &r.subject == id);
        let details: Value = serde_json::from_str(&gone.expect("an object_deleted row").details).unwrap();
        assert_eq!(details["object_deleted"], true, "{details}");
    }
    let twin = audit.iter().find(|r| r.action == "image_deleted" && r.subject == ids[1]).expect("the twin's deletion");
    assert_eq!(serde_json::from_str::<Value>(&twin.details).unwrap()["twin_of"], ids[0].as_str());
}

/// A thumbnail is decoded once: the first view stores it beside the image, and later views answer
/// that stored object (a stand-in put there is what comes back, byte for byte).
async fn a_rendition_is_made_once(server: TestServer) {
    let tutor = server.token(Role::Tutor).await;
    let (ben, _) = consenting_adult(&server, "Ben", "Renditiontest", &["website"]).await;
    let photo = upload_tagged(&server, &tutor, distinct_jpeg(12, 1600, 1200), "website", &[&ben], &[]).await;
    let id = photo["id"].as_str().unwrap();
    let key = Objects::rendition_key(&server.store.photo(id).await.unwrap().unwrap().object_key, "thumb");
    assert_eq!(server.objects.get(&key).await.unwrap(), None, "no thumbnail before the first view");
    let path = format!("/api/v1/photos/{id}/image?rendition=thumb");
    let first = get(&server, &server.admin, &path).await.bytes().await.unwrap();
    assert_eq!(image::load_from_memory(&first).unwrap().width(), 480);
    assert_eq!(server.objects.get(&key).await.unwrap().as_deref(), Some(&first[..]), "the thumbnail is stored");
    assert_eq!(get(&server, &server.admin, &path).await.bytes().await.unwrap(), first, "the same bytes again");
    let stand_in = distinct_jpeg(13, 48, 36);
    server.objects.put(&key, stand_in.clone().into()).await.unwrap();
    assert_eq!(get(&server, &server.admin, &path).await.bytes().await.unwrap(), stand_in, "decoded again");
}

/// A 10000×10000 RGB PNG (a few hundred kilobytes: every row alike but for a few) uploaded to the
/// real binary and shown as a thumbnail: the server's peak resident memory, read from `VmHWM` in
/// /proc, stays under 100 MiB (a full decode alone is 300 MB of pixels; it peaked at 400 MiB here
/// before PNGs were reduced row by row, 25 MiB since).
#[tokio::test(flavor = "multi_thread")]
async fn a_100_megapixel_png_is_scrubbed_and_shown_in_bounded_memory() {
    const SIDE: u32 = 10_000;
    const BOUND_KIB: u64 = 100 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let run = |args: &[&str]| {
        let out = common::process::command().args(["--data", &data]).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["migrate"]);
    let admin =
        run(&["token", "create", "--role", "admin", "--name", "Memory Test"]).lines().last().unwrap().to_string();
    let mut server = common::process::start(&["--data".to_string(), data.clone()]);

    let png = big_png(SIDE);
    assert!(png.len() < 2_000_000, "{} bytes", png.len());
    let client = reqwest::Client::new();
    let upload = common::api::send_upload(&client, &server.base, &admin, "big.png", png, &[("purposes", "website")])
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let photo: Value = upload.json().await.unwrap();
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(10_000), Some(10_000)));
    let id = photo["id"].as_str().unwrap();
    let thumb = client
        .get(format!("{}/api/v1/photos/{id}/image?rendition=thumb", server.base))
        .bearer_auth(&admin)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), 200);
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (480, 480));

    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let _ = server.child.kill();
    let _ = server.child.wait();
    let peak: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    eprintln!("server peak RSS (VmHWM): {} MiB", peak / 1024);
    assert!(peak < BOUND_KIB, "the server peaked at {} MiB", peak / 1024);
}

/// A `side`×`side` 8-bit RGB PNG, written a row at a time (the test never holds its pixels): a
/// gradient across, with a band of other rows, so it compresses to a few hundred kilobytes.
fn big_png(side: u32) -> Vec<u8> {
    // The stream writer wants to own what it writes to: a file, read back once finished.
    let mut file = tempfile::tempfile().unwrap();
    let mut encoder = png::Encoder::new(file.try_clone().unwrap(), side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap().into_stream_writer().unwrap();
    let plain: Vec<u8> = (0..side).flat_map(|x| [(x % 256) as u8, 128, 64]).collect();
    let band: Vec<u8> = (0..side).flat_map(|x| [255, (x % 256) as u8, 0]).collect();
    for y in 0..side {
        let row = if (4_000..4_500).contains(&y) { &band } else { &plain };
        std::io::Write::write_all(&mut writer, row).unwrap();
    }
    writer.finish().unwrap();
    let mut out = Vec::new();
    std::io::Seek::rewind(&mut file).unwrap();
    std::io::Read::read_to_end(&mut file, &mut out).unwrap();
    out
}
