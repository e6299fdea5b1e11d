//! Erasure: a learner's names taken out of a text, for good. Where redaction keeps a first name
//! (a first name alone may go out with a photo), erasure leaves nothing that points to the learner
//! in the texts of photos they were pictured in, and takes their full name out of any other text.

use std::collections::HashSet;

use super::{name_variants, tokens, NameEntry, NameIndex};

/// What an erased name is replaced with.
pub const ERASED: &str = "[erased]";

/// Every word of `entry`'s names, folded as the name check folds them, and the given and family
/// names written as one word ("AmiraKhan", "#KhanAmira").
fn name_words(entry: &NameEntry) -> HashSet<String> {
    let firsts: Vec<Vec<String>> = std::iter::once(&entry.given_name)
        .chain(entry.preferred_name.as_ref())
        .flat_map(|n| name_variants(n))
        .filter(|w| !w.is_empty())
        .collect();
    let families: Vec<Vec<String>> = name_variants(&entry.family_name).into_iter().filter(|w| !w.is_empty()).collect();
    let mut words = HashSet::new();
    for name in firsts.iter().chain(&families) {
        words.extend(name.iter().cloned());
        words.insert(name.concat());
    }
    for first in &firsts {
        for family in &families {
            words.insert(format!("{}{}", first.concat(), family.concat()));
            words.insert(format!("{}{}", family.concat(), first.concat()));
        }
    }
    words
}

/// `text` with every word that is one of `entry`'s names (given, preferred or family, any word of
/// them, or all written as one word) replaced by [`ERASED`], and every full name of theirs the
/// name check finds cut whole: for the texts of a photo the learner was pictured in, where even a
/// first name alone points to them.
pub fn erase_all_names(text: &str, entry: &NameEntry) -> String {
    let words = name_words(entry);
    let text = erase_full_names(text, entry);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for token in tokens(&text) {
        if words.contains(&token.norm) {
            out.push_str(&text[at..token.span.start]);
            out.push_str(ERASED);
            at = token.span.end;
        }
    }
    out.push_str(&text[at..]);
    out
}

/// `text` with every full name of `entry`'s the name check finds ("Amira J. Khan", "Khan, Amira")
/// replaced by [`ERASED`], and nothing else: for texts of photos the learner was not pictured in,
/// where a first name alone may be someone else's.
pub fn erase_full_names(text: &str, entry: &NameEntry) -> String {
    let index = NameIndex::build([entry.clone()]);
    let mut text = text.to_string();
    // Each round replaces at least one whole match with a marker that matches nothing, so there are
    // at most as many rounds as the text has words.
    for _ in 0..=text.split_whitespace().count() {
        let found = index.find(&text);
        let Some(first) = found.first() else { break };
        let mut end = first.end;
        // Overlapping matches are one span.
        for m in &found[1..] {
            if m.start < end {
                end = end.max(m.end);
            }
        }
        text.replace_range(first.start..end, ERASED);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amira() -> NameEntry {
        NameEntry {
            learner_id: "a".into(),
            given_name: "Amira".into(),
            preferred_name: Some("Mira".into()),
            family_name: "Khan-Haddad".into(),
        }
    }

    #[test]
    fn every_name_word_goes_from_a_pictured_learners_texts() {
        let cases = [
            ("Amira at the bench", "[erased] at the bench"),
            ("Well done MIRA!", "Well done [erased]!"),
            ("Amira Khan-Haddad and Ben", "[erased] and Ben"),
            ("#AmiraKhanHaddad #workshop", "#[erased] #workshop"),
            // "Haddad, Amira" is half a family name and a given name: each word goes on its own.
            ("Haddad, Amira; Ben Baker", "[erased], [erased]; Ben Baker"),
            ("Benjamin and Amiras", "Benjamin and Amiras"),
            ("", ""),
        ];
        for (text, erased) in cases {
            assert_eq!(erase_all_names(text, &amira()), erased, "{text:?}");
        }
        // Accents and curly apostrophes fold as the name check folds them.
        let accented = erase_all_names("Āmira’s project", &amira());
        assert!(accented.starts_with("[erased]") && accented.ends_with(" project"), "{accented:?}");
    }

    #[test]
    fn only_full_names_go_from_other_texts() {
        assert_eq!(erase_full_names("Amira Khan-Haddad won", &amira()), "[erased] won");
        assert_eq!(erase_full_names("Amira won; the Khan family came", &amira()), "Amira won; the Khan family came");
        assert_eq!(erase_full_names("Khan-Haddad, Amira and Mira Khan Haddad", &amira()), "[erased] and [erased]");
    }
}
