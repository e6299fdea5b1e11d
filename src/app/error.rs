//! The application layer's one error type. Each variant says what went wrong in the terms of the
//! use case; the HTTP adapter chooses statuses for them in one place (`http/error.rs`).

use crate::media::MediaError;
use crate::objects::ObjectError;
use crate::policy::{Reason, State};
use crate::roster::LineError;
use crate::store::StoreError;

/// Why a use case did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Nothing of this kind with that id (or nothing the actor may see: a tutor asking for
    /// another tutor's photo learns nothing about whether it exists).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A value that makes no sense; `field` names it when one field is to blame.
    #[error("{message}")]
    Invalid {
        /// The field at fault, when there is one.
        field: Option<String>,
        /// What was wrong, for a person; never a learner's name.
        message: String,
    },
    /// Ids that name no learner on record: the first few of them, and how many more there were.
    #[error("no learner on record with id {}{}", quoted(named), and_more(*more))]
    UnknownLearners {
        /// At most [`MAX_NAMED_IDS`] of the unknown ids, in the order sent.
        named: Vec<String>,
        /// How many unknown ids are not named.
        more: usize,
    },
    /// A grant that would not count now (a child's own, a guardian's for an adult), refused when
    /// the caller asked to hear of it first.
    #[error("{}", .0.words("this learner"))]
    WillNotCount(crate::policy::consent::NotCounting),
    /// A consent given by someone who is not a guardian of this learner.
    #[error("guardian_id is not a guardian of this learner")]
    NotAGuardian,
    /// A learners file with bad lines: nothing was imported.
    #[error("{} bad lines in the file", .0.len())]
    BadLines(Vec<LineError>),
    /// The actor's role may not do this.
    #[error("this needs the {needed} role")]
    Forbidden {
        /// The roles that may, in words.
        needed: String,
    },
    /// The request clashes with what is on record; `code` says how, `detail` helps the client act.
    #[error("{message}")]
    Conflict {
        /// Stable machine-readable code (`duplicate_upload`, `purpose_in_use`, `conflict`).
        code: &'static str,
        /// What clashed, for a person.
        message: String,
        /// Facts that help the client act (for example the id of the photo to edit).
        detail: Option<serde_json::Value>,
    },
    /// Marketing may not have this photo now: it is not released (any more), for these reasons.
    #[error("this photo is not released to marketing now; it has left the queue")]
    NotReleased {
        /// Why not.
        reasons: Vec<Reason>,
    },
    /// The item named cannot be claimed: someone else has it, or consent no longer holds. Use cases
    /// answer this as [`crate::app::queue::ClaimOutcome::NotAvailable`]; it is an error here so
    /// that the edges that refuse with it choose its status in one place.
    #[error("this item is no longer in the queue: someone else claimed it, or consent for it no longer holds")]
    NotAvailable {
        /// Its state and reasons after the claim's re-check; `None` for an item that never existed
        /// (which answers like one that left, without detail).
        status: Option<(State, Vec<Reason>)>,
    },
    /// A publication was recorded, but consent or the name check does not hold: a takedown is
    /// owed for it at once.
    #[error("consent for this photo stopped holding while you held it: take it down (see GET /api/v1/takedowns)")]
    TakedownOwed {
        /// Why it must come down.
        reasons: Vec<Reason>,
    },
    /// The image was deleted after consent was withdrawn or refused; the row stays.
    #[error("the image was deleted after consent was withdrawn")]
    ImageDeleted,
    /// Too much is being done at once; the client should try again shortly.
    #[error("too many uploads at once; try again in a few seconds")]
    Busy,
    /// The upload is not an image we accept (or is too large, corrupt, a bomb).
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object store failed.
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// Something that cannot happen did; the detail is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// [`AppError::Invalid`] blaming no single field.
    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::Invalid { field: None, message: message.into() }
    }

    /// [`AppError::Invalid`] blaming `field`.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid { field: Some(field.to_string()), message: message.into() }
    }

    /// [`AppError::Conflict`] without detail.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> AppError {
        AppError::Conflict { code, message: message.into(), detail: None }
    }

    /// [`AppError::Internal`] from anything displayable.
    pub fn internal(detail: impl std::fmt::Display) -> AppError {
        AppError::Internal(detail.to_string())
    }

    /// [`AppError::UnknownLearners`], naming at most [`MAX_NAMED_IDS`] of `ids`: an error that
    /// echoed every id of a huge request would cost as much as the request.
    pub fn unknown_learners(ids: &[String]) -> AppError {
        AppError::UnknownLearners {
            named: ids.iter().take(MAX_NAMED_IDS).cloned().collect(),
            more: ids.len().saturating_sub(MAX_NAMED_IDS),
        }
    }
}

/// Most unknown ids an error names.
pub const MAX_NAMED_IDS: usize = 5;

/// " and N more" after the named ids, so the error says how many it left out.
fn and_more(more: usize) -> String {
    if more == 0 {
        String::new()
    } else {
        format!(" and {more} more")
    }
}

fn quoted(ids: &[String]) -> String {
    ids.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", ")
}
