//! Who is calling: the bearer token, or a page's session cookie, as an [`Actor`].

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::HttpState;
use crate::app::{access, Actor};

impl FromRequestParts<HttpState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, Self::Rejection> {
        let Some(authorization) = parts.headers.get(header::AUTHORIZATION) else {
            // The pages' scripts call the API with the session cookie instead of a token.
            return super::session::caller_from_cookie(state, parts).await?.ok_or_else(ApiError::unauthorized);
        };
        let presented = Some(authorization)
            .and_then(|v| v.to_str().ok())
            // The scheme name is case-insensitive (RFC 9110 §11.1).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(ApiError::unauthorized)?;
        access::authenticate(&state.app, presented).await?.ok_or_else(ApiError::unauthorized)
    }
}
