//! What the maintenance loop asks for by itself, so consent never lapses unnoticed: reminders to
//! whoever has not answered, a renewal request before a grant runs out, and a learner's own request
//! on their 18th birthday. Each is written with its message in one transaction, and each is made
//! once whichever replica gets there first (see [`crate::store::RequestStore`]).

use time::OffsetDateTime;

use super::letters::{self, About, Ask};
use super::requests::{self, Asking};
use super::{consents, App, AppError};
use crate::policy::consent::{self, Decision};
use crate::policy::wording::ConsentWording;
use crate::policy::Purpose;
use crate::store::{
    ms_of_time, AuditAction, AuditDraft, ConsentRecord, MailKind, OutboxMessage, RecipientKind, RequestCreated,
    RequestKind,
};
use crate::tokens;

/// Who makes what the loop asks for, in the audit log.
const ACTOR: &str = "system";
/// Rows looked at per pass of each kind: a backlog is worked through over a few passes.
const PAGE: i64 = 200;
/// How long after an 18th birthday the learner's own request is still sent: a service stopped on
/// the day still asks, but learners long past 18 when their address was recorded are not all
/// written to at once (an admin asks them).
const BIRTHDAY_WINDOW_DAYS: i64 = 30;

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Queues a reminder, with a new link to the same form, to each recipient who has not answered
/// within `reminder_after` of their last message, at most `max_reminders` times. Returns how many.
pub async fn queue_reminders(app: &App) -> Result<usize, AppError> {
    let timing = &app.settings.requests;
    let now = OffsetDateTime::now_utc();
    let now_ms = ms_of_time(now);
    let due = app
        .store
        .due_reminders(
            now_ms.saturating_sub(millis(timing.reminder_after)),
            i64::from(timing.max_reminders),
            now_ms,
            PAGE,
        )
        .await?;
    let zone = app.settings.rules.zone;
    let sender = requests::sender(app);
    let mut queued = 0;
    for reminder in due {
        let wording: ConsentWording = serde_json::from_str(&reminder.form_text).map_err(AppError::internal)?;
        let purposes = reminder
            .request
            .purposes
            .iter()
            .map(|p| letters::purpose_words(&wording, *p, &reminder.first_name))
            .collect();
        let (token, hash) = tokens::new_withdrawal_token();
        let link = format!("{}/c/{token}", app.settings.public_url);
        let about = About {
            to_name: &reminder.to_name,
            first_name: &reminder.first_name,
            to_guardian: reminder.recipient.to == RecipientKind::Guardian,
        };
        let valid_until = letters::day(reminder.request.expires_at.saturating_sub(1), zone);
        let letter = letters::request(&sender, about, &Ask::Reminder, purposes, &link, valid_until);
        let message = OutboxMessage::new(
            MailKind::Reminder,
            &reminder.recipient.learner_id,
            (&reminder.to_name, &reminder.to_address),
            letter,
            now_ms,
        )
        .for_recipient(&reminder.recipient.id);
        let audit = AuditDraft::new(
            ACTOR,
            AuditAction::ReminderQueued,
            &reminder.recipient.learner_id,
            serde_json::json!({
                "request": reminder.request.id, "recipient": reminder.recipient.id,
                "reminder": reminder.recipient.reminders_sent + 1,
            }),
        );
        if app
            .store
            .queue_reminder(&reminder.recipient.id, reminder.recipient.reminders_sent, &hash, &message, audit)
            .await?
        {
            queued += 1;
            metrics::counter!("consentgate_reminders_total").increment(1);
        }
    }
    if queued > 0 {
        app.wake_sender();
    }
    Ok(queued)
}

/// The purposes `grant` is what allows now: those a renewal must ask about again. A grant taken
/// back, superseded by a newer one, or given by someone who no longer speaks for the learner is
/// the basis of none.
fn purposes_resting_on(
    grant: &ConsentRecord,
    facts: &consent::Learner,
    events: &[ConsentRecord],
    at: OffsetDateTime,
    rules: consent::Rules,
) -> Vec<Purpose> {
    let events: Vec<_> = events.iter().map(ConsentRecord::to_event).collect();
    grant
        .purposes
        .iter()
        .copied()
        .filter(|p| matches!(consent::decide(facts, &events, *p, at, rules), Decision::Allow { basis } if basis == grant.id))
        .collect()
}

/// Asks again, once per grant, about the purposes a grant running out within `renewal_notice`
/// still allows, everyone whose answer counts now. A grant that allows nothing any more gets an
/// empty renewal (no recipients), which marks it as seen. Returns how many requests were made.
pub async fn queue_renewals(app: &App) -> Result<usize, AppError> {
    let now = OffsetDateTime::now_utc();
    let now_ms = ms_of_time(now);
    let before = now_ms.saturating_add(millis(app.settings.requests.renewal_notice));
    let grants = app.store.grants_to_renew(now_ms, before, PAGE).await?;
    let mut made = 0;
    for grant in grants {
        let Some(learner) = app.store.learner(&grant.learner_id).await? else { continue };
        let events = app.store.consents(&learner.id).await?;
        let facts = consents::facts(&learner)?;
        let purposes = purposes_resting_on(&grant, &facts, &events, now, app.settings.rules);
        let asking = Asking {
            kind: RequestKind::Renewal,
            purposes: if purposes.is_empty() { grant.purposes.clone() } else { purposes.clone() },
            group: None,
            form_version: None,
            created_by: ACTOR.into(),
            renews: Some((grant.id.clone(), grant.expires_at.unwrap_or(before))),
            adult_learner_id: None,
        };
        let learners = if purposes.is_empty() { vec![] } else { vec![learner] };
        let (request, _) = requests::build(app, asking, &learners, now)?;
        if requests::save(app, &request, ACTOR).await? == RequestCreated::Created && !purposes.is_empty() {
            made += 1;
        }
    }
    Ok(made)
}

/// The latest date of birth of someone 18 or over on `today`, as `YYYY-MM-DD`: the same day 18
/// years back, or 28 February when that day is a 29 February the year lacks (someone born on
/// 29 February turns 18 on 1 March; see [`consent::majority_date`]).
fn born_by(today: time::Date) -> time::Date {
    let year = today.year() - 18;
    time::Date::from_calendar_date(year, today.month(), today.day()).unwrap_or_else(|_| {
        time::Date::from_calendar_date(year, time::Month::February, 28).expect("28 February exists")
    })
}

/// Asks each learner with an address who turned 18 in the last [`BIRTHDAY_WINDOW_DAYS`] for their
/// own consent to every purpose, once: from that day their guardians' grants stop counting.
/// Returns how many were asked.
pub async fn queue_birthday_requests(app: &App) -> Result<usize, AppError> {
    let now = OffsetDateTime::now_utc();
    let today = app.settings.rules.zone.date_of(now);
    let latest = born_by(today);
    let earliest = latest - time::Duration::days(BIRTHDAY_WINDOW_DAYS);
    let ids = app.store.learners_due_adult_request(&earliest.to_string(), &latest.to_string(), PAGE).await?;
    let mut made = 0;
    for id in ids {
        let Some(learner) = app.store.learner(&id).await? else { continue };
        let asking = Asking {
            kind: RequestKind::Adult,
            purposes: Purpose::ALL.to_vec(),
            group: None,
            form_version: None,
            created_by: ACTOR.into(),
            renews: None,
            adult_learner_id: Some(learner.id.clone()),
        };
        let (request, _) = requests::build(app, asking, &[learner], now)?;
        if requests::save(app, &request, ACTOR).await? == RequestCreated::Created {
            made += 1;
        }
    }
    Ok(made)
}

/// One pass of all three, each logged and counted on its own so one failing does not stop the
/// others.
pub async fn chase(app: &App) {
    match queue_reminders(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(reminders = n, "reminders queued"),
        Err(e) => tracing::error!(error = %e, "cannot queue reminders"),
    }
    match queue_renewals(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(renewals = n, "renewal requests queued"),
        Err(e) => tracing::error!(error = %e, "cannot queue renewal requests"),
    }
    match queue_birthday_requests(app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(requests = n, "requests queued for learners turning 18"),
        Err(e) => tracing::error!(error = %e, "cannot queue requests for learners turning 18"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn eighteen_years_back_from_today_respects_29_february() {
        assert_eq!(born_by(date!(2026 - 09 - 01)), date!(2008 - 09 - 01));
        assert_eq!(born_by(date!(2028 - 02 - 29)), date!(2010 - 02 - 28));
        // Born 29 February 2008: 18 on 1 March 2026, not on 28 February.
        assert!(date!(2008 - 02 - 29) > born_by(date!(2026 - 02 - 28)));
        assert!(date!(2008 - 02 - 29) <= born_by(date!(2026 - 03 - 01)));
        for today in [date!(2026 - 02 - 28), date!(2026 - 03 - 01), date!(2027 - 06 - 15)] {
            for dob in [date!(2008 - 02 - 29), date!(2008 - 03 - 01), date!(2009 - 06 - 15), date!(2009 - 06 - 16)] {
                assert_eq!(dob <= born_by(today), consent::majority_date(dob) <= today, "{dob} on {today}");
            }
        }
    }
}
