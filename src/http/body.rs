//! Request bodies read with a cap, or thrown away, a chunk at a time: no route buffers more than
//! it needs, and nothing an unauthenticated caller sends is kept.

use axum::body::{Body, Bytes};
use bytes::BytesMut;
use futures::StreamExt;

/// Largest JSON body any route accepts. The largest legitimate one (a photo's patch: three texts
/// of 2 000 characters, 30 tags and 100 ids, every character escaped) is well under it.
pub const MAX_JSON_BYTES: usize = 256 * 1024;

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum BodyError {
    /// It is longer than the cap; reading stopped there.
    TooLarge,
    /// The connection failed or the client stopped sending.
    Broken(axum::Error),
}

/// Reads `body` whole, refusing it as soon as it passes `limit` bytes: at most `limit` bytes (and
/// one chunk) are ever held, whatever the client declared or sends.
pub async fn read_capped(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buffer = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Broken)?;
        if buffer.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge);
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// Reads a refused body to its end (or to `limit` bytes, whichever comes first) and drops each
/// chunk as it arrives, so nothing is kept. Answering before the client has sent its body makes
/// the connection close under a client still writing, which then sees a reset instead of the
/// JSON error; past `limit` it is not worth more of our time.
pub async fn discard(body: Body, limit: usize) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            break;
        }
    }
}
