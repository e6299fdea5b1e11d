//! The use cases: every rule that is not pure policy or media lives here, once, and every edge
//! (the JSON API, the pages, the command line, the maintenance loop) calls it. No axum in here:
//! a use case takes plain values and an [`Actor`], and answers a typed outcome or an [`AppError`].
//!
//! Imports run one way: `http` and `service` call `app`; `app` calls `store`, `objects`, `policy`,
//! `media` and `roster`, never back up.

pub mod access;
pub mod answers;
pub mod audit;
pub mod chase;
pub mod consents;
pub mod coverage;
pub mod erasure;
mod error;
pub mod export;
pub mod forms;
pub mod input;
pub mod learners;
pub mod letters;
pub mod maintenance;
pub mod outbox;
pub mod photos;
pub mod queue;
pub mod requests;
pub mod retention;
pub mod staff;
pub mod statuses;
pub mod takedowns;
pub mod timeline;

use std::sync::Arc;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

pub use error::AppError;

use crate::config::Settings;
use crate::mail::Mailer;
use crate::objects::Objects;
use crate::policy::names::NameIndex;
use crate::store::{Evaluation, FullStore, Role, StoreError};

/// Everything a use case can reach: the database, the object store, the settings, and the two
/// things shared between requests (scrub slots and the name index).
#[derive(Clone)]
pub struct App {
    /// The database.
    pub store: Arc<dyn FullStore>,
    /// The object store.
    pub objects: Objects,
    /// Resolved settings.
    pub settings: Arc<Settings>,
    /// Bounds how many images are decoded at once (uploads and renditions), so a burst cannot
    /// exhaust memory or cores.
    pub scrub_permits: Arc<Semaphore>,
    /// The decode memory budget, one permit per MiB ([`Settings::memory_budget_mib`]): each decode
    /// reserves its estimate before it starts, so concurrent big images queue instead of stacking.
    memory: Arc<Semaphore>,
    /// The name index and the learners-table version it was built from.
    names: NameCache,
    /// Delivers the outbox over SMTP; `None` without SMTP settings (messages wait as letters).
    pub mailer: Option<Arc<Mailer>>,
    /// Wakes this process's outbox sender when a change has queued a message, so mail leaves
    /// at once rather than at the sender's next look.
    pub mail_waker: Arc<Notify>,
}

/// The name index, rebuilt when the learners table has changed (on any replica).
type NameCache = Arc<tokio::sync::Mutex<Option<(i64, Arc<NameIndex>)>>>;

impl App {
    /// An application over an opened store and object store.
    pub fn new(store: Arc<dyn FullStore>, objects: Objects, settings: Settings) -> App {
        App {
            store,
            objects,
            scrub_permits: Arc::new(Semaphore::new(settings.scrub_concurrency)),
            memory: Arc::new(Semaphore::new(settings.memory_budget_mib.clamp(1, Semaphore::MAX_PERMITS))),
            settings: Arc::new(settings),
            names: NameCache::default(),
            mailer: None,
            mail_waker: Arc::new(Notify::new()),
        }
    }

    /// The same application, delivering mail through `mailer`.
    pub fn with_mailer(mut self, mailer: Mailer) -> App {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// Tells this process's outbox sender that messages were queued.
    pub fn wake_sender(&self) {
        self.mail_waker.notify_one();
    }

    /// Reserves `bytes` of the decode memory budget, waiting while other decodes hold it. A decode
    /// estimated above the whole budget takes all of it, and so runs alone.
    pub async fn reserve_memory(&self, bytes: u64) -> Result<OwnedSemaphorePermit, AppError> {
        const MIB: u64 = 1024 * 1024;
        let budget =
            u32::try_from(self.settings.memory_budget_mib.clamp(1, Semaphore::MAX_PERMITS)).unwrap_or(u32::MAX);
        let wanted = u32::try_from(bytes.div_ceil(MIB)).unwrap_or(u32::MAX).clamp(1, budget);
        self.memory.clone().acquire_many_owned(wanted).await.map_err(AppError::internal)
    }

    /// An evaluation of statuses now, under the configured rules and the current name index,
    /// caused by `actor` (a token id, `system`, `withdrawal_link`).
    pub async fn evaluation(&self, actor: &str) -> Result<Evaluation, StoreError> {
        Ok(Evaluation {
            at: time::OffsetDateTime::now_utc(),
            live: true,
            rules: self.settings.rules,
            actor: actor.to_string(),
            names: self.name_index().await?,
        })
    }

    /// The index of every learner's names, current as of this call. A learner added or renamed on
    /// another replica changes the version, so the index is rebuilt here too.
    pub async fn name_index(&self) -> Result<Arc<NameIndex>, StoreError> {
        let version = self.store.learners_version().await?;
        let mut cache = self.names.lock().await;
        if let Some((built, index)) = cache.as_ref() {
            if *built == version {
                return Ok(index.clone());
            }
        }
        let index = Arc::new(NameIndex::build(self.store.learner_names().await?));
        *cache = Some((version, index.clone()));
        Ok(index)
    }
}

/// Who is acting: a token's public id (the actor of every audit row) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's public id.
    pub token_id: String,
    /// What the token may do.
    pub role: Role,
}

impl Actor {
    /// Refuses with [`AppError::Forbidden`] unless the actor has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden { needed: roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ") })
        }
    }

    /// Whether the actor has `role`.
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }
}
