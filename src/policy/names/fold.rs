//! How the name check folds one character: the same on roster names and on texts, one character
//! at a time so that an offset in the folded words maps back to the text as written.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};
use unicode_security::skeleton;

/// Unicode format characters (general category Cf, Unicode 15): invisible, so a name with a soft
/// hyphen, a zero-width space or joiner, a word joiner or a BOM inside it reads as the name.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{600}'..='\u{605}'
            | '\u{61C}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{890}'..='\u{891}'
            | '\u{8E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether `c` is typed as the apostrophe of O'Brien.
pub(crate) fn is_apostrophe(c: char) -> bool {
    // Typewriter, typographic, modifier letter, okina, prime, grave, acute and fullwidth: all are
    // typed as the apostrophe of O'Brien.
    matches!(c, '\'' | '’' | 'ʼ' | 'ʻ' | '‘' | '`' | '´' | '′' | '＇')
}

/// Appends the folded form of `c`: compatibility decomposition (fullwidth and ligatures too),
/// combining marks dropped, lowercase, letters without a decomposition spelt out, lookalikes of
/// Latin letters in other scripts read as those letters (see [`latin_lookalike`]), and anything
/// that is not a letter or digit dropped. One character at a time, so a folded offset maps back
/// to the character it came from.
pub(super) fn fold_into(c: char, out: &mut String) {
    // "ʼ" (U+02BC) and "ʻ" are letters to Unicode, but an apostrophe to the person typing "Oʼbrien".
    if is_apostrophe(c) {
        return;
    }
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
        return;
    }
    decompose_compatible(c, |d| {
        if is_combining_mark(d) {
            return;
        }
        if d.is_ascii() {
            if d.is_ascii_alphanumeric() {
                out.push(d.to_ascii_lowercase());
            }
            return;
        }
        // Final sigma is sigma: "ΝΊΚΟΣ" is "Νίκος".
        let d = if d == 'ς' { 'σ' } else { d };
        if let Some(spelt) = one(d.to_lowercase()).and_then(spelt_out) {
            out.push_str(spelt);
            return;
        }
        if let Some(latin) = latin_lookalike(d) {
            out.push(latin);
            return;
        }
        for l in d.to_lowercase() {
            match spelt_out(l) {
                Some(spelt) => out.push_str(spelt),
                None if l.is_alphanumeric() => out.push(l),
                None => {}
            }
        }
    });
}

/// Latin letters with no decomposition, as they are spelt in ASCII (Łukasz = Lukasz, Strauß =
/// Strauss). Checked before lookalikes: TR39 reads "þ" as "p" and "ß" as Greek beta, but a
/// roster writes Þórsson for Thorsson.
pub(crate) fn spelt_out(lower: char) -> Option<&'static str> {
    Some(match lower {
        'ł' => "l",
        'ø' => "o",
        'đ' | 'ð' => "d",
        'ß' => "ss",
        'ı' => "i",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ħ' => "h",
        'ŧ' => "t",
        _ => return None,
    })
}

/// TR39 skeletons of the ASCII letters, by case: the skeleton of an uppercase lookalike is
/// compared with the uppercase letters' (Greek "Ι" and Latin "I" share "l"), a lowercase one's
/// with the lowercase letters' (Latin "m" has "rn"), so each lookalike is read as the letter it
/// is drawn like.
struct LatinSkeletons {
    upper: HashMap<String, char>,
    lower: HashMap<String, char>,
}

fn latin_skeletons() -> &'static LatinSkeletons {
    static TABLE: OnceLock<LatinSkeletons> = OnceLock::new();
    TABLE.get_or_init(|| {
        let table = |letters: std::ops::RangeInclusive<char>| {
            letters.map(|c| (skeleton_of(c), c.to_ascii_lowercase())).collect::<HashMap<_, _>>()
        };
        LatinSkeletons { upper: table('A'..='Z'), lower: table('a'..='z') }
    })
}

fn skeleton_of(c: char) -> String {
    skeleton(c.encode_utf8(&mut [0; 4])).collect()
}

/// The ASCII letter (lowercase) that a letter of another script, or an unusual Latin one, is a
/// lookalike of: Cyrillic "А" and "а", Greek "Ο" and "ο", Cyrillic "ѕ" and "һ" are "a", "o", "s",
/// "h". A letter is a lookalike when its TR39 skeleton is exactly an ASCII letter's skeleton in
/// its own case; failing that, when its other case is (so "Амира" and "АМИРА" fold alike: "м"
/// is read through "М"). ASCII letters themselves are never folded onto one another (TR39 has
/// "I" = "l" and "m" = "rn"), so Latin names are not merged: "Kim" is not "Kirn".
fn latin_lookalike(d: char) -> Option<char> {
    let table = latin_skeletons();
    let in_case = |c: char| {
        let key = skeleton_of(c);
        if c.is_uppercase() {
            table.upper.get(&key)
        } else if c.is_lowercase() {
            table.lower.get(&key)
        } else {
            table.lower.get(&key).or_else(|| table.upper.get(&key))
        }
        .copied()
    };
    in_case(d).or_else(|| {
        let other = if d.is_uppercase() { one(d.to_lowercase()) } else { one(d.to_uppercase()) }?;
        (other != d).then(|| in_case(other)).flatten()
    })
}

/// The only character of `chars`, when there is exactly one.
fn one(mut chars: impl Iterator<Item = char>) -> Option<char> {
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}
