//! Object storage behind one interface: the local file system (default `DATA/objects`) or any
//! S3-compatible store, both through the `object_store` crate. Keys are content ids
//! (`photos/<blake3>.<ext>`), never names.

use std::collections::HashSet;
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
}

/// Where photos live inside the store.
pub const PHOTO_PREFIX: &str = "photos";

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
                Ok(Objects { inner: Arc::new(builder.build()?), description })
            }
            None => {
                let dir = settings.data_dir.join("objects");
                std::fs::create_dir_all(&dir).map_err(|e| ObjectError::Io(dir.display().to_string(), e))?;
                let fs = LocalFileSystem::new_with_prefix(&dir)?;
                Ok(Objects { inner: Arc::new(fs), description: format!("directory {}", dir.display()) })
            }
        }
    }

    /// Where objects are kept, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The key of a photo's scrubbed image.
    pub fn photo_key(blake3: &str, extension: &str) -> String {
        format!("{PHOTO_PREFIX}/{blake3}.{extension}")
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

    /// Deletes photo objects that no row refers to and that are older than `grace` (younger ones
    /// may belong to an upload another replica is about to commit). Returns how many went.
    pub async fn sweep_orphans(&self, referenced: &HashSet<String>, grace: Duration) -> Result<usize, ObjectError> {
        let mut removed = 0;
        for (key, age) in self.list_photos().await? {
            if !referenced.contains(&key) && age >= grace {
                self.delete(&key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
