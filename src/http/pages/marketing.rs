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
use crate::policy::zone::Zone;
use crate::policy::Purpose;
use crate::store::{time_of_ms, QueueItem, Takedown};

pub(super) fn routes() -> axum::Router<HttpState> {
    Router::new()
        .route("/marketing", get(queue_page))
        .route("/marketing/claim", post(claim))
        .route("/marketing/items/{item}/published", post(published))
        .route("/marketing/items/{item}/extend", post(extend))
        .route("/marketing/published", get(published_page))
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

/// One use of a photo in a grid: the item, its purpose, and the claim's time.
struct Tile {
    item: String,
    purpose_value: &'static str,
    purpose: &'static str,
    until: String,
    /// Whether it can be claimed again (a lapsed claim whose photo is still releasable).
    claimable: bool,
}

/// A photo in a grid: one tile per photo, with the uses it is offered (or held) for as labels.
struct PhotoTile {
    photo_id: String,
    caption: String,
    alt_text: String,
    uses: Vec<Tile>,
}

/// The items grouped by photo, in the order each photo first appears.
fn by_photo(items: Vec<QueueItem>, zone: Zone) -> Vec<PhotoTile> {
    let mut tiles: Vec<PhotoTile> = Vec::new();
    for item in items {
        let claimable = app::queue::claimable(&item);
        let tile = Tile {
            until: item.lease_expires_at.map(|at| time_text(at, zone)).unwrap_or_default(),
            item: item.item_id,
            purpose_value: item.purpose.as_str(),
            purpose: purpose_words(item.purpose),
            claimable,
        };
        match tiles.iter_mut().find(|t| t.photo_id == item.photo_id) {
            Some(photo) => photo.uses.push(tile),
            None => tiles.push(PhotoTile {
                photo_id: item.photo_id,
                caption: item.caption,
                alt_text: item.alt_text,
                uses: vec![tile],
            }),
        }
    }
    tiles
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

/// A moment in the organisation's time zone: `7 Dec, 14:05`.
fn time_text(ms: i64, zone: Zone) -> String {
    let format = time::macros::format_description!("[day padding:none] [month repr:short], [hour]:[minute]");
    zone.local(time_of_ms(ms)).format(&format).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "marketing.html")]
struct QueuePage {
    chrome: Chrome,
    csrf: String,
    takedowns: Vec<Owed>,
    mine: Vec<PhotoTile>,
    lapsed: Vec<PhotoTile>,
    queue: Vec<PhotoTile>,
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
    let zone = state.app.settings.rules.zone;
    let takedowns = takedowns
        .into_iter()
        .map(|OwedTakedown { takedown, caption, alt_text, image_exists, small_copy }| {
            let Takedown { id, photo_id, purpose, url, channel, reasons, created_at, .. } = takedown;
            Owed {
                id,
                url,
                channel,
                purpose: purpose_words(purpose),
                since: time_text(created_at, zone),
                why: takedown_words(&reasons),
                thumbnail: image_exists,
                small_copy,
                caption,
                alt_text,
                photo_id,
            }
        })
        .collect();
    let (mine, lapsed, queue) = (by_photo(mine, zone), by_photo(lapsed, zone), by_photo(queue, zone));
    let mut chrome = Chrome::new("Publishing queue", &session).with_notice(notice_text(query.done.as_deref()));
    // The copy buttons.
    chrome.script = true;
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

/// `POST /marketing/items/{item}/extend`: another hour with a photo the officer holds.
async fn extend(
    State(state): State<HttpState>,
    Path(item): Path<String>,
    form: PageForm,
) -> Result<Response, PageError> {
    require(&form.session, app::queue::PUBLISHERS)?;
    match app::queue::extend(&state.app, &form.session.caller, &item).await {
        Ok(_) => Ok(done("/marketing", "claim_extended")),
        // Their time ran out before they tapped: the page says so and shows where it is now.
        Err(AppError::Conflict { .. }) => Ok(done("/marketing", "claim_not_running")),
        Err(e) => Err(e.into()),
    }
}

struct PublishedRow {
    when: String,
    purpose: &'static str,
    url: String,
    channel: String,
    caption: String,
}

#[derive(Template)]
#[template(path = "marketing_published.html")]
struct PublishedPage {
    chrome: Chrome,
    rows: Vec<PublishedRow>,
}

/// `GET /marketing/published`: what the officer published and where, newest first.
async fn published_page(State(state): State<HttpState>, session: Session) -> Result<Response, PageError> {
    require(&session, app::queue::PUBLISHERS)?;
    let zone = state.app.settings.rules.zone;
    let rows = app::queue::published_by_me(&state.app, &session.caller)
        .await?
        .into_iter()
        .map(|p| PublishedRow {
            when: time_text(p.published_at, zone),
            purpose: purpose_words(p.purpose),
            url: p.url,
            channel: p.channel,
            caption: p.caption,
        })
        .collect();
    Ok(render(StatusCode::OK, &PublishedPage { chrome: Chrome::new("Published", &session), rows }))
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
