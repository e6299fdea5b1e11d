//! How learners are named side by side on a tutor's pages: the picker's choices and a photo's
//! tagged learners. A tutor sees the name a learner goes by and only as much of the family name
//! as tells them apart from the others shown ("Mohammed A." alone, "Mohammed Ah." beside a
//! "Mohammed Al."), then their groups, then, while two are still alike, their MIS reference:
//! tagging the wrong one of two identical choices would check the wrong child's consent.
//!
//! Pure.

use crate::policy::search::name_key;
use crate::store::LearnerRecord;

/// The name a learner goes by: their preferred name, or else their given name.
pub fn first_name(learner: &LearnerRecord) -> &str {
    learner.preferred_name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(learner.given_name.trim())
}

/// The first `chars` characters of `text`.
fn prefix(text: &str, chars: usize) -> &str {
    text.char_indices().nth(chars).map_or(text, |(at, _)| &text[..at])
}

/// A label per learner, in order, no two alike (compared as names are compared: case and accents
/// aside). `with_groups` adds each learner's groups ("Mohammed A. · Level 2 Catering"), as a
/// picker shows them; without, groups are added only where names alone are alike.
pub fn distinct_labels(learners: &[&LearnerRecord], with_groups: bool) -> Vec<String> {
    let firsts: Vec<String> = learners.iter().map(|l| name_key(first_name(l))).collect();
    let mut labels: Vec<String> = learners
        .iter()
        .enumerate()
        .map(|(i, learner)| {
            let family = learner.family_name.trim();
            let length = family.chars().count();
            // The shortest family-name prefix no other learner of the same first name shares.
            let shown = (1..length)
                .find(|&k| {
                    let mine = name_key(prefix(family, k));
                    learners.iter().enumerate().all(|(j, other)| {
                        j == i || firsts[j] != firsts[i] || name_key(prefix(other.family_name.trim(), k)) != mine
                    })
                })
                .unwrap_or(length);
            let first = first_name(learner);
            match (shown, length) {
                (_, 0) => first.to_string(),
                (shown, length) if shown < length => format!("{first} {}.", prefix(family, shown)),
                _ => format!("{first} {family}"),
            }
        })
        .collect();
    let alike = |labels: &[String], i: usize| {
        let mine = name_key(&labels[i]);
        labels.iter().enumerate().any(|(j, other)| j != i && name_key(other) == mine)
    };
    let groups = |learner: &LearnerRecord| learner.groups.join(", ");
    let with_groups_added: Vec<bool> = (0..labels.len()).map(|i| with_groups || alike(&labels, i)).collect();
    for (i, learner) in learners.iter().enumerate() {
        if with_groups_added[i] && !learner.groups.is_empty() {
            labels[i] = format!("{} · {}", labels[i], groups(learner));
        }
    }
    let still_alike: Vec<bool> = (0..labels.len()).map(|i| alike(&labels, i)).collect();
    for (i, learner) in learners.iter().enumerate() {
        if still_alike[i] {
            // The MIS reference when there is one; else the end of the record's id, which is
            // unique and says nothing about the learner.
            let reference = match learner.external_ref.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
                Some(reference) => format!("ref {reference}"),
                None => format!("record …{}", &learner.id[learner.id.len().saturating_sub(6)..]),
            };
            labels[i] = format!("{} · {reference}", labels[i]);
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learner(id: &str, given: &str, family: &str, groups: &[&str], reference: Option<&str>) -> LearnerRecord {
        LearnerRecord {
            id: id.into(),
            given_name: given.into(),
            family_name: family.into(),
            preferred_name: None,
            date_of_birth: None,
            external_ref: reference.map(Into::into),
            email: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            left_on: None,
            erased_at: None,
            guardians: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    fn labels(learners: &[LearnerRecord], with_groups: bool) -> Vec<String> {
        distinct_labels(&learners.iter().collect::<Vec<_>>(), with_groups)
    }

    #[test]
    fn a_learner_alone_shows_an_initial_and_others_as_much_as_tells_them_apart() {
        let alone = [learner("1", "Amira", "Khan", &[], None), learner("2", "Ben", "Khan", &[], None)];
        assert_eq!(labels(&alone, false), ["Amira K.", "Ben K."]);
        let three = [
            learner("1", "Mohammed", "Ahmed", &[], None),
            learner("2", "Mohammed", "Ali", &[], None),
            learner("3", "Mohammed", "Aziz", &[], None),
            learner("4", "Amira", "Ali", &[], None),
        ];
        assert_eq!(labels(&three, false), ["Mohammed Ah.", "Mohammed Al.", "Mohammed Az.", "Amira A."]);
        // A family name that is a prefix of another is shown whole.
        let nested = [learner("1", "Ben", "Khan", &[], None), learner("2", "Ben", "Khanna", &[], None)];
        assert_eq!(labels(&nested, false), ["Ben Khan", "Ben Khann."]);
        // Case and accents do not tell names apart.
        let accents = [learner("1", "Zoë", "Öztürk", &[], None), learner("2", "zoe", "Ozbek", &[], None)];
        assert_eq!(labels(&accents, false), ["Zoë Özt.", "zoe Ozb."]);
    }

    #[test]
    fn identical_names_are_told_apart_by_group_then_reference_never_shown_alike() {
        let same = [
            learner("0192-aaaaaa", "Mohammed", "Ahmed", &["Level 2 Catering"], Some("MIS-1")),
            learner("0192-bbbbbb", "Mohammed", "Ahmed", &["Level 3 Plumbing"], Some("MIS-2")),
            learner("0192-cccccc", "Mohammed", "Ahmed", &["Level 3 Plumbing"], None),
            learner("0192-dddddd", "Amira", "Khan", &["Level 2 Catering"], None),
        ];
        let shown = labels(&same, false);
        assert_eq!(
            shown,
            [
                "Mohammed Ahmed · Level 2 Catering",
                "Mohammed Ahmed · Level 3 Plumbing · ref MIS-2",
                "Mohammed Ahmed · Level 3 Plumbing · record …cccccc",
                "Amira K.",
            ]
        );
        let picked = labels(&same, true);
        assert_eq!(picked[3], "Amira K. · Level 2 Catering");
        for set in [&shown, &picked] {
            let mut unique = set.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), set.len(), "{set:?}");
        }
    }
}
