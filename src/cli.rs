//! The offline commands `scrub` and `fingerprint`: the same media core as the service, over files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use crate::media::{self, Format, Limits, MediaError, Processed, Removed};

/// What one input produced, as printed on one JSON line.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// The input was scrubbed (and, for `scrub`, written).
    Done(Done),
    /// The input was rejected; nothing was written for it.
    Failed {
        /// The path as given or found under a given directory.
        input: String,
        /// Why it was rejected.
        error: ErrorBody,
    },
}

/// A successful result line.
#[derive(Debug, Serialize)]
pub struct Done {
    /// The path as given or found under a given directory.
    pub input: String,
    /// Where the scrubbed file was written (`scrub` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Format of the scrubbed output (HEIF becomes JPEG).
    pub format: Format,
    /// Format the input arrived in.
    pub source_format: Format,
    /// Displayed width, orientation applied.
    pub width: u32,
    /// Displayed height, orientation applied.
    pub height: u32,
    /// blake3 of the scrubbed bytes.
    pub blake3: String,
    /// blake3 of the input bytes.
    pub original_blake3: String,
    /// 256-bit perceptual hash, hex.
    pub phash: String,
    /// What the scrubber removed.
    pub removed: BTreeSet<Removed>,
}

/// `{"code","message"}` of a failed input.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`corrupt_image`, `unsupported_format`, `io_error`, …).
    pub code: &'static str,
    /// What was wrong, for a person.
    pub message: String,
}

impl Report {
    /// Whether this input was rejected.
    pub fn is_failure(&self) -> bool {
        matches!(self, Report::Failed { .. })
    }
}

/// Expands directories (recursively, in name order) into the files beneath them. Paths that do not
/// exist are kept, so that they are reported as errors in their place.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let walk = walkdir::WalkDir::new(input).sort_by_file_name().into_iter();
            for entry in walk {
                match entry {
                    Ok(e) if e.file_type().is_file() => files.push(e.into_path()),
                    Ok(_) => {}
                    Err(e) => files.push(e.path().map_or_else(|| input.clone(), Path::to_path_buf)),
                }
            }
        } else {
            files.push(input.clone());
        }
    }
    files
}

/// Reads a file, refusing one over the byte limit before reading it.
fn read_limited(path: &Path, limits: &Limits) -> Result<Vec<u8>, ErrorBody> {
    let io_error = |e: std::io::Error| ErrorBody { code: "io_error", message: format!("cannot read the file: {e}") };
    let size = std::fs::metadata(path).map_err(io_error)?.len();
    limits.check_bytes(size).map_err(|e| media_error(&e))?;
    std::fs::read(path).map_err(io_error)
}

fn media_error(e: &MediaError) -> ErrorBody {
    ErrorBody { code: e.code(), message: e.to_string() }
}

/// Writes `bytes` to `dir/name` through a temporary file and a rename, so that a crash never leaves
/// a half-written image under its final name.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let target = dir.join(name);
    if target.exists() {
        // Content-addressed: the same name means the same bytes.
        return Ok(target);
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_data()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(target)
}

/// Processes one input; writes its scrubbed output to `out` when given.
pub fn process_file(path: &Path, out: Option<&Path>, limits: &Limits) -> Report {
    let input = path.display().to_string();
    let result =
        read_limited(path, limits).and_then(|bytes| media::process(&bytes, limits).map_err(|e| media_error(&e)));
    let processed: Processed = match result {
        Ok(p) => p,
        Err(error) => return Report::Failed { input, error },
    };
    let Processed { scrubbed, fingerprint } = processed;
    let output = match out {
        Some(dir) => {
            let name = format!("{}.{}", fingerprint.blake3, scrubbed.format.extension());
            match write_atomically(dir, &name, &scrubbed.bytes) {
                Ok(path) => Some(path.display().to_string()),
                Err(e) => {
                    let error = ErrorBody { code: "io_error", message: format!("cannot write the output: {e}") };
                    return Report::Failed { input, error };
                }
            }
        }
        None => None,
    };
    let (width, height) = scrubbed.display_dimensions();
    Report::Done(Done {
        input,
        output,
        format: scrubbed.format,
        source_format: scrubbed.source_format,
        width,
        height,
        blake3: fingerprint.blake3.to_string(),
        original_blake3: fingerprint.original_blake3.to_string(),
        phash: fingerprint.phash.to_string(),
        removed: scrubbed.removed,
    })
}

/// Processes `inputs` in parallel and writes one JSON line per file to `sink`, in input order.
/// Returns whether every input succeeded. A progress bar is drawn on stderr when it is a terminal.
pub fn run(inputs: &[PathBuf], out: Option<&Path>, limits: &Limits, sink: &mut dyn Write) -> std::io::Result<bool> {
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
    }
    let files = expand_inputs(inputs);
    let progress = ProgressBar::new(files.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {per_sec}, eta {eta}").expect("valid template"),
    );
    let mut all_ok = true;
    let mut write_result = Ok(());
    let mut emit = |report: Report| {
        all_ok &= !report.is_failure();
        if write_result.is_ok() {
            write_result = serde_json::to_writer(&mut *sink, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| sink.write_all(b"\n"));
        }
        progress.inc(1);
    };
    if files.len() == 1 {
        // One file, the common case from scripts: no worker threads to start.
        emit(process_file(&files[0], out, limits));
    } else {
        let (tx, rx) = mpsc::channel::<(usize, Report)>();
        std::thread::scope(|scope| {
            let files = &files;
            scope.spawn(move || {
                files.par_iter().enumerate().for_each_with(tx, |tx, (i, path)| {
                    // The receiver only goes away if writing failed; then there is nothing to report to.
                    let _ = tx.send((i, process_file(path, out, limits)));
                });
            });
            // Reorder so that lines come out in input order whatever finishes first.
            let mut pending = BTreeMap::new();
            let mut next = 0;
            for (i, report) in rx {
                pending.insert(i, report);
                while let Some(report) = pending.remove(&next) {
                    emit(report);
                    next += 1;
                }
            }
        });
    }
    progress.finish_and_clear();
    write_result?;
    sink.flush()?;
    Ok(all_ok)
}
