//! What a subject access export reads: the photos a learner is pictured in, their publications
//! and takedowns, the words of forms by their hash, and the audit rows about given subjects.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit_record_from_row, takedown_from_row, PostgresStore, SqliteStore, AUDIT_COLUMNS};
use crate::store::audit::AuditRecord;
use crate::store::error::StoreError;
use crate::store::records::{PublicationRecord, Takedown};
use crate::store::traits::ExportStore;

/// Most subjects one audit query binds.
const SUBJECTS_BATCH: usize = 500;

macro_rules! impl_export_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl ExportStore for $store {
            async fn photos_picturing(&self, learner_id: &str) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT pl.photo_id FROM photo_learners pl JOIN photos p ON p.id = pl.photo_id \
                     WHERE pl.learner_id = $1 ORDER BY p.created_at, p.id",
                )
                .bind(learner_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn publications_of(&self, photo_id: &str) -> Result<Vec<PublicationRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, photo_id, purpose, url, channel, caption, alt_text, published_at FROM publications \
                     WHERE photo_id = $1 ORDER BY published_at, id",
                )
                .bind(photo_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(publication_from_row).collect()
            }

            async fn takedowns_of(&self, photo_id: &str) -> Result<Vec<Takedown>, StoreError> {
                let rows = sqlx::query("SELECT * FROM takedowns WHERE photo_id = $1 ORDER BY created_at, id")
                    .bind(photo_id)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(takedown_from_row).collect()
            }

            async fn form_text(&self, hash: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT body FROM form_texts WHERE hash = $1")
                    .bind(hash)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn audit_about(
                &self,
                subjects: &[String],
                after: i64,
                limit: i64,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                let mut rows: Vec<AuditRecord> = Vec::new();
                for batch in subjects.chunks(SUBJECTS_BATCH) {
                    let placeholders: Vec<String> = (3..batch.len() + 3).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 AND subject IN ({}) ORDER BY seq LIMIT $2",
                        placeholders.join(", ")
                    );
                    let mut query = sqlx::query(&sql).bind(after).bind(limit);
                    for subject in batch {
                        query = query.bind(subject);
                    }
                    for row in query.fetch_all(self.reader()).await? {
                        rows.push(audit_record_from_row(&row)?);
                    }
                }
                // Each batch is in order; together, the first `limit` in order.
                rows.sort_by_key(|r| r.seq);
                rows.truncate(usize::try_from(limit).unwrap_or(0));
                Ok(rows)
            }
        }
    };
}

impl_export_store!(SqliteStore, sqlx::Sqlite);
impl_export_store!(PostgresStore, sqlx::Postgres);

/// A `publications` row (id, photo_id, purpose, url, channel, caption, alt_text, published_at).
pub(super) fn publication_from_row<R: Row>(r: &R) -> Result<PublicationRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(PublicationRecord {
        id: r.try_get("id")?,
        photo_id: r.try_get("photo_id")?,
        purpose: r.try_get::<String, _>("purpose")?.parse().map_err(StoreError::Corrupt)?,
        url: r.try_get("url")?,
        channel: r.try_get("channel")?,
        caption: r.try_get("caption")?,
        alt_text: r.try_get("alt_text")?,
        published_at: r.try_get("published_at")?,
    })
}
