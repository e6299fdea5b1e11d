//! Pages for people: sign-in, the tutor's upload, marketing's queue, the safeguarding lead's
//! screens. Server-rendered (askama templates compiled into the binary), mobile first, with a
//! little script where it helps (several uploads with progress, the learner picker). Every form
//! carries the session's CSRF token; every action goes through the same handler as the JSON API,
//! so the pages hold no rules of their own.

mod admin;
mod marketing;
mod tutor;
pub mod words;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::session::{self, Session};
use super::{ApiError, AppState};
use crate::store::{AuditDraft, Role};
use crate::tokens;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
        .merge(tutor::routes())
        .merge(marketing::routes())
        .merge(admin::routes())
}

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
        }
    }

    /// A frame for a page shown to someone not signed in.
    pub fn public(title: &str) -> Chrome {
        Chrome { title: title.to_string(), who: None, notice: None, script: false, organisation: None }
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
}

/// Largest form body a page accepts (forms here are a few short fields).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// A form posted by a signed-in person, its CSRF token checked before anything else is read.
pub struct PageForm {
    /// Who posted it.
    pub session: Session,
    /// What they posted.
    pub fields: Fields,
}

impl FromRequest<AppState> for PageForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
            PageError(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "form_too_large", "the form is too large"))
                .into_response()
        })?;
        let fields = Fields::parse(&bytes);
        if !session.csrf_ok(fields.get("csrf")) {
            return Err(PageError(session::csrf_refused()).into_response());
        }
        Ok(PageForm { session, fields })
    }
}

/// Refuses with a 403 page unless the session has one of `roles`.
pub fn require(session: &Session, roles: &[Role]) -> Result<(), PageError> {
    session.caller.require(roles).map_err(PageError)
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
        "redaction_accepted" => "Done: the texts now use first names only.",
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

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
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
fn signin_form(state: &AppState, headers: &HeaderMap, status: StatusCode, error: Option<&'static str>) -> Response {
    let secret = session::new_secret();
    let page = SignInPage { chrome: Chrome::public("Sign in"), csrf: session::csrf_token(&secret), error };
    let mut response = render(status, &page);
    let cookie = session::set_cookie(session::SIGNIN_COOKIE, &secret, 3600, session::over_tls(state, headers));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

async fn signin_page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, PageError> {
    if Session::from_headers(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(signin_form(&state, &headers, StatusCode::OK, None))
}

async fn signin(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(PageError(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "form_too_large", "the form is too large")));
    }
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
    let presented = fields.text("token");
    let record = match tokens::parse(&presented) {
        Some((id, secret)) => state.store.token(id).await?.filter(|record| tokens::verify(record, secret)),
        None => None,
    };
    let Some(record) = record else {
        return Ok(signin_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That token was not recognised. Paste the whole token you were given, starting with cg_."),
        ));
    };
    let secret = session::new_secret();
    let id_hash = tokens::hash_secret(&secret);
    let expires = crate::store::now_ms() + session::SESSION_LIFETIME_MS;
    let audit =
        AuditDraft::new(&record.id, "signed_in", &record.id, serde_json::json!({ "role": record.role.as_str() }));
    state.store.create_session(&id_hash, &record.id, expires, audit).await?;
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

async fn signout(State(state): State<AppState>, headers: HeaderMap, form: PageForm) -> Result<Response, PageError> {
    state.store.delete_session(&form.session.id_hash).await?;
    // Audited like signing in, so the log shows when a shared device stopped acting for someone.
    let token_id = &form.session.caller.token_id;
    let role = form.session.caller.role.as_str();
    state
        .store
        .append_audit(AuditDraft::new(token_id, "signed_out", token_id, serde_json::json!({ "role": role })))
        .await?;
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
pub async fn security_headers(State(state): State<AppState>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if state.settings.public_url.starts_with("https://") {
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
