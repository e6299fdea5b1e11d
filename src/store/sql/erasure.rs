//! Erasure of a learner's personal data: the durable mark that an erasure is under way, and the one
//! transaction that replaces their personal data everywhere it is stored with a tombstone, keeping
//! their id as a pseudonym (consent events, photo tags and perceptual hashes stay, so a re-upload of
//! their picture is still held).

use async_trait::async_trait;
use sqlx::Row;

use super::{tags_column, tags_from_column, PostgresStore, SqliteStore};
use crate::policy::names::erase::{erase_all_names, erase_full_names};
use crate::policy::names::NameEntry;
use crate::policy::search::fold;
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{ms_of_time, ErasureStart, Evaluation, TombstoneOutcome};
use crate::store::traits::ErasureStore;

/// What a consent event's evidence becomes: the proof that an answer was given stays (who in the
/// sense of which guardian id, when, which words, which purposes), how it was signed goes.
const ERASED_EVIDENCE: &str = "erased";

/// The words of a family name to look for in texts of photos the learner was not pictured in: the
/// name lowercased as written and as folded, each word of at least three letters.
fn family_patterns(family_name: &str) -> Vec<String> {
    let mut patterns: Vec<String> = Vec::new();
    for written in [family_name.to_lowercase(), fold(family_name)] {
        for word in written.split(|c: char| !c.is_alphanumeric()) {
            if word.chars().count() >= 3 && !patterns.iter().any(|p| p == word) {
                patterns.push(word.to_string());
            }
        }
    }
    patterns
}

macro_rules! impl_erasure_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Replaces the learner's names in one photo's texts (caption, alt text, title, tags)
            /// and in those of its publications; `pictured`: every name word goes, otherwise only
            /// full names. Returns whether anything changed.
            async fn erase_names_in_photo_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_id: &str,
                entry: &NameEntry,
                pictured: bool,
            ) -> Result<bool, StoreError> {
                let erase = |text: &str| {
                    if pictured {
                        erase_all_names(text, entry)
                    } else {
                        erase_full_names(text, entry)
                    }
                };
                let mut changed = false;
                let row = sqlx::query("SELECT caption, alt_text, title, tags FROM photos WHERE id = $1")
                    .bind(photo_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                if let Some(row) = row {
                    let caption: String = row.try_get("caption")?;
                    let alt_text: String = row.try_get("alt_text")?;
                    let title: String = row.try_get("title")?;
                    let tags = tags_from_column(&row.try_get::<String, _>("tags")?)?;
                    let new_tags: Vec<String> = tags.iter().map(|t| erase(t)).collect();
                    let (new_caption, new_alt, new_title) = (erase(&caption), erase(&alt_text), erase(&title));
                    if (&new_caption, &new_alt, &new_title, &new_tags) != (&caption, &alt_text, &title, &tags) {
                        sqlx::query("UPDATE photos SET caption = $1, alt_text = $2, title = $3, tags = $4 WHERE id = $5")
                            .bind(&new_caption)
                            .bind(&new_alt)
                            .bind(&new_title)
                            .bind(tags_column(&new_tags))
                            .bind(photo_id)
                            .execute(&mut **tx)
                            .await?;
                        changed = true;
                    }
                }
                // The words a publication went out with, and a takedown's copy of them: marketing
                // still has the address to take it down by.
                for table in ["publications", "takedowns"] {
                    let rows = sqlx::query(&format!("SELECT id, caption, alt_text FROM {table} WHERE photo_id = $1"))
                        .bind(photo_id)
                        .fetch_all(&mut **tx)
                        .await?;
                    for row in rows {
                        let caption: String = row.try_get("caption")?;
                        let alt_text: String = row.try_get("alt_text")?;
                        let (new_caption, new_alt) = (erase(&caption), erase(&alt_text));
                        if (&new_caption, &new_alt) != (&caption, &alt_text) {
                            sqlx::query(&format!("UPDATE {table} SET caption = $1, alt_text = $2 WHERE id = $3"))
                                .bind(&new_caption)
                                .bind(&new_alt)
                                .bind(row.try_get::<String, _>("id")?)
                                .execute(&mut **tx)
                                .await?;
                            changed = true;
                        }
                    }
                }
                Ok(changed)
            }
        }

        #[async_trait]
        impl ErasureStore for $store {
            async fn begin_erasure(
                &self,
                learner_id: &str,
                reason: &str,
                audit: AuditDraft,
            ) -> Result<ErasureStart, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let row = sqlx::query("SELECT erasure_started_at, erased_at FROM learners WHERE id = $1")
                    .bind(learner_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(ErasureStart::Unknown) };
                if let Some(at) = row.try_get::<Option<i64>, _>("erased_at")? {
                    return Ok(ErasureStart::Erased(at));
                }
                if let Some(at) = row.try_get::<Option<i64>, _>("erasure_started_at")? {
                    return Ok(ErasureStart::UnderWay(at));
                }
                let now = ms_of_time(time::OffsetDateTime::now_utc());
                sqlx::query("UPDATE learners SET erasure_started_at = $1, erasure_reason = $2 WHERE id = $3")
                    .bind(now)
                    .bind(reason)
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(ErasureStart::Started(now))
            }

            async fn erasures_under_way(&self) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM learners WHERE erasure_started_at IS NOT NULL AND erased_at IS NULL ORDER BY id",
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn leavers_left_by(&self, left_by: &str, limit: i64) -> Result<Vec<(String, String)>, StoreError> {
                Ok(sqlx::query_as(
                    "SELECT id, left_on FROM learners WHERE left_on IS NOT NULL AND left_on <= $1 \
                     AND erased_at IS NULL AND erasure_started_at IS NULL ORDER BY left_on, id LIMIT $2",
                )
                .bind(left_by)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            async fn tombstone_learner(&self, learner_id: &str, eval: Evaluation) -> Result<TombstoneOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let row = sqlx::query(
                    "SELECT given_name, preferred_name, family_name, erasure_started_at, erased_at FROM learners \
                     WHERE id = $1",
                )
                .bind(learner_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(TombstoneOutcome::Unknown) };
                if let Some(at) = row.try_get::<Option<i64>, _>("erased_at")? {
                    return Ok(TombstoneOutcome::Erased(at));
                }
                if row.try_get::<Option<i64>, _>("erasure_started_at")?.is_none() {
                    return Ok(TombstoneOutcome::NotStarted);
                }
                let entry = NameEntry {
                    learner_id: learner_id.to_string(),
                    given_name: row.try_get("given_name")?,
                    preferred_name: row.try_get("preferred_name")?,
                    family_name: row.try_get("family_name")?,
                };
                // Every text of a photo they were pictured in loses every name word; any other
                // photo's texts lose their full name (a first name alone may be someone else's).
                let pictured: Vec<String> =
                    sqlx::query_scalar("SELECT photo_id FROM photo_learners WHERE learner_id = $1 ORDER BY photo_id")
                        .bind(learner_id)
                        .fetch_all(&mut *tx)
                        .await?;
                let mut texts_erased = 0;
                for photo_id in &pictured {
                    texts_erased += usize::from(Self::erase_names_in_photo_in(&mut tx, photo_id, &entry, true).await?);
                }
                let mut others: Vec<String> = Vec::new();
                for pattern in family_patterns(&entry.family_name) {
                    let like = format!("%{pattern}%");
                    let found: Vec<String> = sqlx::query_scalar(
                        "SELECT id FROM photos WHERE LOWER(caption) LIKE $1 OR LOWER(alt_text) LIKE $1 \
                         OR LOWER(title) LIKE $1 OR LOWER(tags) LIKE $1 \
                         UNION SELECT photo_id FROM publications WHERE LOWER(caption) LIKE $1 OR LOWER(alt_text) LIKE $1 \
                         UNION SELECT photo_id FROM takedowns WHERE LOWER(caption) LIKE $1 OR LOWER(alt_text) LIKE $1",
                    )
                    .bind(&like)
                    .fetch_all(&mut *tx)
                    .await?;
                    others.extend(found);
                }
                others.sort();
                others.dedup();
                for photo_id in others.iter().filter(|id| pictured.binary_search(id).is_err()) {
                    texts_erased += usize::from(Self::erase_names_in_photo_in(&mut tx, photo_id, &entry, false).await?);
                }
                let now = ms_of_time(eval.at);
                sqlx::query(
                    "UPDATE learners SET given_name = '', family_name = '', preferred_name = NULL, \
                     date_of_birth = NULL, external_ref = NULL, email = NULL, search_text = '', sort_key = '', left_on = NULL, \
                     erased_at = $1, updated_at = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(learner_id)
                .execute(&mut *tx)
                .await?;
                let guardians = sqlx::query("UPDATE guardians SET name = '', email = NULL WHERE learner_id = $1")
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM learner_groups WHERE learner_id = $1")
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE consent_events SET evidence = $1 WHERE learner_id = $2")
                    .bind(ERASED_EVIDENCE)
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?;
                // Messages to them or their family: one not yet sent (or waiting as a letter) never
                // goes; of one sent or posted, only that it was (kind, when) stays.
                let mut messages = sqlx::query("DELETE FROM outbox WHERE learner_id = $1 AND state IN ('pending', 'failed')")
                    .bind(learner_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                messages += sqlx::query(
                    "UPDATE outbox SET to_name = '', to_address = '', subject = '', body = '', link = NULL, \
                     last_error = NULL WHERE learner_id = $1",
                )
                .bind(learner_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // The links of requests sent about them name nobody now: a family following one
                // finds it not recognised, and cannot put a signature back on record.
                let links = sqlx::query(
                    "DELETE FROM request_links WHERE recipient_id IN \
                     (SELECT id FROM request_recipients WHERE learner_id = $1)",
                )
                .bind(learner_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                sqlx::query(
                    "UPDATE request_recipients SET status = 'no_contact' WHERE learner_id = $1 AND status = 'queued'",
                )
                .bind(learner_id)
                .execute(&mut *tx)
                .await?;
                Self::bump_learners_version_in(&mut *tx).await?;
                let audit = AuditDraft::new(
                    &eval.actor,
                    AuditAction::LearnerErased,
                    learner_id,
                    serde_json::json!({
                        "photos_pictured": pictured.len(), "texts_erased": texts_erased,
                        "guardians": guardians, "messages": messages, "request_links": links,
                    }),
                );
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(TombstoneOutcome::Done(now))
            }

            async fn reclaim_erased_space(&self) -> Result<(), StoreError> {
                self.reclaim_space().await
            }
        }
    };
}

impl_erasure_store!(SqliteStore, sqlx::Sqlite);
impl_erasure_store!(PostgresStore, sqlx::Postgres);
