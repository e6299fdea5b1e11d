//! Delivering the outbox over SMTP. Rows are leased, sent a few at a time over the mailer's pooled
//! connections, and marked: delivered (body emptied), retried later after a temporary failure
//! (with a growing pause), or failed for good after a permanent refusal, which the admin page
//! shows. A sender that dies mid-send only delays its rows until their lease runs out; the retry
//! carries the same `Message-ID`, so a receiving server or person can tell it is the same message.

use std::time::Duration;

use futures::StreamExt;

use super::{input, Actor, App, AppError};
use crate::mail::{Mail, Mailer, SendError};
use crate::store::{now_ms, AuditAction, AuditDraft, MailState, OutboxMessage, Role, StoreError};

/// Who may read the outbox and post its letters: safeguarding leads (the messages name children).
pub const KEEPERS: &[Role] = &[Role::Admin];
/// Most messages the outbox page lists in each state.
const LISTED: i64 = 500;

/// Rows leased at once.
const BATCH: i64 = 50;
/// Messages in flight at once: enough to keep a pooled SMTP connection or two busy.
const IN_FLIGHT: usize = 8;
/// How long an idle sender sleeps before looking again (new rows wake it sooner in this process;
/// rows written by another replica wait at most this long).
const IDLE: Duration = Duration::from_secs(1);
/// The longest pause between two attempts at one message.
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// The pause after the `attempts`-th failed attempt: 1 s, 2 s, 4 s… up to half an hour, so a
/// server down for a minute delays mail by about a minute, and one down for a day is not hammered.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

/// How long a lease lasts: longer than any one delivery can take (each SMTP step is bounded by the
/// timeout), so a row is never sent by two senders at once while the first is still trying.
fn lease(app: &App) -> Duration {
    let timeout = app.settings.mail.as_ref().map_or(Duration::from_secs(30), |m| m.timeout);
    timeout * 10 + Duration::from_secs(60)
}

/// Leases due rows and delivers them; returns how many were leased (0: nothing was due).
pub async fn deliver_due(app: &App, mailer: &Mailer) -> Result<usize, StoreError> {
    let now = now_ms();
    let lease_ms = i64::try_from(lease(app).as_millis()).unwrap_or(i64::MAX);
    let batch = app.store.claim_mail(now, now.saturating_add(lease_ms), BATCH).await?;
    let leased = batch.len();
    let mut outcomes = futures::stream::iter(batch)
        .map(|message| async move {
            let mail = Mail {
                id: message.id.clone(),
                to_name: message.to_name.clone(),
                to_address: message.to_address.clone(),
                subject: message.subject.clone(),
                body: message.body.clone(),
            };
            let sent = mailer.send(&mail).await;
            (message, sent)
        })
        .buffer_unordered(IN_FLIGHT);
    while let Some((message, sent)) = outcomes.next().await {
        record(app, &message, sent).await?;
    }
    Ok(leased)
}

/// A server's reply as the log may show it: a reply that quotes an address ("550 <sam@…>: no such
/// user") is personal data, kept for the admin's outbox page but not sent to the logs.
fn loggable(error: &str) -> &str {
    if error.contains('@') {
        "the server's reply names an address (see the outbox page)"
    } else {
        error
    }
}

async fn record(app: &App, message: &OutboxMessage, sent: Result<(), SendError>) -> Result<(), StoreError> {
    let now = now_ms();
    match sent {
        Ok(()) => {
            app.store.mail_delivered(&message.id, now).await?;
            metrics::counter!("consentgate_mail_sent_total", "kind" => message.kind.as_str()).increment(1);
        }
        Err(SendError::Temporary(error)) => {
            let pause = i64::try_from(backoff(message.attempts).as_millis()).unwrap_or(i64::MAX);
            app.store.mail_retry(&message.id, now.saturating_add(pause), &error).await?;
            metrics::counter!("consentgate_mail_retries_total").increment(1);
            let error = loggable(&error);
            tracing::warn!(message = %message.id, attempts = message.attempts, error, "mail delivery will be retried");
        }
        Err(SendError::Permanent(error)) => {
            app.store.mail_failed(&message.id, now, &error).await?;
            metrics::counter!("consentgate_mail_failed_total", "kind" => message.kind.as_str()).increment(1);
            let error = loggable(&error);
            if message.kind.to_staff() {
                tracing::error!(message = %message.id, error, "staff mail refused for good; check the address on the staff page");
            } else {
                tracing::error!(message = %message.id, error, "mail refused for good; it waits on the admin page");
            }
        }
    }
    Ok(())
}

/// Sets the outbox depth gauge.
pub async fn measure_depth(app: &App) {
    match app.store.outbox_depth().await {
        Ok(depth) => metrics::gauge!("consentgate_outbox_depth").set(depth as f64),
        Err(e) => tracing::error!(error = %e, "cannot count the outbox"),
    }
}

/// Delivers the outbox until `shutdown` completes, when SMTP is configured; without it, messages
/// wait as printable letters and this returns at once. A batch in flight is finished first: a row
/// cut off mid-send would only be sent again after its lease.
pub async fn run(app: App, shutdown: impl std::future::Future<Output = ()> + Send) {
    let Some(mailer) = app.mailer.clone() else { return };
    tokio::pin!(shutdown);
    loop {
        let leased = match deliver_due(&app, &mailer).await {
            Ok(leased) => leased,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                0
            }
        };
        measure_depth(&app).await;
        if leased as i64 == BATCH {
            // More may be due: go on at once, unless asked to stop.
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                () = std::future::ready(()) => continue,
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = app.mail_waker.notified() => {}
            () = tokio::time::sleep(IDLE) => {}
        }
    }
}

/// The messages waiting (pending, oldest first) and those refused for good, for the admin page:
/// without SMTP every pending message is a letter to print.
pub async fn waiting(app: &App, actor: &Actor) -> Result<Vec<OutboxMessage>, AppError> {
    actor.require(KEEPERS)?;
    let mut messages = app.store.outbox(MailState::Pending, LISTED).await?;
    messages.extend(app.store.outbox(MailState::Failed, LISTED).await?);
    Ok(messages)
}

/// Marks a waiting or failed message as posted by hand (printed and sent as a letter): its words
/// and link are emptied, and it is audited. A message being sent at this moment is not.
pub async fn mark_posted(app: &App, actor: &Actor, id: &str) -> Result<(), AppError> {
    actor.require(KEEPERS)?;
    let id = input::path_id(id, "message")?;
    let audit = AuditDraft::new(&actor.token_id, AuditAction::LetterPosted, &id, serde_json::json!({}));
    if app.store.mark_posted(&id, now_ms(), audit).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("message"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_quoting_an_address_stays_out_of_the_log() {
        assert_eq!(loggable("451 try again later"), "451 try again later");
        assert!(!loggable("550 5.1.1 <sam.okafor@example.org>: Recipient address rejected").contains('@'));
    }

    #[test]
    fn the_pause_doubles_up_to_half_an_hour() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(i64::MAX), MAX_BACKOFF);
    }
}
