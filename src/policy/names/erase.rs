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

/// Every word of `entry`'s family name, and all of it as one word, folded.
fn family_words(entry: &NameEntry) -> HashSet<String> {
    let mut words = HashSet::new();
    for variant in name_variants(&entry.family_name) {
        words.insert(variant.concat());
        words.extend(variant.into_iter().filter(|w| w.chars().nth(1).is_some() && !PARTICLES.contains(&w.as_str())));
    }
    words
}

/// Whether `word` (folded) is one of `families` in the plural, with or without an apostrophe
/// after it: "Bakers", "Joneses", "Bakers'".
fn is_plural_of(word: &str, families: &HashSet<String>) -> bool {
    ["s", "es"].iter().any(|suffix| word.strip_suffix(suffix).is_some_and(|stem| families.contains(stem)))
}

/// `text` with every word that is one of `entry`'s names (given, preferred or family, any word of
/// them, or all written as one word; the family name in the plural too: "the Bakers") replaced by
/// [`ERASED`], and every full name of theirs the name check finds cut whole: for the texts of a
/// photo the learner was pictured in, where even a first name alone points to them.
pub fn erase_all_names(text: &str, entry: &NameEntry) -> String {
    let words = name_words(entry);
    let families = family_words(entry);
    let text = erase_full_names(text, entry);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for token in tokens(&text) {
        if words.contains(&token.norm) || is_plural_of(&token.norm, &families) {
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

/// What another learner's family name, standing alone, is replaced with in a subject access export.
pub const FAMILY_NAME_CUT: &str = "[family name]";

/// Particles of a family name of several words that are not a name on their own ("van der Berg"):
/// the whole name goes wherever it is written, these words alone stay.
const PARTICLES: &[&str] = &[
    "al", "bin", "da", "das", "de", "del", "della", "den", "der", "di", "do", "dos", "du", "el", "ibn", "la", "le",
    "st", "ten", "ter", "van", "von",
];

/// Other learners' family names, as the words that stand for them: what a subject access export
/// takes out of the texts it hands over, where a full name is already cut to its first name by
/// [`NameIndex::redact`] but "the Bakers", "Mr Okonkwo" or "b. baker" would still name a family.
/// The subject's own names are never cut (a sibling's family name is the subject's own too).
pub struct FamilyNames {
    words: HashSet<String>,
    /// Words any learner goes by as a given or preferred name: a plural or possessive written
    /// without an apostrophe ("Bakers") is read as a family name only when it is not one of these.
    given: HashSet<String>,
}

impl FamilyNames {
    /// The family names of `others`, less every word of `subject`'s names.
    pub fn build<'a>(subject: &NameEntry, others: impl IntoIterator<Item = &'a NameEntry>) -> FamilyNames {
        let own = name_words(subject);
        let mut given = own.clone();
        let mut words = HashSet::new();
        for entry in others {
            for name in std::iter::once(&entry.given_name).chain(entry.preferred_name.as_ref()) {
                given.extend(name_variants(name).into_iter().flatten());
            }
            for variant in name_variants(&entry.family_name) {
                words.insert(variant.concat());
                for word in &variant {
                    // An initial or a particle alone names nobody.
                    if word.chars().nth(1).is_some() && !PARTICLES.contains(&word.as_str()) {
                        words.insert(word.clone());
                    }
                }
            }
        }
        words.retain(|w| !own.contains(w));
        FamilyNames { words, given }
    }

    /// `text` with every word that is one of the family names, possessive or plural with or
    /// without an apostrophe ("Baker's", "Bakers'", "Bakers", "Joneses"), replaced by [`FAMILY_NAME_CUT`];
    /// a possessive keeps its ending so the sentence still reads.
    pub fn cut(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for token in tokens(text) {
            let plural = is_plural_of(&token.norm, &self.words) && !self.given.contains(&token.norm);
            if self.words.contains(&token.norm) || plural {
                out.push_str(&text[at..token.span.start]);
                out.push_str(FAMILY_NAME_CUT);
                if token.possessive {
                    out.push_str("'s");
                }
                at = token.span.end;
            }
        }
        out.push_str(&text[at..]);
        out
    }
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
            // The family in the plural, with or without an apostrophe.
            ("Mira with the Haddads", "[erased] with the [erased]"),
            ("The Khan-Haddads' stall", "The [erased]-[erased] stall"),
            ("Haddadses", "Haddadses"),
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
        // Given names listed before the family name each take it: the list goes whole.
        assert_eq!(erase_full_names("Khan-Haddad, Amira and Mira Khan Haddad", &amira()), "[erased]");
        assert_eq!(erase_full_names("Khan-Haddad, Amira; Mira Khan Haddad", &amira()), "[erased]; [erased]");
    }

    fn entry(id: &str, given: &str, family: &str) -> NameEntry {
        NameEntry { learner_id: id.into(), given_name: given.into(), preferred_name: None, family_name: family.into() }
    }

    #[test]
    fn other_learners_family_names_go_from_an_export_however_written() {
        let others = [
            entry("b", "Ben", "Baker"),
            entry("o", "Chidi", "Okonkwo"),
            entry("v", "Eva", "van der Berg"),
            entry("j", "Chloe", "Jones"),
        ];
        let families = FamilyNames::build(&amira(), &others);
        let cases = [
            ("the Bakers came", "the [family name] came"),
            ("Mr Okonkwo helped", "Mr [family name] helped"),
            ("b. baker and OKONKWO", "b. [family name] and [family name]"),
            ("Baker's stand; the Bakers' van", "[family name]'s stand; the [family name]'s van"),
            ("Eva van der Berg", "Eva van der [family name]"),
            ("#vanderberg", "#[family name]"),
            ("Chloe with the Joneses", "Chloe with the [family name]"),
            // The subject's own names, a given name, and words that merely contain a name stay.
            ("Amira Khan-Haddad with Ben", "Amira Khan-Haddad with Ben"),
            ("Bakery visit", "Bakery visit"),
            ("", ""),
        ];
        for (text, cut) in cases {
            assert_eq!(families.cut(text), cut, "{text:?}");
        }
    }

    #[test]
    fn a_sibling_shares_the_subjects_family_name_and_it_stays() {
        let families = FamilyNames::build(&amira(), &[entry("s", "Sami", "Khan-Haddad"), entry("m", "Mo", "Miles")]);
        assert_eq!(families.cut("the Khan-Haddads came"), "the Khan-Haddads came");
        assert_eq!(families.cut("Miles and Khan"), "[family name] and Khan");
    }

    #[test]
    fn a_plural_that_is_someones_given_name_stays() {
        // "Miles" is a learner's given name here, not the plural of the family name "Mile".
        let families = FamilyNames::build(&amira(), &[entry("x", "Ann", "Mile"), entry("y", "Miles", "Green")]);
        assert_eq!(families.cut("Miles won, the Miles came"), "Miles won, the Miles came");
        assert_eq!(families.cut("Ms Mile"), "Ms [family name]");
    }
}
