//! Staff accounts on the pages: the safeguarding lead's list (invite, send a new link, revoke),
//! and signing in with an emailed one-time link: asked for on the sign-in page, opened from the
//! mail (a page with a button, since mail scanners open links), used once.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::frame::{self, done, notice_text, render, require, when, Chrome, Fields, NoticeQuery, PageError, PageForm};
use crate::app::staff::{self, LinkState};
use crate::app::AppError;
use crate::http::error::ApiError;
use crate::http::rate_limit::Peer;
use crate::http::session::{self, Session};
use crate::http::state::HttpState;
use crate::store::Role;

pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/admin/staff", get(staff_page).post(invite))
        .route("/admin/staff/{id}/link", post(resend))
        .route("/admin/staff/{id}/revoke", post(revoke))
        .route("/signin/email", post(ask_for_link))
        .route("/signin/link/{secret}", get(link_page).post(use_link))
}

struct AccountRow {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    created: String,
    /// "can sign in" or "revoked on …".
    state: String,
    live: bool,
    mine: bool,
}

#[derive(Debug, Default)]
struct Entered {
    name: String,
    email: String,
    role: String,
}

#[derive(Template)]
#[template(path = "admin_staff.html")]
struct StaffPage {
    chrome: Chrome,
    csrf: String,
    accounts: Vec<AccountRow>,
    /// Whether mail is set up: without it, links cannot be sent and the page says so.
    mail: bool,
    error: Option<String>,
    entered: Entered,
}

async fn view(
    state: &HttpState,
    session: &Session,
    notice: Option<String>,
    error: Option<String>,
    entered: Entered,
) -> Result<StaffPage, PageError> {
    let accounts = staff::accounts(&state.app, &session.caller)
        .await?
        .into_iter()
        .map(|a| AccountRow {
            live: a.revoked_at.is_none(),
            mine: a.id == session.caller.token_id,
            state: a.revoked_at.map_or_else(|| "can sign in".to_string(), |at| format!("revoked {}", when(at))),
            id: a.id,
            name: a.name,
            email: a.email,
            role: a.role.as_str(),
            created: when(a.created_at),
        })
        .collect();
    Ok(StaffPage {
        chrome: Chrome::new("Staff", session).with_notice(notice),
        csrf: session.csrf.clone(),
        accounts,
        mail: state.app.mailer.is_some(),
        error,
        entered,
    })
}

async fn staff_page(
    State(state): State<HttpState>,
    session: Session,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, staff::MANAGERS)?;
    let Query(notice) = notice.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let page = view(&state, &session, notice_text(notice.done.as_deref()), None, Entered::default()).await?;
    Ok(render(StatusCode::OK, &page))
}

async fn invite(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, staff::MANAGERS)?;
    let entered =
        Entered { name: form.fields.text("name"), email: form.fields.text("email"), role: form.fields.text("role") };
    let made = match entered.role.parse::<Role>() {
        Ok(role) => staff::invite(&state.app, &form.session.caller, &entered.name, &entered.email, role).await,
        Err(_) => Err(AppError::invalid_field("role", "choose a role: admin, tutor or marketing")),
    };
    match made {
        Ok(_) => Ok(done("/admin/staff", "staff_invited")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let e = ApiError::from(e);
            let page = view(&state, &form.session, None, Some(e.message), entered).await?;
            Ok(render(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn resend(State(state): State<HttpState>, Path(id): Path<String>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, staff::MANAGERS)?;
    Ok(if staff::resend(&state.app, &form.session.caller, &id).await? {
        done("/admin/staff", "sign_in_link_sent")
    } else {
        done("/admin/staff", "sign_in_link_limit")
    })
}

async fn revoke(State(state): State<HttpState>, Path(id): Path<String>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, staff::MANAGERS)?;
    // Accounts only: an API token's id names no account here (tokens have their own page).
    match staff::revoke(&state.app, &form.session.caller, &id).await {
        Ok(()) => Ok(done("/admin/staff", "account_revoked")),
        Err(AppError::Conflict { .. }) => Ok(done("/admin/staff", "token_already_revoked")),
        Err(e) => Err(e.into()),
    }
}

/// The sign-in form's pre-session secret, when the posted form carries its CSRF token.
fn signin_csrf_ok(state: &HttpState, headers: &HeaderMap, fields: &Fields) -> bool {
    let pre_secret = session::our_cookie(state, headers, session::SIGNIN_COOKIE).unwrap_or_default();
    !pre_secret.is_empty() && fields.get("csrf").is_some_and(|c| session::csrf_matches(pre_secret, c))
}

/// `POST /signin/email`: someone asks for a link. The page answers the same whether or not the
/// address has an account.
async fn ask_for_link(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    if state.over_link_limit(&peer) {
        return Ok(super::signin::signin_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(super::signin::TOO_MANY),
            false,
        ));
    }
    let body = frame::read_form_body(body).await?;
    let fields = Fields::parse(&body);
    if !signin_csrf_ok(&state, &headers, &fields) {
        return Ok(super::signin::signin_form(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some(super::signin::EXPIRED_FORM),
            false,
        ));
    }
    let email = fields.text("email");
    if staff::normalised_email(&email).is_err() {
        let error = "That is not an email address. Type the address your account was made with.";
        return Ok(super::signin::signin_form(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, Some(error), false));
    }
    staff::send_link(&state.app, &email).await?;
    Ok(super::signin::signin_form(&state, &headers, StatusCode::OK, None, true))
}

#[derive(Template)]
#[template(path = "signin_link.html")]
struct LinkPage {
    chrome: Chrome,
    csrf: String,
    secret: String,
    /// The person the link signs in as; `None` when it does not work.
    name: Option<String>,
    /// Why it does not work, for a link that does not.
    problem: &'static str,
}

fn link_page_for(
    state: &HttpState,
    headers: &HeaderMap,
    secret: &str,
    link: LinkState,
    status: StatusCode,
) -> Response {
    let pre_secret = session::new_secret();
    let (name, problem, status) = match link {
        LinkState::Works { name } => (Some(name), "", status),
        LinkState::Spent => (
            None,
            "This sign-in link has been used or has run out: each link works once, for a short time. Ask for a new one below.",
            StatusCode::GONE,
        ),
        LinkState::Unknown => (None, "This is not a sign-in link of this service. Ask for a new one below.", StatusCode::NOT_FOUND),
    };
    let page = LinkPage {
        chrome: Chrome::public("Sign in"),
        csrf: session::csrf_token(&pre_secret),
        secret: if name.is_some() { secret.to_string() } else { String::new() },
        name,
        problem,
    };
    let mut response = render(status, &page);
    let cookie = session::set_cookie(session::SIGNIN_COOKIE, &pre_secret, 3600, session::over_tls(state, headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// `GET /signin/link/{secret}`: who the link signs in as, and a button. Changes nothing.
async fn link_page(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    if state.over_link_limit(&peer) {
        return Ok(super::signin::signin_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(super::signin::TOO_MANY),
            false,
        ));
    }
    let link = staff::link_state(&state.app, &secret).await?;
    Ok(link_page_for(&state, &headers, &secret, link, StatusCode::OK))
}

/// `POST /signin/link/{secret}`: uses the link and opens a session.
async fn use_link(
    State(state): State<HttpState>,
    peer: Peer,
    headers: HeaderMap,
    Path(secret): Path<String>,
    body: Body,
) -> Result<Response, PageError> {
    if state.over_link_limit(&peer) {
        return Ok(super::signin::signin_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            Some(super::signin::TOO_MANY),
            false,
        ));
    }
    let body = frame::read_form_body(body).await?;
    let fields = Fields::parse(&body);
    if !signin_csrf_ok(&state, &headers, &fields) {
        // The link stays unused: the page it came from is shown again, with a fresh form.
        let link = staff::link_state(&state.app, &secret).await?;
        return Ok(link_page_for(&state, &headers, &secret, link, StatusCode::FORBIDDEN));
    }
    let session_secret = session::new_secret();
    if staff::sign_in(&state.app, &secret, &session_secret).await?.is_none() {
        let link = match staff::link_state(&state.app, &secret).await? {
            LinkState::Unknown => LinkState::Unknown,
            _ => LinkState::Spent,
        };
        return Ok(link_page_for(&state, &headers, &secret, link, StatusCode::GONE));
    }
    Ok(super::signin::signed_in(&state, &headers, &session_secret))
}
