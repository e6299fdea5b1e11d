//! The release decision for a photo: for each purpose asked for, is it held (and why) or may it go
//! to marketing's queue? A photo is releasable for a purpose only when the tutor confirmed that
//! everyone pictured is tagged, at least one learner is tagged, and every learner pictured has
//! consent for that purpose at that moment.
//!
//! Pure: the facts and the clock are arguments.

use std::collections::{BTreeMap, BTreeSet};

use time::{Date, OffsetDateTime};

use super::consent::{self, ConsentEvent, Decision, DenyReason, Learner, Rules};
use super::names::NameIndex;
use super::{LearnerReason, Purpose, PurposeStatus, Reason, State};

/// What the decision needs to know about one learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerFacts {
    /// Date of birth and guardians.
    pub learner: Learner,
    /// The learner's whole consent history.
    pub events: Vec<ConsentEvent>,
    /// The day the learner left, when the MIS says they have (or will): from that day on (in the
    /// organisation's zone) their photos are held for new use.
    pub left_on: Option<Date>,
}

/// What the decision needs to know about a photo.
#[derive(Debug, Clone, Copy)]
pub struct PhotoFacts<'a> {
    /// Learners pictured.
    pub learner_ids: &'a [String],
    /// The tutor confirmed everyone pictured is tagged.
    pub all_tagged: bool,
    /// Purposes asked for.
    pub purposes: &'a [Purpose],
    /// Learners whose withdrawn or refused photo this one resembles: held for them while their no
    /// stands, whether they are tagged or not.
    pub resembles_photos_of: &'a [String],
    /// The texts that leave with the image (caption, alt text, title, each tag): no learner's full
    /// name may be in any of them.
    pub texts: &'a [&'a str],
    /// The tags, in order: also read together, since a name can be split across them ("Amira",
    /// "Khan"). The caption is never read with them: that would join words across a sentence.
    pub tags: &'a [&'a str],
}

fn reason_of(deny: DenyReason) -> Reason {
    match deny {
        DenyReason::NoConsent => Reason::NoConsent,
        DenyReason::Refused => Reason::Refused,
        DenyReason::Withdrawn => Reason::Withdrawn,
        DenyReason::Expired => Reason::Expired,
        DenyReason::NeedsGuardian => Reason::NeedsGuardian,
        DenyReason::NeedsAdultConsent => Reason::NeedsAdultConsent,
    }
}

/// The status of each purpose of `photo` at `at`. A learner pictured but missing from `learners`
/// counts as having no consent: absence of facts never releases a photo.
pub fn evaluate(
    photo: PhotoFacts<'_>,
    learners: &BTreeMap<String, LearnerFacts>,
    names: &NameIndex,
    at: OffsetDateTime,
    rules: Rules,
) -> BTreeMap<Purpose, PurposeStatus> {
    // The name check is the same for every purpose: the text is the same.
    let mut named: Vec<String> = photo
        .texts
        .iter()
        .flat_map(|t| names.find(t))
        .chain(names.find_across(photo.tags))
        .map(|m| m.learner_id)
        .collect();
    named.sort();
    named.dedup();
    let today = rules.zone.date_of(at);
    photo
        .purposes
        .iter()
        .map(|&purpose| {
            let mut reasons = BTreeSet::new();
            let mut per_learner = Vec::new();
            if !photo.all_tagged {
                reasons.insert(Reason::UntaggedPeople);
            }
            // "Everyone is tagged" with nobody tagged is more likely a slip than a photo of an
            // empty room; a session photo without learners is held until someone tags them.
            if photo.learner_ids.is_empty() {
                reasons.insert(Reason::NoLearnersTagged);
            }
            for id in photo.learner_ids {
                if learners.get(id).and_then(|f| f.left_on).is_some_and(|left| left <= today) {
                    reasons.insert(Reason::LearnerLeft);
                    per_learner.push(LearnerReason { learner_id: id.clone(), reason: Reason::LearnerLeft });
                }
                let decision = match learners.get(id) {
                    Some(facts) => consent::decide(&facts.learner, &facts.events, purpose, at, rules),
                    None => Decision::Deny { reasons: vec![DenyReason::NoConsent] },
                };
                if let Decision::Deny { reasons: denied } = decision {
                    for deny in denied {
                        let reason = reason_of(deny);
                        reasons.insert(reason);
                        per_learner.push(LearnerReason { learner_id: id.clone(), reason });
                    }
                }
            }
            for id in photo.resembles_photos_of {
                let says_no = learners
                    .get(id)
                    .is_some_and(|facts| consent::no_stands(&facts.learner, &facts.events, purpose, at, rules));
                if says_no {
                    reasons.insert(Reason::MatchesWithdrawn);
                    per_learner.push(LearnerReason { learner_id: id.clone(), reason: Reason::MatchesWithdrawn });
                }
            }
            for id in &named {
                reasons.insert(Reason::NameInText);
                per_learner.push(LearnerReason { learner_id: id.clone(), reason: Reason::NameInText });
            }
            let state = if reasons.is_empty() { State::Queued } else { State::Held };
            (purpose, PurposeStatus { state, reasons: reasons.into_iter().collect(), learners: per_learner })
        })
        .collect()
}

/// What the rules say of a purpose, as far as its state can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It may be released.
    Release,
    /// It may not be released for new use, but a publication already made stands (every reason
    /// is one that does not take a publication back, such as a learner's leaving).
    HoldNewUse,
    /// It may not be used, and a publication already made is taken back.
    Hold,
}

impl Verdict {
    /// The verdict of a status the rules computed ([`evaluate`]).
    pub fn of(status: &PurposeStatus) -> Verdict {
        if status.state == State::Queued {
            Verdict::Release
        } else if status.reasons.iter().all(|r| !r.takes_back_publication()) {
            Verdict::HoldNewUse
        } else {
            Verdict::Hold
        }
    }
}

/// Where a purpose goes from `current` on `verdict`, and whether a takedown is owed. Held and
/// queued follow the rules; a claim is dropped when they fail (a claim is not yet a use); a
/// published photo stays published when only new use is held, and otherwise becomes withdrawn and
/// owes a takedown; withdrawn and taken down are final (the image is gone or going).
pub fn transition(current: State, verdict: Verdict) -> (State, bool) {
    match (current, verdict) {
        (State::Held | State::Queued, Verdict::Release) => (State::Queued, false),
        (State::Held | State::Queued | State::Claimed, Verdict::Hold | Verdict::HoldNewUse) => (State::Held, false),
        (State::Claimed, Verdict::Release) => (State::Claimed, false),
        (State::Published, Verdict::Release | Verdict::HoldNewUse) => (State::Published, false),
        (State::Published, Verdict::Hold) => (State::Withdrawn, true),
        (State::Withdrawn | State::TakenDown, _) => (current, false),
    }
}

/// The state an item is in at `now_ms`: a claim whose lease has run out (at its expiry instant
/// included) counts as queued, so a forgotten claim returns to the queue without anyone writing it
/// back; a claim without a lease and every other state count as stored. Times are Unix
/// milliseconds, as the store keeps them.
pub fn effective_state(stored: State, lease_expires_at: Option<i64>, now_ms: i64) -> State {
    match (stored, lease_expires_at) {
        (State::Claimed, Some(lease)) if lease <= now_ms => State::Queued,
        _ => stored,
    }
}

/// The claim guard: whether an item stored as `stored` with this lease may be leased to a new
/// claimant at `now_ms`. Only an item that is effectively queued may: one held, published,
/// withdrawn or taken down is not in the queue, and one claimed under a running lease is someone
/// else's until it runs out. The store applies it after re-evaluating the photo, in the
/// transaction that takes the lease.
pub fn claimable(stored: State, lease_expires_at: Option<i64>, now_ms: i64) -> bool {
    effective_state(stored, lease_expires_at, now_ms) == State::Queued
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::consent::{EventKind, Giver};
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-11-24 12:00 UTC);

    fn grant(id: &str, giver: Giver, purposes: &[Purpose], expires: Option<OffsetDateTime>) -> ConsentEvent {
        ConsentEvent {
            id: id.into(),
            kind: EventKind::Granted,
            purposes: purposes.iter().copied().collect(),
            giver,
            given_at: datetime!(2026-09-01 09:00 UTC),
            recorded_at: datetime!(2026-09-01 09:00 UTC),
            expires_at: expires,
        }
    }

    fn child(events: Vec<ConsentEvent>) -> LearnerFacts {
        LearnerFacts {
            learner: Learner {
                date_of_birth: Some(date!(2011 - 05 - 05)),
                guardian_ids: ["mum".into()].into(),
                removed_guardian_ids: Default::default(),
            },
            events,
            left_on: None,
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_name_split_across_tags_holds_the_photo_but_not_across_caption_and_tags() {
        use crate::policy::names::NameEntry;
        let web = [Purpose::Website];
        let learners: BTreeMap<String, LearnerFacts> =
            [("ben".to_string(), child(vec![grant("g1", Giver::Guardian("mum".into()), &web, None)]))].into();
        let names = NameIndex::build([NameEntry {
            learner_id: "amira".into(),
            given_name: "Amira".into(),
            preferred_name: None,
            family_name: "Khan".into(),
        }]);
        let pictured = ids(&["ben"]);
        let status = |texts: &[&str], tags: &[&str]| {
            let photo = PhotoFacts {
                learner_ids: &pictured,
                all_tagged: true,
                purposes: &web,
                resembles_photos_of: &[],
                texts,
                tags,
            };
            evaluate(photo, &learners, &names, NOW, Rules::default()).remove(&Purpose::Website).unwrap()
        };
        let tags = ["Amira", "Khan"];
        let held = status(&["Workshop", "", "", "Amira", "Khan"], &tags);
        assert_eq!((held.state, held.reasons), (State::Held, vec![Reason::NameInText]));
        assert_eq!(held.learners, vec![LearnerReason { learner_id: "amira".into(), reason: Reason::NameInText }]);
        // Each tag alone names nobody, and a caption ending in a first name does not run on into
        // the tags.
        assert_eq!(status(&["Well done Amira", "", "", "Khan Academy"], &["Khan Academy"]).state, State::Queued);
        assert_eq!(status(&["Amira", "", "", "Khan"], &[]).state, State::Queued);
    }

    #[test]
    fn a_leaver_holds_new_use_from_their_leaving_day_and_never_takes_back_a_publication() {
        let web = [Purpose::Website];
        let with_consent = || child(vec![grant("g1", Giver::Guardian("mum".into()), &web, None)]);
        let leaving = |left_on| LearnerFacts { left_on, ..with_consent() };
        let pictured = ids(&["ben", "cara"]);
        let status = |cara: LearnerFacts| {
            let learners: BTreeMap<String, LearnerFacts> =
                [("ben".to_string(), with_consent()), ("cara".to_string(), cara)].into();
            let photo = PhotoFacts {
                learner_ids: &pictured,
                all_tagged: true,
                purposes: &web,
                resembles_photos_of: &[],
                texts: &[],
                tags: &[],
            };
            evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default()).remove(&Purpose::Website).unwrap()
        };
        // NOW is 2026-11-24: leaving tomorrow changes nothing yet; leaving today or before holds.
        assert_eq!(status(leaving(Some(date!(2026 - 11 - 25)))).state, State::Queued);
        for left in [date!(2026 - 11 - 24), date!(2020 - 07 - 20)] {
            let held = status(leaving(Some(left)));
            assert_eq!((held.state, held.reasons.clone()), (State::Held, vec![Reason::LearnerLeft]), "{left}");
            assert_eq!(held.learners, vec![LearnerReason { learner_id: "cara".into(), reason: Reason::LearnerLeft }]);
            // Only new use: a publication stands, a claim is dropped.
            assert_eq!(Verdict::of(&held), Verdict::HoldNewUse);
            assert_eq!(transition(State::Published, Verdict::of(&held)), (State::Published, false));
            assert_eq!(transition(State::Claimed, Verdict::of(&held)), (State::Held, false));
        }
        // Leaving beside a "no": the "no" takes the publication back.
        let refused = ConsentEvent {
            kind: EventKind::Refused,
            expires_at: None,
            ..grant("r1", Giver::Guardian("mum".into()), &web, None)
        };
        let both = status(LearnerFacts { left_on: Some(date!(2026 - 01 - 01)), ..child(vec![refused]) });
        assert!(both.reasons.contains(&Reason::LearnerLeft) && both.reasons.contains(&Reason::Refused));
        assert_eq!(Verdict::of(&both), Verdict::Hold);
        assert_eq!(transition(State::Published, Verdict::of(&both)), (State::Withdrawn, true));
        assert_eq!(status(leaving(None)).state, State::Queued);
    }

    #[test]
    fn transitions_cover_every_state() {
        use State::*;
        use Verdict::{Hold, HoldNewUse, Release};
        let table = [
            (Held, Release, Queued, false),
            (Held, Hold, Held, false),
            (Held, HoldNewUse, Held, false),
            (Queued, Release, Queued, false),
            (Queued, Hold, Held, false),
            (Queued, HoldNewUse, Held, false),
            (Claimed, Release, Claimed, false),
            (Claimed, Hold, Held, false),
            (Claimed, HoldNewUse, Held, false),
            (Published, Release, Published, false),
            (Published, Hold, Withdrawn, true),
            (Published, HoldNewUse, Published, false),
            (Withdrawn, Release, Withdrawn, false),
            (Withdrawn, Hold, Withdrawn, false),
            (Withdrawn, HoldNewUse, Withdrawn, false),
            (TakenDown, Release, TakenDown, false),
            (TakenDown, Hold, TakenDown, false),
            (TakenDown, HoldNewUse, TakenDown, false),
        ];
        for (from, verdict, to, takedown) in table {
            assert_eq!(transition(from, verdict), (to, takedown), "{from:?} {verdict:?}");
        }
    }

    #[test]
    fn a_lookalike_of_a_withdrawn_learners_photo_is_held_while_their_no_stands() {
        let web = [Purpose::Website];
        let withdrawn = ConsentEvent {
            id: "w".into(),
            kind: EventKind::Withdrawn,
            purposes: web.iter().copied().collect(),
            giver: Giver::Guardian("mum".into()),
            given_at: datetime!(2026-10-01 09:00 UTC),
            recorded_at: datetime!(2026-10-01 09:00 UTC),
            expires_at: None,
        };
        let learners: BTreeMap<String, LearnerFacts> = [
            ("amira".to_string(), child(vec![grant("g1", Giver::Guardian("mum".into()), &web, None)])),
            ("zara".to_string(), child(vec![grant("g2", Giver::Guardian("mum".into()), &web, None), withdrawn])),
        ]
        .into();
        // The re-upload tags only Amira (who consents); it resembles a photo of Zara (who withdrew).
        let pictured = ids(&["amira"]);
        let zara = ids(&["zara"]);
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &zara,
            texts: &[],
            tags: &[],
        };
        let status = &evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website];
        assert_eq!((status.state, status.reasons.clone()), (State::Held, vec![Reason::MatchesWithdrawn]));
        assert_eq!(
            status.learners,
            vec![LearnerReason { learner_id: "zara".into(), reason: Reason::MatchesWithdrawn }]
        );
        // Amira resembling her own consented photo holds nothing.
        let amira = ids(&["amira"]);
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &amira,
            texts: &[],
            tags: &[],
        };
        assert_eq!(
            evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website].state,
            State::Queued
        );
    }

    #[test]
    fn a_group_photo_is_held_while_one_learner_lacks_consent() {
        let web = [Purpose::Website];
        let learners: BTreeMap<String, LearnerFacts> = [
            ("amira".to_string(), child(vec![grant("g1", Giver::Guardian("mum".into()), &web, None)])),
            ("ben".to_string(), child(vec![])),
        ]
        .into();
        let pictured = ids(&["amira", "ben"]);
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        let status = &evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website];
        assert_eq!(status.state, State::Held);
        assert_eq!(status.reasons, vec![Reason::NoConsent]);
        assert_eq!(status.learners, vec![LearnerReason { learner_id: "ben".into(), reason: Reason::NoConsent }]);

        let only_amira = ids(&["amira"]);
        let photo = PhotoFacts {
            learner_ids: &only_amira,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        let status = &evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website];
        assert_eq!((status.state, status.reasons.len(), status.learners.len()), (State::Queued, 0, 0));
    }

    #[test]
    fn each_purpose_is_decided_on_its_own() {
        let learners: BTreeMap<String, LearnerFacts> =
            [("amira".to_string(), child(vec![grant("g1", Giver::Guardian("mum".into()), &[Purpose::Print], None)]))]
                .into();
        let pictured = ids(&["amira"]);
        let asked = [Purpose::Website, Purpose::Print];
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: true,
            purposes: &asked,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        let status = evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default());
        assert_eq!(status[&Purpose::Print].state, State::Queued);
        assert_eq!(status[&Purpose::Website].reasons, vec![Reason::NoConsent]);
        assert_eq!(status.len(), 2, "only the purposes asked for are reported");
    }

    #[test]
    fn untagged_and_empty_photos_are_held_whatever_the_consent() {
        let web = [Purpose::Website];
        let learners: BTreeMap<String, LearnerFacts> =
            [("amira".to_string(), child(vec![grant("g1", Giver::Guardian("mum".into()), &web, None)]))].into();
        let pictured = ids(&["amira"]);
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: false,
            purposes: &web,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        assert_eq!(
            evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website].reasons,
            vec![Reason::UntaggedPeople]
        );
        let nobody: Vec<String> = Vec::new();
        let photo = PhotoFacts {
            learner_ids: &nobody,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        assert_eq!(
            evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website].reasons,
            vec![Reason::NoLearnersTagged]
        );
    }

    #[test]
    fn a_learner_without_facts_never_releases_and_time_expires_a_grant() {
        let web = [Purpose::Website];
        let pictured = ids(&["ghost"]);
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        assert_eq!(
            evaluate(photo, &BTreeMap::new(), &NameIndex::default(), NOW, Rules::default())[&Purpose::Website].state,
            State::Held
        );

        let expiry = datetime!(2026-12-01 00:00 UTC);
        let learners: BTreeMap<String, LearnerFacts> =
            [("amira".to_string(), child(vec![grant("g1", Giver::Guardian("mum".into()), &web, Some(expiry))]))].into();
        let pictured = ids(&["amira"]);
        let photo = PhotoFacts {
            learner_ids: &pictured,
            all_tagged: true,
            purposes: &web,
            resembles_photos_of: &[],
            texts: &[],
            tags: &[],
        };
        assert_eq!(
            evaluate(photo, &learners, &NameIndex::default(), NOW, Rules::default())[&Purpose::Website].state,
            State::Queued
        );
        let later = &evaluate(photo, &learners, &NameIndex::default(), expiry, Rules::default())[&Purpose::Website];
        assert_eq!((later.state, later.reasons.clone()), (State::Held, vec![Reason::Expired]));
    }

    #[test]
    fn a_lease_that_ran_out_counts_as_queued_and_only_queued_items_may_be_claimed() {
        use State::*;
        const NOW: i64 = 1_000;
        // (stored, lease, effective state, claimable)
        let table = [
            (Queued, None, Queued, true),
            (Claimed, Some(NOW + 1), Claimed, false),
            (Claimed, Some(NOW), Queued, true),
            (Claimed, Some(NOW - 1), Queued, true),
            (Claimed, None, Claimed, false),
            (Held, None, Held, false),
            // A lease left on a state that is no longer a claim changes nothing.
            (Held, Some(NOW - 1), Held, false),
            (Published, Some(NOW - 1), Published, false),
            (Withdrawn, None, Withdrawn, false),
            (TakenDown, None, TakenDown, false),
        ];
        for (stored, lease, effective, may_claim) in table {
            assert_eq!(effective_state(stored, lease, NOW), effective, "{stored:?} {lease:?}");
            assert_eq!(claimable(stored, lease, NOW), may_claim, "{stored:?} {lease:?}");
        }
    }
}
