//! The rules: pure functions of facts and time, no IO.

pub mod consent;

use std::collections::BTreeMap;
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
}

/// Why a purpose is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No consent is on record for a learner pictured.
    NoConsent,
    /// The tutor has not confirmed that everyone pictured is tagged.
    UntaggedPeople,
}

/// The status of one purpose of one photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PurposeStatus {
    /// Held or queued.
    pub state: State,
    /// Why it is held (empty when queued).
    pub reasons: Vec<Reason>,
}

/// The status of each purpose asked for, before any consent exists: everything is held. Consent
/// records (issue 4) are the only way a purpose becomes queued.
pub fn status_without_consent(purposes: &[Purpose], all_tagged: bool) -> BTreeMap<Purpose, PurposeStatus> {
    purposes
        .iter()
        .map(|&p| {
            let mut reasons = vec![Reason::NoConsent];
            if !all_tagged {
                reasons.push(Reason::UntaggedPeople);
            }
            (p, PurposeStatus { state: State::Held, reasons })
        })
        .collect()
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

    #[test]
    fn everything_is_held_without_consent() {
        let s = status_without_consent(&[Purpose::Website, Purpose::Print], true);
        assert_eq!(s.len(), 2);
        assert!(s.values().all(|v| v.state == State::Held && v.reasons == vec![Reason::NoConsent]));
        let s = status_without_consent(&[Purpose::Internal], false);
        assert_eq!(s[&Purpose::Internal].reasons, vec![Reason::NoConsent, Reason::UntaggedPeople]);
    }
}
