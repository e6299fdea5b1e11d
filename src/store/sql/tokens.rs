//! API tokens and browser sessions: who a caller is.

use async_trait::async_trait;
use sqlx::Row;

use super::{PostgresStore, SqliteStore};
use crate::store::audit::AuditDraft;
use crate::store::error::StoreError;
use crate::store::records::{now_ms, RevokeOutcome, Role, TokenRecord};
use crate::store::traits::TokenStore;

macro_rules! impl_token_store {
    ($store:ty) => {
        #[async_trait]
        impl TokenStore for $store {
            async fn create_token(&self, token: &TokenRecord, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.writer().begin().await?;
                // Every writing transaction takes the chain's lock first: one lock order, no deadlocks.
                Self::lock_in(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO tokens (id, role, name, secret_hash, created_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&token.id)
                .bind(token.role.as_str())
                .bind(&token.name)
                .bind(&token.secret_hash)
                .bind(token.created_at)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .execute(&mut *tx)
                .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
                let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(token_of_row).transpose()
            }

            async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
                sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at DESC, id"))
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(token_of_row)
                    .collect()
            }

            async fn revoke_token(
                &self,
                id: &str,
                at_ms: i64,
                mut audit: AuditDraft,
            ) -> Result<RevokeOutcome, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let revoked: Option<Option<i64>> = sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                match revoked {
                    None => return Ok(RevokeOutcome::Unknown),
                    Some(Some(at)) => return Ok(RevokeOutcome::AlreadyRevoked(at)),
                    Some(None) => {}
                }
                sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2")
                    .bind(at_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                // Its sessions end with it, in the same transaction, so no replica finds one of them
                // afterwards (a session opened in a race with this is refused by the token check).
                let sessions_ended = sqlx::query("DELETE FROM sessions WHERE token_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if let Some(details) = audit.details.as_object_mut() {
                    details.insert("sessions_ended".into(), sessions_ended.into());
                }
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(RevokeOutcome::Revoked { sessions_ended })
            }

            async fn count_tokens(&self, role: Role) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE role = $1")
                    .bind(role.as_str())
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn create_session(
                &self,
                id_hash: &str,
                token_id: &str,
                expires_at: i64,
                audit: AuditDraft,
            ) -> Result<(), StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                sqlx::query("INSERT INTO sessions (id_hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(id_hash)
                    .bind(token_id)
                    .bind(now_ms())
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_token(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError> {
                let token_id: Option<String> =
                    sqlx::query_scalar("SELECT token_id FROM sessions WHERE id_hash = $1 AND expires_at > $2")
                        .bind(id_hash)
                        .bind(now_ms)
                        .fetch_optional(self.reader())
                        .await?;
                match token_id {
                    Some(id) => self.token(&id).await,
                    None => Ok(None),
                }
            }

            async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(self.writer()).await?;
                Ok(())
            }

            async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now_ms)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

/// The columns a [`TokenRecord`] is read from.
const TOKEN_COLUMNS: &str = "id, role, name, secret_hash, created_at, expires_at, revoked_at";

fn token_of_row<R: Row>(row: &R) -> Result<TokenRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        role: role.parse().map_err(StoreError::Corrupt)?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl_token_store!(SqliteStore);
impl_token_store!(PostgresStore);
