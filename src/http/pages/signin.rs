//! Signing in and out: the sign-in page (a token pasted, or with mail set up an emailed link asked
//! for: see `staff.rs`), its own pre-session CSRF cookie, the session cookie set after either way
//! of signing in, and sign-out.

use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::frame::{self, render, Chrome, Fields, PageError, PageForm};
use crate::app::access;
use crate::http::session::{self, Session};
use crate::http::state::HttpState;

pub(super) fn routes() -> Router<HttpState> {
    Router::new().route("/signin", get(signin_page).post(signin)).route("/signout", post(signout))
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    error: Option<&'static str>,
    /// Whether mail is set up, so a link can be asked for by email.
    mail: bool,
    /// Whether a link was just asked for.
    sent: bool,
}

/// The answer when one address asks for too much.
pub(super) const TOO_MANY: &str = "Too many tries from this network in the last minute. Wait a minute and try again.";
/// The answer to a sign-in form that did not come from this site (or is over an hour old).
pub(super) const EXPIRED_FORM: &str = "This sign-in form has expired or did not come from this site. Please try again.";

/// The sign-in form, with a fresh pre-session CSRF cookie; `sent`: say a link was asked for.
pub(super) fn signin_form(
    state: &HttpState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&'static str>,
    sent: bool,
) -> Response {
    let secret = session::new_secret();
    let page = SignInPage {
        chrome: Chrome::public("Sign in"),
        csrf: session::csrf_token(&secret),
        error,
        mail: state.app.mailer.is_some(),
        sent,
    };
    let mut response = render(status, &page);
    let cookie = session::set_cookie(session::SIGNIN_COOKIE, &secret, 3600, session::over_tls(state, headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

async fn signin_page(State(state): State<HttpState>, headers: HeaderMap) -> Result<Response, PageError> {
    if Session::from_headers(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(signin_form(&state, &headers, StatusCode::OK, None, false))
}

async fn signin(State(state): State<HttpState>, headers: HeaderMap, body: Body) -> Result<Response, PageError> {
    // Anyone may post here: the cap applies while reading, so no more than it is ever held.
    let body = frame::read_form_body(body).await?;
    let fields = Fields::parse(&body);
    let pre_secret = session::our_cookie(&state, &headers, session::SIGNIN_COOKIE).unwrap_or_default();
    if pre_secret.is_empty() || !fields.get("csrf").is_some_and(|c| session::csrf_matches(pre_secret, c)) {
        return Ok(signin_form(&state, &headers, StatusCode::FORBIDDEN, Some(EXPIRED_FORM), false));
    }
    let secret = session::new_secret();
    let Some(_) = access::sign_in(&state.app, &fields.text("token"), &secret).await? else {
        return Ok(signin_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That token was not recognised. Paste the whole token you were given, starting with cg_."),
            false,
        ));
    };
    Ok(signed_in(&state, &headers, &secret))
}

/// After signing in: the session cookie set, the sign-in form's cookie dropped, and home.
pub(super) fn signed_in(state: &HttpState, headers: &HeaderMap, secret: &str) -> Response {
    let secure = session::over_tls(state, headers);
    let mut response = Redirect::to("/").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        session::set_cookie(session::SESSION_COOKIE, secret, session::SESSION_LIFETIME_MS / 1000, secure),
    );
    headers.append(header::SET_COOKIE, session::set_cookie(session::SIGNIN_COOKIE, "", 0, secure));
    response
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
