//! Pages for people: sign-in, the tutor's upload, marketing's queue, the safeguarding lead's
//! screens. Server-rendered (askama templates compiled into the binary), mobile first, with a
//! little script where it helps (several uploads with progress, the learner picker). Every form
//! carries the session's CSRF token; every action calls the same use case in [`crate::app`] as
//! the JSON API and matches its typed outcome, so the pages hold no rules of their own.

mod admin;
mod audit;
mod forms;
pub(super) mod frame;
mod labels;
mod learner_list;
mod marketing;
mod once;
mod photo_edit;
mod requests;
mod retention;
mod signin;
mod staff;
mod tokens;
mod tutor;
pub mod words;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use self::frame::PageError;
use super::session::Session;
use super::state::HttpState;
use crate::store::Role;

/// The pages' routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(home))
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
        .merge(signin::routes())
        .merge(tutor::routes())
        .merge(photo_edit::routes())
        .merge(forms::routes())
        .merge(learner_list::routes())
        .merge(marketing::routes())
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(tokens::routes())
        .merge(staff::routes())
        .merge(requests::routes())
        .merge(retention::routes())
}

async fn home(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, PageError> {
    Ok(match Session::from_headers(&state, &headers).await? {
        Some(session) => Redirect::to(match session.caller.role {
            Role::Tutor => "/tutor",
            Role::Marketing => "/marketing",
            Role::Admin => "/admin/learners",
        })
        .into_response(),
        None => Redirect::to("/signin").into_response(),
    })
}

/// Assets are part of the binary; they change only with it.
fn asset(body: &'static str, mime: &'static str) -> Response {
    ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn stylesheet() -> Response {
    asset(include_str!("../../../assets/app.css"), "text/css; charset=utf-8")
}

async fn script() -> Response {
    asset(include_str!("../../../assets/app.js"), "text/javascript; charset=utf-8")
}

/// The headers every answer carries. The policy allows only our own scripts, styles, images
/// and forms (no inline script, so an injected one cannot run), no framing, and no Referer, so a
/// withdrawal link's token never leaves in one. Served over TLS (`public_url` is https), browsers
/// are also told to use nothing else for a year, so a session cookie is never offered to a
/// downgraded plain-HTTP connection.
pub async fn security_headers(State(state): State<HttpState>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if state.app.settings.public_url.starts_with("https://") {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
