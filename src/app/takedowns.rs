//! Takedowns that do not depend on marketing happening to sign in: marketing officers and
//! safeguarding leads with a staff account are emailed when one is owed and again when it is still
//! owed past [`crate::config::Settings::takedown_overdue_after`]; and a small copy of the picture
//! (at most 160 px) is kept while a takedown of it is open, so the officer can find the post after
//! the image itself was deleted, and deleted once every takedown of it is confirmed.

use bytes::Bytes;

use super::{letters, Actor, App, AppError};
use crate::media;
use crate::objects::Objects;
use crate::store::{
    now_ms, AuditAction, AuditDraft, MailKind, OutboxMessage, Role, StoreError, Takedown, TakedownNotice,
};

/// Who is emailed about takedowns: marketing, who take the photo down, and safeguarding leads,
/// who answer for it.
pub const TOLD: &[Role] = &[Role::Marketing, Role::Admin];
/// Who may see a takedown's small copy: those who see takedowns.
pub const THUMB_VIEWERS: &[Role] = &[Role::Marketing, Role::Admin];
/// Notices handled per pass.
const BATCH: i64 = 100;

/// How long, in words: "26 hours", "3 days".
fn waited_words(ms: i64) -> String {
    let hours = ms / 3_600_000;
    match hours {
        ..=1 => "about an hour".to_string(),
        2..=47 => format!("{hours} hours"),
        _ => format!("{} days", hours / 24),
    }
}

/// Where a publication went out, as people read it: the URL, or the channel's words for an
/// offline use, or both.
fn place(takedown: &Takedown) -> String {
    match (takedown.channel.trim(), takedown.url.trim()) {
        ("", url) => url.to_string(),
        (channel, "") => channel.to_string(),
        (channel, url) if url.contains(channel) => url.to_string(),
        (channel, url) => format!("{channel}: {url}"),
    }
}

/// Queues the emails due about open takedowns (each once, whichever replica gets there first) and
/// returns how many takedowns were told about. Nothing is sent without a mail server, or while
/// nobody with a staff account could be told (an API token has no address).
pub async fn tell_due(app: &App) -> Result<usize, StoreError> {
    if app.mailer.is_none() {
        return Ok(0);
    }
    let now = now_ms();
    let overdue_ms = i64::try_from(app.settings.takedown_overdue_after.as_millis()).unwrap_or(i64::MAX);
    let due = app.store.takedown_notices_due(now.saturating_sub(overdue_ms), BATCH).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let staff: Vec<_> = app
        .store
        .tokens()
        .await?
        .into_iter()
        .filter(|t| TOLD.contains(&t.role) && crate::tokens::live_at(t, now))
        .filter_map(|t| t.email.clone().map(|email| (t, email)))
        .collect();
    if staff.is_empty() {
        return Ok(0);
    }
    let sender = letters::Sender::of(&app.settings);
    let zone = app.settings.rules.zone;
    let link = format!("{}/marketing", app.settings.public_url);
    let mut told = 0;
    for (takedown, notice) in due {
        let overdue = notice == TakedownNotice::Overdue;
        let (place, why) = (place(&takedown), letters::takedown_words(&takedown.reasons));
        let (since, waited) = (letters::moment(takedown.created_at, zone), waited_words(now - takedown.created_at));
        let facts = letters::TakedownFacts {
            place: &place,
            purpose: takedown.purpose.as_str(),
            why: &why,
            since: &since,
            waited: &waited,
            link: &link,
        };
        let kind = if overdue { MailKind::TakedownOverdue } else { MailKind::TakedownOwed };
        let mails: Vec<OutboxMessage> = staff
            .iter()
            .map(|(person, email)| {
                let letter = letters::takedown(&sender, &person.name, overdue, facts);
                OutboxMessage::to_staff(kind, &person.id, (&person.name, email), letter, now)
            })
            .collect();
        let audit = AuditDraft::new(
            "system",
            AuditAction::TakedownNoticeSent,
            &takedown.photo_id,
            serde_json::json!({
                "takedown": takedown.id,
                "notice": if overdue { "overdue" } else { "owed" },
                "recipients": mails.len(),
            }),
        );
        if app.store.record_takedown_notice(&takedown.id, notice, now, &mails, audit).await? {
            told += 1;
        }
    }
    if told > 0 {
        app.wake_sender();
        tracing::info!(told, "takedown notices queued");
    }
    Ok(told)
}

async fn open_takedown_of(app: &App, photo_id: &str) -> Result<bool, StoreError> {
    Ok(app.store.takedowns_of(photo_id).await?.iter().any(|t| t.done_at.is_none()))
}

/// Before an image is deleted: when a takedown of its photo is open, keeps a copy of at most 160
/// px (from the thumbnail, else the image). A failure is logged: the takedown still lists where
/// the photo went out.
pub async fn keep_small_copy(app: &App, photo_id: &str, image_key: &str) {
    let kept = async {
        if !open_takedown_of(app, photo_id).await? {
            return Ok::<bool, AppError>(false);
        }
        let source = match app.objects.get(&Objects::rendition_key(image_key, "thumb")).await? {
            Some(bytes) => bytes,
            None => match app.objects.get(image_key).await? {
                Some(bytes) => bytes,
                None => return Ok(false),
            },
        };
        let limits = app.settings.limits;
        let small = tokio::task::spawn_blocking(move || media::rendition::takedown_copy(&source, &limits))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        app.objects.put(&Objects::takedown_copy_key(photo_id), Bytes::from(small)).await?;
        Ok(true)
    };
    if let Err(e) = kept.await {
        tracing::error!(error = %e, "cannot keep a small copy of a photo a takedown is owed for");
    }
}

/// Deletes a photo's small copy once no takedown of it is open (after a confirmation).
pub async fn drop_small_copy_when_done(app: &App, photo_id: &str) -> Result<(), AppError> {
    if !open_takedown_of(app, photo_id).await? {
        app.objects.delete(&Objects::takedown_copy_key(photo_id)).await?;
    }
    Ok(())
}

/// Deletes a photo's small copy whatever its takedowns say: the learner pictured is being erased.
pub async fn drop_small_copy(app: &App, photo_id: &str) -> Result<(), AppError> {
    Ok(app.objects.delete(&Objects::takedown_copy_key(photo_id)).await?)
}

/// The small copy kept for an open takedown of `photo_id`.
pub async fn small_copy(app: &App, actor: &Actor, photo_id: &str) -> Result<Bytes, AppError> {
    actor.require(THUMB_VIEWERS)?;
    let photo_id = super::input::path_id(photo_id, "small copy")?;
    if !open_takedown_of(app, &photo_id).await? {
        return Err(AppError::NotFound("small copy"));
    }
    app.objects.get(&Objects::takedown_copy_key(&photo_id)).await?.ok_or(AppError::NotFound("small copy"))
}

/// Deletes small copies no open takedown needs (a confirmation that crashed before deleting its
/// copy); returns how many went.
pub async fn sweep_small_copies(app: &App) -> Result<usize, AppError> {
    let mut swept = 0;
    for (photo_id, key) in app.objects.takedown_copies().await? {
        if !open_takedown_of(app, &photo_id).await? {
            app.objects.delete(&key).await?;
            swept += 1;
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_is_said_in_hours_then_days() {
        assert_eq!(waited_words(30 * 60_000), "about an hour");
        assert_eq!(waited_words(26 * 3_600_000), "26 hours");
        assert_eq!(waited_words(72 * 3_600_000), "3 days");
    }

    #[test]
    fn the_place_is_the_url_or_the_offline_use_or_both() {
        let mut t = Takedown {
            id: "t".into(),
            photo_id: "p".into(),
            purpose: crate::policy::Purpose::Print,
            url: String::new(),
            channel: "Prospectus 2027, page 4".into(),
            caption: String::new(),
            alt_text: String::new(),
            reasons: vec![],
            created_at: 0,
            done_at: None,
            owed_told_at: None,
            overdue_told_at: None,
        };
        assert_eq!(place(&t), "Prospectus 2027, page 4");
        t.url = "https://example.org/news/robots".into();
        t.channel = "website".into();
        assert_eq!(place(&t), "website: https://example.org/news/robots");
        t.channel = "example.org".into();
        assert_eq!(place(&t), "https://example.org/news/robots");
        t.channel = String::new();
        assert_eq!(place(&t), "https://example.org/news/robots");
    }
}
