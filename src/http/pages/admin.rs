//! The safeguarding lead's pages: learners and search, a learner's consent history with the
//! decision per purpose now, the form to record consent (its withdrawal link shown once), the
//! photos on hold with their reasons. Searches are posted, never put in an
//! address, so no learner's name reaches a log or a browser's history.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::frame::{done, notice_text, render, require, Chrome, Fields, NoticeQuery, PageError, PageForm};
use super::once;
use super::words::{self, Line};
use crate::app::consents::{History, NewConsent};
use crate::app::{self, input, AppError};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::consent::{Decision, EventKind, Giver};
use crate::policy::zone::Zone;
use crate::policy::Purpose;
use crate::store::{time_of_ms, LearnerRecord};

pub(super) fn routes() -> axum::Router<HttpState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/learners") }))
        .route("/admin/learners/{id}", get(learner_page))
        .route("/admin/learners/{id}/consents", post(record_consent))
        .route("/admin/learners/{id}/recorded", get(recorded_page))
        .route("/admin/learners/{id}/consents/{event_id}/withdrawal-link", post(reissue_link))
        .route("/admin/learners/{id}/new-link", get(new_link_page))
        .route("/admin/learners/{id}/details", post(correct_details))
        .route("/admin/learners/{id}/erase", post(erase_learner))
        .route("/admin/learners/{id}/guardians", post(add_guardian))
        .route("/admin/learners/{id}/guardians/{guardian_id}", post(correct_guardian))
        .route("/admin/learners/{id}/guardians/{guardian_id}/remove", post(remove_guardian))
        .route("/admin/held", get(held_page))
}

pub(super) fn full_name(l: &LearnerRecord) -> String {
    match l.preferred_name.as_deref().filter(|p| !p.trim().is_empty() && *p != l.given_name) {
        Some(preferred) => format!("{} ({preferred}) {}", l.given_name, l.family_name),
        None => format!("{} {}", l.given_name, l.family_name),
    }
}

/// The day of `ms` in the organisation's `zone`: a consent given "on 1 July" (its start there)
/// shows as 1 July, not as the UTC day before.
pub(super) fn day(ms: i64, zone: Zone) -> String {
    let format = time::macros::format_description!("[day] [month repr:short] [year]");
    zone.local(time_of_ms(ms)).format(&format).unwrap_or_default()
}

struct DecisionRow {
    purpose: &'static str,
    allowed: bool,
    why: String,
}

struct EventRow {
    id: String,
    /// Whether the page offers a new withdrawal link for it (a grant still standing).
    reissuable: bool,
    kind: String,
    purposes: String,
    given_by: String,
    given_at: String,
    expires: String,
    form_version: String,
    method: String,
    evidence: String,
}

struct GuardianRow {
    id: String,
    name: String,
    email: String,
    /// The day an admin removed them, if they were.
    removed: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_learner.html")]
struct LearnerPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    name: String,
    /// The name they go by, for sentences about them.
    first_name: String,
    date_of_birth: String,
    external_ref: String,
    /// The learner's own email address ("" when none).
    learner_email: String,
    /// Their groups, sorted.
    groups: Vec<String>,
    /// Their leaving day (`YYYY-MM-DD`, "" when they have not left).
    left_on: String,
    /// When their personal data was erased, when it was.
    erased: Option<String>,
    guardians: Vec<GuardianRow>,
    decisions: Vec<DecisionRow>,
    events: Vec<EventRow>,
    purposes: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    entered: Entered,
    /// The saved consent forms to choose from: id, and name with version.
    templates: Vec<(String, String)>,
    /// Why the grant just sent would not count, naming the learner: the form comes back asking
    /// whether to record it anyway.
    not_counting: Option<String>,
    /// Their photos, where each went out and the takedowns owed, newest first.
    timeline: Vec<TimelineRow>,
}

/// One line of the learner's timeline: when, what, and whether a takedown is still open.
struct TimelineRow {
    day: String,
    what: String,
    /// Where it went out, a link when it is a URL.
    url: String,
    photo_id: String,
    open_takedown: bool,
}

fn timeline_row(entry: app::timeline::TimelineEntry, zone: crate::policy::zone::Zone) -> TimelineRow {
    use app::timeline::Happened;
    let (what, url, open_takedown) = match entry.happened {
        Happened::Uploaded { caption } if caption.is_empty() => ("Photo uploaded".to_string(), String::new(), false),
        Happened::Uploaded { caption } => (format!("Photo uploaded: \u{201c}{caption}\u{201d}"), String::new(), false),
        Happened::Published { purpose, url, channel } => {
            (format!("Published on {channel} ({})", words::purpose_words(purpose)), url, false)
        }
        Happened::TakedownOwed { url, channel, done_at: Some(done) } => {
            (format!("Takedown from {channel}: confirmed down on {}", day(done, zone)), url, false)
        }
        Happened::TakedownOwed { url, channel, done_at: None } => {
            (format!("Takedown from {channel}: still owed"), url, true)
        }
        Happened::ImageDeleted => ("Image deleted".to_string(), String::new(), false),
    };
    TimelineRow { day: day(entry.at, zone), what, url, photo_id: entry.photo_id, open_takedown }
}

/// What the consent form held when it was sent back with an error, so that nothing typed is lost.
#[derive(Debug, Default)]
struct Entered {
    kind: String,
    purposes: Vec<String>,
    given_by: String,
    given_on: String,
    expires_on: String,
    form_version: String,
    form_text: String,
    method: String,
    evidence: String,
    template_id: String,
    /// The email and groups form's values, when it was that form that came back.
    learner_email: Option<String>,
    groups: Option<String>,
}

impl Entered {
    fn of(fields: &Fields) -> Entered {
        Entered {
            learner_email: fields.get("learner_email").map(str::to_string),
            groups: fields.get("groups").map(str::to_string),
            kind: fields.text("kind"),
            purposes: fields.all("purposes").into_iter().map(String::from).collect(),
            given_by: fields.text("given_by"),
            given_on: fields.text("given_on"),
            expires_on: fields.text("expires_on"),
            form_version: fields.text("form_version"),
            form_text: fields.get("form_text").unwrap_or_default().to_string(),
            method: fields.text("method"),
            evidence: fields.text("evidence"),
            template_id: fields.text("template_id"),
        }
    }
    /// Whether the saved form chosen was `id` ("" for a form typed in).
    fn template_is(&self, id: &str) -> bool {
        self.template_id == id
    }
    /// Whether `purpose` was ticked.
    fn purpose(&self, purpose: impl AsRef<str>) -> bool {
        self.purposes.iter().any(|p| p == purpose.as_ref())
    }
    /// Whether the "given by" choice was `value`.
    fn given_by_is(&self, value: impl AsRef<str>) -> bool {
        self.given_by == value.as_ref()
    }
    /// Whether the method chosen was `value`.
    fn method_is(&self, value: &str) -> bool {
        self.method == value
    }
}

impl LearnerPage {
    /// What the email field holds: what was typed, when the form came back refused.
    fn learner_email_value(&self) -> &str {
        self.entered.learner_email.as_deref().unwrap_or(&self.learner_email)
    }
    /// What the groups field holds: what was typed when refused, else the groups on record.
    fn groups_value(&self) -> String {
        self.entered.groups.clone().unwrap_or_else(|| self.groups.join("; "))
    }
}

async fn learner_view(
    state: &HttpState,
    session: &Session,
    id: &str,
    error: Option<String>,
) -> Result<LearnerPage, PageError> {
    let history = app::consents::history(&state.app, &session.caller, id).await?;
    let reissuable: Vec<bool> = history.events.iter().map(|e| history.link_reissuable(e)).collect();
    let History { learner, events, decisions } = history;
    let guardian_names: HashMap<&str, String> = learner
        .guardians
        .iter()
        .map(|g| {
            let name = if g.removed_at.is_some() { format!("{} (removed)", g.name) } else { g.name.clone() };
            (g.id.as_str(), name)
        })
        .collect();
    let decisions = decisions
        .into_iter()
        .map(|(purpose, decision)| DecisionRow {
            purpose: words::purpose_words(purpose),
            allowed: matches!(decision, Decision::Allow { .. }),
            why: match decision {
                Decision::Allow { .. } => "consent holds".to_string(),
                Decision::Deny { reasons } => {
                    reasons.iter().map(|r| words::deny_words(*r)).collect::<Vec<_>>().join("; ")
                }
            },
        })
        .collect();
    let events = events
        .into_iter()
        .zip(reissuable)
        .rev()
        .map(|(e, reissuable)| EventRow {
            id: e.id.clone(),
            reissuable,
            kind: match e.kind {
                EventKind::Granted => "granted",
                EventKind::Refused => "refused",
                EventKind::Withdrawn => "withdrawn",
            }
            .to_string(),
            purposes: words::and_list(
                &e.purposes.iter().map(|p| words::purpose_words(*p).to_string()).collect::<Vec<_>>(),
            ),
            given_by: match &e.giver {
                Giver::Guardian(g) => {
                    format!("guardian: {}", guardian_names.get(g.as_str()).map_or("(unknown)", String::as_str))
                }
                Giver::Learner => "the learner".to_string(),
            },
            given_at: day(e.given_at, state.app.settings.rules.zone),
            expires: e.expires_at.map(|t| day(t, state.app.settings.rules.zone)).unwrap_or_else(|| "no expiry".into()),
            form_version: e.form_version,
            method: e.method.replace('_', " "),
            evidence: e.evidence,
        })
        .collect();
    let name = if learner.erased_at.is_some() { "Erased learner".to_string() } else { full_name(&learner) };
    Ok(LearnerPage {
        chrome: Chrome::new(&name, session),
        csrf: session.csrf.clone(),
        id: learner.id.clone(),
        first_name: super::labels::first_name(&learner).to_string(),
        name,
        left_on: learner.left_on.clone().unwrap_or_default(),
        erased: learner.erased_at.map(|t| day(t, state.app.settings.rules.zone)),
        date_of_birth: learner.date_of_birth.clone().unwrap_or_else(|| "unknown (treated as under 18)".into()),
        external_ref: learner.external_ref.clone().unwrap_or_default(),
        learner_email: learner.email.clone().unwrap_or_default(),
        groups: learner.groups.clone(),
        guardians: learner
            .guardians
            .iter()
            .map(|g| GuardianRow {
                id: g.id.clone(),
                name: g.name.clone(),
                email: g.email.clone().unwrap_or_default(),
                removed: g.removed_at.map(|t| day(t, state.app.settings.rules.zone)),
            })
            .collect(),
        decisions,
        events,
        purposes: Purpose::ALL.iter().map(|p| (p.as_str(), words::purpose_words(*p))).collect(),
        error,
        entered: Entered::default(),
        templates: app::forms::list(&state.app, &session.caller, false)
            .await?
            .into_iter()
            .map(|t| (t.id, format!("{} (version {})", t.name, t.form_version)))
            .collect(),
        not_counting: None,
        timeline: app::timeline::of_learner(&state.app, &session.caller, id)
            .await?
            .into_iter()
            .map(|e| timeline_row(e, state.app.settings.rules.zone))
            .collect(),
    })
}

async fn learner_page(
    State(state): State<HttpState>,
    session: Session,
    Path(id): Path<String>,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, app::learners::MANAGERS)?;
    let Query(notice) = notice.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let mut page = learner_view(&state, &session, &id, None).await?;
    page.chrome = page.chrome.with_notice(notice_text(notice.done.as_deref()));
    Ok(render(StatusCode::OK, &page))
}

/// The guardian form's email: empty means none.
fn form_email(fields: &Fields) -> Option<String> {
    Some(fields.text("email")).filter(|e| !e.is_empty())
}

/// After a change on the learner's page (their details, a guardian): the page with a notice, or
/// again with the error.
async fn guardian_changed<T>(
    state: &HttpState,
    form: &PageForm,
    id: &str,
    result: Result<T, AppError>,
    notice: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(_) => Ok(done(&format!("/admin/learners/{id}"), notice)),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => refused(state, form, id, e.into()).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/learners/{id}/details`: set the learner's own email and their groups (`;` between
/// groups, as in the MIS file). Both are sent; the use case writes only what differs.
async fn correct_details(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let correction = app::learners::LearnerCorrection {
        email: Some(Some(form.fields.text("learner_email")).filter(|e| !e.is_empty())),
        groups: Some(form.fields.text("groups").split(';').map(str::to_string).collect()),
        left_on: Some(Some(form.fields.text("left_on").trim().to_string()).filter(|d| !d.is_empty())),
        ..Default::default()
    };
    let corrected = app::learners::correct(&state.app, &form.session.caller, &id, correction).await;
    guardian_changed(&state, &form, &id, corrected, "learner_details_saved").await
}

/// `POST /admin/learners/{id}/erase`: erase the learner's personal data, once the box saying it
/// cannot be undone is ticked.
async fn erase_learner(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::erasure::ERASERS)?;
    if form.fields.text("confirm") != "yes" {
        let refused_for =
            AppError::invalid_field("confirm", "tick the box to confirm the erasure: it cannot be undone");
        return refused(&state, &form, &id, refused_for.into()).await;
    }
    let erased = app::erasure::erase(&state.app, &form.session.caller, &id, &form.fields.text("reason")).await;
    guardian_changed(&state, &form, &id, erased, "learner_erased").await
}

/// `POST /admin/learners/{id}/guardians`: add a guardian.
async fn add_guardian(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let email = form_email(&form.fields);
    let name = form.fields.text("name");
    let added = app::learners::add_guardian(&state.app, &form.session.caller, &id, &name, email.as_deref()).await;
    guardian_changed(&state, &form, &id, added, "guardian_added").await
}

/// `POST /admin/learners/{id}/guardians/{guardian_id}`: correct a guardian's name and email.
async fn correct_guardian(
    State(state): State<HttpState>,
    Path((id, guardian_id)): Path<(String, String)>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let correction = app::learners::GuardianCorrection {
        name: Some(form.fields.text("name")),
        email: Some(form_email(&form.fields)),
    };
    let corrected =
        app::learners::correct_guardian(&state.app, &form.session.caller, &id, &guardian_id, correction).await;
    guardian_changed(&state, &form, &id, corrected, "guardian_corrected").await
}

/// `POST /admin/learners/{id}/guardians/{guardian_id}/remove`: remove a guardian.
async fn remove_guardian(
    State(state): State<HttpState>,
    Path((id, guardian_id)): Path<(String, String)>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let removed = app::learners::remove_guardian(&state.app, &form.session.caller, &id, &guardian_id).await;
    guardian_changed(&state, &form, &id, removed, "guardian_removed").await
}

/// `POST /admin/learners/{id}/consents/{event_id}/withdrawal-link`: a new withdrawal link for a
/// grant, shown once on the page the browser is redirected to (never in an address).
async fn reissue_link(
    State(state): State<HttpState>,
    Path((id, event_id)): Path<(String, String)>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    match app::consents::reissue_link(&state.app, &form.session.caller, &id, &event_id).await {
        Ok(link) => {
            let learner_id = input::path_id(&id, "learner")?;
            once::put(
                &form.session.id_hash,
                &once::learner_key(&learner_id, true),
                once::Result::One(once::Recorded { withdraw_url: Some(link.withdraw_url), statuses_changed: 0 }),
            );
            Ok(Redirect::to(&format!("/admin/learners/{learner_id}/new-link")).into_response())
        }
        Err(e @ AppError::Conflict { .. }) => refused(&state, &form, &id, e.into()).await,
        Err(e) => Err(e.into()),
    }
}

/// `GET /admin/learners/{id}/new-link`: a re-issued withdrawal link, once.
async fn new_link_page(session: Session, Path(id): Path<String>) -> Result<Response, PageError> {
    result_page(session, &id, true)
}

/// The consent form's fields as the use case takes them, so its checks apply unchanged. A value
/// that names no kind or purpose is left for those checks to explain. `signer_field` names the
/// field saying who gave it (`given_by`, or one learner's line of the batch form).
pub(super) fn consent_body(fields: &Fields, zone: Zone, signer_field: &str) -> Result<NewConsent, AppError> {
    let given_by = fields.text(signer_field);
    let (given_by, guardian_id) = match given_by.strip_prefix("guardian:") {
        Some(id) => ("guardian".to_string(), Some(id.to_string())),
        None => (given_by, None),
    };
    let kind = match fields.text("kind").as_str() {
        "granted" => Some(EventKind::Granted),
        "refused" => Some(EventKind::Refused),
        "withdrawn" => Some(EventKind::Withdrawn),
        _ => None,
    };
    let purposes = fields
        .all("purposes")
        .into_iter()
        .map(|p| p.parse::<Purpose>().map_err(|e| AppError::invalid_field("purposes", e)))
        .collect::<Result<Vec<_>, _>>()?;
    // The form has a date alone. Today means now (omitted, the use case takes the current time):
    // midnight would date a no phoned in this afternoon before a grant recorded this morning. An
    // earlier day means that day's start, in the organisation's zone (the use case reads a date
    // alone that way).
    let given_on = fields.text("given_on");
    let today = zone.date_of(time::OffsetDateTime::now_utc()).to_string();
    let given_at = (!given_on.is_empty() && given_on != today).then_some(given_on);
    let expires = fields.text("expires_on");
    // A saved form chosen and a version or text typed as well is refused by the use case, never
    // silently dropped: the admin says which form was signed.
    let template_id = Some(fields.text("template_id")).filter(|t| !t.is_empty());
    let form_text = fields.get("form_text").unwrap_or_default();
    Ok(NewConsent {
        kind,
        purposes,
        given_by,
        guardian_id,
        given_at,
        expires_at: (!expires.is_empty()).then_some(expires),
        form_version: fields.text("form_version"),
        form_text: (!form_text.trim().is_empty()).then(|| form_text.to_string()),
        form_text_hash: None,
        method: fields.text("method"),
        evidence: fields.text("evidence"),
        template_id,
        // A grant that would not count is said first; ticking "record it anyway" records it.
        ask_first: fields.get("record_anyway").is_none(),
    })
}

#[derive(Template)]
#[template(path = "admin_consent_recorded.html")]
struct RecordedPage {
    chrome: Chrome,
    learner_id: String,
    /// Whether this shows a re-issued link rather than a recorded consent.
    reissued: bool,
    /// Whether this is the first showing (the result was still waiting).
    shown: bool,
    withdraw_url: Option<String>,
    statuses_changed: usize,
}

async fn record_consent(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let recorded = match consent_body(&form.fields, state.app.settings.rules.zone, "given_by") {
        Ok(body) => app::consents::record(&state.app, &form.session.caller, &id, body).await,
        Err(e) => Err(e),
    };
    match recorded {
        Ok(recorded) => {
            let learner_id = recorded.event.learner_id.clone();
            once::put(
                &form.session.id_hash,
                &once::learner_key(&learner_id, false),
                once::Result::One(once::Recorded {
                    withdraw_url: recorded.withdraw_url,
                    statuses_changed: recorded.changes.len(),
                }),
            );
            // POST/redirect/GET: a refresh of the result must not record the consent again.
            Ok(Redirect::to(&format!("/admin/learners/{learner_id}/recorded")).into_response())
        }
        // A grant that would not count: said first, with the form as typed and a box to record
        // it anyway.
        Err(AppError::WillNotCount(why)) => {
            let mut page = learner_view(&state, &form.session, &id, None).await?;
            page.entered = Entered::of(&form.fields);
            page.not_counting = Some(why.words(&page.first_name));
            Ok(render(StatusCode::CONFLICT, &page))
        }
        // What the admin typed: the form again, with what was wrong.
        Err(e @ (AppError::Invalid { .. } | AppError::NotAGuardian | AppError::Conflict { .. })) => {
            refused(&state, &form, &id, e.into()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The learner's page again with `e`, after asking their family from it was refused (a purpose
/// missing, say): the admin stays where they were, and nothing was sent.
pub(super) async fn ask_refused(
    state: &HttpState,
    session: &Session,
    id: &str,
    e: ApiError,
) -> Result<Response, PageError> {
    let page = learner_view(state, session, id, Some(e.message)).await?;
    Ok(render(e.status, &page))
}

/// The learner's page again with the error, and the form holding what was typed, so a mistake
/// costs one correction rather than filling everything in again.
async fn refused(state: &HttpState, form: &PageForm, id: &str, e: ApiError) -> Result<Response, PageError> {
    let mut page = learner_view(state, &form.session, id, Some(e.message)).await?;
    page.entered = Entered::of(&form.fields);
    Ok(render(e.status, &page))
}

/// `GET /admin/learners/{id}/recorded`: what recording consent did, and its withdrawal link, once.
/// A refresh (or another tab) finds the link gone and says so, rather than recording anything.
async fn recorded_page(session: Session, Path(id): Path<String>) -> Result<Response, PageError> {
    result_page(session, &id, false)
}

/// The page after a consent form or a re-issue: what it did and the link, once.
fn result_page(session: Session, id: &str, reissued: bool) -> Result<Response, PageError> {
    require(&session, app::learners::MANAGERS)?;
    let learner_id = input::path_id(id, "learner")?;
    let recorded = match once::take(&session.id_hash, &once::learner_key(&learner_id, reissued)) {
        Some(once::Result::One(recorded)) => Some(recorded),
        _ => None,
    };
    let title = if reissued { "New withdrawal link" } else { "Consent recorded" };
    let page = RecordedPage {
        chrome: Chrome::new(title, &session),
        reissued,
        learner_id,
        shown: recorded.is_some(),
        statuses_changed: recorded.as_ref().map_or(0, |r| r.statuses_changed),
        withdraw_url: recorded.and_then(|r| r.withdraw_url),
    };
    Ok(render(StatusCode::OK, &page))
}

struct HeldRow {
    id: String,
    caption: String,
    alt_text: String,
    uploaded: String,
    image_deleted: bool,
    pictured: Vec<(String, String)>,
    lines: Vec<Line>,
    can_delete: bool,
}

#[derive(Template)]
#[template(path = "admin_held.html")]
struct HeldPage {
    chrome: Chrome,
    photos: Vec<HeldRow>,
}

async fn held_page(
    State(state): State<HttpState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    require(&session, app::photos::REVIEWERS)?;
    let photos = app::photos::held(&state.app, &session.caller, 100).await?;
    // Each learner's full name, and whether they count as a child (for who must consent).
    let mentioned = photos.iter().flat_map(|photo| {
        let in_status = photo.status.values().flat_map(|s| s.learners.iter().map(|l| l.learner_id.clone()));
        photo.learner_ids.iter().cloned().chain(in_status)
    });
    let (today, zone) = (time::OffsetDateTime::now_utc(), state.app.settings.rules.zone);
    let names: HashMap<String, (String, bool)> =
        app::learners::pictured(&state.app, &session.caller, mentioned.collect::<Vec<_>>())
            .await?
            .into_iter()
            .map(|(id, l)| (id, (full_name(&l), words::is_minor(l.date_of_birth.as_deref(), today, zone))))
            .collect();
    let mut rows = Vec::with_capacity(photos.len());
    for photo in photos {
        let name_of = |id: &str| names.get(id).map_or_else(|| "a learner".into(), |(name, _)| name.clone());
        let is_minor = |id: &str| names.get(id).is_none_or(|(_, minor)| *minor);
        rows.push(HeldRow {
            can_delete: super::photo_edit::deletable(&photo),
            lines: words::describe(&photo.status, &name_of, &is_minor),
            pictured: photo.learner_ids.iter().map(|id| (id.clone(), name_of(id))).collect(),
            id: photo.id,
            caption: photo.caption,
            alt_text: photo.alt_text,
            uploaded: day(photo.created_at, zone),
            image_deleted: photo.image_deleted_at.is_some(),
        });
    }
    let chrome = Chrome::new("Photos on hold", &session).with_notice(notice_text(notice.done.as_deref()));
    Ok(render(StatusCode::OK, &HeldPage { chrome, photos: rows }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given_at_sent(given_on: &str) -> Option<String> {
        let form = format!(
            "kind=withdrawn&purposes=website&given_by=learner&form_version=v1&method=in_person&evidence=call&\
             form_text=x&given_on={given_on}"
        );
        consent_body(&Fields::parse(form.as_bytes()), Zone::default(), "given_by").unwrap().given_at
    }

    #[test]
    fn a_consent_given_today_is_dated_now_and_an_earlier_day_at_its_start() {
        let today = Zone::default().date_of(time::OffsetDateTime::now_utc());
        assert_eq!(given_at_sent(&today.to_string()), None, "today: the API takes the current time");
        let yesterday = today.previous_day().unwrap();
        // The date alone: the use case starts it at midnight in the organisation's zone.
        assert_eq!(given_at_sent(&yesterday.to_string()), Some(yesterday.to_string()));
        assert_eq!(given_at_sent(""), None);
    }
}
