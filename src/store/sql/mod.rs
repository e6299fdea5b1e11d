//! The two SQL backends, SQLite and PostgreSQL, one file per area of the store.
//!
//! # How one text serves both backends
//!
//! The SQL is the same text for both (both accept `$n` placeholders). What differs is small and
//! lives here, written out per backend: connection set-up, the migrations directory, which pool
//! writes and which reads, and the chain lock (`SqliteStore::lock_in` is a no-op because SQLite
//! has one writer; `PostgresStore::lock_in` takes a transaction-scoped advisory lock so that
//! replicas never fork the audit chain nor evaluate two consent changes side by side).
//!
//! Each area file (`tokens.rs`, `learners.rs`, `photos.rs`, `consent.rs`, `queue.rs`,
//! `retention.rs`, `audit.rs`, and `evaluation.rs` for the re-evaluation they share) holds one
//! `macro_rules!` that writes that area's `impl XStore for $store` and its transaction helpers, and
//! invokes it for both stores at its end. The alternative, functions generic over
//! `sqlx::Database`, was not taken: each function would carry half a dozen higher-ranked bounds
//! (`for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`, `Encode + Type` for every bound
//! type, `Decode` for every column, `ColumnIndex`), which Rust cannot bundle into one helper trait
//! (only supertraits are implied), and whose futures rustc often cannot prove `Send` inside
//! `async_trait`. A macro per area keeps every query as plain Rust next to the trait method it
//! serves; rust-analyzer expands `macro_rules!`, so go-to-definition reaches the helpers. The
//! macros take only the store and database types: everything per backend is a method here.
//!
//! The rules the SQL applies are not written in SQL: they are pure functions in `policy`
//! (release evaluation, a lease's expiry, the claim guard, the untag and deletion rules), called
//! with what the transaction read. Where a query must filter by a rule for an index to do the work
//! (the queue listing, picking claim candidates, the retention pass), the filter says which policy
//! function it mirrors, and the rows it returns are decided by that function again.

mod audit;
mod consent;
mod erasure;
mod evaluation;
mod export;
mod learners;
mod notices;
mod outbox;
mod photos;
mod queue;
mod requests;
mod retention;
mod tokens;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use super::error::StoreError;
use super::records::{ConsentRecord, QueueItem};
use super::traits::OpsStore;
use crate::policy::consent::{EventKind, Giver};
use crate::policy::{LearnerReason, Purpose, PurposeStatus, Reason, State};

/// SQLite, the embedded default. Writes go through a single connection, which is how SQLite
/// serialises writers anyway, and keeps the audit chain strictly ordered; reads use a small pool.
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database a `sqlite:` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL survives a killed process; only a power cut can lose the last commit.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(15))
            .foreign_keys(true)
            // Freed space (a deleted row, an overwritten value) is overwritten with zeros, so an
            // erased learner's names do not linger in free pages of the database file.
            .pragma("secure_delete", "ON");
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(SqliteStore { write, read })
    }

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite").run(&self.write).await?;
        Ok(())
    }

    /// How a lease on outbox rows skips rows being leased at the same moment: nothing to skip,
    /// since the single writing connection runs one lease at a time.
    const SKIP_LOCKED: &'static str = "";

    /// The chain lock: nothing to take, since the single writing connection already serialises
    /// every transaction that evaluates consent or appends to the audit chain.
    async fn lock_in(_conn: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }

    /// Copies every committed page from the write-ahead log into the database file and truncates
    /// the log to nothing, so no older version of a page (with values erased since) stays in it.
    /// A reader in the middle of a read can keep the checkpoint from finishing: it is retried a
    /// few times, then left to SQLite's own checkpoints and to the last connection's at shutdown,
    /// which deletes the log.
    async fn reclaim_space(&self) -> Result<(), StoreError> {
        for _ in 0..20 {
            let (busy,): (i64,) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.write).await?;
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!("the write-ahead log stayed busy; it is truncated at the next checkpoint");
        Ok(())
    }
}

/// PostgreSQL, for several replicas side by side. Audit appends take a transaction-scoped advisory
/// lock so that replicas never fork the chain.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool =
            PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(15)).connect(url).await?;
        Ok(PostgresStore { pool })
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/postgres").run(&self.pool).await?;
        Ok(())
    }

    /// How a lease on outbox rows skips rows another replica is leasing at this moment, instead of
    /// waiting for them and then leasing them a second time.
    const SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";

    /// The chain lock: serialises every transaction that evaluates consent or appends to the
    /// audit chain across replicas, so two events for one learner can never each be evaluated
    /// without the other, and the chain never forks. Released at commit or rollback.
    async fn lock_in(conn: &mut PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AUDIT_LOCK_KEY).execute(conn).await?;
        Ok(())
    }

    /// Vacuums the tables erasure writes: the row versions an update left behind (with the values
    /// erased) are removed and their space made reusable. VACUUM cannot run in a transaction, so
    /// each table is its own statement.
    async fn reclaim_space(&self) -> Result<(), StoreError> {
        for table in [
            "learners",
            "guardians",
            "learner_groups",
            "consent_events",
            "outbox",
            "photos",
            "publications",
            "takedowns",
        ] {
            sqlx::query(&format!("VACUUM {table}")).execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// An arbitrary constant naming the audit chain's advisory lock.
const AUDIT_LOCK_KEY: i64 = 0x636F_6E73_656E_7467; // "consentg"

/// Schema and health: the same SQL for both backends, the migrations directory aside.
macro_rules! impl_ops_store {
    ($store:ty) => {
        #[async_trait]
        impl OpsStore for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                self.run_migrations().await?;
                // Migration 0010's column is folded in Rust: fill it for rows written before it.
                self.backfill_search_text().await
            }

            async fn table_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
                let mut counts = BTreeMap::new();
                for table in TABLES {
                    let n: i64 =
                        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(self.reader()).await?;
                    counts.insert((*table).to_string(), n);
                }
                Ok(counts)
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}

impl_ops_store!(SqliteStore);
impl_ops_store!(PostgresStore);

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The columns of a queue item, joined from its purpose row and its photo.
const QUEUE_ITEM_SELECT: &str =
    "SELECT pp.item_id, pp.photo_id, pp.purpose, pp.state, pp.claimed_by, pp.lease_expires_at, \
     pp.published_url, pp.published_channel, pp.changed_at, p.caption, p.alt_text, p.title, p.tags, p.format, p.width, \
     p.height \
     FROM photo_purposes pp JOIN photos p ON p.id = pp.photo_id";

fn queue_item_from_row<R: Row>(row: &R) -> Result<QueueItem, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let purpose: String = row.try_get("purpose")?;
    let state: String = row.try_get("state")?;
    Ok(QueueItem {
        item_id: row.try_get("item_id")?,
        photo_id: row.try_get("photo_id")?,
        purpose: purpose.parse().map_err(StoreError::Corrupt)?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        caption: row.try_get("caption")?,
        alt_text: row.try_get("alt_text")?,
        title: row.try_get("title")?,
        tags: tags_from_column(&row.try_get::<String, _>("tags")?)?,
        format: row.try_get("format")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        claimed_by: row.try_get("claimed_by")?,
        lease_expires_at: row.try_get("lease_expires_at")?,
        published_url: row.try_get("published_url")?,
        published_channel: row.try_get("published_channel")?,
        changed_at: row.try_get("changed_at")?,
    })
}

/// The columns [`audit_record_from_row`] reads.
const AUDIT_COLUMNS: &str = "seq, at, actor, action, subject, details, prev_hash, hash";

fn audit_record_from_row<R: Row>(row: &R) -> Result<crate::store::audit::AuditRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(crate::store::audit::AuditRecord {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        subject: row.try_get("subject")?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// A `takedowns` row (`SELECT *`).
fn takedown_from_row<R: Row>(row: &R) -> Result<crate::store::records::Takedown, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let reasons: String = row.try_get("reasons")?;
    Ok(crate::store::records::Takedown {
        id: row.try_get("id")?,
        photo_id: row.try_get("photo_id")?,
        purpose: row.try_get::<String, _>("purpose")?.parse().map_err(StoreError::Corrupt)?,
        url: row.try_get("url")?,
        channel: row.try_get("channel")?,
        caption: row.try_get("caption")?,
        alt_text: row.try_get("alt_text")?,
        reasons: serde_json::from_str(&reasons).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
        done_at: row.try_get("done_at")?,
        owed_told_at: row.try_get("owed_told_at")?,
        overdue_told_at: row.try_get("overdue_told_at")?,
    })
}

fn tags_from_column(tags: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))
}

fn tags_column(tags: &[String]) -> String {
    serde_json::to_string(tags).expect("strings serialise")
}

/// How a purpose's status is kept in `photo_purposes.detail`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StatusDetail {
    reasons: Vec<Reason>,
    #[serde(default)]
    learners: Vec<LearnerReason>,
}

fn status_from_columns(state: &str, detail: &str) -> Result<PurposeStatus, StoreError> {
    let state: State = state.parse().map_err(StoreError::Corrupt)?;
    let detail: StatusDetail =
        serde_json::from_str(detail).map_err(|e| StoreError::Corrupt(format!("status detail: {e}")))?;
    Ok(PurposeStatus { state, reasons: detail.reasons, learners: detail.learners })
}

fn detail_column(status: &PurposeStatus) -> String {
    let detail = StatusDetail { reasons: status.reasons.clone(), learners: status.learners.clone() };
    serde_json::to_string(&detail).expect("a status serialises")
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Granted => "granted",
        EventKind::Refused => "refused",
        EventKind::Withdrawn => "withdrawn",
    }
}

fn purposes_column(purposes: &[Purpose]) -> String {
    let mut names: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    names.sort_unstable();
    names.join(",")
}

/// The column is sorted by name so equal sets compare equal in SQL; readers want the purposes in
/// the order the form and the API list them (website first), which is the enum's order.
pub(super) fn purposes_from_column(purposes: &str) -> Result<Vec<Purpose>, StoreError> {
    let mut parsed = purposes
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<Purpose>().map_err(StoreError::Corrupt))
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort_unstable();
    Ok(parsed)
}

fn consent_from_row<R: Row>(row: &R) -> Result<ConsentRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "granted" => EventKind::Granted,
        "refused" => EventKind::Refused,
        "withdrawn" => EventKind::Withdrawn,
        other => return Err(StoreError::Corrupt(format!("consent kind {other:?}"))),
    };
    let purposes: String = row.try_get("purposes")?;
    let purposes = purposes_from_column(&purposes)?;
    let giver_kind: String = row.try_get("giver_kind")?;
    let guardian_id: Option<String> = row.try_get("guardian_id")?;
    let giver = match (giver_kind.as_str(), guardian_id) {
        ("learner", None) => Giver::Learner,
        ("guardian", Some(id)) => Giver::Guardian(id),
        (other, _) => return Err(StoreError::Corrupt(format!("consent giver {other:?}"))),
    };
    Ok(ConsentRecord {
        id: row.try_get("id")?,
        learner_id: row.try_get("learner_id")?,
        kind,
        purposes,
        giver,
        given_at: row.try_get("given_at")?,
        expires_at: row.try_get("expires_at")?,
        form_version: row.try_get("form_version")?,
        form_text_hash: row.try_get("form_text_hash")?,
        method: row.try_get("method")?,
        evidence: row.try_get("evidence")?,
        recorded_by: row.try_get("recorded_by")?,
        recorded_at: row.try_get("recorded_at")?,
    })
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
    "learner_groups",
    "form_texts",
    "consent_requests",
    "request_recipients",
    "request_links",
    "outbox",
    "form_templates",
    "sign_in_links",
];
