//! Marketing's page: takedowns first and impossible to miss, then the items the officer holds
//! (download, record where it went), then their claims whose time ran out (a photo published
//! without a record could never be taken down), then the queue as a grid of thumbnails. Every
//! action goes through the same use case as the JSON API, so consent and the name check are checked again
//! at claim and at download exactly as for a script: the same use cases in [`crate::app::queue`].

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::frame::{done, notice_text, render, require, Chrome, PageError, PageForm};
use super::words::{purpose_words, takedown_words};
use crate::app::queue::{ClaimOutcome, Desk, OwedTakedown};
use crate::app::{self, AppError};
use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::http::state::HttpState;
use crate::policy::Purpose;
use crate::store::{time_of_ms, QueueItem, Takedown};

pub(super) fn routes() -> axum::Router<HttpState> {
    Router::new()
        .route("/marketing", get(queue_page))
        .route("/marketing/claim", post(claim))
        .route("/marketing/items/{item}/published", post(published))
        .route("/marketing/takedowns/{id}/done", post(takedown_done))
        .route("/marketing/takedowns/{photo_id}/copy", get(small_copy))
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
        let claimable = app::queue::claimable(&item);
        Tile {
            until: item.lease_expires_at.map(time_text).unwrap_or_default(),
            item: item.item_id,
            photo_id: item.photo_id,
            purpose_value: item.purpose.as_str(),
            purpose: purpose_words(item.purpose),
            caption: item.caption,
            alt_text: item.alt_text,
            claimable,
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
    /// The small copy kept after the image was deleted, while the takedown is open.
    small_copy: bool,
}

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
    State(state): State<HttpState>,
    session: Session,
    query: Result<Query<MarketingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    require(&session, app::queue::PUBLISHERS)?;
    let Query(query) = query.map_err(|e| ApiError::bad_form(e.body_text()))?;
    let Desk { takedowns, mine, lapsed, queue } = app::queue::desk(&state.app, &session.caller, query.purpose).await?;
    let takedowns = takedowns
        .into_iter()
        .map(|OwedTakedown { takedown, caption, alt_text, image_exists, small_copy }| {
            let Takedown { id, photo_id, purpose, url, channel, reasons, created_at, .. } = takedown;
            Owed {
                id,
                url,
                channel,
                purpose: purpose_words(purpose),
                since: time_text(created_at),
                why: takedown_words(&reasons),
                thumbnail: image_exists,
                small_copy,
                caption,
                alt_text,
                photo_id,
            }
        })
        .collect();
    let mine = mine.into_iter().map(Tile::of).collect();
    let lapsed = lapsed.into_iter().map(Tile::of).collect();
    let queue = queue.into_iter().map(Tile::of).collect();
    let chrome = Chrome::new("Publishing queue", &session).with_notice(notice_text(query.done.as_deref()));
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

async fn claim(State(state): State<HttpState>, form: PageForm) -> Result<Response, PageError> {
    require(&form.session, app::queue::PUBLISHERS)?;
    let purpose: Purpose = form.fields.text("purpose").parse().map_err(ApiError::bad_form)?;
    let item = Some(form.fields.text("item")).filter(|i| !i.is_empty());
    Ok(match app::queue::claim(&state.app, &form.session.caller, purpose, item.as_deref(), None).await {
        Ok(ClaimOutcome::Claimed(_)) => done("/marketing", "claimed"),
        Ok(ClaimOutcome::NothingLeft) => done("/marketing", "nothing_to_claim"),
        // Someone was quicker, or consent stopped holding: not an error for the person at the grid.
        Ok(ClaimOutcome::NotAvailable { .. }) => done("/marketing", "not_available"),
        Err(e) => return Err(e.into()),
    })
}

async fn published(
    State(state): State<HttpState>,
    Path(item): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::queue::PUBLISHERS)?;
    let (url, channel) = (form.fields.text("url"), form.fields.text("channel"));
    match app::queue::publish(&state.app, &form.session.caller, &item, &url, &channel).await {
        Ok(_) => Ok(done("/marketing", "published")),
        // News about the photo, not a fault of the form: back to the page, which now shows the
        // takedown, with a sentence saying what happened.
        Err(AppError::TakedownOwed { .. }) => Ok(done("/marketing", "takedown_owed")),
        Err(e) => Err(e.into()),
    }
}

async fn takedown_done(
    State(state): State<HttpState>,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::queue::PUBLISHERS)?;
    match app::queue::takedown_done(&state.app, &form.session.caller, &id).await {
        Ok(()) => Ok(done("/marketing", "takedown_done")),
        // Already confirmed (a second tap, or a colleague): nothing is owed, which is good news.
        Err(AppError::NotFound(_)) => Ok(done("/marketing", "takedown_gone")),
        Err(e) => Err(e.into()),
    }
}

/// `GET /marketing/takedowns/{photo_id}/copy`: the small copy (at most 160 px) kept while a
/// takedown of a deleted image is open. Not cached: it goes when the takedown is confirmed.
async fn small_copy(
    State(state): State<HttpState>,
    session: Session,
    Path(photo_id): Path<String>,
) -> Result<Response, PageError> {
    let bytes = app::takedowns::small_copy(&state.app, &session.caller, &photo_id).await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], bytes).into_response())
}
