//! Staff accounts through the API: invite (the sign-in link goes by email), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, AuthErrors, ErrorBody, JsonErrors, NotFoundErrors};
use super::json::{rfc3339, JsonBody};
use super::state::HttpState;
use crate::app::staff::Account;
use crate::app::{self, Actor};
use crate::store::Role;

/// `POST /api/v1/staff` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffAccount {
    /// The person's name, shown in the pages' header and the audit log; at most 200 characters.
    #[schema(max_length = 200)]
    pub name: String,
    /// Their work email address, where sign-in links go (kept lower-cased).
    #[schema(max_length = 254)]
    pub email: String,
    /// What they may do.
    pub role: Role,
}

/// A staff account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffAccountView {
    /// Its id (the audit log's actor).
    pub id: String,
    /// The person's name.
    pub name: String,
    /// Where sign-in links go.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// When they were invited.
    pub created_at: String,
    /// When the account was revoked, if it was.
    pub revoked_at: Option<String>,
}

impl From<Account> for StaffAccountView {
    fn from(a: Account) -> Self {
        StaffAccountView {
            id: a.id,
            name: a.name,
            email: a.email,
            role: a.role,
            created_at: rfc3339(a.created_at),
            revoked_at: a.revoked_at.map(rfc3339),
        }
    }
}

/// `GET /api/v1/staff`: every staff account, newest first, revoked ones too.
#[utoipa::path(get, path = "/api/v1/staff", operation_id = "list_staff", tag = "staff",
    responses(AuthErrors, (status = 200, body = Vec<StaffAccountView>, description = "the accounts")),
    security(("bearer" = [])))]
pub async fn list(State(state): State<HttpState>, caller: Actor) -> Result<Json<Vec<StaffAccountView>>, ApiError> {
    let accounts = app::staff::accounts(&state.app, &caller).await?;
    Ok(Json(accounts.into_iter().map(Into::into).collect()))
}

/// `POST /api/v1/staff`: invite a member of staff; their first sign-in link (a week) goes by email.
#[utoipa::path(post, path = "/api/v1/staff", operation_id = "invite_staff", tag = "staff",
    request_body = NewStaffAccount,
    responses(AuthErrors, JsonErrors, (status = 201, body = StaffAccountView, description = "invited: the link is in the outbox"),
        (status = 409, body = ErrorBody, description = "`email_taken`: a live account has this address; `mail_not_configured`: no mail server to send the link")),
    security(("bearer" = [])))]
pub async fn invite(
    State(state): State<HttpState>,
    caller: Actor,
    JsonBody(body): JsonBody<NewStaffAccount>,
) -> Result<(StatusCode, Json<StaffAccountView>), ApiError> {
    let account = app::staff::invite(&state.app, &caller, &body.name, &body.email, body.role).await?;
    Ok((StatusCode::CREATED, Json(account.into())))
}

/// `DELETE /api/v1/staff/{id}`: revoke an account; its sessions and unused links stop at once.
#[utoipa::path(delete, path = "/api/v1/staff/{id}", operation_id = "revoke_staff", tag = "staff",
    params(("id" = String, Path, description = "Account id (24 hex digits)")),
    responses(AuthErrors, NotFoundErrors, (status = 204, description = "revoked"),
        (status = 409, body = ErrorBody, description = "`account_revoked`: revoked already")),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<HttpState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app::staff::revoke(&state.app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
