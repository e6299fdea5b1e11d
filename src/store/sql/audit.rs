//! The audit chain: the append every writing transaction ends with, and reading the chain back.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit_record_from_row, PostgresStore, SqliteStore, AUDIT_COLUMNS};
use crate::store::audit::{row_hash, AuditDraft, AuditRecord, GENESIS_HASH};
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
        }
    };
}

impl_audit_store!(SqliteStore, sqlx::Sqlite);
impl_audit_store!(PostgresStore, sqlx::Postgres);
