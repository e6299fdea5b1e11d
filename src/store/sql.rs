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
use super::{now_ms, GuardianRecord, LearnerRecord, PhotoRecord, Role, Store, StoreError, TokenRecord, TABLES};
use crate::policy::Purpose;

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
                let purposes: Vec<String> =
                    sqlx::query_scalar("SELECT purpose FROM photo_purposes WHERE photo_id = $1 ORDER BY purpose")
                        .bind(&id)
                        .fetch_all(&self.$read)
                        .await?;
                let purposes = purposes
                    .iter()
                    .map(|p| p.parse::<Purpose>().map_err(StoreError::Corrupt))
                    .collect::<Result<Vec<_>, _>>()?;
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
                    all_tagged: row.try_get("all_tagged")?,
                    uploaded_by: row.try_get("uploaded_by")?,
                    created_at: row.try_get("created_at")?,
                    learner_ids,
                    purposes,
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

            async fn insert_photo(&self, photo: &PhotoRecord, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.$write.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO photos (id, object_key, format, width, height, byte_size, blake3, original_blake3, \
                     phash, removed, caption, alt_text, all_tagged, uploaded_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
                .execute(&mut *tx)
                .await;
                if let Err(e) = inserted {
                    return Err(if is_unique_violation(&e) {
                        StoreError::Conflict(format!("a photo with original {}", photo.original_blake3))
                    } else {
                        e.into()
                    });
                }
                for learner in &photo.learner_ids {
                    sqlx::query("INSERT INTO photo_learners (photo_id, learner_id) VALUES ($1, $2)")
                        .bind(&photo.id)
                        .bind(learner)
                        .execute(&mut *tx)
                        .await?;
                }
                for purpose in &photo.purposes {
                    sqlx::query("INSERT INTO photo_purposes (photo_id, purpose) VALUES ($1, $2)")
                        .bind(&photo.id)
                        .bind(purpose.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn photo(&self, id: &str) -> Result<Option<PhotoRecord>, StoreError> {
                self.photo_where("id", id).await
            }

            async fn photo_by_original(&self, original_blake3: &str) -> Result<Option<PhotoRecord>, StoreError> {
                self.photo_where("original_blake3", original_blake3).await
            }

            async fn object_keys(&self) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT DISTINCT object_key FROM photos").fetch_all(&self.$read).await?)
            }

            async fn append_audit(&self, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.$write.begin().await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
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
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_learner(&self, learner: &LearnerRecord, audit: AuditDraft) -> Result<bool, StoreError> {
                let mut tx = self.$write.begin().await?;
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
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn learner(&self, id: &str) -> Result<Option<LearnerRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM learners WHERE id = $1").bind(id).fetch_optional(&self.$read).await?;
                match row {
                    Some(row) => Ok(Some(self.learner_from_row(&row).await?)),
                    None => Ok(None),
                }
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
