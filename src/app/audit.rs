//! Reading the audit log (admins only). Every action it records is an [`AuditAction`]; rows are
//! written by the use cases and the store in the same transaction as what they record.

pub use crate::store::AuditAction;

use super::{Actor, App, AppError};
use crate::store::{AuditRecord, AuditSearch, Role};

/// Who may read the audit log: safeguarding leads.
pub const AUDITORS: &[Role] = &[Role::Admin];

/// Audit rows with `seq > after`, oldest first, at most `limit` (clamped to 1..=1000).
pub async fn log(app: &App, actor: &Actor, after: i64, limit: i64) -> Result<Vec<AuditRecord>, AppError> {
    actor.require(AUDITORS)?;
    Ok(app.store.audit_log(after.max(0), limit.clamp(1, 1000)).await?)
}

/// Every action the log records, with the words the audit page says it in ("Sam Lead *signed in*").
pub const ACTIONS: &[(&str, &str)] = &[
    ("token_created", "made a token"),
    ("token_revoked", "revoked a token or account"),
    ("signed_in", "signed in"),
    ("signed_out", "signed out"),
    ("staff_invited", "invited a member of staff"),
    ("sign_in_link_sent", "sent a sign-in link"),
    ("photo_uploaded", "uploaded a photo"),
    ("upload_rejected", "had an upload refused"),
    ("photo_edited", "edited a photo"),
    ("photo_deleted", "deleted a photo"),
    ("image_downloaded", "downloaded an image"),
    ("image_deleted", "deleted an image after a \"no\""),
    ("object_deleted", "removed an image's files"),
    ("status_changed", "changed a photo's status"),
    ("item_claimed", "claimed a photo to publish"),
    ("item_published", "recorded a publication"),
    ("takedown_owed", "owed a takedown"),
    ("takedown_notice_sent", "emailed marketing and the leads about a takedown"),
    ("takedown_done", "confirmed a takedown"),
    ("learner_read", "read a learner's record"),
    ("consent_history_read", "read a learner's consent history"),
    ("learner_created", "added a learner"),
    ("learner_corrected", "corrected a learner's details"),
    ("learner_imported", "imported a learner"),
    ("learners_import", "imported a learners file"),
    ("guardian_added", "added a guardian"),
    ("guardian_corrected", "corrected a guardian's details"),
    ("guardian_removed", "removed a guardian"),
    ("consent_recorded", "recorded consent"),
    ("consent_withdrawn", "withdrew consent"),
    ("withdrawal_link_reissued", "issued a withdrawal link again"),
    ("form_template_saved", "saved a consent form"),
    ("form_template_retired", "retired a consent form"),
    ("consent_requested", "asked families for consent"),
    ("consent_request_answered", "answered a consent request"),
    ("reminder_queued", "sent a reminder"),
    ("letter_posted", "posted a letter"),
    ("erasure_started", "started an erasure"),
    ("learner_erased", "erased a learner"),
    ("learner_export_started", "started a subject access export"),
    ("learner_exported", "exported a learner's data"),
];

/// The words for an action's stored name (the name itself for one this build does not know).
pub fn action_words(action: &str) -> &str {
    ACTIONS.iter().find(|(code, _)| *code == action).map_or(action, |(_, words)| words)
}

/// Actions whose subject is a learner.
const ABOUT_LEARNER: &[&str] = &[
    "learner_read",
    "consent_history_read",
    "learner_created",
    "learner_corrected",
    "learner_imported",
    "guardian_added",
    "guardian_corrected",
    "guardian_removed",
    "consent_recorded",
    "consent_withdrawn",
    "withdrawal_link_reissued",
    "consent_request_answered",
    "reminder_queued",
    "erasure_started",
    "learner_erased",
    "learner_export_started",
    "learner_exported",
];
/// Actions whose subject is a photo.
const ABOUT_PHOTO: &[&str] = &[
    "photo_uploaded",
    "photo_edited",
    "photo_deleted",
    "image_downloaded",
    "image_deleted",
    "object_deleted",
    "status_changed",
    "item_claimed",
    "item_published",
    "takedown_owed",
    "takedown_notice_sent",
    "takedown_done",
];
/// Actions whose subject is a token or staff account.
const ABOUT_STAFF: &[&str] =
    &["token_created", "token_revoked", "signed_in", "signed_out", "staff_invited", "sign_in_link_sent"];

/// What an audit row is about, so the page can link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A learner (their page).
    Learner(String),
    /// A photo (its edit page and history).
    Photo(String),
    /// A token or staff account, by name.
    Staff(String),
    /// A consent request.
    Request(String),
    /// Nothing to link to: the stored subject as it is (`-` for none).
    Other(String),
}

impl Subject {
    fn of(action: &str, subject: &str) -> Subject {
        let subject = subject.to_string();
        if ABOUT_LEARNER.contains(&action) {
            Subject::Learner(subject)
        } else if ABOUT_PHOTO.contains(&action) {
            Subject::Photo(subject)
        } else if ABOUT_STAFF.contains(&action) {
            Subject::Staff(subject)
        } else if action == "consent_requested" {
            Subject::Request(subject)
        } else {
            Subject::Other(subject)
        }
    }
}

/// One row as the audit page shows it: the record, who acted by name, what it is about.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The row as stored (and hashed).
    pub record: AuditRecord,
    /// The name of the token or account that acted (`system`, `the command line`).
    pub actor_name: String,
    /// What it is about.
    pub subject: Subject,
    /// For a staff subject, their name.
    pub subject_name: Option<String>,
}

/// What the audit page and its CSV filter by; each filter given narrows the rows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A learner: rows about them and about every photo of them.
    pub learner: Option<String>,
    /// A photo: rows about it.
    pub photo: Option<String>,
    /// An action's stored name (one of [`ACTIONS`]).
    pub action: Option<String>,
    /// The first day shown, in the organisation's zone.
    pub from: Option<time::Date>,
    /// The last day shown, in the organisation's zone.
    pub to: Option<time::Date>,
}

/// A page of the log as found.
#[derive(Debug, Clone)]
pub struct AuditFound {
    /// The rows, newest first.
    pub entries: Vec<AuditEntry>,
    /// The `before` of the next (older) page, when there may be one.
    pub older: Option<i64>,
    /// The chain's head (`seq`, hash), to keep as an anchor.
    pub head: (i64, String),
}

async fn search_of(app: &App, filter: &AuditFilter) -> Result<AuditSearch, AppError> {
    let zone = app.settings.rules.zone;
    let day_start = |date: time::Date| zone.start_of_day(date).map(crate::store::ms_of_time);
    let mut subjects: Option<Vec<String>> = None;
    if let Some(learner) = &filter.learner {
        let id = super::input::body_id(learner)
            .ok_or_else(|| AppError::invalid_field("learner", "open the learner's page and follow its audit link"))?;
        let mut about = vec![id.clone()];
        about.extend(app.store.photos_picturing(&id).await?);
        subjects = Some(about);
    }
    if let Some(photo) = &filter.photo {
        let id =
            super::input::body_id(photo).ok_or_else(|| AppError::invalid_field("photo", "this is not a photo's id"))?;
        subjects = Some(match subjects {
            Some(list) => list.into_iter().filter(|s| *s == id).collect(),
            None => vec![id],
        });
    }
    if let Some(action) = &filter.action {
        if !ACTIONS.iter().any(|(code, _)| code == action) {
            return Err(AppError::invalid_field("action", "choose what happened from the list"));
        }
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        if to < from {
            return Err(AppError::invalid_field("to", "the last day comes before the first"));
        }
    }
    Ok(AuditSearch {
        subjects,
        action: filter.action.clone(),
        from_ms: filter.from.and_then(day_start),
        to_ms: filter.to.and_then(|d| d.next_day()).and_then(day_start),
        before: i64::MAX,
        limit: 100,
    })
}

/// Names the actors and subjects of `records`.
async fn entries(app: &App, records: Vec<AuditRecord>) -> Result<Vec<AuditEntry>, AppError> {
    let names: std::collections::HashMap<String, String> =
        app.store.tokens().await?.into_iter().map(|t| (t.id, t.name)).collect();
    let name_of = |id: &str| match id {
        "system" => "consentgate".to_string(),
        "cli" => "the command line".to_string(),
        super::staff::SIGN_IN_PAGE => "someone on the sign-in page".to_string(),
        "" | "-" => "someone".to_string(),
        id => names.get(id).cloned().unwrap_or_else(|| id.to_string()),
    };
    Ok(records
        .into_iter()
        .map(|record| {
            let subject = Subject::of(&record.action, &record.subject);
            let subject_name = match &subject {
                Subject::Staff(id) => names.get(id).cloned(),
                _ => None,
            };
            AuditEntry { actor_name: name_of(&record.actor), subject, subject_name, record }
        })
        .collect())
}

/// A page of the log, newest first, matching `filter`, with rows before `before` (default: the
/// newest), at most `page` of them.
pub async fn search(
    app: &App,
    actor: &Actor,
    filter: &AuditFilter,
    before: Option<i64>,
    page: i64,
) -> Result<AuditFound, AppError> {
    actor.require(AUDITORS)?;
    let mut search = search_of(app, filter).await?;
    search.before = before.unwrap_or(i64::MAX).max(1);
    search.limit = page.clamp(1, 1000);
    let records = app.store.audit_search(&search).await?;
    let older = (records.len() as i64 == search.limit).then(|| records.last().map(|r| r.seq)).flatten();
    Ok(AuditFound { entries: entries(app, records).await?, older, head: app.store.audit_head().await? })
}

/// A cell a spreadsheet will not run: one starting like a formula (a name typed as
/// `=HYPERLINK(…)`) gets a leading apostrophe, which spreadsheets show as text.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Most rows one CSV holds: a filter narrows a bigger log.
pub const CSV_ROWS: i64 = 100_000;

/// The rows matching `filter` as CSV (newest first, at most [`CSV_ROWS`]): sequence, time (UTC),
/// who (id and name), action, subject, details and the row's hash, so a copy can be checked
/// against the chain.
pub async fn csv(app: &App, actor: &Actor, filter: &AuditFilter) -> Result<String, AppError> {
    actor.require(AUDITORS)?;
    let mut search = search_of(app, filter).await?;
    search.before = i64::MAX;
    search.limit = 1000;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = ["seq", "at", "actor", "actor_name", "action", "subject", "details", "hash"];
    out.write_record(header).map_err(AppError::internal)?;
    let mut written = 0;
    while written < CSV_ROWS {
        let records = app.store.audit_search(&search).await?;
        let Some(last) = records.last().map(|r| r.seq) else { break };
        let full = records.len() as i64 == search.limit;
        for e in entries(app, records).await? {
            let at = crate::store::time_of_ms(e.record.at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let seq = e.record.seq.to_string();
            // Only the name is typed by people: the other cells are kept exactly as stored and
            // hashed (details are JSON objects, subjects ids or `-`), so a copy checks against the
            // chain.
            let name = spreadsheet_safe(&e.actor_name);
            let cells = [
                seq.as_str(),
                &at,
                &e.record.actor,
                &name,
                &e.record.action,
                &e.record.subject,
                &e.record.details,
                &e.record.hash,
            ];
            out.write_record(cells).map_err(AppError::internal)?;
            written += 1;
        }
        if !full {
            break;
        }
        search.before = last;
    }
    let bytes = out.into_inner().map_err(AppError::internal)?;
    String::from_utf8(bytes).map_err(AppError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_words_and_each_is_listed_once() {
        let codes: std::collections::BTreeSet<&str> = ACTIONS.iter().map(|(code, _)| *code).collect();
        assert_eq!(codes.len(), ACTIONS.len());
        for action in [AuditAction::SignedIn, AuditAction::TakedownNoticeSent, AuditAction::LearnerErased] {
            assert_ne!(action_words(action.as_str()), action.as_str(), "{action:?}");
        }
        assert_eq!(action_words("from_a_newer_build"), "from_a_newer_build");
        for code in ABOUT_LEARNER.iter().chain(ABOUT_PHOTO).chain(ABOUT_STAFF) {
            assert!(codes.contains(code), "{code}");
        }
    }

    #[test]
    fn subjects_link_by_what_the_action_is_about() {
        assert_eq!(Subject::of("consent_recorded", "l1"), Subject::Learner("l1".into()));
        assert_eq!(Subject::of("takedown_owed", "p1"), Subject::Photo("p1".into()));
        assert_eq!(Subject::of("staff_invited", "t1"), Subject::Staff("t1".into()));
        assert_eq!(Subject::of("consent_requested", "r1"), Subject::Request("r1".into()));
        assert_eq!(Subject::of("learners_import", "-"), Subject::Other("-".into()));
    }

    #[test]
    fn cells_that_look_like_formulas_are_text() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("-1"), "'-1");
        assert_eq!(spreadsheet_safe("Sam Lead"), "Sam Lead");
        assert_eq!(spreadsheet_safe("{\"role\":\"admin\"}"), "{\"role\":\"admin\"}");
    }
}
