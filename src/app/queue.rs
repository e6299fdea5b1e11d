//! Marketing's publishing queue: what is released (re-checked as it is listed), claiming an item
//! (consent and the name check decided again at that moment), recording where it was published,
//! and the takedowns owed when consent goes. Marketing never sees a learner, a date of birth, a
//! guardian or consent evidence.

use super::{input, Actor, App, AppError};
use crate::policy::{self, Purpose, Reason, State};
use crate::store::{self, now_ms, PublishOutcome, QueueItem, Role, Takedown};

/// Longest lease marketing may take: long enough to prepare a post, short enough that a
/// forgotten claim returns to the queue the same day.
pub const MAX_LEASE_SECONDS: u64 = 8 * 3600;
/// Longest address a publication is reported at.
pub const MAX_URL: usize = 2000;
/// Longest "where" a publication is reported on: a channel, or an offline use in words
/// ("Prospectus 2027, page 4; 2,000 copies").
pub const MAX_CHANNEL: usize = 300;
/// How much longer "keep it longer" holds a claim from now.
pub const EXTENSION_SECONDS: u64 = 60 * 60;
/// The lease when none is asked for.
pub const DEFAULT_LEASE_SECONDS: u64 = 15 * 60;
/// Who takes items from the queue, publishes them and confirms takedowns: marketing.
pub const PUBLISHERS: &[Role] = &[Role::Marketing];
/// Who may see the queue and the takedowns: marketing, and safeguarding leads who oversee them.
pub const QUEUE_READERS: &[Role] = &[Role::Marketing, Role::Admin];

/// Most items one listing shows.
const LISTING: i64 = 500;

/// The released items (for `purpose`, or all), oldest first. What is listed is re-checked now, as
/// a claim would be: time passes (expiry, birthdays) and names change between maintenance passes,
/// and marketing must not be shown what it may not take. Those that no longer pass leave the queue
/// (stored, with their reasons). The queue is then read again, so an item that a withdrawal took
/// out between the first read and the re-check (which therefore found it unchanged) is not listed
/// either.
pub async fn list(app: &App, actor: &Actor, purpose: Option<Purpose>) -> Result<Vec<QueueItem>, AppError> {
    actor.require(QUEUE_READERS)?;
    let eval = app.evaluation(&actor.token_id).await?;
    let listed = app.store.queue(purpose, now_ms(), LISTING).await?;
    let mut photos: Vec<String> = listed.iter().map(|i| i.photo_id.clone()).collect();
    photos.sort();
    photos.dedup();
    app.store.reevaluate(&photos, eval).await?;
    Ok(app.store.queue(purpose, now_ms(), LISTING).await?)
}

/// What a claim did.
#[derive(Debug, Clone)]
pub enum ClaimOutcome {
    /// The item is leased to the actor.
    Claimed(Box<QueueItem>),
    /// Nothing for that purpose is releasable now.
    NothingLeft,
    /// The item named cannot be had: someone else holds it, it left the queue, or consent for it
    /// no longer holds. Its state and reasons as the claim's re-check left them (codes only: no
    /// learner is named); `None` for an item that never existed, which answers like one that left.
    NotAvailable {
        /// The item's state and why it is held.
        status: Option<(State, Vec<Reason>)>,
    },
}

/// An item id from a client: `<photo id>:<purpose>`, canonical, or `None` when it cannot name an
/// item.
pub fn item_id(raw: &str) -> Option<(String, Purpose)> {
    let (photo, purpose) = raw.split_once(':')?;
    let purpose = purpose.parse::<Purpose>().ok()?;
    let photo = input::body_id(photo)?;
    Some((format!("{photo}:{}", purpose.as_str()), purpose))
}

/// Leases an item for `purpose` to a marketing officer for `lease_seconds` (default 15 minutes):
/// the item named (`item`, for example chosen from a grid), or else the oldest releasable one.
/// Consent and the name check are decided again inside the claim's transaction; a named item that
/// cannot be had is [`ClaimOutcome::NotAvailable`] with its state and reasons.
pub async fn claim(
    app: &App,
    actor: &Actor,
    purpose: Purpose,
    item: Option<&str>,
    lease_seconds: Option<u64>,
) -> Result<ClaimOutcome, AppError> {
    actor.require(PUBLISHERS)?;
    let lease = lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    if lease == 0 || lease > MAX_LEASE_SECONDS {
        return Err(AppError::invalid_field(
            "lease_seconds",
            format!("lease_seconds must be between 1 and {MAX_LEASE_SECONDS}"),
        ));
    }
    let lease_ms = i64::try_from(lease * 1000).unwrap_or(i64::MAX);
    let eval = app.evaluation(&actor.token_id).await?;
    let claimed = match item {
        Some(raw) => {
            let (item, item_purpose) = item_id(raw).ok_or(AppError::NotFound("queue item"))?;
            if item_purpose != purpose {
                return Err(AppError::invalid_field("item", format!("item {raw:?} is not for {purpose}")));
            }
            match app.store.claim_item(&item, &actor.token_id, lease_ms, eval).await? {
                store::ClaimOutcome::Claimed(item) => item,
                store::ClaimOutcome::NotAvailable { state, reasons } => {
                    return Ok(ClaimOutcome::NotAvailable { status: Some((state, reasons)) })
                }
                store::ClaimOutcome::Unknown => return Ok(ClaimOutcome::NotAvailable { status: None }),
            }
        }
        None => match app.store.claim(purpose, &actor.token_id, lease_ms, eval).await? {
            Some(item) => Box::new(item),
            None => return Ok(ClaimOutcome::NothingLeft),
        },
    };
    metrics::counter!("consentgate_claims_total").increment(1);
    Ok(ClaimOutcome::Claimed(claimed))
}

/// Records where an item was published. Every report is recorded, even after the reporter's
/// lease ran out or while someone else holds the item, and each channel is its own publication:
/// each one is owed a takedown if consent goes. When consent does not hold at this moment the
/// publication is recorded and [`AppError::TakedownOwed`] says it must come down at once.
pub async fn publish(app: &App, actor: &Actor, item: &str, url: &str, channel: &str) -> Result<QueueItem, AppError> {
    actor.require(PUBLISHERS)?;
    let (item, purpose) = item_id(item).ok_or(AppError::NotFound("queue item"))?;
    let url = input::free_text("url", url.trim().to_string(), MAX_URL)?;
    // Print and internal uses often have no address (a prospectus, a display board): "where"
    // in words is enough; online uses always have one.
    let offline = matches!(purpose, Purpose::Print | Purpose::Internal);
    let web_address = url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    let accepted = web_address || (url.is_empty() && offline);
    if !accepted {
        return Err(AppError::invalid_field(
            "url",
            if offline {
                "url must be an http or https address, or left empty when there is none"
            } else {
                "url must be an http or https address: where it can be seen online"
            },
        ));
    }
    let channel = input::free_text("channel", channel.trim().to_string(), MAX_CHANNEL)?;
    if channel.is_empty() || channel.contains(['\n', '\r']) {
        return Err(AppError::invalid_field("channel", "say where it was published, on one line"));
    }
    let eval = app.evaluation(&actor.token_id).await?;
    match app.store.publish(&item, &actor.token_id, &url, &channel, eval).await? {
        PublishOutcome::Published(item) => Ok(*item),
        PublishOutcome::TakedownOwed(reasons) => Err(AppError::TakedownOwed { reasons }),
        PublishOutcome::Unknown => Err(AppError::NotFound("queue item")),
    }
}

/// A marketing officer keeps a photo they hold for another hour from now (at most
/// [`MAX_LEASE_SECONDS`] from now); 409 `claim_not_running` when it is not theirs or their time
/// already ran out (a colleague may have it now: they claim it again).
pub async fn extend(app: &App, actor: &Actor, item: &str) -> Result<i64, AppError> {
    actor.require(PUBLISHERS)?;
    let (item, _) = item_id(item).ok_or(AppError::NotFound("queue item"))?;
    let now = now_ms();
    let until = now + i64::try_from(EXTENSION_SECONDS.min(MAX_LEASE_SECONDS) * 1000).unwrap_or(0);
    let audit = store::AuditDraft::new(
        &actor.token_id,
        store::AuditAction::ItemClaimed,
        item.split(':').next().unwrap_or_default(),
        serde_json::json!({ "item": item, "extended_until": until }),
    );
    if app.store.extend_claim(&item, &actor.token_id, now, until, audit).await? {
        Ok(until)
    } else {
        Err(AppError::conflict(
            "claim_not_running",
            "your time with this photo already ran out, or it is not yours: claim it again from the queue",
        ))
    }
}

/// What the officer published, newest first (their last 200).
pub async fn published_by_me(app: &App, actor: &Actor) -> Result<Vec<store::PublicationRecord>, AppError> {
    actor.require(PUBLISHERS)?;
    Ok(app.store.publications_by(&actor.token_id, 200).await?)
}

/// The takedowns, open ones only unless `all`, oldest first.
pub async fn takedowns(app: &App, actor: &Actor, all: bool) -> Result<Vec<Takedown>, AppError> {
    actor.require(QUEUE_READERS)?;
    Ok(app.store.takedowns(all).await?)
}

/// Marketing confirms a takedown (`id` as given in a path); [`AppError::NotFound`] when there is no
/// such open one (already confirmed by a second tap or a colleague).
pub async fn takedown_done(app: &App, actor: &Actor, id: &str) -> Result<(), AppError> {
    actor.require(PUBLISHERS)?;
    let id = input::path_id(id, "open takedown")?;
    let photo_id = app.store.takedown(&id).await?.map(|t| t.photo_id);
    if app.store.takedown_done(&id, app.evaluation(&actor.token_id).await?).await? {
        if let Some(photo_id) = photo_id {
            // The last one of the photo confirmed: its small copy goes (the sweep retries a failure).
            if let Err(e) = super::takedowns::drop_small_copy_when_done(app, &photo_id).await {
                tracing::error!(error = %e, "cannot delete a takedown's small copy; the sweep will retry");
            }
        }
        Ok(())
    } else {
        Err(AppError::NotFound("open takedown"))
    }
}

/// How far back a marketing officer's lapsed claims are shown: long enough to cover a holiday,
/// short enough that a claim abandoned long ago stops asking for attention.
const LAPSED_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;

/// A takedown with what identifies its photo: caption and alt text as on record, and whether the
/// image still exists (for a thumbnail).
#[derive(Debug, Clone)]
pub struct OwedTakedown {
    /// The takedown.
    pub takedown: Takedown,
    /// The photo's caption now.
    pub caption: String,
    /// The photo's alt text now.
    pub alt_text: String,
    /// Whether the image still exists.
    pub image_exists: bool,
    /// Whether a small copy was kept after the image was deleted ([`super::takedowns`]).
    pub small_copy: bool,
}

/// Everything a marketing officer's page shows: takedowns owed, the items they hold, their claims
/// that ran out unrecorded, and the queue.
#[derive(Debug, Clone)]
pub struct Desk {
    /// Open takedowns, oldest first.
    pub takedowns: Vec<OwedTakedown>,
    /// Items the officer holds under a running lease.
    pub mine: Vec<QueueItem>,
    /// Their claims that ran out in the last 30 days with no publication recorded: the officer
    /// may have published anyway, and a publication never recorded could never be taken down.
    pub lapsed: Vec<QueueItem>,
    /// The queue (for `purpose`, or all), at most 200.
    pub queue: Vec<QueueItem>,
}

/// A marketing officer's desk.
pub async fn desk(app: &App, actor: &Actor, purpose: Option<Purpose>) -> Result<Desk, AppError> {
    actor.require(PUBLISHERS)?;
    let now = now_ms();
    let mut takedowns = Vec::new();
    for takedown in app.store.takedowns(false).await? {
        // The photo's own row says which photo it is; its image may be gone after a withdrawal.
        let photo = app.store.photo(&takedown.photo_id).await?;
        let image_exists = photo.as_ref().is_some_and(|p| p.image_deleted_at.is_none());
        let small_copy = !image_exists
            && app.objects.exists(&crate::objects::Objects::takedown_copy_key(&takedown.photo_id)).await?;
        takedowns.push(OwedTakedown {
            image_exists,
            small_copy,
            caption: photo.as_ref().map(|p| p.caption.clone()).unwrap_or_default(),
            alt_text: photo.as_ref().map(|p| p.alt_text.clone()).unwrap_or_default(),
            takedown,
        });
    }
    let me = &actor.token_id;
    Ok(Desk {
        takedowns,
        mine: app.store.items_claimed_by(me, now).await?,
        lapsed: app.store.lapsed_claims_of(me, now, now - LAPSED_WINDOW_MS, 50).await?,
        queue: app.store.queue(purpose, now, 200).await?,
    })
}

/// Whether an item the queue lists as `state` may be offered for claiming (queued, or claimed
/// under a lease that has run out: the queue lists only those).
pub fn claimable(item: &QueueItem) -> bool {
    policy::release::claimable(item.state, item.lease_expires_at, now_ms())
}
