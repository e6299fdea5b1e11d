//! A JSON body extractor whose rejections are our JSON errors, so malformed JSON gets a 422 that
//! says what was wrong instead of axum's plain-text answer, and whose body is capped at
//! [`MAX_JSON_BYTES`] while it is read.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::body::{read_capped, BodyError, MAX_JSON_BYTES};
use super::error::ApiError;

/// `Json<T>` with [`ApiError`] rejections and an explicit, small cap on the body.
pub struct JsonBody<T>(pub T);

/// `application/json`, or a `+json` type, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_json",
                "send the body as JSON with 'Content-Type: application/json'",
            ));
        }
        let bytes = read_capped(req.into_body(), MAX_JSON_BYTES).await.map_err(|e| match e {
            BodyError::TooLarge => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the JSON body is too large: at most {MAX_JSON_BYTES} bytes"),
            ),
            BodyError::Broken(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad_json", "the body could not be read"),
        })?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_json", rejection.body_text())),
        }
    }
}

/// Unix milliseconds as the RFC 3339 time every JSON answer uses.
pub fn rfc3339(ms: i64) -> String {
    crate::store::time_of_ms(ms).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
