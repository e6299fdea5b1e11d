//! The audit chain: each row's hash covers its content and the previous row's hash, so editing,
//! deleting or reordering any row breaks every hash after it.

use serde::Serialize;

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Every action the audit log records, in one place: the name stored in each row's `action`
/// column (and read by `GET /api/v1/audit`), so a reader can find every place an action is
/// written from its variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// An API token was created (`consentgate token create`, or the first admin token at start).
    TokenCreated,
    /// A token was revoked (`consentgate token revoke`, or an admin's page); its sessions ended
    /// with it (how many in the details).
    TokenRevoked,
    /// Someone signed in to the pages, with a token or a one-time link (`via` in the details).
    SignedIn,
    /// An admin invited a member of staff: an account was made and its first sign-in link mailed.
    StaffInvited,
    /// A one-time sign-in link was mailed to a member of staff (asked for on the sign-in page, or
    /// sent again by an admin).
    SignInLinkSent,
    /// Someone signed out of the pages.
    SignedOut,
    /// A photo was scrubbed, fingerprinted and stored.
    PhotoUploaded,
    /// An upload by a known caller was refused (its code in the details).
    UploadRejected,
    /// A photo's texts, learners or purposes were edited (field names in the details).
    PhotoEdited,
    /// A photo never published was deleted by its uploader or an admin, rows and image (how many
    /// learners it pictured, and its purposes, in the details).
    PhotoDeleted,
    /// Someone downloaded an image, original or web size, whatever their role (the rendition and
    /// the role in the details). A grid's thumbnail is a view and is not recorded.
    ImageDownloaded,
    /// An admin read a learner's record (API).
    LearnerRead,
    /// An admin read a learner's consent history, with their record (API, or the learner's page).
    ConsentHistoryRead,
    /// An image was deleted after a tagged learner's refusal or withdrawal; the row stays.
    ImageDeleted,
    /// The objects of a deleted image (the image and its renditions) were deleted from the object
    /// store, or could not be: `object_deleted` in the details says which, written after the
    /// deletion was tried, so the log says whether the file is really gone.
    ObjectDeleted,
    /// A learner was added by hand.
    LearnerCreated,
    /// A learner's own fields were corrected (field names in the details).
    LearnerCorrected,
    /// A guardian was added to a learner by hand (the guardian's id in the details).
    GuardianAdded,
    /// A guardian's name or email was corrected (the guardian's id and the field names in the
    /// details, never their values).
    GuardianCorrected,
    /// A guardian was removed: their grants stopped counting, their refusals and withdrawals did
    /// not (the guardian's id in the details).
    GuardianRemoved,
    /// An admin issued a new withdrawal link for a grant, revoking the old one (the event id in the
    /// details, never a token).
    WithdrawalLinkReissued,
    /// One learner was created or changed by an MIS import.
    LearnerImported,
    /// An MIS import as a whole (its counts in the details).
    LearnersImport,
    /// A consent event was recorded by an admin.
    ConsentRecorded,
    /// A consent form template was saved (its id and version in the details, never its words).
    FormTemplateSaved,
    /// A consent form template was retired from the list.
    FormTemplateRetired,
    /// Consent was withdrawn through a withdrawal link.
    ConsentWithdrawn,
    /// A purpose of a photo changed state (held, queued, withdrawn…).
    StatusChanged,
    /// Marketing claimed an item.
    ItemClaimed,
    /// Marketing reported where an item was published.
    ItemPublished,
    /// A publication must come down.
    TakedownOwed,
    /// Marketing confirmed a takedown.
    TakedownDone,
    /// Marketing and the safeguarding leads were emailed that a takedown is owed, or overdue (the
    /// takedown, which notice and how many recipients in the details).
    TakedownNoticeSent,
    /// A consent request was made (by an admin, or by the maintenance loop for a renewal or an
    /// 18th birthday): its kind, purposes and recipient counts in the details, never an address.
    ConsentRequested,
    /// A family answered a consent request on the online form (the events recorded in the
    /// details).
    ConsentRequestAnswered,
    /// A reminder of an unanswered request was queued (the recipient id in the details).
    ReminderQueued,
    /// A message waiting as a letter was marked posted by an admin.
    LetterPosted,
    /// An erasure of a learner's personal data began, with the admin's reason (never naming them).
    ErasureStarted,
    /// A learner's personal data was replaced by a tombstone (counts only).
    LearnerErased,
    /// A subject access export of a learner began (counts only).
    LearnerExportStarted,
    /// A subject access export of a learner ended: its outcome, `complete` or `failed` with why.
    LearnerExported,
}

impl AuditAction {
    /// The name stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "token_created",
            AuditAction::TokenRevoked => "token_revoked",
            AuditAction::SignedIn => "signed_in",
            AuditAction::StaffInvited => "staff_invited",
            AuditAction::SignInLinkSent => "sign_in_link_sent",
            AuditAction::SignedOut => "signed_out",
            AuditAction::PhotoUploaded => "photo_uploaded",
            AuditAction::UploadRejected => "upload_rejected",
            AuditAction::PhotoEdited => "photo_edited",
            AuditAction::PhotoDeleted => "photo_deleted",
            AuditAction::ImageDownloaded => "image_downloaded",
            AuditAction::LearnerRead => "learner_read",
            AuditAction::ConsentHistoryRead => "consent_history_read",
            AuditAction::ImageDeleted => "image_deleted",
            AuditAction::ObjectDeleted => "object_deleted",
            AuditAction::LearnerCreated => "learner_created",
            AuditAction::LearnerCorrected => "learner_corrected",
            AuditAction::GuardianAdded => "guardian_added",
            AuditAction::GuardianCorrected => "guardian_corrected",
            AuditAction::GuardianRemoved => "guardian_removed",
            AuditAction::WithdrawalLinkReissued => "withdrawal_link_reissued",
            AuditAction::LearnerImported => "learner_imported",
            AuditAction::LearnersImport => "learners_import",
            AuditAction::ConsentRecorded => "consent_recorded",
            AuditAction::FormTemplateSaved => "form_template_saved",
            AuditAction::FormTemplateRetired => "form_template_retired",
            AuditAction::ConsentWithdrawn => "consent_withdrawn",
            AuditAction::StatusChanged => "status_changed",
            AuditAction::ItemClaimed => "item_claimed",
            AuditAction::ItemPublished => "item_published",
            AuditAction::TakedownOwed => "takedown_owed",
            AuditAction::TakedownDone => "takedown_done",
            AuditAction::TakedownNoticeSent => "takedown_notice_sent",
            AuditAction::ConsentRequested => "consent_requested",
            AuditAction::ConsentRequestAnswered => "consent_request_answered",
            AuditAction::ReminderQueued => "reminder_queued",
            AuditAction::LetterPosted => "letter_posted",
            AuditAction::ErasureStarted => "erasure_started",
            AuditAction::LearnerErased => "learner_erased",
            AuditAction::LearnerExportStarted => "learner_export_started",
            AuditAction::LearnerExported => "learner_exported",
        }
    }
}

/// What a caller wants recorded; the store adds sequence, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    /// Who acted: a token id, `system`, or `cli`. Never a learner's name.
    pub actor: String,
    /// What happened.
    pub action: AuditAction,
    /// What it happened to: an id, never a name.
    pub subject: String,
    /// A JSON object with detail (codes and ids only).
    pub details: serde_json::Value,
}

impl AuditDraft {
    /// A draft with the given parts.
    pub fn new(
        actor: impl Into<String>,
        action: AuditAction,
        subject: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        AuditDraft { actor: actor.into(), action, subject: subject.into(), details }
    }
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub subject: String,
    /// Detail, as stored (JSON text).
    pub details: String,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

/// Which audit rows to read, newest first: each filter given narrows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSearch {
    /// Rows about one of these subjects (a learner and the photos of them, one photo…).
    pub subjects: Option<Vec<String>>,
    /// Rows of this action (its stored name).
    pub action: Option<String>,
    /// Rows at or after this moment, Unix ms.
    pub from_ms: Option<i64>,
    /// Rows before this moment, Unix ms.
    pub to_ms: Option<i64>,
    /// Rows with `seq` below this.
    pub before: i64,
    /// At most this many.
    pub limit: i64,
}

/// The hash of a row: blake3 over a JSON array of its fields, which is unambiguous however the
/// fields are chosen.
pub fn row_hash(seq: i64, at: i64, actor: &str, action: &str, subject: &str, details: &str, prev_hash: &str) -> String {
    let canonical =
        serde_json::to_string(&("consentgate-audit-v1", seq, at, actor, action, subject, details, prev_hash))
            .expect("strings and integers serialise");
    blake3::hash(canonical.as_bytes()).to_hex().to_string()
}

/// The first row that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit row {seq} does not verify: {reason}")]
pub struct ChainError {
    /// Sequence number of the first bad row.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a chain given in sequence order, continuing from `prev` (seq and hash of the row before
/// the first, or `(0, GENESIS_HASH)`). Returns the last row's seq and hash.
pub fn verify_chain<'a>(
    rows: impl IntoIterator<Item = &'a AuditRecord>,
    prev: (i64, String),
) -> Result<(i64, String), ChainError> {
    let (mut seq, mut hash) = prev;
    for row in rows {
        let bad = |reason: &str| ChainError { seq: row.seq, reason: reason.into() };
        if row.seq != seq + 1 {
            return Err(ChainError { seq: seq + 1, reason: format!("missing; the next row is {}", row.seq) });
        }
        if row.prev_hash != hash {
            return Err(bad("its prev_hash is not the hash of the row before"));
        }
        let expected = row_hash(row.seq, row.at, &row.actor, &row.action, &row.subject, &row.details, &row.prev_hash);
        if row.hash != expected {
            return Err(bad("its content does not match its hash (edited)"));
        }
        seq = row.seq;
        hash = row.hash.clone();
    }
    Ok((seq, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let hash = row_hash(seq, seq * 10, "t1", "photo_uploaded", "p", "{}", &prev);
                let row = AuditRecord {
                    seq,
                    at: seq * 10,
                    actor: "t1".into(),
                    action: "photo_uploaded".into(),
                    subject: "p".into(),
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let rows = chain(5);
        assert_eq!(verify_chain(&rows, (0, GENESIS_HASH.into())).unwrap().0, 5);
    }

    #[test]
    fn edits_deletions_and_reorders_are_found_at_the_first_bad_row() {
        let mut edited = chain(5);
        edited[2].subject = "q".into();
        assert_eq!(verify_chain(&edited, (0, GENESIS_HASH.into())).unwrap_err().seq, 3);

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(verify_chain(&deleted, (0, GENESIS_HASH.into())).unwrap_err().seq, 2);

        let mut rehashed = chain(5);
        rehashed[1].details = "{\"x\":1}".into();
        rehashed[1].hash = row_hash(2, 20, "t1", "photo_uploaded", "p", "{\"x\":1}", &rehashed[1].prev_hash);
        // Re-hashing one row is not enough: the next row's prev_hash gives it away.
        assert_eq!(verify_chain(&rehashed, (0, GENESIS_HASH.into())).unwrap_err().seq, 3);
    }
}
