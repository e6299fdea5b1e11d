//! Who may act: API tokens (creation, checking a presented one) and the pages' browser sessions
//! (sign-in, the session behind a cookie, sign-out). Cookies and headers are the HTTP adapter's;
//! what a secret proves is decided here.

use super::{input, Actor, App, AppError};
use crate::store::{now_ms, AuditAction, AuditDraft, FullStore, RevokeOutcome, Role, StoreError, TokenRecord};
use crate::tokens;

/// How long a browser session lasts: a working day.
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// Creates a token for `name` with `role` and audits it as done by `actor` (`cli`, `system`);
/// returns the token to show once. Used before an [`App`] exists (the command line, start-up).
pub async fn create_token(store: &dyn FullStore, role: Role, name: &str, actor: &str) -> Result<String, StoreError> {
    create_expiring_token(store, role, name, actor, None).await
}

/// [`create_token`], for a token that stops working `lifetime_ms` from now (`None`: never).
pub async fn create_expiring_token(
    store: &dyn FullStore,
    role: Role,
    name: &str,
    actor: &str,
    lifetime_ms: Option<i64>,
) -> Result<String, StoreError> {
    let new = new_token(role, name, lifetime_ms);
    store_token(store, &new, actor).await?;
    Ok(new.token)
}

/// A new token, not stored yet: for start-up, which writes the first admin token to its file
/// before storing it ([`store_token`]).
pub fn new_token(role: Role, name: &str, lifetime_ms: Option<i64>) -> tokens::NewToken {
    let mut new = tokens::generate(role, name);
    new.record.expires_at = lifetime_ms.map(|ms| new.record.created_at.saturating_add(ms));
    new
}

/// Stores a token made by [`new_token`] and audits its creation as done by `actor`.
pub async fn store_token(store: &dyn FullStore, new: &tokens::NewToken, actor: &str) -> Result<(), StoreError> {
    let record = &new.record;
    // The holder's name is a member of staff's, never a learner's: it may be in the audit log, and
    // is what makes the row useful to whoever reads it.
    let mut details = serde_json::json!({ "role": record.role.as_str(), "name": record.name });
    if let Some(expires_at) = record.expires_at {
        details["expires_at"] = expires_at.into();
    }
    let audit = AuditDraft::new(actor, AuditAction::TokenCreated, &record.id, details);
    store.create_token(record, audit).await
}

/// The longest holder's name a token may carry.
pub const MAX_HOLDER_NAME: usize = 200;

/// An admin makes a token from the pages: `role`, held by `name`, living `lifetime` (`90d`, `12h`,
/// `2w`; empty: never). Returns the token, to show once.
pub async fn issue(app: &App, actor: &Actor, role: Role, name: &str, lifetime: &str) -> Result<String, AppError> {
    actor.require(&[Role::Admin])?;
    let name = input::free_text("name", name.trim().to_string(), MAX_HOLDER_NAME)?;
    if name.is_empty() || name.contains(['\n', '\r', '\t']) {
        return Err(AppError::invalid_field("name", "give the holder's name, on one line"));
    }
    let lifetime = match lifetime.trim() {
        "" => None,
        text => Some(tokens::parse_lifetime(text).map_err(|e| AppError::invalid_field("expires", e))?),
    };
    Ok(create_expiring_token(app.store.as_ref(), role, &name, &actor.token_id, lifetime).await?)
}

/// A token as it may be listed: everything but its secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    /// The public id (the `<id>` of `cg_<id>_<secret>`).
    pub id: String,
    /// What it may do.
    pub role: Role,
    /// Who holds it.
    pub name: String,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Expiry, Unix ms; `None`: never.
    pub expires_at: Option<i64>,
    /// Revocation time, Unix ms.
    pub revoked_at: Option<i64>,
    /// Whether it is a staff account (signs in by emailed link, never as a bearer token).
    pub account: bool,
}

impl TokenSummary {
    fn of(record: TokenRecord) -> TokenSummary {
        TokenSummary {
            id: record.id,
            role: record.role,
            name: record.name,
            created_at: record.created_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
            account: record.email.is_some(),
        }
    }

    /// Whether it works at `now_ms`: neither revoked nor expired.
    pub fn live_at(&self, now_ms: i64) -> bool {
        tokens::is_live(self.revoked_at, self.expires_at, now_ms)
    }
}

/// Every token, newest first, without secrets: for the command line.
pub async fn list_tokens(store: &dyn FullStore) -> Result<Vec<TokenSummary>, StoreError> {
    Ok(store.tokens().await?.into_iter().map(TokenSummary::of).collect())
}

/// Every token, newest first, without secrets: for an admin's page.
pub async fn tokens(app: &App, actor: &Actor) -> Result<Vec<TokenSummary>, AppError> {
    actor.require(&[Role::Admin])?;
    Ok(list_tokens(app.store.as_ref()).await?)
}

/// Revokes the token with public id `id` and ends its sessions, audited as done by `actor` (a
/// token id, or `cli`). For the command line; [`revoke`] is the pages' way.
pub async fn revoke_token(store: &dyn FullStore, id: &str, actor: &str) -> Result<RevokeOutcome, StoreError> {
    // An id that cannot be ours names no token: no need to ask the database.
    if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(RevokeOutcome::Unknown);
    }
    let id = id.to_ascii_lowercase();
    let audit = AuditDraft::new(actor, AuditAction::TokenRevoked, &id, serde_json::json!({}));
    store.revoke_token(&id, now_ms(), audit).await
}

/// An admin revokes a token from the pages (their own too: they are signed out with it).
pub async fn revoke(app: &App, actor: &Actor, id: &str) -> Result<RevokeOutcome, AppError> {
    actor.require(&[Role::Admin])?;
    Ok(revoke_token(app.store.as_ref(), id, &actor.token_id).await?)
}

/// The actor a presented API token (`cg_<id>_<secret>`) belongs to; `None` when it is malformed,
/// unknown, its secret is wrong, or it was revoked or has expired (none of these is told apart).
pub async fn authenticate(app: &App, presented: &str) -> Result<Option<Actor>, AppError> {
    Ok(token_holder(app, presented).await?.map(|(actor, _, _)| actor))
}

/// The actor of a valid, live presented token, with the name it was made for and its expiry.
async fn token_holder(app: &App, presented: &str) -> Result<Option<(Actor, String, Option<i64>)>, AppError> {
    let Some((id, secret)) = tokens::parse(presented.trim()) else { return Ok(None) };
    let Some(record) = app.store.token(id).await? else { return Ok(None) };
    // Checked on every request, so a revocation or an expiry takes effect at once, on every replica.
    if !tokens::verify(&record, secret) || !tokens::live_at(&record, now_ms()) {
        return Ok(None);
    }
    Ok(Some((Actor { token_id: record.id, role: record.role }, record.name, record.expires_at)))
}

/// A live browser session: who it acts as, and the name their token was made for.
#[derive(Debug, Clone)]
pub struct SessionHolder {
    /// Who the session acts as.
    pub actor: Actor,
    /// The name the token was made for (shown in the pages' header).
    pub name: String,
}

/// Opens a browser session for a presented token: `None` when the token is not valid. The caller
/// makes `secret` (the cookie's value); only its blake3 is stored. Audited as `signed_in`.
pub async fn sign_in(app: &App, presented: &str, secret: &str) -> Result<Option<SessionHolder>, AppError> {
    let Some((actor, name, token_expires)) = token_holder(app, presented).await? else { return Ok(None) };
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::SignedIn,
        &actor.token_id,
        serde_json::json!({ "role": actor.role.as_str() }),
    );
    // A session never outlives its token (the token's expiry is checked on every request too).
    let expires = token_expires.unwrap_or(i64::MAX).min(now_ms() + SESSION_LIFETIME_MS);
    app.store.create_session(&tokens::hash_secret(secret), &actor.token_id, expires, audit).await?;
    Ok(Some(SessionHolder { actor, name }))
}

/// The session a cookie's secret opens, if it is live and so is its token: a session opened
/// with a token that has since been revoked or has expired opens nothing.
pub async fn session(app: &App, secret: &str) -> Result<Option<SessionHolder>, AppError> {
    let now = now_ms();
    let Some(record) = app.store.session_token(&tokens::hash_secret(secret), now).await? else { return Ok(None) };
    if !tokens::live_at(&record, now) {
        return Ok(None);
    }
    Ok(Some(SessionHolder { actor: Actor { token_id: record.id, role: record.role }, name: record.name }))
}

/// Ends the session a cookie's secret opened. Audited like signing in, so the log shows when a
/// shared device stopped acting for someone.
pub async fn sign_out(app: &App, actor: &Actor, secret_hash: &str) -> Result<(), AppError> {
    app.store.delete_session(secret_hash).await?;
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::SignedOut,
        &actor.token_id,
        serde_json::json!({ "role": actor.role.as_str() }),
    );
    app.store.append_audit(audit).await?;
    Ok(())
}
