//! What a result page shows once: kept in memory for a few minutes between a form's POST and the
//! redirected GET, keyed by the session and what it is about, and removed when read. It never
//! travels in an address (withdrawal links are secrets) and is never written to disk. With several
//! replicas behind a balancer without sticky sessions the GET may reach another replica, which
//! then says the result is not shown again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a result waits to be shown: the redirect follows at once, so this is generous.
const KEEP: Duration = Duration::from_secs(600);

/// One learner's consent recorded (or grant's link re-issued).
pub(super) struct Recorded {
    /// The grant's withdrawal link.
    pub(super) withdraw_url: Option<String>,
    /// How many photo statuses changed.
    pub(super) statuses_changed: usize,
}

/// One learner's line of a form recorded for several at once.
pub(super) struct BatchLine {
    /// The learner.
    pub(super) learner_id: String,
    /// Their name as the safeguarding lead knows them.
    pub(super) name: String,
    /// The grant's withdrawal link, to hand to whoever signed.
    pub(super) withdraw_url: Option<String>,
    /// How many photo statuses changed.
    pub(super) statuses_changed: usize,
}

/// A result waiting to be shown.
pub(super) enum Result {
    /// One consent, or a re-issued link.
    One(Recorded),
    /// A form recorded for several learners.
    Batch(Vec<BatchLine>),
}

static PENDING: Mutex<Vec<(String, String, Instant, Result)>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<(String, String, Instant, Result)>> {
    // A panic elsewhere while holding the lock leaves plain data behind: still usable.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `result` for the session `session_hash` under `key` (replacing one not yet shown under
/// the same key), and forgets results nobody came for.
pub(super) fn put(session_hash: &str, key: &str, result: Result) {
    let mut pending = pending();
    pending.retain(|(s, k, at, _)| at.elapsed() < KEEP && !(s == session_hash && k == key));
    pending.push((session_hash.to_string(), key.to_string(), Instant::now(), result));
}

/// Takes the session's result under `key`, if it is there and fresh.
pub(super) fn take(session_hash: &str, key: &str) -> Option<Result> {
    let mut pending = pending();
    let at = pending.iter().position(|(s, k, _, _)| s == session_hash && k == key)?;
    let (_, _, when, result) = pending.swap_remove(at);
    (when.elapsed() < KEEP).then_some(result)
}

/// The key of one learner's consent result (`reissued`: a re-issued link's).
pub(super) fn learner_key(learner_id: &str, reissued: bool) -> String {
    format!("{}:{learner_id}", if reissued { "reissued" } else { "recorded" })
}
