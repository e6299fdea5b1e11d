//! The mail outbox: rows written in the transaction of the change that causes them, leased by
//! senders. The one difference between the backends is how a lease skips rows another replica is
//! leasing at the same moment (`SKIP_LOCKED`): SQLite has one writer, so there are none.

use async_trait::async_trait;
use sqlx::Row;

use super::{PostgresStore, SqliteStore};
use crate::store::audit::AuditDraft;
use crate::store::error::StoreError;
use crate::store::requests::{MailState, OutboxMessage};
use crate::store::traits::OutboxStore;

/// An outbox row.
fn mail_from_row<R: Row>(row: &R) -> Result<OutboxMessage, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind")?;
    let state: String = row.try_get("state")?;
    Ok(OutboxMessage {
        id: row.try_get("id")?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        learner_id: row.try_get("learner_id")?,
        staff_id: row.try_get("staff_id")?,
        recipient_id: row.try_get("recipient_id")?,
        to_name: row.try_get("to_name")?,
        to_address: row.try_get("to_address")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        link: row.try_get("link")?,
        state: state.parse().map_err(StoreError::Corrupt)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        done_at: row.try_get("done_at")?,
    })
}

/// Longest error text kept: an SMTP server's reply can be long, and it is only shown to an admin.
const MAX_ERROR: usize = 500;

fn clipped(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR) {
        Some((at, _)) => format!("{}…", &error[..at]),
        None => error.to_string(),
    }
}

macro_rules! impl_outbox_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Queues a message inside the transaction of the change that causes it.
            pub(super) async fn insert_mail_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                m: &OutboxMessage,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO outbox (id, kind, learner_id, recipient_id, to_name, to_address, subject, body, \
                     link, state, attempts, next_attempt_at, last_error, created_at, done_at, staff_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&m.id)
                .bind(m.kind.as_str())
                .bind(&m.learner_id)
                .bind(&m.recipient_id)
                .bind(&m.to_name)
                .bind(&m.to_address)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(&m.link)
                .bind(m.state.as_str())
                .bind(m.attempts)
                .bind(m.next_attempt_at)
                .bind(&m.last_error)
                .bind(m.created_at)
                .bind(m.done_at)
                .bind(&m.staff_id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl OutboxStore for $store {
            async fn claim_mail(
                &self,
                now: i64,
                lease_until: i64,
                limit: i64,
            ) -> Result<Vec<OutboxMessage>, StoreError> {
                let sql = format!(
                    "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $2 \
                      AND (lease_until IS NULL OR lease_until <= $2) ORDER BY next_attempt_at, id LIMIT $3 {}) \
                     RETURNING *",
                    Self::SKIP_LOCKED
                );
                let rows = sqlx::query(&sql).bind(lease_until).bind(now).bind(limit).fetch_all(self.writer()).await?;
                let mut claimed = rows.iter().map(mail_from_row).collect::<Result<Vec<_>, _>>()?;
                claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
                Ok(claimed)
            }

            async fn mail_delivered(&self, id: &str, at: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET state = 'sent', done_at = $1, body = '', link = NULL, lease_until = NULL, \
                     last_error = NULL WHERE id = $2 AND state = 'pending'",
                )
                .bind(at)
                .bind(id)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn mail_retry(&self, id: &str, next_attempt_at: i64, error: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $1, last_error = $2, lease_until = NULL \
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(next_attempt_at)
                .bind(clipped(error))
                .bind(id)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn mail_failed(&self, id: &str, at: i64, error: &str) -> Result<(), StoreError> {
                sqlx::query(
                    // A staff message's body holds a sign-in link and is never posted: emptied.
                    "UPDATE outbox SET state = 'failed', done_at = $1, last_error = $2, lease_until = NULL, \
                     body = CASE WHEN staff_id IS NULL THEN body ELSE '' END, \
                     link = CASE WHEN staff_id IS NULL THEN link ELSE NULL END \
                     WHERE id = $3 AND state = 'pending'",
                )
                .bind(at)
                .bind(clipped(error))
                .bind(id)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn outbox(&self, state: MailState, limit: i64) -> Result<Vec<OutboxMessage>, StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM outbox WHERE state = $1 AND learner_id IS NOT NULL ORDER BY created_at, id LIMIT $2",
                )
                    .bind(state.as_str())
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(mail_from_row).collect()
            }

            async fn outbox_message(&self, id: &str) -> Result<Option<OutboxMessage>, StoreError> {
                let row =
                    sqlx::query("SELECT * FROM outbox WHERE id = $1 AND learner_id IS NOT NULL").bind(id).fetch_optional(self.reader()).await?;
                row.as_ref().map(mail_from_row).transpose()
            }

            async fn outbox_depth(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn mark_posted(&self, id: &str, at: i64, audit: AuditDraft) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                let updated = sqlx::query(
                    "UPDATE outbox SET state = 'posted', done_at = $1, body = '', link = NULL, lease_until = NULL \
                     WHERE id = $2 AND state IN ('pending', 'failed') AND (lease_until IS NULL OR lease_until <= $1) \
                     AND learner_id IS NOT NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Ok(false);
                }
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

impl_outbox_store!(SqliteStore, sqlx::Sqlite);
impl_outbox_store!(PostgresStore, sqlx::Postgres);
