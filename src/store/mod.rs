//! Persistence: focused traits per area ([`TokenStore`], [`LearnerStore`], [`PhotoStore`],
//! [`ConsentStore`], [`QueueStore`], [`RetentionStore`], [`AuditStore`], [`OpsStore`]) bundled as
//! [`FullStore`], the one bound the rest of the service depends on. SQLite (embedded default) and
//! PostgreSQL implement them, chosen by the database URL's scheme; both pass one conformance suite.
//!
//! A caller holds an `Arc<dyn FullStore>` (on which every area's methods resolve). Each method that decides something about
//! a photo is atomic: it takes the chain lock, re-reads the clock with [`Evaluation::after_lock`],
//! and decides, stores and audits in one transaction. The rules it applies are pure functions in
//! `policy`; the traits say which ones.

mod audit;
mod error;
mod records;
mod requests;
mod sql;
mod traits;

pub use audit::{verify_chain, AuditAction, AuditDraft, AuditRecord, AuditSearch, ChainError, GENESIS_HASH};
pub use error::StoreError;
pub use records::{
    ms_of_time, now_ms, time_of_ms, ClaimOutcome, ConsentRecord, ConsentToRecord, ErasureStart, Evaluation,
    FormTemplate, GuardianAdded, GuardianRecord, ImportSummary, LearnerRecord, PhotoDeletion, PhotoRecord,
    PublicationRecord, PublishOutcome, QueueItem, ReissueOutcome, RetentionCandidate, RetentionDue, RetiredImage,
    RevokeOutcome, Role, SignInLink, StatusChange, Takedown, TakedownNotice, TokenRecord, TombstoneOutcome,
    WithdrawOutcome, WithdrawalLink,
};
pub use requests::{
    AnswerOutcome, DueReminder, Letter, MailKind, MailState, NewRequest, OutboxMessage, RecipientKind, RecipientRecord,
    RecipientStatus, RecipientView, RequestAnswer, RequestCreated, RequestKind, RequestLink, RequestRecord,
};
pub use sql::{PostgresStore, SqliteStore, TABLES};
pub use traits::{
    AuditStore, ConsentStore, ErasureStore, ExportStore, FullStore, LearnerStore, OpsStore, OutboxStore, PhotoStore,
    QueueStore, RequestStore, RetentionStore, TokenStore,
};

/// Every store trait, for `use crate::store::prelude::*;` in code that holds a concrete store type
/// (on a `dyn FullStore`, the supertraits' methods resolve without it).
pub mod prelude {
    pub use super::traits::{
        AuditStore, ConsentStore, ErasureStore, ExportStore, FullStore, LearnerStore, NoticeStore, OpsStore,
        OutboxStore, PhotoStore, QueueStore, RequestStore, RetentionStore, TokenStore,
    };
}

/// Opens the store a URL names: `postgres://` or `postgresql://` → PostgreSQL, `sqlite:` → SQLite.
pub async fn open(url: &str) -> Result<Box<dyn FullStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PostgresStore::connect(url).await?))
    } else {
        Ok(Box::new(SqliteStore::connect(url).await?))
    }
}
