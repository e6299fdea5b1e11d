//! Who is calling: the bearer token, checked against the store, or a page's session cookie.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::store::Role;
use crate::tokens;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's public id: the actor in the audit log.
    pub token_id: String,
    /// The token's role.
    pub role: Role,
}

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(&names.join(" or ")))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
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
        let (id, secret) = tokens::parse(presented.trim()).ok_or_else(ApiError::unauthorized)?;
        let record = state.store.token(id).await?.ok_or_else(ApiError::unauthorized)?;
        if !tokens::verify(&record, secret) {
            return Err(ApiError::unauthorized());
        }
        Ok(Caller { token_id: record.id, role: record.role })
    }
}
