//! The emails about open takedowns: which are due, and recording one as sent with its messages.

use async_trait::async_trait;

use super::{takedown_from_row, PostgresStore, SqliteStore};
use crate::store::audit::AuditDraft;
use crate::store::error::StoreError;
use crate::store::records::{Takedown, TakedownNotice};
use crate::store::requests::OutboxMessage;
use crate::store::traits::NoticeStore;

/// The column that says a notice was sent.
fn column(notice: TakedownNotice) -> &'static str {
    match notice {
        TakedownNotice::Owed => "owed_told_at",
        TakedownNotice::Overdue => "overdue_told_at",
    }
}

macro_rules! impl_notice_store {
    ($store:ty) => {
        #[async_trait]
        impl NoticeStore for $store {
            async fn takedown_notices_due(
                &self,
                overdue_before: i64,
                limit: i64,
            ) -> Result<Vec<(Takedown, TakedownNotice)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT * FROM takedowns WHERE done_at IS NULL \
                     AND (owed_told_at IS NULL OR (overdue_told_at IS NULL AND created_at < $1)) \
                     ORDER BY created_at, id LIMIT $2",
                )
                .bind(overdue_before)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                let mut due = Vec::with_capacity(rows.len());
                for row in &rows {
                    let told: Option<i64> = sqlx::Row::try_get(row, "owed_told_at")?;
                    let created_at: i64 = sqlx::Row::try_get(row, "created_at")?;
                    // One taken long ago and never told (the service was down, or nobody had an
                    // address) is told once, as overdue.
                    let notice = if told.is_none() && created_at >= overdue_before {
                        TakedownNotice::Owed
                    } else {
                        TakedownNotice::Overdue
                    };
                    due.push((takedown_from_row(row)?, notice));
                }
                Ok(due)
            }

            async fn record_takedown_notice(
                &self,
                id: &str,
                notice: TakedownNotice,
                at: i64,
                mails: &[OutboxMessage],
                audit: AuditDraft,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                // An overdue notice stands for the owed one too: nobody is told "owed" afterwards.
                let sql = match notice {
                    TakedownNotice::Owed => "UPDATE takedowns SET owed_told_at = $1 WHERE id = $2 AND done_at IS NULL \
                         AND owed_told_at IS NULL"
                        .to_string(),
                    TakedownNotice::Overdue => format!(
                        "UPDATE takedowns SET {0} = $1, owed_told_at = COALESCE(owed_told_at, $1) \
                         WHERE id = $2 AND done_at IS NULL AND {0} IS NULL",
                        column(notice)
                    ),
                };
                let updated = sqlx::query(&sql).bind(at).bind(id).execute(&mut *tx).await?.rows_affected();
                if updated != 1 {
                    return Ok(false);
                }
                for mail in mails {
                    Self::insert_mail_in(&mut *tx, mail).await?;
                }
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

impl_notice_store!(SqliteStore);
impl_notice_store!(PostgresStore);
