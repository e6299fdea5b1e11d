//! Reading the audit log (admins only). Every action it records is an [`AuditAction`]; rows are
//! written by the use cases and the store in the same transaction as what they record.

pub use crate::store::AuditAction;

use super::{Actor, App, AppError};
use crate::store::{AuditRecord, Role};

/// Who may read the audit log: safeguarding leads.
pub const AUDITORS: &[Role] = &[Role::Admin];

/// Audit rows with `seq > after`, oldest first, at most `limit` (clamped to 1..=1000).
pub async fn log(app: &App, actor: &Actor, after: i64, limit: i64) -> Result<Vec<AuditRecord>, AppError> {
    actor.require(AUDITORS)?;
    Ok(app.store.audit_log(after.max(0), limit.clamp(1, 1000)).await?)
}

/// A page of the log ending before `before` (default: the newest), newest last, at most `page`
/// rows; with the chain's head (`seq`, hash) and the first sequence number shown.
pub async fn page_before(
    app: &App,
    actor: &Actor,
    before: Option<i64>,
    page: i64,
) -> Result<(Vec<AuditRecord>, (i64, String), i64), AppError> {
    actor.require(AUDITORS)?;
    let (head_seq, head_hash) = app.store.audit_head().await?;
    let before = before.unwrap_or(head_seq + 1).clamp(1, head_seq + 1);
    let after = (before - 1 - page).max(0);
    let rows = app.store.audit_log(after, before - 1 - after).await?;
    Ok((rows, (head_seq, head_hash), after))
}
