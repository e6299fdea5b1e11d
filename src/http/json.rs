//! A JSON body extractor whose rejections are our JSON errors, so malformed JSON gets a 422 that
//! says what was wrong instead of axum's plain-text answer.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Json<T>` with [`ApiError`] rejections.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_json",
                "send the body as JSON with 'Content-Type: application/json'",
            )),
            Err(rejection) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_json", rejection.body_text())),
        }
    }
}
