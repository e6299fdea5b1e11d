//! Retention: when a photo's image must be deleted. The API calls it deletion; the store calls it
//! retirement, because the row, its fingerprints and its audit trail stay (a look-alike of a
//! deleted photo must still be recognised, and the decision must still be explained).
//!
//! A twin (another photo whose scrubbed bytes are identical) of an image this rule deletes is
//! deleted with it, whatever the twin's own statuses: it is the same picture, not a look-alike.
//! That needs the database to find, so the store applies it in the same transaction.
//!
//! Pure: the statuses are arguments.

use super::{PurposeStatus, Reason, State};

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
    use Reason::*;
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
