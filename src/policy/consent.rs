//! The consent decision: may a photo of this learner be used for this purpose at this moment?
//!
//! Consent is an append-only history of events. Each person who can speak for the learner (the
//! learner, each of their guardians) has a current position per purpose:
//! - a refusal or withdrawal counts as soon as it is on record, whatever its `given_at` says: a "no"
//!   dated later than the moment asked about (a clock a little ahead, a replica a little behind) or
//!   earlier than a grant (an admin form sending only a date) is never skipped or outranked;
//! - a grant counts from its `given_at` (at or before the moment) until its expiry;
//! - a giver's grant supersedes that giver's "no" only if it is later in **both** `given_at` and
//!   `recorded_at` (so a re-grant after a withdrawal works, while a back-dated "no", or a "no"
//!   recorded after the grant, stands); ties go to the "no".
//!
//! From 18 the learner decides: once they have answered for themselves (an event of their own for
//! the purpose, in effect and given on or after their 18th birthday), their guardians' events for
//! that purpose, grants and refusals alike, stop counting. Until they answer, a guardian's standing
//! "no" still holds. [`Rules::guardian_no_survives_majority`] keeps every guardian's "no" counting
//! regardless, as before.
//!
//! Then:
//! - any standing refusal or withdrawal, from anyone still counted, denies ("any no wins");
//! - under 18 at that moment, or with no known date of birth, a guardian's unexpired grant is needed;
//! - from 18, the learner's own unexpired grant is needed (a guardian's grant given while they were
//!   a child no longer suffices, unless [`Rules::guardian_grant_survives_majority`] says so and the
//!   learner has not answered for themselves);
//! - a guardian an admin removed ([`Learner::removed_guardian_ids`]) still counts when they say
//!   no, never when they say yes.
//!
//! Ages are counted by the calendar date in the organisation's zone ([`Rules::zone`]): a learner
//! born on 15 June is 18 from midnight on 15 June local time.
//!
//! The decision is about now, not history: callers pass the events on record. Pure: the clock and
//! the zone are arguments.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use super::zone::Zone;
use super::Purpose;

/// Who gave (or refused, or withdrew) consent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Giver {
    /// The learner themself.
    Learner,
    /// One of the learner's guardians, by guardian id.
    Guardian(String),
}

/// What a consent event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Yes, for the event's purposes (until its expiry, if any).
    Granted,
    /// No, for the event's purposes.
    Refused,
    /// An earlier yes taken back, for the event's purposes.
    Withdrawn,
}

/// One recorded consent event, as far as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentEvent {
    /// Event id, cited as the basis of a decision.
    pub id: String,
    /// Granted, refused or withdrawn.
    pub kind: EventKind,
    /// The purposes it covers.
    pub purposes: BTreeSet<Purpose>,
    /// Who gave it.
    pub giver: Giver,
    /// When it was given. A grant has no effect before; a refusal or withdrawal counts from the
    /// moment it is on record, whatever this says.
    pub given_at: OffsetDateTime,
    /// When it was put on record: a grant must be later than a "no" in this as well as in
    /// `given_at` to supersede it.
    pub recorded_at: OffsetDateTime,
    /// When a grant stops counting (exclusive: at that instant it has expired).
    pub expires_at: Option<OffsetDateTime>,
}

/// The facts about a learner the decision depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learner {
    /// Date of birth, when known. Unknown counts as under 18.
    pub date_of_birth: Option<Date>,
    /// Ids of the learner's guardians; events from anyone else are ignored.
    pub guardian_ids: BTreeSet<String>,
    /// Ids of guardians an admin removed: their refusals and withdrawals still count (a "no" on
    /// record is never erased by removing whoever gave it), their grants no longer do. A grant of
    /// theirs still supersedes their own earlier "no" as it did before the removal, so removing
    /// someone never revives a "no" they had taken back.
    pub removed_guardian_ids: BTreeSet<String>,
}

/// Policy switches, and the organisation's zone the calendar is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rules {
    /// Whether a guardian's grant given before the learner turned 18 still counts afterwards
    /// (until the learner answers for themself, unless `guardian_no_survives_majority`).
    /// Off by default: an adult decides for themself.
    pub guardian_grant_survives_majority: bool,
    /// Whether a guardian's refusal or withdrawal keeps counting after the learner turns 18 even
    /// once the learner has answered for themself (so an adult's own grant cannot end a refusal a
    /// parent gave years ago). Off by default: an adult's own answer replaces their guardians'.
    pub guardian_no_survives_majority: bool,
    /// The organisation's time zone: birthdays turn at its midnight.
    pub zone: Zone,
}

/// Why a purpose is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// Nobody has said anything for this purpose.
    NoConsent,
    /// Someone's current answer is no.
    Refused,
    /// Someone took their yes back.
    Withdrawn,
    /// The grant that would count has expired.
    Expired,
    /// Under 18 (or date of birth unknown): only a guardian's grant counts, and there is none.
    NeedsGuardian,
    /// 18 or over: only the learner's own grant counts, and there is none.
    NeedsAdultConsent,
}

/// The answer for one learner, purpose and moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// Allowed, on the strength of this grant.
    Allow {
        /// The event id of the grant relied on.
        basis: String,
    },
    /// Not allowed, for these reasons (sorted, without duplicates).
    Deny {
        /// Why.
        reasons: Vec<DenyReason>,
    },
}

impl Decision {
    /// Whether the purpose is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// The day someone born on `dob` turns 18. Someone born on 29 February turns 18 on 1 March in a
/// year without 29 February, as English law has it.
pub fn majority_date(dob: Date) -> Date {
    let year = dob.year() + 18;
    Date::from_calendar_date(year, dob.month(), dob.day())
        .unwrap_or_else(|_| Date::from_calendar_date(year, Month::March, 1).expect("1 March exists"))
}

/// Whether the learner is 18 or over at `at`, by the calendar date of `at` in `zone`.
pub fn is_adult(learner: &Learner, at: OffsetDateTime, zone: Zone) -> bool {
    learner.date_of_birth.is_some_and(|dob| zone.date_of(at) >= majority_date(dob))
}

/// Whether `at` falls on or after the 18th birthday of someone born on `dob`, in `zone`.
fn on_or_after_majority(dob: Option<Date>, at: OffsetDateTime, zone: Zone) -> bool {
    dob.is_some_and(|dob| zone.date_of(at) >= majority_date(dob))
}

/// Whether the learner, 18 or over at `at`, has answered for themselves for `purpose`: an event of
/// their own for it (grant, refusal or withdrawal), in effect at `at`, given on or after their 18th
/// birthday.
pub fn answered_as_adult(
    learner: &Learner,
    events: &[ConsentEvent],
    purpose: Purpose,
    at: OffsetDateTime,
    rules: Rules,
) -> bool {
    is_adult(learner, at, rules.zone)
        && events.iter().any(|e| {
            e.giver == Giver::Learner
                && e.purposes.contains(&purpose)
                && (e.kind != EventKind::Granted || e.given_at <= at)
                && on_or_after_majority(learner.date_of_birth, e.given_at, rules.zone)
        })
}

/// Whether what the learner's guardians say about `purpose` is set aside at `at`, grants and
/// refusals alike: the learner has answered for themselves as an adult ([`answered_as_adult`])
/// and the provider does not keep guardians' noes ([`Rules::guardian_no_survives_majority`]).
pub fn guardians_set_aside(
    learner: &Learner,
    events: &[ConsentEvent],
    purpose: Purpose,
    at: OffsetDateTime,
    rules: Rules,
) -> bool {
    !rules.guardian_no_survives_majority && answered_as_adult(learner, events, purpose, at, rules)
}

/// Decides whether `purpose` is allowed for `learner` at `at`, from the consent history `events`
/// (in any order).
pub fn decide(
    learner: &Learner,
    events: &[ConsentEvent],
    purpose: Purpose,
    at: OffsetDateTime,
    rules: Rules,
) -> Decision {
    // Every event of each giver for this purpose, from someone who speaks for the learner.
    let mut by_giver: BTreeMap<&Giver, Vec<&ConsentEvent>> = BTreeMap::new();
    for event in events {
        let speaks_for_learner = match &event.giver {
            Giver::Learner => true,
            Giver::Guardian(id) => learner.guardian_ids.contains(id) || learner.removed_guardian_ids.contains(id),
        };
        if speaks_for_learner && event.purposes.contains(&purpose) {
            by_giver.entry(&event.giver).or_default().push(event);
        }
    }

    // A grant only counts once given; a "no" counts as soon as it is on record, so that neither a
    // clock behind the withdrawal's nor a date-only form can let a use slip through after it.
    let in_effect = |e: &ConsentEvent| e.kind != EventKind::Granted || e.given_at <= at;
    let adult = is_adult(learner, at, rules.zone);

    // From 18 the learner decides: once they have answered for themselves since their birthday,
    // what their guardians said (yes or no) no longer speaks for them.
    let answered_as_adult = answered_as_adult(learner, events, purpose, at, rules);
    let guardians_set_aside = answered_as_adult && !rules.guardian_no_survives_majority;
    if guardians_set_aside {
        by_giver.retain(|giver, _| **giver == Giver::Learner);
    }
    let supersedes =
        |grant: &ConsentEvent, no: &ConsentEvent| grant.given_at > no.given_at && grant.recorded_at > no.recorded_at;
    let mut reasons = BTreeSet::new();
    // Each giver's current grant, where none of their noes stands.
    let mut current: Vec<&ConsentEvent> = Vec::new();
    for (giver, giver_events) in &by_giver {
        let grants: Vec<&ConsentEvent> =
            giver_events.iter().copied().filter(|e| e.kind == EventKind::Granted && in_effect(e)).collect();
        let mut said_no = false;
        for no in giver_events.iter().filter(|e| e.kind != EventKind::Granted) {
            if grants.iter().any(|g| supersedes(g, no)) {
                continue;
            }
            said_no = true;
            reasons.insert(if no.kind == EventKind::Refused { DenyReason::Refused } else { DenyReason::Withdrawn });
        }
        // A removed guardian's "no" has counted above; their grant no longer does.
        let removed = matches!(giver, Giver::Guardian(id) if learner.removed_guardian_ids.contains(id));
        if !said_no && !removed {
            if let Some(latest) = grants.into_iter().max_by_key(|e| (e.given_at, e.recorded_at, &e.id)) {
                current.push(latest);
            }
        }
    }
    if !reasons.is_empty() {
        return Decision::Deny { reasons: reasons.into_iter().collect() };
    }

    let live = |e: &ConsentEvent| e.expires_at.is_none_or(|exp| at < exp);
    let counts = |e: &ConsentEvent| grant_counts(learner, &e.giver, e.given_at, answered_as_adult, at, rules);
    // Everyone's current position is a grant here (any no has returned above).
    let grants = current;
    let basis = grants.iter().copied().filter(|e| counts(e) && live(e)).min_by_key(|e| (e.given_at, &e.id));
    if let Some(basis) = basis {
        return Decision::Allow { basis: basis.id.clone() };
    }
    let reason = if grants.iter().any(|e| counts(e)) {
        DenyReason::Expired
    } else if grants.is_empty() {
        DenyReason::NoConsent
    } else if adult {
        DenyReason::NeedsAdultConsent
    } else {
        DenyReason::NeedsGuardian
    };
    Decision::Deny { reasons: vec![reason] }
}

/// Whether a grant from `giver`, given at `given_at`, counts for `learner` at `at` (expiry aside):
/// a learner's own from their 18th birthday; a guardian's while the learner is under 18, and after
/// it only where [`Rules::guardian_grant_survives_majority`] keeps one given before it and the
/// learner has not answered for themselves (`answered_as_adult`). What [`decide`] counts, and what
/// the pages warn of before a grant that would not count is recorded.
pub fn grant_counts(
    learner: &Learner,
    giver: &Giver,
    given_at: OffsetDateTime,
    answered_as_adult: bool,
    at: OffsetDateTime,
    rules: Rules,
) -> bool {
    let adult = is_adult(learner, at, rules.zone);
    match giver {
        Giver::Learner => adult,
        Giver::Guardian(_) => {
            !adult
                || (rules.guardian_grant_survives_majority
                    && !answered_as_adult
                    && learner.date_of_birth.is_some()
                    && !on_or_after_majority(learner.date_of_birth, given_at, rules.zone))
        }
    }
}

/// Why a grant would not count now: the rule people most often trip on, said before the grant is
/// recorded (it is still recorded when they confirm: it is what was signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCounting {
    /// Given by the learner while under 18 (their age, when their date of birth is known).
    LearnerUnder18(Option<i32>),
    /// Given by a guardian for a learner who is 18 or over (their age).
    LearnerAdult(i32),
}

impl NotCounting {
    /// The warning, naming the learner by `name`: "Ben is 16: their own consent does not count …".
    pub fn words(self, name: &str) -> String {
        match self {
            NotCounting::LearnerUnder18(Some(age)) => format!(
                "{name} is {age}: their own consent does not count until they turn 18; a parent's or guardian's is needed"
            ),
            NotCounting::LearnerUnder18(None) => format!(
                "{name}'s date of birth is not on record, so they count as under 18: their own consent does not count; \
                 a parent's or guardian's is needed"
            ),
            NotCounting::LearnerAdult(age) => format!(
                "{name} is {age}: a parent's or guardian's consent does not count for an adult; {name}'s own is needed"
            ),
        }
    }
}

/// Someone's age in whole years on `day`, born on `dob` (a 29 February birthday comes on 1 March
/// in other years, as [`majority_date`] has it).
pub fn age_on(dob: Date, day: Date) -> i32 {
    let had_birthday = (day.month() as u8, day.day()) >= (dob.month() as u8, dob.day());
    day.year() - dob.year() - i32::from(!had_birthday)
}

/// Whether `learner`'s "no" stands for `purpose` at `at`: a refusal or withdrawal from someone
/// who speaks for them that none of that giver's later grants supersedes (see [`decide`]); a
/// guardian's "no" stops standing once the adult learner has answered for themselves (unless
/// [`Rules::guardian_no_survives_majority`]). The other
/// denials (nothing on record, an expired grant, a missing guardian) are not a "no": they hold the
/// learner's own photos, but nobody has refused anything, so they never hold a look-alike or a
/// photo the learner was untagged from.
pub fn no_stands(
    learner: &Learner,
    events: &[ConsentEvent],
    purpose: Purpose,
    at: OffsetDateTime,
    rules: Rules,
) -> bool {
    matches!(
        decide(learner, events, purpose, at, rules),
        Decision::Deny { reasons } if reasons.iter().any(|r| matches!(r, DenyReason::Refused | DenyReason::Withdrawn))
    )
}

/// The untag rule: whether untagging `learner` from a photo asked for `purposes` must record a
/// block on it for them. It must when their "no" stands for any of those purposes: they are still
/// in the picture, and dropping the tag would otherwise release it. Like a look-alike's, the block
/// holds the photo (`matches_withdrawn`) only while their no stands, and never deletes it: the tag
/// may have been the mistake.
pub fn untag_blocks(
    learner: &Learner,
    events: &[ConsentEvent],
    purposes: &[Purpose],
    at: OffsetDateTime,
    rules: Rules,
) -> bool {
    purposes.iter().any(|&purpose| no_stands(learner, events, purpose, at, rules))
}

/// The purposes of `grant` its own giver has taken back: each covered by a refusal or withdrawal
/// of theirs that the grant does not supersede (see [`decide`]), in the grant's order. A family
/// may withdraw social media and keep the website: what is left is what their link still
/// withdraws. Other givers' events and the grant's expiry do not matter.
pub fn purposes_taken_back(grant: &ConsentEvent, events: &[ConsentEvent]) -> Vec<Purpose> {
    if grant.kind != EventKind::Granted {
        return Vec::new();
    }
    grant
        .purposes
        .iter()
        .copied()
        .filter(|purpose| {
            events.iter().any(|no| {
                no.kind != EventKind::Granted
                    && no.giver == grant.giver
                    && no.purposes.contains(purpose)
                    && !(grant.given_at > no.given_at && grant.recorded_at > no.recorded_at)
            })
        })
        .collect()
}

/// Whether `grant` has been taken back by its own giver for every one of its purposes
/// ([`purposes_taken_back`]), so a withdrawal link for it would have nothing left to withdraw. A
/// parent may always say no to what they granted.
pub fn taken_back(grant: &ConsentEvent, events: &[ConsentEvent]) -> bool {
    grant.kind == EventKind::Granted && purposes_taken_back(grant, events).len() == grant.purposes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};
    use DenyReason as D;
    use EventKind::*;

    fn learner(dob: Option<Date>) -> Learner {
        Learner {
            date_of_birth: dob,
            guardian_ids: ["mum".to_string(), "dad".to_string()].into(),
            removed_guardian_ids: BTreeSet::new(),
        }
    }

    /// The same learner once an admin removed `ids` from their guardians.
    fn removing(mut l: Learner, ids: &[&str]) -> Learner {
        for id in ids {
            l.guardian_ids.remove(*id);
            l.removed_guardian_ids.insert(id.to_string());
        }
        l
    }

    fn event(
        id: &str,
        kind: EventKind,
        giver: Giver,
        at: OffsetDateTime,
        expires: Option<OffsetDateTime>,
    ) -> ConsentEvent {
        ConsentEvent {
            id: id.into(),
            kind,
            purposes: [Purpose::Website, Purpose::Print].into(),
            giver,
            given_at: at,
            recorded_at: at,
            expires_at: expires,
        }
    }

    /// The same event, put on record at `t` (by default it is recorded when given).
    fn recorded(mut e: ConsentEvent, t: OffsetDateTime) -> ConsentEvent {
        e.recorded_at = t;
        e
    }

    fn mum() -> Giver {
        Giver::Guardian("mum".into())
    }
    fn dad() -> Giver {
        Giver::Guardian("dad".into())
    }

    const T0: OffsetDateTime = datetime!(2025-09-01 09:00 UTC);

    fn check(l: &Learner, events: &[ConsentEvent], at: OffsetDateTime, expected: Result<&str, &[DenyReason]>) {
        let got = decide(l, events, Purpose::Website, at, Rules::default());
        let want = match expected {
            Ok(basis) => Decision::Allow { basis: basis.into() },
            Err(reasons) => Decision::Deny { reasons: reasons.to_vec() },
        };
        assert_eq!(got, want, "at {at}");
    }

    #[test]
    fn nothing_on_record_is_no_consent() {
        check(&learner(Some(date!(2000 - 01 - 01))), &[], T0, Err(&[D::NoConsent]));
        check(&learner(None), &[], T0, Err(&[D::NoConsent]));
    }

    #[test]
    fn the_eighteenth_birthday_decides_whose_grant_counts() {
        // Born 2 September 2007: 18 on 2 September 2025.
        let l = learner(Some(date!(2007 - 09 - 02)));
        let day_after = datetime!(2025-09-03 12:00 UTC);
        // Midnight in London is 23:00 UTC in summer time.
        whose_grant_counts_around(&l, datetime!(2025-09-01 22:59:59 UTC), datetime!(2025-09-01 23:00 UTC), day_after);
        let guardian = [event("g", Granted, mum(), T0, None)];
        // Unless the provider's policy keeps a childhood grant alive.
        let rules = Rules { guardian_grant_survives_majority: true, ..Rules::default() };
        assert!(decide(&l, &guardian, Purpose::Website, day_after, rules).allowed());
        // A guardian grant given after 18 never counts, whatever the policy.
        let late_grant = [event("late", Granted, mum(), day_after, None)];
        assert!(!decide(&l, &late_grant, Purpose::Website, day_after, rules).allowed());
    }

    #[test]
    fn leap_day_birthdays_turn_18_on_1_march_in_common_years() {
        // Born 29 February 2008; 2026 has no 29 February.
        let l = learner(Some(date!(2008 - 02 - 29)));
        assert_eq!(majority_date(date!(2008 - 02 - 29)), date!(2026 - 03 - 01));
        let own = [event("own", Granted, Giver::Learner, T0, None)];
        check(&l, &own, datetime!(2026-02-28 12:00 UTC), Err(&[D::NeedsGuardian]));
        check(&l, &own, datetime!(2026-03-01 00:00 UTC), Ok("own"));
        // Born 29 February 2004: 2022 has no 29 February either; 1 March 2022.
        assert_eq!(majority_date(date!(2004 - 02 - 29)), date!(2022 - 03 - 01));
        // Born 29 February 1996: 2014, common year.
        assert_eq!(majority_date(date!(1996 - 02 - 29)), date!(2014 - 03 - 01));
        // Born 28 February: no special case.
        assert_eq!(majority_date(date!(2008 - 02 - 28)), date!(2026 - 02 - 28));
    }

    #[test]
    fn expiry_takes_effect_at_the_exact_instant() {
        let l = learner(Some(date!(2000 - 01 - 01)));
        let expiry = datetime!(2026-07-31 23:59:59 UTC);
        let own = [event("own", Granted, Giver::Learner, T0, Some(expiry))];
        check(&l, &own, expiry - time::Duration::nanoseconds(1), Ok("own"));
        check(&l, &own, expiry, Err(&[D::Expired]));
        check(&l, &own, expiry + time::Duration::days(1), Err(&[D::Expired]));
        // A fresh grant after expiry restores it.
        let renewed =
            [own[0].clone(), event("renewed", Granted, Giver::Learner, expiry + time::Duration::days(2), None)];
        check(&l, &renewed, expiry + time::Duration::days(3), Ok("renewed"));
    }

    #[test]
    fn unknown_birth_date_counts_as_under_18() {
        let l = learner(None);
        check(&l, &[event("own", Granted, Giver::Learner, T0, None)], T0, Err(&[D::NeedsGuardian]));
        check(&l, &[event("g", Granted, dad(), T0, None)], T0, Ok("g"));
    }

    #[test]
    fn any_no_wins() {
        let child = learner(Some(date!(2012 - 05 - 05)));
        // Two guardians disagree.
        let split =
            [event("m", Granted, mum(), T0, None), event("d", Refused, dad(), T0 + time::Duration::hours(1), None)];
        check(&child, &split, T0 + time::Duration::days(1), Err(&[D::Refused]));
        // A guardian says yes and the learner says no.
        let learner_no = [event("m", Granted, mum(), T0, None), event("l", Refused, Giver::Learner, T0, None)];
        check(&child, &learner_no, T0 + time::Duration::days(1), Err(&[D::Refused]));
        // Refused and withdrawn at once: both reasons.
        let both = [event("d", Refused, dad(), T0, None), event("m", Withdrawn, mum(), T0, None)];
        check(&child, &both, T0 + time::Duration::days(1), Err(&[D::Refused, D::Withdrawn]));
        // Before the refusal was on record, only the grant was.
        check(&child, &split[..1], T0 + time::Duration::minutes(30), Ok("m"));
        // One guardian withdraws and the other grants later: the withdrawal still stands.
        let other_grants_later = [
            event("m", Granted, mum(), T0, None),
            event("mw", Withdrawn, mum(), T0 + time::Duration::hours(1), None),
            event("d", Granted, dad(), T0 + time::Duration::days(1), None),
        ];
        check(&child, &other_grants_later, T0 + time::Duration::days(2), Err(&[D::Withdrawn]));
    }

    #[test]
    fn withdrawn_then_granted_again_later() {
        let adult = learner(Some(date!(1990 - 01 - 01)));
        let history = [
            event("g1", Granted, Giver::Learner, T0, None),
            event("w", Withdrawn, Giver::Learner, T0 + time::Duration::days(10), None),
            event("g2", Granted, Giver::Learner, T0 + time::Duration::days(20), None),
        ];
        // Each moment with the events on record then.
        check(&adult, &history[..1], T0 + time::Duration::days(5), Ok("g1"));
        check(&adult, &history[..2], T0 + time::Duration::days(15), Err(&[D::Withdrawn]));
        check(&adult, &history, T0 + time::Duration::days(25), Ok("g2"));
        // Order of the slice does not matter.
        let mut reversed = history[..2].to_vec();
        reversed.reverse();
        check(&adult, &reversed, T0 + time::Duration::days(15), Err(&[D::Withdrawn]));
        let mut reversed = history.to_vec();
        reversed.reverse();
        check(&adult, &reversed, T0 + time::Duration::days(25), Ok("g2"));
        // A no and a yes at the same instant: the no wins.
        let tie = [event("y", Granted, Giver::Learner, T0, None), event("n", Refused, Giver::Learner, T0, None)];
        check(&adult, &tie, T0, Err(&[D::Refused]));
    }

    #[test]
    fn a_grant_for_another_purpose_only_is_no_consent() {
        let adult = learner(Some(date!(1990 - 01 - 01)));
        let mut social_only = event("s", Granted, Giver::Learner, T0, None);
        social_only.purposes = [Purpose::SocialMedia].into();
        check(&adult, &[social_only.clone()], T0, Err(&[D::NoConsent]));
        assert!(decide(&adult, &[social_only], Purpose::SocialMedia, T0, Rules::default()).allowed());
        // A refusal for another purpose does not block this one.
        let mut print_no = event("p", Refused, Giver::Learner, T0, None);
        print_no.purposes = [Purpose::Print].into();
        check(&adult, &[print_no, event("w", Granted, Giver::Learner, T0, None)], T0, Ok("w"));
    }

    #[test]
    fn events_from_someone_elses_guardian_are_ignored() {
        let child = learner(Some(date!(2012 - 05 - 05)));
        let stranger = Giver::Guardian("not-a-guardian".into());
        check(&child, &[event("x", Granted, stranger.clone(), T0, None)], T0, Err(&[D::NoConsent]));
        check(&child, &[event("x", Refused, stranger, T0, None), event("m", Granted, mum(), T0, None)], T0, Ok("m"));
    }

    #[test]
    fn expired_guardian_grant_for_a_child_says_expired_not_needs_guardian() {
        let child = learner(Some(date!(2012 - 05 - 05)));
        let lapsed = [event("m", Granted, mum(), T0, Some(T0 + time::Duration::days(30)))];
        check(&child, &lapsed, T0 + time::Duration::days(31), Err(&[D::Expired]));
        let own_only = [event("l", Granted, Giver::Learner, T0, None), lapsed[0].clone()];
        check(&child, &own_only, T0 + time::Duration::days(31), Err(&[D::Expired]));
    }

    #[test]
    fn a_backdated_no_recorded_after_a_grant_wins() {
        let adult = learner(Some(date!(1990 - 01 - 01)));
        // Granted through the API at 09:00; the learner phones at 14:00 to say no, and the admin form
        // records it dated midnight that day.
        let grant = event("g", Granted, Giver::Learner, datetime!(2026-03-10 09:00 UTC), None);
        let no = recorded(
            event("w", Withdrawn, Giver::Learner, datetime!(2026-03-10 00:00 UTC), None),
            datetime!(2026-03-10 14:00 UTC),
        );
        check(&adult, &[grant.clone(), no.clone()], datetime!(2026-03-10 14:00 UTC), Err(&[D::Withdrawn]));
        check(&adult, &[no, grant], datetime!(2026-03-11 12:00 UTC), Err(&[D::Withdrawn]));
        // The same for a refusal by a guardian of a child.
        let child = learner(Some(date!(2015 - 01 - 01)));
        let grant = event("m", Granted, mum(), datetime!(2026-03-10 09:00 UTC), None);
        let no = recorded(
            event("r", Refused, mum(), datetime!(2026-03-10 00:00 UTC), None),
            datetime!(2026-03-10 14:00 UTC),
        );
        check(&child, &[grant, no], datetime!(2026-03-10 15:00 UTC), Err(&[D::Refused]));
    }

    #[test]
    fn a_no_dated_in_the_future_counts_at_once() {
        let adult = learner(Some(date!(1990 - 01 - 01)));
        let grant = event("g", Granted, Giver::Learner, T0, None);
        // Given a few milliseconds (or up to the accepted clock skew) after the moment asked about:
        // another replica's clock is ahead, or the claim read its clock before waiting for the lock.
        for ahead in [time::Duration::milliseconds(3), time::Duration::minutes(5)] {
            let at = T0 + time::Duration::hours(1);
            let no = recorded(event("w", Withdrawn, Giver::Learner, at + ahead, None), at + ahead);
            check(&adult, &[grant.clone(), no], at, Err(&[D::Withdrawn]));
            let refusal = event("r", Refused, Giver::Learner, at + ahead, None);
            check(&adult, &[grant.clone(), refusal], at, Err(&[D::Refused]));
        }
    }

    #[test]
    fn a_regrant_supersedes_a_no_only_when_later_in_both_given_and_recorded_time() {
        let adult = learner(Some(date!(1990 - 01 - 01)));
        let at = T0 + time::Duration::days(30);
        let withdrawal = event("w", Withdrawn, Giver::Learner, T0 + time::Duration::days(1), None);
        // Later in both: a re-grant after the withdrawal works.
        let regrant = event("g2", Granted, Giver::Learner, T0 + time::Duration::days(2), None);
        check(&adult, &[withdrawal.clone(), regrant.clone()], at, Ok("g2"));
        // Later in given_at but recorded before the no: the no stands.
        let early_recorded = recorded(regrant.clone(), T0 + time::Duration::hours(12));
        check(&adult, &[withdrawal.clone(), early_recorded], at, Err(&[D::Withdrawn]));
        // Recorded later but given earlier: the no stands.
        let backdated_grant = recorded(
            event("g3", Granted, Giver::Learner, T0 + time::Duration::hours(12), None),
            T0 + time::Duration::days(2),
        );
        check(&adult, &[withdrawal.clone(), backdated_grant], at, Err(&[D::Withdrawn]));
        // The same instant in both: a tie, the no stands.
        let tie = event("g4", Granted, Giver::Learner, T0 + time::Duration::days(1), None);
        check(&adult, &[withdrawal.clone(), tie], at, Err(&[D::Withdrawn]));
        // A re-grant not yet given at `at` does not supersede.
        check(&adult, &[withdrawal.clone(), regrant.clone()], T0 + time::Duration::days(1), Err(&[D::Withdrawn]));
        // Another giver's grant never supersedes someone's no.
        let child = learner(Some(date!(2015 - 01 - 01)));
        let mum_no = event("mw", Withdrawn, mum(), T0, None);
        let dad_yes = event("d", Granted, dad(), T0 + time::Duration::days(2), None);
        check(&child, &[mum_no.clone(), dad_yes], at, Err(&[D::Withdrawn]));
        // And a guardian's re-grant, later in both, restores it for a child.
        let mum_yes = event("m2", Granted, mum(), T0 + time::Duration::days(2), None);
        check(&child, &[mum_no, mum_yes], at, Ok("m2"));
    }

    #[test]
    fn leap_day_birthday_day_before_of_and_after_majority() {
        // Born 29 February 2008: 18 on 1 March 2026 (2026 has no 29 February).
        let l = learner(Some(date!(2008 - 02 - 29)));
        whose_grant_counts_around(
            &l,
            datetime!(2026-02-28 23:59:59 UTC),
            datetime!(2026-03-01 00:00 UTC),
            datetime!(2026-03-02 12:00 UTC),
        );
    }

    /// The day before the 18th birthday only a guardian's grant counts; on the day and after,
    /// only the learner's own.
    fn whose_grant_counts_around(
        l: &Learner,
        day_before: OffsetDateTime,
        day_of: OffsetDateTime,
        day_after: OffsetDateTime,
    ) {
        let own = [event("own", Granted, Giver::Learner, T0, None)];
        let guardian = [event("g", Granted, mum(), T0, None)];
        check(l, &own, day_before, Err(&[D::NeedsGuardian]));
        check(l, &own, day_of, Ok("own"));
        check(l, &own, day_after, Ok("own"));
        check(l, &guardian, day_before, Ok("g"));
        check(l, &guardian, day_of, Err(&[D::NeedsAdultConsent]));
        check(l, &guardian, day_after, Err(&[D::NeedsAdultConsent]));
    }

    /// Every combination of age (child, adult, unknown) and of each giver's history (nothing, live
    /// grant, expired grant, refusal, withdrawal, a back-dated withdrawal recorded after a grant, a
    /// refusal dated after the moment asked about, a re-grant later in both times than a withdrawal,
    /// a re-grant given later but recorded before a refusal) for the learner and two guardians,
    /// checked against the rules restated independently.
    #[test]
    fn exhaustive_combinations_follow_the_rules() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Position {
            Nothing,
            Live,
            Lapsed,
            No,
            TookBack,
            BackdatedNo,
            FutureNo,
            ReGranted,
            StaleReGrant,
        }
        use Position::*;
        let positions = [Nothing, Live, Lapsed, No, TookBack, BackdatedNo, FutureNo, ReGranted, StaleReGrant];
        let at = datetime!(2026-01-15 12:00 UTC);
        let hour = time::Duration::hours(1);
        let ages = [("child", Some(date!(2012 - 01 - 01))), ("adult", Some(date!(1999 - 01 - 01))), ("unknown", None)];
        let mut checked = 0;
        for no_survives in [false, true] {
            let rules = Rules { guardian_no_survives_majority: no_survives, ..Rules::default() };
            for (age, dob) in ages {
                let l = learner(dob);
                for own in positions {
                    for m in positions {
                        for d in positions {
                            let mut events = Vec::new();
                            for (giver, position, id) in
                                [(Giver::Learner, own, "own"), (mum(), m, "mum"), (dad(), d, "dad")]
                            {
                                let expires = Some(at - time::Duration::days(1));
                                let no_id = format!("{id}-no");
                                match position {
                                    Nothing => {}
                                    Live => events.push(event(id, Granted, giver, T0, None)),
                                    Lapsed => events.push(event(id, Granted, giver, T0, expires)),
                                    No => events.push(event(id, Refused, giver, T0, None)),
                                    TookBack => events.push(event(id, Withdrawn, giver, T0, None)),
                                    BackdatedNo => {
                                        events.push(event(id, Granted, giver.clone(), T0 + hour, None));
                                        events.push(recorded(event(&no_id, Withdrawn, giver, T0, None), T0 + 2 * hour));
                                    }
                                    FutureNo => {
                                        events.push(event(id, Granted, giver.clone(), T0, None));
                                        events.push(recorded(event(&no_id, Refused, giver, at + hour, None), at));
                                    }
                                    ReGranted => {
                                        events.push(event(&no_id, Withdrawn, giver.clone(), T0, None));
                                        events.push(event(id, Granted, giver, T0 + hour, None));
                                    }
                                    StaleReGrant => {
                                        events.push(recorded(
                                            event(&no_id, Refused, giver.clone(), T0, None),
                                            T0 + 2 * hour,
                                        ));
                                        events
                                            .push(recorded(event(id, Granted, giver, T0 + 3 * hour, None), T0 + hour));
                                    }
                                }
                            }
                            let got = decide(&l, &events, Purpose::Website, at, rules);
                            // The rules, restated: once an adult learner has said anything themselves
                            // (every event here is given after their 18th birthday), their guardians'
                            // events are set aside, unless guardians' noes survive majority; a "no" of
                            // any kind stands unless a grant from the same person is later in both
                            // given and recorded time; any standing "no" denies; then the grants of
                            // whoever counts at this age decide, the earliest given being the basis.
                            let adult = age == "adult";
                            let all = if adult && own != Nothing && !no_survives { vec![own] } else { vec![own, m, d] };
                            let mut expected_no = Vec::new();
                            if all.iter().any(|p| matches!(p, No | FutureNo | StaleReGrant)) {
                                expected_no.push(D::Refused);
                            }
                            if all.iter().any(|p| matches!(p, TookBack | BackdatedNo)) {
                                expected_no.push(D::Withdrawn);
                            }
                            let who_counts: Vec<(Position, &str)> =
                                if adult { vec![(own, "own")] } else { vec![(m, "mum"), (d, "dad")] };
                            // When each live position's grant was given.
                            let live_grant = |p: Position| match p {
                                Live => Some(T0),
                                ReGranted => Some(T0 + hour),
                                _ => None,
                            };
                            let basis = who_counts
                                .iter()
                                .filter_map(|(p, id)| live_grant(*p).map(|t| (t, *id)))
                                .min()
                                .map(|(_, id)| id);
                            let expected = if !expected_no.is_empty() {
                                Decision::Deny { reasons: expected_no }
                            } else if let Some(basis) = basis {
                                Decision::Allow { basis: basis.into() }
                            } else if who_counts.iter().any(|(p, _)| *p == Lapsed) {
                                Decision::Deny { reasons: vec![D::Expired] }
                            } else if all.iter().all(|p| *p == Nothing) {
                                Decision::Deny { reasons: vec![D::NoConsent] }
                            } else if adult {
                                Decision::Deny { reasons: vec![D::NeedsAdultConsent] }
                            } else {
                                Decision::Deny { reasons: vec![D::NeedsGuardian] }
                            };
                            assert_eq!(
                                got, expected,
                                "{age}, no survives {no_survives}: learner {own:?}, mum {m:?}, dad {d:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 2 * 3 * 9 * 9 * 9);
    }

    /// Rules with a guardian's "no" kept after majority (the rule before the learner decided).
    fn old_rule() -> Rules {
        Rules { guardian_no_survives_majority: true, ..Rules::default() }
    }

    fn for_purposes(mut e: ConsentEvent, purposes: &[Purpose]) -> ConsentEvent {
        e.purposes = purposes.iter().copied().collect();
        e
    }

    #[test]
    fn from_18_the_learners_own_answer_replaces_their_guardians() {
        use Purpose::{Print, Website};
        // Born 15 June 2008: 16 in 2024, 18 on 15 June 2026.
        let l = learner(Some(date!(2008 - 06 - 15)));
        let at16 = datetime!(2024-09-01 09:00 UTC);
        let at17 = datetime!(2025-09-01 09:00 UTC);
        let at18 = datetime!(2026-09-01 09:00 UTC);
        let later = datetime!(2026-10-01 09:00 UTC);
        let mum_no = event("mum-no", Refused, mum(), at16, None);
        let mum_yes_at16 = event("mum-yes", Granted, mum(), at16, None);
        let own_yes = event("own-yes", Granted, Giver::Learner, at18, None);
        let own_no = event("own-no", Refused, Giver::Learner, at18, None);
        let own_yes_at17 = event("own-17", Granted, Giver::Learner, at17, None);
        let mum_yes_at18 = event("mum-18", Granted, mum(), at18 + time::Duration::DAY, None);
        // (case, events, purpose, rules, the basis or the reasons)
        type Case<'a> = (&'a str, Vec<ConsentEvent>, Purpose, Rules, Result<&'a str, &'a [DenyReason]>);
        let table: &[Case] = &[
            (
                "guardian no at 16, own grant at 18",
                vec![mum_no.clone(), own_yes.clone()],
                Website,
                Rules::default(),
                Ok("own-yes"),
            ),
            (
                "the same under the old rule",
                vec![mum_no.clone(), own_yes.clone()],
                Website,
                old_rule(),
                Err(&[D::Refused]),
            ),
            (
                "guardian no at 16, nothing from the learner",
                vec![mum_no.clone()],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "own refusal at 18, then a guardian's grant",
                vec![own_no.clone(), mum_yes_at18.clone()],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "own refusal at 18 ends a guardian's no too",
                vec![mum_no.clone(), own_no.clone()],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "answered for print only: the guardian's no still holds the website",
                vec![mum_no.clone(), for_purposes(own_yes.clone(), &[Print])],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "answered for print only: print is released",
                vec![mum_no.clone(), for_purposes(own_yes.clone(), &[Print])],
                Print,
                Rules::default(),
                Ok("own-yes"),
            ),
            (
                "a grant given at 17 is not an answer as an adult",
                vec![mum_no.clone(), own_yes_at17.clone()],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "a grant given at 17 counts at 18 when nobody said no",
                vec![own_yes_at17],
                Website,
                Rules::default(),
                Ok("own-17"),
            ),
            (
                "a guardian's no given after 18 holds until the learner answers",
                vec![event("late-no", Refused, mum(), at18, None)],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "and an answer given after it ends it",
                vec![
                    event("late-no", Refused, mum(), at18, None),
                    event("own", Granted, Giver::Learner, later - time::Duration::DAY, None),
                ],
                Website,
                Rules::default(),
                Ok("own"),
            ),
            (
                "an own withdrawal at 18 is an answer too",
                vec![mum_yes_at16.clone(), event("own-w", Withdrawn, Giver::Learner, at18, None)],
                Website,
                Rules::default(),
                Err(&[D::Withdrawn]),
            ),
            (
                "a childhood grant kept alive stops counting once the learner answers",
                vec![
                    mum_yes_at16.clone(),
                    event("own-x", Granted, Giver::Learner, at18, Some(at18 + time::Duration::DAY)),
                ],
                Website,
                Rules { guardian_grant_survives_majority: true, ..Rules::default() },
                Err(&[D::Expired]),
            ),
            (
                "and with parents' noes kept after 18 too: the adult's answer still ends it",
                vec![
                    mum_yes_at16.clone(),
                    event("own-y", Granted, Giver::Learner, at18, Some(at18 + time::Duration::DAY)),
                ],
                Website,
                Rules {
                    guardian_grant_survives_majority: true,
                    guardian_no_survives_majority: true,
                    ..Rules::default()
                },
                Err(&[D::Expired]),
            ),
            (
                "until then it counts",
                vec![mum_yes_at16.clone()],
                Website,
                Rules { guardian_grant_survives_majority: true, ..Rules::default() },
                Ok("mum-yes"),
            ),
            (
                "an own grant dated after the moment asked is not yet an answer",
                vec![mum_no.clone(), event("own-f", Granted, Giver::Learner, later + time::Duration::DAY, None)],
                Website,
                Rules::default(),
                Err(&[D::Refused]),
            ),
            (
                "the other guardian's no goes too",
                vec![mum_no.clone(), event("dad-no", Withdrawn, dad(), at17, None), own_yes.clone()],
                Website,
                Rules::default(),
                Ok("own-yes"),
            ),
            (
                "old rule: the other guardian's no stays",
                vec![mum_no, event("dad-no", Withdrawn, dad(), at17, None), own_yes],
                Website,
                old_rule(),
                Err(&[D::Refused, D::Withdrawn]),
            ),
        ];
        for (case, events, purpose, rules, expected) in table {
            let want = match expected {
                Ok(basis) => Decision::Allow { basis: basis.to_string() },
                Err(reasons) => Decision::Deny { reasons: reasons.to_vec() },
            };
            assert_eq!(decide(&l, events, *purpose, later, *rules), want, "{case}");
            let refused = matches!(&want, Decision::Deny { reasons } if reasons.iter().any(|r| matches!(r, D::Refused | D::Withdrawn)));
            assert_eq!(no_stands(&l, events, *purpose, later, *rules), refused, "{case}: no_stands");
        }
    }

    #[test]
    fn birthdays_turn_at_midnight_in_the_organisations_zone() {
        let london = Rules::default();
        let utc = Rules { zone: Zone::named("UTC").unwrap(), ..Rules::default() };
        let own = |t| [event("own", Granted, Giver::Learner, t, None)];
        // Summer (BST, UTC+1): born 15 June 2008; 23:30 UTC on 14 June 2026 is 00:30 on the 15th.
        let summer = learner(Some(date!(2008 - 06 - 15)));
        let table = [
            (&summer, datetime!(2026-06-14 22:59:59 UTC), london, false),
            (&summer, datetime!(2026-06-14 23:00 UTC), london, true),
            (&summer, datetime!(2026-06-14 23:30 UTC), london, true),
            (&summer, datetime!(2026-06-14 23:30 UTC), utc, false),
            (&summer, datetime!(2026-06-15 00:00 UTC), utc, true),
        ];
        // Winter (GMT, UTC+0): born 15 January 2008; London and UTC agree.
        let winter = learner(Some(date!(2008 - 01 - 15)));
        let winter_table = [
            (&winter, datetime!(2026-01-14 23:30 UTC), london, false),
            (&winter, datetime!(2026-01-14 23:59:59 UTC), london, false),
            (&winter, datetime!(2026-01-15 00:00 UTC), london, true),
            (&winter, datetime!(2026-01-14 23:30 UTC), utc, false),
        ];
        for (l, at, rules, adult) in table.into_iter().chain(winter_table) {
            assert_eq!(is_adult(l, at, rules.zone), adult, "{at} in {:?}", rules.zone);
            let want = if adult {
                Decision::Allow { basis: "own".into() }
            } else {
                Decision::Deny { reasons: vec![D::NeedsGuardian] }
            };
            assert_eq!(decide(l, &own(T0), Purpose::Website, at, rules), want, "{at} in {:?}", rules.zone);
            // A guardian's grant counts exactly until then.
            assert_eq!(
                decide(l, &[event("g", Granted, mum(), T0, None)], Purpose::Website, at, rules).allowed(),
                !adult
            );
        }
        // An answer given at 00:30 BST on the birthday is the adult's own: it ends a parent's no in
        // London, but by UTC it was given the day before and does not.
        let answer = datetime!(2026-06-14 23:30 UTC);
        let events = [event("no", Refused, mum(), T0, None), event("own", Granted, Giver::Learner, answer, None)];
        let after = datetime!(2026-06-20 12:00 UTC);
        assert!(decide(&summer, &events, Purpose::Website, after, london).allowed());
        assert_eq!(
            decide(&summer, &events, Purpose::Website, after, utc),
            Decision::Deny { reasons: vec![D::Refused] }
        );
    }

    #[test]
    fn untagging_blocks_only_while_a_no_stands_for_one_of_the_photos_purposes() {
        use Purpose::{Print, Website};
        let child = learner(Some(date!(2012 - 03 - 04)));
        let website_only = |mut e: ConsentEvent| {
            e.purposes = [Website].into();
            e
        };
        let granted = event("g", Granted, mum(), T0, None);
        let expired = event("x", Granted, mum(), T0, Some(T0 + time::Duration::DAY));
        let refused_web = website_only(event("r", Refused, mum(), T0, None));
        let withdrawn = event("w", Withdrawn, mum(), T0 + time::Duration::HOUR, None);
        let regranted = event("g2", Granted, mum(), T0 + time::Duration::DAY, None);
        let stranger = event("s", Refused, Giver::Guardian("someone else".into()), T0, None);
        let later = T0 + time::Duration::WEEK;
        let table: &[(&str, Vec<ConsentEvent>, &[Purpose], bool)] = &[
            ("nothing on record is not a no", vec![], &[Website], false),
            ("a grant is not a no", vec![granted.clone()], &[Website, Print], false),
            ("an expired grant is not a no", vec![expired], &[Website], false),
            ("a refusal for the photo's purpose", vec![refused_web.clone()], &[Website], true),
            ("a refusal for another purpose only", vec![refused_web.clone()], &[Print], false),
            ("one purpose of several is enough", vec![refused_web], &[Print, Website], true),
            ("a withdrawal", vec![granted.clone(), withdrawn.clone()], &[Print], true),
            ("a later grant supersedes the withdrawal", vec![granted, withdrawn, regranted], &[Website], false),
            ("someone who does not speak for them", vec![stranger], &[Website], false),
            ("no purposes asked", vec![event("r2", Refused, Giver::Learner, T0, None)], &[], false),
        ];
        for (case, events, purposes, blocks) in table {
            assert_eq!(untag_blocks(&child, events, purposes, later, Rules::default()), *blocks, "{case}");
        }
        // An adult who answered for themselves is not blocked by a parent's old refusal, unless the
        // provider keeps guardians' noes after 18.
        let adult = learner(Some(date!(2000 - 01 - 01)));
        let parent_no = event("r", Refused, mum(), datetime!(2015-01-01 09:00 UTC), None);
        let own_yes = event("own", Granted, Giver::Learner, T0, None);
        let both = [parent_no.clone(), own_yes];
        assert!(!untag_blocks(&adult, &both, &[Website], later, Rules::default()));
        let old = Rules { guardian_no_survives_majority: true, ..Rules::default() };
        assert!(untag_blocks(&adult, &both, &[Website], later, old));
        assert!(untag_blocks(&adult, &[parent_no], &[Website], later, Rules::default()));
    }

    #[test]
    fn a_removed_guardians_no_keeps_counting_and_their_grants_stop() {
        let child = learner(Some(date!(2012 - 05 - 05)));
        let without_mum = removing(child.clone(), &["mum"]);
        let day = time::Duration::days(1);
        let at = T0 + 5 * day;
        let mum_yes = event("m", Granted, mum(), T0, None);
        let dad_yes = event("d", Granted, dad(), T0 + day, None);
        let mum_no = event("mn", Refused, mum(), T0, None);
        let mum_took_back = event("mw", Withdrawn, mum(), T0 + day, None);
        let mum_regrant = event("m2", Granted, mum(), T0 + 2 * day, None);
        type Want = Result<&'static str, &'static [DenyReason]>;
        // (case, events, before her removal, after it)
        let table: Vec<(&str, Vec<ConsentEvent>, Want, Want)> = vec![
            ("her grant alone stops counting", vec![mum_yes.clone()], Ok("m"), Err(&[D::NoConsent])),
            ("another guardian's grant still counts", vec![mum_yes.clone(), dad_yes.clone()], Ok("m"), Ok("d")),
            (
                "her refusal keeps counting",
                vec![mum_no.clone(), dad_yes.clone()],
                Err(&[D::Refused]),
                Err(&[D::Refused]),
            ),
            (
                "her withdrawal keeps counting",
                vec![mum_yes.clone(), mum_took_back.clone(), dad_yes.clone()],
                Err(&[D::Withdrawn]),
                Err(&[D::Withdrawn]),
            ),
            (
                "a no she took back by a later grant is not revived",
                vec![mum_took_back.clone(), mum_regrant.clone(), dad_yes.clone()],
                Ok("d"),
                Ok("d"),
            ),
            (
                "her re-grant alone stops counting",
                vec![mum_took_back.clone(), mum_regrant.clone()],
                Ok("m2"),
                Err(&[D::NoConsent]),
            ),
            (
                "a withdrawal recorded after her removal (her link) counts",
                vec![mum_yes.clone(), dad_yes.clone(), recorded(event("late", Withdrawn, mum(), at, None), at)],
                Err(&[D::Withdrawn]),
                Err(&[D::Withdrawn]),
            ),
            (
                "the other guardian's no counts as before",
                vec![mum_yes.clone(), event("dn", Refused, dad(), T0, None)],
                Err(&[D::Refused]),
                Err(&[D::Refused]),
            ),
        ];
        for (case, events, before, after) in table {
            for (l, want, when) in [(&child, before, "before"), (&without_mum, after, "after")] {
                let got = decide(l, &events, Purpose::Website, at, Rules::default());
                let want = match want {
                    Ok(basis) => Decision::Allow { basis: basis.into() },
                    Err(reasons) => Decision::Deny { reasons: reasons.to_vec() },
                };
                assert_eq!(got, want, "{case}, {when} her removal");
            }
        }
        // Her refusal is a "no" that stands, for the look-alike and untag rules too.
        assert!(no_stands(&without_mum, &[mum_no], Purpose::Website, at, Rules::default()));
        // Someone who was never a guardian is still ignored, removed set or not.
        let stranger = event("s", Refused, Giver::Guardian("stranger".into()), T0, None);
        check(&without_mum, &[stranger, dad_yes], at, Ok("d"));
    }

    #[test]
    fn a_grant_is_taken_back_only_by_its_own_givers_no_covering_all_its_purposes() {
        let day = time::Duration::days(1);
        let grant = event("g", Granted, mum(), T0, None);
        let website_only = |mut e: ConsentEvent| {
            e.purposes = [Purpose::Website].into();
            e
        };
        let table: Vec<(&str, ConsentEvent, Vec<ConsentEvent>, bool)> = vec![
            ("nothing since", grant.clone(), vec![], false),
            ("withdrawn by its giver", grant.clone(), vec![event("w", Withdrawn, mum(), T0 + day, None)], true),
            ("refused by its giver", grant.clone(), vec![event("r", Refused, mum(), T0 + day, None)], true),
            (
                "a back-dated no recorded after it",
                grant.clone(),
                vec![recorded(event("w", Withdrawn, mum(), T0 - day, None), T0 + day)],
                true,
            ),
            ("a no it supersedes", grant.clone(), vec![event("w", Withdrawn, mum(), T0 - day, None)], false),
            (
                "one purpose of two withdrawn",
                grant.clone(),
                vec![website_only(event("w", Withdrawn, mum(), T0 + day, None))],
                false,
            ),
            ("another giver's no", grant.clone(), vec![event("w", Withdrawn, dad(), T0 + day, None)], false),
            ("a refusal is not a grant", event("r", Refused, mum(), T0, None), vec![], false),
            (
                "a re-grant after the withdrawal stands",
                event("g2", Granted, mum(), T0 + 2 * day, None),
                vec![grant.clone(), event("w", Withdrawn, mum(), T0 + day, None)],
                false,
            ),
        ];
        for (case, grant, events, expected) in table {
            assert_eq!(taken_back(&grant, &events), expected, "{case}");
        }
    }
}
