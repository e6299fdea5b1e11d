//! Retention: when a photo's image must be deleted. The API calls it deletion; the store calls it
//! retirement, because the row, its fingerprints and its audit trail stay (a look-alike of a
//! deleted photo must still be recognised, and the decision must still be explained).
//!
//! A twin (another photo whose scrubbed bytes are identical) of an image this rule deletes is
//! deleted with it, whatever the twin's own statuses: it is the same picture, not a look-alike.
//! That needs the database to find, so the store applies it in the same transaction.
//!
//! Apart from a "no", the retention rules delete images once they are no longer needed: a photo
//! that never reached the queue ([`RetentionRules::held_photo`]) and a photo of a learner who left
//! ([`RetentionRules::after_leaving`]). This module says when each is due; the store finds the
//! photos and the maintenance loop deletes them.
//!
//! Pure: the statuses, dates and clock are arguments.

use std::time::Duration;

use serde::Serialize;
use time::{Date, OffsetDateTime};

use super::zone::Zone;
use super::{PurposeStatus, Reason, State};

/// How long images are kept once they stop being useful; `None` is `off`: never applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRules {
    /// A photo that has never reached the queue (held for every purpose since its upload) has its
    /// image deleted this long after upload. Default 90 days.
    pub held_photo: Option<Duration>,
    /// A photo in which a learner who left is tagged has its image deleted this long after the
    /// start of their leaving day (the earliest, when several left). Default 365 days.
    pub after_leaving: Option<Duration>,
    /// A learner who left has their personal data erased this long after the start of their
    /// leaving day (`app::erasure`, as on request). Default 6 years.
    pub learner_record_after_leaving: Option<Duration>,
}

/// Six years as the settings write it (`6years`: humantime's year is 365.25 days).
pub const SIX_YEARS: Duration = Duration::from_secs(6 * 31_557_600);

impl Default for RetentionRules {
    fn default() -> RetentionRules {
        const DAY: u64 = 24 * 60 * 60;
        RetentionRules {
            held_photo: Some(Duration::from_secs(90 * DAY)),
            after_leaving: Some(Duration::from_secs(365 * DAY)),
            learner_record_after_leaving: Some(SIX_YEARS),
        }
    }
}

/// A retention rule, by the name the settings, the audit log and the API use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// See [`RetentionRules::held_photo`].
    HeldPhoto,
    /// See [`RetentionRules::after_leaving`].
    AfterLeaving,
}

impl Rule {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::HeldPhoto => "held_photo",
            Rule::AfterLeaving => "after_leaving",
        }
    }
}

/// When [`RetentionRules::held_photo`] deletes a photo's image: `keep` after its upload, if no
/// purpose of it ever reached the queue; never when one did or the rule is off.
pub fn held_photo_due(
    uploaded_at: OffsetDateTime,
    ever_released: bool,
    keep: Option<Duration>,
) -> Option<OffsetDateTime> {
    match (ever_released, keep) {
        (false, Some(keep)) => uploaded_at.checked_add(keep.try_into().ok()?),
        _ => None,
    }
}

/// When [`RetentionRules::after_leaving`] deletes the image of a photo whose tagged learners left
/// on `left_on` (the days of those who have a leaving day): `keep` after the start of the
/// earliest, in the organisation's zone; never when nobody left or the rule is off. A photo of a
/// leaver and a stayer follows the leaver's rule: the stayer's consent cannot keep the leaver's
/// picture.
pub fn leaver_photo_due(
    left_on: impl IntoIterator<Item = Date>,
    keep: Option<Duration>,
    zone: &Zone,
) -> Option<OffsetDateTime> {
    let earliest = left_on.into_iter().min()?;
    zone.start_of_day(earliest)?.checked_add(keep?.try_into().ok()?)
}

/// The latest leaving day whose photos [`leaver_photo_due`] makes due at or before `by`: the
/// store selects photos with a tagged learner who left on or before it. `None` when no day is
/// (the rule is off, or `keep` reaches back before the calendar).
pub fn left_on_due_by(by: OffsetDateTime, keep: Option<Duration>, zone: &Zone) -> Option<Date> {
    let cutoff = by.checked_sub(keep?.try_into().ok()?)?;
    // start_of_day(d) <= cutoff exactly when d <= the date of cutoff, since a day starts at or
    // before every instant in it.
    Some(zone.date_of(cutoff))
}

/// The latest upload time (Unix ms) whose never-released photos [`held_photo_due`] makes due at or
/// before `by_ms`; `None` when the rule is off.
pub fn uploaded_due_by(by_ms: i64, keep: Option<Duration>) -> Option<i64> {
    Some(by_ms.saturating_sub(i64::try_from(keep?.as_millis()).unwrap_or(i64::MAX)))
}

/// The deletion rule: whether no purpose of a photo can use its image any more, so the image must
/// be deleted. That is when the photo has at least one purpose and every one of them is out of the
/// queue (held, withdrawn or taken down) because of a tagged learner's own refusal or withdrawal
/// (`Refused` or `Withdrawn` among its reasons).
///
/// A look-alike or untag block (`MatchesWithdrawn`) never makes an image unusable on its own: the
/// perceptual match is fuzzy and the tag may have been the mistake, so deleting would turn an
/// error into a loss. Other reasons (no consent yet, a name in the caption) can still be put
/// right, so they never delete either. A photo without purposes is kept: nothing was decided.
pub fn image_unusable<'a>(statuses: impl IntoIterator<Item = &'a PurposeStatus>) -> bool {
    let mut any = false;
    for status in statuses {
        any = true;
        let said_no = status.reasons.iter().any(|r| matches!(r, Reason::Withdrawn | Reason::Refused));
        let out_of_queue = matches!(status.state, State::Held | State::Withdrawn | State::TakenDown);
        if !(said_no && out_of_queue) {
            return false;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};
    use Reason::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    #[test]
    fn held_photo_is_due_only_when_never_released_and_the_rule_is_on() {
        let uploaded = datetime!(2026-06-01 10:00 UTC);
        assert_eq!(held_photo_due(uploaded, false, Some(90 * DAY)), Some(datetime!(2026-08-30 10:00 UTC)));
        assert_eq!(held_photo_due(uploaded, true, Some(90 * DAY)), None);
        assert_eq!(held_photo_due(uploaded, false, None), None);
        // The store's cut-off agrees with the due time at its edge.
        let due = held_photo_due(uploaded, false, Some(90 * DAY)).unwrap();
        let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
        assert_eq!(uploaded_due_by(ms(due), Some(90 * DAY)), Some(ms(uploaded)));
        assert_eq!(uploaded_due_by(ms(due), None), None);
    }

    #[test]
    fn a_leavers_photo_is_due_from_the_start_of_the_earliest_leaving_day_in_the_zone() {
        let london = Zone::named("Europe/London").unwrap();
        // 2026-07-20 starts at 23:00 UTC the day before (BST).
        let due = leaver_photo_due([date!(2026 - 07 - 24), date!(2026 - 07 - 20)], Some(365 * DAY), &london);
        assert_eq!(due, Some(datetime!(2027-07-19 23:00 UTC)));
        assert_eq!(leaver_photo_due([], Some(DAY), &london), None);
        assert_eq!(leaver_photo_due([date!(2026 - 07 - 20)], None, &london), None);
        // The store's cut-off day: every day on or before it is due by `by`, the day after is not.
        for by in [datetime!(2027-07-19 23:00 UTC), datetime!(2027-07-20 12:00 UTC), datetime!(2027-07-20 22:59 UTC)] {
            let day = left_on_due_by(by, Some(365 * DAY), &london).unwrap();
            assert!(leaver_photo_due([day], Some(365 * DAY), &london).unwrap() <= by, "{by}");
            let next = day.next_day().unwrap();
            assert!(leaver_photo_due([next], Some(365 * DAY), &london).unwrap() > by, "{by}");
        }
        assert_eq!(
            left_on_due_by(datetime!(2027-07-19 22:59 UTC), Some(365 * DAY), &london),
            Some(date!(2026 - 07 - 19))
        );
        assert_eq!(left_on_due_by(datetime!(2027-07-19 22:59 UTC), None, &london), None);
    }

    use State::{Claimed, Held, Published, Queued, TakenDown};

    fn status(state: State, reasons: &[Reason]) -> PurposeStatus {
        PurposeStatus { state, reasons: reasons.to_vec(), learners: Vec::new() }
    }

    #[test]
    fn only_a_tagged_learners_own_no_behind_every_purpose_deletes() {
        let table: &[(&str, Vec<PurposeStatus>, bool)] = &[
            ("no purposes: nothing was decided", vec![], false),
            ("refused", vec![status(Held, &[Refused])], true),
            ("withdrawn", vec![status(Held, &[Withdrawn])], true),
            ("a no among other reasons", vec![status(Held, &[Withdrawn, NameInText])], true),
            ("every purpose said no", vec![status(Held, &[Refused]), status(Held, &[Withdrawn])], true),
            ("a published item taken back", vec![status(State::Withdrawn, &[Reason::Withdrawn])], true),
            ("a taken-down item", vec![status(TakenDown, &[Refused])], true),
            ("one purpose still usable", vec![status(Held, &[Refused]), status(Queued, &[])], false),
            ("one purpose held for something else", vec![status(Held, &[Refused]), status(Held, &[NoConsent])], false),
            ("a look-alike block alone", vec![status(Held, &[MatchesWithdrawn])], false),
            ("a look-alike block with a fixable reason", vec![status(Held, &[MatchesWithdrawn, NoConsent])], false),
            ("no consent yet", vec![status(Held, &[NoConsent])], false),
            ("a name in the caption", vec![status(Held, &[NameInText])], false),
            // A reason left on a state still in use never deletes.
            ("claimed", vec![status(Claimed, &[Withdrawn])], false),
            ("published", vec![status(Published, &[Withdrawn])], false),
        ];
        for (case, statuses, unusable) in table {
            assert_eq!(image_unusable(statuses), *unusable, "{case}");
        }
    }
}
