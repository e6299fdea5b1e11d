//! Shared test helpers: the corpus, the exiftool oracle, the fixture generators, the servers and
//! the API calls tests make of them.
#![allow(dead_code)]

/// Runs each named scenario `async fn NAME(server: TestServer)` twice: on SQLite with files, and on
/// a fresh PostgreSQL database with a fresh S3 bucket (moto). `start` makes the server from a
/// `Db` and `Blobs` (default `TestServer::start`).
#[macro_export]
macro_rules! on_both_backends {
    (start = $start:path; $($name:ident),* $(,)?) => {
        mod sqlite_fs {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name($start(super::Db::Sqlite, super::Blobs::Fs).await).await;
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name($start(super::Db::Postgres, super::Blobs::S3).await).await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(start = super::TestServer::start; $($name),*);
    };
}

pub mod api;
pub mod fixtures;
pub mod oracle;
pub mod pages;
pub mod process;
pub mod server;
pub mod smtp;

use std::path::{Path, PathBuf};

/// The real camera and phone files of `../shared/corpus` (or `$CONSENTGATE_CORPUS`).
///
/// Tests must never pass by skipping: a missing corpus is a failure with instructions.
pub fn corpus_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("CONSENTGATE_CORPUS").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")),
        Some(PathBuf::from("/work/shared/corpus")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("jpg").is_dir())
        .expect("the test corpus is missing: put it at ../shared/corpus or set CONSENTGATE_CORPUS")
}

/// The bytes of the corpus file at `rel` (for example `jpg/gps/DSCN0010.jpg`).
pub fn corpus_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(rel)).unwrap()
}

/// Every regular file under `corpus/sub`, sorted, excluding READMEs.
pub fn corpus_files(sub: &str) -> Vec<PathBuf> {
    let root = corpus_dir().join(sub);
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("README"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files under {}", root.display());
    files
}

/// Corpus images that are valid pictures (everything except `jpg/invalid`).
pub fn valid_corpus_images() -> Vec<PathBuf> {
    corpus_files("").into_iter().filter(|p| !p.components().any(|c| c.as_os_str() == "invalid")).collect()
}

/// A short name for messages: the last two path components.
pub fn short(path: &Path) -> String {
    let parent = path.parent().and_then(|p| p.file_name()).map(|s| s.to_string_lossy().into_owned());
    format!("{}/{}", parent.unwrap_or_default(), path.file_name().unwrap().to_string_lossy())
}

/// Mean absolute difference per channel between two RGB images of the same size.
pub fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len() as f64
}
