//! API tokens and browser sessions: who a caller is.

use async_trait::async_trait;
use sqlx::Row;

use super::{PostgresStore, SqliteStore};
use crate::store::audit::AuditDraft;
use crate::store::error::StoreError;
use crate::store::records::{now_ms, RevokeOutcome, Role, SignInLink, TokenRecord};
use crate::store::requests::OutboxMessage;
use crate::store::traits::TokenStore;

macro_rules! impl_token_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_token_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                token: &TokenRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO tokens (id, role, name, secret_hash, created_at, expires_at, revoked_at, email) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&token.id)
                .bind(token.role.as_str())
                .bind(&token.name)
                .bind(&token.secret_hash)
                .bind(token.created_at)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .bind(&token.email)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn insert_sign_in_link_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                link: &SignInLink,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO sign_in_links (id_hash, token_id, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&link.id_hash)
                .bind(&link.token_id)
                .bind(link.created_at)
                .bind(link.expires_at)
                .bind(link.used_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl TokenStore for $store {
            async fn create_token(&self, token: &TokenRecord, audit: AuditDraft) -> Result<(), StoreError> {
                let mut tx = self.writer().begin().await?;
                // Every writing transaction takes the chain's lock first: one lock order, no deadlocks.
                Self::lock_in(&mut *tx).await?;
                Self::insert_token_in(&mut *tx, token).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_account(
                &self,
                account: &TokenRecord,
                link: &SignInLink,
                mail: &OutboxMessage,
                audit: AuditDraft,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                // Under the lock: two admins inviting one address at once make one account.
                let taken: Option<String> =
                    sqlx::query_scalar("SELECT id FROM tokens WHERE email = $1 AND revoked_at IS NULL")
                        .bind(&account.email)
                        .fetch_optional(&mut *tx)
                        .await?;
                if taken.is_some() {
                    return Ok(false);
                }
                Self::insert_token_in(&mut *tx, account).await?;
                Self::insert_sign_in_link_in(&mut *tx, link).await?;
                Self::insert_mail_in(&mut *tx, mail).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn account_by_email(&self, email: &str) -> Result<Option<TokenRecord>, StoreError> {
                let row =
                    sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE email = $1 AND revoked_at IS NULL"))
                        .bind(email)
                        .fetch_optional(self.reader())
                        .await?;
                row.as_ref().map(token_of_row).transpose()
            }

            async fn add_sign_in_link(
                &self,
                link: &SignInLink,
                mail: &OutboxMessage,
                since: i64,
                max_recent: i64,
                audit: AuditDraft,
            ) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                let live: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT expires_at FROM tokens WHERE id = $1 AND revoked_at IS NULL")
                        .bind(&link.token_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(expires) = live else { return Ok(false) };
                if expires.is_some_and(|at| at <= link.created_at) {
                    return Ok(false);
                }
                let recent: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM sign_in_links WHERE token_id = $1 AND created_at >= $2")
                        .bind(&link.token_id)
                        .bind(since)
                        .fetch_one(&mut *tx)
                        .await?;
                if recent >= max_recent {
                    return Ok(false);
                }
                Self::insert_sign_in_link_in(&mut *tx, link).await?;
                Self::insert_mail_in(&mut *tx, mail).await?;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn sign_in_link(&self, id_hash: &str) -> Result<Option<(SignInLink, TokenRecord)>, StoreError> {
                let row = sqlx::query(
                    "SELECT token_id, created_at, expires_at, used_at FROM sign_in_links WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(self.reader())
                .await?;
                let Some(row) = row else { return Ok(None) };
                let link = SignInLink {
                    id_hash: id_hash.to_string(),
                    token_id: row.try_get("token_id")?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                    used_at: row.try_get("used_at")?,
                };
                Ok(self.token(&link.token_id).await?.map(|account| (link, account)))
            }

            async fn use_sign_in_link(
                &self,
                id_hash: &str,
                now: i64,
                session_hash: &str,
                session_expires: i64,
                audit: AuditDraft,
            ) -> Result<Option<TokenRecord>, StoreError> {
                let mut tx = self.writer().begin().await?;
                Self::lock_in(&mut *tx).await?;
                // Marked used in the transaction that opens the session: a link clicked twice at
                // once (a phone's mail app and its browser) opens one session.
                let token_id: Option<String> = sqlx::query_scalar(
                    "UPDATE sign_in_links SET used_at = $1 WHERE id_hash = $2 AND used_at IS NULL AND expires_at > $1 \
                     RETURNING token_id",
                )
                .bind(now)
                .bind(id_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(token_id) = token_id else { return Ok(None) };
                let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
                    .bind(&token_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let account = token_of_row(&row)?;
                if account.revoked_at.is_some() || account.expires_at.is_some_and(|at| at <= now) {
                    return Ok(None);
                }
                sqlx::query("INSERT INTO sessions (id_hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(session_hash)
                    .bind(&token_id)
                    .bind(now)
                    .bind(session_expires)
                    .execute(&mut *tx)
                    .await?;
                let mut audit = audit;
                audit.actor = token_id.clone();
                audit.subject = token_id;
                Self::append_in(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(Some(account))
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
                // A staff account's sign-in links and every message not yet sent to it die with it: a
                // revoked officer is told nothing more.
                sqlx::query("DELETE FROM sign_in_links WHERE token_id = $1").bind(id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM outbox WHERE staff_id = $1 AND state IN ('pending', 'failed')")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
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
const TOKEN_COLUMNS: &str = "id, role, name, secret_hash, created_at, expires_at, revoked_at, email";

fn token_of_row<R: Row>(row: &R) -> Result<TokenRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
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
        email: row.try_get("email")?,
    })
}

impl_token_store!(SqliteStore, sqlx::Sqlite);
impl_token_store!(PostgresStore, sqlx::Postgres);
