//! The audit chain: the append every writing transaction ends with, and reading the chain back.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit_record_from_row, PostgresStore, SqliteStore, AUDIT_COLUMNS};
use crate::store::audit::{row_hash, AuditDraft, AuditRecord, AuditSearch, GENESIS_HASH};
use crate::store::error::StoreError;
use crate::store::records::now_ms;
use crate::store::traits::AuditStore;

macro_rules! impl_audit_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Appends one audit row inside `tx`, chained to the last row. The chain lock comes
            /// first: two appends reading the same last row would fork the chain.
            pub(super) async fn append_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                audit: &AuditDraft,
            ) -> Result<(), StoreError> {
                Self::lock_in(&mut **tx).await?;
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
                let hash = row_hash(seq, at, &audit.actor, audit.action.as_str(), &audit.subject, &details, &prev_hash);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(seq)
                .bind(at)
                .bind(&audit.actor)
                .bind(audit.action.as_str())
                .bind(&audit.subject)
                .bind(&details)
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn append_audit(&self, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_head(&self) -> Result<(i64, String), StoreError> {
                let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(self.reader())
                    .await?;
                match row {
                    Some(row) => Ok((row.try_get("seq")?, row.try_get("hash")?)),
                    None => Ok((0, GENESIS_HASH.to_string())),
                }
            }

            async fn audit_log(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
                let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
                let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(self.reader()).await?;
                rows.iter().map(audit_record_from_row).collect()
            }

            async fn audit_search(&self, search: &AuditSearch) -> Result<Vec<AuditRecord>, StoreError> {
                // Subjects go in batches (a learner can be in thousands of photos); each batch is
                // newest first, and together the first `limit` newest are kept.
                let subjects: Vec<Option<&[String]>> = match &search.subjects {
                    Some(list) if list.is_empty() => return Ok(Vec::new()),
                    Some(list) => list.chunks(SUBJECTS_BATCH).map(Some).collect(),
                    None => vec![None],
                };
                let mut rows: Vec<AuditRecord> = Vec::new();
                for batch in subjects {
                    let mut sql = format!(
                        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq < $1 \
                         AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4)"
                    );
                    if let Some(batch) = batch {
                        let placeholders: Vec<String> = (6..batch.len() + 6).map(|i| format!("${i}")).collect();
                        sql.push_str(&format!(" AND subject IN ({})", placeholders.join(", ")));
                    }
                    sql.push_str(" ORDER BY seq DESC LIMIT $5");
                    let mut query = sqlx::query(&sql)
                        .bind(search.before)
                        .bind(search.action.as_deref())
                        .bind(search.from_ms)
                        .bind(search.to_ms)
                        .bind(search.limit);
                    for subject in batch.unwrap_or_default() {
                        query = query.bind(subject);
                    }
                    for row in query.fetch_all(self.reader()).await? {
                        rows.push(audit_record_from_row(&row)?);
                    }
                }
                rows.sort_by_key(|r| std::cmp::Reverse(r.seq));
                rows.truncate(usize::try_from(search.limit).unwrap_or(0));
                Ok(rows)
            }
        }
    };
}

/// Subjects bound per query: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const SUBJECTS_BATCH: usize = 1000;

impl_audit_store!(SqliteStore, sqlx::Sqlite);
impl_audit_store!(PostgresStore, sqlx::Postgres);
