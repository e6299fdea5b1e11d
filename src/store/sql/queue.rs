//! Marketing's queue: listing, claims under a lease, publications and the takedowns they owe,
//! and the download check. Each decision re-evaluates the photo at its moment, under the chain
//! lock, and is stored and audited in the same transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;

use super::{
    queue_item_from_row, status_from_columns, takedown_from_row, PostgresStore, SqliteStore, QUEUE_ITEM_SELECT,
};
use crate::policy::release;
use crate::policy::{Purpose, PurposeStatus, Reason, State};
use crate::store::audit::{AuditAction, AuditDraft};
use crate::store::error::StoreError;
use crate::store::records::{
    ms_of_time, ClaimOutcome, Evaluation, PublicationRecord, PublishOutcome, QueueItem, Takedown,
};
use crate::store::traits::QueueStore;

macro_rules! impl_queue_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// An item's stored status and lease.
            async fn item_status_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                item_id: &str,
            ) -> Result<(PurposeStatus, Option<i64>), StoreError> {
                let row = sqlx::query("SELECT state, detail, lease_expires_at FROM photo_purposes WHERE item_id = $1")
                    .bind(item_id)
                    .fetch_one(&mut **tx)
                    .await?;
                let status =
                    status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?;
                Ok((status, row.try_get("lease_expires_at")?))
            }

            /// Inside a claim: re-checks the photo's rules now, then applies the claim guard
            /// ([`release::claimable`]) to the item as the re-check left it and, if it passes,
            /// leases the item to `claimant`. `Err` carries that status when the guard says no: the
            /// caller reports it, or tries the next candidate.
            pub(super) async fn take_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_id: &str,
                item_id: &str,
                claimant: &str,
                lease_ms: i64,
                eval: &Evaluation,
            ) -> Result<Result<QueueItem, PurposeStatus>, StoreError> {
                let now = ms_of_time(eval.at);
                // Only what is in the queue can be taken, as the unnamed claim sees it: an item held,
                // published or under someone else's running lease is answered with its status as
                // stored (a held item whose rules pass again joins the queue at the next
                // re-evaluation, for every claimant at once).
                //
                // Consent and the other rules are checked again at the moment of taking. The
                // re-evaluation reads the item's stored row anyway, so the claim decides on what it
                // saw and on what it changed, without reading the row again.
                let purpose: Purpose = item_id
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("item id {item_id}")))?;
                let mut stored = BTreeMap::new();
                let changes = Self::reevaluate_seen_in(tx, &[photo_id.to_string()], eval, &mut stored).await?;
                let (before, lease) = match stored.remove(&(photo_id.to_string(), purpose)) {
                    Some(seen) => seen,
                    // The image is gone: the photo was not re-evaluated, and its row says why.
                    None => Self::item_status_in(tx, item_id).await?,
                };
                if !release::claimable(before.state, lease, now) {
                    return Ok(Err(before));
                }
                let (status, lease) = match changes.into_iter().find(|c| c.purpose == purpose) {
                    Some(change) => {
                        let lease = lease.filter(|_| change.to.state == State::Claimed);
                        (change.to, lease)
                    }
                    None => (before, lease),
                };
                if !release::claimable(status.state, lease, now) {
                    return Ok(Err(status));
                }
                // Every writer takes the chain lock, which this transaction holds, so the row is as
                // just read; matching the state read anyway turns a broken lock into an error
                // rather than a second lease on one item.
                let claimed = sqlx::query(
                    "UPDATE photo_purposes SET state = 'claimed', claimed_by = $1, lease_expires_at = $2, changed_at = $3 \
                     WHERE item_id = $4 AND state = $5",
                )
                .bind(claimant)
                .bind(now.saturating_add(lease_ms))
                .bind(now)
                .bind(item_id)
                .bind(status.state.as_str())
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if claimed != 1 {
                    return Err(StoreError::Conflict(format!("item {item_id} changed while it was being claimed")));
                }
                let audit = AuditDraft::new(
                    claimant,
                    AuditAction::ItemClaimed,
                    photo_id,
                    serde_json::json!({ "item": item_id, "lease_ms": lease_ms }),
                );
                Self::append_in(tx, &audit).await?;
                let row = sqlx::query(&format!("{QUEUE_ITEM_SELECT} WHERE pp.item_id = $1"))
                    .bind(item_id)
                    .fetch_one(&mut **tx)
                    .await?;
                Ok(Ok(queue_item_from_row(&row)?))
            }

            /// Owes a takedown for every publication of the item (`photo_id`, `purpose`) that does not
            /// have one yet: each channel it went out on must be cleared, not just the last one.
            pub(super) async fn owe_takedowns_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                photo_id: &str,
                purpose: Purpose,
                reasons: &[Reason],
                eval: &Evaluation,
            ) -> Result<usize, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, url, channel, caption, alt_text FROM publications pb \
                     WHERE photo_id = $1 AND purpose = $2 \
                     AND NOT EXISTS (SELECT 1 FROM takedowns t WHERE t.publication_id = pb.id) \
                     ORDER BY published_at, id",
                )
                .bind(photo_id)
                .bind(purpose.as_str())
                .fetch_all(&mut **tx)
                .await?;
                for row in &rows {
                    let id = uuid::Uuid::now_v7().to_string();
                    let publication: String = row.try_get("id")?;
                    sqlx::query(
                        "INSERT INTO takedowns (id, photo_id, purpose, url, channel, reasons, created_at, publication_id, \
                         caption, alt_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&id)
                    .bind(photo_id)
                    .bind(purpose.as_str())
                    .bind(row.try_get::<String, _>("url")?)
                    .bind(row.try_get::<String, _>("channel")?)
                    .bind(serde_json::to_string(reasons).expect("reasons serialise"))
                    .bind(ms_of_time(eval.at))
                    .bind(&publication)
                    .bind(row.try_get::<String, _>("caption")?)
                    .bind(row.try_get::<String, _>("alt_text")?)
                    .execute(&mut **tx)
                    .await?;
                    let audit = AuditDraft::new(
                        &eval.actor,
                        AuditAction::TakedownOwed,
                        photo_id,
                        serde_json::json!({ "takedown": id, "publication": publication, "purpose": purpose, "reasons": reasons }),
                    );
                    Self::append_in(tx, &audit).await?;
                }
                Ok(rows.len())
            }

            /// Records one publication of an item, with its caption and alt text as they are now
            /// (what went out).
            #[allow(clippy::too_many_arguments)]
            pub(super) async fn insert_publication_in(
                tx: &mut sqlx::Transaction<'_, $db>,
                item_id: &str,
                photo_id: &str,
                purpose: Purpose,
                url: &str,
                channel: &str,
                published_by: &str,
                at: i64,
            ) -> Result<String, StoreError> {
                // The same report twice (a double tap, a retried request) is one publication: one
                // post needs one takedown. A post taken down and published again is a new one.
                let existing: Option<String> = sqlx::query_scalar(
                    "SELECT pb.id FROM publications pb WHERE pb.item_id = $1 AND pb.url = $2 AND pb.channel = $3 \
                     AND NOT EXISTS (SELECT 1 FROM takedowns t WHERE t.publication_id = pb.id AND t.done_at IS NOT NULL)",
                )
                .bind(item_id)
                .bind(url)
                .bind(channel)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(id) = existing {
                    return Ok(id);
                }
                let id = uuid::Uuid::now_v7().to_string();
                sqlx::query(
                    "INSERT INTO publications (id, item_id, photo_id, purpose, url, channel, caption, alt_text, published_by, published_at) \
                     SELECT $1, $2, $3, $4, $5, $6, caption, alt_text, $7, $8 FROM photos WHERE id = $3",
                )
                .bind(&id)
                .bind(item_id)
                .bind(photo_id)
                .bind(purpose.as_str())
                .bind(url)
                .bind(channel)
                .bind(published_by)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                Ok(id)
            }
        }

        #[async_trait]
        impl QueueStore for $store {
            async fn queue(
                &self,
                purpose: Option<Purpose>,
                now_ms: i64,
                limit: i64,
            ) -> Result<Vec<QueueItem>, StoreError> {
                // The state filter is `release::claimable` in SQL, so the index picks the page; the
                // rows are then held to the function itself.
                let rows = sqlx::query(&format!(
                    "{QUEUE_ITEM_SELECT} WHERE (pp.state = 'queued' OR (pp.state = 'claimed' AND pp.lease_expires_at <= $1)) \
                     AND ($2 = '' OR pp.purpose = $2) AND p.image_deleted_at IS NULL \
                     ORDER BY pp.changed_at, pp.item_id LIMIT $3"
                ))
                .bind(now_ms)
                .bind(purpose.map_or("", |p| p.as_str()))
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                let items = rows.iter().map(queue_item_from_row).collect::<Result<Vec<_>, _>>()?;
                Ok(items.into_iter().filter(|i| release::claimable(i.state, i.lease_expires_at, now_ms)).collect())
            }

            async fn claim_item(
                &self,
                item_id: &str,
                claimant: &str,
                lease_ms: i64,
                eval: Evaluation,
            ) -> Result<ClaimOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let photo_id: Option<String> =
                    sqlx::query_scalar("SELECT photo_id FROM photo_purposes WHERE item_id = $1")
                        .bind(item_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(photo_id) = photo_id else { return Ok(ClaimOutcome::Unknown) };
                let outcome = match Self::take_in(&mut tx, &photo_id, item_id, claimant, lease_ms, &eval).await? {
                    Ok(item) => ClaimOutcome::Claimed(Box::new(item)),
                    Err(status) => ClaimOutcome::NotAvailable { state: status.state, reasons: status.reasons },
                };
                // Commit either way: a re-evaluation that took the item out of the queue stands.
                tx.commit().await?;
                Ok(outcome)
            }

            async fn claim(
                &self,
                purpose: Purpose,
                claimant: &str,
                lease_ms: i64,
                eval: Evaluation,
            ) -> Result<Option<QueueItem>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                let mut tried = std::collections::BTreeSet::new();
                loop {
                    // Two index-ordered lookups rather than one OR: an item whose lease ran out
                    // goes first (it has waited longest), then the oldest queued one. Together they
                    // are `release::claimable` in SQL, which `take_in` then applies itself.
                    let mut candidate = sqlx::query(
                        "SELECT photo_id, item_id FROM photo_purposes \
                         WHERE purpose = $1 AND state = 'claimed' AND lease_expires_at <= $2 \
                         ORDER BY lease_expires_at, item_id LIMIT 1",
                    )
                    .bind(purpose.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if candidate.is_none() {
                        candidate = sqlx::query(
                            "SELECT photo_id, item_id FROM photo_purposes WHERE purpose = $1 AND state = 'queued' \
                             ORDER BY changed_at, item_id LIMIT 1",
                        )
                        .bind(purpose.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    }
                    let Some(candidate) = candidate else {
                        tx.commit().await?;
                        return Ok(None);
                    };
                    let photo_id: String = candidate.try_get("photo_id")?;
                    let item_id: String = candidate.try_get("item_id")?;
                    // A candidate the guard refused has left the queue, so it is never picked
                    // again; if the SQL and the guard ever disagreed, this fails instead of looping.
                    if !tried.insert(item_id.clone()) {
                        return Err(StoreError::Corrupt(format!(
                            "item {item_id} offered again after the guard refused it"
                        )));
                    }
                    match Self::take_in(&mut tx, &photo_id, &item_id, claimant, lease_ms, &eval).await? {
                        Ok(item) => {
                            tx.commit().await?;
                            return Ok(Some(item));
                        }
                        Err(_) => continue, // it no longer passes and has left the queue; try the next
                    }
                }
            }

            async fn publish(
                &self,
                item_id: &str,
                claimant: &str,
                url: &str,
                channel: &str,
                eval: Evaluation,
            ) -> Result<PublishOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                let now = ms_of_time(eval.at);
                let row = sqlx::query("SELECT photo_id, purpose FROM photo_purposes WHERE item_id = $1")
                    .bind(item_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(PublishOutcome::Unknown) };
                let photo_id: String = row.try_get("photo_id")?;
                let purpose: String = row.try_get("purpose")?;
                let purpose: Purpose = purpose.parse().map_err(StoreError::Corrupt)?;
                // Consent is judged at the moment of the report, like at a claim.
                Self::reevaluate_in(&mut tx, std::slice::from_ref(&photo_id), &eval).await?;
                let row = sqlx::query("SELECT state, detail FROM photo_purposes WHERE item_id = $1")
                    .bind(item_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let status =
                    status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?;
                // The report is a fact about the world: whoever holds the item now, however late it
                // comes and on however many channels, it is recorded, so a withdrawal can reach it.
                let publication =
                    Self::insert_publication_in(&mut tx, item_id, &photo_id, purpose, url, channel, claimant, now)
                        .await?;
                let audit = AuditDraft::new(
                    claimant,
                    AuditAction::ItemPublished,
                    &photo_id,
                    serde_json::json!({ "item": item_id, "publication": publication, "channel": channel }),
                );
                Self::append_in(&mut tx, &audit).await?;
                let releasable = matches!(status.state, State::Queued | State::Claimed | State::Published);
                if releasable {
                    // A lease held by someone else ends too: the item is out, and every further report
                    // (theirs included) is one more publication of it.
                    sqlx::query(
                        "UPDATE photo_purposes SET state = 'published', published_url = $1, published_channel = $2, \
                         published_at = $3, lease_expires_at = NULL, changed_at = $3 WHERE item_id = $4",
                    )
                    .bind(url)
                    .bind(channel)
                    .bind(now)
                    .bind(item_id)
                    .execute(&mut *tx)
                    .await?;
                    let row = sqlx::query(&format!("{QUEUE_ITEM_SELECT} WHERE pp.item_id = $1"))
                        .bind(item_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let item = queue_item_from_row(&row)?;
                    tx.commit().await?;
                    return Ok(PublishOutcome::Published(Box::new(item)));
                }
                // Consent (or the name check) does not hold now: it went out anyway, so it must come
                // down at once. A taken-down item is owed again: this is a new post.
                sqlx::query(
                    "UPDATE photo_purposes SET state = 'withdrawn', published_url = $1, published_channel = $2, \
                     published_at = $3, lease_expires_at = NULL, changed_at = $3 WHERE item_id = $4",
                )
                .bind(url)
                .bind(channel)
                .bind(now)
                .bind(item_id)
                .execute(&mut *tx)
                .await?;
                let mut reasons = status.reasons.clone();
                if reasons.is_empty() {
                    // A withdrawn or taken-down status keeps the reasons it was given; never owe
                    // a takedown without one.
                    reasons.push(Reason::Withdrawn);
                }
                Self::owe_takedowns_in(&mut tx, &photo_id, purpose, &reasons, &eval).await?;
                tx.commit().await?;
                Ok(PublishOutcome::TakedownOwed(reasons))
            }

            async fn released_for_download(
                &self,
                photo_id: &str,
                eval: Evaluation,
            ) -> Result<Result<(), Vec<Reason>>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let eval = eval.after_lock();
                Self::reevaluate_in(&mut tx, &[photo_id.to_string()], &eval).await?;
                let deleted: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT image_deleted_at FROM photos WHERE id = $1")
                        .bind(photo_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let rows = sqlx::query("SELECT state, detail FROM photo_purposes WHERE photo_id = $1")
                    .bind(photo_id)
                    .fetch_all(&mut *tx)
                    .await?;
                tx.commit().await?;
                let mut reasons = std::collections::BTreeSet::new();
                for row in &rows {
                    let status =
                        status_from_columns(&row.try_get::<String, _>("state")?, &row.try_get::<String, _>("detail")?)?;
                    if matches!(status.state, State::Queued | State::Claimed | State::Published)
                        && matches!(deleted, Some(None))
                    {
                        return Ok(Ok(()));
                    }
                    reasons.extend(status.reasons);
                }
                Ok(Err(reasons.into_iter().collect()))
            }

            async fn takedowns(&self, all: bool) -> Result<Vec<Takedown>, StoreError> {
                let rows = sqlx::query("SELECT * FROM takedowns WHERE ($1 OR done_at IS NULL) ORDER BY created_at, id")
                    .bind(all)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(takedown_from_row).collect()
            }

            async fn extend_claim(
                &self,
                item_id: &str,
                claimant: &str,
                now: i64,
                until: i64,
                audit: AuditDraft,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                // Only a lease still running: one that ran out may have been taken by a colleague,
                // or the photo re-evaluated since; the officer claims it again instead.
                let updated = sqlx::query(
                    "UPDATE photo_purposes SET lease_expires_at = $1 WHERE item_id = $2 AND state = 'claimed' \
                     AND claimed_by = $3 AND lease_expires_at > $4",
                )
                .bind(until)
                .bind(item_id)
                .bind(claimant)
                .bind(now)
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

            async fn publications_by(
                &self,
                publisher: &str,
                limit: i64,
            ) -> Result<Vec<PublicationRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, photo_id, purpose, url, channel, caption, alt_text, published_at FROM publications \
                     WHERE published_by = $1 ORDER BY published_at DESC, id LIMIT $2",
                )
                .bind(publisher)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(super::export::publication_from_row).collect()
            }

            async fn takedown(&self, id: &str) -> Result<Option<Takedown>, StoreError> {
                let row = sqlx::query("SELECT * FROM takedowns WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(takedown_from_row).transpose()
            }

            async fn takedown_done(&self, id: &str, eval: Evaluation) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let now = ms_of_time(eval.at);
                let row = sqlx::query("SELECT photo_id, purpose FROM takedowns WHERE id = $1 AND done_at IS NULL")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else { return Ok(false) };
                let photo_id: String = row.try_get("photo_id")?;
                let purpose: String = row.try_get("purpose")?;
                sqlx::query("UPDATE takedowns SET done_at = $1, done_by = $2 WHERE id = $3")
                    .bind(now)
                    .bind(&eval.actor)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                // The item is taken down only when every publication of it is.
                sqlx::query(
                    "UPDATE photo_purposes SET state = 'taken_down', changed_at = $1 \
                     WHERE photo_id = $2 AND purpose = $3 AND state = 'withdrawn' AND NOT EXISTS \
                     (SELECT 1 FROM takedowns t WHERE t.photo_id = $2 AND t.purpose = $3 AND t.done_at IS NULL)",
                )
                .bind(now)
                .bind(&photo_id)
                .bind(&purpose)
                .execute(&mut *tx)
                .await?;
                let audit = AuditDraft::new(
                    &eval.actor,
                    AuditAction::TakedownDone,
                    &photo_id,
                    serde_json::json!({ "takedown": id, "purpose": purpose }),
                );
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn items_claimed_by(&self, claimant: &str, now_ms: i64) -> Result<Vec<QueueItem>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{QUEUE_ITEM_SELECT} WHERE pp.state = 'claimed' AND pp.claimed_by = $1 AND pp.lease_expires_at > $2 \
                     ORDER BY pp.changed_at, pp.item_id"
                ))
                .bind(claimant)
                .bind(now_ms)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(queue_item_from_row).collect()
            }

            async fn lapsed_claims_of(
                &self,
                claimant: &str,
                now_ms: i64,
                since_ms: i64,
                limit: i64,
            ) -> Result<Vec<QueueItem>, StoreError> {
                // A lease that ran out stays `claimed` until something re-evaluates the photo, which
                // turns it `queued` (or `held`) with the lease cleared and the claimant kept: all
                // three are "yours, lapsed" as long as nobody else took it and it was not published.
                let rows = sqlx::query(&format!(
                    "{QUEUE_ITEM_SELECT} WHERE pp.claimed_by = $1 AND pp.published_url IS NULL AND \
                     ((pp.state = 'claimed' AND pp.lease_expires_at <= $2 AND pp.lease_expires_at >= $3) \
                      OR (pp.state IN ('queued', 'held') AND pp.changed_at >= $3)) \
                     ORDER BY pp.changed_at DESC, pp.item_id LIMIT $4"
                ))
                .bind(claimant)
                .bind(now_ms)
                .bind(since_ms)
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                rows.iter().map(queue_item_from_row).collect()
            }
        }
    };
}

impl_queue_store!(SqliteStore, sqlx::Sqlite);
impl_queue_store!(PostgresStore, sqlx::Postgres);
