//! Criterion benches of the media core on a 4 MB phone JPEG: scrub alone, fingerprint alone, and
//! the whole upload pipeline. Run with `cargo bench --bench media`.

use std::path::PathBuf;

use consentgate::media::{self, fingerprint, scrub, Format, Limits};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn corpus() -> PathBuf {
    let candidates = [
        std::env::var_os("CONSENTGATE_CORPUS").map(PathBuf::from),
        Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus"))),
        Some(PathBuf::from("/work/shared/corpus")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir()).expect("corpus missing: set CONSENTGATE_CORPUS")
}

/// A 12-megapixel, ~4 MB phone JPEG with the phone's real Exif (GPS, MakerNotes) in front: the
/// Nokia 8.3 photo of the corpus, scaled to 4032×3024 (an iPhone's size) and encoded at quality 98.
pub fn phone_jpeg_4mb() -> Vec<u8> {
    let original = std::fs::read(corpus().join("jpg/mobile/HMD_Nokia_8.3_5G.jpg")).unwrap();
    let img = image::load_from_memory(&original).unwrap();
    let big = img.resize_exact(4032, 3024, image::imageops::FilterType::Triangle).into_rgb8();
    let mut encoded = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, 98).encode_image(&big).unwrap();
    // Splice the original's APP1 Exif segment in after SOI.
    let app1 = original.windows(2).position(|w| w == [0xFF, 0xE1]).unwrap();
    let len = usize::from(u16::from_be_bytes([original[app1 + 2], original[app1 + 3]]));
    let mut out = encoded[..2].to_vec();
    out.extend_from_slice(&original[app1..app1 + 2 + len]);
    out.extend_from_slice(&encoded[2..]);
    out
}

fn benches(c: &mut Criterion) {
    let limits = Limits::default();
    let photo = phone_jpeg_4mb();
    let label = format!("{:.1}MB_12MP_jpeg", photo.len() as f64 / 1e6);
    let scrubbed = scrub::scrub(&photo, Format::Jpeg, &limits).unwrap();

    let mut group = c.benchmark_group("media");
    group.throughput(Throughput::Bytes(photo.len() as u64));
    group.bench_with_input(BenchmarkId::new("scrub", &label), &photo, |b, photo| {
        b.iter(|| scrub::scrub(photo, Format::Jpeg, &limits).unwrap())
    });
    group.bench_with_input(BenchmarkId::new("fingerprint", &label), &scrubbed, |b, scrubbed| {
        b.iter(|| fingerprint::perceptual_hash(scrubbed, &limits).unwrap())
    });
    group.bench_with_input(BenchmarkId::new("blake3", &label), &photo, |b, photo| b.iter(|| blake3::hash(photo)));
    group.bench_with_input(BenchmarkId::new("process", &label), &photo, |b, photo| {
        b.iter(|| media::process(photo, &limits).unwrap())
    });
    group.finish();

    let heic = std::fs::read(corpus().join("heic/mobile/iphone_13_pro_max.HEIC")).unwrap();
    let mut group = c.benchmark_group("media_heic");
    group.sample_size(10);
    group.bench_with_input(BenchmarkId::new("process", "iphone_13_pro_max_12MP"), &heic, |b, heic| {
        b.iter(|| media::process(heic, &limits).unwrap())
    });
    group.finish();
}

criterion_group!(media_benches, benches);
criterion_main!(media_benches);
