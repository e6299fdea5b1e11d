//! The words of the consent form a family answers online: the organisation's text and one line per
//! purpose.
//!
//! The words carry no placeholder (no learner's name is filled in): what a family saw is then exactly
//! these words, so their [`ConsentWording::hash`] identifies it, and the stored copy of the words
//! (kept for as long as any answer refers to it) never holds a learner's name. The form's heading
//! names the learner; these words read right whether a parent or an adult learner answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Purpose;

/// The organisation's consent text and the line describing each purpose, as the form shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentWording {
    /// What the photos are for, how they are used and what withdrawing does, shown above the
    /// choices.
    pub text: String,
    /// The line shown beside each purpose's choice.
    pub purposes: BTreeMap<Purpose, String>,
}

/// The organisation's text when the settings give none.
pub const DEFAULT_TEXT: &str = "We would like to use photos taken during lessons and activities to show \
what our learners do. Please choose below which uses you agree to. We will not use photos in any way you \
have not agreed to.\n\nWe never publish a learner's full name with a photo.\n\nYou can change your mind and \
withdraw your consent at any time, for one use or for all of them, through the link in the confirmation \
email we send you after you answer. When consent is withdrawn, we take down the photos already published \
for that use, and we delete a photo once it may no longer be used at all.";

/// The line for `purpose` when the settings give none.
pub fn default_purpose_text(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Website => "Our website: photos may be shown on our public website, which anyone can visit.",
        Purpose::SocialMedia => {
            "Social media: photos may be posted on our social media pages, which anyone can see and share."
        }
        Purpose::Print => "Printed material: photos may be printed in our prospectus, leaflets and posters.",
        Purpose::Internal => {
            "Inside our organisation: photos may be shown on screens and noticeboards in our buildings and in \
             newsletters for staff and learners."
        }
    }
}

impl Default for ConsentWording {
    fn default() -> ConsentWording {
        ConsentWording {
            text: DEFAULT_TEXT.to_string(),
            purposes: Purpose::ALL.into_iter().map(|p| (p, default_purpose_text(p).to_string())).collect(),
        }
    }
}

impl ConsentWording {
    /// The wording with `text` and the given purpose lines; a purpose left out (or `None`) keeps
    /// its default line, and `None` text keeps the default text.
    pub fn with(text: Option<String>, purposes: impl IntoIterator<Item = (Purpose, Option<String>)>) -> ConsentWording {
        let mut wording = ConsentWording::default();
        if let Some(text) = text {
            wording.text = text;
        }
        for (purpose, line) in purposes {
            if let Some(line) = line {
                wording.purposes.insert(purpose, line);
            }
        }
        wording
    }

    /// The blake3 (hex) of exactly these words: their JSON, purposes in their fixed order. An answer
    /// records it, so which words were agreed to can always be shown.
    pub fn hash(&self) -> String {
        blake3::hash(self.canonical().as_bytes()).to_hex().to_string()
    }

    /// The words as the hash covers them, to be stored beside it so the hash can be read back.
    pub fn canonical(&self) -> String {
        // A struct of a string and a string map cannot fail to serialise.
        serde_json::to_string(self).expect("wording serialises")
    }

    /// The same text with only the lines of the purposes a request offers (each at most once, in
    /// the fixed purpose order): a family is shown, and agrees to, no line for a use they were not
    /// asked about.
    pub fn only(&self, purposes: &[Purpose]) -> ConsentWording {
        ConsentWording {
            text: self.text.clone(),
            purposes: self
                .purposes
                .iter()
                .filter(|(p, _)| purposes.contains(p))
                .map(|(p, l)| (*p, l.clone()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_describe_every_purpose_in_plain_words() {
        let wording = ConsentWording::default();
        assert_eq!(wording.purposes.keys().copied().collect::<Vec<_>>(), Purpose::ALL);
        assert!(wording.purposes.values().all(|line| !line.trim().is_empty()));
        for promise in ["full name", "withdraw", "at any time", "confirmation email", "delete"] {
            assert!(wording.text.contains(promise), "the default text should mention {promise:?}");
        }
        assert!(!wording.text.contains('{') && wording.purposes.values().all(|l| !l.contains('{')), "no placeholder");
    }

    #[test]
    fn the_hash_changes_when_any_word_changes() {
        let base = ConsentWording::default();
        assert_eq!(base.hash(), ConsentWording::default().hash(), "the hash is stable");
        assert_eq!(base.hash().len(), 64);
        let mut seen = vec![base.hash()];
        let mut text = base.clone();
        text.text.push('!');
        seen.push(text.hash());
        for purpose in Purpose::ALL {
            let mut changed = base.clone();
            changed.purposes.get_mut(&purpose).unwrap().replace_range(0..1, "o");
            seen.push(changed.hash());
        }
        // Moving words from the text into a line must not give the same hash either.
        let mut moved = base.clone();
        moved.text.push_str("Our");
        moved.purposes.insert(Purpose::Website, base.purposes[&Purpose::Website][3..].to_string());
        seen.push(moved.hash());
        seen.push(base.only(&[Purpose::Website]).hash());
        let count = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), count, "every change gives a new hash");
    }

    #[test]
    fn only_keeps_the_text_and_the_offered_purposes() {
        let base = ConsentWording::with(Some("Our words.".into()), [(Purpose::Print, Some("Posters.".into()))]);
        let only = base.only(&[Purpose::Print, Purpose::Website, Purpose::Print]);
        assert_eq!(only.text, "Our words.");
        assert_eq!(only.purposes.keys().copied().collect::<Vec<_>>(), [Purpose::Website, Purpose::Print]);
        assert_eq!(only.purposes[&Purpose::Print], "Posters.");
        assert_eq!(only.purposes[&Purpose::Website], default_purpose_text(Purpose::Website));
        assert!(base.only(&[]).purposes.is_empty());
        assert_eq!(base.only(&Purpose::ALL), base);
    }
}
