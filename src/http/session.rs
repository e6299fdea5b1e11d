//! Browser sessions for the pages: a person pastes their token once, and an HttpOnly,
//! SameSite=Strict cookie then acts as that token until it runs out or they sign out.
//!
//! The cookie holds a random 256-bit secret of which the database keeps only the blake3, like an
//! API token. Every state-changing request made with the cookie must also carry the session's
//! CSRF token (a form field or the `X-CSRF-Token` header). That token is derived from the secret,
//! so it needs no storage, differs for every session, and cannot be computed by a page that
//! cannot read the cookie.

use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};

use super::error::ApiError;
use super::state::HttpState;
use crate::app::{access, Actor};
use crate::tokens;

/// The session cookie.
pub const SESSION_COOKIE: &str = "cg_session";
/// The sign-in form's own CSRF cookie: a sign-in form must come from this site too, or another
/// site could sign a browser in under the attacker's token.
pub const SIGNIN_COOKIE: &str = "cg_signin";
/// The header a script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts: a working day.
pub const SESSION_LIFETIME_MS: i64 = access::SESSION_LIFETIME_MS;

/// The value of cookie `name` in the request, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A new random secret for a cookie (256 bits, hex).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex::encode(bytes)
}

/// The CSRF token belonging to a cookie secret.
pub fn csrf_token(secret: &str) -> String {
    hex::encode(blake3::derive_key("consentgate 2026-11 page form csrf token", secret.as_bytes()))
}

/// Whether `presented` is the CSRF token of `secret`, compared in constant time.
pub fn csrf_matches(secret: &str, presented: &str) -> bool {
    constant_time_eq::constant_time_eq(csrf_token(secret).as_bytes(), presented.as_bytes())
}

/// Whether cookies should carry `Secure`: when the service is reached over TLS, directly
/// (`public_url` is https) or behind a trusted proxy that says so (the header of anyone else was
/// dropped on the way in: see `forget_untrusted_forwarding` in `http/mod.rs`).
pub fn over_tls(state: &HttpState, headers: &HeaderMap) -> bool {
    state.app.settings.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The name a cookie goes by: over TLS it carries the `__Host-` prefix, which browsers accept only
/// from this exact host, over TLS, for the whole site; so a sibling subdomain (or a network
/// attacker on plain HTTP) cannot plant a session cookie of their choosing.
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_string()
    }
}

/// The value of our cookie `name` in the request, under the name it has in this deployment (see
/// [`cookie_name`]): over TLS, an unprefixed one is ignored.
pub fn our_cookie<'a>(state: &HttpState, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    cookie(headers, &cookie_name(name, over_tls(state, headers)))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the whole site; `max_age` 0 deletes it.
/// With `secure`, the cookie is `Secure` and named with the `__Host-` prefix.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let name = cookie_name(name, secure);
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{name}={value}; Path=/; Max-Age={max_age_seconds}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&value).expect("cookie names and hex values are valid header text")
}

/// A signed-in person: who the session acts as, and what a form must carry to prove it came
/// from one of our pages.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who the session acts as.
    pub caller: Actor,
    /// The name the token was made for (shown in the page header).
    pub name: String,
    /// This session's CSRF token, for forms and scripts.
    pub csrf: String,
    /// blake3 of the cookie's secret: the session's row.
    pub id_hash: String,
    /// Whether links sent to families would not open elsewhere (`public_url` is a loopback
    /// address): the frame warns safeguarding leads on every page.
    pub links_unreachable: bool,
    secret: String,
}

impl Session {
    /// Whether `presented` is this session's CSRF token.
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| csrf_matches(&self.secret, p))
    }

    /// The session the request's cookie belongs to, if it is live.
    pub async fn from_headers(state: &HttpState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
        let Some(secret) = our_cookie(state, headers, SESSION_COOKIE) else { return Ok(None) };
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id_hash = tokens::hash_secret(secret);
        let Some(holder) = access::session(&state.app, secret).await? else { return Ok(None) };
        Ok(Some(Session {
            caller: holder.actor,
            name: holder.name,
            csrf: csrf_token(secret),
            id_hash,
            links_unreachable: state.app.settings.public_url_is_loopback(),
            secret: secret.to_string(),
        }))
    }
}

/// The caller behind a session cookie, for the JSON API used by the pages' scripts. Reading is
/// allowed with the cookie alone; anything else needs the CSRF header as well.
pub async fn caller_from_cookie(state: &HttpState, parts: &Parts) -> Result<Option<Actor>, ApiError> {
    let Some(session) = Session::from_headers(state, &parts.headers).await? else { return Ok(None) };
    let safe = matches!(parts.method, Method::GET | Method::HEAD);
    if !safe && !session.csrf_ok(parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())) {
        return Err(csrf_refused());
    }
    Ok(Some(session.caller))
}

/// 403 for a state-changing request without this session's CSRF token.
pub fn csrf_refused() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "csrf",
        "this form was not sent from one of this session's pages (its CSRF token is missing or belongs to another \
         session); reload the page and try again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("cg_sessionx=1; cg_session=abc; other=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn csrf_tokens_belong_to_one_secret() {
        let (a, b) = (new_secret(), new_secret());
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_token(&a).contains(&a));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie(SESSION_COOKIE, "ab", 60, true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(c.starts_with("__Host-cg_session=ab;") && c.contains("Path=/") && !c.contains("Domain"));
        assert!(!set_cookie(SESSION_COOKIE, "ab", 60, false).to_str().unwrap().contains("Secure"));
    }
}
