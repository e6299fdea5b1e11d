//! The safeguarding lead's consent-request pages: ask a group (or one learner, from their page),
//! see who was asked, who answered and who has no contact; the outbox, with messages waiting
//! as printable letters (each link as text and as a QR code) when no SMTP server is set, and
//! messages refused for good; coverage per group with a bar per purpose, a way to chase a group,
//! and a CSV. And the tutor's list to check before taking photos of a group.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::frame::{done, notice_text, render, require, when, Chrome, NoticeQuery, PageError, PageForm};
use super::words;
use crate::app::coverage::{self, Standing};
use crate::app::requests::NewConsentRequest;
use crate::app::{self, AppError};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::Purpose;
use crate::store::{MailState, OutboxMessage, RecipientKind, RecipientStatus};

pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/admin/requests", get(requests_page).post(create))
        .route("/admin/requests/{id}", get(request_page))
        .route("/admin/outbox", get(outbox_page))
        .route("/admin/outbox/{id}/posted", post(posted))
        .route("/admin/coverage", get(coverage_page))
        .route("/admin/coverage.csv", get(coverage_csv))
        .route("/tutor/groups", get(groups_page))
        .route("/tutor/groups/{group}", get(group_page))
}

fn purpose_list(purposes: &[Purpose]) -> String {
    purposes.iter().map(|p| words::purpose_words(*p)).collect::<Vec<_>>().join(", ")
}

struct RequestRow {
    id: String,
    kind: &'static str,
    purposes: String,
    group: String,
    created: String,
}

#[derive(Template)]
#[template(path = "admin_requests.html")]
struct RequestsPage {
    chrome: Chrome,
    csrf: String,
    requests: Vec<RequestRow>,
    groups: Vec<(String, i64)>,
    purposes: Vec<(&'static str, &'static str)>,
    chosen_group: String,
    error: Option<String>,
}

/// `?group=` to preselect a group (the coverage page's "ask this group").
#[derive(Debug, Default, serde::Deserialize)]
struct RequestsQuery {
    done: Option<String>,
    group: Option<String>,
}

async fn requests_view(
    state: &HttpState,
    session: &Session,
    notice: Option<String>,
    chosen_group: String,
    error: Option<String>,
) -> Result<RequestsPage, PageError> {
    let requests = app::requests::list(&state.app, &session.caller, 100)
        .await?
        .into_iter()
        .map(|r| RequestRow {
            kind: match r.kind {
                crate::store::RequestKind::Request => "request",
                crate::store::RequestKind::Renewal => "renewal",
                crate::store::RequestKind::Adult => "at 18",
            },
            purposes: purpose_list(&r.purposes),
            group: r.group.unwrap_or_default(),
            created: when(r.created_at),
            id: r.id,
        })
        .collect();
    Ok(RequestsPage {
        chrome: Chrome::new("Consent requests", session).with_notice(notice),
        csrf: session.csrf.clone(),
        requests,
        groups: app::requests::groups(&state.app, &session.caller).await?,
        purposes: Purpose::ALL.iter().map(|p| (p.as_str(), words::purpose_words(*p))).collect(),
        chosen_group,
        error,
    })
}

async fn requests_page(
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<RequestsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, app::requests::ASKERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let notice = notice_text(query.done.as_deref());
    let page = requests_view(&state, &session, notice, query.group.unwrap_or_default(), None).await?;
    Ok(render(StatusCode::OK, &page))
}

/// `POST /admin/requests`: a group's families (`group`) or one learner's (`learner_id`, from the
/// learner's page), about the purposes ticked. Refused, the form comes back where it was posted
/// from, with why.
async fn create(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::requests::ASKERS)?;
    let purposes = form.fields.all("purposes").iter().filter_map(|p| p.parse::<Purpose>().ok()).collect();
    let learner = form.fields.text("learner_id");
    let group = form.fields.text("group");
    let new = NewConsentRequest {
        learner_ids: (!learner.is_empty()).then(|| vec![learner.clone()]),
        group: learner.is_empty().then(|| group.clone()),
        purposes,
        form_version: None,
    };
    match app::requests::create(&state.app, &form.session.caller, new).await {
        Ok(created) => Ok(done(&format!("/admin/requests/{}", created.id), "request_sent")),
        Err(e @ (AppError::Invalid { .. } | AppError::NotFound("group") | AppError::UnknownLearners { .. })) => {
            let e = ApiError::from(e);
            if !learner.is_empty() {
                return super::admin::ask_refused(&state, &form.session, &learner, e).await;
            }
            let page = requests_view(&state, &form.session, None, group, Some(e.message)).await?;
            Ok(render(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

struct RecipientRow {
    learner_id: String,
    learner: String,
    to: String,
    status: &'static str,
    reminders: i64,
    answered: String,
}

#[derive(Template)]
#[template(path = "admin_request.html")]
struct RequestPage {
    chrome: Chrome,
    /// What kind of request, as the start of a sentence.
    kind: &'static str,
    purposes: String,
    group: String,
    created: String,
    expires: String,
    form_version: String,
    rows: Vec<RecipientRow>,
    asked: usize,
    answered: usize,
    no_contact: usize,
}

async fn request_page(
    State(state): State<HttpState>,
    session: Session,
    Path(id): Path<String>,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, app::requests::ASKERS)?;
    let Query(notice) = notice.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let detail = app::requests::show(&state.app, &session.caller, &id).await?;
    let count = |s: RecipientStatus| detail.recipients.iter().filter(|r| r.recipient.status == s).count();
    let rows = detail
        .recipients
        .iter()
        .map(|v| RecipientRow {
            learner_id: v.recipient.learner_id.clone(),
            learner: v.learner_name.clone(),
            to: match (v.recipient.to, &v.guardian_name) {
                (RecipientKind::Guardian, Some(name)) => name.clone(),
                (RecipientKind::Guardian, None) => "a guardian".into(),
                (RecipientKind::Learner, _) => "the learner".into(),
            },
            status: match v.recipient.status {
                RecipientStatus::Queued => "waiting for an answer",
                RecipientStatus::Answered => "answered",
                RecipientStatus::NoContact => "no contact: nobody whose answer counts has an email address",
            },
            reminders: v.recipient.reminders_sent,
            answered: v.recipient.answered_at.map(when).unwrap_or_default(),
        })
        .collect();
    let page = RequestPage {
        chrome: Chrome::new("Consent request", &session).with_notice(notice_text(notice.done.as_deref())),
        kind: match detail.request.kind {
            crate::store::RequestKind::Request => "A request",
            crate::store::RequestKind::Renewal => "A renewal request",
            crate::store::RequestKind::Adult => "An 18th-birthday request",
        },
        purposes: purpose_list(&detail.request.purposes),
        group: detail.request.group.clone().unwrap_or_default(),
        created: when(detail.request.created_at),
        expires: when(detail.request.expires_at),
        form_version: detail.request.form_version.clone(),
        asked: count(RecipientStatus::Queued) + count(RecipientStatus::Answered),
        answered: count(RecipientStatus::Answered),
        no_contact: count(RecipientStatus::NoContact),
        rows,
    };
    Ok(render(StatusCode::OK, &page))
}

/// A message as the outbox page shows it; a waiting one as a printable letter.
struct LetterView {
    id: String,
    learner_id: String,
    to_name: String,
    to_address: String,
    subject: String,
    body: String,
    link: Option<String>,
    /// The link as an inline SVG QR code.
    qr: Option<String>,
    error: Option<String>,
    attempts: i64,
    created: String,
}

fn letter(m: OutboxMessage) -> LetterView {
    LetterView {
        qr: m.link.as_deref().and_then(qr_svg),
        id: m.id,
        learner_id: m.learner_id.unwrap_or_default(),
        to_name: m.to_name,
        to_address: m.to_address,
        subject: m.subject,
        body: m.body,
        link: m.link,
        error: m.last_error,
        attempts: m.attempts,
        created: when(m.created_at),
    }
}

/// `link` as an SVG QR code, without the XML declaration so it can sit inside the page, named for
/// screen readers (the link itself is the figure's caption).
fn qr_svg(link: &str) -> Option<String> {
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(160, 160).build();
    let svg = &svg[svg.find("<svg ")?..];
    Some(svg.replacen("<svg ", r#"<svg role="img" aria-label="QR code of the link below" "#, 1))
}

#[derive(Template)]
#[template(path = "admin_outbox.html")]
struct OutboxPage {
    chrome: Chrome,
    csrf: String,
    smtp: bool,
    pending: Vec<LetterView>,
    failed: Vec<LetterView>,
}

async fn outbox_page(
    State(state): State<HttpState>,
    session: Session,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, app::outbox::KEEPERS)?;
    let Query(notice) = notice.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let waiting = app::outbox::waiting(&state.app, &session.caller).await?;
    let page = OutboxPage {
        chrome: Chrome::new("Outbox", &session).with_notice(notice_text(notice.done.as_deref())),
        csrf: session.csrf.clone(),
        smtp: state.app.mailer.is_some(),
        pending: waiting.iter().filter(|m| m.state == MailState::Pending).cloned().map(letter).collect(),
        failed: waiting.into_iter().filter(|m| m.state == MailState::Failed).map(letter).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

async fn posted(State(state): State<HttpState>, Path(id): Path<String>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::outbox::KEEPERS)?;
    app::outbox::mark_posted(&state.app, &form.session.caller, &id).await?;
    Ok(done("/admin/outbox", "letter_posted"))
}

/// `?group=` of the coverage pages; none for everyone.
#[derive(Debug, Default, serde::Deserialize)]
struct GroupQuery {
    group: Option<String>,
}

struct CoverageRow {
    purpose: &'static str,
    cells: Vec<(&'static str, usize)>,
    granted: usize,
    total: usize,
}

#[derive(Template)]
#[template(path = "admin_coverage.html")]
struct CoveragePage {
    chrome: Chrome,
    groups: Vec<(String, i64)>,
    group: String,
    learners: usize,
    rows: Vec<CoverageRow>,
    headings: Vec<&'static str>,
    csv_link: String,
    chase_link: String,
}

fn standing_words(s: Standing) -> &'static str {
    match s {
        Standing::Granted => "Granted",
        Standing::Refused => "Refused or withdrawn",
        Standing::Awaiting => "Awaiting an answer",
        Standing::NeverAsked => "Never asked",
        Standing::NoContact => "No contact",
    }
}

fn group_query(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!("?group={}", url::form_urlencoded::byte_serialize(group.as_bytes()).collect::<String>())
    }
}

async fn coverage_page(
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<GroupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, coverage::READERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let group = query.group.unwrap_or_default();
    let covered = coverage::of_group(&state.app, &session.caller, Some(group.as_str())).await?;
    let rows = covered
        .purposes
        .iter()
        .map(|(purpose, standings)| CoverageRow {
            purpose: words::purpose_words(*purpose),
            cells: Standing::ALL.iter().map(|s| (s.as_str(), standings.get(s).map_or(0, Vec::len))).collect(),
            granted: standings.get(&Standing::Granted).map_or(0, Vec::len),
            total: covered.learners,
        })
        .collect();
    let page = CoveragePage {
        chrome: Chrome::new("Coverage", &session),
        groups: app::requests::groups(&state.app, &session.caller).await?,
        learners: covered.learners,
        rows,
        headings: Standing::ALL.iter().map(|s| standing_words(*s)).collect(),
        csv_link: format!("/admin/coverage.csv{}", group_query(&group)),
        chase_link: format!("/admin/requests{}", group_query(&group)),
        group,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `GET /admin/coverage.csv`: one line per learner and purpose with their standing, ids only.
async fn coverage_csv(
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<GroupQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, coverage::READERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let group = query.group.unwrap_or_default();
    let covered = coverage::of_group(&state.app, &session.caller, Some(group.as_str())).await?;
    let mut csv = String::from("learner_id,purpose,standing\n");
    for (purpose, standings) in &covered.purposes {
        for (standing, ids) in standings {
            for id in ids {
                csv.push_str(&format!("{id},{},{}\n", purpose.as_str(), standing.as_str()));
            }
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"coverage.csv\""),
            (header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "tutor_groups.html")]
struct GroupsPage {
    chrome: Chrome,
    groups: Vec<(String, i64, String)>,
}

async fn groups_page(State(state): State<HttpState>, session: Session) -> Result<Response, PageError> {
    require(&session, coverage::CHECKERS)?;
    let groups = app::requests::groups(&state.app, &session.caller)
        .await?
        .into_iter()
        .map(|(name, count)| {
            // A path segment: percent-encoded (a form's `+` for a space would reach the handler as a `+`).
            let link = format!("/tutor/groups/{}", utf8_percent_encode(&name, NON_ALPHANUMERIC));
            (name, count, link)
        })
        .collect();
    Ok(render(StatusCode::OK, &GroupsPage { chrome: Chrome::new("Groups", &session), groups }))
}

#[derive(Template)]
#[template(path = "tutor_group.html")]
struct GroupPage {
    chrome: Chrome,
    group: String,
    names: Vec<String>,
}

/// `GET /tutor/groups/{group}`: who in the group may not be photographed for any purpose yet, by
/// first name and family initial, never why; printable on one page.
async fn group_page(
    State(state): State<HttpState>,
    session: Session,
    Path(group): Path<String>,
) -> Result<Response, PageError> {
    require(&session, coverage::CHECKERS)?;
    let names = coverage::not_to_photograph(&state.app, &session.caller, &group)
        .await?
        .into_iter()
        .map(|n| {
            if n.initial.is_empty() {
                n.first_name
            } else {
                format!("{} {}.", n.first_name, n.initial.to_uppercase())
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &GroupPage { chrome: Chrome::new(&format!("Before photos: {group}"), &session), group, names },
    ))
}
