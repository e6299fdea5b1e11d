//! Subject access: everything consentgate holds about one learner, as one ZIP a learner or their
//! family can be given: their record and guardians, their consent history with the form texts on
//! record, every photo they are pictured in (the scrubbed image while it is kept, and its texts
//! with every other learner's full name cut to a first name and their family name cut wherever it
//! stands alone), the publications and takedowns of
//! those photos, the audit rows about them, and a README.txt saying what each file is.
//!
//! The ZIP is written as a stream (`zip`'s stream writer, entries with data descriptors), one photo
//! at a time, so a learner in 2,000 photos never has 2,000 images in memory: the writer runs on a
//! blocking thread and its output goes through a small bounded channel to the HTTP body or a file.
//! A client that reads slower than [`MIN_RATE`] on average (after [`GRACE`]) is given up, so no
//! download holds a thread for hours.
//!
//! Two audit rows frame each export: `learner_export_started` before the first byte (so an export
//! a crash cut short is on record) and `learner_exported` when it ends, with its outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use std::io::Write;

use serde_json::json;
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

use super::{learners, Actor, App, AppError};
use crate::policy::names::erase::FamilyNames;
use crate::policy::names::{NameEntry, NameIndex};
use crate::store::{time_of_ms, AuditAction, AuditDraft, ConsentRecord, LearnerRecord, Role};

/// Who may export a learner's data: the safeguarding lead.
pub const EXPORTERS: &[Role] = &[Role::Admin];

/// Audit rows read per query while the export is written.
const AUDIT_PAGE: i64 = 1000;

/// An export checked and audited, ready to be written.
pub struct Export {
    learner: LearnerRecord,
    consents: Vec<ConsentRecord>,
    photo_ids: Vec<String>,
    /// Every other learner's names, to cut their full names in texts to first names.
    others: NameIndex,
    /// Every other learner's family name, to cut where it stands alone.
    families: FamilyNames,
    /// Who asked for it (a token id, or `cli`), for the closing audit row.
    actor: String,
}

/// How long an export may take before its pace is checked.
pub const GRACE: Duration = Duration::from_secs(60);

/// The slowest average (bytes a second, over the whole download after [`GRACE`]) a client may
/// read an export at. 64 KiB/s is a very slow office line; a slower reader is taking a blocking
/// thread, not a download.
pub const MIN_RATE: u64 = 64 * 1024;

/// Why a client's download was given up, when it was.
type GivenUp = Arc<OnceLock<&'static str>>;

impl Export {
    /// The file name to offer: the learner's id, never their name.
    pub fn file_name(&self) -> String {
        file_name(&self.learner.id)
    }
}

/// The file name an export of `learner_id` is offered as: the id, never the name.
pub fn file_name(learner_id: &str) -> String {
    format!("consentgate-export-{learner_id}.zip")
}

/// Checks that `actor` may export the learner (an id as given in a path) and that the learner
/// exists, reading nothing else and auditing nothing: what a `HEAD` of the export answers.
pub async fn check(app: &App, actor: &Actor, learner_id: &str) -> Result<String, AppError> {
    actor.require(EXPORTERS)?;
    Ok(learners::show(app, actor, learner_id).await?.id)
}

/// Checks the actor and the learner (an id as given in a path), gathers what the export starts
/// from, and audits `learner_export_started` (it is a child's personal data leaving the service)
/// before a byte is written.
pub async fn prepare(app: &App, actor: &Actor, learner_id: &str) -> Result<Export, AppError> {
    actor.require(EXPORTERS)?;
    let learner = learners::show(app, actor, learner_id).await?;
    let consents = app.store.consents(&learner.id).await?;
    let photo_ids = app.store.photos_picturing(&learner.id).await?;
    let names = app.store.learner_names().await?;
    let subject = names.iter().find(|n| n.learner_id == learner.id).cloned().unwrap_or_else(|| NameEntry {
        learner_id: learner.id.clone(),
        given_name: learner.given_name.clone(),
        preferred_name: learner.preferred_name.clone(),
        family_name: learner.family_name.clone(),
    });
    let families = FamilyNames::build(&subject, names.iter().filter(|n| n.learner_id != learner.id));
    let others = NameIndex::build(names.into_iter().filter(|n| n.learner_id != learner.id));
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::LearnerExportStarted,
        &learner.id,
        json!({ "photos": photo_ids.len(), "consent_events": consents.len() }),
    );
    app.store.append_audit(audit).await?;
    tracing::info!(learner = %learner.id, photos = photo_ids.len(), "subject access export");
    Ok(Export { learner, consents, photo_ids, others, families, actor: actor.token_id.clone() })
}

/// What README.txt says, in plain words.
const README: &str = "\
This is a copy of everything consentgate holds about one learner: the service a training provider
uses so that photos of its learners are published only with consent.

learner.json      The learner's record: names, date of birth, reference, email, groups, the day
                  they left (if they have), and their parents' or guardians' names and emails.
                  Times are in UTC (RFC 3339).
consents.json     Every consent answer on record, oldest first: yes (granted), no (refused) or a
                  withdrawal, for which purposes (website, social media, print, internal), who gave
                  it, when, until when, how (paper form, online form...), the evidence, and the
                  words of the form when consentgate holds them (a paper form's words are kept on
                  paper; their fingerprint, form_text_hash, is here).
photos/ID.json    One file per photo the learner is pictured in: its caption, alt text, title and
                  tags (another learner's full name in them is cut to their first name), whether
                  it may be used for each purpose now and why not, where it was published and
                  any request to take it down.
photos/ID.jpeg    The photo itself (or .png, .webp), without any camera data, while it is kept.
                  A photo whose image was deleted (after a \"no\", or when it was no longer
                  needed) has only its .json file.
audit.jsonl       The audit log's entries about the learner and these photos, one per line,
                  oldest first: when, who (a staff token's id, or system), what happened. The log
                  never holds names.

Questions about this copy go to the organisation that gave it to you.
";

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn rfc3339(ms: i64) -> String {
    time_of_ms(ms).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn zip_error(e: zip::result::ZipError) -> AppError {
    AppError::internal(format!("writing the export: {e}"))
}

impl Export {
    /// Writes the ZIP to `out`, one entry at a time, then audits `learner_exported` with the
    /// outcome: `complete`, or `failed` with why (`client_went_away`, `client_too_slow`,
    /// `error`). Blocking: run it on a blocking thread; it reads the store and the object store
    /// through `runtime`.
    pub fn write_to<W: Write>(self, app: &App, runtime: &tokio::runtime::Handle, out: W) -> Result<(), AppError> {
        self.write_audited(app, runtime, out, &GivenUp::default())
    }

    fn write_audited<W: Write>(
        self,
        app: &App,
        runtime: &tokio::runtime::Handle,
        out: W,
        given_up: &GivenUp,
    ) -> Result<(), AppError> {
        let (actor, learner_id) = (self.actor.clone(), self.learner.id.clone());
        let written = self.write_zip(app, runtime, out);
        let details = match &written {
            Ok(()) => json!({ "outcome": "complete" }),
            Err(_) => json!({ "outcome": "failed", "reason": given_up.get().copied().unwrap_or("error") }),
        };
        let audit = AuditDraft::new(actor, AuditAction::LearnerExported, learner_id, details);
        runtime.block_on(app.store.append_audit(audit))?;
        written
    }

    fn write_zip<W: Write>(self, app: &App, runtime: &tokio::runtime::Handle, out: W) -> Result<(), AppError> {
        let stopped = Arc::new(AtomicBool::new(false));
        let mut zip = zip::ZipWriter::new_stream(Stoppable { inner: out, stopped: stopped.clone() });
        match self.fill_zip(app, runtime, &mut zip) {
            Ok(()) => zip
                .finish()
                .map_err(zip_error)?
                .flush()
                .map_err(|e| AppError::internal(format!("writing the export: {e}"))),
            Err(e) => {
                // Dropping a ZIP writer finishes the archive: stopped first, so nothing more is
                // written and half an export never ends with the directory of a whole one.
                stopped.store(true, Ordering::SeqCst);
                drop(zip);
                Err(e)
            }
        }
    }

    /// Every entry of the export, in order; the archive is finished by the caller.
    fn fill_zip<S: Write + std::io::Seek>(
        &self,
        app: &App,
        runtime: &tokio::runtime::Handle,
        zip: &mut zip::ZipWriter<S>,
    ) -> Result<(), AppError> {
        let text = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).large_file(true);
        // Images are compressed already.
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored).large_file(true);
        let entry = |zip: &mut zip::ZipWriter<_>, name: &str, options, bytes: &[u8]| -> Result<(), AppError> {
            zip.start_file(name, options).map_err(zip_error)?;
            zip.write_all(bytes).map_err(|e| AppError::internal(format!("writing the export: {e}")))
        };
        entry(&mut *zip, "README.txt", text, README.as_bytes())?;

        let l = &self.learner;
        let record = json!({
            "id": l.id, "given_name": l.given_name, "preferred_name": l.preferred_name,
            "family_name": l.family_name, "date_of_birth": l.date_of_birth, "external_ref": l.external_ref,
            "email": l.email, "groups": l.groups, "left_on": l.left_on,
            "erased_at": l.erased_at.map(rfc3339),
            "created_at": rfc3339(l.created_at), "updated_at": rfc3339(l.updated_at),
            "guardians": l.guardians.iter().map(|g| json!({
                "id": g.id, "name": g.name, "email": g.email, "removed_at": g.removed_at.map(rfc3339),
            })).collect::<Vec<_>>(),
        });
        entry(&mut *zip, "learner.json", text, &json_bytes(&record))?;

        let mut consents = Vec::with_capacity(self.consents.len());
        for e in &self.consents {
            let words = runtime.block_on(app.store.form_text(&e.form_text_hash))?;
            consents.push(json!({
                "id": e.id, "kind": e.kind, "purposes": e.purposes,
                "given_by": match &e.giver {
                    crate::policy::consent::Giver::Learner => json!({"learner": l.id}),
                    crate::policy::consent::Giver::Guardian(id) => json!({"guardian": id}),
                },
                "given_at": rfc3339(e.given_at), "expires_at": e.expires_at.map(rfc3339),
                "form_version": e.form_version, "form_text_hash": e.form_text_hash, "form_text": words,
                "method": e.method, "evidence": e.evidence, "recorded_at": rfc3339(e.recorded_at),
            }));
        }
        entry(&mut *zip, "consents.json", text, &json_bytes(&json!(consents)))?;

        let cut = |s: &str| self.families.cut(&self.others.redact(s));
        for photo_id in &self.photo_ids {
            let Some(photo) = runtime.block_on(app.store.photo(photo_id))? else { continue };
            let publications = runtime.block_on(app.store.publications_of(photo_id))?;
            let takedowns = runtime.block_on(app.store.takedowns_of(photo_id))?;
            // One image in memory at a time; one the object store no longer has is said to be gone.
            let image = match photo.image_deleted_at {
                None => runtime.block_on(app.objects.get(&photo.object_key))?,
                Some(_) => None,
            };
            let about = json!({
                "id": photo.id, "uploaded_at": rfc3339(photo.created_at),
                "caption": cut(&photo.caption), "alt_text": cut(&photo.alt_text), "title": cut(&photo.title),
                "tags": self.others.redact_tags(&photo.tags.iter().map(String::as_str).collect::<Vec<_>>())
                    .iter().map(|t| self.families.cut(t)).collect::<Vec<_>>(),
                "others_pictured": photo.learner_ids.iter().filter(|id| **id != l.id).count(),
                "image": if image.is_none() { json!(null) } else {
                    json!(format!("photos/{}.{}", photo.id, photo.format))
                },
                "image_deleted_at": photo.image_deleted_at.map(rfc3339),
                "status": photo.status.iter().map(|(purpose, s)| (purpose.as_str().to_string(), json!({
                    "state": s.state, "reasons": s.reasons,
                }))).collect::<serde_json::Map<_, _>>(),
                "publications": publications.iter().map(|p| json!({
                    "purpose": p.purpose, "url": p.url, "channel": p.channel, "published_at": rfc3339(p.published_at),
                    "caption": cut(&p.caption), "alt_text": cut(&p.alt_text),
                })).collect::<Vec<_>>(),
                "takedowns": takedowns.iter().map(|t| json!({
                    "purpose": t.purpose, "url": t.url, "channel": t.channel, "reasons": t.reasons,
                    "owed_since": rfc3339(t.created_at), "done_at": t.done_at.map(rfc3339),
                })).collect::<Vec<_>>(),
            });
            entry(&mut *zip, &format!("photos/{}.json", photo.id), text, &json_bytes(&about))?;
            if let Some(bytes) = image {
                entry(&mut *zip, &format!("photos/{}.{}", photo.id, photo.format), stored, &bytes)?;
            }
        }

        zip.start_file("audit.jsonl", text).map_err(zip_error)?;
        let mut subjects = vec![l.id.clone()];
        subjects.extend(self.photo_ids.iter().cloned());
        let mut after = 0;
        loop {
            let rows = runtime.block_on(app.store.audit_about(&subjects, after, AUDIT_PAGE))?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for r in &rows {
                let details: serde_json::Value =
                    serde_json::from_str(&r.details).unwrap_or_else(|_| json!(r.details.clone()));
                let line = json!({
                    "seq": r.seq, "at": rfc3339(r.at), "actor": r.actor, "action": r.action,
                    "subject": r.subject, "details": details,
                });
                let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
                bytes.push(b'\n');
                zip.write_all(&bytes).map_err(|e| AppError::internal(format!("writing the export: {e}")))?;
            }
        }
        Ok(())
    }
}

/// A writer that refuses every write once `stopped` is set, or once one write failed.
struct Stoppable<W> {
    inner: W,
    stopped: Arc<AtomicBool>,
}

impl<W: Write> Stoppable<W> {
    fn check(&self) -> std::io::Result<()> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the export stopped"));
        }
        Ok(())
    }

    fn watch<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if result.is_err() {
            self.stopped.store(true, Ordering::SeqCst);
        }
        result
    }
}

impl<W: Write> Write for Stoppable<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.check()?;
        let written = self.inner.write(buf);
        self.watch(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.check()?;
        let flushed = self.inner.flush();
        self.watch(flushed)
    }
}

/// Writes `export` as a stream of chunks for an HTTP body: the ZIP is made on a blocking thread,
/// at most a few chunks ahead of the client. An error half-way ends the stream with an error, so
/// the client sees a broken download rather than a ZIP that looks whole.
pub fn stream(
    app: App,
    export: Export,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let runtime = tokio::runtime::Handle::current();
    let on_error = sender.clone();
    tokio::task::spawn_blocking(move || {
        let given_up = GivenUp::default();
        let writer = ChannelWriter::new(sender, runtime.clone(), given_up.clone());
        if let Err(e) = export.write_audited(&app, &runtime, writer, &given_up) {
            match given_up.get() {
                Some(reason) => tracing::info!(reason, "a subject access export was given up"),
                None => tracing::error!(error = %e, "a subject access export stopped half-way"),
            }
            // An error as the last chunk: the client sees a broken download, not a whole-looking ZIP.
            let error = Err(std::io::Error::other("the export could not be completed"));
            let _ = runtime.block_on(on_error.send_timeout(error, Duration::from_secs(5)));
        }
    });
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Creates the file an export is written to, readable by its owner only (it holds a child's
/// personal data); an existing file is refused. Called before [`prepare`], so an export that
/// cannot be written is neither made nor audited.
pub fn create_file(path: &std::path::Path) -> Result<std::fs::File, AppError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| AppError::invalid(format!("cannot create {}: {e}", path.display())))
}

/// Writes `export` to `file`, made by [`create_file`] at `path`, for the command line; on failure
/// the file is removed, so half a ZIP never passes for a whole one.
pub async fn to_file(app: &App, export: Export, file: std::fs::File, path: &std::path::Path) -> Result<(), AppError> {
    let app = app.clone();
    let runtime = tokio::runtime::Handle::current();
    let written = tokio::task::spawn_blocking(move || export.write_to(&app, &runtime, std::io::BufWriter::new(file)))
        .await
        .map_err(AppError::internal)
        .and_then(|r| r);
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// A `Write` that hands what is written to an async reader in chunks, through a bounded channel: at
/// most a few chunks are ever held, so a slow client slows the writer instead of filling memory,
/// and a client slower than [`MIN_RATE`] (after [`GRACE`]) or gone fails the writer.
pub struct ChannelWriter {
    sender: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    runtime: tokio::runtime::Handle,
    buffer: Vec<u8>,
    started: Instant,
    sent: u64,
    given_up: GivenUp,
}

/// The size a chunk is sent at.
const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    /// A writer sending to `sender`, waiting on `runtime`'s timers, noting in `given_up` why it
    /// gave up on the client, if it does. Call from outside the runtime (a blocking thread).
    pub fn new(
        sender: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
        runtime: tokio::runtime::Handle,
        given_up: GivenUp,
    ) -> ChannelWriter {
        ChannelWriter { sender, runtime, buffer: Vec::with_capacity(CHUNK), started: Instant::now(), sent: 0, given_up }
    }

    /// When the client must have taken the next chunk: after [`GRACE`], the time by which what it
    /// has taken so far would have arrived at [`MIN_RATE`].
    fn deadline(&self) -> Instant {
        self.started + GRACE + Duration::from_secs_f64(self.sent as f64 / MIN_RATE as f64)
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        let length = chunk.len() as u64;
        let wait = self.deadline().saturating_duration_since(Instant::now());
        match self.runtime.block_on(self.sender.send_timeout(Ok(chunk), wait)) {
            Ok(()) => {
                self.sent += length;
                Ok(())
            }
            Err(tokio::sync::mpsc::error::SendTimeoutError::Timeout(_)) => {
                let _ = self.given_up.set("client_too_slow");
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client read the export too slowly"))
            }
            Err(tokio::sync::mpsc::error::SendTimeoutError::Closed(_)) => {
                let _ = self.given_up.set("client_went_away");
                Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
            }
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // At most one chunk is taken at a time (a stored image arrives in one `write_all`, which
        // loops here), so what waits for a slow client is a few chunks, never a few images.
        let taken = buf.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..taken]);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        // What is left when the writer is done (the end of the ZIP).
        let _ = self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime whose timers run while a plain thread waits on its handle, as the server's do
    /// (a current-thread runtime drives its timers only inside its own `block_on`).
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build().unwrap()
    }

    #[test]
    fn a_stopped_export_never_ends_with_the_directory_of_a_whole_zip() {
        // End of central directory: what makes a ZIP reader take a file as whole.
        const END: &[u8] = b"PK\x05\x06";
        let write = |stop: bool| -> Vec<u8> {
            let stopped = Arc::new(AtomicBool::new(false));
            let mut out = Vec::new();
            {
                let mut zip = zip::ZipWriter::new_stream(Stoppable { inner: &mut out, stopped: stopped.clone() });
                zip.start_file("README.txt", SimpleFileOptions::default()).unwrap();
                zip.write_all(b"half of it").unwrap();
                if stop {
                    // As on an error half-way: stopped, then the writer dropped unfinished.
                    stopped.store(true, Ordering::SeqCst);
                } else {
                    zip.finish().unwrap();
                }
            }
            out
        };
        let whole = write(false);
        assert!(whole.windows(END.len()).any(|w| w == END));
        let half = write(true);
        assert!(!half.is_empty() && !half.windows(END.len()).any(|w| w == END));
    }

    #[test]
    fn a_big_write_leaves_in_chunks_of_at_most_64_kib() {
        let runtime = runtime();
        let (sender, mut receiver) = tokio::sync::mpsc::channel(64);
        let image = vec![7u8; 6 * CHUNK + 123];
        {
            let mut writer = ChannelWriter::new(sender, runtime.handle().clone(), GivenUp::default());
            writer.write_all(b"header").unwrap();
            writer.write_all(&image).unwrap();
            writer.flush().unwrap();
        }
        let mut total = 0;
        while let Ok(chunk) = receiver.try_recv() {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= CHUNK, "{}", chunk.len());
            total += chunk.len();
        }
        assert_eq!(total, 6 + image.len());
    }

    #[test]
    fn a_client_that_stops_reading_is_given_up_and_one_that_leaves_too() {
        let runtime = runtime();
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let given_up = GivenUp::default();
        let mut writer = ChannelWriter::new(sender, runtime.handle().clone(), given_up.clone());
        // Pretend the grace and far more have passed while nothing was read.
        writer.started = Instant::now() - GRACE - Duration::from_secs(3600);
        writer.write_all(&[1u8; CHUNK]).unwrap(); // fills the channel's one slot
        let error = writer.write_all(&[2u8; CHUNK]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(given_up.get(), Some(&"client_too_slow"));

        drop(receiver);
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        drop(receiver);
        let given_up = GivenUp::default();
        let mut writer = ChannelWriter::new(sender, runtime.handle().clone(), given_up.clone());
        let error = writer.write_all(&[3u8; CHUNK]).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(given_up.get(), Some(&"client_went_away"));
    }
}
