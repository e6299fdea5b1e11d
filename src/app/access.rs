//! Who may act: API tokens (creation, checking a presented one) and the pages' browser sessions
//! (sign-in, the session behind a cookie, sign-out). Cookies and headers are the HTTP adapter's;
//! what a secret proves is decided here.

use super::{Actor, App, AppError};
use crate::store::{now_ms, AuditAction, AuditDraft, FullStore, Role, StoreError};
use crate::tokens;

/// How long a browser session lasts: a working day.
pub const SESSION_LIFETIME_MS: i64 = 12 * 3600 * 1000;

/// Creates a token for `name` with `role` and audits it as done by `actor` (`cli`, `system`);
/// returns the token to show once. Used before an [`App`] exists (the command line, start-up).
pub async fn create_token(store: &dyn FullStore, role: Role, name: &str, actor: &str) -> Result<String, StoreError> {
    let new = tokens::generate(role, name);
    // The holder's name is a member of staff's, never a learner's: it may be in the audit log, and
    // is what makes the row useful to whoever reads it.
    let audit = AuditDraft::new(
        actor,
        AuditAction::TokenCreated,
        &new.record.id,
        serde_json::json!({ "role": role.as_str(), "name": name }),
    );
    store.create_token(&new.record, audit).await?;
    Ok(new.token)
}

/// The actor a presented API token (`cg_<id>_<secret>`) belongs to; `None` when it is malformed,
/// unknown or its secret is wrong (the three are not told apart).
pub async fn authenticate(app: &App, presented: &str) -> Result<Option<Actor>, AppError> {
    Ok(token_holder(app, presented).await?.map(|(actor, _)| actor))
}

/// The actor of a valid presented token, with the name it was made for.
async fn token_holder(app: &App, presented: &str) -> Result<Option<(Actor, String)>, AppError> {
    let Some((id, secret)) = tokens::parse(presented.trim()) else { return Ok(None) };
    let Some(record) = app.store.token(id).await? else { return Ok(None) };
    if !tokens::verify(&record, secret) {
        return Ok(None);
    }
    Ok(Some((Actor { token_id: record.id, role: record.role }, record.name)))
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
    let Some((actor, name)) = token_holder(app, presented).await? else { return Ok(None) };
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::SignedIn,
        &actor.token_id,
        serde_json::json!({ "role": actor.role.as_str() }),
    );
    app.store
        .create_session(&tokens::hash_secret(secret), &actor.token_id, now_ms() + SESSION_LIFETIME_MS, audit)
        .await?;
    Ok(Some(SessionHolder { actor, name }))
}

/// The session a cookie's secret opens, if it is live.
pub async fn session(app: &App, secret: &str) -> Result<Option<SessionHolder>, AppError> {
    let Some(record) = app.store.session_token(&tokens::hash_secret(secret), now_ms()).await? else { return Ok(None) };
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
