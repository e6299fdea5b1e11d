//! Object storage behind one interface: the local file system (default `DATA/objects`) or any
//! S3-compatible store, both through the `object_store` crate. Keys are ids, never names: a photo's
//! scrubbed image is `photos/<photo id>.<ext>` (one object per photo, so deleting it is final and no
//! other photo can need it; photos stored before 0.9 kept `photos/<blake3>.<ext>`), and its derived
//! renditions sit beside it as `<image key>.thumb.jpg` and `<image key>.web.jpg`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::config::Settings;

/// The object layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The backend failed.
    #[error("object store: {0}")]
    Backend(#[from] object_store::Error),
    /// The local directory could not be prepared.
    #[error("cannot prepare {0}: {1}")]
    Io(String, std::io::Error),
}

/// The configured object store.
#[derive(Clone)]
pub struct Objects {
    inner: Arc<dyn ObjectStore>,
    description: String,
    /// The directory of the local backend, whose interrupted writes leave staging files that
    /// `list` does not show.
    local_dir: Option<PathBuf>,
}

/// Where photos live inside the store.
pub const PHOTO_PREFIX: &str = "photos";

/// Where the small copies kept for open takedowns live (`takedowns/<photo id>.jpg`), apart from
/// the photos: the orphan sweep of photos never sees them.
pub const TAKEDOWN_PREFIX: &str = "takedowns";

/// The renditions derived from a stored image and kept beside it.
pub const RENDITIONS: [&str; 2] = ["thumb", "web"];

impl Objects {
    /// Opens the store the settings select.
    pub fn open(settings: &Settings) -> Result<Objects, ObjectError> {
        match &settings.s3 {
            Some(s3) => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(s3.region.clone().unwrap_or_else(|| "us-east-1".into()))
                    .with_virtual_hosted_style_request(!s3.path_style);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(key) = &s3.access_key_id {
                    builder = builder.with_access_key_id(key);
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                let description = format!("s3 bucket {}", s3.bucket);
                Ok(Objects { inner: Arc::new(builder.build()?), description, local_dir: None })
            }
            None => {
                let dir = settings.data_dir.join("objects");
                std::fs::create_dir_all(&dir).map_err(|e| ObjectError::Io(dir.display().to_string(), e))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)?;
                let description = format!("directory {}", dir.display());
                Ok(Objects { inner: Arc::new(fs), description, local_dir: Some(dir) })
            }
        }
    }

    /// Where objects are kept, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The key of a photo's scrubbed image: the photo's own id, never its content's hash, so two
    /// photos of the same bytes never share an object and deleting one photo's image cannot leave
    /// a copy behind for the other, nor remove an image a concurrent upload has just written.
    pub fn photo_key(photo_id: &str, extension: &str) -> String {
        format!("{PHOTO_PREFIX}/{photo_id}.{extension}")
    }

    /// The key of the small copy kept while a takedown of `photo_id` is open.
    pub fn takedown_copy_key(photo_id: &str) -> String {
        format!("{TAKEDOWN_PREFIX}/{photo_id}.jpg")
    }

    /// Whether an object exists, without reading it.
    pub async fn exists(&self, key: &str) -> Result<bool, ObjectError> {
        match self.inner.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every small copy kept for takedowns, as (photo id, key).
    pub async fn takedown_copies(&self) -> Result<Vec<(String, String)>, ObjectError> {
        let prefix = ObjectPath::from(TAKEDOWN_PREFIX);
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.to_string();
                let photo_id = key.strip_prefix(TAKEDOWN_PREFIX)?.strip_prefix('/')?.strip_suffix(".jpg")?.to_string();
                Some((photo_id, key))
            })
            .collect())
    }

    /// The key of a rendition (`thumb`, `web`) derived from the image stored under `image_key`.
    pub fn rendition_key(image_key: &str, rendition: &str) -> String {
        format!("{image_key}.{rendition}.jpg")
    }

    /// Every key that holds some form of the image stored under `image_key`: the image and each
    /// derived rendition. Deleting an image deletes all of them.
    pub fn image_keys(image_key: &str) -> Vec<String> {
        let mut keys = vec![image_key.to_string()];
        keys.extend(RENDITIONS.iter().map(|r| Objects::rendition_key(image_key, r)));
        keys
    }

    /// The key of the image a stored key belongs to: a rendition's image, or the key itself. The
    /// orphan sweep keeps a rendition exactly as long as its image is in use.
    pub fn image_key_of(key: &str) -> &str {
        RENDITIONS
            .iter()
            .find_map(|r| key.strip_suffix(".jpg").and_then(|k| k.strip_suffix(r)).and_then(|k| k.strip_suffix('.')))
            .unwrap_or(key)
    }

    /// Stores `bytes` under `key` (the local backend writes a temporary file and renames it).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), ObjectError> {
        self.inner.put(&ObjectPath::from(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Reads an object; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, ObjectError> {
        match self.inner.get(&ObjectPath::from(key)).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every photo key with its age.
    pub async fn list_photos(&self) -> Result<Vec<(String, Duration)>, ObjectError> {
        let prefix = ObjectPath::from(PHOTO_PREFIX);
        let now = std::time::SystemTime::now();
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| {
                let modified: std::time::SystemTime = m.last_modified.into();
                (m.location.to_string(), now.duration_since(modified).unwrap_or_default())
            })
            .collect())
    }

    /// Photo keys older than `grace`: the only ones a sweep may consider (younger ones may belong
    /// to an upload another replica is about to commit).
    pub async fn sweep_candidates(&self, grace: Duration) -> Result<Vec<String>, ObjectError> {
        Ok(self.list_photos().await?.into_iter().filter(|(_, age)| *age >= grace).map(|(key, _)| key).collect())
    }

    /// Deletes the local backend's staging files (`<key>#<n>`, written before the rename that
    /// publishes an object) older than `grace`: a process killed mid-write leaves them behind,
    /// and `list` never shows them. Returns how many went; S3 has no such files.
    pub fn sweep_staging_files(&self, grace: Duration) -> Result<usize, ObjectError> {
        let Some(dir) = &self.local_dir else { return Ok(0) };
        let photos = dir.join(PHOTO_PREFIX);
        let entries = match std::fs::read_dir(&photos) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(ObjectError::Io(photos.display().to_string(), e)),
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let staging = entry.file_name().to_str().is_some_and(|name| name.contains('#'));
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age >= grace);
            if staging && old && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renditions_belong_to_their_image() {
        let image = Objects::photo_key("0192f0c4-0000-7000-8000-00000000000a", "png");
        assert_eq!(Objects::image_keys(&image).len(), 3);
        for key in Objects::image_keys(&image) {
            assert_eq!(Objects::image_key_of(&key), image, "{key}");
        }
        assert_eq!(Objects::image_key_of("photos/abc.jpg"), "photos/abc.jpg");
    }
}
