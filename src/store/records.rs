//! The records the store reads and writes, and the outcomes of its atomic decisions. Plain data:
//! the rules that fill them in live in `policy`, the SQL that stores them in `store::sql`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::policy::consent::{ConsentEvent, EventKind, Giver, Rules};
use crate::policy::{Purpose, PurposeStatus};

/// A user's role: what their token lets them do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Safeguarding lead: learners, consent, review, audit.
    Admin,
    /// Uploads session photos.
    Tutor,
    /// Takes released photos from the queue.
    Marketing,
}

impl Role {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Tutor => "tutor",
            Role::Marketing => "marketing",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "tutor" => Ok(Role::Tutor),
            "marketing" => Ok(Role::Marketing),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored API token: its public id, and the blake3 of its secret half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id (the part of the token before the secret).
    pub id: String,
    /// What the token may do.
    pub role: Role,
    /// Who holds it, for the audit log.
    pub name: String,
    /// blake3 of the secret, hex.
    pub secret_hash: String,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// When it stops working, Unix milliseconds; `None`: never.
    pub expires_at: Option<i64>,
    /// When it was revoked, Unix milliseconds; `None` while it is not.
    pub revoked_at: Option<i64>,
    /// A staff account's email address (lower-cased), where its one-time sign-in links go; `None`
    /// for an API token. An account's secret was never given to anyone: it signs in by link only.
    pub email: Option<String>,
}

/// A one-time sign-in link of a staff account: only the blake3 of its secret is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLink {
    /// blake3 of the link's secret, hex.
    pub id_hash: String,
    /// The account it signs in as.
    pub token_id: String,
    /// Unix ms.
    pub created_at: i64,
    /// When it stops working, Unix ms.
    pub expires_at: i64,
    /// When it was used (it works once), Unix ms.
    pub used_at: Option<i64>,
}

/// What revoking a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Revoked now; this many of its browser sessions were ended with it.
    Revoked {
        /// Sessions deleted in the same transaction.
        sessions_ended: u64,
    },
    /// It had been revoked already, at this time (Unix ms); nothing changed.
    AlreadyRevoked(i64),
    /// No token has this id.
    Unknown,
}

/// A stored photo: the scrubbed object's key and facts, the tutor's text, tags and purposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoRecord {
    /// Photo id (UUIDv7).
    pub id: String,
    /// Key of the scrubbed image in the object store.
    pub object_key: String,
    /// Output format name (`jpeg`, `png`, `webp`).
    pub format: String,
    /// Displayed width.
    pub width: i64,
    /// Displayed height.
    pub height: i64,
    /// Size of the scrubbed image in bytes.
    pub byte_size: i64,
    /// blake3 of the scrubbed bytes, hex.
    pub blake3: String,
    /// blake3 of the uploaded bytes, hex.
    pub original_blake3: String,
    /// Perceptual hash, hex.
    pub phash: String,
    /// What the scrubber removed, as a JSON array of names.
    pub removed: String,
    /// Caption as written by the tutor.
    pub caption: String,
    /// Alt text as written by the tutor.
    pub alt_text: String,
    /// Title for publication.
    pub title: String,
    /// Tags for publication (keywords, hashtags).
    pub tags: Vec<String>,
    /// The tutor confirmed everyone pictured is tagged.
    pub all_tagged: bool,
    /// Token id of the uploader.
    pub uploaded_by: String,
    /// Upload time, Unix milliseconds.
    pub created_at: i64,
    /// Learners pictured.
    pub learner_ids: Vec<String>,
    /// Purposes asked for.
    pub purposes: Vec<Purpose>,
    /// The stored status of each purpose asked for (filled in by the store; ignored on insert).
    pub status: BTreeMap<Purpose, PurposeStatus>,
    /// Learners whose withdrawn or refused photo this one resembles, with that photo's id (set on
    /// insert; read back from the store).
    pub resembles: Vec<(String, String)>,
    /// When the image was deleted (after everyone's consent was withdrawn or refused); the row and
    /// its fingerprints stay.
    pub image_deleted_at: Option<i64>,
}

/// An image marked deleted ("retired"): its photo and the key of its object, which the caller
/// deletes (with its renditions) once the retirement has committed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetiredImage {
    /// The photo whose image was retired.
    pub photo_id: String,
    /// The key of its scrubbed image.
    pub object_key: String,
}

/// What `delete_photo` did. A photo may be deleted only while nothing outside consentgate
/// depends on it: where it went matters once it is published, and a fingerprint kept after a "no"
/// is what stops the picture coming back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotoDeletion {
    /// Deleted with its learners, purposes and blocks; the object key is returned when no other
    /// photo refers to it, for the caller to delete once the transaction has committed.
    Deleted(Option<String>),
    /// No such photo.
    Missing,
    /// Marketing has published it (or a takedown was owed for it): it stays on record.
    Published,
    /// Marketing has claimed one of its purposes (now, or at some time before) or downloaded it:
    /// it may be out in the world.
    Claimed,
    /// Its image was deleted after a "no"; the row is the fingerprint that blocks a re-upload.
    Retired,
    /// Another upload is held because it looks like this photo of a learner who said no.
    Evidence,
}

/// A consent form saved once (its version and exact words) to be chosen when consent given on it
/// is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormTemplate {
    /// Its id.
    pub id: String,
    /// What staff call it ("Photo consent, September 2026").
    pub name: String,
    /// The version printed on the form; one text for good.
    pub form_version: String,
    /// blake3 of the words.
    pub form_text_hash: String,
    /// The words, as kept in `form_texts`.
    pub form_text: String,
    /// When it was saved (Unix ms).
    pub created_at: i64,
    /// The token that saved it.
    pub created_by: String,
    /// When it was retired from the list, if it was.
    pub retired_at: Option<i64>,
}

/// One consent event to record with others in one transaction (`record_consents`).
#[derive(Debug, Clone)]
pub struct ConsentToRecord {
    /// The event, checked.
    pub event: ConsentRecord,
    /// The blake3 of a grant's withdrawal token.
    pub link_token_hash: Option<String>,
    /// Its audit row.
    pub audit: crate::store::audit::AuditDraft,
}

/// One publication of a photo: where it went, and the words it went out with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationRecord {
    /// Publication id.
    pub id: String,
    /// The photo published.
    pub photo_id: String,
    /// The purpose it was published for.
    pub purpose: crate::policy::Purpose,
    /// Where.
    pub url: String,
    /// On which channel.
    pub channel: String,
    /// The caption as released.
    pub caption: String,
    /// The alt text as released.
    pub alt_text: String,
    /// When it was reported, Unix ms.
    pub published_at: i64,
}

/// What asking to begin an erasure found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureStart {
    /// Marked now (Unix ms).
    Started(i64),
    /// Marked before (Unix ms), and not finished: the caller finishes it.
    UnderWay(i64),
    /// Erased already, at this time (Unix ms).
    Erased(i64),
    /// No such learner.
    Unknown,
}

/// What writing a learner's tombstone found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TombstoneOutcome {
    /// Written now (Unix ms).
    Done(i64),
    /// Written before, at this time (Unix ms); nothing changed.
    Erased(i64),
    /// The learner is not marked for erasure: nothing changed.
    NotStarted,
    /// No such learner.
    Unknown,
}

/// Which photos a retention rule makes due: the store's side of the cut-offs
/// `policy::retention` computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetentionDue {
    /// `held_photo`: images kept of photos that never reached the queue, uploaded at or before
    /// this time (Unix ms).
    HeldPhoto {
        /// The latest upload time that is due.
        uploaded_by: i64,
    },
    /// `after_leaving`: images kept of photos tagged with a learner who left on or before this
    /// day (ISO 8601).
    AfterLeaving {
        /// The latest leaving day that is due.
        left_by: String,
    },
}

impl RetentionDue {
    /// The rule this cut-off belongs to.
    pub fn rule(&self) -> crate::policy::retention::Rule {
        match self {
            RetentionDue::HeldPhoto { .. } => crate::policy::retention::Rule::HeldPhoto,
            RetentionDue::AfterLeaving { .. } => crate::policy::retention::Rule::AfterLeaving,
        }
    }
}

/// A photo whose image a retention rule makes due, with the facts its due time is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionCandidate {
    /// The photo.
    pub photo_id: String,
    /// Its upload time, Unix ms.
    pub uploaded_at: i64,
    /// The leaving days (ISO 8601) of the learners tagged in it who left, earliest first.
    pub left_on: Vec<String>,
}

/// A guardian: a person who consents for a learner under 18.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GuardianRecord {
    /// Guardian id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Email address, where withdrawal links are sent.
    pub email: Option<String>,
    /// When an admin removed them (Unix ms): the row stays, since their "no" keeps counting and
    /// the history names them; their grants no longer count.
    pub removed_at: Option<i64>,
}

/// A learner on record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerRecord {
    /// Learner id.
    pub id: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The name they go by, when different from the given name.
    pub preferred_name: Option<String>,
    /// Date of birth (ISO 8601), when known.
    pub date_of_birth: Option<String>,
    /// The MIS's reference for this learner.
    pub external_ref: Option<String>,
    /// The learner's own email address: an adult learner answers consent requests themselves.
    pub email: Option<String>,
    /// The groups (classes, courses, cohorts) the learner belongs to, sorted and unique, as
    /// `roster::fields::groups` leaves them: requests are sent per group.
    pub groups: Vec<String>,
    /// The day the learner left (ISO 8601), as the MIS or an admin gives it: from that day their
    /// photos are held for new use, and the retention rules count from it.
    pub left_on: Option<String>,
    /// When their personal data was erased (Unix ms): the record is then a tombstone, its id a
    /// pseudonym. Ignored on insert and update.
    pub erased_at: Option<i64>,
    /// Guardians, oldest first.
    pub guardians: Vec<GuardianRecord>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

impl LearnerRecord {
    /// The guardians who speak for the learner now: every one not removed.
    pub fn current_guardians(&self) -> impl Iterator<Item = &GuardianRecord> {
        self.guardians.iter().filter(|g| g.removed_at.is_none())
    }
}

impl PhotoRecord {
    /// Every text that leaves with the image, with the name of its field: what the name check
    /// reads.
    pub fn texts(&self) -> Vec<(String, &str)> {
        let mut texts =
            vec![("caption".to_string(), self.caption.as_str()), ("alt_text".to_string(), self.alt_text.as_str())];
        texts.push(("title".to_string(), self.title.as_str()));
        texts.extend(self.tags.iter().enumerate().map(|(i, t)| (format!("tags[{i}]"), t.as_str())));
        texts
    }
}

/// One recorded consent event, with its proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Event id (UUIDv7).
    pub id: String,
    /// The learner it concerns.
    pub learner_id: String,
    /// Granted, refused or withdrawn.
    pub kind: EventKind,
    /// Purposes covered.
    pub purposes: Vec<Purpose>,
    /// Who gave it: the learner or one of their guardians.
    pub giver: Giver,
    /// When it was given, Unix milliseconds.
    pub given_at: i64,
    /// When a grant stops counting, Unix milliseconds.
    pub expires_at: Option<i64>,
    /// Version of the consent form used.
    pub form_version: String,
    /// blake3 of the form's text, hex: which words were agreed to.
    pub form_text_hash: String,
    /// How it was given (`paper_form`, `online_form`, `email`, `in_person`, `withdrawal_link`).
    pub method: String,
    /// Where the proof is (a scan reference, an email id).
    pub evidence: String,
    /// Token id of whoever recorded it, or `withdrawal_link`.
    pub recorded_by: String,
    /// When it was recorded, Unix milliseconds.
    pub recorded_at: i64,
}

/// Milliseconds since the Unix epoch as a time (saturating at the epoch for absurd values).
pub fn time_of_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A time as Unix milliseconds.
pub fn ms_of_time(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

impl ConsentRecord {
    /// The event as the pure decision sees it.
    pub fn to_event(&self) -> ConsentEvent {
        ConsentEvent {
            id: self.id.clone(),
            kind: self.kind,
            purposes: self.purposes.iter().copied().collect(),
            giver: self.giver.clone(),
            given_at: time_of_ms(self.given_at),
            recorded_at: time_of_ms(self.recorded_at),
            expires_at: self.expires_at.map(time_of_ms),
        }
    }
}

/// The moment and rules under which statuses are evaluated.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The moment; tests inject it, the service uses the clock.
    pub at: time::OffsetDateTime,
    /// Whether `at` is the clock's reading (the service) rather than an injected moment (tests):
    /// then writes that decide releases read the clock again once they hold the chain lock (see
    /// [`Evaluation::after_lock`]).
    pub live: bool,
    /// The provider's policy switches.
    pub rules: Rules,
    /// Who caused the re-evaluation, for the audit log (a token id, `system`, `withdrawal_link`).
    pub actor: String,
    /// Every learner's names, for the name check.
    pub names: std::sync::Arc<crate::policy::names::NameIndex>,
}

impl Evaluation {
    /// The evaluation to use once the chain lock is held. A live one reads the clock again (never
    /// going back): a claim or download that waited behind a withdrawal is then decided at a moment
    /// after it, not at the moment its request arrived. An injected moment is kept.
    pub fn after_lock(mut self) -> Evaluation {
        if self.live {
            self.at = self.at.max(time::OffsetDateTime::now_utc());
        }
        self
    }
}

/// A purpose whose status changed in a re-evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The photo.
    pub photo_id: String,
    /// The purpose.
    pub purpose: Purpose,
    /// The status before.
    pub from: PurposeStatus,
    /// The status now.
    pub to: PurposeStatus,
}

/// A withdrawal link, as its page needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalLink {
    /// The grant the link withdraws.
    pub grant: ConsentRecord,
    /// The name the learner goes by (preferred, else given): the page greets them by it.
    pub first_name: String,
    /// When the link was used, if it was: once every purpose of the grant is withdrawn.
    pub used_at: Option<i64>,
    /// The grant's purposes its giver has not taken back yet (through this link for some of them,
    /// or otherwise): what the link still withdraws.
    pub remaining: Vec<crate::policy::Purpose>,
}

/// What using a withdrawal link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawOutcome {
    /// Withdrawn now: the new event, and the statuses that changed in the same transaction.
    Withdrawn {
        /// The `withdrawn` event recorded.
        event: Box<ConsentRecord>,
        /// Statuses that changed.
        changes: Vec<StatusChange>,
    },
    /// The link had already been used, at this time; nothing changed.
    AlreadyUsed(i64),
    /// None of the purposes asked for is one the link still withdraws; nothing changed.
    NothingChosen,
    /// No link has this token.
    Unknown,
}

/// What adding a guardian did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardianAdded {
    /// Added and audited.
    Added,
    /// There is no such learner.
    NoLearner,
    /// The learner already has as many current guardians as allowed: counted under the lock, so
    /// concurrent additions cannot pass the cap together.
    Full,
}

/// What re-issuing a grant's withdrawal link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReissueOutcome {
    /// The grant's link now has the new token's hash; the old token names nothing.
    Reissued,
    /// No event of this learner has this id.
    Unknown,
    /// The event is a refusal or a withdrawal: there is nothing to withdraw.
    NotAGrant,
    /// The grant was withdrawn already (through its link, or by its giver's later "no" covering all
    /// its purposes).
    AlreadyWithdrawn,
    /// The grant was given by a guardian since removed: it no longer counts, so it has no link to
    /// hand out (the link already sent still works).
    GuardianRemoved,
}

/// One (photo, purpose) as marketing's queue shows it. It carries no learner, no date of birth and
/// no consent evidence: marketing needs none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    /// Item id (`<photo id>:<purpose>`).
    pub item_id: String,
    /// The photo.
    pub photo_id: String,
    /// The purpose it is released for.
    pub purpose: Purpose,
    /// Queued, claimed, published, withdrawn or taken down.
    pub state: crate::policy::State,
    /// Caption as released.
    pub caption: String,
    /// Alt text as released.
    pub alt_text: String,
    /// Title as released.
    pub title: String,
    /// Tags as released.
    pub tags: Vec<String>,
    /// Image format.
    pub format: String,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// Who holds (or last held) the claim: a token id.
    pub claimed_by: Option<String>,
    /// When the claim runs out, Unix milliseconds.
    pub lease_expires_at: Option<i64>,
    /// Where it was published.
    pub published_url: Option<String>,
    /// Which channel it was published on.
    pub published_channel: Option<String>,
    /// When its state last changed, Unix milliseconds.
    pub changed_at: i64,
}

/// What claiming one particular item did. The guard that decides it is
/// [`crate::policy::release::claimable`], applied to the item's status after the claim's re-check,
/// in the transaction that takes the lease: a caller is told why it cannot have the item instead
/// of getting a bare "no".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Leased to the claimant now.
    Claimed(Box<QueueItem>),
    /// The item exists but may not be taken: someone else holds it, it was published, or its rules
    /// no longer pass. Its status as the re-check left it, so the answer is current.
    NotAvailable {
        /// Where the item stands.
        state: crate::policy::State,
        /// Why it is held (empty when it is simply not in the queue any more).
        reasons: Vec<crate::policy::Reason>,
    },
    /// No item has this id.
    Unknown,
}

impl ClaimOutcome {
    /// The item leased, if the claim succeeded: for callers that only need "did I get it".
    pub fn claimed(self) -> Option<QueueItem> {
        match self {
            ClaimOutcome::Claimed(item) => Some(*item),
            ClaimOutcome::NotAvailable { .. } | ClaimOutcome::Unknown => None,
        }
    }
}

/// What reporting a publication did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Recorded as published (whoever held the item: a publication is a fact to record).
    Published(Box<QueueItem>),
    /// Consent or the name check does not hold at the moment of the report: the publication is
    /// recorded and a takedown is owed for it at once.
    TakedownOwed(Vec<crate::policy::Reason>),
    /// No such item.
    Unknown,
}

/// One publication that must come down (each channel an item went out on owes its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takedown {
    /// Takedown id: one per publication.
    pub id: String,
    /// The photo.
    pub photo_id: String,
    /// The purpose it was published for.
    pub purpose: Purpose,
    /// Where it was published.
    pub url: String,
    /// The channel.
    pub channel: String,
    /// Caption as released with this publication: which post to remove.
    pub caption: String,
    /// Alt text as released with this publication.
    pub alt_text: String,
    /// Why it must come down.
    pub reasons: Vec<crate::policy::Reason>,
    /// When it became owed, Unix milliseconds.
    pub created_at: i64,
    /// When marketing confirmed it came down.
    pub done_at: Option<i64>,
    /// When marketing and the safeguarding leads were emailed that it is owed.
    pub owed_told_at: Option<i64>,
    /// When they were emailed that it is overdue.
    pub overdue_told_at: Option<i64>,
}

/// Which email about an open takedown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakedownNotice {
    /// It has just become owed.
    Owed,
    /// It is still owed past the overdue setting.
    Overdue,
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Learners added.
    pub created: usize,
    /// Learners on record whose details changed or who gained a guardian.
    pub updated: usize,
    /// Learners on record exactly as the file has them.
    pub unchanged: usize,
    /// Guardians the file lists whom an admin removed from that learner: they stay removed (a
    /// removal is a safeguarding decision an import does not undo); the admin pages and API show
    /// them as removed.
    pub guardians_still_removed: usize,
    /// Learners on record with an external reference, not marked as left, whom the file does not
    /// list. They stay (exports are often partial) unless the import was told to mark them left.
    pub not_in_file: usize,
    /// Of those, how many were marked left as of today (`--mark-missing-as-left`).
    pub marked_left: usize,
    /// Learners in the file under 18 (or with no date of birth) with no guardian, in the file or
    /// on record: nobody can give the consent they need. "Given Family (reference)".
    pub under_18_without_guardian: Vec<String>,
    /// Guardians in the file with no email address: a request cannot reach them. "Guardian, for
    /// Given Family (reference)".
    pub guardians_without_email: Vec<String>,
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
