//! The safeguarding lead's list of learners: age, where each stands per purpose now, and filters
//! for who still needs someone to act (under 18 with nothing granted, a guardian without email,
//! a refusal, never asked). Learners are ticked here to record one paper form for several.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::admin::full_name;
use super::frame::{render, require, Chrome, PageError, PageForm};
use crate::app::coverage::{ListFilter, ListedLearner, Standing};
use crate::app::{self, Actor};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::Purpose;

pub(super) fn routes() -> Router<HttpState> {
    Router::new().route("/admin/learners", get(list_page)).route("/admin/learners/search", post(search))
}

/// Most learners one page lists.
const LIST_LIMIT: usize = 200;

struct LearnerRow {
    id: String,
    name: String,
    /// "15", or "unknown" (treated as under 18).
    age: String,
    minor: bool,
    /// Per purpose: the words and the class of its cell.
    standings: Vec<(&'static str, &'static str)>,
    external_ref: String,
    guardian_without_email: bool,
}

/// A standing as a short cell: words a safeguarding lead reads at a glance, and its colour class.
fn cell(standing: Standing) -> (&'static str, &'static str) {
    match standing {
        Standing::Granted => ("yes", "good"),
        Standing::Refused => ("no", "stopped"),
        Standing::Awaiting => ("asked, no answer yet", "waiting"),
        Standing::NeverAsked => ("never asked", "waiting"),
        Standing::NoContact => ("nobody to ask", "stopped"),
    }
}

impl LearnerRow {
    fn of(listed: &ListedLearner) -> LearnerRow {
        let l = &listed.learner;
        LearnerRow {
            id: l.id.clone(),
            name: full_name(l),
            age: listed.age.map_or_else(|| "unknown".to_string(), |a| a.to_string()),
            minor: listed.minor,
            standings: Purpose::ALL.iter().map(|p| cell(listed.standings[p])).collect(),
            external_ref: l.external_ref.clone().unwrap_or_default(),
            guardian_without_email: listed.guardian_without_email,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_learners.html")]
struct LearnersPage {
    chrome: Chrome,
    csrf: String,
    query: String,
    learners: Vec<LearnerRow>,
    searched: bool,
    /// The purposes, as column headings.
    purposes: Vec<&'static str>,
    /// Each filter: its name in the address, its words, and whether it is the one shown.
    filters: Vec<(&'static str, &'static str, bool)>,
    /// Whether a filter other than "everyone" is shown.
    filtered: bool,
}

fn filter_words(filter: ListFilter) -> &'static str {
    match filter {
        ListFilter::All => "Everyone",
        ListFilter::MinorWithoutGrant => "Under 18, nothing granted",
        ListFilter::GuardianWithoutEmail => "A guardian without email",
        ListFilter::Refused => "Refused or withdrawn",
        ListFilter::NeverAsked => "Never asked",
    }
}

async fn page(
    state: &HttpState,
    session: &Session,
    caller: &Actor,
    query: String,
    filter: ListFilter,
    searched: bool,
) -> Result<LearnersPage, PageError> {
    let listed = app::coverage::listed(&state.app, caller, &query, filter, LIST_LIMIT).await?;
    Ok(LearnersPage {
        chrome: Chrome::new("Learners", session),
        csrf: session.csrf.clone(),
        query,
        learners: listed.iter().map(LearnerRow::of).collect(),
        searched,
        purposes: Purpose::ALL.iter().map(|p| super::words::purpose_words(*p)).collect(),
        filters: ListFilter::ALL.into_iter().map(|f| (f.as_str(), filter_words(f), f == filter)).collect(),
        filtered: filter != ListFilter::All,
    })
}

/// `/admin/learners?filter=`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    /// One of the filters' names; everyone when absent.
    pub filter: Option<String>,
}

async fn list_page(
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, app::learners::MANAGERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let filter = match query.filter.as_deref() {
        None => ListFilter::All,
        Some(name) => ListFilter::parse(name).ok_or_else(|| {
            ApiError::bad_form(format!("filter must be one of {}", ListFilter::ALL.map(ListFilter::as_str).join(", ")))
        })?,
    };
    let page = page(&state, &session, &session.caller, String::new(), filter, false).await?;
    Ok(render(StatusCode::OK, &page))
}

/// `POST /admin/learners/search`: posted, so that the name typed never appears in an address.
async fn search(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let query = form.fields.text("q");
    let page = page(&state, &form.session, &form.session.caller, query, ListFilter::All, true).await?;
    Ok(render(StatusCode::OK, &page))
}
