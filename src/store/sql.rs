//! The two SQL backends. Their SQL is the same text (both accept `$n` placeholders); what differs
//! is connection set-up and how concurrent audit appends are serialised, so one macro writes both
//! implementations and the differences are passed in.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use super::audit::{row_hash, AuditDraft, AuditRecord, GENESIS_HASH};
use super::{
    ms_of_time, now_ms, ConsentRecord, Evaluation, GuardianRecord, ImportSummary, LearnerRecord, PhotoRecord,
    PublishOutcome, QueueItem, Role, StatusChange, Store, StoreError, Takedown, TokenRecord, WithdrawOutcome,
    WithdrawalLink, TABLES,
};
use crate::policy::consent::{EventKind, Giver, Learner};
use crate::policy::release::{self, LearnerFacts, PhotoFacts};
use crate::policy::{LearnerReason, Purpose, PurposeStatus, Reason, State};

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
    let purposes = purposes
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<Purpose>().map_err(StoreError::Corrupt))
        .collect::<Result<Vec<_>, _>>()?;
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
            .foreign_keys(true);
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
        }
        let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options.read_only(true)).await?;
        Ok(SqliteStore { write, read })
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
}

/// An arbitrary constant naming the audit chain's advisory lock.
const AUDIT_LOCK_KEY: i64 = 0x636F_6E73_656E_7467; // "consentg"

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

macro_rules! sql_store {
    ($store:ty, $db:ty, write = $write:ident, read = $read:ident, migrations = $migrations:literal, audit_lock = $lock:expr) => {
        impl $store {
            /// Appends one audit row inside `tx`, chained to the last row.
            async fn append_in(tx: &mut sqlx::Transaction<'_, $db>, audit: &AuditDraft) -> Result<(), StoreError> {
                if let Some(lock) = $lock {
                    sqlx::query(lock).bind(AUDIT_LOCK_KEY).execute(&mut **tx).await?;
                }
                let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut **tx)
                    .await?;
                let (prev_seq, prev_hash) = match last {
                    Some(row) => (row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("hash")?),
                    None => (0, GENESIS_HASH.to_string()),
                };
                let seq = prev_seq + 1;
                let at = now_ms();
                let details = audit.details.to_string();
                let hash = row_hash(seq, at, &audit.actor, &audit.action, &audit.subject, &details, &prev_hash);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(seq)
                .bind(at)
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.subject)
                .bind(&details)
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }


            /// Serialises every transaction that evaluates consent: on PostgreSQL, replicas take
            /// the audit chain's lock first, so two events for one learner can never each be
            /// evaluated without the other. (SQLite has a single writer already.)
            async fn lock_in(conn: &mut <$db as sqlx::Database>::Connection) -> Result<(), StoreError> {
                if let Some(lock) = $lock {
                    sqlx::query(lock).bind(AUDIT_LOCK_KEY).execute(&mut *conn).await?;
                }
                Ok(())
            }

            async fn consents_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<ConsentRecord>, StoreError> {
                let rows = sqlx::query("SELECT * FROM consent_events WHERE learner_id = $1 ORDER BY recorded_at, id")
                    .bind(learner_id)
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter().map(consent_from_row).collect()
            }

            /// When an event for `learner_id` committed now is recorded: the clock, but after every
            /// event already on record for them, so that "recorded later" follows the order in which
            /// the chain lock was held even between replicas whose clocks differ a little.
            async fn recorded_at_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
                now: i64,
            ) -> Result<i64, StoreError> {
                let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(recorded_at) FROM consent_events WHERE learner_id = $1")
                    .bind(learner_id)
                    .fetch_one(&mut *conn)
                    .await?;
                Ok(latest.map_or(now, |latest| now.max(latest.saturating_add(1))))
            }

            async fn learner_facts_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Option<LearnerFacts>, StoreError> {
                let dob: Option<Option<String>> =
                    sqlx::query_scalar("SELECT date_of_birth FROM learners WHERE id = $1")
                        .bind(learner_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some(dob) = dob else { return Ok(None) };
                let format = time::macros::format_description!("[year]-[month]-[day]");
                let date_of_birth = dob
                    .map(|d| time::Date::parse(&d, &format))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("date of birth: {e}")))?;
                let guardian_ids: Vec<String> = sqlx::query_scalar("SELECT id FROM guardians WHERE learner_id = $1")
                    .bind(learner_id)
                    .fetch_all(&mut *conn)
                    .await?;
                let events = Self::consents_in(conn, learner_id).await?.iter().map(ConsentRecord::to_event).collect();
                Ok(Some(LearnerFacts {
                    learner: Learner { date_of_birth, guardian_ids: guardian_ids.into_iter().collect() },
                    events,
                }))
            }

            /// The status each purpose should have now.
            async fn evaluate_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_ids: &[String],
                all_tagged: bool,
                purposes: &[Purpose],
                blocked_by: &[String],
                (texts, tags): (&[&str], &[&str]),
                eval: &Evaluation,
            ) -> Result<BTreeMap<Purpose, PurposeStatus>, StoreError> {
                let mut learners = BTreeMap::new();
                for id in learner_ids.iter().chain(blocked_by) {
                    if learners.contains_key(id) {
                        continue;
                    }
                    if let Some(facts) = Self::learner_facts_in(conn, id).await? {
                        learners.insert(id.clone(), facts);
                    }
                }
                let photo = PhotoFacts { learner_ids, all_tagged, purposes, resembles_photos_of: blocked_by, texts, tags };
                Ok(release::evaluate(photo, &learners, &eval.names, eval.at, eval.rules))
            }

            /// Re-evaluates photos inside a transaction; stores and audits every purpose whose
            /// status changed.
            async fn reevaluate_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_ids: &[String],
                eval: &Evaluation,
            ) -> Result<Vec<StatusChange>, StoreError> {
                let mut changes = Vec::new();
                let now = ms_of_time(eval.at);
                for photo_id in photo_ids {
                    let photo = sqlx::query("SELECT all_tagged, image_deleted_at, caption, alt_text, title, tags FROM photos WHERE id = $1")
                        .bind(photo_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let Some(photo) = photo else { continue };
                    // A photo whose image is gone can never be released again: its statuses stay.
                    if photo.try_get::<Option<i64>, _>("image_deleted_at")?.is_some() {
                        continue;
                    }
                    let all_tagged: bool = photo.try_get("all_tagged")?;
                    let caption: String = photo.try_get("caption")?;
                    let alt_text: String = photo.try_get("alt_text")?;
                    let title: String = photo.try_get("title")?;
                    let tags = tags_from_column(&photo.try_get::<String, _>("tags")?)?;
                    let learner_ids: Vec<String> =
                        sqlx::query_scalar("SELECT learner_id FROM photo_learners WHERE photo_id = $1 ORDER BY learner_id")
                            .bind(photo_id)
                            .fetch_all(&mut **tx)
                            .await?;
                    let blocked_by = Self::blocks_in(&mut **tx, photo_id).await?;
                    let rows = sqlx::query("SELECT purpose, state, detail, lease_expires_at FROM photo_purposes WHERE photo_id = $1")
                        .bind(photo_id)
                        .fetch_all(&mut **tx)
                        .await?;
                    let mut current = BTreeMap::new();
                    for row in &rows {
                        let purpose: String = row.try_get("purpose")?;
                        let purpose: Purpose = purpose.parse().map_err(StoreError::Corrupt)?;
                        let mut status = status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?;
                        // A lease that ran out puts the item back in the queue.
                        let lease: Option<i64> = row.try_get("lease_expires_at")?;
                        if status.state == State::Claimed && lease.is_some_and(|l| l <= now) {
                            status.state = State::Queued;
                        }
                        current.insert(purpose, status);
                    }
                    let purposes: Vec<Purpose> = current.keys().copied().collect();
                    let mut texts = vec![caption.as_str(), alt_text.as_str(), title.as_str()];
                    texts.extend(tags.iter().map(String::as_str));
                    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                    let evaluated =
                        Self::evaluate_in(&mut **tx, &learner_ids, all_tagged, &purposes, &blocked_by, (&texts, &tags), eval)
                            .await?;
                    for (purpose, rules_say) in evaluated {
                        let from = current.remove(&purpose).expect("evaluated purposes are the stored ones");
                        let (state, takedown) = release::transition(from.state, rules_say.state == State::Queued);
                        let to = PurposeStatus { state, ..rules_say };
                        if from == to {
                            continue;
                        }
                        // Leaving a claim ends its lease; the claimant is kept, so a publication
                        // reported afterwards can be turned into a takedown.
                        let lease_sql = if to.state == State::Claimed { "lease_expires_at" } else { "NULL" };
                        sqlx::query(&format!(
                            "UPDATE photo_purposes SET state = $1, detail = $2, changed_at = $3, lease_expires_at = {lease_sql} \
                             WHERE photo_id = $4 AND purpose = $5"
                        ))
                        .bind(to.state.as_str())
                        .bind(detail_column(&to))
                        .bind(now)
                        .bind(photo_id)
                        .bind(purpose.as_str())
                        .execute(&mut **tx)
                        .await?;
                        if takedown {
                            Self::owe_takedowns_in(tx, photo_id, purpose, &to.reasons, eval).await?;
                        }
                        let audit = AuditDraft::new(
                            &eval.actor,
                            "status_changed",
                            photo_id,
                            serde_json::json!({
                                "purpose": purpose, "from": from.state, "to": to.state, "reasons": to.reasons
                            }),
                        );
                        Self::append_in(tx, &audit).await?;
                        changes.push(StatusChange { photo_id: photo_id.clone(), purpose, from, to });
                    }
                }
                Ok(changes)
            }

            async fn blocks_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                photo_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT learner_id FROM photo_blocks WHERE photo_id = $1 ORDER BY learner_id")
                    .bind(photo_id)
                    .fetch_all(&mut *conn)
                    .await?)
            }

            /// Owes a takedown for every publication of the item (`photo_id`, `purpose`) that does not
            /// have one yet: each channel it went out on must be cleared, not just the last one.
            async fn owe_takedowns_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_id: &str,
                purpose: Purpose,
                reasons: &[Reason],
                eval: &Evaluation,
            ) -> Result<usize, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, url, channel, caption, alt_text FROM publications pb \
                     WHERE photo_id = $1 AND purpose = $2 \
                     AND NOT EXISTS (SELECT 1 FROM takedowns t WHERE t.publication_id = pb.id) \
                     ORDER BY published_at, id",
                )
                .bind(photo_id)
                .bind(purpose.as_str())
                .fetch_all(&mut **tx)
                .await?;
                for row in &rows {
                    let id = uuid::Uuid::now_v7().to_string();
                    let publication: String = row.try_get("id")?;
                    sqlx::query(
                        "INSERT INTO takedowns (id, photo_id, purpose, url, channel, reasons, created_at, publication_id, \
                         caption, alt_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&id)
                    .bind(photo_id)
                    .bind(purpose.as_str())
                    .bind(row.try_get::<String, _>("url")?)
                    .bind(row.try_get::<String, _>("channel")?)
                    .bind(serde_json::to_string(reasons).expect("reasons serialise"))
                    .bind(ms_of_time(eval.at))
                    .bind(&publication)
                    .bind(row.try_get::<String, _>("caption")?)
                    .bind(row.try_get::<String, _>("alt_text")?)
                    .execute(&mut **tx)
                    .await?;
                    let audit = AuditDraft::new(
                        &eval.actor,
                        "takedown_owed",
                        photo_id,
                        serde_json::json!({ "takedown": id, "publication": publication, "purpose": purpose, "reasons": reasons }),
                    );
                    Self::append_in(tx, &audit).await?;
                }
                Ok(rows.len())
            }

            /// Records one publication of an item, with its caption and alt text as they are now
            /// (what went out).
            #[allow(clippy::too_many_arguments)]
            async fn insert_publication_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                item_id: &str,
                photo_id: &str,
                purpose: Purpose,
                url: &str,
                channel: &str,
                published_by: &str,
                at: i64,
            ) -> Result<String, StoreError> {
                // The same report twice (a double tap, a retried request) is one publication: one
                // post needs one takedown. A post taken down and published again is a new one.
                let existing: Option<String> = sqlx::query_scalar(
                    "SELECT pb.id FROM publications pb WHERE pb.item_id = $1 AND pb.url = $2 AND pb.channel = $3 \
                     AND NOT EXISTS (SELECT 1 FROM takedowns t WHERE t.publication_id = pb.id AND t.done_at IS NOT NULL)",
                )
                .bind(item_id)
                .bind(url)
                .bind(channel)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(id) = existing {
                    return Ok(id);
                }
                let id = uuid::Uuid::now_v7().to_string();
                sqlx::query(
                    "INSERT INTO publications (id, item_id, photo_id, purpose, url, channel, caption, alt_text, published_by, published_at) \
                     SELECT $1, $2, $3, $4, $5, $6, caption, alt_text, $7, $8 FROM photos WHERE id = $3",
                )
                .bind(&id)
                .bind(item_id)
                .bind(photo_id)
                .bind(purpose.as_str())
                .bind(url)
                .bind(channel)
                .bind(published_by)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(id)
            }

            /// Photos that must be checked when `learner_id` says no: those they are tagged in and
            /// the look-alikes held for them.
            async fn photos_concerning_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT photo_id FROM photo_learners WHERE learner_id = $1 \
                     UNION SELECT photo_id FROM photo_blocks WHERE learner_id = $1 ORDER BY 1",
                )
                .bind(learner_id)
                .fetch_all(&mut *conn)
                .await?)
            }

            /// After a "no" from `learner_id`: every photo that looks like (perceptual hash) one of
            /// theirs and is not tagged with them becomes held for them, as an upload made after the
            /// "no" would be. A copy uploaded earlier would otherwise stay releasable. Returns the
            /// photos newly blocked, for re-evaluation in the same transaction.
            async fn block_lookalikes_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                let theirs = sqlx::query(
                    "SELECT p.id, p.phash FROM photos p JOIN photo_learners pl ON pl.photo_id = p.id WHERE pl.learner_id = $1",
                )
                .bind(learner_id)
                .fetch_all(&mut *conn)
                .await?;
                let mut hashes = Vec::new();
                for row in &theirs {
                    let hash: String = row.try_get("phash")?;
                    if let Ok(hash) = hash.parse::<crate::media::PerceptualHash>() {
                        hashes.push((row.try_get::<String, _>("id")?, hash));
                    }
                }
                if hashes.is_empty() {
                    return Ok(Vec::new());
                }
                let others = sqlx::query(
                    "SELECT p.id, p.phash FROM photos p WHERE p.image_deleted_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM photo_learners pl WHERE pl.photo_id = p.id AND pl.learner_id = $1) \
                     AND NOT EXISTS (SELECT 1 FROM photo_blocks b WHERE b.photo_id = p.id AND b.learner_id = $1)",
                )
                .bind(learner_id)
                .fetch_all(&mut *conn)
                .await?;
                let mut blocked = Vec::new();
                for row in &others {
                    let Ok(hash) = row.try_get::<String, _>("phash")?.parse::<crate::media::PerceptualHash>() else {
                        continue;
                    };
                    let Some((matched, _)) = hashes.iter().find(|(_, h)| h.matches(&hash)) else { continue };
                    let photo_id: String = row.try_get("id")?;
                    sqlx::query("INSERT INTO photo_blocks (photo_id, learner_id, matched_photo_id) VALUES ($1, $2, $3)")
                        .bind(&photo_id)
                        .bind(learner_id)
                        .bind(matched)
                        .execute(&mut *conn)
                        .await?;
                    blocked.push(photo_id);
                }
                Ok(blocked)
            }

            /// Every learner's names as `conn` sees them (inside a transaction: with its changes).
            async fn learner_names_in(
                conn: &mut <$db as sqlx::Database>::Connection,
            ) -> Result<Vec<crate::policy::names::NameEntry>, StoreError> {
                let rows = sqlx::query("SELECT id, given_name, preferred_name, family_name FROM learners")
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::policy::names::NameEntry {
                            learner_id: r.try_get("id")?,
                            given_name: r.try_get("given_name")?,
                            preferred_name: r.try_get("preferred_name")?,
                            family_name: r.try_get("family_name")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            /// Bumps the learners' version counter: the name index is rebuilt when it moves.
            async fn bump_learners_version_in(conn: &mut <$db as sqlx::Database>::Connection) -> Result<(), StoreError> {
                sqlx::query("UPDATE learners_version SET version = version + 1 WHERE id = 1").execute(&mut *conn).await?;
                Ok(())
            }

            /// Marks deleted the image of each of `photo_ids` that no purpose can use any more (every
            /// purpose held, or withdrawn or taken down, by someone's standing no), auditing each;
            /// returns the object keys no photo refers to any more.
            async fn retire_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_ids: &[String],
                eval: &Evaluation,
            ) -> Result<Vec<String>, StoreError> {
                let now = ms_of_time(eval.at);
                let mut retired = Vec::new();
                for photo_id in photo_ids {
                    let row = sqlx::query("SELECT object_key, image_deleted_at FROM photos WHERE id = $1")
                        .bind(photo_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let Some(row) = row else { continue };
                    if row.try_get::<Option<i64>, _>("image_deleted_at")?.is_some() {
                        continue;
                    }
                    let rows = sqlx::query("SELECT state, detail FROM photo_purposes WHERE photo_id = $1")
                        .bind(photo_id)
                        .fetch_all(&mut **tx)
                        .await?;
                    let mut unusable = !rows.is_empty();
                    for r in &rows {
                        let st = status_from_columns(&r.try_get::<String, _>("state")?, &r.try_get::<String, _>("detail")?)?;
                        // Only a tagged learner's own "no" deletes. A look-alike (or a photo someone
                        // was untagged from) is held for them but kept: the match is fuzzy and the
                        // tag may have been a mistake, so deleting would turn an error into a loss.
                        let said_no = st.reasons.iter().any(|x| matches!(x, Reason::Withdrawn | Reason::Refused));
                        unusable &= said_no && matches!(st.state, State::Held | State::Withdrawn | State::TakenDown);
                    }
                    if !unusable {
                        continue;
                    }
                    sqlx::query("UPDATE photos SET image_deleted_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(photo_id)
                        .execute(&mut **tx)
                        .await?;
                    let audit = AuditDraft::new(&eval.actor, "image_deleted", photo_id, serde_json::json!({}));
                    Self::append_in(tx, &audit).await?;
                    retired.push(row.try_get::<String, _>("object_key")?);
                }
                // Objects are content-addressed: one still used by another photo stays.
                let mut unreferenced = Vec::new();
                for key in retired {
                    let in_use: Option<i32> =
                        sqlx::query_scalar("SELECT 1 FROM photos WHERE object_key = $1 AND image_deleted_at IS NULL LIMIT 1")
                            .bind(&key)
                            .fetch_optional(&mut **tx)
                            .await?;
                    if in_use.is_none() && !unreferenced.contains(&key) {
                        unreferenced.push(key);
                    }
                }
                Ok(unreferenced)
            }

            async fn photos_of_learner_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT photo_id FROM photo_learners WHERE learner_id = $1 ORDER BY photo_id")
                    .bind(learner_id)
                    .fetch_all(&mut *conn)
                    .await?)
            }

            async fn insert_consent_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                e: &ConsentRecord,
            ) -> Result<(), StoreError> {
                let (giver_kind, guardian_id) = match &e.giver {
                    Giver::Learner => ("learner", None),
                    Giver::Guardian(id) => ("guardian", Some(id.as_str())),
                };
                sqlx::query(
                    "INSERT INTO consent_events (id, learner_id, kind, purposes, giver_kind, guardian_id, given_at, \
                     expires_at, form_version, form_text_hash, method, evidence, recorded_by, recorded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(&e.id)
                .bind(&e.learner_id)
                .bind(kind_name(e.kind))
                .bind(purposes_column(&e.purposes))
                .bind(giver_kind)
                .bind(guardian_id)
                .bind(e.given_at)
                .bind(e.expires_at)
                .bind(&e.form_version)
                .bind(&e.form_text_hash)
                .bind(&e.method)
                .bind(&e.evidence)
                .bind(&e.recorded_by)
                .bind(e.recorded_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn insert_guardian_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
                g: &GuardianRecord,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO guardians (id, learner_id, name, email, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&g.id)
                    .bind(learner_id)
                    .bind(&g.name)
                    .bind(&g.email)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn set_photo_links_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                photo: &PhotoRecord,
            ) -> Result<(), StoreError> {
                for learner in &photo.learner_ids {
                    sqlx::query("INSERT INTO photo_learners (photo_id, learner_id) VALUES ($1, $2)")
                        .bind(&photo.id)
                        .bind(learner)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            }

            async fn learner_from_row(&self, row: &<$db as sqlx::Database>::Row) -> Result<LearnerRecord, StoreError> {
                let id: String = row.try_get("id")?;
                let guardians = sqlx::query("SELECT id, name, email FROM guardians WHERE learner_id = $1 ORDER BY created_at, id")
                    .bind(&id)
                    .fetch_all(&self.$read)
                    .await?
                    .iter()
                    .map(|g| Ok(GuardianRecord { id: g.try_get("id")?, name: g.try_get("name")?, email: g.try_get("email")? }))
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                Ok(LearnerRecord {
                    id,
                    given_name: row.try_get("given_name")?,
                    family_name: row.try_get("family_name")?,
                    preferred_name: row.try_get("preferred_name")?,
                    date_of_birth: row.try_get("date_of_birth")?,
                    external_ref: row.try_get("external_ref")?,
                    guardians,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            /// Inside a claim: re-checks the photo's rules now, then leases the item to `claimant`
            /// if it is still free; `None` when it no longer passes or someone else holds it.
            async fn take_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_id: &str,
                item_id: &str,
                claimant: &str,
                lease_ms: i64,
                eval: &Evaluation,
            ) -> Result<Option<QueueItem>, StoreError> {
                let now = ms_of_time(eval.at);
                // Consent and the other rules are checked again at the moment of taking.
                Self::reevaluate_in(tx, &[photo_id.to_string()], eval).await?;
                let claimed = sqlx::query(
                    "UPDATE photo_purposes SET state = 'claimed', claimed_by = $1, lease_expires_at = $2, changed_at = $3 \
                     WHERE item_id = $4 AND (state = 'queued' OR (state = 'claimed' AND lease_expires_at <= $3))",
                )
                .bind(claimant)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .bind(item_id)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if claimed == 0 {
                    return Ok(None);
                }
                let audit = AuditDraft::new(
                    claimant,
                    "item_claimed",
                    photo_id,
                    serde_json::json!({ "item": item_id, "lease_ms": lease_ms }),
                );
                Self::append_in(tx, &audit).await?;
                let row = sqlx::query(&format!("{QUEUE_ITEM_SELECT} WHERE pp.item_id = $1"))
                    .bind(item_id)
                    .fetch_one(&mut **tx)
                    .await?;
                Ok(Some(queue_item_from_row(&row)?))
            }

            /// The photos with these ids, in the order given (missing ones skipped).
            async fn photos_by_ids(&self, ids: &[String]) -> Result<Vec<PhotoRecord>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(photo) = self.photo_where("id", id).await? {
                        out.push(photo);
                    }
                }
                Ok(out)
            }

            async fn photo_where(&self, column: &str, value: &str) -> Result<Option<PhotoRecord>, StoreError> {
                let sql = format!("SELECT * FROM photos WHERE {column} = $1");
                let Some(row) = sqlx::query(&sql).bind(value).fetch_optional(&self.$read).await? else {
                    return Ok(None);
                };
                let id: String = row.try_get("id")?;
                let learner_ids =
                    sqlx::query_scalar("SELECT learner_id FROM photo_learners WHERE photo_id = $1 ORDER BY learner_id")
                        .bind(&id)
                        .fetch_all(&self.$read)
                        .await?;
                let rows = sqlx::query("SELECT purpose, state, detail FROM photo_purposes WHERE photo_id = $1 ORDER BY purpose")
                    .bind(&id)
                    .fetch_all(&self.$read)
                    .await?;
                let mut status = BTreeMap::new();
                for row in &rows {
                    let purpose: String = row.try_get("purpose")?;
                    let purpose: Purpose = purpose.parse().map_err(StoreError::Corrupt)?;
                    status.insert(purpose, status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?);
                }
                let purposes: Vec<Purpose> = status.keys().copied().collect();
                let resembles = sqlx::query(
                    "SELECT learner_id, matched_photo_id FROM photo_blocks WHERE photo_id = $1 ORDER BY learner_id",
                )
                .bind(&id)
                .fetch_all(&self.$read)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("learner_id")?, r.try_get("matched_photo_id")?)))
                .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
                Ok(Some(PhotoRecord {
                    id,
                    object_key: row.try_get("object_key")?,
                    format: row.try_get("format")?,
                    width: row.try_get("width")?,
                    height: row.try_get("height")?,
                    byte_size: row.try_get("byte_size")?,
                    blake3: row.try_get("blake3")?,
                    original_blake3: row.try_get("original_blake3")?,
                    phash: row.try_get("phash")?,
                    removed: row.try_get("removed")?,
                    caption: row.try_get("caption")?,
                    alt_text: row.try_get("alt_text")?,
                    title: row.try_get("title")?,
                    tags: tags_from_column(&row.try_get::<String, _>("tags")?)?,
                    all_tagged: row.try_get("all_tagged")?,
                    uploaded_by: row.try_get("uploaded_by")?,
                    created_at: row.try_get("created_at")?,
                    learner_ids,
                    purposes,
                    status,
                    resembles,
                    image_deleted_at: row.try_get("image_deleted_at")?,
                }))
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                sqlx::migrate!($migrations).run(&self.$write).await?;
                Ok(())
            }

            async fn create_token(&self, token: &TokenRecord, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.$write.begin().await?;
                // Every writing transaction takes the chain's lock first: one lock order, no deadlocks.
                Self::lock_in(&mut *tx).await?;
                sqlx::query("INSERT INTO tokens (id, role, name, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&token.id)
                    .bind(token.role.as_str())
                    .bind(&token.name)
                    .bind(&token.secret_hash)
                    .bind(token.created_at)
                    .execute(&mut *tx)
                    .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
                let row = sqlx::query("SELECT id, role, name, secret_hash, created_at FROM tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$read)
                    .await?;
                row.map(|row| {
                    let role: String = row.try_get("role")?;
                    Ok(TokenRecord {
                        id: row.try_get("id")?,
                        role: role.parse().map_err(StoreError::Corrupt)?,
                        name: row.try_get("name")?,
                        secret_hash: row.try_get("secret_hash")?,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .transpose()
            }

            async fn count_tokens(&self, role: Role) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE role = $1")
                    .bind(role.as_str())
                    .fetch_one(&self.$read)
                    .await?)
            }

            async fn unknown_learners(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
                let mut unknown = Vec::new();
                for id in ids {
                    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM learners WHERE id = $1")
                        .bind(id)
                        .fetch_one(&self.$read)
                        .await?;
                    if found == 0 {
                        unknown.push(id.clone());
                    }
                }
                Ok(unknown)
            }

            async fn insert_photo(
                &self,
                photo: &PhotoRecord,
                mut audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<BTreeMap<Purpose, PurposeStatus>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let inserted = sqlx::query(
                    "INSERT INTO photos (id, object_key, format, width, height, byte_size, blake3, original_blake3, \
                     phash, removed, caption, alt_text, all_tagged, uploaded_by, created_at, title, tags) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(&photo.id)
                .bind(&photo.object_key)
                .bind(&photo.format)
                .bind(photo.width)
                .bind(photo.height)
                .bind(photo.byte_size)
                .bind(&photo.blake3)
                .bind(&photo.original_blake3)
                .bind(&photo.phash)
                .bind(&photo.removed)
                .bind(&photo.caption)
                .bind(&photo.alt_text)
                .bind(photo.all_tagged)
                .bind(&photo.uploaded_by)
                .bind(photo.created_at)
                .bind(&photo.title)
                .bind(tags_column(&photo.tags))
                .execute(&mut *tx)
                .await;
                if let Err(e) = inserted {
                    return Err(if is_unique_violation(&e) {
                        StoreError::Conflict(format!("a photo with original {}", photo.original_blake3))
                    } else {
                        e.into()
                    });
                }
                Self::set_photo_links_in(&mut *tx, photo).await?;
                let mut blocked_by = Vec::new();
                for (learner_id, matched) in &photo.resembles {
                    sqlx::query("INSERT INTO photo_blocks (photo_id, learner_id, matched_photo_id) VALUES ($1, $2, $3)")
                        .bind(&photo.id)
                        .bind(learner_id)
                        .bind(matched)
                        .execute(&mut *tx)
                        .await?;
                    blocked_by.push(learner_id.clone());
                }
                // The first status is part of the upload, audited with it rather than as a change.
                let status = Self::evaluate_in(
                    &mut *tx,
                    &photo.learner_ids,
                    photo.all_tagged,
                    &photo.purposes,
                    &blocked_by,
                    (
                        &photo.texts().into_iter().map(|(_, t)| t).collect::<Vec<_>>(),
                        &photo.tags.iter().map(String::as_str).collect::<Vec<_>>(),
                    ),
                    &eval,
                )
                .await?;
                for (purpose, st) in &status {
                    sqlx::query(
                        "INSERT INTO photo_purposes (photo_id, purpose, state, detail, changed_at, item_id) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&photo.id)
                    .bind(purpose.as_str())
                    .bind(st.state.as_str())
                    .bind(detail_column(st))
                    .bind(ms_of_time(eval.at))
                    .bind(format!("{}:{}", photo.id, purpose.as_str()))
                    .execute(&mut *tx)
                    .await?;
                }
                audit.details["status"] =
                    serde_json::json!(status.iter().map(|(p, st)| (p.as_str(), st.state)).collect::<BTreeMap<_, _>>());
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(status)
            }

            async fn update_photo(&self, photo: &PhotoRecord, mut audit: AuditDraft, eval: Evaluation) -> Result<bool, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let was_tagged: Vec<String> =
                    sqlx::query_scalar("SELECT learner_id FROM photo_learners WHERE photo_id = $1")
                        .bind(&photo.id)
                        .fetch_all(&mut *tx)
                        .await?;
                let updated = sqlx::query(
                    "UPDATE photos SET caption = $1, alt_text = $2, all_tagged = $3, title = $4, tags = $5 WHERE id = $6",
                )
                .bind(&photo.caption)
                .bind(&photo.alt_text)
                .bind(photo.all_tagged)
                .bind(&photo.title)
                .bind(tags_column(&photo.tags))
                .bind(&photo.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM photo_learners WHERE photo_id = $1").bind(&photo.id).execute(&mut *tx).await?;
                Self::set_photo_links_in(&mut *tx, photo).await?;
                let stored: Vec<String> = sqlx::query_scalar("SELECT purpose FROM photo_purposes WHERE photo_id = $1")
                    .bind(&photo.id)
                    .fetch_all(&mut *tx)
                    .await?;
                // Untagging someone whose "no" stands must not release the photo: they are still in
                // it. They stay blocked on it, as for a look-alike, while their no stands.
                let mut purposes_asked: Vec<Purpose> =
                    stored.iter().filter_map(|name| name.parse().ok()).chain(photo.purposes.iter().copied()).collect();
                purposes_asked.sort();
                purposes_asked.dedup();
                let mut blocked = Vec::new();
                for learner_id in was_tagged.iter().filter(|id| !photo.learner_ids.contains(id)) {
                    let Some(facts) = Self::learner_facts_in(&mut *tx, learner_id).await? else { continue };
                    let said_no = purposes_asked.iter().any(|purpose| {
                        matches!(
                            crate::policy::consent::decide(&facts.learner, &facts.events, *purpose, eval.at, eval.rules),
                            crate::policy::consent::Decision::Deny { reasons }
                                if reasons.iter().any(|r| matches!(r, crate::policy::consent::DenyReason::Refused | crate::policy::consent::DenyReason::Withdrawn))
                        )
                    });
                    if said_no {
                        sqlx::query(
                            "INSERT INTO photo_blocks (photo_id, learner_id, matched_photo_id) VALUES ($1, $2, $3) \
                             ON CONFLICT (photo_id, learner_id) DO NOTHING",
                        )
                        .bind(&photo.id)
                        .bind(learner_id)
                        .bind(&photo.id)
                        .execute(&mut *tx)
                        .await?;
                        blocked.push(learner_id.clone());
                    }
                }
                if !blocked.is_empty() {
                    audit.details["blocked_learners"] = serde_json::json!(blocked);
                }
                for name in &stored {
                    if !photo.purposes.iter().any(|p| p.as_str() == name) {
                        // Only an item marketing has not taken can simply go; the handler refuses others.
                        sqlx::query(
                            "DELETE FROM photo_purposes WHERE photo_id = $1 AND purpose = $2 AND state IN ('held', 'queued')",
                        )
                        .bind(&photo.id)
                        .bind(name)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                for purpose in &photo.purposes {
                    if !stored.iter().any(|name| name == purpose.as_str()) {
                        // Held until the re-evaluation below decides.
                        sqlx::query(
                            "INSERT INTO photo_purposes (photo_id, purpose, changed_at, item_id) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(&photo.id)
                        .bind(purpose.as_str())
                        .bind(ms_of_time(eval.at))
                        .bind(format!("{}:{}", photo.id, purpose.as_str()))
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Self::append_in(&mut tx, &audit).await?;
                Self::reevaluate_in(&mut tx, std::slice::from_ref(&photo.id), &eval).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn record_consent(
                &self,
                event: &ConsentRecord,
                link_token_hash: Option<&str>,
                audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<Vec<StatusChange>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let stamped;
                let event = if eval.live {
                    stamped = ConsentRecord {
                        recorded_at: Self::recorded_at_in(&mut *tx, &event.learner_id, ms_of_time(eval.at)).await?,
                        ..event.clone()
                    };
                    &stamped
                } else {
                    event
                };
                Self::insert_consent_in(&mut *tx, event).await?;
                if let Some(hash) = link_token_hash {
                    sqlx::query("INSERT INTO withdrawal_links (token_hash, grant_id) VALUES ($1, $2)")
                        .bind(hash)
                        .bind(&event.id)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::append_in(&mut tx, &audit).await?;
                if event.kind != EventKind::Granted {
                    Self::block_lookalikes_in(&mut *tx, &event.learner_id).await?;
                }
                // Look-alikes held for them are re-evaluated too: a grant can lift their block.
                let photos = Self::photos_concerning_in(&mut *tx, &event.learner_id).await?;
                let changes = Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(changes)
            }

            async fn consents(&self, learner_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
                let mut conn = self.$read.acquire().await?;
                Self::consents_in(&mut *conn, learner_id).await
            }

            async fn withdrawal_link(&self, token_hash: &str) -> Result<Option<WithdrawalLink>, StoreError> {
                let row = sqlx::query(
                    "SELECT e.*, w.used_at AS link_used_at, COALESCE(l.preferred_name, l.given_name) AS first_name \
                     FROM withdrawal_links w JOIN consent_events e ON e.id = w.grant_id \
                     JOIN learners l ON l.id = e.learner_id WHERE w.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.$read)
                .await?;
                row.map(|row| {
                    Ok(WithdrawalLink {
                        grant: consent_from_row(&row)?,
                        first_name: row.try_get("first_name")?,
                        used_at: row.try_get("link_used_at")?,
                    })
                })
                .transpose()
            }

            async fn withdraw_by_link(
                &self,
                token_hash: &str,
                new_event_id: &str,
                eval: Evaluation,
            ) -> Result<WithdrawOutcome, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let link = sqlx::query("SELECT grant_id, used_at FROM withdrawal_links WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(link) = link else { return Ok(WithdrawOutcome::Unknown) };
                if let Some(used_at) = link.try_get::<Option<i64>, _>("used_at")? {
                    return Ok(WithdrawOutcome::AlreadyUsed(used_at));
                }
                let grant_id: String = link.try_get("grant_id")?;
                let grant_row = sqlx::query("SELECT * FROM consent_events WHERE id = $1")
                    .bind(&grant_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let grant = consent_from_row(&grant_row)?;
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                let recorded_at = if eval.live { Self::recorded_at_in(&mut *tx, &grant.learner_id, now).await? } else { now };
                let event = ConsentRecord {
                    id: new_event_id.to_string(),
                    learner_id: grant.learner_id.clone(),
                    kind: EventKind::Withdrawn,
                    purposes: grant.purposes.clone(),
                    giver: grant.giver.clone(),
                    given_at: now,
                    expires_at: None,
                    form_version: grant.form_version.clone(),
                    form_text_hash: grant.form_text_hash.clone(),
                    method: "withdrawal_link".into(),
                    evidence: format!("withdrawal link of grant {}", grant.id),
                    recorded_by: "withdrawal_link".into(),
                    recorded_at,
                };
                Self::insert_consent_in(&mut *tx, &event).await?;
                sqlx::query("UPDATE withdrawal_links SET used_at = $1, withdrawal_id = $2 WHERE token_hash = $3")
                    .bind(now)
                    .bind(&event.id)
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                let audit = AuditDraft::new(
                    &eval.actor,
                    "consent_withdrawn",
                    &event.learner_id,
                    serde_json::json!({ "event": event.id, "grant": grant.id, "purposes": event.purposes }),
                );
                Self::append_in(&mut tx, &audit).await?;
                // A copy uploaded before this withdrawal is held for them in the same transaction.
                Self::block_lookalikes_in(&mut *tx, &event.learner_id).await?;
                let photos = Self::photos_concerning_in(&mut *tx, &event.learner_id).await?;
                let changes = Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(WithdrawOutcome::Withdrawn { event: Box::new(event), changes })
            }

            async fn reevaluate(&self, photo_ids: &[String], eval: Evaluation) -> Result<Vec<StatusChange>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let changes = Self::reevaluate_in(&mut tx, photo_ids, &eval).await?;
                tx.commit().await?;
                Ok(changes)
            }

            async fn live_photo_ids(&self, after: &str, limit: i64) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT DISTINCT photo_id FROM photo_purposes WHERE state IN ('held', 'queued', 'claimed', 'published') AND photo_id > $1 \
                     ORDER BY photo_id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.$read)
                .await?)
            }

            async fn photo(&self, id: &str) -> Result<Option<PhotoRecord>, StoreError> {
                self.photo_where("id", id).await
            }

            async fn photo_by_original(&self, original_blake3: &str) -> Result<Option<PhotoRecord>, StoreError> {
                self.photo_where("original_blake3", original_blake3).await
            }

            async fn photos_of_learners_who_said_no(&self) -> Result<Vec<(String, String, String)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT p.id, p.phash, pl.learner_id FROM photos p JOIN photo_learners pl ON pl.photo_id = p.id \
                     WHERE pl.learner_id IN (SELECT learner_id FROM consent_events WHERE kind IN ('refused', 'withdrawn'))",
                )
                .fetch_all(&self.$read)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("id")?, r.try_get("phash")?, r.try_get("learner_id")?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn object_keys(&self) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT DISTINCT object_key FROM photos WHERE image_deleted_at IS NULL")
                    .fetch_all(&self.$read)
                    .await?)
            }

            async fn object_in_use(&self, key: &str) -> Result<bool, StoreError> {
                let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM photos WHERE object_key = $1 AND image_deleted_at IS NULL LIMIT 1")
                    .bind(key)
                    .fetch_optional(&self.$read)
                    .await?;
                Ok(found.is_some())
            }

            async fn append_audit(&self, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_head(&self) -> Result<(i64, String), StoreError> {
                let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&self.$read)
                    .await?;
                match row {
                    Some(row) => Ok((row.try_get("seq")?, row.try_get("hash")?)),
                    None => Ok((0, GENESIS_HASH.to_string())),
                }
            }

            async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log \
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&self.$read)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AuditRecord {
                            seq: row.try_get("seq")?,
                            at: row.try_get("at")?,
                            actor: row.try_get("actor")?,
                            action: row.try_get("action")?,
                            subject: row.try_get("subject")?,
                            details: row.try_get("details")?,
                            prev_hash: row.try_get("prev_hash")?,
                            hash: row.try_get("hash")?,
                        })
                    })
                    .collect()
            }

            async fn table_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
                let mut counts = BTreeMap::new();
                for table in TABLES {
                    let n: i64 =
                        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.$read).await?;
                    counts.insert((*table).to_string(), n);
                }
                Ok(counts)
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.$read).await?;
                Ok(())
            }

            async fn insert_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.$write.begin().await?;
                // Every writing transaction takes the chain's lock first: one lock order, no deadlocks.
                Self::lock_in(&mut *tx).await?;
                let inserted = sqlx::query(
                    "INSERT INTO learners (id, given_name, family_name, preferred_name, date_of_birth, external_ref, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&learner.id)
                .bind(&learner.given_name)
                .bind(&learner.family_name)
                .bind(&learner.preferred_name)
                .bind(&learner.date_of_birth)
                .bind(&learner.external_ref)
                .bind(learner.created_at)
                .bind(learner.updated_at)
                .execute(&mut *tx)
                .await;
                if let Err(e) = inserted {
                    return Err(if is_unique_violation(&e) {
                        StoreError::Conflict("a learner with this external reference".into())
                    } else {
                        e.into()
                    });
                }
                for g in &learner.guardians {
                    sqlx::query("INSERT INTO guardians (id, learner_id, name, email, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(&g.id)
                        .bind(&learner.id)
                        .bind(&g.name)
                        .bind(&g.email)
                        .bind(learner.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::bump_learners_version_in(&mut *tx).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_learner(
                &self,
                learner: &LearnerRecord,
                audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<bool, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let updated = sqlx::query(
                    "UPDATE learners SET given_name = $1, family_name = $2, preferred_name = $3, date_of_birth = $4, \
                     external_ref = $5, updated_at = $6 WHERE id = $7",
                )
                .bind(&learner.given_name)
                .bind(&learner.family_name)
                .bind(&learner.preferred_name)
                .bind(&learner.date_of_birth)
                .bind(&learner.external_ref)
                .bind(learner.updated_at)
                .bind(&learner.id)
                .execute(&mut *tx)
                .await;
                let updated = match updated {
                    Ok(result) => result.rows_affected(),
                    Err(e) if is_unique_violation(&e) => {
                        return Err(StoreError::Conflict("a learner with this external reference".into()))
                    }
                    Err(e) => return Err(e.into()),
                };
                if updated == 0 {
                    return Ok(false);
                }
                Self::bump_learners_version_in(&mut *tx).await?;
                Self::append_in(&mut tx, &audit).await?;
                let photos = Self::photos_of_learner_in(&mut *tx, &learner.id).await?;
                Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn import_learners(
                &self,
                learners: &[LearnerRecord],
                eval: Evaluation,
                dry_run: bool,
            ) -> Result<ImportSummary, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let mut summary = ImportSummary::default();
                let mut changed_learners = Vec::new();
                for learner in learners {
                    let existing = sqlx::query(
                        "SELECT id, given_name, family_name, preferred_name, date_of_birth FROM learners WHERE external_ref = $1",
                    )
                    .bind(&learner.external_ref)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(existing) = existing else {
                        sqlx::query(
                            "INSERT INTO learners (id, given_name, family_name, preferred_name, date_of_birth, external_ref, \
                             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        )
                        .bind(&learner.id)
                        .bind(&learner.given_name)
                        .bind(&learner.family_name)
                        .bind(&learner.preferred_name)
                        .bind(&learner.date_of_birth)
                        .bind(&learner.external_ref)
                        .bind(learner.created_at)
                        .bind(learner.updated_at)
                        .execute(&mut *tx)
                        .await?;
                        for g in &learner.guardians {
                            Self::insert_guardian_in(&mut *tx, &learner.id, g, learner.created_at).await?;
                        }
                        let audit = AuditDraft::new(
                            &eval.actor,
                            "learner_imported",
                            &learner.id,
                            serde_json::json!({ "guardians": learner.guardians.len() }),
                        );
                        Self::append_in(&mut tx, &audit).await?;
                        summary.created += 1;
                        continue;
                    };
                    let id: String = existing.try_get("id")?;
                    let mut fields = Vec::new();
                    let preferred: Option<String> = existing.try_get("preferred_name")?;
                    let preferred = learner.preferred_name.clone().or(preferred);
                    if existing.try_get::<String, _>("given_name")? != learner.given_name {
                        fields.push("given_name");
                    }
                    if existing.try_get::<String, _>("family_name")? != learner.family_name {
                        fields.push("family_name");
                    }
                    if existing.try_get::<Option<String>, _>("preferred_name")? != preferred {
                        fields.push("preferred_name");
                    }
                    // A blank cell means "not given", as for the preferred name: blanking a known date of
                    // birth would make an adult count as a child again (and a guardian's grant count).
                    let stored_dob: Option<String> = existing.try_get("date_of_birth")?;
                    let date_of_birth = learner.date_of_birth.clone().or_else(|| stored_dob.clone());
                    if stored_dob != date_of_birth {
                        fields.push("date_of_birth");
                    }
                    if !fields.is_empty() {
                        sqlx::query(
                            "UPDATE learners SET given_name = $1, family_name = $2, preferred_name = $3, \
                             date_of_birth = $4, updated_at = $5 WHERE id = $6",
                        )
                        .bind(&learner.given_name)
                        .bind(&learner.family_name)
                        .bind(&preferred)
                        .bind(&date_of_birth)
                        .bind(learner.updated_at)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    let known: Vec<String> = sqlx::query_scalar("SELECT name FROM guardians WHERE learner_id = $1")
                        .bind(&id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut added = 0;
                    for g in &learner.guardians {
                        if !known.iter().any(|k| k.to_lowercase() == g.name.to_lowercase()) {
                            Self::insert_guardian_in(&mut *tx, &id, g, learner.updated_at).await?;
                            added += 1;
                        }
                    }
                    if fields.is_empty() && added == 0 {
                        summary.unchanged += 1;
                        continue;
                    }
                    // The audit names the fields changed, never their values.
                    let audit = AuditDraft::new(
                        &eval.actor,
                        "learner_corrected",
                        &id,
                        serde_json::json!({ "fields": fields, "guardians_added": added, "via": "import" }),
                    );
                    Self::append_in(&mut tx, &audit).await?;
                    summary.updated += 1;
                    changed_learners.push(id);
                }
                if summary.created + summary.updated > 0 {
                    Self::bump_learners_version_in(&mut *tx).await?;
                }
                let mut photos = Vec::new();
                for id in &changed_learners {
                    photos.extend(Self::photos_of_learner_in(&mut *tx, id).await?);
                }
                photos.sort();
                photos.dedup();
                // The re-evaluation must check captions against the names as imported, not as they
                // were before: the index is rebuilt from this transaction's view of the table.
                let names = Self::learner_names_in(&mut *tx).await?;
                let eval = Evaluation { names: std::sync::Arc::new(crate::policy::names::NameIndex::build(names)), ..eval };
                Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                let audit = AuditDraft::new(
                    &eval.actor,
                    "learners_import",
                    "-",
                    serde_json::json!({ "created": summary.created, "updated": summary.updated, "unchanged": summary.unchanged }),
                );
                Self::append_in(&mut tx, &audit).await?;
                if dry_run {
                    tx.rollback().await?;
                } else {
                    tx.commit().await?;
                }
                Ok(summary)
            }

            async fn queue(&self, purpose: Option<Purpose>, now_ms: i64, limit: i64) -> Result<Vec<QueueItem>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{QUEUE_ITEM_SELECT} WHERE (pp.state = 'queued' OR (pp.state = 'claimed' AND pp.lease_expires_at <= $1)) \
                     AND ($2 = '' OR pp.purpose = $2) AND p.image_deleted_at IS NULL \
                     ORDER BY pp.changed_at, pp.item_id LIMIT $3"
                ))
                .bind(now_ms)
                .bind(purpose.map_or("", |p| p.as_str()))
                .bind(limit)
                .fetch_all(&self.$read)
                .await?;
                rows.iter().map(queue_item_from_row).collect()
            }

            async fn claim(
                &self,
                purpose: Purpose,
                claimant: &str,
                lease_ms: i64,
                eval: Evaluation,
            ) -> Result<Option<QueueItem>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                loop {
                    // Two index-ordered lookups rather than one OR: an item whose lease ran out
                    // goes first (it has waited longest), then the oldest queued one.
                    let mut candidate = sqlx::query(
                        "SELECT photo_id, item_id FROM photo_purposes \
                         WHERE purpose = $1 AND state = 'claimed' AND lease_expires_at <= $2 \
                         ORDER BY lease_expires_at, item_id LIMIT 1",
                    )
                    .bind(purpose.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if candidate.is_none() {
                        candidate = sqlx::query(
                            "SELECT photo_id, item_id FROM photo_purposes WHERE purpose = $1 AND state = 'queued' \
                             ORDER BY changed_at, item_id LIMIT 1",
                        )
                        .bind(purpose.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    }
                    let Some(candidate) = candidate else {
                        tx.commit().await?;
                        return Ok(None);
                    };
                    let photo_id: String = candidate.try_get("photo_id")?;
                    let item_id: String = candidate.try_get("item_id")?;
                    match Self::take_in(&mut tx, &photo_id, &item_id, claimant, lease_ms, &eval).await? {
                        Some(item) => {
                            tx.commit().await?;
                            return Ok(Some(item));
                        }
                        None => continue, // it no longer passes and has left the queue; try the next
                    }
                }
            }

            async fn claim_item(
                &self,
                item_id: &str,
                claimant: &str,
                lease_ms: i64,
                eval: Evaluation,
            ) -> Result<Option<QueueItem>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let photo_id: Option<String> = sqlx::query_scalar(
                    "SELECT photo_id FROM photo_purposes WHERE item_id = $1 \
                     AND (state = 'queued' OR (state = 'claimed' AND lease_expires_at <= $2))",
                )
                .bind(item_id)
                .bind(ms_of_time(eval.at))
                .fetch_optional(&mut *tx)
                .await?;
                let item = match photo_id {
                    Some(photo_id) => Self::take_in(&mut tx, &photo_id, item_id, claimant, lease_ms, &eval).await?,
                    None => None,
                };
                // Commit either way: a re-evaluation that took the item out of the queue stands.
                tx.commit().await?;
                Ok(item)
            }

            async fn publish(
                &self,
                item_id: &str,
                claimant: &str,
                url: &str,
                channel: &str,
                eval: Evaluation,
            ) -> Result<PublishOutcome, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                let row = sqlx::query("SELECT photo_id, purpose FROM photo_purposes WHERE item_id = $1")
                    .bind(item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(PublishOutcome::Unknown) };
                let photo_id: String = row.try_get("photo_id")?;
                let purpose: String = row.try_get("purpose")?;
                let purpose: Purpose = purpose.parse().map_err(StoreError::Corrupt)?;
                // Consent is judged at the moment of the report, like at a claim.
                Self::reevaluate_in(&mut tx, std::slice::from_ref(&photo_id), &eval).await?;
                let row = sqlx::query("SELECT state, detail FROM photo_purposes WHERE item_id = $1")
                    .bind(item_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let status = status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?;
                // The report is a fact about the world: whoever holds the item now, however late it
                // comes and on however many channels, it is recorded, so a withdrawal can reach it.
                let publication =
                    Self::insert_publication_in(&mut tx, item_id, &photo_id, purpose, url, channel, claimant, now).await?;
                let audit = AuditDraft::new(
                    claimant,
                    "item_published",
                    &photo_id,
                    serde_json::json!({ "item": item_id, "publication": publication, "channel": channel }),
                );
                Self::append_in(&mut tx, &audit).await?;
                let releasable = matches!(status.state, State::Queued | State::Claimed | State::Published);
                if releasable {
                    // A lease held by someone else ends too: the item is out, and every further report
                    // (theirs included) is one more publication of it.
                    sqlx::query(
                        "UPDATE photo_purposes SET state = 'published', published_url = $1, published_channel = $2, \
                         published_at = $3, lease_expires_at = NULL, changed_at = $3 WHERE item_id = $4",
                    )
                    .bind(url)
                    .bind(channel)
                    .bind(now)
                    .bind(item_id)
                    .execute(&mut *tx)
                    .await?;
                    let row = sqlx::query(&format!("{QUEUE_ITEM_SELECT} WHERE pp.item_id = $1"))
                        .bind(item_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let item = queue_item_from_row(&row)?;
                    tx.commit().await?;
                    return Ok(PublishOutcome::Published(Box::new(item)));
                }
                // Consent (or the name check) does not hold now: it went out anyway, so it must come
                // down at once. A taken-down item is owed again: this is a new post.
                sqlx::query(
                    "UPDATE photo_purposes SET state = 'withdrawn', published_url = $1, published_channel = $2, \
                     published_at = $3, lease_expires_at = NULL, changed_at = $3 WHERE item_id = $4",
                )
                .bind(url)
                .bind(channel)
                .bind(now)
                .bind(item_id)
                .execute(&mut *tx)
                .await?;
                let mut reasons = status.reasons.clone();
                if reasons.is_empty() {
                    // A withdrawn or taken-down status keeps the reasons it was given; never owe
                    // a takedown without one.
                    reasons.push(Reason::Withdrawn);
                }
                Self::owe_takedowns_in(&mut tx, &photo_id, purpose, &reasons, &eval).await?;
                tx.commit().await?;
                Ok(PublishOutcome::TakedownOwed(reasons))
            }

            async fn released_for_download(
                &self,
                photo_id: &str,
                eval: Evaluation,
            ) -> Result<Result<(), Vec<Reason>>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                Self::reevaluate_in(&mut tx, &[photo_id.to_string()], &eval).await?;
                let deleted: Option<Option<i64>> = sqlx::query_scalar("SELECT image_deleted_at FROM photos WHERE id = $1")
                    .bind(photo_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let rows = sqlx::query("SELECT state, detail FROM photo_purposes WHERE photo_id = $1")
                    .bind(photo_id)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut reasons = std::collections::BTreeSet::new();
                for row in &rows {
                    let status = status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?;
                    if matches!(status.state, State::Queued | State::Claimed | State::Published) && matches!(deleted, Some(None)) {
                        return Ok(Ok(()));
                    }
                    reasons.extend(status.reasons);
                }
                Ok(Err(reasons.into_iter().collect()))
            }

            async fn takedowns(&self, all: bool) -> Result<Vec<Takedown>, StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM takedowns WHERE ($1 OR done_at IS NULL) ORDER BY created_at, id",
                )
                .bind(all)
                .fetch_all(&self.$read)
                .await?;
                rows.iter()
                    .map(|r| {
                        let purpose: String = r.try_get("purpose")?;
                        let reasons: String = r.try_get("reasons")?;
                        Ok(Takedown {
                            id: r.try_get("id")?,
                            photo_id: r.try_get("photo_id")?,
                            purpose: purpose.parse().map_err(StoreError::Corrupt)?,
                            url: r.try_get("url")?,
                            channel: r.try_get("channel")?,
                            caption: r.try_get("caption")?,
                            alt_text: r.try_get("alt_text")?,
                            reasons: serde_json::from_str(&reasons).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                            created_at: r.try_get("created_at")?,
                            done_at: r.try_get("done_at")?,
                        })
                    })
                    .collect()
            }

            async fn takedown_done(&self, id: &str, eval: Evaluation) -> Result<bool, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let now = ms_of_time(eval.at);
                let row = sqlx::query("SELECT photo_id, purpose FROM takedowns WHERE id = $1 AND done_at IS NULL")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(false) };
                let photo_id: String = row.try_get("photo_id")?;
                let purpose: String = row.try_get("purpose")?;
                sqlx::query("UPDATE takedowns SET done_at = $1, done_by = $2 WHERE id = $3")
                    .bind(now)
                    .bind(&eval.actor)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                // The item is taken down only when every publication of it is.
                sqlx::query(
                    "UPDATE photo_purposes SET state = 'taken_down', changed_at = $1 \
                     WHERE photo_id = $2 AND purpose = $3 AND state = 'withdrawn' AND NOT EXISTS \
                     (SELECT 1 FROM takedowns t WHERE t.photo_id = $2 AND t.purpose = $3 AND t.done_at IS NULL)",
                )
                .bind(now)
                .bind(&photo_id)
                .bind(&purpose)
                .execute(&mut *tx)
                .await?;
                let audit = AuditDraft::new(&eval.actor, "takedown_done", &photo_id, serde_json::json!({ "takedown": id, "purpose": purpose }));
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn retire_images_of(&self, learner_id: &str, eval: Evaluation) -> Result<Vec<String>, StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                let photos = Self::photos_concerning_in(&mut *tx, learner_id).await?;
                let unreferenced = Self::retire_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(unreferenced)
            }

            async fn retire_unusable_images(&self, after: &str, limit: i64, eval: Evaluation) -> Result<(Vec<String>, Option<String>), StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                // Candidates: images still kept whose every purpose is out of the queue, and that
                // existed when a learner tagged in them said no: the retirement a withdrawal or
                // refusal should have done. A photo tagged with someone whose no was already on
                // record is held, not deleted, so a tutor's wrong tag can still be corrected. The
                // rule itself (a standing no behind each purpose) is checked row by row in `retire_in`.
                let photos: Vec<String> = sqlx::query_scalar(
                    "SELECT p.id FROM photos p WHERE p.image_deleted_at IS NULL AND p.id > $1 \
                     AND EXISTS (SELECT 1 FROM photo_purposes pp WHERE pp.photo_id = p.id) \
                     AND NOT EXISTS (SELECT 1 FROM photo_purposes pp WHERE pp.photo_id = p.id \
                                     AND pp.state NOT IN ('held', 'withdrawn', 'taken_down')) \
                     AND EXISTS (SELECT 1 FROM photo_learners pl JOIN consent_events ce ON ce.learner_id = pl.learner_id \
                                 WHERE pl.photo_id = p.id AND ce.kind IN ('refused', 'withdrawn') \
                                 AND ce.recorded_at > p.created_at) \
                     ORDER BY p.id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let unreferenced = Self::retire_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok((unreferenced, photos.last().cloned()))
            }

            async fn learners_version(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT version FROM learners_version WHERE id = 1").fetch_one(&self.$read).await?)
            }

            async fn learner_names(&self) -> Result<Vec<crate::policy::names::NameEntry>, StoreError> {
                let mut conn = self.$read.acquire().await?;
                Self::learner_names_in(&mut *conn).await
            }

            async fn learner(&self, id: &str) -> Result<Option<LearnerRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM learners WHERE id = $1").bind(id).fetch_optional(&self.$read).await?;
                match row {
                    Some(row) => Ok(Some(self.learner_from_row(&row).await?)),
                    None => Ok(None),
                }
            }

            async fn create_session(
                &self,
                id_hash: &str,
                token_id: &str,
                expires_at: i64,
                audit: AuditDraft,
            ) -> Result<(), StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::lock_in(&mut *tx).await?;
                sqlx::query("INSERT INTO sessions (id_hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(id_hash)
                    .bind(token_id)
                    .bind(now_ms())
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_token(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError> {
                let token_id: Option<String> =
                    sqlx::query_scalar("SELECT token_id FROM sessions WHERE id_hash = $1 AND expires_at > $2")
                        .bind(id_hash)
                        .bind(now_ms)
                        .fetch_optional(&self.$read)
                        .await?;
                match token_id {
                    Some(id) => self.token(&id).await,
                    None => Ok(None),
                }
            }

            async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.$write).await?;
                Ok(())
            }

            async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now_ms).execute(&self.$write).await?;
                Ok(done.rows_affected())
            }

            async fn photos_uploaded_by(&self, token_id: &str, limit: i64) -> Result<Vec<PhotoRecord>, StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM photos WHERE uploaded_by = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(token_id)
                .bind(limit)
                .fetch_all(&self.$read)
                .await?;
                self.photos_by_ids(&ids).await
            }

            async fn held_photos(&self, limit: i64) -> Result<Vec<PhotoRecord>, StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM photos p WHERE EXISTS (SELECT 1 FROM photo_purposes pp WHERE pp.photo_id = p.id \
                     AND pp.state = 'held') ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&self.$read)
                .await?;
                self.photos_by_ids(&ids).await
            }

            async fn items_claimed_by(&self, claimant: &str, now_ms: i64) -> Result<Vec<QueueItem>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{QUEUE_ITEM_SELECT} WHERE pp.state = 'claimed' AND pp.claimed_by = $1 AND pp.lease_expires_at > $2 \
                     ORDER BY pp.changed_at, pp.item_id"
                ))
                .bind(claimant)
                .bind(now_ms)
                .fetch_all(&self.$read)
                .await?;
                rows.iter().map(queue_item_from_row).collect()
            }

            async fn lapsed_claims_of(
                &self,
                claimant: &str,
                now_ms: i64,
                since_ms: i64,
                limit: i64,
            ) -> Result<Vec<QueueItem>, StoreError> {
                // A lease that ran out stays `claimed` until something re-evaluates the photo, which
                // turns it `queued` (or `held`) with the lease cleared and the claimant kept: all
                // three are "yours, lapsed" as long as nobody else took it and it was not published.
                let rows = sqlx::query(&format!(
                    "{QUEUE_ITEM_SELECT} WHERE pp.claimed_by = $1 AND pp.published_url IS NULL AND \
                     ((pp.state = 'claimed' AND pp.lease_expires_at <= $2 AND pp.lease_expires_at >= $3) \
                      OR (pp.state IN ('queued', 'held') AND pp.changed_at >= $3)) \
                     ORDER BY pp.changed_at DESC, pp.item_id LIMIT $4"
                ))
                .bind(claimant)
                .bind(now_ms)
                .bind(since_ms)
                .bind(limit)
                .fetch_all(&self.$read)
                .await?;
                rows.iter().map(queue_item_from_row).collect()
            }

            async fn search_learners(&self, query: &str, limit: i64) -> Result<Vec<LearnerRecord>, StoreError> {
                // LIKE wildcards in the query are taken literally.
                let escaped = query.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                let pattern = format!("%{escaped}%");
                let rows = sqlx::query(
                    "SELECT * FROM learners WHERE LOWER(given_name) LIKE $1 ESCAPE '\\' \
                     OR LOWER(family_name) LIKE $2 ESCAPE '\\' OR LOWER(COALESCE(preferred_name, '')) LIKE $3 ESCAPE '\\' \
                     OR LOWER(COALESCE(external_ref, '')) LIKE $4 ESCAPE '\\' \
                     ORDER BY family_name, given_name, id LIMIT $5",
                )
                .bind(&pattern)
                .bind(&pattern)
                .bind(&pattern)
                .bind(&pattern)
                .bind(limit)
                .fetch_all(&self.$read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(self.learner_from_row(row).await?);
                }
                Ok(out)
            }
        }
    };
}

sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    write = write,
    read = read,
    migrations = "./migrations/sqlite",
    audit_lock = None::<&str>
);
sql_store!(
    PostgresStore,
    sqlx::Postgres,
    write = pool,
    read = pool,
    migrations = "./migrations/postgres",
    audit_lock = Some("SELECT pg_advisory_xact_lock($1)")
);
