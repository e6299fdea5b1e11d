//! The HTTP layer's one error type, mapped to a status and a JSON body in one place: every status
//! an [`AppError`] answers with is chosen in `From<AppError> for ApiError` below.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::app::AppError;
use crate::media::MediaError;
use crate::objects::ObjectError;
use crate::policy::consent::NotCounting;
use crate::store::StoreError;

/// An error answer: `{"error": code, "message": text}` with a status.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What was wrong, for a person; never a learner's name or a token.
    pub message: String,
    /// Machine-readable facts that help the client act (for example the id of a photo to edit).
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with the given parts.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), detail: None }
    }
    /// The same error with machine-readable `detail` added to its body.
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
    /// 401: no valid token.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "send a valid token as 'Authorization: Bearer <token>'")
    }
    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }
    /// 405: the path exists but not with this method (the router adds the `Allow` header).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not answer to this method; the Allow header lists the methods it does",
        )
    }
    /// 422: a form or field that makes no sense.
    pub fn bad_form(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_form", message)
    }
    /// 503: too many uploads at once; the client should retry after the `Retry-After` seconds.
    pub fn busy() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many uploads at once; try again in a few seconds")
    }
    /// 408: a request body stalled longer than `timeout`, or arrived slower than `min_rate` bytes
    /// per second after it.
    pub fn body_timeout(timeout: std::time::Duration, min_rate: u64) -> Self {
        let rate = if min_rate > 0 { format!(" or averaged under {min_rate} bytes per second") } else { String::new() };
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("the request body stopped for more than {} seconds{rate}; send it again", timeout.as_secs()),
        )
    }
    /// 429: this token already has `per_token` uploads being received; it may send the next when
    /// one of them is done (after the `Retry-After` seconds).
    pub fn too_many_uploads(per_token: usize) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_uploads",
            format!("this token already has {per_token} uploads being received; send the next when one is done"),
        )
    }
    /// 500: our fault. The detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side; it has been logged")
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        let status = match e {
            MediaError::UnsupportedFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MediaError::FileTooLarge { .. } | MediaError::ImageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            MediaError::Empty | MediaError::Corrupt { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let message = e.to_string();
        match e {
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::Invalid { field, .. } => {
                let error = ApiError::bad_form(message);
                match field {
                    Some(field) => error.with_detail(serde_json::json!({ "field": field })),
                    None => error,
                }
            }
            AppError::UnknownLearners { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_learner", message)
            }
            AppError::NotAGuardian => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_a_guardian", message),
            AppError::WillNotCount(why) => {
                let detail = match why {
                    NotCounting::LearnerUnder18(age) => serde_json::json!({ "given_by": "learner", "age": age }),
                    NotCounting::LearnerAdult(age) => serde_json::json!({ "given_by": "guardian", "age": age }),
                };
                ApiError::new(StatusCode::CONFLICT, "will_not_count", message).with_detail(detail)
            }
            AppError::BadLines(errors) => {
                let listed: Vec<_> =
                    errors.iter().map(|e| serde_json::json!({ "line": e.line, "message": e.message })).collect();
                let first = errors.first().map(|e| format!("line {}: {}", e.line, e.message)).unwrap_or_default();
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_csv",
                    format!(
                        "nothing was imported: {} bad line{} ({first}{})",
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" },
                        if errors.len() > 1 { "; see detail.errors for the rest" } else { "" }
                    ),
                )
                .with_detail(serde_json::json!({ "errors": listed }))
            }
            AppError::Forbidden { .. } => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
            AppError::Conflict { code, detail, .. } => {
                let error = ApiError::new(StatusCode::CONFLICT, code, message);
                match detail {
                    Some(detail) => error.with_detail(detail),
                    None => error,
                }
            }
            AppError::NotReleased { reasons } => ApiError::new(StatusCode::CONFLICT, "not_released", message)
                .with_detail(serde_json::json!({ "reasons": reasons })),
            AppError::NotAvailable { status } => {
                let error = ApiError::new(StatusCode::CONFLICT, "not_available", message);
                match status {
                    Some((state, reasons)) => {
                        error.with_detail(serde_json::json!({ "state": state, "reasons": reasons }))
                    }
                    None => error,
                }
            }
            AppError::TakedownOwed { reasons } => ApiError::new(StatusCode::CONFLICT, "takedown_owed", message)
                .with_detail(serde_json::json!({ "reasons": reasons })),
            AppError::ImageDeleted => ApiError::new(StatusCode::GONE, "image_deleted", message),
            AppError::Busy => ApiError::busy(),
            AppError::Media(e) => e.into(),
            AppError::Store(e) => ApiError::internal(e),
            AppError::Objects(e) => ApiError::internal(e),
            AppError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<ObjectError> for ApiError {
    fn from(e: ObjectError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.code, "message": self.message });
        if let Some(detail) = self.detail {
            body["detail"] = detail;
        }
        let body = Json(body);
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE || self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// The error body every failure returns.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read by utoipa's derive only
pub struct ErrorBody {
    /// Stable machine-readable code (`unauthorized`, `forbidden`, `not_found`, `bad_form`, `bad_json`,
    /// `body_too_large`, `file_too_large`, `conflict`, `busy`…).
    #[schema(min_length = 1)]
    error: String,
    /// What was wrong, for a person.
    message: String,
    /// Facts that help the client act, on some errors (`field`, `reasons`, `errors`…).
    detail: Option<serde_json::Value>,
}

// The error answers of the OpenAPI document, by where they come from. Each handler's
// `#[utoipa::path(responses(...))]` lists the groups that apply to it (every group is an
// `IntoResponses`), then its own success and the statuses only it answers with. They live here,
// next to the mapping that chooses those statuses, so the two are read (and changed) together.

/// What every operation behind a token can answer: no valid token, a token whose role may not do
/// this, or our own failure.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // read by utoipa's derive only
pub enum AuthErrors {
    /// `unauthorized`: no valid token (or session) was sent.
    #[response(status = 401, headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
    Unauthorized(ErrorBody),
    /// `forbidden`: the token's role may not do this (`csrf` for a page session without its CSRF
    /// header).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// `internal`: our fault; it has been logged.
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// What an operation on one thing named in its path answers when there is no such thing (an id
/// that is not a UUID names nothing).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // read by utoipa's derive only
pub enum NotFoundErrors {
    /// `not_found`: no such thing.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// What an operation with query parameters answers when they cannot be read.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // read by utoipa's derive only
pub enum QueryErrors {
    /// `bad_form`: a query parameter is malformed or out of range (`detail.field` names it).
    #[response(status = 422)]
    BadQuery(ErrorBody),
}

/// What an operation taking a JSON body answers when the body is not one it can use (see
/// `json.rs` and the connection layer's body timeout in `conn.rs`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // read by utoipa's derive only
pub enum JsonErrors {
    /// `body_timeout`: the body stalled, or arrived too slowly.
    #[response(status = 408)]
    Timeout(ErrorBody),
    /// `body_too_large`: the body is longer than 256 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `bad_json`: the body is not sent as `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// `bad_json` (not the body's shape) or `bad_form` (a value breaks a rule; `detail.field` names
    /// it).
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// What an upload (multipart form) can answer besides the common errors (see `photos.rs` and
/// `slots.rs`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // read by utoipa's derive only
pub enum UploadErrors {
    /// `body_timeout`: the body stalled, or arrived too slowly.
    #[response(status = 408)]
    Timeout(ErrorBody),
    /// `file_too_large` (the file, or the whole form, passes the configured `max_bytes`) or
    /// `image_too_large` (too many pixels).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `unsupported_format`: not a JPEG, PNG, WebP or HEIC/HEIF.
    #[response(status = 415)]
    Unsupported(ErrorBody),
    /// `bad_form` (the form's shape or a field's value), `unknown_learner`, `empty` or `corrupt`.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// `too_many_uploads`: this token already has its share of uploads being received.
    #[response(status = 429, headers(("Retry-After" = u32, description = "seconds")))]
    TooMany(ErrorBody),
    /// `busy`: too many uploads are being received at once.
    #[response(status = 503, headers(("Retry-After" = u32, description = "seconds")))]
    Busy(ErrorBody),
}

/// What an MIS import (a CSV body) can answer besides the common errors.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // read by utoipa's derive only
pub enum CsvErrors {
    /// `body_timeout`: the body stalled, or arrived too slowly.
    #[response(status = 408)]
    Timeout(ErrorBody),
    /// `file_too_large`: more than 10 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// `bad_csv`: the body is not sent as `text/csv`.
    #[response(status = 415)]
    NotCsv(ErrorBody),
    /// `bad_csv`: nothing was imported; `detail.errors` lists each bad line with its number.
    /// `bad_form`: the query is malformed.
    #[response(status = 422)]
    Invalid(ErrorBody),
}
