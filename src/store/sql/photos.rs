//! Photos: their facts, learners and purposes, each purpose's status evaluated as they are
//! written, and the listings behind the tutor's and admin's pages.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;

use super::{detail_column, is_unique_violation, status_from_columns, tags_column, tags_from_column};
use super::{PostgresStore, SqliteStore};
use crate::policy::{consent, Purpose, PurposeStatus, State};
use crate::store::audit::AuditDraft;
use crate::store::error::StoreError;
use crate::store::records::{ms_of_time, Evaluation, PhotoDeletion, PhotoRecord};
use crate::store::traits::PhotoStore;

macro_rules! impl_photo_store {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(super) async fn set_photo_links_in(
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

            pub(super) async fn photo_where(
                &self,
                column: &str,
                value: &str,
            ) -> Result<Option<PhotoRecord>, StoreError> {
                let sql = format!("SELECT * FROM photos WHERE {column} = $1");
                let Some(row) = sqlx::query(&sql).bind(value).fetch_optional(self.reader()).await? else {
                    return Ok(None);
                };
                let id: String = row.try_get("id")?;
                let learner_ids =
                    sqlx::query_scalar("SELECT learner_id FROM photo_learners WHERE photo_id = $1 ORDER BY learner_id")
                        .bind(&id)
                        .fetch_all(self.reader())
                        .await?;
                let rows = sqlx::query(
                    "SELECT purpose, state, detail FROM photo_purposes WHERE photo_id = $1 ORDER BY purpose",
                )
                .bind(&id)
                .fetch_all(self.reader())
                .await?;
                let mut status = BTreeMap::new();
                for row in &rows {
                    let purpose: String = row.try_get("purpose")?;
                    let purpose: Purpose = purpose.parse().map_err(StoreError::Corrupt)?;
                    status.insert(
                        purpose,
                        status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?,
                    );
                }
                let purposes: Vec<Purpose> = status.keys().copied().collect();
                let resembles = sqlx::query(
                    "SELECT learner_id, matched_photo_id FROM photo_blocks WHERE photo_id = $1 ORDER BY learner_id",
                )
                .bind(&id)
                .fetch_all(self.reader())
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

            /// The photos with these ids, in the order given (missing ones skipped).
            pub(super) async fn photos_by_ids(&self, ids: &[String]) -> Result<Vec<PhotoRecord>, StoreError> {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(photo) = self.photo_where("id", id).await? {
                        out.push(photo);
                    }
                }
                Ok(out)
            }
        }

        #[async_trait]
        impl PhotoStore for $store {
            async fn insert_photo(
                &self,
                photo: &PhotoRecord,
                mut audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<BTreeMap<Purpose, PurposeStatus>, StoreError> {
                let mut tx = self.writer().begin().await?;
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
                    sqlx::query(
                        "INSERT INTO photo_blocks (photo_id, learner_id, matched_photo_id) VALUES ($1, $2, $3)",
                    )
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
                if status.values().any(|st| st.state == State::Queued) {
                    Self::mark_released_in(&mut *tx, &photo.id, ms_of_time(eval.at)).await?;
                }
                audit.details["status"] =
                    serde_json::json!(status.iter().map(|(p, st)| (p.as_str(), st.state)).collect::<BTreeMap<_, _>>());
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(status)
            }

            async fn update_photo(
                &self,
                photo: &PhotoRecord,
                mut audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
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
                // it (the untag rule, `consent::untag_blocks`). The purposes it is asked for before
                // and after the edit count, so dropping a purpose in the same edit changes nothing.
                let mut purposes_asked: Vec<Purpose> =
                    stored.iter().filter_map(|name| name.parse().ok()).chain(photo.purposes.iter().copied()).collect();
                purposes_asked.sort();
                purposes_asked.dedup();
                let mut blocked = Vec::new();
                for learner_id in was_tagged.iter().filter(|id| !photo.learner_ids.contains(id)) {
                    let Some(facts) = Self::learner_facts_in(&mut *tx, learner_id).await? else { continue };
                    if consent::untag_blocks(&facts.learner, &facts.events, &purposes_asked, eval.at, eval.rules) {
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
                        // Only an item marketing has not taken can simply go; `app::photos::edit` refuses the others.
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

            async fn delete_photo(&self, id: &str, audit: AuditDraft) -> Result<PhotoDeletion, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let row = sqlx::query("SELECT object_key, image_deleted_at FROM photos WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(PhotoDeletion::Missing) };
                if row.try_get::<Option<i64>, _>("image_deleted_at")?.is_some() {
                    return Ok(PhotoDeletion::Retired);
                }
                let exists = |sql: &'static str| sqlx::query_scalar::<_, i32>(sql).bind(id);
                let published = exists(
                    "SELECT 1 FROM publications WHERE photo_id = $1 UNION ALL SELECT 1 FROM takedowns WHERE photo_id = $1 \
                     UNION ALL SELECT 1 FROM photo_purposes WHERE photo_id = $1 AND state IN ('published', 'withdrawn', 'taken_down') \
                     LIMIT 1",
                )
                .fetch_optional(&mut *tx)
                .await?;
                if published.is_some() {
                    return Ok(PhotoDeletion::Published);
                }
                // Ever claimed, or downloaded by marketing, counts (an edit puts a claimed photo back
                // on hold, a lease runs out): it may be out in the world, and the audit log keeps
                // what the queue's columns may not.
                let claimed = exists(
                    "SELECT 1 FROM photo_purposes WHERE photo_id = $1 AND (state = 'claimed' OR claimed_by IS NOT NULL) \
                     UNION ALL SELECT 1 FROM audit_log WHERE subject = $1 AND (action = 'item_claimed' \
                     OR (action = 'image_downloaded' AND details LIKE '%\"role\":\"marketing\"%')) LIMIT 1",
                )
                .fetch_optional(&mut *tx)
                .await?;
                if claimed.is_some() {
                    return Ok(PhotoDeletion::Claimed);
                }
                let evidence =
                    exists("SELECT 1 FROM photo_blocks WHERE matched_photo_id = $1 AND photo_id <> $1 LIMIT 1")
                        .fetch_optional(&mut *tx)
                        .await?;
                if evidence.is_some() {
                    return Ok(PhotoDeletion::Evidence);
                }
                for sql in [
                    "DELETE FROM photo_blocks WHERE photo_id = $1",
                    "DELETE FROM photo_purposes WHERE photo_id = $1",
                    "DELETE FROM photo_learners WHERE photo_id = $1",
                    "DELETE FROM photos WHERE id = $1",
                ] {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
                Self::append_in(&mut tx, &audit).await?;
                // Images stored before objects were keyed by photo may share their object.
                let object_key: String = row.try_get("object_key")?;
                let shared: Option<i32> = sqlx::query_scalar("SELECT 1 FROM photos WHERE object_key = $1 LIMIT 1")
                    .bind(&object_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(PhotoDeletion::Deleted(shared.is_none().then_some(object_key)))
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
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("id")?, r.try_get("phash")?, r.try_get("learner_id")?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn photos_uploaded_by(&self, token_id: &str, limit: i64) -> Result<Vec<PhotoRecord>, StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM photos WHERE uploaded_by = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(token_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                self.photos_by_ids(&ids).await
            }

            async fn held_photos(&self, limit: i64) -> Result<Vec<PhotoRecord>, StoreError> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM photos p WHERE EXISTS (SELECT 1 FROM photo_purposes pp WHERE pp.photo_id = p.id \
                     AND pp.state = 'held') ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                self.photos_by_ids(&ids).await
            }
        }
    };
}

impl_photo_store!(SqliteStore, sqlx::Sqlite);
impl_photo_store!(PostgresStore, sqlx::Postgres);
