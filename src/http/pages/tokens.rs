//! The safeguarding lead's tokens page: every token (id, role, holder, created, expires, revoked;
//! never a secret), a form to make one (shown once, after a redirect, like a withdrawal link),
//! and a revoke button per token that still works. Every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::frame::{done, notice_text, render, require, when, Chrome, NoticeQuery, PageError, PageForm};
use crate::app::{access, AppError};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::store::{now_ms, RevokeOutcome, Role};

pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/admin/tokens", get(tokens_page).post(create))
        .route("/admin/tokens/created", get(created_page))
        .route("/admin/tokens/{id}/revoke", post(revoke))
}

struct TokenRow {
    id: String,
    role: &'static str,
    name: String,
    created: String,
    expires: String,
    /// "works", "expired" or "revoked on …".
    state: String,
    live: bool,
    /// The token the viewer is signed in with.
    mine: bool,
}

/// What the form held when it came back with an error.
#[derive(Debug, Default)]
struct Entered {
    role: String,
    name: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "admin_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    csrf: String,
    tokens: Vec<TokenRow>,
    error: Option<String>,
    entered: Entered,
}

async fn view(
    state: &HttpState,
    session: &Session,
    notice: Option<String>,
    error: Option<String>,
    entered: Entered,
) -> Result<TokensPage, PageError> {
    let now = now_ms();
    let tokens = access::tokens(&state.app, &session.caller)
        .await?
        .into_iter()
        // Staff accounts have their own page (and no secret anyone could hold).
        .filter(|t| !t.account)
        .map(|t| TokenRow {
            live: t.live_at(now),
            mine: t.id == session.caller.token_id,
            state: match (t.revoked_at, t.live_at(now)) {
                (Some(at), _) => format!("revoked {}", when(at)),
                (None, false) => "expired".to_string(),
                (None, true) => "works".to_string(),
            },
            id: t.id,
            role: t.role.as_str(),
            name: t.name,
            created: when(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".to_string(), when),
        })
        .collect();
    Ok(TokensPage {
        chrome: Chrome::new("Tokens", session).with_notice(notice),
        csrf: session.csrf.clone(),
        tokens,
        error,
        entered,
    })
}

async fn tokens_page(
    State(state): State<HttpState>,
    session: Session,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, &[Role::Admin])?;
    let Query(notice) = notice.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let page = view(&state, &session, notice_text(notice.done.as_deref()), None, Entered::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn create(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, &[Role::Admin])?;
    let entered = Entered {
        role: form.fields.text("role"),
        name: form.fields.text("name"),
        expires: form.fields.text("expires"),
    };
    let made = match entered.role.parse::<Role>() {
        Ok(role) => access::issue(&state.app, &form.session.caller, role, &entered.name, &entered.expires).await,
        Err(_) => Err(AppError::invalid_field("role", "choose a role: admin, tutor or marketing")),
    };
    match made {
        Ok(token) => {
            once::put(&form.session.id_hash, token);
            // POST/redirect/GET: a refresh must not make a second token.
            Ok(Redirect::to("/admin/tokens/created").into_response())
        }
        Err(e @ AppError::Invalid { .. }) => {
            let e = ApiError::from(e);
            let page = view(&state, &form.session, None, Some(e.message), entered).await?;
            Ok(render(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin_token_created.html")]
struct CreatedPage {
    chrome: Chrome,
    token: Option<String>,
}

/// `GET /admin/tokens/created`: the token just made, once. A refresh finds it gone and says so.
async fn created_page(session: Session) -> Result<Response, PageError> {
    require(&session, &[Role::Admin])?;
    let page = CreatedPage { chrome: Chrome::new("Token made", &session), token: once::take(&session.id_hash) };
    Ok(render(StatusCode::OK, &page))
}

async fn revoke(State(state): State<HttpState>, Path(id): Path<String>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, &[Role::Admin])?;
    match access::revoke(&state.app, &form.session.caller, &id).await? {
        // Revoking one's own token ends this session too: the redirect then leads to sign-in.
        RevokeOutcome::Revoked { .. } => Ok(done("/admin/tokens", "token_revoked")),
        RevokeOutcome::AlreadyRevoked(_) => Ok(done("/admin/tokens", "token_already_revoked")),
        RevokeOutcome::Unknown => Err(AppError::NotFound("token").into()),
    }
}

/// A token just made, kept in memory for a few minutes between the POST and the redirected GET,
/// keyed by the session, and removed when shown. It never travels in an address and is never
/// written anywhere.
mod once {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How long a token waits to be shown: the redirect follows at once, so this is generous.
    const KEEP: Duration = Duration::from_secs(600);

    static PENDING: Mutex<Vec<(String, Instant, String)>> = Mutex::new(Vec::new());

    fn pending() -> std::sync::MutexGuard<'static, Vec<(String, Instant, String)>> {
        // A panic elsewhere while holding the lock leaves plain data behind: still usable.
        PENDING.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `token` for the session `session_hash` (replacing one not yet shown), and forgets
    /// tokens nobody came for.
    pub(super) fn put(session_hash: &str, token: String) {
        let mut pending = pending();
        pending.retain(|(s, at, _)| at.elapsed() < KEEP && s != session_hash);
        pending.push((session_hash.to_string(), Instant::now(), token));
    }

    /// Takes the session's token, if it is there and fresh.
    pub(super) fn take(session_hash: &str) -> Option<String> {
        let mut pending = pending();
        let at = pending.iter().position(|(s, _, _)| s == session_hash)?;
        let (_, when, token) = pending.swap_remove(at);
        (when.elapsed() < KEEP).then_some(token)
    }
}
