//! The safeguarding lead's paper forms: consent form templates (a form's version and words saved
//! once, chosen from a list), and one form recorded for several learners at once, each with who
//! signed it for them. A grant that would not count (a 16-year-old's own, a guardian's for an
//! adult) is said before anything is recorded.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::admin::{day, full_name};
use super::frame::{done, notice_text, render, require, Chrome, Fields, NoticeQuery, PageError, PageForm};
use super::{labels, once, words};
use crate::app::consents::NewConsent;
use crate::app::{self, AppError};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::Purpose;
use crate::store::{FormTemplate, LearnerRecord};

pub(super) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/admin/forms", get(forms_page).post(save_form))
        .route("/admin/forms/{id}/retire", post(retire_form))
        .route("/admin/consents/batch", post(batch_page))
        .route("/admin/consents/batch/record", post(record_batch))
        .route("/admin/consents/batch/{key}", get(batch_recorded))
}

struct TemplateRow {
    id: String,
    name: String,
    form_version: String,
    form_text: String,
    saved: String,
}

#[derive(Template)]
#[template(path = "admin_forms.html")]
struct FormsPage {
    chrome: Chrome,
    csrf: String,
    templates: Vec<TemplateRow>,
    error: Option<String>,
    name: String,
    form_version: String,
    form_text: String,
}

async fn forms_view(
    state: &HttpState,
    session: &Session,
    error: Option<String>,
    typed: Option<&Fields>,
) -> Result<FormsPage, PageError> {
    let zone = state.app.settings.rules.zone;
    let templates = app::forms::list(&state.app, &session.caller, false)
        .await?
        .into_iter()
        .map(|t| TemplateRow {
            saved: day(t.created_at, zone),
            id: t.id,
            name: t.name,
            form_version: t.form_version,
            form_text: t.form_text,
        })
        .collect();
    let field = |name: &str| typed.and_then(|f| f.get(name)).unwrap_or_default().to_string();
    Ok(FormsPage {
        chrome: Chrome::new("Consent forms", session),
        csrf: session.csrf.clone(),
        templates,
        error,
        name: field("name"),
        form_version: field("form_version"),
        form_text: field("form_text"),
    })
}

async fn forms_page(
    State(state): State<HttpState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    require(&session, app::forms::MANAGERS)?;
    let mut page = forms_view(&state, &session, None, None).await?;
    page.chrome = page.chrome.with_notice(notice_text(notice.done.as_deref()));
    Ok(render(StatusCode::OK, &page))
}

async fn save_form(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::forms::MANAGERS)?;
    let new = app::forms::NewTemplate {
        name: form.fields.text("name"),
        form_version: form.fields.text("form_version"),
        form_text: form.fields.get("form_text").unwrap_or_default().to_string(),
    };
    match app::forms::create(&state.app, &form.session.caller, new).await {
        Ok(_) => Ok(done("/admin/forms", "form_saved")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let e = ApiError::from(e);
            let page = forms_view(&state, &form.session, Some(e.message), Some(&form.fields)).await?;
            Ok(render(e.status, &page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn retire_form(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::forms::MANAGERS)?;
    app::forms::retire(&state.app, &form.session.caller, &id).await?;
    Ok(done("/admin/forms", "form_retired"))
}

/// One learner's row of the batch form: who they are, and who may have signed for them.
struct BatchRow {
    id: String,
    name: String,
    /// "16 (born 2010-03-04)", or that the date of birth is unknown.
    age: String,
    /// The "signed by" choices: value and words, the chosen one marked.
    signers: Vec<(String, String, bool)>,
    /// Why their consent was refused, or would not count, when the form came back.
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_batch.html")]
struct BatchPage {
    chrome: Chrome,
    csrf: String,
    rows: Vec<BatchRow>,
    templates: Vec<FormTemplate>,
    purposes: Vec<(&'static str, &'static str)>,
    /// What was wrong with the form as a whole.
    error: Option<String>,
    /// Whether some rows' grants would not count: the form offers to record them anyway.
    ask_anyway: bool,
    typed: Typed,
}

/// What the shared fields held when the form came back.
#[derive(Default)]
struct Typed {
    kind: String,
    purposes: Vec<String>,
    template_id: String,
    given_on: String,
    expires_on: String,
    method: String,
    evidence: String,
}

impl Typed {
    fn of(fields: &Fields) -> Typed {
        Typed {
            kind: fields.text("kind"),
            purposes: fields.all("purposes").into_iter().map(String::from).collect(),
            template_id: fields.text("template_id"),
            given_on: fields.text("given_on"),
            expires_on: fields.text("expires_on"),
            method: fields.text("method"),
            evidence: fields.text("evidence"),
        }
    }
    fn purpose(&self, purpose: &str) -> bool {
        self.purposes.iter().any(|p| p == purpose)
    }
    fn method_is(&self, method: &str) -> bool {
        self.method == method || (self.method.is_empty() && method == "paper_form")
    }
}

/// The learners chosen, in the order ticked, each once; ids that are not learners are refused.
async fn chosen_learners(
    state: &HttpState,
    session: &Session,
    fields: &Fields,
) -> Result<Vec<LearnerRecord>, PageError> {
    let mut ids: Vec<&str> = fields.all("learner_ids");
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    if ids.len() > app::consents::MAX_BATCH {
        return Err(ApiError::bad_form(format!("at most {} learners at once", app::consents::MAX_BATCH)).into());
    }
    let mut learners = Vec::with_capacity(ids.len());
    for id in ids {
        learners.push(app::learners::show_live(&state.app, &session.caller, id).await?);
    }
    Ok(learners)
}

fn age_words(learner: &LearnerRecord, state: &HttpState) -> String {
    let (now, zone) = (time::OffsetDateTime::now_utc(), state.app.settings.rules.zone);
    let Some(dob) = learner.date_of_birth.as_deref() else {
        return "date of birth unknown: counts as under 18".to_string();
    };
    let minor = words::is_minor(Some(dob), now, zone);
    format!("born {dob}{}", if minor { ", under 18" } else { ", 18 or over" })
}

async fn batch_view(
    state: &HttpState,
    session: &Session,
    learners: &[LearnerRecord],
    fields: Option<&Fields>,
) -> Result<BatchPage, PageError> {
    let (now, zone) = (time::OffsetDateTime::now_utc(), state.app.settings.rules.zone);
    let rows = learners
        .iter()
        .map(|l| {
            let chosen = fields.map(|f| f.text(&signer_field(&l.id)));
            // Who signs by default: a guardian while the learner is under 18, else the learner.
            let minor = words::is_minor(l.date_of_birth.as_deref(), now, zone);
            let default_signer = match l.current_guardians().next() {
                Some(g) if minor => format!("guardian:{}", g.id),
                _ => "learner".to_string(),
            };
            let chosen = chosen.filter(|c| !c.is_empty()).unwrap_or(default_signer);
            let mut signers: Vec<(String, String, bool)> = l
                .current_guardians()
                .map(|g| {
                    let value = format!("guardian:{}", g.id);
                    let picked = chosen == value;
                    (value, format!("{} (guardian)", g.name), picked)
                })
                .collect();
            signers.push(("learner".into(), format!("{} (the learner)", labels::first_name(l)), chosen == "learner"));
            BatchRow { id: l.id.clone(), name: full_name(l), age: age_words(l, state), signers, problem: None }
        })
        .collect();
    Ok(BatchPage {
        chrome: Chrome::new("Record one form for several learners", session),
        csrf: session.csrf.clone(),
        rows,
        templates: app::forms::list(&state.app, &session.caller, false).await?,
        purposes: Purpose::ALL.iter().map(|p| (p.as_str(), words::purpose_words(*p))).collect(),
        error: None,
        ask_anyway: false,
        typed: fields.map(Typed::of).unwrap_or_default(),
    })
}

/// The field naming who signed for a learner.
fn signer_field(learner_id: &str) -> String {
    format!("given_by_{learner_id}")
}

/// `POST /admin/consents/batch`: the learners ticked in the list, and the form to record for them.
async fn batch_page(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let learners = chosen_learners(&state, &form.session, &form.fields).await?;
    if learners.is_empty() {
        return Err(ApiError::bad_form("tick at least one learner in the list first").into());
    }
    let page = batch_view(&state, &form.session, &learners, None).await?;
    Ok(render(StatusCode::OK, &page))
}

/// The consent for one learner from the shared fields and who signed for them: the single form's
/// reading, with a saved form required (a stack of paper forms is always one of them).
fn consent_for(fields: &Fields, learner_id: &str, zone: crate::policy::zone::Zone) -> Result<NewConsent, AppError> {
    let body = super::admin::consent_body(fields, zone, &signer_field(learner_id))?;
    if body.template_id.is_none() {
        return Err(AppError::invalid_field("template_id", "choose the form they signed from the saved forms"));
    }
    Ok(body)
}

/// `POST /admin/consents/batch/record`: every learner's consent checked, then all recorded, or
/// the form back with what was wrong for whom and nothing recorded.
async fn record_batch(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::learners::MANAGERS)?;
    let learners = chosen_learners(&state, &form.session, &form.fields).await?;
    let zone = state.app.settings.rules.zone;
    let mut entries = Vec::with_capacity(learners.len());
    let mut shared_error = None;
    for learner in &learners {
        match consent_for(&form.fields, &learner.id, zone) {
            Ok(body) => entries.push((learner.id.clone(), body)),
            Err(e) => {
                shared_error = Some(ApiError::from(e).message);
                break;
            }
        }
    }
    let refused = match shared_error {
        Some(message) => vec![(String::new(), AppError::invalid(message))],
        None => match app::consents::record_many(&state.app, &form.session.caller, entries).await {
            Ok(recorded) => {
                let lines = recorded
                    .into_iter()
                    .map(|r| {
                        let name =
                            learners.iter().find(|l| l.id == r.event.learner_id).map_or_else(String::new, full_name);
                        once::BatchLine {
                            learner_id: r.event.learner_id.clone(),
                            name,
                            withdraw_url: r.withdraw_url,
                            statuses_changed: r.changes.len(),
                        }
                    })
                    .collect();
                let key = uuid::Uuid::now_v7().to_string();
                once::put(&form.session.id_hash, &format!("batch:{key}"), once::Result::Batch(lines));
                // POST/redirect/GET: a refresh of the result must not record anything again.
                return Ok(Redirect::to(&format!("/admin/consents/batch/{key}")).into_response());
            }
            Err(refused) => refused,
        },
    };
    let mut page = batch_view(&state, &form.session, &learners, Some(&form.fields)).await?;
    let mut status = StatusCode::UNPROCESSABLE_ENTITY;
    for (learner_id, e) in refused {
        let learner = learners.iter().find(|l| l.id == learner_id);
        let problem = match e {
            AppError::WillNotCount(why) => {
                page.ask_anyway = true;
                status = StatusCode::CONFLICT;
                format!("would not count: {}", why.words(learner.map_or("this learner", |l| labels::first_name(l))))
            }
            other => {
                let e = ApiError::from(other);
                status = e.status;
                e.message
            }
        };
        match page.rows.iter_mut().find(|r| r.id == learner_id) {
            Some(row) => row.problem = Some(problem),
            None => page.error = Some(problem),
        }
    }
    Ok(render(status, &page))
}

#[derive(Template)]
#[template(path = "admin_batch_recorded.html")]
struct BatchRecordedPage {
    chrome: Chrome,
    shown: bool,
    lines: Vec<once::BatchLine>,
}

/// `GET /admin/consents/batch/{key}`: what was recorded and each grant's withdrawal link, once.
async fn batch_recorded(session: Session, Path(key): Path<String>) -> Result<Response, PageError> {
    require(&session, app::learners::MANAGERS)?;
    let lines = match once::take(&session.id_hash, &format!("batch:{key}")) {
        Some(once::Result::Batch(lines)) => Some(lines),
        _ => None,
    };
    let page = BatchRecordedPage {
        chrome: Chrome::new("Consent recorded", &session),
        shown: lines.is_some(),
        lines: lines.unwrap_or_default(),
    };
    Ok(render(StatusCode::OK, &page))
}
