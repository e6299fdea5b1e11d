//! Consent requests: an admin asks the families of some learners (or of a group) about some
//! purposes, and each person whose answer counts gets their own link to the online form. The same
//! making of a request serves the maintenance loop's renewals and 18th-birthday requests.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::letters::{self, About, Ask, Sender};
use super::{consents, input, Actor, App, AppError};
use crate::policy::consent;
use crate::policy::Purpose;
use crate::store::{
    ms_of_time, AuditAction, AuditDraft, LearnerRecord, MailKind, NewRequest, OutboxMessage, RecipientKind,
    RecipientRecord, RecipientStatus, RecipientView, RequestCreated, RequestKind, RequestRecord, Role,
};
use crate::tokens;

/// Who may ask families for consent: safeguarding leads.
pub const ASKERS: &[Role] = &[Role::Admin];
/// Most learners one request may name by id (a group may be larger: it is on record already).
pub const MAX_LEARNER_IDS: usize = 5_000;
/// Longest form version.
pub const MAX_FORM_VERSION: usize = 100;

/// A request as an admin makes it, before any check.
#[derive(Debug, Clone, Default)]
pub struct NewConsentRequest {
    /// The learners to ask about (or `group`).
    pub learner_ids: Option<Vec<String>>,
    /// The group whose learners to ask about (or `learner_ids`).
    pub group: Option<String>,
    /// The purposes asked about.
    pub purposes: Vec<Purpose>,
    /// The form's version, recorded with every answer; by default one named after the words' hash.
    pub form_version: Option<String>,
}

/// What happened for one person a request was meant for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientOutcome {
    /// The learner.
    pub learner_id: String,
    /// A guardian or the learner.
    pub to: RecipientKind,
    /// `queued`, or `no_contact` when nobody whose answer counts has an address.
    pub status: RecipientStatus,
}

/// A request made.
#[derive(Debug, Clone)]
pub struct CreatedRequest {
    /// Its id.
    pub id: String,
    /// One entry per message queued, and one per learner nobody could be asked for.
    pub recipients: Vec<RecipientOutcome>,
}

/// The organisation as messages and the form name it.
pub(super) fn sender(app: &App) -> Sender {
    Sender::of(&app.settings)
}

/// Someone a request can be sent to: the guardian's id (none for the learner), name and address.
pub(super) type Contact = (Option<String>, String, String);

/// The people whose answer counts for `learner` at `at` and who can be written to: while the
/// learner is under 18 (or their date of birth is unknown) every current guardian with an address,
/// from 18 the learner if they have one. Returns whom the rule names, and `(guardian id, name,
/// address)` of each who can be asked.
pub(super) fn addressees(
    app: &App,
    learner: &LearnerRecord,
    at: OffsetDateTime,
) -> Result<(RecipientKind, Vec<Contact>), AppError> {
    let facts = consents::facts(learner)?;
    if consent::is_adult(&facts, at, app.settings.rules.zone) {
        let name = format!("{} {}", learner.given_name, learner.family_name);
        let to = learner.email.iter().map(|email| (None, name.clone(), email.clone())).collect();
        return Ok((RecipientKind::Learner, to));
    }
    let to = learner
        .current_guardians()
        .filter_map(|g| g.email.as_ref().map(|email| (Some(g.id.clone()), g.name.clone(), email.clone())))
        .collect();
    Ok((RecipientKind::Guardian, to))
}

/// The name the learner goes by.
pub(super) fn first_name(learner: &LearnerRecord) -> &str {
    learner.preferred_name.as_deref().unwrap_or(&learner.given_name)
}

/// What makes a request besides its learners: why, about what, by whom.
pub(super) struct Asking {
    pub kind: RequestKind,
    pub purposes: Vec<Purpose>,
    pub group: Option<String>,
    pub form_version: Option<String>,
    pub created_by: String,
    pub renews: Option<(String, i64)>,
    pub adult_learner_id: Option<String>,
}

/// Builds a request for `learners` at `now`: a recipient, a link and a message for each person the
/// age rule names who has an address, and a `no_contact` row for each learner without one.
pub(super) fn build(
    app: &App,
    asking: Asking,
    learners: &[LearnerRecord],
    now: OffsetDateTime,
) -> Result<(NewRequest, Vec<RecipientOutcome>), AppError> {
    let now_ms = ms_of_time(now);
    let zone = app.settings.rules.zone;
    let wording = app.settings.consent_form.only(&asking.purposes);
    let form_text = wording.canonical();
    let form_text_hash = wording.hash();
    let valid_for = i64::try_from(app.settings.requests.request_valid_for.as_millis()).unwrap_or(i64::MAX);
    let request = RequestRecord {
        id: uuid::Uuid::now_v7().to_string(),
        kind: asking.kind,
        purposes: asking.purposes.clone(),
        group: asking.group,
        form_version: asking.form_version.unwrap_or_else(|| format!("online form {}", &form_text_hash[..12])),
        form_text_hash,
        created_by: asking.created_by,
        created_at: now_ms,
        expires_at: now_ms.saturating_add(valid_for),
        renews_grant_id: asking.renews.as_ref().map(|(id, _)| id.clone()),
        adult_learner_id: asking.adult_learner_id,
    };
    let sender = sender(app);
    let ask = match (asking.kind, &asking.renews) {
        (RequestKind::Renewal, Some((_, until))) => Ask::Renewal(letters::day(*until, zone)),
        (RequestKind::Adult, _) => Ask::Adult,
        _ => Ask::First,
    };
    let mail_kind = match asking.kind {
        RequestKind::Request => MailKind::Request,
        RequestKind::Renewal => MailKind::Renewal,
        RequestKind::Adult => MailKind::Adult,
    };
    // The same last day the form and the reminders give: the link works until its expiry instant,
    // so when that falls at midnight the last whole day is the one before.
    let valid_until = letters::day(request.expires_at.saturating_sub(1), zone);
    let request_id = request.id.clone();
    let mut new = NewRequest { request, form_text, recipients: vec![], links: vec![], messages: vec![] };
    let mut outcomes = Vec::new();
    for learner in learners {
        let (to, contacts) = addressees(app, learner, now)?;
        let row = |guardian_id: Option<String>, status| RecipientRecord {
            id: uuid::Uuid::now_v7().to_string(),
            request_id: request_id.clone(),
            learner_id: learner.id.clone(),
            to,
            guardian_id,
            status,
            reminders_sent: 0,
            last_sent_at: (status == RecipientStatus::Queued).then_some(now_ms),
            answered_at: None,
        };
        if contacts.is_empty() {
            new.recipients.push(row(None, RecipientStatus::NoContact));
            outcomes.push(RecipientOutcome { learner_id: learner.id.clone(), to, status: RecipientStatus::NoContact });
            continue;
        }
        let first = first_name(learner);
        let purposes: Vec<String> =
            asking.purposes.iter().map(|p| letters::purpose_words(&wording, *p, first)).collect();
        for (guardian_id, name, address) in contacts {
            let recipient = row(guardian_id, RecipientStatus::Queued);
            let (token, hash) = tokens::new_withdrawal_token();
            let link = format!("{}/c/{token}", app.settings.public_url);
            let about = About { to_name: &name, first_name: first, to_guardian: to == RecipientKind::Guardian };
            let letter = letters::request(&sender, about, &ask, purposes.clone(), &link, valid_until.clone());
            new.messages.push(
                OutboxMessage::new(mail_kind, &learner.id, (&name, &address), letter, now_ms)
                    .for_recipient(&recipient.id),
            );
            new.links.push((hash, recipient.id.clone()));
            new.recipients.push(recipient);
            outcomes.push(RecipientOutcome { learner_id: learner.id.clone(), to, status: RecipientStatus::Queued });
        }
    }
    Ok((new, outcomes))
}

/// Stores a built request and wakes the sender. The audit row counts; it names no one.
pub(super) async fn save(app: &App, new: &NewRequest, actor: &str) -> Result<RequestCreated, AppError> {
    let queued = new.recipients.iter().filter(|r| r.status == RecipientStatus::Queued).count();
    let audit = AuditDraft::new(
        actor,
        AuditAction::ConsentRequested,
        &new.request.id,
        serde_json::json!({
            "kind": new.request.kind, "purposes": new.request.purposes,
            "learners": new.recipients.iter().map(|r| &r.learner_id).collect::<BTreeSet<_>>().len(),
            "queued": queued, "no_contact": new.recipients.len() - queued,
        }),
    );
    let created = app.store.create_request(new, audit).await?;
    if created == RequestCreated::Created {
        metrics::counter!("consentgate_consent_requests_total", "kind" => new.request.kind.as_str()).increment(1);
        app.wake_sender();
    }
    Ok(created)
}

/// Asks the families of some learners, or of a group, about some purposes (admins only). Every
/// learner must be on record; a group must have learners. A learner nobody can be asked for is
/// reported `no_contact`, not refused.
pub async fn create(app: &App, actor: &Actor, new: NewConsentRequest) -> Result<CreatedRequest, AppError> {
    actor.require(ASKERS)?;
    let mut purposes = new.purposes;
    purposes.sort();
    purposes.dedup();
    if purposes.is_empty() {
        return Err(AppError::invalid_field(
            "purposes",
            "name at least one purpose: website, social_media, print or internal",
        ));
    }
    let form_version = match new.form_version.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        Some(v) => Some(input::free_text("form_version", v, MAX_FORM_VERSION)?),
        None => None,
    };
    let (learners, group) = match (new.learner_ids, new.group) {
        (Some(ids), None) => (named_learners(app, &ids).await?, None),
        (None, Some(group)) => {
            let group = group.trim().to_string();
            let learners = app.store.learners_in_group(&group).await?;
            if learners.is_empty() {
                return Err(AppError::NotFound("group"));
            }
            (learners, Some(group))
        }
        _ => return Err(AppError::invalid("send either learner_ids or group, not both")),
    };
    let asking = Asking {
        kind: RequestKind::Request,
        purposes,
        group,
        form_version,
        created_by: actor.token_id.clone(),
        renews: None,
        adult_learner_id: None,
    };
    let (request, recipients) = build(app, asking, &learners, OffsetDateTime::now_utc())?;
    save(app, &request, &actor.token_id).await?;
    tracing::info!(request = %request.request.id, recipients = recipients.len(), "consent request queued");
    Ok(CreatedRequest { id: request.request.id, recipients })
}

/// The learners `ids` name, in the order given without repeats; every one must be on record.
async fn named_learners(app: &App, ids: &[String]) -> Result<Vec<LearnerRecord>, AppError> {
    if ids.is_empty() {
        return Err(AppError::invalid_field("learner_ids", "name at least one learner"));
    }
    if ids.len() > MAX_LEARNER_IDS {
        return Err(AppError::invalid_field(
            "learner_ids",
            format!("at most {MAX_LEARNER_IDS} learners per request; ask a group instead"),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut wanted = Vec::new();
    let mut unknown = Vec::new();
    for id in ids {
        match input::body_id(id) {
            Some(id) if seen.insert(id.clone()) => wanted.push(id),
            Some(_) => {}
            None => unknown.push(id.clone()),
        }
    }
    unknown.extend(app.store.unknown_learners(&wanted).await?);
    if !unknown.is_empty() {
        return Err(AppError::unknown_learners(&unknown));
    }
    let mut learners = Vec::with_capacity(wanted.len());
    for id in &wanted {
        // Removed between the two reads: as unknown as if it never was.
        learners
            .push(app.store.learner(id).await?.ok_or_else(|| AppError::unknown_learners(std::slice::from_ref(id)))?);
    }
    Ok(learners)
}

/// A request with its recipients, for the admin pages.
#[derive(Debug, Clone)]
pub struct RequestDetail {
    /// The request.
    pub request: RequestRecord,
    /// Its recipients, by learner.
    pub recipients: Vec<RecipientView>,
}

/// The latest requests, newest first (admins only).
pub async fn list(app: &App, actor: &Actor, limit: i64) -> Result<Vec<RequestRecord>, AppError> {
    actor.require(ASKERS)?;
    Ok(app.store.requests(limit).await?)
}

/// One request and who it went to (admins only).
pub async fn show(app: &App, actor: &Actor, id: &str) -> Result<RequestDetail, AppError> {
    actor.require(ASKERS)?;
    let id = input::path_id(id, "consent request")?;
    let request = app.store.request(&id).await?.ok_or(AppError::NotFound("consent request"))?;
    let recipients = app.store.recipients(&id).await?;
    Ok(RequestDetail { request, recipients })
}

/// Every group with its number of learners, by name: for choosing whom to ask (safeguarding leads)
/// and whose list to check before taking photos (tutors).
pub async fn groups(app: &App, actor: &Actor) -> Result<Vec<(String, i64)>, AppError> {
    actor.require(&[Role::Admin, Role::Tutor])?;
    Ok(app.store.groups().await?)
}
