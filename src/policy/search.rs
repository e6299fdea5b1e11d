//! The fold learner search matches on: one function, applied to a learner's names when they are
//! written and to the query when it is read, so that SQLite (whose `LOWER()` folds ASCII only) and
//! PostgreSQL find the same learners, and "zoe" finds Zoë, "lukasz" Łukasz, "öztürk" ÖZTÜRK.
//!
//! Pure.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use super::names::{is_apostrophe, is_invisible, spelt_out};

/// Separates the fields of a learner's search text. The fold drops control characters from a
/// query, so a query can never match across two fields.
const FIELD_SEPARATOR: char = '\u{1F}';

/// `text` folded for search: compatibility decomposition (fullwidth, ligatures), combining marks
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

/// The key by which an import recognises a name already on record (a guardian): folded as search
/// folds it, with runs of spaces as one, so "SARA  KAHN" and "Sara Kahn" are one person.
pub fn name_key(name: &str) -> String {
    fold(name).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a learner is found by, folded: given, family and preferred name, the full name as
/// usually written ("Amira Haddad") and the MIS reference, each a field of its own.
pub fn learner_search_text(
    given_name: &str,
    family_name: &str,
    preferred_name: Option<&str>,
    external_ref: Option<&str>,
) -> String {
    let full = format!("{given_name} {family_name}");
    let preferred_full = preferred_name.map(|p| format!("{p} {family_name}"));
    let fields = [
        Some(given_name),
        Some(family_name),
        preferred_name,
        Some(full.as_str()),
        preferred_full.as_deref(),
        external_ref,
    ];
    let mut out = String::new();
    for field in fields.into_iter().flatten() {
        out.push_str(&fold(field));
        out.push(FIELD_SEPARATOR);
    }
    out
}

/// The `LIKE` pattern (with `ESCAPE '\'`) that finds `query`, folded, anywhere in a search text:
/// wildcards in the query are taken literally.
pub fn like_pattern(query: &str) -> String {
    let folded = fold(query);
    let mut escaped = String::with_capacity(folded.len() + 2);
    escaped.push('%');
    for c in folded.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
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
        }
        assert_eq!(fold("ÖZTÜRK"), "ozturk");
        assert_ne!(fold("Zoe"), fold("Zed"));
    }

    #[test]
    fn fields_are_kept_apart_and_wildcards_are_literal() {
        let text = learner_search_text("Amira", "Haddad", Some("Mira"), Some("MIS_10%"));
        assert_eq!(text, "amira\u{1F}haddad\u{1F}mira\u{1F}amira haddad\u{1F}mira haddad\u{1F}mis_10%\u{1F}");
        assert_eq!(like_pattern("10%"), "%10\\%%");
        assert_eq!(like_pattern("a_b\\"), "%a\\_b\\\\%");
        // A control character cannot reach across fields.
        assert_eq!(like_pattern("amira\u{1F}haddad"), "%amirahaddad%");
        assert_eq!(like_pattern("ZOË"), "%zoe%");
    }

    #[test]
    fn a_name_on_record_is_recognised_whatever_its_case_accents_or_spacing() {
        assert_eq!(name_key("  SARA   Kahn "), name_key("sara kahn"));
        assert_eq!(name_key("Zoë O’Brien"), name_key("zoe o'brien"));
        assert_eq!(name_key("Sara\u{A0}Kahn"), "sara kahn");
        assert_ne!(name_key("Sara Kahn"), name_key("Sara Khan"));
    }
}
