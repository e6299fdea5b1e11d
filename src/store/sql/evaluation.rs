//! Re-evaluation inside a transaction: gathers the facts a photo's release depends on, asks
//! `policy::release` for each purpose's status, and stores and audits what changed. Every area
//! that changes a fact (consent, a learner, a photo, a claim) calls it in its own transaction.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use super::{detail_column, status_from_columns, tags_from_column, PostgresStore, SqliteStore};
use crate::policy::consent::Learner;
use crate::policy::release::{self, LearnerFacts, PhotoFacts, Verdict};
use crate::policy::{Purpose, PurposeStatus, State};
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{ms_of_time, ConsentRecord, Evaluation, StatusChange};

/// A date column (ISO 8601) read back.
fn date_column(value: Option<String>, what: &str) -> Result<Option<time::Date>, StoreError> {
    value
        .map(|d| {
            crate::policy::calendar::parse_iso_date(&d).ok_or_else(|| StoreError::Corrupt(format!("{what}: {d:?}")))
        })
        .transpose()
}

macro_rules! impl_evaluation {
    ($store:ty, $db:ty) => {
        impl $store {
            /// A learner's date of birth, guardians and whole consent history, as `conn` sees them;
            /// `None` when there is no such learner.
            pub(super) async fn learner_facts_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Option<LearnerFacts>, StoreError> {
                let row = sqlx::query("SELECT date_of_birth, left_on FROM learners WHERE id = $1")
                    .bind(learner_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let date_of_birth = date_column(row.try_get("date_of_birth")?, "date of birth")?;
                let left_on = date_column(row.try_get("left_on")?, "leaving date")?;
                let guardians = sqlx::query("SELECT id, removed_at FROM guardians WHERE learner_id = $1")
                    .bind(learner_id)
                    .fetch_all(&mut *conn)
                    .await?;
                let (mut guardian_ids, mut removed_guardian_ids) = (BTreeSet::new(), BTreeSet::new());
                for g in &guardians {
                    let id: String = g.try_get("id")?;
                    if g.try_get::<Option<i64>, _>("removed_at")?.is_some() {
                        removed_guardian_ids.insert(id);
                    } else {
                        guardian_ids.insert(id);
                    }
                }
                let events = Self::consents_in(conn, learner_id).await?.iter().map(ConsentRecord::to_event).collect();
                Ok(Some(LearnerFacts {
                    learner: Learner { date_of_birth, guardian_ids, removed_guardian_ids },
                    events,
                    left_on,
                }))
            }

            /// The status each purpose should have now.
            pub(super) async fn evaluate_in(
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
                let photo =
                    PhotoFacts { learner_ids, all_tagged, purposes, resembles_photos_of: blocked_by, texts, tags };
                Ok(release::evaluate(photo, &learners, &eval.names, eval.at, eval.rules))
            }

            /// Re-evaluates photos inside a transaction; stores and audits every purpose whose
            /// status changed.
            pub(super) async fn reevaluate_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_ids: &[String],
                eval: &Evaluation,
            ) -> Result<Vec<StatusChange>, StoreError> {
                Self::reevaluate_seen_in(tx, photo_ids, eval, &mut BTreeMap::new()).await
            }

            /// [`Self::reevaluate_in`], also filling `stored` with each purpose's status and lease as
            /// they were stored before the re-evaluation (photos whose image is gone are not read):
            /// a claim decides on them without reading the row again.
            pub(super) async fn reevaluate_seen_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_ids: &[String],
                eval: &Evaluation,
                stored: &mut BTreeMap<(String, Purpose), (PurposeStatus, Option<i64>)>,
            ) -> Result<Vec<StatusChange>, StoreError> {
                let mut changes = Vec::new();
                let now = ms_of_time(eval.at);
                for photo_id in photo_ids {
                    let photo = sqlx::query(
                        "SELECT all_tagged, image_deleted_at, caption, alt_text, title, tags FROM photos WHERE id = $1",
                    )
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
                    let learner_ids: Vec<String> = sqlx::query_scalar(
                        "SELECT learner_id FROM photo_learners WHERE photo_id = $1 ORDER BY learner_id",
                    )
                    .bind(photo_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    let blocked_by = Self::blocks_in(&mut **tx, photo_id).await?;
                    let rows = sqlx::query(
                        "SELECT purpose, state, detail, lease_expires_at FROM photo_purposes WHERE photo_id = $1",
                    )
                    .bind(photo_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    let mut current = BTreeMap::new();
                    for row in &rows {
                        let purpose: String = row.try_get("purpose")?;
                        let purpose: Purpose = purpose.parse().map_err(StoreError::Corrupt)?;
                        let mut status = status_from_columns(
                            &row.try_get::<String, _>("state")?,
                            &row.try_get::<String, _>("detail")?,
                        )?;
                        // The rules act on the state at this moment: a lease that ran out is back in
                        // the queue, and is stored so if the re-evaluation changes anything else.
                        let lease: Option<i64> = row.try_get("lease_expires_at")?;
                        stored.insert((photo_id.clone(), purpose), (status.clone(), lease));
                        status.state = release::effective_state(status.state, lease, now);
                        current.insert(purpose, status);
                    }
                    let purposes: Vec<Purpose> = current.keys().copied().collect();
                    let mut texts = vec![caption.as_str(), alt_text.as_str(), title.as_str()];
                    texts.extend(tags.iter().map(String::as_str));
                    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                    let evaluated = Self::evaluate_in(
                        &mut **tx,
                        &learner_ids,
                        all_tagged,
                        &purposes,
                        &blocked_by,
                        (&texts, &tags),
                        eval,
                    )
                    .await?;
                    for (purpose, rules_say) in evaluated {
                        let from = current.remove(&purpose).expect("evaluated purposes are the stored ones");
                        let (state, takedown) = release::transition(from.state, Verdict::of(&rules_say));
                        let to = PurposeStatus { state, ..rules_say };
                        if from == to {
                            continue;
                        }
                        // Leaving a claim ends its lease; the claimant is kept, so a publication
                        // reported afterwards can be turned into a takedown.
                        let lease_sql = if to.state == State::Claimed { "lease_expires_at" } else { "NULL" };
                        sqlx::query(&format!(
                            "UPDATE photo_purposes SET state = $1, detail = $2, changed_at = $3, \
                             lease_expires_at = {lease_sql} WHERE photo_id = $4 AND purpose = $5"
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
                        if to.state == State::Queued {
                            Self::mark_released_in(&mut **tx, photo_id, now).await?;
                        }
                        let audit = AuditDraft::new(
                            &eval.actor,
                            AuditAction::StatusChanged,
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

            /// Records that a purpose of the photo reached the queue at `now`, unless one did
            /// before: the `held_photo` retention rule deletes only images that never did.
            pub(super) async fn mark_released_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                photo_id: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("UPDATE photos SET first_released_at = $1 WHERE id = $2 AND first_released_at IS NULL")
                    .bind(now)
                    .bind(photo_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// The learners a photo is held for without being tagged in it (a look-alike of their
            /// photo, or a photo they were untagged from while their no stood).
            pub(super) async fn blocks_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                photo_id: &str,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT learner_id FROM photo_blocks WHERE photo_id = $1 ORDER BY learner_id")
                    .bind(photo_id)
                    .fetch_all(&mut *conn)
                    .await?)
            }
        }
    };
}

impl_evaluation!(SqliteStore, sqlx::Sqlite);
impl_evaluation!(PostgresStore, sqlx::Postgres);
