//! Pages for people: sign-in, the tutor's upload, marketing's queue, the safeguarding lead's
//! screens. Server-rendered (askama templates compiled into the binary), mobile first, with a
//! little script where it helps (several uploads with progress, the learner picker). Every form
//! carries the session's CSRF token; every action calls the same use case in [`crate::app`] as
//! the JSON API and matches its typed outcome, so the pages hold no rules of their own.

mod admin;
mod forms;
pub(super) mod frame;
mod labels;
mod learner_list;
mod marketing;
mod once;
mod photo_edit;
mod requests;
mod retention;
mod tokens;
mod tutor;
pub mod words;

use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use self::frame::{render, Chrome, Fields, PageError, PageForm};
use super::session::{self, Session};
use super::state::HttpState;
use crate::app::access;
use crate::store::Role;

/// The pages' routes.
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
        .merge(tutor::routes())
        .merge(photo_edit::routes())
        .merge(forms::routes())
        .merge(learner_list::routes())
        .merge(marketing::routes())
        .merge(admin::routes())
        .merge(tokens::routes())
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

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    error: Option<&'static str>,
}

/// The sign-in form, with a fresh pre-session CSRF cookie.
fn signin_form(state: &HttpState, headers: &HeaderMap, status: StatusCode, error: Option<&'static str>) -> Response {
    let secret = session::new_secret();
    let page = SignInPage { chrome: Chrome::public("Sign in"), csrf: session::csrf_token(&secret), error };
    let mut response = render(status, &page);
    let cookie = session::set_cookie(session::SIGNIN_COOKIE, &secret, 3600, session::over_tls(state, headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

async fn signin_page(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, PageError> {
    if Session::from_headers(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(signin_form(&state, &headers, StatusCode::OK, None))
}

async fn signin(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Result<Response, PageError> {
    // Anyone may post here: the cap applies while reading, so no more than it is ever held.
    let body = frame::read_form_body(body).await?;
    let fields = Fields::parse(&body);
    let pre_secret = session::our_cookie(&state, &headers, session::SIGNIN_COOKIE).unwrap_or_default();
    if pre_secret.is_empty() || !fields.get("csrf").is_some_and(|c| session::csrf_matches(pre_secret, c)) {
        return Ok(signin_form(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some("This sign-in form has expired or did not come from this site. Please try again."),
        ));
    }
    let secret = session::new_secret();
    let Some(_) = access::sign_in(&state.app, &fields.text("token"), &secret).await? else {
        return Ok(signin_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That token was not recognised. Paste the whole token you were given, starting with cg_."),
        ));
    };
    let secure = session::over_tls(&state, &headers);
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, &secret, session::SESSION_LIFETIME_MS / 1000, secure),
    );
    headers.append(header::SET_COOKIE, session::set_cookie(session::SIGNIN_COOKIE, "", 0, secure));
    Ok(response)
}

async fn signout(State(state): State<HttpState>, headers: HeaderMap, form: PageForm) -> Result<Response, PageError> {
    access::sign_out(&state.app, &form.session.caller, &form.session.id_hash).await?;
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, "", 0, session::over_tls(&state, &headers)),
    );
    Ok(response)
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
