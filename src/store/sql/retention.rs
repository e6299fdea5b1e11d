//! Image deletion after a "no" ("retirement": the image goes, the row and its fingerprints stay)
//! and the object references the orphan sweep checks.

use async_trait::async_trait;
use sqlx::Row;

use super::{status_from_columns, PostgresStore, SqliteStore};
use crate::policy::retention;
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{ms_of_time, Evaluation, RetentionCandidate, RetentionDue, RetiredImage};
use crate::store::traits::RetentionStore;

macro_rules! impl_retention_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Marks deleted the image of each of `photo_ids` that [`retention::image_unusable`] says no
            /// purpose can use any more, and of every live twin of one (the same scrubbed bytes under
            /// another photo), auditing each; a photo whose twin was retired before goes too. Returns
            /// the images retired whose objects no live photo refers to.
            pub(super) async fn retire_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_ids: &[String],
                eval: &Evaluation,
            ) -> Result<Vec<RetiredImage>, StoreError> {
                let now = ms_of_time(eval.at);
                let mut retired = Vec::new();
                for photo_id in photo_ids {
                    let row = sqlx::query("SELECT object_key, blake3, image_deleted_at FROM photos WHERE id = $1")
                        .bind(photo_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    let Some(row) = row else { continue };
                    if row.try_get::<Option<i64>, _>("image_deleted_at")?.is_some() {
                        continue;
                    }
                    let blake3: String = row.try_get("blake3")?;
                    let object_key: String = row.try_get("object_key")?;
                    // The same bytes were deleted before after a "no": this copy is that picture, not a
                    // look-alike. (An image a retention rule deleted concerned that photo alone.)
                    let retired_twin: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM photos WHERE blake3 = $1 AND image_deleted_at IS NOT NULL \
                         AND image_deleted_rule IS NULL AND id <> $2 \
                         ORDER BY id LIMIT 1",
                    )
                    .bind(&blake3)
                    .bind(photo_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some(twin) = retired_twin {
                        Self::mark_retired_in(tx, photo_id, now, eval, serde_json::json!({ "twin_of": twin })).await?;
                        retired.push(RetiredImage { photo_id: photo_id.clone(), object_key });
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
                    Self::mark_retired_in(tx, photo_id, now, eval, serde_json::json!({})).await?;
                    retired.push(RetiredImage { photo_id: photo_id.clone(), object_key });
                    // Every twin goes with it: the same picture uploaded again with other metadata or
                    // trailing bytes scrubs to the same bytes, and must not keep what the no deleted.
                    let twins = sqlx::query(
                        "SELECT id, object_key FROM photos WHERE blake3 = $1 AND image_deleted_at IS NULL ORDER BY id",
                    )
                    .bind(&blake3)
                    .fetch_all(&mut **tx)
                    .await?;
                    for twin in twins {
                        let twin_id: String = twin.try_get("id")?;
                        let json = serde_json::json!({ "twin_of": photo_id });
                        Self::mark_retired_in(tx, &twin_id, now, eval, json).await?;
                        retired.push(RetiredImage { photo_id: twin_id, object_key: twin.try_get("object_key")? });
                    }
                }
                Self::unreferenced_in(tx, retired).await
            }

            /// The images among `retired` whose objects no live photo refers to. Images stored
            /// before objects were keyed by photo shared one object per content; a key still in use
            /// is one nothing should delete.
            async fn unreferenced_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                retired: Vec<RetiredImage>,
            ) -> Result<Vec<RetiredImage>, StoreError> {
                let mut unreferenced = Vec::new();
                for image in retired {
                    let in_use: Option<i32> = sqlx::query_scalar(
                        "SELECT 1 FROM photos WHERE object_key = $1 AND image_deleted_at IS NULL LIMIT 1",
                    )
                    .bind(&image.object_key)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if in_use.is_none() {
                        unreferenced.push(image);
                    }
                }
                Ok(unreferenced)
            }

            /// Marks one photo's image deleted (by `rule`, or after a "no" when `None`) and audits it
            /// `image_deleted` with `details`.
            async fn mark_retired_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_id: &str,
                now: i64,
                eval: &Evaluation,
                details: serde_json::Value,
            ) -> Result<(), StoreError> {
                let rule = details.get("rule").and_then(|r| r.as_str()).map(str::to_owned);
                sqlx::query("UPDATE photos SET image_deleted_at = $1, image_deleted_rule = $2 WHERE id = $3")
                    .bind(now)
                    .bind(rule)
                    .bind(photo_id)
                    .execute(&mut **tx)
                    .await?;
                let audit = AuditDraft::new(&eval.actor, AuditAction::ImageDeleted, photo_id, details);
                Self::append_in(tx, &audit).await
            }

            /// The photos `due` makes due, as `conn` sees them (see
            /// [`RetentionStore::retention_candidates`]).
            async fn retention_candidates_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                due: &RetentionDue,
                limit: i64,
            ) -> Result<Vec<RetentionCandidate>, StoreError> {
                let ids: Vec<(String, i64)> = match due {
                    RetentionDue::HeldPhoto { uploaded_by } => {
                        sqlx::query_as(
                            "SELECT id, created_at FROM photos WHERE image_deleted_at IS NULL \
                             AND first_released_at IS NULL AND created_at <= $1 ORDER BY created_at, id LIMIT $2",
                        )
                        .bind(uploaded_by)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await?
                    }
                    RetentionDue::AfterLeaving { left_by } => {
                        sqlx::query_as(
                            "SELECT p.id, p.created_at FROM photos p \
                             JOIN photo_learners pl ON pl.photo_id = p.id JOIN learners l ON l.id = pl.learner_id \
                             WHERE p.image_deleted_at IS NULL AND l.left_on IS NOT NULL AND l.left_on <= $1 \
                             GROUP BY p.id, p.created_at ORDER BY MIN(l.left_on), p.id LIMIT $2",
                        )
                        .bind(left_by)
                        .bind(limit)
                        .fetch_all(&mut *conn)
                        .await?
                    }
                };
                let mut candidates = Vec::with_capacity(ids.len());
                for (photo_id, uploaded_at) in ids {
                    let left_on: Vec<String> = sqlx::query_scalar(
                        "SELECT l.left_on FROM photo_learners pl JOIN learners l ON l.id = pl.learner_id \
                         WHERE pl.photo_id = $1 AND l.left_on IS NOT NULL ORDER BY l.left_on",
                    )
                    .bind(&photo_id)
                    .fetch_all(&mut *conn)
                    .await?;
                    candidates.push(RetentionCandidate { photo_id, uploaded_at, left_on });
                }
                Ok(candidates)
            }
        }

        #[async_trait]
        impl RetentionStore for $store {
            async fn kept_images_picturing(&self, learner_id: &str, limit: i64) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT p.id FROM photo_learners pl JOIN photos p ON p.id = pl.photo_id \
                     WHERE pl.learner_id = $1 AND p.image_deleted_at IS NULL ORDER BY p.created_at, p.id LIMIT $2",
                )
                .bind(learner_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            async fn retention_candidates(
                &self,
                due: &RetentionDue,
                limit: i64,
            ) -> Result<Vec<RetentionCandidate>, StoreError> {
                let mut conn = self.reader().acquire().await?;
                Self::retention_candidates_in(&mut *conn, due, limit).await
            }

            async fn retire_due(
                &self,
                due: &RetentionDue,
                limit: i64,
                eval: Evaluation,
            ) -> Result<(usize, Vec<RetiredImage>), StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let candidates = Self::retention_candidates_in(&mut *tx, due, limit).await?;
                let ids: Vec<String> = candidates.iter().map(|c| c.photo_id.clone()).collect();
                // A leaver's photo still queued (the leaving day came since the last pass) leaves
                // the queue before its image goes; one published stays published.
                Self::reevaluate_in(&mut tx, &ids, &eval).await?;
                let now = ms_of_time(eval.at);
                let mut retired = Vec::with_capacity(ids.len());
                for candidate in &candidates {
                    let object_key: String = sqlx::query_scalar("SELECT object_key FROM photos WHERE id = $1")
                        .bind(&candidate.photo_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let mut details = serde_json::json!({ "rule": due.rule().as_str() });
                    if let (RetentionDue::AfterLeaving { .. }, Some(first)) = (due, candidate.left_on.first()) {
                        details["left_on"] = serde_json::json!(first);
                    }
                    Self::mark_retired_in(&mut tx, &candidate.photo_id, now, &eval, details).await?;
                    retired.push(RetiredImage { photo_id: candidate.photo_id.clone(), object_key });
                }
                let count = retired.len();
                let unreferenced = Self::unreferenced_in(&mut tx, retired).await?;
                tx.commit().await?;
                Ok((count, unreferenced))
            }

            async fn retire_images_of(&self, learner_id: &str, eval: Evaluation) -> Result<Vec<RetiredImage>, StoreError> {
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
            ) -> Result<(Vec<RetiredImage>, Option<String>), StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                // Candidates: images still kept whose every purpose is out of the queue, and that
                // existed when a learner tagged in them said no: the retirement a withdrawal or
                // refusal should have done. A photo tagged with someone whose no was already on
                // record is held, not deleted, so a tutor's wrong tag can still be corrected. The
                // state filter only narrows the page for the index; the deletion rule itself
                // (`policy::retention::image_unusable`) decides each candidate in `retire_in`.
                // A live twin of an image already retired is a candidate too (stored before twins
                // were retired together).
                let photos: Vec<String> = sqlx::query_scalar(
                    "SELECT p.id FROM photos p WHERE p.image_deleted_at IS NULL AND p.id > $1 \
                     AND ((EXISTS (SELECT 1 FROM photo_purposes pp WHERE pp.photo_id = p.id) \
                     AND NOT EXISTS (SELECT 1 FROM photo_purposes pp WHERE pp.photo_id = p.id \
                                     AND pp.state NOT IN ('held', 'withdrawn', 'taken_down')) \
                     AND EXISTS (SELECT 1 FROM photo_learners pl JOIN consent_events ce ON ce.learner_id = pl.learner_id \
                                 WHERE pl.photo_id = p.id AND ce.kind IN ('refused', 'withdrawn') \
                                 AND ce.recorded_at > p.created_at)) \
                     OR EXISTS (SELECT 1 FROM photos t WHERE t.blake3 = p.blake3 AND t.image_deleted_at IS NOT NULL \
                                AND t.image_deleted_rule IS NULL)) \
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
