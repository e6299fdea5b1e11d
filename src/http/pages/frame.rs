//! What every page shares: the frame around it, rendering, the error page, posted forms with
//! their CSRF check, the session extractor, role checks, and the notices after an action.

use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AppError;
use crate::http::error::ApiError;
use crate::http::session::{self, Session};
use crate::http::state::HttpState;
use crate::store::Role;

/// What every page's frame shows: the title, who is signed in, a notice after an action.
pub struct Chrome {
    /// The page's title.
    pub title: String,
    /// The signed-in person, if any.
    pub who: Option<Who>,
    /// A one-line message about what just happened.
    pub notice: Option<String>,
    /// Whether the page loads the script.
    pub script: bool,
    /// The organisation's name for the header, on pages for the public (the withdrawal page).
    pub organisation: Option<String>,
    /// Shown to safeguarding leads on every page while `public_url` is a loopback address.
    pub links_unreachable: bool,
}

/// The signed-in person, as the frame shows them.
pub struct Who {
    /// The name their token was made for.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// The CSRF token the frame's sign-out form carries.
    pub csrf: String,
}

impl Chrome {
    /// A frame for a page shown to `session`.
    pub fn new(title: &str, session: &Session) -> Chrome {
        Chrome {
            title: title.to_string(),
            who: Some(Who { name: session.name.clone(), role: session.caller.role, csrf: session.csrf.clone() }),
            notice: None,
            script: false,
            organisation: None,
            links_unreachable: session.links_unreachable && session.caller.role == Role::Admin,
        }
    }

    /// A frame for a page shown to someone not signed in.
    pub fn public(title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            who: None,
            notice: None,
            script: false,
            organisation: None,
            links_unreachable: false,
        }
    }

    /// The same frame with a notice.
    pub fn with_notice(mut self, notice: Option<String>) -> Chrome {
        self.notice = notice;
        self
    }

    /// Whether the signed-in person has `role` (for the navigation).
    pub fn is(&self, role: &str) -> bool {
        self.who.as_ref().is_some_and(|w| w.role.as_str() == role)
    }
}

/// A moment as the staff pages show it: `2026-09-01 09:30 UTC`.
pub fn when(ms: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    crate::store::time_of_ms(ms).format(&format).unwrap_or_default()
}

/// Renders a template as a page: never cached, since pages show people's data.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on our side; it has been logged").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    message: &'a str,
}

/// An error shown as a page: the API's error, in the same words, with a way back.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError(e.into())
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.0.status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        render(self.0.status, &ErrorPage { chrome: Chrome::public(title), message: &self.0.message })
    }
}

/// The fields of a posted HTML form, in order (checkbox groups repeat a name).
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Fields {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first value of `name`, trimmed, or "" when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
    /// Every field, in order.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

/// Largest form body a page accepts (forms here are a few short fields).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Reads a posted form's body, refusing it as soon as it passes [`MAX_FORM_BYTES`].
pub async fn read_form_body(body: axum::body::Body) -> Result<axum::body::Bytes, PageError> {
    crate::http::body::read_capped(body, MAX_FORM_BYTES).await.map_err(|e| {
        PageError(match e {
            crate::http::body::BodyError::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "form_too_large",
                format!("the form is too large: at most {MAX_FORM_BYTES} bytes"),
            ),
            crate::http::body::BodyError::Broken(_) => ApiError::bad_form("the form could not be read"),
        })
    })
}

/// A form posted by a signed-in person, its CSRF token checked before anything else is read.
pub struct PageForm {
    /// Who posted it.
    pub session: Session,
    /// What they posted.
    pub fields: Fields,
}

impl FromRequest<HttpState> for PageForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &HttpState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let bytes = read_form_body(body).await.map_err(IntoResponse::into_response)?;
        let fields = Fields::parse(&bytes);
        if !session.csrf_ok(fields.get("csrf")) {
            return Err(PageError(session::csrf_refused()).into_response());
        }
        Ok(PageForm { session, fields })
    }
}

/// Refuses with a 403 page unless the session has one of `roles`.
pub fn require(session: &Session, roles: &[Role]) -> Result<(), PageError> {
    session.caller.require(roles).map_err(PageError::from)
}

/// After a successful action: back to a page, with a notice saying what happened. The notice
/// travels as a code in the address, never as free text (which could carry a name).
pub fn done(to: &str, notice: &str) -> Response {
    let (path, fragment) = match to.split_once('#') {
        Some((path, fragment)) => (path, format!("#{fragment}")),
        None => (to, String::new()),
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}done={notice}{fragment}")).into_response()
}

/// The sentence for a notice code of [`done`].
pub fn notice_text(code: Option<&str>) -> Option<String> {
    let text = match code? {
        "claimed" => "Claimed. Download it below and record where you publish it.",
        "claim_extended" => "It is yours for another hour.",
        "claim_not_running" => {
            "Your time with that photo had already run out: claim it again from the queue if it is still there."
        }
        "nothing_to_claim" => "There is nothing left to claim for that purpose.",
        "not_available" => {
            "That photo is no longer in the queue: someone else claimed it, or its consent no longer holds."
        }
        "published" => "Recorded where it was published.",
        "takedown_owed" => {
            "Recorded where it was published, but consent for it stopped holding while you had it: please take it \
             down now (see the red box at the top)."
        }
        "takedown_done" => "Thank you: the takedown is recorded as done.",
        "takedown_gone" => "That takedown was already recorded as done. Nothing else is needed.",
        "consent_recorded" => "Consent recorded.",
        "learner_details_saved" => "Email, groups and leaving day saved.",
        "learner_erased" => {
            "Erased: every consent is withdrawn, the images are deleted, takedowns are owed for what was \
             published, and only the learner's id is kept."
        }
        "guardian_added" => "Guardian added.",
        "guardian_corrected" => "Guardian corrected.",
        "guardian_removed" => {
            "Guardian removed: their grants no longer count; a refusal or withdrawal of theirs still does, and \
             the photos were checked again."
        }
        "redaction_accepted" => "Done: the texts now use first names only.",
        "form_saved" => "Form saved: choose it from the list when you record consent given on it.",
        "form_retired" => "Form taken off the list. Consents recorded on it keep its version and words.",
        "photo_saved" => "Saved. The photo's status below is worked out again from what you changed.",
        "photo_unchanged" => "Nothing was changed.",
        "photo_deleted" => "Deleted: the photo and its image are gone.",
        "token_revoked" => "Revoked: the token and every session opened with it stopped working.",
        "token_already_revoked" => "That token had already been revoked. Nothing changed.",
        "staff_invited" => "Invited: a sign-in link is on its way to them by email. It works once, for a week.",
        "sign_in_link_sent" => "A new sign-in link is on its way to them by email. It works once, for a week.",
        "sign_in_link_limit" => "Not sent: they were sent five links in the last hour. Try again later.",
        "account_revoked" => "Revoked: the account and every session it opened stopped working.",
        "request_sent" => {
            "Request made: each person asked gets their own link, by email or, without an email server, as a \
             letter waiting on the outbox page."
        }
        "letter_posted" => "Marked as posted: the letter's words and link are no longer kept.",
        _ => return None,
    };
    Some(text.to_string())
}

/// `?done=` on pages that show a notice.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoticeQuery {
    /// The notice code.
    pub done: Option<String>,
}

/// What a page answers when there is no live session: to sign in first.
#[derive(Debug)]
pub struct SignInFirst;

impl axum::response::IntoResponse for SignInFirst {
    fn into_response(self) -> axum::response::Response {
        axum::response::Redirect::to("/signin").into_response()
    }
}

impl FromRequestParts<HttpState> for Session {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        match Session::from_headers(state, &parts.headers).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(SignInFirst.into_response()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}
