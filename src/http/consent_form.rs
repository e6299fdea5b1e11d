//! The family's consent form at `/c/{token}`, for a guardian or an adult learner without an
//! account. GET only shows the form (mail scanners follow links); POST records the answer. Plain
//! HTML that works without JavaScript on a phone, the learner named by first name only, nothing
//! preselected; an unknown token gets a page that reveals nothing. Rate-limited like `/w/`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::pages::frame::{self, Chrome, Fields};
use super::rate_limit::Peer;
use super::state::HttpState;
use crate::app;
use crate::app::answers::{AnswerResult, FormAnswer, FormLookup, OpenForm};
use crate::policy::Purpose;
use crate::store::RecipientKind;

/// One question of the form.
pub struct Question {
    /// The field's name: the purpose's (`website`).
    name: &'static str,
    /// The purpose in the form's words.
    words: String,
    /// What was chosen before, when the form comes back: `Some(true)` yes.
    chosen: Option<bool>,
}

/// What a form page says.
pub enum FormView {
    /// The form (again, with `message`, when something was missing).
    Form {
        /// The learner's first name.
        name: String,
        /// Whether a guardian answers (they confirm parental responsibility).
        guardian: bool,
        /// The questions.
        questions: Vec<Question>,
        /// The organisation's consent text, in paragraphs.
        text: Vec<String>,
        /// The last day the link works.
        valid_until: String,
        /// What to fix, when the form comes back.
        message: Option<String>,
        /// The signature typed before.
        signature: String,
        /// Whether the parental-responsibility box was ticked before.
        responsibility: bool,
    },
    /// The answer was recorded.
    Done {
        /// The learner's first name.
        name: String,
        /// Purposes answered yes, in words.
        granted: Vec<String>,
        /// Purposes answered no, in words.
        refused: Vec<String>,
        /// The withdrawal link, shown here when no email confirmation can carry it.
        withdraw_link: Option<String>,
    },
    /// Answered before.
    Answered {
        /// When.
        on: String,
    },
    /// The link ran out.
    Expired,
    /// The guardian was removed since.
    NoLonger,
    /// A post this form could not have sent.
    Rejected {
        /// What was wrong.
        message: String,
    },
    /// No such link: says nothing more.
    Unknown,
    /// Rate-limited.
    TooMany,
    /// Our fault.
    Failed,
}

#[derive(askama::Template)]
#[template(path = "consent_form.html")]
struct FormPage {
    chrome: Chrome,
    view: FormView,
    contact: Option<String>,
}

fn page(state: &HttpState, status: StatusCode, title: &str, view: FormView) -> Response {
    let mut chrome = Chrome::public(title);
    chrome.organisation = state.app.settings.organisation_name.clone();
    let contact = state.app.settings.organisation_contact.clone();
    let mut response = frame::render(status, &FormPage { chrome, view, contact });
    response.headers_mut().insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

fn date_of(state: &HttpState, ms: i64) -> String {
    app::letters::day(ms, state.app.settings.rules.zone)
}

fn form_view(
    form: OpenForm,
    kept: &BTreeMap<Purpose, bool>,
    message: Option<String>,
    (signature, responsibility): (String, bool),
) -> FormView {
    FormView::Form {
        name: form.first_name,
        guardian: form.to == RecipientKind::Guardian,
        questions: form
            .purposes
            .into_iter()
            .map(|(purpose, words)| Question { name: purpose.as_str(), words, chosen: kept.get(&purpose).copied() })
            .collect(),
        text: form.text.split("\n\n").map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect(),
        valid_until: form.valid_until,
        message,
        signature,
        responsibility,
    }
}

fn limited(state: &HttpState, peer: &Peer) -> Option<Response> {
    state.over_link_limit(peer).then(|| {
        let mut response = page(state, StatusCode::TOO_MANY_REQUESTS, "Please wait", FormView::TooMany);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        response
    })
}

fn unknown(state: &HttpState) -> Response {
    page(state, StatusCode::NOT_FOUND, "Link not recognised", FormView::Unknown)
}

fn answered(state: &HttpState, at: i64) -> Response {
    page(state, StatusCode::GONE, "Already answered", FormView::Answered { on: date_of(state, at) })
}

fn expired(state: &HttpState) -> Response {
    page(state, StatusCode::GONE, "Link expired", FormView::Expired)
}

fn no_longer(state: &HttpState) -> Response {
    page(state, StatusCode::GONE, "Link no longer works", FormView::NoLonger)
}

fn failed(state: &HttpState, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "consent form failed");
    page(state, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", FormView::Failed)
}

/// `GET /c/{token}`: the form. Changes nothing.
#[utoipa::path(get, path = "/c/{token}", operation_id = "consent_form", tag = "withdrawal",
    params(("token" = String, Path, description = "The token of a consent request link (64 hex digits); any other names no link")),
    responses(
        (status = 200, body = String, content_type = "text/html", description = "the form"),
        (status = 404, body = String, content_type = "text/html", description = "no such link"),
        (status = 410, body = String, content_type = "text/html", description = "answered already, expired, or the guardian was removed"),
        (status = 429, body = String, content_type = "text/html", description = "too many tries from this address",
            headers(("Retry-After" = u32, description = "seconds"))),
        (status = 500, body = String, content_type = "text/html", description = "our fault")))]
pub async fn show(State(state): State<HttpState>, peer: Peer, Path(token): Path<String>) -> Response {
    if let Some(response) = limited(&state, &peer) {
        return response;
    }
    match app::answers::open(&state.app, &token).await {
        Ok(FormLookup::Open(form)) => page(
            &state,
            StatusCode::OK,
            "Photos: your answer",
            form_view(*form, &BTreeMap::new(), None, (String::new(), false)),
        ),
        Ok(FormLookup::Answered(at)) => answered(&state, at),
        Ok(FormLookup::Expired) => expired(&state),
        Ok(FormLookup::NoLonger) => no_longer(&state),
        Ok(FormLookup::Unknown) => unknown(&state),
        Err(e) => failed(&state, e),
    }
}

/// `POST /c/{token}`: records the answer, in one transaction with every status it changes, and
/// queues its confirmation. A second post changes nothing.
#[utoipa::path(post, path = "/c/{token}", operation_id = "answer_consent_form", tag = "withdrawal",
    params(("token" = String, Path, description = "The token of a consent request link (64 hex digits); any other names no link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "one field per purpose asked (`website=granted` or `website=refused`), `signature` (the full name), and for a guardian `responsibility=yes`"),
    responses(
        (status = 200, body = String, content_type = "text/html", description = "recorded; a confirmation with the withdrawal link is on its way"),
        (status = 400, body = String, content_type = "text/html", description = "a purpose the form did not ask about, or an answer that is neither granted nor refused: nothing recorded"),
        (status = 404, body = String, content_type = "text/html", description = "no such link"),
        (status = 410, body = String, content_type = "text/html", description = "answered already, expired, or the guardian was removed"),
        (status = 413, body = String, content_type = "text/html", description = "the form is too large"),
        (status = 422, body = String, content_type = "text/html", description = "a choice or the signature is missing: the form again, every choice kept, nothing recorded"),
        (status = 429, body = String, content_type = "text/html", description = "too many tries from this address",
            headers(("Retry-After" = u32, description = "seconds"))),
        (status = 500, body = String, content_type = "text/html", description = "our fault")))]
pub async fn answer(
    State(state): State<HttpState>,
    peer: Peer,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(response) = limited(&state, &peer) {
        return response;
    }
    let body = match frame::read_form_body(body).await {
        Ok(body) => body,
        Err(_) => {
            let message = "The form could not be read. Please go back and send it again.".to_string();
            return page(&state, StatusCode::PAYLOAD_TOO_LARGE, "That did not work", FormView::Rejected { message });
        }
    };
    let fields = Fields::parse(&body);
    let posted = FormAnswer {
        signature: fields.text("signature"),
        responsibility: fields.get("responsibility") == Some("yes"),
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
        address: peer.client(&state.app.settings.trusted_proxies).map(|a| a.to_string()).unwrap_or_default(),
        fields: fields.into_pairs(),
    };
    match app::answers::answer(&state.app, &token, posted).await {
        Ok(AnswerResult::Recorded { first_name, granted, refused, withdraw_link_shown }) => page(
            &state,
            StatusCode::OK,
            "Thank you",
            FormView::Done { name: first_name, granted, refused, withdraw_link: withdraw_link_shown },
        ),
        Ok(AnswerResult::Incomplete { form, message, kept, signature, responsibility }) => page(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Photos: your answer",
            form_view(*form, &kept, Some(message), (signature, responsibility)),
        ),
        Ok(AnswerResult::Rejected(message)) => {
            page(&state, StatusCode::BAD_REQUEST, "That did not work", FormView::Rejected { message })
        }
        Ok(AnswerResult::Answered(at)) => answered(&state, at),
        Ok(AnswerResult::Expired) => expired(&state),
        Ok(AnswerResult::NoLonger) => no_longer(&state),
        Ok(AnswerResult::Unknown) => unknown(&state),
        Err(e) => failed(&state, e),
    }
}
