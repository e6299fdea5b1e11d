//! The withdrawal pages at `/w/{token}`, for a learner or guardian without an account. GET only
//! shows what the link would withdraw (mail scanners follow links); POST withdraws. The pages
//! work without JavaScript, name the learner by first name only, and an unknown token gets a page
//! that reveals nothing.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use crate::policy::Purpose;
use crate::store::{time_of_ms, WithdrawOutcome};
use crate::tokens;

/// Requests to `/w/` per client address: a person needs two or three; guessing 256-bit tokens
/// needs billions, and this makes sure nobody tries from one address.
const PER_MINUTE: u32 = 20;

/// The shared limiter for `/w/`, keyed by the client's address.
pub type WithdrawLimiter = Arc<DefaultKeyedRateLimiter<IpAddr>>;

/// A limiter allowing [`PER_MINUTE`] requests a minute per address, in bursts of up to 10.
pub fn limiter() -> WithdrawLimiter {
    let quota = Quota::per_minute(NonZeroU32::new(PER_MINUTE).expect("non-zero"))
        .allow_burst(NonZeroU32::new(10).expect("non-zero"));
    Arc::new(RateLimiter::keyed(quota))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn plain_words(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Website => "on our website",
        Purpose::SocialMedia => "on our social media accounts",
        Purpose::Print => "in printed material such as prospectuses and posters",
        Purpose::Internal => "inside the organisation, such as displays and staff newsletters",
    }
}

fn purpose_list(purposes: &[Purpose]) -> String {
    purposes.iter().map(|p| format!("<li>{}</li>", plain_words(*p))).collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;font-size:1.125rem;line-height:1.5;max-width:36rem;\
margin:0 auto;padding:1rem;color:#111;background:#fff}h1{font-size:1.5rem}\
button{font-size:1.125rem;padding:.75rem 1.25rem;border:2px solid #111;border-radius:.375rem;background:#a4161a;\
color:#fff;cursor:pointer}button:focus{outline:3px solid #1d4ed8;outline-offset:2px}p.small{font-size:1rem;color:#333}";

/// A complete page with the headers every withdrawal page needs: never cached, never indexed,
/// and never sending the token onwards in a Referer.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        title = escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not recognised",
        "<h1>This link is not recognised</h1><p>Please check that you copied the whole link from the message \
         you received. If it still does not work, contact the person who sent it to you.</p>",
    )
}

fn too_many() -> Response {
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        "Please wait",
        "<h1>Please wait a minute</h1><p>There have been too many attempts from your connection. Please try again \
         in a minute.</p>",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

fn date_of(ms: i64) -> String {
    let format = time::macros::format_description!("[day] [month repr:long] [year]");
    time_of_ms(ms).format(&format).unwrap_or_default()
}

fn already_used(status: StatusCode, used_at: i64) -> Response {
    page(
        status,
        "Already withdrawn",
        &format!(
            "<h1>Consent has already been withdrawn</h1><p>This link was used on {}. Nothing else needs to be done; \
             the photos are not being used for the purposes it covered.</p>",
            date_of(used_at)
        ),
    )
}

/// The client's address, when the server was started with connect info (it always is outside
/// unit tests); all clients without one share a single bucket.
pub struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

fn limited(state: &AppState, peer: Peer) -> bool {
    let ip = peer.0.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    state.withdraw_limiter.check_key(&ip).is_err()
}

/// `GET /w/{token}`: what the link would withdraw, and a button. Changes nothing.
pub async fn show(State(state): State<AppState>, peer: Peer, Path(token): Path<String>) -> Response {
    if limited(&state, peer) {
        return too_many();
    }
    let Some(hash) = tokens::withdrawal_token_hash(&token) else { return not_found() };
    let link = match state.store.withdrawal_link(&hash).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_found(),
        Err(e) => return error_page(e),
    };
    if let Some(used_at) = link.used_at {
        return already_used(StatusCode::OK, used_at);
    }
    let name = escape(&link.first_name);
    page(
        StatusCode::OK,
        "Withdraw consent for photos",
        &format!(
            "<h1>Withdraw consent for photos of {name}</h1>\
             <p>Consent was given on {given} for photos of {name} to be used:</p><ul>{purposes}</ul>\
             <p>If you withdraw it, photos of {name} will stop being used for these purposes straight away. \
             Any that have already been published will be taken down.</p>\
             <form method=\"post\"><button type=\"submit\">Withdraw consent</button></form>\
             <p class=\"small\">Nothing changes until you press the button.</p>",
            given = date_of(link.grant.given_at),
            purposes = purpose_list(&link.grant.purposes),
        ),
    )
}

/// `POST /w/{token}`: withdraws, in one transaction with every status it changes. A second POST
/// changes nothing.
pub async fn withdraw(State(state): State<AppState>, peer: Peer, Path(token): Path<String>) -> Response {
    if limited(&state, peer) {
        return too_many();
    }
    let Some(hash) = tokens::withdrawal_token_hash(&token) else { return not_found() };
    let link = match state.store.withdrawal_link(&hash).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_found(),
        Err(e) => return error_page(e),
    };
    let event_id = uuid::Uuid::now_v7().to_string();
    let eval = match state.evaluation("withdrawal_link").await {
        Ok(eval) => eval,
        Err(e) => return error_page(e),
    };
    match state.store.withdraw_by_link(&hash, &event_id, eval).await {
        Ok(WithdrawOutcome::Withdrawn { event, changes }) => {
            metrics::counter!("consentgate_withdrawals_total").increment(1);
            tracing::info!(event = %event.id, statuses_changed = changes.len(), "consent withdrawn by link");
            super::retire_images(&state, &event.learner_id, "withdrawal_link").await;
            let name = escape(&link.first_name);
            page(
                StatusCode::OK,
                "Consent withdrawn",
                &format!(
                    "<h1>Consent withdrawn</h1><p>Photos of {name} will no longer be used:</p><ul>{}</ul>\
                     <p>They have been taken out of the publishing queue, and our marketing team has been told to \
                     take down any that were already published.</p><p>You can close this page.</p>",
                    purpose_list(&event.purposes)
                ),
            )
        }
        Ok(WithdrawOutcome::AlreadyUsed(used_at)) => already_used(StatusCode::GONE, used_at),
        Ok(WithdrawOutcome::Unknown) => not_found(),
        Err(e) => error_page(e),
    }
}

fn error_page(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "withdrawal page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<h1>Something went wrong on our side</h1><p>Nothing has been changed. Please try again in a few minutes.</p>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("<b>O'Brien & co</b>"), "&lt;b&gt;O&#39;Brien &amp; co&lt;/b&gt;");
    }
}
