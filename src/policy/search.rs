//! Learner search, one fold for both backends: every word typed must be found in a learner's
//! names or reference, each word folded exactly as the name check folds names
//! (`policy::names`: case, diacritics, letters spelt out, lookalikes, apostrophes dropped so
//! "obrien" finds O'Brien, hyphens as spaces), applied to the names when they are written and to
//! the query when it is read. SQLite's `LOWER()` folds ASCII only and PostgreSQL's collation is
//! the server's, so neither is trusted with a name: the stored text and the sort key are folded in
//! Rust, and "Amira Khan", "khan amira", "zoe" (Zoë) and "siobhan" (Siobhán) find the same
//! learners on both.
//!
//! Also the fold import uses to recognise a guardian already on record ([`name_key`]).
//!
//! Pure.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use super::names::{is_apostrophe, is_invisible, name_words, spelt_out};

/// Most words of a query that are matched: a name is rarely more, and each is one `LIKE`.
pub const MAX_QUERY_WORDS: usize = 8;

/// `text` folded for comparing what people type with what is on record, punctuation kept (a
/// guardian recognised on import, the words of a name in an erasure's reason): compatibility decomposition (fullwidth, ligatures), combining marks
/// dropped (so diacritics), lowercase with final sigma as sigma, letters without a decomposition
/// spelt out as the name check spells them (Ł = l, ß = ss, Ø = o), every apostrophe as "'", every
/// space as " ", invisible format and control characters dropped. Everything else, punctuation
/// and LIKE wildcards included, is kept as it is.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_apostrophe(c) {
            out.push('\'');
        } else if c.is_whitespace() {
            out.push(' ');
        } else if c.is_control() || is_invisible(c) {
            continue;
        } else if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            decompose_compatible(c, |d| {
                if is_combining_mark(d) {
                    return;
                }
                let d = if d == 'ς' { 'σ' } else { d };
                for l in d.to_lowercase() {
                    match spelt_out(l) {
                        Some(spelt) => out.push_str(spelt),
                        None => out.push(l),
                    }
                }
            });
        }
    }
    out
}

/// The key by which an import recognises a name already on record (a guardian): [`fold`]ed, with runs of spaces as one, so "SARA  KAHN" and "Sara Kahn" are one person.
pub fn name_key(name: &str) -> String {
    fold(name).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words a text is searched by: lowercased (so that a letter whose two cases look like two
/// Latin letters, as Greek "Ν" and "ν" do, folds one way), then the name check's words.
fn search_words(text: &str) -> Vec<String> {
    name_words(&text.to_lowercase())
}

/// What a learner is found by: the words of their given, family and preferred names and of their
/// MIS reference, and each multi-word name also run together ("Smith-Jones" is found by
/// "smithjones", "Mary Anne" by "maryanne"), folded, each between spaces.
pub fn learner_search_text(
    given_name: &str,
    family_name: &str,
    preferred_name: Option<&str>,
    external_ref: Option<&str>,
) -> String {
    let mut words: Vec<String> = Vec::new();
    for field in [Some(given_name), Some(family_name), preferred_name, external_ref].into_iter().flatten() {
        let field_words = search_words(field);
        if field_words.len() > 1 {
            words.push(field_words.concat());
        }
        words.extend(field_words);
    }
    let mut out = String::from(" ");
    for word in words {
        out.push_str(&word);
        out.push(' ');
    }
    out
}

/// The key learners are listed in order of: family name, then given name, folded as search folds
/// them, so that Öztürk sorts with the Os and not after Z. Compared byte for byte (the
/// PostgreSQL column is `COLLATE "C"`), so both backends list alike.
pub fn learner_sort_key(given_name: &str, family_name: &str) -> String {
    format!("{}\u{1}{}", search_words(family_name).join(" "), search_words(given_name).join(" "))
}

/// The `LIKE` patterns a learner's search text must all match for `query`: one per word typed
/// (at most [`MAX_QUERY_WORDS`], repeats dropped), `None` when the query has characters but no
/// word (punctuation alone finds nobody rather than everybody). An empty query is no pattern:
/// everyone. Words hold letters and digits only, so no pattern holds a `LIKE` wildcard.
pub fn like_patterns(query: &str) -> Option<Vec<String>> {
    let mut words = search_words(query);
    if words.is_empty() && !query.trim().is_empty() {
        return None;
    }
    let mut seen = std::collections::HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
    words.truncate(MAX_QUERY_WORDS);
    Some(words.into_iter().map(|w| format!("%{w}%")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_alike_in_any_case_and_with_or_without_diacritics() {
        for (a, b) in [
            ("Zoë", "zoe"),
            ("ZOË", "zoe"),
            ("Zoe\u{308}", "zoe"),
            ("Łukasz", "lukasz"),
            ("ÖZTÜRK", "öztürk"),
            ("ÖZTÜRK", "ozturk"),
            ("Strauß", "STRAUSS"),
            ("Søren Møller", "soren moller"),
            ("O’Brien", "o'brien"),
            ("Ｋｈａｎ", "khan"),
            ("ΝΊΚΟΣ", "νίκος"),
            ("ДМИТРИЙ", "дмитрий"),
            ("Ay\u{AD}şe", "ayse"),
            ("Ayşe\u{A0}Yılmaz", "ayse yilmaz"),
        ] {
            assert_eq!(fold(a), fold(b), "{a} / {b}");
            assert_eq!(search_words(a), search_words(b), "{a} / {b}");
        }
        assert_eq!(fold("ÖZTÜRK"), "ozturk");
        assert_ne!(fold("Zoe"), fold("Zed"));
    }

    #[test]
    fn every_word_typed_is_a_pattern_folded_as_names_are() {
        let some = |words: &[&str]| Some(words.iter().map(|w| format!("%{w}%")).collect::<Vec<_>>());
        assert_eq!(like_patterns("Amira Khan"), some(&["amira", "khan"]));
        assert_eq!(like_patterns("  O’Brien "), some(&["obrien"]));
        assert_eq!(like_patterns("Siobhán"), some(&["siobhan"]));
        assert_eq!(like_patterns("ZOË Smith-Jones"), some(&["zoe", "smith", "jones"]));
        assert_eq!(like_patterns("khan KHAN Khan"), some(&["khan"]));
        assert_eq!(like_patterns("MIS_10%"), some(&["mis", "10"]));
        assert_eq!(like_patterns(""), some(&[]));
        assert_eq!(like_patterns("   "), some(&[]));
        assert_eq!(like_patterns("%"), None);
        assert_eq!(like_patterns("_\\"), None);
        assert_eq!(like_patterns("a b c d e f g h i j").map(|p| p.len()), Some(MAX_QUERY_WORDS));
    }

    #[test]
    fn a_learner_is_found_by_each_word_and_by_names_run_together() {
        let text = learner_search_text("Mary Anne", "Smith-Jones", Some("Zoë"), Some("MIS_10%"));
        assert_eq!(text, " maryanne mary anne smithjones smith jones zoe mis10 mis 10 ");
        let text = learner_search_text("Zoë", "O'Brien", None, None);
        assert_eq!(text, " zoe obrien ");
    }

    #[test]
    fn accented_names_sort_with_their_letters() {
        let mut keys = [
            learner_sort_key("Emre", "Öztürk"),
            learner_sort_key("Ida", "Zola"),
            learner_sort_key("Ben", "Oakes"),
            learner_sort_key("Amira", "Khanna"),
            learner_sort_key("Zed", "Khan"),
            learner_sort_key("Ali", "Khan"),
        ];
        keys.sort();
        let families: Vec<&str> = keys.iter().map(|k| k.split('\u{1}').next().unwrap()).collect();
        assert_eq!(families, ["khan", "khan", "khanna", "oakes", "ozturk", "zola"]);
        assert!(keys[0].ends_with("ali"));
    }

    #[test]
    fn a_name_on_record_is_recognised_whatever_its_case_accents_or_spacing() {
        assert_eq!(name_key("  SARA   Kahn "), name_key("sara kahn"));
        assert_eq!(name_key("Zoë O’Brien"), name_key("zoe o'brien"));
        assert_eq!(name_key("Sara\u{A0}Kahn"), "sara kahn");
        assert_ne!(name_key("Sara Kahn"), name_key("Sara Khan"));
    }
}
