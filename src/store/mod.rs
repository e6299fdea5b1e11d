//! Persistence: one [`Store`] trait the HTTP layer depends on, with SQLite (embedded default) and
//! PostgreSQL backends chosen by the database URL's scheme. Both pass one conformance suite.

mod audit;
mod sql;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use audit::{verify_chain, AuditDraft, AuditRecord, ChainError, GENESIS_HASH};
pub use sql::{PostgresStore, SqliteStore};

use crate::policy::Purpose;

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
    /// Stores a photo with its learners and purposes and audits it, in one transaction.
    /// [`StoreError::Conflict`] when a photo with the same original already exists.
    async fn insert_photo(&self, photo: &PhotoRecord, audit: AuditDraft) -> Result<(), StoreError>;
    /// Finds a photo by id.
    async fn photo(&self, id: &str) -> Result<Option<PhotoRecord>, StoreError>;
    /// Finds the photo uploaded from exactly these original bytes.
    async fn photo_by_original(&self, original_blake3: &str) -> Result<Option<PhotoRecord>, StoreError>;
    /// Every object key a photo row refers to.
    async fn object_keys(&self) -> Result<Vec<String>, StoreError>;
    /// Appends one audit row, chained to the last.
    async fn append_audit(&self, audit: AuditDraft) -> Result<(), StoreError>;
    /// Audit rows with `seq > after`, oldest first, at most `limit`.
    async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;
    /// Row counts of every table, for health checks and tests.
    async fn table_counts(&self) -> Result<BTreeMap<String, i64>, StoreError>;
    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Stores a learner with their guardians and audits it. [`StoreError::Conflict`] when the
    /// external reference is already used.
    async fn insert_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<(), StoreError>;
    /// Replaces a learner's own fields (not guardians) and audits it; `false` when there is no such learner.
    async fn update_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<bool, StoreError>;
    /// Finds a learner with their guardians.
    async fn learner(&self, id: &str) -> Result<Option<LearnerRecord>, StoreError>;
    /// Learners whose given, preferred or family name or external reference contains `query`
    /// (case-insensitive), ordered by family then given name.
    async fn search_learners(&self, query: &str, limit: i64) -> Result<Vec<LearnerRecord>, StoreError>;
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
pub const TABLES: &[&str] =
    &["tokens", "learners", "guardians", "photos", "photo_learners", "photo_purposes", "audit_log"];

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
