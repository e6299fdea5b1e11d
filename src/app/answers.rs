//! The family's side of a request: the form a link opens (showing changes nothing: mail scanners
//! follow links) and the answer posted from it, recorded as proof (who, when, which words, which
//! purposes) in one transaction with everything it changes, and confirmed by a message that
//! carries a grant's withdrawal link.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::letters::{self, About, Answered};
use super::requests::{first_name, sender};
use super::{retention, App, AppError};
use crate::policy::consent::{EventKind, Giver};
use crate::policy::wording::ConsentWording;
use crate::policy::Purpose;
use crate::store::{
    ms_of_time, AnswerOutcome, AuditAction, AuditDraft, ConsentRecord, MailKind, OutboxMessage, RecipientKind,
    RequestAnswer, RequestLink,
};
use crate::tokens;

/// Who records an answer, in the audit log and on the events.
const ACTOR: &str = "consent_form";
/// Longest signature (a full name) kept.
pub const MAX_SIGNATURE: usize = 200;
/// Longest user agent kept in the evidence.
const MAX_USER_AGENT: usize = 300;

/// A form that can still be answered, as its page shows it.
#[derive(Debug, Clone)]
pub struct OpenForm {
    /// The name the learner goes by.
    pub first_name: String,
    /// Whether a guardian or the learner answers.
    pub to: RecipientKind,
    /// Each purpose asked about, in the form's words.
    pub purposes: Vec<(Purpose, String)>,
    /// The organisation's consent text.
    pub text: String,
    /// The last day the link works.
    pub valid_until: String,
}

/// What a link opens.
#[derive(Debug, Clone)]
pub enum FormLookup {
    /// The form.
    Open(Box<OpenForm>),
    /// Answered already, at this time (Unix ms).
    Answered(i64),
    /// The request's links have run out.
    Expired,
    /// The guardian it was sent to was removed since: their answer would not count.
    NoLonger,
    /// No link has this token.
    Unknown,
}

/// An answer as posted, before any check.
#[derive(Debug, Clone, Default)]
pub struct FormAnswer {
    /// Every field of the form, in order (purpose names with `granted` or `refused`, and others).
    pub fields: Vec<(String, String)>,
    /// The full name typed as signature.
    pub signature: String,
    /// Whether a guardian ticked that they have parental responsibility.
    pub responsibility: bool,
    /// The browser's user agent, for the evidence.
    pub user_agent: String,
    /// The client's address, of which only a hash is kept.
    pub address: String,
}

/// What posting an answer did.
#[derive(Debug, Clone)]
pub enum AnswerResult {
    /// Recorded; a confirmation is queued.
    Recorded {
        /// The name the learner goes by.
        first_name: String,
        /// The purposes answered yes, in words.
        granted: Vec<String>,
        /// The purposes answered no, in words.
        refused: Vec<String>,
        /// The withdrawal link, when no address is on record for the giver any more (it was
        /// cleared after the request went out): the confirmation waits as a letter to post, and
        /// this page is the only other place the link can be given.
        withdraw_link_shown: Option<String>,
    },
    /// Something is missing: the form again, with a message and every choice kept. Nothing was
    /// recorded.
    Incomplete {
        /// The form.
        form: Box<OpenForm>,
        /// What to fix.
        message: String,
        /// The choices made (`true` for yes).
        kept: BTreeMap<Purpose, bool>,
        /// The signature typed, without control characters (it is shown again in the form).
        signature: String,
        /// Whether parental responsibility was confirmed (the box stays ticked).
        responsibility: bool,
    },
    /// The post is not one this form could send (a purpose it did not ask about, a choice that is
    /// neither yes nor no): nothing was recorded.
    Rejected(String),
    /// Answered already, at this time (Unix ms): nothing changed.
    Answered(i64),
    /// The request's links have run out.
    Expired,
    /// The guardian was removed since the request was sent.
    NoLonger,
    /// No link has this token.
    Unknown,
}

/// The link `token` and its hash, when it is one of ours.
async fn lookup(app: &App, token: &str) -> Result<Option<(String, RequestLink)>, AppError> {
    let Some(hash) = tokens::withdrawal_token_hash(token) else { return Ok(None) };
    Ok(app.store.request_link(&hash).await?.map(|link| (hash, link)))
}

/// The form as the link shows it, or why it cannot be answered.
fn form_of(app: &App, link: &RequestLink, now: OffsetDateTime) -> Result<Result<OpenForm, FormLookup>, AppError> {
    if let Some(at) = link.recipient.answered_at {
        return Ok(Err(FormLookup::Answered(at)));
    }
    if link.guardian_removed {
        return Ok(Err(FormLookup::NoLonger));
    }
    if link.request.expires_at <= ms_of_time(now) {
        return Ok(Err(FormLookup::Expired));
    }
    let wording: ConsentWording = serde_json::from_str(&link.form_text).map_err(AppError::internal)?;
    let purposes =
        link.request.purposes.iter().map(|p| (*p, letters::purpose_words(&wording, *p, &link.first_name))).collect();
    let zone = app.settings.rules.zone;
    // The link works until its expiry instant: the last whole day is the day before it.
    let last_day = link.request.expires_at.saturating_sub(1);
    Ok(Ok(OpenForm {
        first_name: link.first_name.clone(),
        to: link.recipient.to,
        purposes,
        text: wording.text.replace("{first_name}", &link.first_name),
        valid_until: letters::day(last_day, zone),
    }))
}

/// What the link `token` opens. Changes nothing.
pub async fn open(app: &App, token: &str) -> Result<FormLookup, AppError> {
    let Some((_, link)) = lookup(app, token).await? else { return Ok(FormLookup::Unknown) };
    Ok(match form_of(app, &link, OffsetDateTime::now_utc())? {
        Ok(form) => FormLookup::Open(Box::new(form)),
        Err(why) => why,
    })
}

/// The choices in `fields`: `Err` with a message when a field names a purpose the form did not
/// ask about, holds something other than `granted` or `refused`, or says both.
fn choices(fields: &[(String, String)], offered: &[Purpose]) -> Result<BTreeMap<Purpose, bool>, String> {
    let mut chosen = BTreeMap::new();
    for (name, value) in fields {
        let Ok(purpose) = name.parse::<Purpose>() else { continue };
        if !offered.contains(&purpose) {
            return Err(format!("This form did not ask about \"{name}\"."));
        }
        let yes = match value.as_str() {
            "granted" => true,
            "refused" => false,
            _ => return Err(format!("The answer for \"{name}\" must be granted or refused.")),
        };
        if chosen.insert(purpose, yes).is_some_and(|before| before != yes) {
            return Err(format!("\"{name}\" was answered both yes and no."));
        }
    }
    Ok(chosen)
}

/// Records the answer posted through the link `token`: a `granted` event for the purposes
/// answered yes and a `refused` event for those answered no, given by the link's recipient,
/// method `online_form`, with the request, the recipient, the signature, the user agent and a
/// hash of the address as evidence; the learner's photos re-evaluated and a confirmation queued in
/// the same transaction. A refusal then deletes the images it makes unusable.
pub async fn answer(app: &App, token: &str, posted: FormAnswer) -> Result<AnswerResult, AppError> {
    let Some((hash, link)) = lookup(app, token).await? else { return Ok(AnswerResult::Unknown) };
    let now = OffsetDateTime::now_utc();
    let form = match form_of(app, &link, now)? {
        Ok(form) => form,
        Err(FormLookup::Answered(at)) => return Ok(AnswerResult::Answered(at)),
        Err(FormLookup::Expired) => return Ok(AnswerResult::Expired),
        Err(FormLookup::NoLonger) => return Ok(AnswerResult::NoLonger),
        Err(FormLookup::Unknown | FormLookup::Open(_)) => return Ok(AnswerResult::Unknown),
    };
    let chosen = match choices(&posted.fields, &link.request.purposes) {
        Ok(chosen) => chosen,
        Err(message) => return Ok(AnswerResult::Rejected(message)),
    };
    let signature = posted.signature.trim().to_string();
    let incomplete = if chosen.len() < link.request.purposes.len() {
        Some("Please choose yes or no for every question.")
    } else if signature.is_empty() {
        Some("Please type your full name to sign your answer.")
    } else if signature.chars().count() > MAX_SIGNATURE
        || super::input::has_forbidden_control(&signature)
        || signature.chars().any(super::input::is_bidi_control)
    {
        Some("Please type your full name only, as you would sign it.")
    } else if link.recipient.to == RecipientKind::Guardian && !posted.responsibility {
        Some("Please confirm that you have parental responsibility for this learner.")
    } else {
        None
    };
    if let Some(message) = incomplete {
        return Ok(AnswerResult::Incomplete {
            form: Box::new(form),
            message: message.to_string(),
            kept: chosen,
            signature: signature
                .chars()
                .filter(|c| !c.is_control() && !super::input::is_bidi_control(*c))
                .take(MAX_SIGNATURE)
                .collect(),
            responsibility: posted.responsibility,
        });
    }
    let learner = app.store.learner(&link.recipient.learner_id).await?.ok_or(AppError::NotFound("learner"))?;
    if learner.erased_at.is_some() {
        // Erasure deletes the links too; this is for one followed while it ran.
        return Ok(AnswerResult::Unknown);
    }
    let giver = match (&link.recipient.to, &link.recipient.guardian_id) {
        (RecipientKind::Guardian, Some(id)) => Giver::Guardian(id.clone()),
        (RecipientKind::Learner, _) => Giver::Learner,
        (RecipientKind::Guardian, None) => return Ok(AnswerResult::Unknown),
    };
    let now_ms = ms_of_time(now);
    let evidence = serde_json::json!({
        "request": link.request.id,
        "recipient": link.recipient.id,
        "signature": signature,
        "user_agent": posted.user_agent.chars().take(MAX_USER_AGENT).collect::<String>(),
        "address_hash": blake3::hash(posted.address.as_bytes()).to_hex().to_string(),
    })
    .to_string();
    let valid_for = app.settings.requests.consent_valid_for;
    let event = |kind: EventKind, purposes: Vec<Purpose>| ConsentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        learner_id: learner.id.clone(),
        kind,
        purposes,
        giver: giver.clone(),
        given_at: now_ms,
        expires_at: (kind == EventKind::Granted)
            .then(|| valid_for.map(|d| now_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))))
            .flatten(),
        form_version: link.request.form_version.clone(),
        form_text_hash: link.request.form_text_hash.clone(),
        method: "online_form".into(),
        evidence: evidence.clone(),
        recorded_by: ACTOR.into(),
        recorded_at: now_ms,
    };
    let yes: Vec<Purpose> = chosen.iter().filter(|(_, yes)| **yes).map(|(p, _)| *p).collect();
    let no: Vec<Purpose> = chosen.iter().filter(|(_, yes)| !**yes).map(|(p, _)| *p).collect();
    let mut events = Vec::new();
    if !yes.is_empty() {
        events.push(event(EventKind::Granted, yes.clone()));
    }
    if !no.is_empty() {
        events.push(event(EventKind::Refused, no.clone()));
    }
    let words = |purposes: &[Purpose]| -> Vec<String> {
        purposes.iter().filter_map(|p| form.purposes.iter().find(|(q, _)| q == p).map(|(_, w)| w.clone())).collect()
    };
    let (granted, refused) = (words(&yes), words(&no));
    let withdrawal = (!yes.is_empty()).then(tokens::new_withdrawal_token);
    let withdraw_link = withdrawal.as_ref().map(|(token, _)| format!("{}/w/{token}", app.settings.public_url));
    // The confirmation goes to the giver's address now (it may have been corrected since).
    let to = match &giver {
        Giver::Guardian(id) => {
            learner.guardians.iter().find(|g| &g.id == id).and_then(|g| g.email.clone().map(|e| (g.name.clone(), e)))
        }
        Giver::Learner => learner.email.clone().map(|e| (format!("{} {}", learner.given_name, learner.family_name), e)),
    };
    let zone = app.settings.rules.zone;
    // Without an address the confirmation is still queued: delivery fails for want of one, and it
    // waits on the outbox page as a letter to print and post, like any message that could not be
    // sent; the answer page then shows the withdrawal link itself.
    let emailed = to.is_some();
    let to = to.or_else(|| match &giver {
        Giver::Guardian(id) => learner.guardians.iter().find(|g| &g.id == id).map(|g| (g.name.clone(), String::new())),
        Giver::Learner => Some((format!("{} {}", learner.given_name, learner.family_name), String::new())),
    });
    let confirmation = to.map(|(name, address)| {
        let about = About {
            to_name: &name,
            first_name: first_name(&learner),
            to_guardian: link.recipient.to == RecipientKind::Guardian,
        };
        let answered = Answered {
            given_on: letters::day(now_ms, zone),
            granted: granted.clone(),
            refused: refused.clone(),
            withdraw_link: withdraw_link.as_deref(),
            expires_on: events.iter().find_map(|e| e.expires_at).map(|at| letters::day(at.saturating_sub(1), zone)),
        };
        let letter = letters::confirmation(&sender(app), about, answered);
        OutboxMessage::new(MailKind::Confirmation, &learner.id, (&name, &address), letter, now_ms)
            .for_recipient(&link.recipient.id)
    });
    let audit = AuditDraft::new(
        ACTOR,
        AuditAction::ConsentRequestAnswered,
        &learner.id,
        serde_json::json!({
            "request": link.request.id, "recipient": link.recipient.id,
            "events": events.iter().map(|e| &e.id).collect::<Vec<_>>(), "granted": yes, "refused": no,
        }),
    );
    let answer = RequestAnswer {
        events,
        withdrawal_token_hash: withdrawal.as_ref().map(|(_, hash)| hash.clone()),
        confirmation,
    };
    let eval = app.evaluation(ACTOR).await?;
    match app.store.answer_request(&hash, &answer, audit, eval).await? {
        AnswerOutcome::Answered(changes) => {
            for e in &answer.events {
                let kind = if e.kind == EventKind::Granted { "granted" } else { "refused" };
                metrics::counter!("consentgate_consent_events_total", "kind" => kind).increment(1);
            }
            metrics::counter!("consentgate_consent_answers_total").increment(1);
            tracing::info!(request = %link.request.id, statuses_changed = changes.len(), "consent request answered");
            app.wake_sender();
            if !no.is_empty() {
                retention::delete_images_after_no(app, &learner.id, ACTOR).await;
            }
            let withdraw_link_shown = if emailed { None } else { withdraw_link };
            Ok(AnswerResult::Recorded { first_name: link.first_name, granted, refused, withdraw_link_shown })
        }
        AnswerOutcome::AlreadyAnswered(at) => Ok(AnswerResult::Answered(at)),
        AnswerOutcome::Unknown => Ok(AnswerResult::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn choices_are_read_per_offered_purpose() {
        let offered = [Purpose::Website, Purpose::Print];
        let chosen =
            choices(&fields(&[("website", "granted"), ("print", "refused"), ("signature", "x")]), &offered).unwrap();
        assert_eq!(chosen, BTreeMap::from([(Purpose::Website, true), (Purpose::Print, false)]));
        assert_eq!(
            choices(&fields(&[("website", "granted")]), &offered).unwrap().len(),
            1,
            "a missing one is no error here"
        );
        let not_offered = choices(&fields(&[("social_media", "granted")]), &offered).unwrap_err();
        assert!(not_offered.contains("did not ask about"), "{not_offered}");
        assert!(choices(&fields(&[("website", "yes")]), &offered).is_err());
        assert!(choices(&fields(&[("website", "granted"), ("website", "refused")]), &offered).is_err());
        assert!(choices(&fields(&[("website", "granted"), ("website", "granted")]), &offered).is_ok());
    }
}
