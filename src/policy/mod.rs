//! The rules: pure functions of facts and time, no IO.

pub mod calendar;
pub mod consent;
pub mod names;
pub mod release;
pub mod retention;
pub mod search;
pub mod wording;
pub mod zone;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a photo may be used for; consent is given per purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The provider's website.
    Website,
    /// Social media accounts.
    SocialMedia,
    /// Printed material: prospectuses, posters.
    Print,
    /// Internal use: staff newsletters, displays on site.
    Internal,
}

impl Purpose {
    /// Every purpose, in a stable order.
    pub const ALL: [Purpose; 4] = [Purpose::Website, Purpose::SocialMedia, Purpose::Print, Purpose::Internal];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Website => "website",
            Purpose::SocialMedia => "social_media",
            Purpose::Print => "print",
            Purpose::Internal => "internal",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown purpose {s:?}; use one of website, social_media, print, internal"))
    }
}

/// Where a photo stands for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not releasable; the reasons say why.
    Held,
    /// Released to marketing's queue.
    Queued,
    /// Taken by marketing under a lease; returns to the queue when the lease runs out.
    Claimed,
    /// Published by marketing; where is recorded.
    Published,
    /// Was published, and consent no longer holds: a takedown is owed.
    Withdrawn,
    /// Was withdrawn and marketing has confirmed it came down.
    TakenDown,
}

impl State {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Held => "held",
            State::Queued => "queued",
            State::Claimed => "claimed",
            State::Published => "published",
            State::Withdrawn => "withdrawn",
            State::TakenDown => "taken_down",
        }
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [State::Held, State::Queued, State::Claimed, State::Published, State::Withdrawn, State::TakenDown]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown state {s:?}"))
    }
}

/// Why a purpose is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No consent is on record for a learner pictured.
    NoConsent,
    /// Someone's current answer is no.
    Refused,
    /// Someone took their yes back.
    Withdrawn,
    /// The grant that counted has expired.
    Expired,
    /// The learner is under 18 (or their date of birth is unknown) and no guardian has granted.
    NeedsGuardian,
    /// The learner is 18 or over and has not granted themself.
    NeedsAdultConsent,
    /// The tutor has not confirmed that everyone pictured is tagged.
    UntaggedPeople,
    /// Nobody is tagged in the photo.
    NoLearnersTagged,
    /// The photo looks like (perceptual hash) a photo of a learner who withdrew or refused, and
    /// their no still stands.
    MatchesWithdrawn,
    /// A learner's full name is in the caption or alt text.
    NameInText,
    /// A learner pictured has left (their MIS leaving date has come): the photo is not released for
    /// new use, but what was published already stays (see [`Reason::takes_back_publication`]).
    LearnerLeft,
}

impl Reason {
    /// Whether this reason takes back a publication already made (the item becomes withdrawn and
    /// owes a takedown). Every reason does except a learner's leaving: leaving is not a "no", and
    /// retention never takes down what consent allowed to go out.
    pub fn takes_back_publication(self) -> bool {
        !matches!(self, Reason::LearnerLeft)
    }
}

/// One reason, attributed to the learner it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LearnerReason {
    /// The learner.
    pub learner_id: String,
    /// Why their consent does not hold.
    pub reason: Reason,
}

/// The status of one purpose of one photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurposeStatus {
    /// Held or queued.
    pub state: State,
    /// Why it is held (empty when queued), sorted.
    pub reasons: Vec<Reason>,
    /// The consent reasons by learner, so a tutor can see whose consent is missing.
    #[serde(default)]
    pub learners: Vec<LearnerReason>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_round_trip_and_unknown_ones_are_named() {
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
        }
        assert!("billboard".parse::<Purpose>().unwrap_err().contains("billboard"));
    }
}
