//! A text as the name check reads it: words folded, with their spans and what stands between
//! them (a sentence boundary, a list's comma or "&").

use std::ops::Range;

use unicode_normalization::char::is_combining_mark;

use super::fold::{fold_into, is_apostrophe, is_invisible};

/// A word of the text: its folded form and where it is.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) norm: String,
    pub(super) span: Range<usize>,
    pub(super) possessive: bool,
    pub(super) capitalised: bool,
    /// A sentence boundary (or "&") stands between this word and the previous one, so they are
    /// not parts of one name.
    pub(super) break_before: bool,
    /// A comma or "&" stands between this word and the previous one: what joins a list of given
    /// names sharing a family name ("Amira, Ben & Liam Khan").
    pub(super) listed_after: bool,
    /// Whether the gap before holds a sentence boundary other than "&".
    pub(super) sentence_before: bool,
}

impl Token {
    /// Lowercase and longer than an initial: a middle word only a careless writer's name has.
    pub(super) fn lowercase_word(&self) -> bool {
        !self.capitalised && self.norm.chars().nth(1).is_some()
    }
}

/// Whether the gap between two words separates them as parts of one name: a sentence or clause
/// boundary, a line break or "&". A full stop counts only when followed by a space and not after
/// an initial, so "J. Khan", "amira.khan" and "St.Clair" stay one name.
fn is_break(gap: &[(usize, char)], previous: &Token) -> bool {
    is_sentence_break(gap, previous) || gap.iter().any(|&(_, c)| matches!(c, '&' | '＆'))
}

/// Whether the gap between two words ends a sentence or clause ("&" aside).
fn is_sentence_break(gap: &[(usize, char)], previous: &Token) -> bool {
    let (mut stop, mut space) = (false, false);
    for &(_, c) in gap {
        match c {
            '?' | '!' | ';' | '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' | '…' | '。' | '！' | '？' | '；' => {
                return true
            }
            '.' | '．' => stop = true,
            c if c.is_whitespace() => space = true,
            _ => {}
        }
    }
    stop && space && previous.norm.chars().nth(1).is_some()
}

/// Whether the gap between two words lists them: a comma or "&".
fn is_list_joint(gap: &[(usize, char)]) -> bool {
    gap.iter().any(|&(_, c)| matches!(c, ',' | '&' | '，' | '＆' | '、'))
}

/// Splits a text into words with their byte spans. Letters and digits make words, with any
/// combining marks on them; invisible format characters are skipped as if absent; an apostrophe
/// between letters stays inside a word (and is then dropped); a trailing `'s` or `s'` marks a
/// possessive; everything else (hyphens included) separates words.
pub(super) fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().filter(|&(_, c)| !is_invisible(c)).collect();
    let word_char = |c: char| c.is_alphanumeric() || is_combining_mark(c);
    let mut out: Vec<Token> = Vec::new();
    let mut gap_start = 0;
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j].1;
            let inner_apostrophe = is_apostrophe(c)
                && j + 1 < chars.len()
                && chars[j + 1].1.is_alphanumeric()
                && word_char(chars[j - 1].1);
            if word_char(c) || inner_apostrophe {
                j += 1;
            } else {
                break;
            }
        }
        let word = &chars[i..j];
        let mut end_char = j;
        let mut possessive = false;
        // "Khans'" (plural possessive): the trailing apostrophe belongs to the word.
        if j < chars.len() && is_apostrophe(chars[j].1) && matches!(chars[j - 1].1, 's' | 'S') {
            possessive = true;
            end_char = j + 1;
        }
        // "Khan's": a final apostrophe + s is the possessive, not part of the name.
        let body = match word {
            [body @ .., (_, a), (_, 's' | 'S')] if !body.is_empty() && is_apostrophe(*a) => {
                possessive = true;
                body
            }
            _ => word,
        };
        let mut norm = String::new();
        for &(_, c) in body {
            fold_into(c, &mut norm);
        }
        if !norm.is_empty() {
            let (last_at, last) = chars[end_char - 1];
            let gap = &chars[gap_start..i];
            let (break_before, sentence_before) = match out.last() {
                Some(previous) => (is_break(gap, previous), is_sentence_break(gap, previous)),
                None => (false, false),
            };
            out.push(Token {
                norm,
                span: chars[i].0..last_at + last.len_utf8(),
                possessive,
                capitalised: chars[i].1.is_uppercase(),
                break_before,
                listed_after: !out.is_empty() && is_list_joint(gap),
                sentence_before,
            });
            gap_start = end_char;
        }
        i = end_char;
    }
    out
}

/// A name as the folded words the index matches.
pub(crate) fn name_words(name: &str) -> Vec<String> {
    tokens(name).into_iter().map(|t| t.norm).collect()
}

/// `words` joined as the automaton reads them, " w1 w2 … " (so that every match is on whole
/// words), and which word starts at each byte (`u32::MAX` where none does).
pub(super) fn join_words<'a>(words: impl Iterator<Item = &'a str>) -> (String, Vec<u32>) {
    let mut joined = String::from(" ");
    let mut word_at: Vec<u32> = vec![u32::MAX];
    for (k, word) in words.enumerate() {
        joined.push_str(word);
        joined.push(' ');
        word_at.resize(joined.len(), u32::MAX);
        word_at[joined.len() - word.len() - 2] = k as u32;
    }
    (joined, word_at)
}
