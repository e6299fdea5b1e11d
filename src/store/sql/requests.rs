//! Consent requests, their recipients and links, and answers from the online form. Every message
//! a change causes is written to the outbox in the change's own transaction (see `outbox.rs`).

use async_trait::async_trait;
use sqlx::Row;

use super::{consent_from_row, purposes_column, purposes_from_column, PostgresStore, SqliteStore};
use crate::policy::consent::EventKind;
use crate::store::audit::AuditDraft;
use crate::store::error::StoreError;
use crate::store::records::{ms_of_time, ConsentRecord, Evaluation};
use crate::store::requests::{
    AnswerOutcome, DueReminder, NewRequest, OutboxMessage, RecipientRecord, RecipientView, RequestAnswer,
    RequestCreated, RequestLink, RequestRecord,
};
use crate::store::traits::RequestStore;

/// A request from a `consent_requests` row (`r.*`, or columns named alike).
pub(super) fn request_from_row<R: Row>(row: &R) -> Result<RequestRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    let purposes: String = row.try_get("purposes")?;
    Ok(RequestRecord {
        id: row.try_get("id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        purposes: purposes_from_column(&purposes)?,
        group: row.try_get("group_name")?,
        form_version: row.try_get("form_version")?,
        form_text_hash: row.try_get("form_text_hash")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        renews_grant_id: row.try_get("renews_grant_id")?,
        adult_learner_id: row.try_get("adult_learner_id")?,
    })
}

/// A recipient from columns prefixed `rc_` (so they can be selected beside a request's).
pub(super) fn recipient_from_row<R: Row>(row: &R) -> Result<RecipientRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let to: String = row.try_get("rc_recipient")?;
    let status: String = row.try_get("rc_status")?;
    Ok(RecipientRecord {
        id: row.try_get("rc_id")?,
        request_id: row.try_get("rc_request_id")?,
        learner_id: row.try_get("rc_learner_id")?,
        to: to.parse().map_err(StoreError::Corrupt)?,
        guardian_id: row.try_get("rc_guardian_id")?,
        status: status.parse().map_err(StoreError::Corrupt)?,
        reminders_sent: row.try_get("rc_reminders_sent")?,
        last_sent_at: row.try_get("rc_last_sent_at")?,
        answered_at: row.try_get("rc_answered_at")?,
    })
}

/// The recipient columns, prefixed for [`recipient_from_row`]; `rc` is the table's alias.
const RECIPIENT_COLUMNS: &str = "rc.id AS rc_id, rc.request_id AS rc_request_id, rc.learner_id AS rc_learner_id, \
     rc.recipient AS rc_recipient, rc.guardian_id AS rc_guardian_id, rc.status AS rc_status, \
     rc.reminders_sent AS rc_reminders_sent, rc.last_sent_at AS rc_last_sent_at, rc.answered_at AS rc_answered_at";

macro_rules! impl_request_store {
    ($store:ty, $db:ty) => {
        impl $store {
            pub(super) async fn insert_recipient_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                r: &RecipientRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO request_recipients (id, request_id, learner_id, recipient, guardian_id, status, \
                     reminders_sent, last_sent_at, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&r.id)
                .bind(&r.request_id)
                .bind(&r.learner_id)
                .bind(r.to.as_str())
                .bind(&r.guardian_id)
                .bind(r.status.as_str())
                .bind(r.reminders_sent)
                .bind(r.last_sent_at)
                .bind(r.answered_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            pub(super) async fn insert_link_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                token_hash: &str,
                recipient_id: &str,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO request_links (token_hash, recipient_id, created_at) VALUES ($1, $2, $3)")
                    .bind(token_hash)
                    .bind(recipient_id)
                    .bind(at)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn insert_request_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                new: &NewRequest,
            ) -> Result<RequestCreated, StoreError> {
                let r = &new.request;
                // The words are kept once per hash: the same form sent twice is one row.
                let known: Option<String> = sqlx::query_scalar("SELECT hash FROM form_texts WHERE hash = $1")
                    .bind(&r.form_text_hash)
                    .fetch_optional(&mut **tx)
                    .await?;
                if known.is_none() {
                    sqlx::query("INSERT INTO form_texts (hash, body, created_at) VALUES ($1, $2, $3)")
                        .bind(&r.form_text_hash)
                        .bind(&new.form_text)
                        .bind(r.created_at)
                        .execute(&mut **tx)
                        .await?;
                }
                // A renewal or an 18th-birthday request made already (by another replica) is not
                // made again: the unique columns decide, under the chain lock.
                let duplicate: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM consent_requests WHERE renews_grant_id = $1 OR adult_learner_id = $2",
                )
                .bind(&r.renews_grant_id)
                .bind(&r.adult_learner_id)
                .fetch_optional(&mut **tx)
                .await?;
                if duplicate.is_some() {
                    return Ok(RequestCreated::Duplicate);
                }
                sqlx::query(
                    "INSERT INTO consent_requests (id, kind, purposes, group_name, form_version, form_text_hash, \
                     created_by, created_at, expires_at, renews_grant_id, adult_learner_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&r.id)
                .bind(r.kind.as_str())
                .bind(purposes_column(&r.purposes))
                .bind(&r.group)
                .bind(&r.form_version)
                .bind(&r.form_text_hash)
                .bind(&r.created_by)
                .bind(r.created_at)
                .bind(r.expires_at)
                .bind(&r.renews_grant_id)
                .bind(&r.adult_learner_id)
                .execute(&mut **tx)
                .await?;
                for recipient in &new.recipients {
                    Self::insert_recipient_in(&mut **tx, recipient).await?;
                }
                for (hash, recipient_id) in &new.links {
                    Self::insert_link_in(&mut **tx, hash, recipient_id, r.created_at).await?;
                }
                for message in &new.messages {
                    Self::insert_mail_in(&mut **tx, message).await?;
                }
                Ok(RequestCreated::Created)
            }
        }

        #[async_trait]
        impl RequestStore for $store {
            async fn create_request(&self, new: &NewRequest, audit: AuditDraft) -> Result<RequestCreated, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let created = Self::insert_request_in(&mut tx, new).await?;
                if created == RequestCreated::Created {
                    Self::append_in(&mut tx, &audit).await?;
                    tx.commit().await?;
                }
                Ok(created)
            }

            async fn request_link(&self, token_hash: &str) -> Result<Option<RequestLink>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT r.*, {RECIPIENT_COLUMNS}, f.body AS form_text, \
                     COALESCE(l.preferred_name, l.given_name) AS first_name, g.name AS guardian_name, \
                     g.removed_at AS guardian_removed_at \
                     FROM request_links k JOIN request_recipients rc ON rc.id = k.recipient_id \
                     JOIN consent_requests r ON r.id = rc.request_id JOIN form_texts f ON f.hash = r.form_text_hash \
                     JOIN learners l ON l.id = rc.learner_id LEFT JOIN guardians g ON g.id = rc.guardian_id \
                     WHERE k.token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await?;
                row.map(|row| {
                    Ok(RequestLink {
                        request: request_from_row(&row)?,
                        recipient: recipient_from_row(&row)?,
                        form_text: row.try_get("form_text")?,
                        first_name: row.try_get("first_name")?,
                        guardian_name: row.try_get("guardian_name")?,
                        guardian_removed: row.try_get::<Option<i64>, _>("guardian_removed_at")?.is_some(),
                    })
                })
                .transpose()
            }

            async fn answer_request(
                &self,
                token_hash: &str,
                answer: &RequestAnswer,
                audit: AuditDraft,
                eval: Evaluation,
            ) -> Result<AnswerOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let row = sqlx::query(
                    "SELECT rc.id, rc.learner_id, rc.answered_at FROM request_links k \
                     JOIN request_recipients rc ON rc.id = k.recipient_id WHERE k.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(AnswerOutcome::Unknown) };
                if let Some(at) = row.try_get::<Option<i64>, _>("answered_at")? {
                    return Ok(AnswerOutcome::AlreadyAnswered(at));
                }
                let recipient_id: String = row.try_get("id")?;
                let learner_id: String = row.try_get("learner_id")?;
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                let mut refused = false;
                for event in &answer.events {
                    if event.learner_id != learner_id {
                        return Err(StoreError::Corrupt("an answer's event names another learner".into()));
                    }
                    let recorded_at =
                        if eval.live { Self::recorded_at_in(&mut *tx, &learner_id, now).await? } else { now };
                    let event = ConsentRecord { recorded_at, ..event.clone() };
                    Self::insert_consent_in(&mut *tx, &event).await?;
                    if event.kind == EventKind::Granted {
                        if let Some(hash) = &answer.withdrawal_token_hash {
                            sqlx::query("INSERT INTO withdrawal_links (token_hash, grant_id) VALUES ($1, $2)")
                                .bind(hash)
                                .bind(&event.id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    } else {
                        refused = true;
                    }
                }
                sqlx::query("UPDATE request_recipients SET status = 'answered', answered_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(&recipient_id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(confirmation) = &answer.confirmation {
                    Self::insert_mail_in(&mut *tx, confirmation).await?;
                }
                Self::append_in(&mut tx, &audit).await?;
                if refused {
                    Self::block_lookalikes_in(&mut *tx, &learner_id).await?;
                }
                let photos = Self::photos_concerning_in(&mut *tx, &learner_id).await?;
                let changes = Self::reevaluate_in(&mut tx, &photos, &eval).await?;
                tx.commit().await?;
                Ok(AnswerOutcome::Answered(changes))
            }

            async fn due_reminders(
                &self,
                sent_before: i64,
                max_reminders: i64,
                now: i64,
                limit: i64,
            ) -> Result<Vec<DueReminder>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT r.*, {RECIPIENT_COLUMNS}, COALESCE(l.preferred_name, l.given_name) AS first_name, \
                     CASE WHEN rc.recipient = 'guardian' THEN g.name ELSE l.given_name || ' ' || l.family_name END \
                       AS to_name, \
                     CASE WHEN rc.recipient = 'guardian' THEN g.email ELSE l.email END AS to_address, \
                     f.body AS form_text \
                     FROM request_recipients rc JOIN consent_requests r ON r.id = rc.request_id \
                     JOIN form_texts f ON f.hash = r.form_text_hash \
                     JOIN learners l ON l.id = rc.learner_id LEFT JOIN guardians g ON g.id = rc.guardian_id \
                     WHERE rc.status = 'queued' AND rc.last_sent_at <= $1 AND rc.reminders_sent < $2 \
                     AND r.expires_at > $3 AND (g.id IS NULL OR g.removed_at IS NULL) \
                     AND NOT EXISTS (SELECT 1 FROM outbox ob WHERE ob.recipient_id = rc.id AND ob.state = 'failed' \
                       AND ob.to_address = CASE WHEN rc.recipient = 'guardian' THEN g.email ELSE l.email END) \
                     AND NOT EXISTS (SELECT 1 FROM request_recipients o WHERE o.request_id = rc.request_id \
                       AND o.learner_id = rc.learner_id AND o.status = 'answered') \
                     ORDER BY rc.last_sent_at, rc.id LIMIT $4"
                ))
                .bind(sent_before)
                .bind(max_reminders)
                .bind(now)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                let mut due = Vec::with_capacity(rows.len());
                for row in &rows {
                    // An address removed since the request leaves nobody to remind.
                    let Some(to_address) = row.try_get::<Option<String>, _>("to_address")? else { continue };
                    due.push(DueReminder {
                        request: request_from_row(row)?,
                        recipient: recipient_from_row(row)?,
                        first_name: row.try_get("first_name")?,
                        to_name: row.try_get::<Option<String>, _>("to_name")?.unwrap_or_default(),
                        to_address,
                        form_text: row.try_get("form_text")?,
                    });
                }
                Ok(due)
            }

            async fn queue_reminder(
                &self,
                recipient_id: &str,
                reminders_sent: i64,
                token_hash: &str,
                message: &OutboxMessage,
                audit: AuditDraft,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                let updated = sqlx::query(
                    "UPDATE request_recipients SET reminders_sent = reminders_sent + 1, last_sent_at = $1 \
                     WHERE id = $2 AND reminders_sent = $3 AND status = 'queued'",
                )
                .bind(message.created_at)
                .bind(recipient_id)
                .bind(reminders_sent)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Ok(false);
                }
                Self::insert_link_in(&mut *tx, token_hash, recipient_id, message.created_at).await?;
                Self::insert_mail_in(&mut *tx, message).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn grants_to_renew(
                &self,
                now: i64,
                before: i64,
                limit: i64,
            ) -> Result<Vec<ConsentRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT e.* FROM consent_events e WHERE e.kind = 'granted' AND e.expires_at > $1 \
                     AND e.expires_at <= $2 \
                     AND NOT EXISTS (SELECT 1 FROM consent_requests r WHERE r.renews_grant_id = e.id) \
                     ORDER BY e.expires_at, e.id LIMIT $3",
                )
                .bind(now)
                .bind(before)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(consent_from_row).collect()
            }

            async fn learners_due_adult_request(
                &self,
                born_after: &str,
                born_by: &str,
                limit: i64,
            ) -> Result<Vec<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT l.id FROM learners l WHERE l.email IS NOT NULL AND l.date_of_birth > $1 \
                     AND l.date_of_birth <= $2 \
                     AND NOT EXISTS (SELECT 1 FROM consent_requests r WHERE r.adult_learner_id = l.id) \
                     ORDER BY l.date_of_birth, l.id LIMIT $3",
                )
                .bind(born_after)
                .bind(born_by)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            async fn requests(&self, limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
                let rows = sqlx::query("SELECT * FROM consent_requests ORDER BY created_at DESC, id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(request_from_row).collect()
            }

            async fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM consent_requests WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(request_from_row).transpose()
            }

            async fn recipients(&self, request_id: &str) -> Result<Vec<RecipientView>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {RECIPIENT_COLUMNS}, l.given_name || ' ' || l.family_name AS learner_name, \
                     g.name AS guardian_name \
                     FROM request_recipients rc JOIN learners l ON l.id = rc.learner_id \
                     LEFT JOIN guardians g ON g.id = rc.guardian_id WHERE rc.request_id = $1 \
                     ORDER BY l.sort_key, l.id, rc.id"
                ))
                .bind(request_id)
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(RecipientView {
                            recipient: recipient_from_row(row)?,
                            learner_name: row.try_get("learner_name")?,
                            guardian_name: row.try_get("guardian_name")?,
                        })
                    })
                    .collect()
            }

            async fn recipients_of(
                &self,
                learner_ids: &[String],
            ) -> Result<Vec<(RequestRecord, RecipientRecord)>, StoreError> {
                let mut out = Vec::new();
                // In pages, so a group of any size stays within the backends' bind limits.
                for chunk in learner_ids.chunks(500) {
                    let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT r.*, {RECIPIENT_COLUMNS} FROM request_recipients rc \
                         JOIN consent_requests r ON r.id = rc.request_id WHERE rc.learner_id IN ({}) \
                         ORDER BY r.created_at, r.id, rc.id",
                        placeholders.join(", ")
                    );
                    let mut query = sqlx::query(&sql);
                    for id in chunk {
                        query = query.bind(id);
                    }
                    for row in query.fetch_all(self.reader()).await? {
                        out.push((request_from_row(&row)?, recipient_from_row(&row)?));
                    }
                }
                out.sort_by(|a, b| (a.0.created_at, &a.0.id, &a.1.id).cmp(&(b.0.created_at, &b.0.id, &b.1.id)));
                Ok(out)
            }
        }
    };
}

impl_request_store!(SqliteStore, sqlx::Sqlite);
impl_request_store!(PostgresStore, sqlx::Postgres);
