//! The withdrawal pages at `/w/{token}`, for a learner or guardian without an account. GET only
//! shows what the link would withdraw (mail scanners follow links); POST withdraws. The pages
//! work without JavaScript, name the learner by first name only, and an unknown token gets a page
//! that reveals nothing.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::rate_limit::Peer;
use super::state::HttpState;
use crate::app;
use crate::app::consents::{LinkPreview, LinkWithdrawal};
use crate::policy::Purpose;
use crate::store::time_of_ms;

fn plain_words(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Website => "on our website",
        Purpose::SocialMedia => "on our social media accounts",
        Purpose::Print => "in printed material such as prospectuses and posters",
        Purpose::Internal => "inside the organisation, such as displays and staff newsletters",
    }
}

fn purpose_list(purposes: &[Purpose]) -> Vec<&'static str> {
    purposes.iter().map(|p| plain_words(*p)).collect()
}

/// What a withdrawal page says.
pub enum WithdrawView {
    /// What the link would withdraw, each purpose a box (all ticked), and the button.
    Confirm {
        /// The learner's first name.
        name: String,
        /// When the grant was given.
        given: String,
        /// The purposes it still covers: the form's value and the words.
        purposes: Vec<(&'static str, &'static str)>,
        /// Said when the form came back with nothing ticked.
        nothing_ticked: bool,
    },
    /// What was withdrawn.
    Done {
        /// The learner's first name.
        name: String,
        /// The purposes withdrawn, in words.
        purposes: Vec<&'static str>,
        /// The purposes still given, in words: the same link withdraws them later.
        kept: Vec<&'static str>,
        /// Whether the learner, an adult who has answered for themselves, decides instead (the
        /// withdrawal is recorded but changes nothing; their answer is not shown).
        adult_decides: bool,
    },
    /// The link was used before.
    AlreadyUsed {
        /// When.
        on: String,
    },
    /// No such link (or not one of ours): says nothing more.
    Unknown,
    /// Rate-limited.
    TooMany,
    /// Our fault.
    Failed,
}

#[derive(askama::Template)]
#[template(path = "withdraw.html")]
struct WithdrawPage {
    chrome: super::pages::frame::Chrome,
    view: WithdrawView,
    /// How to reach the organisation with questions, when configured.
    contact: Option<String>,
}

/// A complete page with the headers every withdrawal page needs: never cached, never indexed.
/// (No page sends a Referer, so the token in the address never leaves in one.)
fn page(state: &HttpState, status: StatusCode, title: &str, view: WithdrawView) -> Response {
    // Who is asking matters to a parent: the organisation's name heads the page when configured.
    let mut chrome = super::pages::frame::Chrome::public(title);
    chrome.organisation = state.app.settings.organisation_name.clone();
    let contact = state.app.settings.organisation_contact.clone();
    let mut response = super::pages::frame::render(status, &WithdrawPage { chrome, view, contact });
    response.headers_mut().insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

fn not_found(state: &HttpState) -> Response {
    page(state, StatusCode::NOT_FOUND, "Link not recognised", WithdrawView::Unknown)
}

fn too_many(state: &HttpState) -> Response {
    let mut response = page(state, StatusCode::TOO_MANY_REQUESTS, "Please wait", WithdrawView::TooMany);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

/// The day of `ms` in the organisation's zone.
fn date_of(state: &HttpState, ms: i64) -> String {
    let format = time::macros::format_description!("[day] [month repr:long] [year]");
    state.app.settings.rules.zone.local(time_of_ms(ms)).format(&format).unwrap_or_default()
}

fn already_used(state: &HttpState, status: StatusCode, used_at: i64) -> Response {
    page(state, status, "Link already used", WithdrawView::AlreadyUsed { on: date_of(state, used_at) })
}

fn limited(state: &HttpState, peer: Peer) -> bool {
    state.over_link_limit(&peer)
}

/// `GET /w/{token}`: what the link would withdraw, and a button. Changes nothing.
#[utoipa::path(get, path = "/w/{token}", operation_id = "withdrawal_page", tag = "withdrawal",
    params(("token" = String, Path, description = "The token of a withdrawal link (64 hex digits); any other names no link")),
    responses(
        (status = 200, body = String, content_type = "text/html", description = "what the link would withdraw and a button, or when it was used"),
        (status = 404, body = String, content_type = "text/html", description = "no such link"),
        (status = 429, body = String, content_type = "text/html", description = "too many tries from this address",
            headers(("Retry-After" = u32, description = "seconds"))),
        (status = 500, body = String, content_type = "text/html", description = "our fault")))]
pub async fn show(State(state): State<HttpState>, peer: Peer, Path(token): Path<String>) -> Response {
    if limited(&state, peer) {
        return too_many(&state);
    }
    confirm(&state, &token, false, StatusCode::OK).await
}

/// The confirmation page of a link (`nothing_ticked`: the form came back with no box ticked).
async fn confirm(state: &HttpState, token: &str, nothing_ticked: bool, status: StatusCode) -> Response {
    let state = state.clone();
    match app::consents::preview_link(&state.app, token).await {
        Ok(LinkPreview::Usable(link)) => page(
            &state,
            status,
            "Withdraw consent for photos",
            WithdrawView::Confirm {
                name: link.first_name.clone(),
                given: date_of(&state, link.grant.given_at),
                purposes: link.remaining.iter().map(|p| (p.as_str(), plain_words(*p))).collect(),
                nothing_ticked,
            },
        ),
        Ok(LinkPreview::Used(used_at)) => already_used(&state, StatusCode::OK, used_at),
        Ok(LinkPreview::Unknown) => not_found(&state),
        Err(e) => error_page(&state, e),
    }
}

/// `POST /w/{token}`: withdraws, in one transaction with every status it changes. A second POST
/// changes nothing.
#[utoipa::path(post, path = "/w/{token}", operation_id = "withdraw_consent", tag = "withdrawal",
    params(("token" = String, Path, description = "The token of a withdrawal link (64 hex digits); any other names no link")),
    responses(
        (status = 200, body = String, content_type = "text/html", description = "withdrawn"),
        (status = 404, body = String, content_type = "text/html", description = "no such link"),
        (status = 410, body = String, content_type = "text/html", description = "the link was used before"),
        (status = 429, body = String, content_type = "text/html", description = "too many tries from this address",
            headers(("Retry-After" = u32, description = "seconds"))),
        (status = 500, body = String, content_type = "text/html", description = "our fault")))]
pub async fn withdraw(
    State(state): State<HttpState>,
    peer: Peer,
    Path(token): Path<String>,
    body: axum::body::Body,
) -> Response {
    if limited(&state, peer) {
        return too_many(&state);
    }
    // The page's form says which purposes are ticked (`choice` marks that it was the form that
    // sent them); a POST without it withdraws everything the link still covers.
    let Ok(body) = super::pages::frame::read_form_body(body).await else {
        return confirm(&state, &token, false, StatusCode::BAD_REQUEST).await;
    };
    let fields = super::pages::frame::Fields::parse(&body);
    let purposes = fields
        .get("choice")
        .map(|_| fields.all("purposes").into_iter().filter_map(|p| p.parse::<Purpose>().ok()).collect::<Vec<_>>());
    if purposes.as_ref().is_some_and(Vec::is_empty) {
        return confirm(&state, &token, true, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match app::consents::withdraw_by_link(&state.app, &token, purposes).await {
        Ok(LinkWithdrawal::Withdrawn { first_name, purposes, kept, adult_decides }) => page(
            &state,
            StatusCode::OK,
            if adult_decides { "Withdrawal recorded" } else { "Consent withdrawn" },
            WithdrawView::Done {
                name: first_name,
                purposes: purpose_list(&purposes),
                kept: purpose_list(&kept),
                adult_decides,
            },
        ),
        Ok(LinkWithdrawal::NothingChosen) => confirm(&state, &token, true, StatusCode::UNPROCESSABLE_ENTITY).await,
        Ok(LinkWithdrawal::Used(used_at)) => already_used(&state, StatusCode::GONE, used_at),
        Ok(LinkWithdrawal::Unknown) => not_found(&state),
        Err(e) => error_page(&state, e),
    }
}

fn error_page(state: &HttpState, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "withdrawal page failed");
    page(state, StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", WithdrawView::Failed)
}
