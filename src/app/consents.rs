//! Consent: an admin records an event with its proof (the checks on it live here), the history
//! with the decision per purpose now, and a withdrawal through a link, without an account.

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{input, learners, retention, Actor, App, AppError};
use crate::policy::consent::{self, Decision, EventKind, Giver, Learner, NotCounting};
use crate::policy::zone::Zone;
use crate::policy::Purpose;
use crate::store::{
    ms_of_time, AuditAction, AuditDraft, ConsentRecord, ConsentToRecord, LearnerRecord, ReissueOutcome, StatusChange,
    StoreError, WithdrawOutcome, WithdrawalLink,
};
use crate::tokens;

/// How consent can have been given, as an admin records it.
pub const METHODS: &[&str] = &["paper_form", "online_form", "email", "in_person"];
/// Longest form version or evidence text.
pub const MAX_TEXT: usize = 500;
/// How far in the future a `given_at` may lie (clocks differ a little).
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// A consent event as an admin enters it, before any check.
#[derive(Debug, Clone, Default)]
pub struct NewConsent {
    /// Granted, refused or withdrawn.
    pub kind: Option<EventKind>,
    /// Purposes it covers.
    pub purposes: Vec<Purpose>,
    /// `learner` or `guardian`.
    pub given_by: String,
    /// The guardian who gave it, when `given_by` is `guardian`.
    pub guardian_id: Option<String>,
    /// When it was given (RFC 3339, or `YYYY-MM-DD` meaning that day's start in the organisation's
    /// zone); `None` means now.
    pub given_at: Option<String>,
    /// For a grant: when it stops counting (RFC 3339, or `YYYY-MM-DD` meaning through that day in
    /// the organisation's zone).
    pub expires_at: Option<String>,
    /// Version of the consent form.
    pub form_version: String,
    /// The form's text, which is hashed; or send `form_text_hash` (exactly one of the two).
    pub form_text: Option<String>,
    /// blake3 of the form's text, 64 hex digits.
    pub form_text_hash: Option<String>,
    /// How it was given: one of [`METHODS`].
    pub method: String,
    /// Where the proof is kept.
    pub evidence: String,
    /// A saved consent form (see [`super::forms`]): its version and words stand for
    /// `form_version` and `form_text`, which are then left empty.
    pub template_id: Option<String>,
    /// Refuse a grant that would not count now ([`AppError::WillNotCount`]) instead
    /// of recording it: the pages ask before recording one, the API records what it is sent.
    pub ask_first: bool,
}

/// Whether `event`, about to be recorded for `learner` with `history` on record, is a grant that
/// would not count at `now` for any of its purposes, and why. A refusal or withdrawal always
/// counts (any "no" wins).
pub fn not_counting(
    learner: &LearnerRecord,
    event: &ConsentRecord,
    history: &[ConsentRecord],
    now: OffsetDateTime,
    rules: consent::Rules,
) -> Result<Option<NotCounting>, AppError> {
    if event.kind != EventKind::Granted {
        return Ok(None);
    }
    let facts = facts(learner)?;
    let events: Vec<_> = history.iter().map(ConsentRecord::to_event).collect();
    let given_at = crate::store::time_of_ms(event.given_at);
    let counts = event.purposes.iter().any(|purpose| {
        let answered = consent::answered_as_adult(&facts, &events, *purpose, now, rules);
        consent::grant_counts(&facts, &event.giver, given_at, answered, now, rules)
    });
    if counts {
        return Ok(None);
    }
    let age = facts.date_of_birth.map(|dob| consent::age_on(dob, rules.zone.date_of(now)));
    Ok(Some(match (&event.giver, age) {
        (Giver::Learner, age) => NotCounting::LearnerUnder18(age),
        (Giver::Guardian(_), Some(age)) if consent::is_adult(&facts, now, rules.zone) => NotCounting::LearnerAdult(age),
        // A guardian's grant for a learner under 18 always counts; nothing else is left.
        (Giver::Guardian(_), _) => return Ok(None),
    }))
}

/// What recording a consent did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The event.
    pub event: ConsentRecord,
    /// For a grant: the withdrawal link to hand to whoever gave it. It is shown once: only its
    /// hash is stored.
    pub withdraw_url: Option<String>,
    /// The statuses that changed because of it.
    pub changes: Vec<StatusChange>,
}

/// A moment from RFC 3339, or a date alone read in the organisation's `zone`: the start of that
/// day, or (for expiries, `date_means_end_of_day`) the end of it, which is the next day's start.
fn moment(field: &str, value: &str, date_means_end_of_day: bool, zone: Zone) -> Result<OffsetDateTime, AppError> {
    if let Ok(t) = OffsetDateTime::parse(value.trim(), &Rfc3339) {
        return Ok(t);
    }
    match crate::policy::calendar::parse_iso_date(value.trim()) {
        Some(date) => if date_means_end_of_day { date.next_day() } else { Some(date) }
            .and_then(|d| zone.start_of_day(d))
            .ok_or_else(|| AppError::invalid_field(field, format!("{field} is out of range"))),
        None => Err(AppError::invalid_field(
            field,
            format!("{field} {value:?} is not a time like 2026-09-01T09:00:00Z or a date like 2027-08-31"),
        )),
    }
}

fn bounded(field: &str, value: &str) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid_field(field, format!("{field} must not be empty")));
    }
    input::free_text(field, value.to_string(), MAX_TEXT)
}

/// Checks a new event against the learner and the clock, and turns it into a record: at least one
/// purpose; a guardian must be this learner's; not given in the future (beyond a little clock
/// skew) nor before 1970; only a grant expires, and after it was given; the form's words are
/// identified by their hash; the method is a known one.
pub fn validate(
    body: NewConsent,
    learner: &LearnerRecord,
    recorded_by: &str,
    now: OffsetDateTime,
    zone: Zone,
) -> Result<ConsentRecord, AppError> {
    let kind = body
        .kind
        .ok_or_else(|| AppError::invalid_field("kind", "choose whether consent was granted, refused or withdrawn"))?;
    let mut purposes = body.purposes;
    purposes.sort();
    purposes.dedup();
    if purposes.is_empty() {
        return Err(AppError::invalid_field(
            "purposes",
            "name at least one purpose: website, social_media, print or internal",
        ));
    }
    let giver = match (body.given_by.as_str(), body.guardian_id) {
        ("learner", None) => Giver::Learner,
        ("learner", Some(_)) => {
            return Err(AppError::invalid_field("guardian_id", "guardian_id goes with given_by \"guardian\" only"))
        }
        ("guardian", Some(id)) => {
            // A guardian of another learner has no say over this one.
            let id = input::body_id(&id).ok_or(AppError::NotAGuardian)?;
            let guardian = learner.guardians.iter().find(|g| g.id == id).ok_or(AppError::NotAGuardian)?;
            // A removed guardian's "no" still counts, so it may still be recorded; their yes would not.
            if guardian.removed_at.is_some() && kind == EventKind::Granted {
                return Err(AppError::conflict(
                    "guardian_removed",
                    "this guardian was removed: a grant from them would not count (a refusal or withdrawal still can be recorded)",
                ));
            }
            Giver::Guardian(id)
        }
        ("guardian", None) => {
            return Err(AppError::invalid_field("guardian_id", "given_by \"guardian\" needs a guardian_id"))
        }
        (other, _) => {
            return Err(AppError::invalid_field(
                "given_by",
                format!("given_by must be \"learner\" or \"guardian\", not {other:?}"),
            ))
        }
    };
    let now_ms = ms_of_time(now);
    let given_at = match &body.given_at {
        Some(v) => ms_of_time(moment("given_at", v, false, zone)?),
        None => now_ms,
    };
    if given_at > now_ms + CLOCK_SKEW_MS {
        return Err(AppError::invalid_field(
            "given_at",
            "given_at is in the future; record consent once it has been given",
        ));
    }
    if given_at < 0 {
        return Err(AppError::invalid_field("given_at", "given_at is before 1970"));
    }
    let expires_at = match (&body.expires_at, kind) {
        (None, _) => None,
        (Some(v), EventKind::Granted) => Some(ms_of_time(moment("expires_at", v, true, zone)?)),
        (Some(_), _) => return Err(AppError::invalid_field("expires_at", "only a grant can have expires_at")),
    };
    if expires_at.is_some_and(|e| e <= given_at) {
        return Err(AppError::invalid_field(
            "expires_at",
            "expires_at is not after given_at: the grant would never count",
        ));
    }
    let form_text_hash = match (body.form_text, body.form_text_hash) {
        (Some(text), None) if !text.trim().is_empty() => blake3::hash(text.as_bytes()).to_hex().to_string(),
        (None, Some(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            hash.to_ascii_lowercase()
        }
        (None, Some(_)) => {
            return Err(AppError::invalid_field(
                "form_text_hash",
                "form_text_hash must be 64 hex digits (a blake3 hash)",
            ))
        }
        (None, None) | (Some(_), None) => {
            return Err(AppError::invalid_field(
                "form_text",
                "type the words of the form that was signed, or choose a saved form",
            ))
        }
        (Some(_), Some(_)) => return Err(AppError::invalid("send exactly one of form_text and form_text_hash")),
    };
    if !METHODS.contains(&body.method.as_str()) {
        return Err(AppError::invalid_field("method", format!("method must be one of {}", METHODS.join(", "))));
    }
    Ok(ConsentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        learner_id: learner.id.clone(),
        kind,
        purposes,
        giver,
        given_at,
        expires_at,
        form_version: bounded("form_version", &body.form_version)?,
        form_text_hash,
        method: body.method,
        evidence: bounded("evidence", &body.evidence)?,
        recorded_by: recorded_by.to_string(),
        recorded_at: now_ms,
    })
}

/// Records a consent event for the learner `learner_id` (an id as given in a path); statuses
/// follow in the same transaction. A refusal or withdrawal then deletes the images it makes
/// unusable ([`retention::delete_images_after_no`]).
pub async fn record(app: &App, actor: &Actor, learner_id: &str, body: NewConsent) -> Result<Recorded, AppError> {
    let eval = app.evaluation(&actor.token_id).await?;
    let event = checked(app, actor, learner_id, body, &eval).await?;
    store_event(app, actor, event, eval).await
}

/// Most learners one paper form is recorded for at once (a class).
pub const MAX_BATCH: usize = 100;

/// The same form recorded for several learners at once, each with who signed it for them (the
/// rest of each body alike, as the pages send it). Every consent is checked first, and nothing is
/// recorded unless all pass: the refusals come back per learner, in the order sent. Then all are
/// recorded in one transaction, each with its own audit row and link, as [`record`] records one.
pub async fn record_many(
    app: &App,
    actor: &Actor,
    entries: Vec<(String, NewConsent)>,
) -> Result<Vec<Recorded>, Vec<(String, AppError)>> {
    let refuse_all = |e: AppError| vec![(String::new(), e)];
    if entries.is_empty() {
        return Err(refuse_all(AppError::invalid_field("learner_ids", "choose at least one learner")));
    }
    if entries.len() > MAX_BATCH {
        return Err(refuse_all(AppError::invalid_field(
            "learner_ids",
            format!("at most {MAX_BATCH} learners at once"),
        )));
    }
    let eval = app.evaluation(&actor.token_id).await.map_err(|e| refuse_all(e.into()))?;
    let mut events = Vec::with_capacity(entries.len());
    let mut refused = Vec::new();
    for (learner_id, body) in entries {
        match checked(app, actor, &learner_id, body, &eval).await {
            Ok(event) => events.push(event),
            Err(e) => refused.push((learner_id, e)),
        }
    }
    if !refused.is_empty() {
        return Err(refused);
    }
    let eval = app.evaluation(&actor.token_id).await.map_err(|e| refuse_all(e.into()))?;
    let links: Vec<_> =
        events.iter().map(|e| (e.kind == EventKind::Granted).then(tokens::new_withdrawal_token)).collect();
    let entries: Vec<ConsentToRecord> = events
        .iter()
        .zip(&links)
        .map(|(event, link)| ConsentToRecord {
            event: event.clone(),
            link_token_hash: link.as_ref().map(|(_, hash)| hash.clone()),
            audit: consent_audit(&actor.token_id, event),
        })
        .collect();
    // One transaction: a learner erased meanwhile, or a store failure, records nobody's.
    let changes = app.store.record_consents(&entries, eval).await.map_err(|e| refuse_all(changed_meanwhile(e)))?;
    let mut recorded = Vec::with_capacity(events.len());
    for ((event, link), changes) in events.into_iter().zip(links).zip(changes) {
        metrics::counter!("consentgate_consent_events_total", "kind" => kind_name(event.kind)).increment(1);
        if event.kind != EventKind::Granted {
            retention::delete_images_after_no(app, &event.learner_id, &actor.token_id).await;
        }
        let withdraw_url = link.map(|(token, _)| format!("{}/w/{token}", app.settings.public_url));
        recorded.push(Recorded { event, withdraw_url, changes });
    }
    Ok(recorded)
}

/// A store's refusal of a consent whose learner was erased (or guardian removed) after it was
/// checked, in the words of the use case; other failures as they are.
fn changed_meanwhile(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict(_) => AppError::conflict(
            "learner_changed",
            "a learner was erased, or a guardian removed, while this was being recorded: nothing was recorded",
        ),
        other => other.into(),
    }
}

/// The audit row of a consent recorded by `actor`: the giver by id, never the form text or
/// evidence.
fn consent_audit(actor: &str, event: &ConsentRecord) -> AuditDraft {
    AuditDraft::new(
        actor,
        AuditAction::ConsentRecorded,
        &event.learner_id,
        serde_json::json!({
            "event": event.id, "kind": event.kind, "purposes": event.purposes,
            "given_by": match &event.giver { Giver::Learner => "learner".to_string(), Giver::Guardian(g) => g.clone() },
        }),
    )
}

/// A consent for the learner `learner_id` checked against them, their history and the clock,
/// ready to store: a saved form in place of typed words, and (when `ask_first`) refused as
/// `will_not_count` when it is a grant that would not count.
async fn checked(
    app: &App,
    actor: &Actor,
    learner_id: &str,
    body: NewConsent,
    eval: &crate::store::Evaluation,
) -> Result<ConsentRecord, AppError> {
    let learner = learners::show_live(app, actor, learner_id).await?;
    let body = with_template(app, body).await?;
    let ask_first = body.ask_first;
    let event = validate(body, &learner, &actor.token_id, eval.at, eval.rules.zone)?;
    if ask_first {
        let history = app.store.consents(&learner.id).await?;
        if let Some(why) = not_counting(&learner, &event, &history, eval.at, eval.rules)? {
            return Err(AppError::WillNotCount(why));
        }
    }
    Ok(event)
}

/// Stores a checked consent with its withdrawal link (a grant's), audited; a refusal or
/// withdrawal then deletes the images it makes unusable.
async fn store_event(
    app: &App,
    actor: &Actor,
    event: ConsentRecord,
    eval: crate::store::Evaluation,
) -> Result<Recorded, AppError> {
    let link = (event.kind == EventKind::Granted).then(tokens::new_withdrawal_token);
    let audit = consent_audit(&actor.token_id, &event);
    let changes = app
        .store
        .record_consent(&event, link.as_ref().map(|(_, hash)| hash.as_str()), audit, eval)
        .await
        .map_err(changed_meanwhile)?;
    metrics::counter!("consentgate_consent_events_total", "kind" => kind_name(event.kind)).increment(1);
    if event.kind != EventKind::Granted {
        retention::delete_images_after_no(app, &event.learner_id, &actor.token_id).await;
    }
    let withdraw_url = link.map(|(token, _)| format!("{}/w/{token}", app.settings.public_url));
    Ok(Recorded { event, withdraw_url, changes })
}

/// The consent with its saved form's version and words in place of typed ones, when it names a
/// template; typing them as well is refused (which would the proof be?).
async fn with_template(app: &App, mut body: NewConsent) -> Result<NewConsent, AppError> {
    let Some(id) = body.template_id.take() else { return Ok(body) };
    let typed = !body.form_version.trim().is_empty()
        || body.form_text.as_deref().is_some_and(|t| !t.trim().is_empty())
        || body.form_text_hash.is_some();
    if typed {
        return Err(AppError::invalid_field(
            "template_id",
            "choose a saved form or type a form's version and text, not both (to use what was typed, choose \"Another form\")",
        ));
    }
    let template = super::forms::chosen(app, &id).await?;
    body.form_version = template.form_version;
    body.form_text = None;
    body.form_text_hash = Some(template.form_text_hash);
    Ok(body)
}

/// A grant's new withdrawal link.
#[derive(Debug, Clone)]
pub struct ReissuedLink {
    /// The grant's event id.
    pub event_id: String,
    /// The new link: shown once, only its hash is stored.
    pub withdraw_url: String,
}

/// A fresh withdrawal link for the grant `event_id` of the learner `learner_id` (ids as given in a
/// path), for when the first was lost: the old link stops working at once (it is then "not
/// recognised"), and the new one is returned once, like a grant's. Audited with the event id,
/// never the token. Refused (409) for a refusal or withdrawal (`not_a_grant`), a grant withdrawn
/// already (`already_withdrawn`) and a grant of a removed guardian (`guardian_removed`); an event
/// of another learner is not found.
pub async fn reissue_link(
    app: &App,
    actor: &Actor,
    learner_id: &str,
    event_id: &str,
) -> Result<ReissuedLink, AppError> {
    let learner = learners::show_live(app, actor, learner_id).await?;
    let event_id = input::path_id(event_id, "consent event")?;
    let (token, hash) = tokens::new_withdrawal_token();
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::WithdrawalLinkReissued,
        &learner.id,
        serde_json::json!({ "event": event_id }),
    );
    match app.store.reissue_withdrawal_link(&learner.id, &event_id, &hash, audit).await? {
        ReissueOutcome::Reissued => {
            Ok(ReissuedLink { withdraw_url: format!("{}/w/{token}", app.settings.public_url), event_id })
        }
        ReissueOutcome::Unknown => Err(AppError::NotFound("consent event")),
        ReissueOutcome::NotAGrant => Err(AppError::conflict(
            "not_a_grant",
            "only a grant has a withdrawal link; this event is a refusal or a withdrawal",
        )),
        ReissueOutcome::AlreadyWithdrawn => Err(AppError::conflict(
            "already_withdrawn",
            "this grant was withdrawn already: a link would have nothing left to withdraw",
        )),
        ReissueOutcome::GuardianRemoved => Err(AppError::conflict(
            "guardian_removed",
            "this grant's guardian was removed, so it no longer counts; the link sent before still withdraws it",
        )),
    }
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Granted => "granted",
        EventKind::Refused => "refused",
        EventKind::Withdrawn => "withdrawn",
    }
}

/// A learner's consent history and the decision per purpose now.
#[derive(Debug, Clone)]
pub struct History {
    /// The learner.
    pub learner: LearnerRecord,
    /// Every event, oldest first.
    pub events: Vec<ConsentRecord>,
    /// The decision for every purpose, now.
    pub decisions: BTreeMap<Purpose, Decision>,
}

impl History {
    /// Whether an admin may issue a new withdrawal link for `event` (see [`reissue_link`]): a
    /// grant not taken back by its giver, from someone who still speaks for the learner.
    pub fn link_reissuable(&self, event: &ConsentRecord) -> bool {
        let removed = match &event.giver {
            Giver::Guardian(id) => self.learner.guardians.iter().any(|g| &g.id == id && g.removed_at.is_some()),
            Giver::Learner => false,
        };
        let events: Vec<_> = self.events.iter().map(ConsentRecord::to_event).collect();
        event.kind == EventKind::Granted && !removed && !consent::taken_back(&event.to_event(), &events)
    }
}

/// The history of the learner `learner_id` (an id as given in a path), with the decisions now.
/// Audited as `consent_history_read` (the record comes with it): whoever reads a child's consent
/// evidence is on record.
pub async fn history(app: &App, actor: &Actor, learner_id: &str) -> Result<History, AppError> {
    let learner = learners::show(app, actor, learner_id).await?;
    let events = app.store.consents(&learner.id).await?;
    let decisions = decisions(&learner, &events, app, OffsetDateTime::now_utc())?;
    let audit = AuditDraft::new(
        &actor.token_id,
        AuditAction::ConsentHistoryRead,
        &learner.id,
        serde_json::json!({ "events": events.len() }),
    );
    app.store.append_audit(audit).await?;
    Ok(History { learner, events, decisions })
}

/// The facts about `learner` the consent decision depends on.
pub(super) fn facts(learner: &LearnerRecord) -> Result<Learner, AppError> {
    let date_of_birth = learner
        .date_of_birth
        .as_deref()
        .map(|d| {
            crate::policy::calendar::parse_iso_date(d)
                .ok_or_else(|| AppError::internal(format!("a stored date of birth {d:?} is not a date")))
        })
        .transpose()?;
    let facts = Learner {
        date_of_birth,
        guardian_ids: learner.current_guardians().map(|g| g.id.clone()).collect(),
        removed_guardian_ids: learner
            .guardians
            .iter()
            .filter(|g| g.removed_at.is_some())
            .map(|g| g.id.clone())
            .collect(),
    };
    Ok(facts)
}

/// The decision for every purpose at `at`.
fn decisions(
    learner: &LearnerRecord,
    events: &[ConsentRecord],
    app: &App,
    at: OffsetDateTime,
) -> Result<BTreeMap<Purpose, Decision>, AppError> {
    let facts = facts(learner)?;
    let events: Vec<_> = events.iter().map(ConsentRecord::to_event).collect();
    Ok(Purpose::ALL.into_iter().map(|p| (p, consent::decide(&facts, &events, p, at, app.settings.rules))).collect())
}

/// What a withdrawal link is, as its page shows it before anything is done.
#[derive(Debug, Clone)]
pub enum LinkPreview {
    /// A link still to be used: what it would withdraw.
    Usable(Box<WithdrawalLink>),
    /// Used before, at this time (Unix ms).
    Used(i64),
    /// No link has this token (or it is not one of ours).
    Unknown,
}

/// What the withdrawal link `token` would withdraw. Changes nothing: mail scanners follow links.
pub async fn preview_link(app: &App, token: &str) -> Result<LinkPreview, AppError> {
    let Some(hash) = tokens::withdrawal_token_hash(token) else { return Ok(LinkPreview::Unknown) };
    Ok(match app.store.withdrawal_link(&hash).await? {
        None => LinkPreview::Unknown,
        Some(link) => match link.used_at {
            Some(used_at) => LinkPreview::Used(used_at),
            None => LinkPreview::Usable(Box::new(link)),
        },
    })
}

/// What using a withdrawal link did.
#[derive(Debug, Clone)]
pub enum LinkWithdrawal {
    /// Withdrawn now: the learner's first name and the purposes withdrawn.
    Withdrawn {
        /// The name the learner goes by.
        first_name: String,
        /// The purposes withdrawn.
        purposes: Vec<Purpose>,
        /// The grant's purposes still given (not withdrawn): the link withdraws them later.
        kept: Vec<Purpose>,
        /// Whether the withdrawal, a guardian's, changes nothing because the learner is an adult
        /// who has answered for themselves for all those purposes.
        adult_decides: bool,
    },
    /// None of the purposes chosen is one the link still withdraws; nothing changed.
    NothingChosen,
    /// The link was used before, at this time (Unix ms); nothing changed.
    Used(i64),
    /// No link has this token.
    Unknown,
}

/// Whether the withdrawal `event`, a guardian's, counts for none of its purposes because the learner
/// has answered for themselves as an adult (see [`consent::guardians_set_aside`]): the page must
/// not tell the guardian their photos are no longer used.
async fn adult_decides(app: &App, event: &ConsentRecord) -> Result<bool, AppError> {
    if event.giver == Giver::Learner {
        return Ok(false);
    }
    let Some(learner) = app.store.learner(&event.learner_id).await? else { return Ok(false) };
    let facts = facts(&learner)?;
    let events: Vec<_> = app.store.consents(&learner.id).await?.iter().map(ConsentRecord::to_event).collect();
    let now = OffsetDateTime::now_utc();
    Ok(event.purposes.iter().all(|p| consent::guardians_set_aside(&facts, &events, *p, now, app.settings.rules)))
}

/// Withdraws the grant the link `token` belongs to, for `purposes` (`None`: every purpose it still
/// covers), in one transaction with every status it changes; then deletes the images no purpose
/// can use any more. The link withdraws what is left later; once nothing is, it changes nothing.
pub async fn withdraw_by_link(
    app: &App,
    token: &str,
    purposes: Option<Vec<Purpose>>,
) -> Result<LinkWithdrawal, AppError> {
    const ACTOR: &str = "withdrawal_link";
    let Some(hash) = tokens::withdrawal_token_hash(token) else { return Ok(LinkWithdrawal::Unknown) };
    let Some(link) = app.store.withdrawal_link(&hash).await? else { return Ok(LinkWithdrawal::Unknown) };
    let event_id = uuid::Uuid::now_v7().to_string();
    let eval = app.evaluation(ACTOR).await?;
    Ok(match app.store.withdraw_by_link(&hash, &event_id, purposes.as_deref(), eval).await? {
        WithdrawOutcome::Withdrawn { event, changes } => {
            metrics::counter!("consentgate_withdrawals_total").increment(1);
            tracing::info!(event = %event.id, statuses_changed = changes.len(), "consent withdrawn by link");
            retention::delete_images_after_no(app, &event.learner_id, ACTOR).await;
            let adult_decides = adult_decides(app, &event).await?;
            let kept = link.remaining.iter().copied().filter(|p| !event.purposes.contains(p)).collect();
            LinkWithdrawal::Withdrawn { first_name: link.first_name, purposes: event.purposes, kept, adult_decides }
        }
        WithdrawOutcome::NothingChosen => LinkWithdrawal::NothingChosen,
        WithdrawOutcome::AlreadyUsed(used_at) => LinkWithdrawal::Used(used_at),
        WithdrawOutcome::Unknown => LinkWithdrawal::Unknown,
    })
}
