//! Statuses in plain words: what a tutor or a safeguarding lead reads instead of reason codes.
//! Pure: the caller supplies the names to use for each learner.

use std::collections::BTreeMap;

pub use crate::app::letters::{and_list, capitalised, takedown_words};
use crate::policy::consent::DenyReason;
use crate::policy::zone::Zone;
use crate::policy::{Purpose, PurposeStatus, Reason, State};

/// How a line should look: good news, waiting, or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Released, published, or taken down as asked.
    Good,
    /// Waiting for someone to act.
    Waiting,
    /// Cannot go ahead as things stand.
    Stopped,
}

impl Tone {
    /// The CSS class of the tone.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Waiting => "waiting",
            Tone::Stopped => "stopped",
        }
    }
}

/// One sentence about a photo, and the purposes it is true for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The purposes, in words ("website, social media").
    pub purposes: String,
    /// The sentence.
    pub text: String,
    /// How it should look.
    pub tone: Tone,
}

/// A purpose in words.
pub fn purpose_words(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Website => "website",
        Purpose::SocialMedia => "social media",
        Purpose::Print => "print",
        Purpose::Internal => "internal use",
    }
}

/// Why a learner's consent does not hold for a purpose, for the safeguarding lead.
pub fn deny_words(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::NoConsent => "no consent on record",
        DenyReason::Refused => "refused",
        DenyReason::Withdrawn => "withdrawn",
        DenyReason::Expired => "the grant has expired",
        DenyReason::NeedsGuardian => "under 18 (or no date of birth): needs a parent's or guardian's grant",
        DenyReason::NeedsAdultConsent => "18 or over: needs the learner's own grant",
    }
}

/// Whether a learner counts as a child at `at`: under 18, or with no known date of birth (which
/// the consent rules treat the same way), by the date of `at` in the organisation's `zone`.
pub fn is_minor(date_of_birth: Option<&str>, at: time::OffsetDateTime, zone: Zone) -> bool {
    match date_of_birth.and_then(|d| crate::policy::calendar::parse_iso_date(d.get(..10).unwrap_or(d))) {
        Some(dob) => zone.date_of(at) < crate::policy::consent::majority_date(dob),
        None => true,
    }
}

/// The sentences for one purpose's status.
fn sentences(
    status: &PurposeStatus,
    name_of: &dyn Fn(&str) -> String,
    is_minor: &dyn Fn(&str) -> bool,
) -> Vec<(String, Tone)> {
    let names_where = |keep: &dyn Fn(&crate::policy::LearnerReason) -> bool| {
        let mut names: Vec<String> =
            status.learners.iter().filter(|l| keep(l)).map(|l| name_of(&l.learner_id)).collect();
        names.dedup();
        and_list(&names)
    };
    let whose = |reason: Reason| names_where(&|l| l.reason == reason);
    match status.state {
        State::Queued => return vec![("ready: in marketing's publishing queue".into(), Tone::Good)],
        State::Claimed => return vec![("marketing is preparing it for publication".into(), Tone::Good)],
        State::Published => return vec![("published".into(), Tone::Good)],
        State::Withdrawn => {
            return vec![("consent was withdrawn: marketing has been told to take it down".into(), Tone::Stopped)]
        }
        State::TakenDown => return vec![("taken down after consent was withdrawn".into(), Tone::Good)],
        State::Held => {}
    }
    let mut out = Vec::new();
    for reason in &status.reasons {
        // With nothing on record, what is missing depends on age: a child (or someone whose date
        // of birth is unknown) needs a parent's or guardian's yes, which the tutor should say.
        if *reason == Reason::NoConsent {
            let minors = names_where(&|l| l.reason == Reason::NoConsent && is_minor(&l.learner_id));
            let adults = names_where(&|l| l.reason == Reason::NoConsent && !is_minor(&l.learner_id));
            if !minors.is_empty() {
                out.push((format!("waiting for a parent's or guardian's consent for {minors}"), Tone::Waiting));
            }
            if !adults.is_empty() {
                out.push((format!("no consent on record yet for {adults}"), Tone::Waiting));
            }
            if !(minors.is_empty() && adults.is_empty()) {
                continue;
            }
        }
        out.push(match reason {
            Reason::NoConsent => (format!("no consent on record yet for {}", whose(*reason)), Tone::Waiting),
            Reason::NeedsGuardian => {
                (format!("waiting for a parent's or guardian's consent for {}", whose(*reason)), Tone::Waiting)
            }
            Reason::NeedsAdultConsent => {
                (format!("waiting for {}'s own consent (18 or over now)", whose(*reason)), Tone::Waiting)
            }
            Reason::Expired => {
                (format!("consent for {} has expired and needs renewing", whose(*reason)), Tone::Waiting)
            }
            Reason::Refused => {
                (format!("consent was refused for {}: it cannot be used", whose(*reason)), Tone::Stopped)
            }
            Reason::Withdrawn => {
                (format!("consent for {} was withdrawn: it cannot be used", whose(*reason)), Tone::Stopped)
            }
            Reason::UntaggedPeople => {
                ("tick \u{201c}everyone pictured is tagged\u{201d} once you have tagged everyone".into(), Tone::Waiting)
            }
            Reason::NoLearnersTagged => ("nobody is tagged yet: tag the learners pictured".into(), Tone::Waiting),
            Reason::MatchesWithdrawn => {
                ("it looks like a photo of a learner who said no, so it cannot be used".into(), Tone::Stopped)
            }
            Reason::NameInText => ("the caption or other text names a learner in full".into(), Tone::Waiting),
            Reason::LearnerLeft => (format!("{} has left: not released for new use", whose(*reason)), Tone::Stopped),
        });
    }
    out
}

/// Every sentence about a photo's purposes, each once, with the purposes it applies to.
/// `is_minor` says whether a learner is under 18 or has no known date of birth.
pub fn describe(
    status: &BTreeMap<Purpose, PurposeStatus>,
    name_of: &dyn Fn(&str) -> String,
    is_minor: &dyn Fn(&str) -> bool,
) -> Vec<Line> {
    let mut lines: Vec<(String, Tone, Vec<Purpose>)> = Vec::new();
    for (purpose, st) in status {
        for (text, tone) in sentences(st, name_of, is_minor) {
            match lines.iter_mut().find(|(t, _, _)| *t == text) {
                Some((_, _, purposes)) => purposes.push(*purpose),
                None => lines.push((text, tone, vec![*purpose])),
            }
        }
    }
    lines
        .into_iter()
        .map(|(text, tone, purposes)| {
            let words: Vec<String> = purposes.iter().map(|p| purpose_words(*p).to_string()).collect();
            Line { purposes: and_list(&words), text: capitalised(&text), tone }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::LearnerReason;

    fn held(reasons: &[Reason], learners: &[(&str, Reason)]) -> PurposeStatus {
        PurposeStatus {
            state: State::Held,
            reasons: reasons.to_vec(),
            learners: learners
                .iter()
                .map(|(id, reason)| LearnerReason { learner_id: id.to_string(), reason: *reason })
                .collect(),
        }
    }

    fn names(id: &str) -> String {
        match id {
            "a" => "Amira".into(),
            "b" => "Ben".into(),
            _ => "someone".into(),
        }
    }

    #[test]
    fn a_missing_guardian_grant_names_the_learner_by_first_name() {
        let mut status = BTreeMap::new();
        status.insert(Purpose::Website, held(&[Reason::NeedsGuardian], &[("a", Reason::NeedsGuardian)]));
        status.insert(Purpose::Print, held(&[Reason::NeedsGuardian], &[("a", Reason::NeedsGuardian)]));
        let lines = describe(&status, &names, &|_| false);
        assert_eq!(
            lines,
            vec![Line {
                purposes: "website and print".into(),
                text: "Waiting for a parent's or guardian's consent for Amira".into(),
                tone: Tone::Waiting
            }]
        );
    }

    #[test]
    fn several_learners_and_reasons_each_get_their_sentence() {
        let mut status = BTreeMap::new();
        status.insert(
            Purpose::SocialMedia,
            held(
                &[Reason::NoConsent, Reason::Refused, Reason::NameInText],
                &[("a", Reason::NoConsent), ("b", Reason::NoConsent), ("c", Reason::Refused)],
            ),
        );
        status.insert(Purpose::Website, PurposeStatus { state: State::Queued, reasons: vec![], learners: vec![] });
        let lines = describe(&status, &names, &|_| false);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Ready: in marketing's publishing queue",
                "No consent on record yet for Amira and Ben",
                "Consent was refused for someone: it cannot be used",
                "The caption or other text names a learner in full",
            ]
        );
        assert_eq!(lines[0].tone, Tone::Good);
        assert_eq!(lines[0].purposes, "website");
        assert_eq!(lines[2].tone, Tone::Stopped);
    }

    #[test]
    fn a_child_with_nothing_on_record_waits_for_a_parent_or_guardian() {
        let mut status = BTreeMap::new();
        status.insert(
            Purpose::Website,
            held(&[Reason::NoConsent], &[("a", Reason::NoConsent), ("b", Reason::NoConsent)]),
        );
        let lines = describe(&status, &names, &|id| id == "b");
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            ["Waiting for a parent's or guardian's consent for Ben", "No consent on record yet for Amira"]
        );
    }

    #[test]
    fn ages_count_from_the_date_of_birth_and_unknown_counts_as_a_child() {
        let at = time::macros::datetime!(2026-03-01 12:00 UTC);
        let london = Zone::default();
        assert!(is_minor(None, at, london));
        assert!(is_minor(Some("2008-03-02"), at, london));
        assert!(!is_minor(Some("2008-03-01"), at, london));
        assert!(is_minor(Some("not a date"), at, london));
        // 23:30 UTC on 14 June is 00:30 on the 15th in London (BST): 18 there, not yet by UTC.
        let late = time::macros::datetime!(2026-06-14 23:30 UTC);
        assert!(!is_minor(Some("2008-06-15"), late, london));
        assert!(is_minor(Some("2008-06-15"), late, Zone::named("UTC").unwrap()));
    }

    #[test]
    fn takedowns_say_why_in_words() {
        assert_eq!(takedown_words(&[Reason::Withdrawn]), "Consent was withdrawn");
        assert_eq!(takedown_words(&[Reason::Expired, Reason::Refused]), "Consent expired and consent was refused");
        assert_eq!(takedown_words(&[Reason::NeedsGuardian, Reason::NoConsent]), "Consent lapsed");
        assert_eq!(takedown_words(&[]), "Consent no longer holds");
    }

    #[test]
    fn lists_read_as_english() {
        let n = |v: &[&str]| and_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(n(&[]), "");
        assert_eq!(n(&["A"]), "A");
        assert_eq!(n(&["A", "B"]), "A and B");
        assert_eq!(n(&["A", "B", "C"]), "A, B and C");
    }
}
