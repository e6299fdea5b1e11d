//! Marketing's publishing queue and takedowns. Marketing sees captions as released, sizes and item
//! states; never a learner, a date of birth, a guardian or consent evidence.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::doc::{Channel, Id, ItemId, PublishedUrl};
use super::error::{ApiError, AuthErrors, ErrorBody, JsonErrors, NotFoundErrors, QueryErrors};
use super::json::rfc3339;
use super::json::JsonBody;
use super::state::HttpState;
use crate::app::queue::ClaimOutcome;
use crate::app::{self, Actor, AppError};
use crate::policy::{Purpose, Reason};
use crate::store::{QueueItem, Takedown};

/// An item as marketing sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    /// Item id, for `published`.
    pub item: String,
    /// The photo, for its image.
    pub photo_id: String,
    /// What it is released for.
    pub purpose: Purpose,
    /// Where it stands.
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
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only items for this purpose.
    pub purpose: Option<Purpose>,
}

/// `GET /api/v1/queue?purpose=`: released items, oldest first.
#[utoipa::path(get, path = "/api/v1/queue", operation_id = "list_queue", tag = "queue", params(QueueQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = [ItemView], description = "released items, oldest first")), security(("bearer" = [])))]
pub async fn list(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ItemView>>, ApiError> {
    // The role is checked before the query is read, so a caller without it learns nothing from
    // a malformed query (401 → 403 → 404 → 422, as on every route).
    caller.require(app::queue::QUEUE_READERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let items = app::queue::list(&state.app, &caller, query.purpose).await?;
    Ok(Json(items.into_iter().map(ItemView::from).collect()))
}

/// `POST /api/v1/queue/claim` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// The purpose to take an item for.
    pub purpose: Purpose,
    /// How long to hold it (default 900).
    #[schema(minimum = 1, maximum = 28800)]
    pub lease_seconds: Option<u64>,
    /// This item rather than the oldest one (for example chosen from a grid); it must be for
    /// `purpose`.
    #[schema(value_type = Option<ItemId>)]
    pub item: Option<String>,
}

/// `POST /api/v1/queue/claim`: lease the oldest item for a purpose (204 when none is left), or the
/// item named (409 when it is no longer in the queue). Consent and the rules are checked again at
/// this moment.
#[utoipa::path(post, path = "/api/v1/queue/claim", operation_id = "claim_item", tag = "queue", request_body = ClaimRequest,
    responses(AuthErrors, JsonErrors, (status = 200, body = ItemView, description = "recorded"), (status = 204, description = "nothing to claim"),
        (status = 404, body = ErrorBody, description = "`not_found`: `item` names no queue item"),
        (status = 409, body = ErrorBody, description = "`not_available`: the item named is no longer in the queue (`detail.state`, `detail.reasons`)")),
    security(("bearer" = [])))]
pub async fn claim(
    State(state): State<HttpState>,
    caller: Actor,
    JsonBody(body): JsonBody<ClaimRequest>,
) -> Result<Response, ApiError> {
    let outcome =
        app::queue::claim(&state.app, &caller, body.purpose, body.item.as_deref(), body.lease_seconds).await?;
    Ok(match outcome {
        ClaimOutcome::Claimed(item) => Json(ItemView::from(*item)).into_response(),
        ClaimOutcome::NothingLeft => StatusCode::NO_CONTENT.into_response(),
        ClaimOutcome::NotAvailable { status } => return Err(AppError::NotAvailable { status }.into()),
    })
}

/// `POST /api/v1/queue/{item}/published` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// Where it can be seen: an http or https address of at most 2000 characters; empty (or left
    /// out) for a print or internal use with no address.
    #[schema(value_type = PublishedUrl)]
    #[serde(default)]
    pub url: String,
    /// Where it went: a channel (`website`, `instagram`) or an offline use in words ("Prospectus
    /// 2027, page 4"); not blank, one line, at most 300 characters.
    #[schema(value_type = Channel)]
    pub channel: String,
}

/// `POST /api/v1/queue/{item}/published`: where an item was published. Every report is recorded,
/// even after the caller's lease ran out or while someone else holds the item, and each channel is
/// its own publication: each one is owed a takedown if consent goes.
#[utoipa::path(post, path = "/api/v1/queue/{item}/published", operation_id = "record_publication", tag = "queue",
    params(("item" = ItemId, Path, description = "Queue item id")),
    request_body = Published,
    responses(AuthErrors, NotFoundErrors, JsonErrors, (status = 200, body = ItemView, description = "recorded"),
        (status = 409, body = ErrorBody, description = "`takedown_owed`: recorded, but consent does not hold: take it down (`detail.reasons`)")),
    security(("bearer" = [])))]
pub async fn published(
    State(state): State<HttpState>,
    caller: Actor,
    Path(item): Path<String>,
    JsonBody(body): JsonBody<Published>,
) -> Result<Json<ItemView>, ApiError> {
    let item = app::queue::publish(&state.app, &caller, &item, &body.url, &body.channel).await?;
    Ok(Json(ItemView::from(item)))
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
#[into_params(parameter_in = Query)]
pub struct TakedownQuery {
    /// Include the ones already done.
    #[serde(default)]
    pub all: bool,
}

/// `GET /api/v1/takedowns`: what must come down, and where; oldest first.
#[utoipa::path(get, path = "/api/v1/takedowns", operation_id = "list_takedowns", tag = "takedowns", params(TakedownQuery),
    responses(AuthErrors, QueryErrors, (status = 200, body = [TakedownView], description = "takedowns, oldest first")), security(("bearer" = [])))]
pub async fn takedowns(
    State(state): State<HttpState>,
    caller: Actor,
    query: Result<Query<TakedownQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<TakedownView>>, ApiError> {
    // The role is checked before the query is read, so a caller without it learns nothing from
    // a malformed query (401 → 403 → 404 → 422, as on every route).
    caller.require(app::queue::QUEUE_READERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let takedowns = app::queue::takedowns(&state.app, &caller, query.all).await?;
    Ok(Json(takedowns.into_iter().map(TakedownView::from).collect()))
}

/// `POST /api/v1/takedowns/{id}/done`: marketing confirms it came down.
#[utoipa::path(post, path = "/api/v1/takedowns/{id}/done", operation_id = "confirm_takedown", tag = "takedowns",
    params(("id" = Id, Path, description = "Takedown id")),
    responses(AuthErrors, NotFoundErrors, (status = 204, description = "recorded")), security(("bearer" = [])))]
pub async fn takedown_done(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app::queue::takedown_done(&state.app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
