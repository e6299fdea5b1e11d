//! Marketing's publishing queue and takedowns. Marketing sees captions as released, sizes and item
//! states; never a learner, a date of birth, a guardian or consent evidence.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::json::JsonBody;
use super::{input, ApiError, AppState, Caller};
use crate::policy::{Purpose, Reason};
use crate::store::{time_of_ms, ClaimOutcome, PublishOutcome, QueueItem, Role, Takedown};

/// Longest lease marketing may take: long enough to prepare a post, short enough that a
/// forgotten claim returns to the queue the same day.
const MAX_LEASE_SECONDS: u64 = 8 * 3600;
const DEFAULT_LEASE_SECONDS: u64 = 15 * 60;

fn rfc3339(ms: i64) -> String {
    time_of_ms(ms).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// An item as marketing sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    /// Item id, for `published`.
    pub item: String,
    /// The photo, for its image.
    pub photo_id: String,
    /// What it is released for.
    pub purpose: Purpose,
    /// `queued`, `claimed`, `published`, `withdrawn` or `taken_down`.
    #[schema(value_type = String)]
    pub state: crate::policy::State,
    /// Caption as released.
    pub caption: String,
    /// Alt text as released.
    pub alt_text: String,
    /// Title as released.
    pub title: String,
    /// Tags as released.
    pub tags: Vec<String>,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// When the caller's lease runs out (claimed items).
    pub lease_expires_at: Option<String>,
    /// The web rendition of the image.
    pub image_url: String,
}

impl From<QueueItem> for ItemView {
    fn from(i: QueueItem) -> Self {
        ItemView {
            image_url: format!("/api/v1/photos/{}/image?rendition=web", i.photo_id),
            item: i.item_id,
            photo_id: i.photo_id,
            purpose: i.purpose,
            state: i.state,
            caption: i.caption,
            alt_text: i.alt_text,
            title: i.title,
            tags: i.tags,
            width: i.width,
            height: i.height,
            lease_expires_at: i.lease_expires_at.filter(|_| i.state == crate::policy::State::Claimed).map(rfc3339),
        }
    }
}

/// `GET /api/v1/queue` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct QueueQuery {
    /// Only items for this purpose.
    pub purpose: Option<Purpose>,
}

/// `GET /api/v1/queue?purpose=`: released items, oldest first.
#[utoipa::path(get, path = "/api/v1/queue", params(QueueQuery),
    responses((status = 200, body = [ItemView])), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ItemView>>, ApiError> {
    caller.require(&[Role::Marketing, Role::Admin])?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let eval = state.evaluation(&caller.token_id).await?;
    let listed = state.store.queue(query.purpose, crate::store::now_ms(), 500).await?;
    // What is listed is re-checked now, as a claim would be: time passes (expiry, birthdays) and
    // names change between sweeps, and marketing must not be shown what it may not take. Those that
    // no longer pass leave the queue (stored, with their reasons). The queue is then read again, so
    // an item that a withdrawal took out between the first read and the re-check (and which the
    // re-check therefore found unchanged) is not listed either.
    let mut photos: Vec<String> = listed.iter().map(|i| i.photo_id.clone()).collect();
    photos.sort();
    photos.dedup();
    state.store.reevaluate(&photos, eval).await?;
    let items = state.store.queue(query.purpose, crate::store::now_ms(), 500).await?;
    Ok(Json(items.into_iter().map(ItemView::from).collect()))
}

/// `POST /api/v1/queue/claim` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The purpose to take an item for.
    pub purpose: Purpose,
    /// How long to hold it (default 900, at most 28800).
    pub lease_seconds: Option<u64>,
    /// This item rather than the oldest one (for example chosen from a grid); it must be for
    /// `purpose`.
    pub item: Option<String>,
}

/// An item id from a client: `<photo id>:<purpose>`, or `None` when it cannot name an item.
fn item_id(raw: &str) -> Option<(String, Purpose)> {
    let (photo, purpose) = raw.split_once(':')?;
    let purpose = purpose.parse::<Purpose>().ok()?;
    let photo = input::body_id(photo)?;
    Some((format!("{photo}:{}", purpose.as_str()), purpose))
}

/// `POST /api/v1/queue/claim`: lease the oldest item for a purpose (204 when none is left), or the
/// item named (409 when it is no longer in the queue). Consent and the rules are checked again at
/// this moment.
#[utoipa::path(post, path = "/api/v1/queue/claim", request_body = ClaimRequest,
    responses((status = 200, body = ItemView), (status = 204, description = "nothing to claim"),
        (status = 409, body = super::ops::ErrorBody, description = "the item named is no longer in the queue")),
    security(("bearer" = [])))]
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ClaimRequest>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Marketing])?;
    let lease = body.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS);
    if lease == 0 || lease > MAX_LEASE_SECONDS {
        return Err(ApiError::bad_form(format!("lease_seconds must be between 1 and {MAX_LEASE_SECONDS}")));
    }
    let lease_ms = i64::try_from(lease * 1000).unwrap_or(i64::MAX);
    let eval = state.evaluation(&caller.token_id).await?;
    if let Some(raw) = &body.item {
        let (item, purpose) = item_id(raw).ok_or_else(|| ApiError::not_found("queue item"))?;
        if purpose != body.purpose {
            return Err(ApiError::bad_form(format!("item {raw:?} is not for {}", body.purpose)));
        }
        return match state.store.claim_item(&item, &caller.token_id, lease_ms, eval).await? {
            ClaimOutcome::Claimed(item) => {
                metrics::counter!("consentgate_claims_total").increment(1);
                Ok(Json(ItemView::from(*item)).into_response())
            }
            ClaimOutcome::NotAvailable { state, reasons } => Err(not_available(Some((state, reasons)))),
            ClaimOutcome::Unknown => Err(not_available(None)),
        };
    }
    match state.store.claim(body.purpose, &caller.token_id, lease_ms, eval).await? {
        Some(item) => {
            metrics::counter!("consentgate_claims_total").increment(1);
            Ok(Json(ItemView::from(item)).into_response())
        }
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The 409 for an item that cannot be claimed, with its state and the reasons it is held (read
/// after the claim's re-check, so they are current). Only reason codes: no learner is named.
fn not_available(status: Option<(crate::policy::State, Vec<Reason>)>) -> ApiError {
    let error = ApiError::new(
        StatusCode::CONFLICT,
        "not_available",
        "this item is no longer in the queue: someone else claimed it, or consent for it no longer holds",
    );
    // An item that never existed answers like one that left, without detail.
    match status {
        Some((state, reasons)) => error.with_detail(serde_json::json!({ "state": state, "reasons": reasons })),
        None => error,
    }
}

/// `POST /api/v1/queue/{item}/published` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// Where it went (http or https).
    pub url: String,
    /// The channel: `website`, `instagram`, `prospectus`…
    pub channel: String,
}

/// `POST /api/v1/queue/{item}/published`: where an item was published. Every report is recorded,
/// even after the caller's lease ran out or while someone else holds the item, and each channel is
/// its own publication: each one is owed a takedown if consent goes.
#[utoipa::path(post, path = "/api/v1/queue/{item}/published", params(("item" = String, Path)), request_body = Published,
    responses((status = 200, body = ItemView), (status = 404, body = super::ops::ErrorBody),
        (status = 409, body = super::ops::ErrorBody, description = "recorded, but consent does not hold: a takedown is owed")),
    security(("bearer" = [])))]
pub async fn published(
    State(state): State<AppState>,
    caller: Caller,
    Path(item): Path<String>,
    JsonBody(body): JsonBody<Published>,
) -> Result<Json<ItemView>, ApiError> {
    caller.require(&[Role::Marketing])?;
    // Item ids are `<photo id>:<purpose>`; anything else names no item.
    let item = match item.split_once(':') {
        Some((photo, purpose)) if purpose.parse::<Purpose>().is_ok() => {
            format!("{}:{purpose}", input::path_id(photo, "queue item")?)
        }
        _ => return Err(ApiError::not_found("queue item")),
    };
    let url = input::free_text("url", body.url.trim().to_string(), 2000)?;
    if !url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return Err(ApiError::bad_form("url must be an http or https address"));
    }
    let channel = input::free_text("channel", body.channel.trim().to_string(), 100)?;
    if channel.is_empty() {
        return Err(ApiError::bad_form("channel must not be empty"));
    }
    let eval = state.evaluation(&caller.token_id).await?;
    match state.store.publish(&item, &caller.token_id, &url, &channel, eval).await? {
        PublishOutcome::Published(item) => Ok(Json(ItemView::from(*item))),
        PublishOutcome::TakedownOwed(reasons) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "takedown_owed",
            "consent for this photo stopped holding while you held it: take it down (see GET /api/v1/takedowns)",
        )
        .with_detail(serde_json::json!({ "reasons": reasons }))),
        PublishOutcome::Unknown => Err(ApiError::not_found("queue item")),
    }
}

/// A takedown as marketing sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TakedownView {
    /// Takedown id, for `done`.
    pub id: String,
    /// The photo.
    pub photo_id: String,
    /// The purpose it was published for.
    pub purpose: Purpose,
    /// Where it was published: take it down there.
    pub url: String,
    /// The channel.
    pub channel: String,
    /// Caption as released with this publication, to recognise the post.
    pub caption: String,
    /// Alt text as released with this publication.
    pub alt_text: String,
    /// Why (for example `withdrawn`).
    #[schema(value_type = Vec<String>)]
    pub reasons: Vec<Reason>,
    /// When it became owed.
    pub since: String,
    /// When it was confirmed done.
    pub done_at: Option<String>,
}

impl From<Takedown> for TakedownView {
    fn from(t: Takedown) -> Self {
        TakedownView {
            id: t.id,
            photo_id: t.photo_id,
            purpose: t.purpose,
            url: t.url,
            channel: t.channel,
            caption: t.caption,
            alt_text: t.alt_text,
            reasons: t.reasons,
            since: rfc3339(t.created_at),
            done_at: t.done_at.map(rfc3339),
        }
    }
}

/// `GET /api/v1/takedowns` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TakedownQuery {
    /// Include the ones already done.
    #[serde(default)]
    pub all: bool,
}

/// `GET /api/v1/takedowns`: what must come down, and where; oldest first.
#[utoipa::path(get, path = "/api/v1/takedowns", params(TakedownQuery),
    responses((status = 200, body = [TakedownView])), security(("bearer" = [])))]
pub async fn takedowns(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<TakedownQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TakedownView>>, ApiError> {
    caller.require(&[Role::Marketing, Role::Admin])?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    Ok(Json(state.store.takedowns(query.all).await?.into_iter().map(TakedownView::from).collect()))
}

/// `POST /api/v1/takedowns/{id}/done`: marketing confirms it came down.
#[utoipa::path(post, path = "/api/v1/takedowns/{id}/done", params(("id" = String, Path)),
    responses((status = 204, description = "recorded"), (status = 404, body = super::ops::ErrorBody)), security(("bearer" = [])))]
pub async fn takedown_done(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Marketing])?;
    let id = input::path_id(&id, "open takedown")?;
    if state.store.takedown_done(&id, state.evaluation(&caller.token_id).await?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("open takedown"))
    }
}
