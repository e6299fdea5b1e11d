//! Consent events and withdrawal links. A "no" also holds, in the same transaction, every
//! look-alike of the learner's photos uploaded before it; every change re-evaluates the photos it
//! concerns before it commits.

use async_trait::async_trait;
use sqlx::Row;

use super::{consent_from_row, kind_name, purposes_column, PostgresStore, SqliteStore};
use crate::policy::consent::{self, EventKind, Giver};
use crate::policy::Purpose;
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{
    ms_of_time, ConsentRecord, ConsentToRecord, Evaluation, FormTemplate, ReissueOutcome, StatusChange,
    WithdrawOutcome, WithdrawalLink,
};
use crate::store::traits::ConsentStore;

/// A template from a row of `form_templates` joined with its words (`body`).
fn template_from_row<R: Row>(row: &R) -> Result<FormTemplate, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(FormTemplate {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        form_version: row.try_get("form_version")?,
        form_text_hash: row.try_get("form_text_hash")?,
        form_text: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        retired_at: row.try_get("retired_at")?,
    })
}

/// What a grant's link still withdraws: its purposes its giver has not taken back (through the
/// link, or a "no" recorded otherwise). Empty once nothing is left: the link is then used up,
/// whatever its column says, so it can never withdraw a newer grant's purposes.
fn remaining_purposes(grant: &ConsentRecord, history: &[ConsentRecord]) -> Vec<Purpose> {
    let events: Vec<_> = history.iter().map(ConsentRecord::to_event).collect();
    let taken = consent::purposes_taken_back(&grant.to_event(), &events);
    grant.purposes.iter().copied().filter(|p| !taken.contains(p)).collect()
}

/// When the last of the grant's purposes was taken back (the latest "no" of its giver after it).
fn taken_back_at(grant: &ConsentRecord, history: &[ConsentRecord]) -> i64 {
    history
        .iter()
        .filter(|e| e.kind != EventKind::Granted && e.giver == grant.giver && e.recorded_at >= grant.recorded_at)
        .map(|e| e.given_at)
        .max()
        .unwrap_or(grant.given_at)
}

macro_rules! impl_consent_store {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(super) async fn consents_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
            ) -> Result<Vec<ConsentRecord>, StoreError> {
                let rows = sqlx::query("SELECT * FROM consent_events WHERE learner_id = $1 ORDER BY recorded_at, id")
                    .bind(learner_id)
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter().map(consent_from_row).collect()
            }

            /// Records one consent event under the chain lock: refused (`Conflict`) when the
            /// learner was erased, or a grant's guardian removed, since the event was checked.
            async fn record_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                event: &ConsentRecord,
                link_token_hash: Option<&str>,
                audit: &AuditDraft,
                eval: &Evaluation,
            ) -> Result<Vec<StatusChange>, StoreError> {
                // An erasure under way records its own withdrawals; nothing else may land on a
                // learner being erased, nor anything on one erased.
                let row = sqlx::query("SELECT erased_at, erasure_started_at FROM learners WHERE id = $1")
                    .bind(&event.learner_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let erasing = match &row {
                    None => true,
                    Some(row) => {
                        row.try_get::<Option<i64>, _>("erased_at")?.is_some()
                            || (event.kind == EventKind::Granted
                                && row.try_get::<Option<i64>, _>("erasure_started_at")?.is_some())
                    }
                };
                if erasing {
                    return Err(StoreError::Conflict(format!("learner {} is erased or being erased", event.learner_id)));
                }
                if let (EventKind::Granted, Giver::Guardian(guardian)) = (event.kind, &event.giver) {
                    let removed: Option<Option<i64>> =
                        sqlx::query_scalar("SELECT removed_at FROM guardians WHERE id = $1 AND learner_id = $2")
                            .bind(guardian)
                            .bind(&event.learner_id)
                            .fetch_optional(&mut **tx)
                            .await?;
                    if !matches!(removed, Some(None)) {
                        return Err(StoreError::Conflict(format!("guardian {guardian} was removed")));
                    }
                }
                let stamped;
                let event = if eval.live {
                    stamped = ConsentRecord {
                        recorded_at: Self::recorded_at_in(&mut **tx, &event.learner_id, ms_of_time(eval.at)).await?,
                        ..event.clone()
                    };
                    &stamped
                } else {
                    event
                };
                Self::insert_consent_in(&mut **tx, event).await?;
                if let Some(hash) = link_token_hash {
                    sqlx::query("INSERT INTO withdrawal_links (token_hash, grant_id) VALUES ($1, $2)")
                        .bind(hash)
                        .bind(&event.id)
                        .execute(&mut **tx)
                        .await?;
                }
                Self::append_in(tx, audit).await?;
                if event.kind != EventKind::Granted {
                    Self::block_lookalikes_in(&mut **tx, &event.learner_id).await?;
                }
                // Look-alikes held for them are re-evaluated too: a grant can lift their block.
                let photos = Self::photos_concerning_in(&mut **tx, &event.learner_id).await?;
                Self::reevaluate_in(tx, &photos, eval).await
            }

            /// When an event for `learner_id` committed now is recorded: the clock, but after every
            /// event already on record for them, so that "recorded later" follows the order in which
            /// the chain lock was held even between replicas whose clocks differ a little.
            pub(super) async fn recorded_at_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                learner_id: &str,
                now: i64,
            ) -> Result<i64, StoreError> {
                let latest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(recorded_at) FROM consent_events WHERE learner_id = $1")
                        .bind(learner_id)
                        .fetch_one(&mut *conn)
                        .await?;
                Ok(latest.map_or(now, |latest| now.max(latest.saturating_add(1))))
            }

            pub(super) async fn insert_consent_in(
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

            /// Photos that must be checked when `learner_id` says no: those they are tagged in and
            /// the look-alikes held for them.
            pub(super) async fn photos_concerning_in(
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
            pub(super) async fn block_lookalikes_in(
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
                    sqlx::query(
                        "INSERT INTO photo_blocks (photo_id, learner_id, matched_photo_id) VALUES ($1, $2, $3)",
                    )
                    .bind(&photo_id)
                    .bind(learner_id)
                    .bind(matched)
                    .execute(&mut *conn)
                    .await?;
                    blocked.push(photo_id);
                }
                Ok(blocked)
            }
        }

        #[async_trait]
        impl ConsentStore for $store {
            async fn record_consent(
                &self,
                event: &ConsentRecord,
                link_token_hash: Option<&str>,
                audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<Vec<StatusChange>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let changes = Self::record_in(&mut tx, event, link_token_hash, &audit, &eval).await?;
                tx.commit().await?;
                Ok(changes)
            }

            async fn record_consents(
                &self,
                entries: &[ConsentToRecord],
                eval: Evaluation,
            ) -> Result<Vec<Vec<StatusChange>>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let mut all = Vec::with_capacity(entries.len());
                for entry in entries {
                    let link = entry.link_token_hash.as_deref();
                    all.push(Self::record_in(&mut tx, &entry.event, link, &entry.audit, &eval).await?);
                }
                tx.commit().await?;
                Ok(all)
            }

            async fn consents(&self, learner_id: &str) -> Result<Vec<ConsentRecord>, StoreError> {
                let mut conn = self.reader().acquire().await?;
                Self::consents_in(&mut *conn, learner_id).await
            }

            async fn withdrawal_link(&self, token_hash: &str) -> Result<Option<WithdrawalLink>, StoreError> {
                let row = sqlx::query(
                    "SELECT e.*, w.used_at AS link_used_at, COALESCE(l.preferred_name, l.given_name) AS first_name \
                     FROM withdrawal_links w JOIN consent_events e ON e.id = w.grant_id \
                     JOIN learners l ON l.id = e.learner_id WHERE w.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let grant = consent_from_row(&row)?;
                let mut conn = self.reader().acquire().await?;
                let events = Self::consents_in(&mut *conn, &grant.learner_id).await?;
                let remaining = remaining_purposes(&grant, &events);
                let used_at: Option<i64> = row.try_get("link_used_at")?;
                Ok(Some(WithdrawalLink {
                    // Nothing left to withdraw is a used link, however it was used up.
                    used_at: used_at.or_else(|| remaining.is_empty().then(|| taken_back_at(&grant, &events))),
                    remaining,
                    grant,
                    first_name: row.try_get("first_name")?,
                }))
            }

            async fn reissue_withdrawal_link(
                &self,
                learner_id: &str,
                event_id: &str,
                token_hash: &str,
                audit: AuditDraft,
            ) -> Result<ReissueOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let row = sqlx::query("SELECT * FROM consent_events WHERE id = $1 AND learner_id = $2")
                    .bind(event_id)
                    .bind(learner_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(ReissueOutcome::Unknown) };
                let grant = consent_from_row(&row)?;
                if grant.kind != EventKind::Granted {
                    return Ok(ReissueOutcome::NotAGrant);
                }
                if let Giver::Guardian(guardian_id) = &grant.giver {
                    let removed: Option<i64> = sqlx::query_scalar("SELECT removed_at FROM guardians WHERE id = $1")
                        .bind(guardian_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    if removed.is_some() {
                        return Ok(ReissueOutcome::GuardianRemoved);
                    }
                }
                let used: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT used_at FROM withdrawal_links WHERE grant_id = $1")
                        .bind(&grant.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let events: Vec<_> =
                    Self::consents_in(&mut *tx, learner_id).await?.iter().map(ConsentRecord::to_event).collect();
                if matches!(used, Some(Some(_))) || crate::policy::consent::taken_back(&grant.to_event(), &events) {
                    return Ok(ReissueOutcome::AlreadyWithdrawn);
                }
                // One link per grant: the row keeps its grant and takes the new hash, so the old
                // token finds nothing (its page says "not recognised"), whoever still holds it.
                if used.is_some() {
                    sqlx::query("UPDATE withdrawal_links SET token_hash = $1 WHERE grant_id = $2")
                        .bind(token_hash)
                        .bind(&grant.id)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query("INSERT INTO withdrawal_links (token_hash, grant_id) VALUES ($1, $2)")
                        .bind(token_hash)
                        .bind(&grant.id)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(ReissueOutcome::Reissued)
            }

            async fn withdraw_by_link(
                &self,
                token_hash: &str,
                new_event_id: &str,
                purposes: Option<&[Purpose]>,
                eval: Evaluation,
            ) -> Result<WithdrawOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
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
                let history = Self::consents_in(&mut *tx, &grant.learner_id).await?;
                let remaining = remaining_purposes(&grant, &history);
                if remaining.is_empty() {
                    return Ok(WithdrawOutcome::AlreadyUsed(taken_back_at(&grant, &history)));
                }
                let chosen: Vec<Purpose> = match purposes {
                    Some(asked) => remaining.iter().copied().filter(|p| asked.contains(p)).collect(),
                    None => remaining.clone(),
                };
                if chosen.is_empty() {
                    return Ok(WithdrawOutcome::NothingChosen);
                }
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                let recorded_at =
                    if eval.live { Self::recorded_at_in(&mut *tx, &grant.learner_id, now).await? } else { now };
                let event = ConsentRecord {
                    id: new_event_id.to_string(),
                    learner_id: grant.learner_id.clone(),
                    kind: EventKind::Withdrawn,
                    purposes: chosen.clone(),
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
                // Used up once nothing of the grant is left to withdraw; until then it withdraws the rest.
                if chosen.len() == remaining.len() {
                    sqlx::query("UPDATE withdrawal_links SET used_at = $1, withdrawal_id = $2 WHERE token_hash = $3")
                        .bind(now)
                        .bind(&event.id)
                        .bind(token_hash)
                        .execute(&mut *tx)
                        .await?;
                }
                let audit = AuditDraft::new(
                    &eval.actor,
                    AuditAction::ConsentWithdrawn,
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

            async fn save_form_template(&self, t: &FormTemplate, audit: AuditDraft) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let taken: Option<String> = sqlx::query_scalar("SELECT id FROM form_templates WHERE form_version = $1")
                    .bind(&t.form_version)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO form_texts (hash, body, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
                )
                .bind(&t.form_text_hash)
                .bind(&t.form_text)
                .bind(t.created_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO form_templates (id, name, form_version, form_text_hash, created_at, created_by) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&t.id)
                .bind(&t.name)
                .bind(&t.form_version)
                .bind(&t.form_text_hash)
                .bind(t.created_at)
                .bind(&t.created_by)
                .execute(&mut *tx)
                .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn form_templates(&self, with_retired: bool) -> Result<Vec<FormTemplate>, StoreError> {
                let rows = sqlx::query(
                    "SELECT t.*, f.body FROM form_templates t JOIN form_texts f ON f.hash = t.form_text_hash \
                     WHERE $1 OR t.retired_at IS NULL ORDER BY t.created_at, t.id",
                )
                .bind(with_retired)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(template_from_row).collect()
            }

            async fn form_template(&self, id: &str) -> Result<Option<FormTemplate>, StoreError> {
                let row = sqlx::query(
                    "SELECT t.*, f.body FROM form_templates t JOIN form_texts f ON f.hash = t.form_text_hash \
                     WHERE t.id = $1",
                )
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
                row.as_ref().map(template_from_row).transpose()
            }

            async fn retire_form_template(&self, id: &str, at: i64, audit: AuditDraft) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let retired =
                    sqlx::query("UPDATE form_templates SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL")
                        .bind(at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if retired == 0 {
                    return Ok(false);
                }
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn reevaluate(
                &self,
                photo_ids: &[String],
                eval: Evaluation,
            ) -> Result<Vec<StatusChange>, StoreError> {
                let mut tx = self.writer().begin().await?;
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
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

impl_consent_store!(SqliteStore, sqlx::Sqlite);
impl_consent_store!(PostgresStore, sqlx::Postgres);
