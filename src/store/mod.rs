//! Persistence: one [`Store`] trait the HTTP layer depends on, with SQLite (embedded default) and
//! PostgreSQL backends chosen by the database URL's scheme. Both pass one conformance suite.

mod audit;
mod sql;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use audit::{verify_chain, AuditAction, AuditDraft, AuditRecord, ChainError, GENESIS_HASH};
pub use sql::{PostgresStore, SqliteStore};
/// The whole store as the application uses it (the focused traits are being split out of [`Store`]).
pub use Store as FullStore;

use crate::policy::consent::{ConsentEvent, EventKind, Giver, Rules};
use crate::policy::{Purpose, PurposeStatus};

/// The store's one error type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit (for example the same original uploaded twice at once).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

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

/// A guardian: a person who consents for a learner under 18.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GuardianRecord {
    /// Guardian id.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Email address, where withdrawal links are sent.
    pub email: Option<String>,
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
    /// Guardians, oldest first.
    pub guardians: Vec<GuardianRecord>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
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
    /// When the link was used, if it was.
    pub used_at: Option<i64>,
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
    /// No link has this token.
    Unknown,
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
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Learners added.
    pub created: usize,
    /// Learners on record whose details changed or who gained a guardian.
    pub updated: usize,
    /// Learners on record exactly as the file has them.
    pub unchanged: usize,
}

/// Persistence operations. Every write that matters is audited in the same transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Stores a new token and audits its creation.
    async fn create_token(&self, token: &TokenRecord, audit: AuditDraft) -> Result<(), StoreError>;
    /// Finds a token by its public id.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// How many tokens have `role`.
    async fn count_tokens(&self, role: Role) -> Result<i64, StoreError>;
    /// The ids among `ids` that name no learner on record.
    async fn unknown_learners(&self, ids: &[String]) -> Result<Vec<String>, StoreError>;
    /// Stores a photo with its learners and purposes, evaluates its status and audits it, in one
    /// transaction. [`StoreError::Conflict`] when a photo with the same original already exists.
    async fn insert_photo(
        &self,
        photo: &PhotoRecord,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<BTreeMap<Purpose, PurposeStatus>, StoreError>;
    /// Replaces a photo's caption, alt text, learners, `all_tagged` and purposes, re-evaluates it
    /// and audits it, in one transaction; `false` when there is no such photo. A learner untagged
    /// while their refusal or withdrawal stands for one of its purposes is recorded as blocking it
    /// (held `matches_withdrawn` for them while their no stands), so untagging never releases it.
    async fn update_photo(&self, photo: &PhotoRecord, audit: AuditDraft, eval: Evaluation) -> Result<bool, StoreError>;
    /// Finds a photo by id.
    async fn photo(&self, id: &str) -> Result<Option<PhotoRecord>, StoreError>;
    /// Finds the photo uploaded from exactly these original bytes.
    async fn photo_by_original(&self, original_blake3: &str) -> Result<Option<PhotoRecord>, StoreError>;
    /// `(photo id, perceptual hash, learner id)` for every photo of a learner with a refusal or
    /// withdrawal on record: what a new upload is compared with.
    async fn photos_of_learners_who_said_no(&self) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Every object key a photo row refers to.
    async fn object_keys(&self) -> Result<Vec<String>, StoreError>;
    /// Whether any photo row refers to the object `key`.
    async fn object_in_use(&self, key: &str) -> Result<bool, StoreError>;
    /// Appends one audit row, chained to the last.
    async fn append_audit(&self, audit: AuditDraft) -> Result<(), StoreError>;
    /// The last audit row's sequence number and hash (`0` and the genesis hash when empty).
    async fn audit_head(&self) -> Result<(i64, String), StoreError>;
    /// Audit rows with `seq > after`, oldest first, at most `limit`.
    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;
    /// Row counts of every table, for health checks and tests.
    async fn table_counts(&self) -> Result<BTreeMap<String, i64>, StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Stores a learner with their guardians and audits it. [`StoreError::Conflict`] when the
    /// external reference is already used.
    async fn insert_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<(), StoreError>;
    /// Replaces a learner's own fields (not guardians), re-evaluates every photo of theirs (a date
    /// of birth decides whose consent counts) and audits it; `false` when there is no such learner.
    async fn update_learner(
        &self,
        learner: &LearnerRecord,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<bool, StoreError>;
    /// Records a consent event (and, for a grant, its withdrawal link's token hash), re-evaluates
    /// every photo of the learner and audits both, in one transaction.
    async fn record_consent(
        &self,
        event: &ConsentRecord,
        link_token_hash: Option<&str>,
        audit: AuditDraft,
        eval: Evaluation,
    ) -> Result<Vec<StatusChange>, StoreError>;
    /// A learner's consent history, oldest first.
    async fn consents(&self, learner_id: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    /// The withdrawal link with this token hash.
    async fn withdrawal_link(&self, token_hash: &str) -> Result<Option<WithdrawalLink>, StoreError>;
    /// Uses a withdrawal link: records a `withdrawn` event for the grant's purposes by the grant's
    /// giver, marks the link used, re-evaluates every photo of the learner and audits it all, in one
    /// transaction. A used link changes nothing.
    async fn withdraw_by_link(
        &self,
        token_hash: &str,
        new_event_id: &str,
        eval: Evaluation,
    ) -> Result<WithdrawOutcome, StoreError>;
    /// Re-evaluates the given photos now, storing and auditing what changed.
    async fn reevaluate(&self, photo_ids: &[String], eval: Evaluation) -> Result<Vec<StatusChange>, StoreError>;
    /// Ids of photos with a purpose whose status can still change with time (held or queued),
    /// after `after` in id order, at most `limit`: the periodic sweep pages through them.
    async fn live_photo_ids(&self, after: &str, limit: i64) -> Result<Vec<String>, StoreError>;
    /// Imports learners matched by external reference, all or nothing: a new reference is created;
    /// a known one has its names replaced, and its date of birth and preferred name only when the
    /// file gives them (a blank cell keeps what is on record) and gains the guardians it lacks (matched by name, ignoring case; none is ever
    /// removed: that is a safeguarding decision for a person). Photos of changed learners are
    /// re-evaluated. On a dry run the same work is done and rolled back, so the summary is exact.
    async fn import_learners(
        &self,
        learners: &[LearnerRecord],
        eval: Evaluation,
        dry_run: bool,
    ) -> Result<ImportSummary, StoreError>;
    /// The queue: items `queued` (or `claimed` with a lease that ran out) for `purpose` (all when
    /// `None`), oldest first.
    async fn queue(&self, purpose: Option<Purpose>, now_ms: i64, limit: i64) -> Result<Vec<QueueItem>, StoreError>;
    /// Leases one particular item (chosen from the grid) to `claimant`, after checking its rules
    /// again; `None` when it is no longer in the queue or no longer passes.
    async fn claim_item(
        &self,
        item_id: &str,
        claimant: &str,
        lease_ms: i64,
        eval: Evaluation,
    ) -> Result<Option<QueueItem>, StoreError>;
    /// Leases the oldest releasable item for `purpose` to `claimant` for `lease_ms`. Each candidate
    /// is re-evaluated first in the same transaction; one that no longer passes leaves the queue and
    /// the next is tried. `None` when nothing is left.
    async fn claim(
        &self,
        purpose: Purpose,
        claimant: &str,
        lease_ms: i64,
        eval: Evaluation,
    ) -> Result<Option<QueueItem>, StoreError>;
    /// Records one publication of an item (where and on which channel), always: after the
    /// reporter's lease ran out, while someone else holds the item, or on a second channel. When
    /// the item may not go out at this moment, a takedown is owed for it at once.
    async fn publish(
        &self,
        item_id: &str,
        claimant: &str,
        url: &str,
        channel: &str,
        eval: Evaluation,
    ) -> Result<PublishOutcome, StoreError>;
    /// Re-evaluates a photo and answers whether marketing may have its image now: some item of it
    /// is queued, claimed or published, and the image still exists. `Err` reasons when not.
    async fn released_for_download(
        &self,
        photo_id: &str,
        eval: Evaluation,
    ) -> Result<Result<(), Vec<crate::policy::Reason>>, StoreError>;
    /// Takedowns, open ones only unless `all`, oldest first.
    async fn takedowns(&self, all: bool) -> Result<Vec<Takedown>, StoreError>;
    /// Marks a takedown done, and its item `taken_down` once every publication of it is down;
    /// `false` when there is no such open one.
    async fn takedown_done(&self, id: &str, eval: Evaluation) -> Result<bool, StoreError>;
    /// After a "no" from `learner_id`: marks deleted the image of every photo they are tagged in
    /// that no purpose can use any more (each is held by a tagged learner's refusal or withdrawal),
    /// keeping the row and fingerprints. Look-alikes held for them are kept (held, not deleted): the
    /// perceptual match is fuzzy. Returns the object keys no longer referenced, for the caller to
    /// delete.
    async fn retire_images_of(&self, learner_id: &str, eval: Evaluation) -> Result<Vec<String>, StoreError>;
    /// The same rule over every photo that existed when a learner tagged in it said no, a page at
    /// a time (ids after `after`, at most `limit` looked at): the periodic pass that catches a
    /// retirement that failed after a withdrawal, without deleting a photo tagged by mistake later.
    /// Returns the object keys no longer referenced and the last id looked at (`None` when done).
    async fn retire_unusable_images(
        &self,
        after: &str,
        limit: i64,
        eval: Evaluation,
    ) -> Result<(Vec<String>, Option<String>), StoreError>;
    /// The learners table's version: a counter bumped in the same transaction as every learner
    /// insert, update and import, so it moves on every change whatever the clocks say; the name
    /// index is rebuilt when it moves.
    async fn learners_version(&self) -> Result<i64, StoreError>;
    /// Every learner's names, for the name index.
    async fn learner_names(&self) -> Result<Vec<crate::policy::names::NameEntry>, StoreError>;
    /// Finds a learner with their guardians.
    async fn learner(&self, id: &str) -> Result<Option<LearnerRecord>, StoreError>;
    /// Learners whose given, preferred or family name or external reference contains `query`
    /// (case-insensitive), ordered by family then given name.
    async fn search_learners(&self, query: &str, limit: i64) -> Result<Vec<LearnerRecord>, StoreError>;

    /// Opens a browser session acting as `token_id` until `expires_at` (Unix ms); `id_hash` is the
    /// blake3 of the cookie's secret. Audited in the same transaction.
    async fn create_session(
        &self,
        id_hash: &str,
        token_id: &str,
        expires_at: i64,
        audit: AuditDraft,
    ) -> Result<(), StoreError>;
    /// The token a live session acts as; `None` when it is unknown or ran out at `now_ms`.
    async fn session_token(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError>;
    /// Ends a session (sign-out); ending one that does not exist is not an error.
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Forgets sessions that ran out before `now_ms`; returns how many.
    async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError>;
    /// The photos `token_id` uploaded, newest first.
    async fn photos_uploaded_by(&self, token_id: &str, limit: i64) -> Result<Vec<PhotoRecord>, StoreError>;
    /// Photos with at least one purpose held, newest first.
    async fn held_photos(&self, limit: i64) -> Result<Vec<PhotoRecord>, StoreError>;
    /// The items `claimant` holds under a lease still running at `now_ms`, oldest claim first.
    async fn items_claimed_by(&self, claimant: &str, now_ms: i64) -> Result<Vec<QueueItem>, StoreError>;
    /// The items whose claim by `claimant` ran out (at `now_ms`, and no earlier than `since_ms`)
    /// with nobody claiming them since, and that were not recorded as published: the officer may
    /// have published them anyway, and a publication never recorded could never be taken down.
    /// Newest first, at most `limit`.
    async fn lapsed_claims_of(
        &self,
        claimant: &str,
        now_ms: i64,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueueItem>, StoreError>;
}

/// Opens the store a URL names: `postgres://` or `postgresql://` → PostgreSQL, `sqlite:` → SQLite.
pub async fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PostgresStore::connect(url).await?))
    } else {
        Ok(Box::new(SqliteStore::connect(url).await?))
    }
}

/// Tables every backend has, in the order `table_counts` reports them.
pub const TABLES: &[&str] = &[
    "tokens",
    "learners",
    "guardians",
    "photos",
    "photo_learners",
    "photo_purposes",
    "consent_events",
    "withdrawal_links",
    "takedowns",
    "publications",
    "photo_blocks",
    "sessions",
    "audit_log",
];

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
