//! Marketing's page: takedowns first and impossible to miss, then the items the officer holds
//! (download, record where it went), then their claims whose time ran out (a photo published
//! without a record could never be taken down), then the queue as a grid of thumbnails. Every
//! action goes through the JSON API's handler, so consent and the name check are checked again
//! at claim and at download exactly as for a script.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::words::{purpose_words, takedown_words};
use super::{done, render, require, Chrome, PageError, PageForm};
use crate::http::json::JsonBody;
use crate::http::queue::{self, ClaimRequest, Published};
use crate::http::session::Session;
use crate::http::{ApiError, AppState};
use crate::policy::Purpose;
use crate::policy::State as ItemState;
use crate::store::{now_ms, time_of_ms, QueueItem, Role, Takedown};

pub(super) fn routes() -> axum::Router<AppState> {
    Router::new()
        .route("/marketing", get(queue_page))
        .route("/marketing/claim", post(claim))
        .route("/marketing/items/{item}/published", post(published))
        .route("/marketing/takedowns/{id}/done", post(takedown_done))
}

/// `/marketing?purpose=&done=`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct MarketingQuery {
    /// Show only this purpose.
    pub purpose: Option<Purpose>,
    /// A notice code.
    pub done: Option<String>,
}

/// An item as a tile of the grid.
struct Tile {
    item: String,
    photo_id: String,
    purpose_value: &'static str,
    purpose: &'static str,
    caption: String,
    alt_text: String,
    until: String,
    /// Whether it can be claimed again (a lapsed claim whose photo is still releasable).
    claimable: bool,
}

impl Tile {
    fn of(item: QueueItem) -> Tile {
        Tile {
            until: item.lease_expires_at.map(time_text).unwrap_or_default(),
            item: item.item_id,
            photo_id: item.photo_id,
            purpose_value: item.purpose.as_str(),
            purpose: purpose_words(item.purpose),
            caption: item.caption,
            alt_text: item.alt_text,
            claimable: matches!(item.state, ItemState::Queued | ItemState::Claimed),
        }
    }
}

/// A takedown as the page shows it: which photo (its caption, and a thumbnail while the image
/// exists), where it went, and why it must come down.
struct Owed {
    id: String,
    url: String,
    channel: String,
    purpose: &'static str,
    since: String,
    why: String,
    photo_id: String,
    caption: String,
    alt_text: String,
    thumbnail: bool,
}

/// How far back the page looks for claims that ran out: long enough to cover a holiday, short
/// enough that a claim abandoned long ago stops asking for attention.
const LAPSED_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;

fn time_text(ms: i64) -> String {
    let format = time::macros::format_description!("[day] [month repr:short], [hour]:[minute] UTC");
    time_of_ms(ms).format(&format).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "marketing.html")]
struct QueuePage {
    chrome: Chrome,
    csrf: String,
    takedowns: Vec<Owed>,
    mine: Vec<Tile>,
    lapsed: Vec<Tile>,
    queue: Vec<Tile>,
    filter: Option<&'static str>,
    purposes: Vec<(&'static str, &'static str)>,
}

async fn queue_page(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<MarketingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, &[Role::Marketing])?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let now = now_ms();
    let mut takedowns = Vec::new();
    for t in state.store.takedowns(false).await? {
        let Takedown { id, photo_id, purpose, url, channel, reasons, created_at, .. } = t;
        // The photo's own row says which photo it is; its image may be gone after a withdrawal.
        let photo = state.store.photo(&photo_id).await?;
        takedowns.push(Owed {
            id,
            url,
            channel,
            purpose: purpose_words(purpose),
            since: time_text(created_at),
            why: takedown_words(&reasons),
            thumbnail: photo.as_ref().is_some_and(|p| p.image_deleted_at.is_none()),
            caption: photo.as_ref().map(|p| p.caption.clone()).unwrap_or_default(),
            alt_text: photo.as_ref().map(|p| p.alt_text.clone()).unwrap_or_default(),
            photo_id,
        });
    }
    let me = &session.caller.token_id;
    let mine = state.store.items_claimed_by(me, now).await?.into_iter().map(Tile::of).collect();
    let lapsed =
        state.store.lapsed_claims_of(me, now, now - LAPSED_WINDOW_MS, 50).await?.into_iter().map(Tile::of).collect();
    let queue = state.store.queue(query.purpose, now, 200).await?.into_iter().map(Tile::of).collect();
    let chrome = Chrome::new("Publishing queue", &session).with_notice(super::notice_text(query.done.as_deref()));
    Ok(render(
        StatusCode::OK,
        &QueuePage {
            chrome,
            csrf: session.csrf.clone(),
            takedowns,
            mine,
            lapsed,
            queue,
            filter: query.purpose.map(Purpose::as_str),
            purposes: Purpose::ALL.iter().map(|p| (p.as_str(), purpose_words(*p))).collect(),
        },
    ))
}

async fn claim(State(state): State<AppState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, &[Role::Marketing])?;
    let purpose: Purpose = form.fields.text("purpose").parse().map_err(ApiError::bad_form)?;
    let item = Some(form.fields.text("item")).filter(|i| !i.is_empty());
    let request = ClaimRequest { purpose, lease_seconds: None, item };
    let answer = match queue::claim(State(state), form.session.caller.clone(), JsonBody(request)).await {
        // Someone was quicker, or consent stopped holding: not an error for the person at the grid.
        Err(e) if e.code == "not_available" => return Ok(done("/marketing", "not_available")),
        other => other?,
    };
    Ok(if answer.status() == StatusCode::NO_CONTENT {
        done("/marketing", "nothing_to_claim")
    } else {
        done("/marketing", "claimed")
    })
}

async fn published(
    State(state): State<AppState>,
    Path(item): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, &[Role::Marketing])?;
    let body = Published { url: form.fields.text("url"), channel: form.fields.text("channel") };
    match queue::published(State(state), form.session.caller.clone(), Path(item), JsonBody(body)).await {
        Ok(Json(_)) => Ok(done("/marketing", "published")),
        // Both are news about the photo, not a fault of the form: back to the page, which now
        // shows the takedown (or no longer shows the item), with a sentence saying what happened.
        Err(e) if e.code == "takedown_owed" => Ok(done("/marketing", "takedown_owed")),
        Err(e) => Err(e.into()),
    }
}

async fn takedown_done(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, &[Role::Marketing])?;
    match queue::takedown_done(State(state), form.session.caller.clone(), Path(id)).await {
        Ok(_) => Ok(done("/marketing", "takedown_done")),
        // Already confirmed (a second tap, or a colleague): nothing is owed, which is good news.
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(done("/marketing", "takedown_gone")),
        Err(e) => Err(e.into()),
    }
}
