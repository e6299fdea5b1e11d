//! Image deletion after a "no" ("retirement": the image goes, the row and its fingerprints stay)
//! and the object references the orphan sweep checks.

use async_trait::async_trait;
use sqlx::Row;

use super::{status_from_columns, PostgresStore, SqliteStore};
use crate::policy::retention;
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{ms_of_time, Evaluation};
use crate::store::traits::RetentionStore;

macro_rules! impl_retention_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Marks deleted the image of each of `photo_ids` that [`retention::image_unusable`] says no
            /// purpose can use any more, auditing each; returns the object keys no photo refers to
            /// any more.
            pub(super) async fn retire_in(
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
                    let statuses = rows
                        .iter()
                        .map(|r| {
                            status_from_columns(&r.try_get::<String, _>("state")?, &r.try_get::<String, _>("detail")?)
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    if !retention::image_unusable(&statuses) {
                        continue;
                    }
                    sqlx::query("UPDATE photos SET image_deleted_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(photo_id)
                        .execute(&mut **tx)
                        .await?;
                    let audit = AuditDraft::new(&eval.actor, AuditAction::ImageDeleted, photo_id, serde_json::json!({}));
                    Self::append_in(tx, &audit).await?;
                    retired.push(row.try_get::<String, _>("object_key")?);
                }
                // Objects are content-addressed: one still used by another photo stays.
                let mut unreferenced = Vec::new();
                for key in retired {
                    let in_use: Option<i32> = sqlx::query_scalar(
                        "SELECT 1 FROM photos WHERE object_key = $1 AND image_deleted_at IS NULL LIMIT 1",
                    )
                    .bind(&key)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if in_use.is_none() && !unreferenced.contains(&key) {
                        unreferenced.push(key);
                    }
                }
                Ok(unreferenced)
            }
        }

        #[async_trait]
        impl RetentionStore for $store {
            async fn retire_images_of(&self, learner_id: &str, eval: Evaluation) -> Result<Vec<String>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let photos = Self::photos_concerning_in(&mut *tx, learner_id).await?;
                let unreferenced = Self::retire_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(unreferenced)
            }

            async fn retire_unusable_images(
                &self,
                after: &str,
                limit: i64,
                eval: Evaluation,
            ) -> Result<(Vec<String>, Option<String>), StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                // Candidates: images still kept whose every purpose is out of the queue, and that
                // existed when a learner tagged in them said no: the retirement a withdrawal or
                // refusal should have done. A photo tagged with someone whose no was already on
                // record is held, not deleted, so a tutor's wrong tag can still be corrected. The
                // state filter only narrows the page for the index; the deletion rule itself
                // (`policy::retention::image_unusable`) decides each candidate in `retire_in`.
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

            async fn object_keys(&self) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT DISTINCT object_key FROM photos WHERE image_deleted_at IS NULL")
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn object_in_use(&self, key: &str) -> Result<bool, StoreError> {
                let found: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM photos WHERE object_key = $1 AND image_deleted_at IS NULL LIMIT 1",
                )
                .bind(key)
                .fetch_optional(self.reader())
                .await?;
                Ok(found.is_some())
            }
        }
    };
}

impl_retention_store!(SqliteStore, sqlx::Sqlite);
impl_retention_store!(PostgresStore, sqlx::Postgres);
