//! The name check: no learner's full name may leave with an image. Every learner on record is
//! matched (not only those tagged: a caption can name someone untagged), with one Aho–Corasick
//! automaton over all name parts, so the cost per text does not grow with the number of learners.
//!
//! A full name is a given (or preferred) name and the family name, in either order ("Amira Khan",
//! "Khan, Amira"), possibly with up to two middle names or initials between ("Amira J. Khan"),
//! possessive or not ("Amira Khan's"). Matching folds case and diacritics (Zoë = Zoe), ignores
//! apostrophes inside names (O'Brien = O’Brien = OBrien) and treats hyphens as spaces
//! (Smith-Jones = Smith Jones), on whole words only ("Benjamin" is not "Ben"). A first name alone,
//! or a family name alone, is not a full name and passes.
//!
//! Pure: the index is built from names, and texts are checked against it.

use std::collections::HashMap;
use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// One learner's names, as the index needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    /// The learner.
    pub learner_id: String,
    /// Given name(s).
    pub given_name: String,
    /// The name they go by, when different.
    pub preferred_name: Option<String>,
    /// Family name.
    pub family_name: String,
}

/// A full name found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameMatch {
    /// Whose name it is (the first learner with it, when several share it).
    pub learner_id: String,
    /// Byte offset in the text where the name starts.
    pub start: usize,
    /// Byte offset where it ends, after any possessive.
    pub end: usize,
    /// Bytes of the given (or preferred) name as written, inside `start..end`: what a redaction
    /// keeps.
    pub first_name: Range<usize>,
    /// Whether the name was written possessive ("Khan's"), which a redaction keeps.
    pub possessive: bool,
}

/// A word of the text: its normalised form and where it is.
#[derive(Debug, Clone)]
struct Token {
    norm: String,
    span: Range<usize>,
    possessive: bool,
    capitalised: bool,
}

/// Most words allowed between a first and a family name (middle names or initials).
const MAX_MIDDLE: usize = 2;

/// All learners' names, indexed for checking texts.
pub struct NameIndex {
    automaton: Option<AhoCorasick>,
    /// Per pattern: how many words it has.
    pattern_words: Vec<usize>,
    /// Per pattern: whether it is some learner's given/preferred name, and some learner's family name.
    pattern_roles: Vec<(bool, bool)>,
    /// (given pattern, family pattern) → learners with that pair, by index into `learner_ids`.
    pairs: HashMap<(u32, u32), Vec<u32>>,
    learner_ids: Vec<String>,
}

impl std::fmt::Debug for NameIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names stay out of logs: only the size is shown.
        f.debug_struct("NameIndex").field("learners", &self.learner_ids.len()).finish_non_exhaustive()
    }
}

impl Default for NameIndex {
    /// An index of nobody.
    fn default() -> Self {
        NameIndex::build(Vec::new())
    }
}

/// Folds a name or text word: NFKD, combining marks dropped, lowercase.
fn fold(word: &str) -> String {
    word.nfkd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase).collect()
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '‘' | '`' | '´')
}

fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '‐' | '‑' | '‒' | '–' | '—' | '―')
}

/// Splits a text into words with their byte spans. Letters and digits make words; an apostrophe
/// between letters stays inside a word (and is then dropped); a trailing `'s` or `s'` marks a
/// possessive; everything else (hyphens included) separates words.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut j = i;
        while j < chars.len() {
            let c = chars[j].1;
            let inner_apostrophe = is_apostrophe(c)
                && j + 1 < chars.len()
                && chars[j + 1].1.is_alphanumeric()
                && j > i
                && chars[j - 1].1.is_alphanumeric();
            if c.is_alphanumeric() || inner_apostrophe {
                j += 1;
            } else {
                break;
            }
        }
        let mut end_char = j;
        let mut possessive = false;
        // "Khans'" (plural possessive): the trailing apostrophe belongs to the word.
        if j < chars.len() && is_apostrophe(chars[j].1) && matches!(chars[j - 1].1, 's' | 'S') {
            possessive = true;
            end_char = j + 1;
        }
        let end = chars.get(end_char).map_or(text.len(), |(b, _)| *b);
        let raw: String = chars[i..j].iter().map(|(_, c)| *c).collect();
        // "Khan's": a final apostrophe + s is the possessive, not part of the name.
        let body = match raw.char_indices().rev().nth(1) {
            Some((k, c)) if is_apostrophe(c) && raw[k + c.len_utf8()..].eq_ignore_ascii_case("s") => {
                possessive = true;
                &raw[..k]
            }
            _ => raw.as_str(),
        };
        let norm: String = fold(&body.chars().filter(|c| !is_apostrophe(*c)).collect::<String>());
        if !norm.is_empty() {
            let capitalised = raw.chars().next().is_some_and(char::is_uppercase);
            out.push(Token { norm, span: start..end, possessive, capitalised });
        }
        i = end_char.max(i + 1);
    }
    out
}

/// A name as the words the index matches: hyphens and spaces separate, apostrophes vanish.
fn name_words(name: &str) -> Vec<String> {
    let spaced: String = name.chars().map(|c| if is_hyphen(c) { ' ' } else { c }).collect();
    tokens(&spaced).into_iter().map(|t| t.norm).collect()
}

impl NameIndex {
    /// Builds the index over every learner's names.
    pub fn build(entries: impl IntoIterator<Item = NameEntry>) -> NameIndex {
        let mut patterns: Vec<String> = Vec::new();
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut roles: Vec<(bool, bool)> = Vec::new();
        let mut words: Vec<usize> = Vec::new();
        let mut pairs: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        let mut learner_ids = Vec::new();
        let mut intern = |phrase: &[String], given: bool| -> Option<u32> {
            if phrase.is_empty() {
                return None;
            }
            // Patterns are matched against " w1 w2 … " so that every match is on whole words.
            let key = format!(" {} ", phrase.join(" "));
            let id = *ids.entry(key.clone()).or_insert_with(|| {
                patterns.push(key);
                roles.push((false, false));
                words.push(phrase.len());
                (patterns.len() - 1) as u32
            });
            let role = &mut roles[id as usize];
            if given {
                role.0 = true;
            } else {
                role.1 = true;
            }
            Some(id)
        };
        for entry in entries {
            let index = learner_ids.len() as u32;
            learner_ids.push(entry.learner_id);
            let Some(family) = intern(&name_words(&entry.family_name), false) else { continue };
            let mut firsts = Vec::new();
            for name in std::iter::once(&entry.given_name).chain(entry.preferred_name.as_ref()) {
                let w = name_words(name);
                // "Mary Anne" is also written "Mary".
                if w.len() > 1 {
                    firsts.extend(intern(&w[..1], true));
                }
                firsts.extend(intern(&w, true));
            }
            firsts.sort_unstable();
            firsts.dedup();
            for first in firsts {
                pairs.entry((first, family)).or_default().push(index);
            }
        }
        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .expect("name patterns are small and valid")
        });
        NameIndex { automaton, pattern_words: words, pattern_roles: roles, pairs, learner_ids }
    }

    /// How many learners the index holds.
    pub fn len(&self) -> usize {
        self.learner_ids.len()
    }

    /// Whether the index holds nobody.
    pub fn is_empty(&self) -> bool {
        self.learner_ids.is_empty()
    }

    /// Every full name in `text`, in order, without overlaps (the longest wins).
    pub fn find(&self, text: &str) -> Vec<NameMatch> {
        let Some(automaton) = &self.automaton else { return Vec::new() };
        let toks = tokens(text);
        if toks.len() < 2 {
            return Vec::new();
        }
        // The folded words joined by single spaces, and where each word starts in that string.
        let mut joined = String::from(" ");
        let mut word_at: HashMap<usize, usize> = HashMap::with_capacity(toks.len());
        for (k, t) in toks.iter().enumerate() {
            word_at.insert(joined.len() - 1, k);
            joined.push_str(&t.norm);
            joined.push(' ');
        }
        // Name parts found: (first word, word count, pattern).
        let mut starting: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
        let mut ending: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
        for m in automaton.find_overlapping_iter(&joined) {
            let Some(&first) = word_at.get(&m.start()) else { continue };
            let pattern = m.pattern().as_u32();
            let count = self.pattern_words[pattern as usize];
            starting.entry(first).or_default().push((count, pattern));
            ending.entry(first + count - 1).or_default().push((first, pattern));
        }
        let mut found: Vec<(usize, usize, NameMatch)> = Vec::new();
        for (&first, parts) in &starting {
            for &(count, pattern) in parts {
                if !self.pattern_roles[pattern as usize].1 {
                    continue;
                }
                let (family_first, family_last) = (first, first + count - 1);
                // Given [middle…] Family.
                for middle in 0..=MAX_MIDDLE {
                    let Some(given_last) = family_first.checked_sub(middle + 1) else { break };
                    let middles_ok = (given_last + 1..family_first)
                        .all(|k| toks[k].capitalised || toks[k].norm.chars().count() == 1);
                    if !middles_ok {
                        break;
                    }
                    for &(given_first, given) in ending.get(&given_last).into_iter().flatten() {
                        if let Some(learner) = self.pair(given, pattern) {
                            found.push((
                                given_first,
                                family_last,
                                self.matched(&toks, given_first, family_last, given_first..given_last + 1, learner),
                            ));
                        }
                    }
                }
                // Family Given ("Khan Amira", "Khan, Amira").
                for &(count, given) in starting.get(&(family_last + 1)).into_iter().flatten() {
                    if let Some(learner) = self.pair(given, pattern) {
                        let given_last = family_last + count;
                        found.push((
                            family_first,
                            given_last,
                            self.matched(&toks, family_first, given_last, family_last + 1..given_last + 1, learner),
                        ));
                    }
                }
            }
        }
        // Longest first, then leftmost; keep those that do not overlap one already kept.
        found.sort_by_key(|(a, b, m)| (std::cmp::Reverse(b - a), *a, m.learner_id.clone()));
        let mut kept: Vec<(usize, usize, NameMatch)> = Vec::new();
        for (a, b, m) in found {
            if kept.iter().all(|(x, y, _)| b < *x || a > *y) {
                kept.push((a, b, m));
            }
        }
        kept.sort_by_key(|(a, _, _)| *a);
        kept.into_iter().map(|(_, _, m)| m).collect()
    }

    fn pair(&self, given: u32, family: u32) -> Option<u32> {
        if !self.pattern_roles[given as usize].0 {
            return None;
        }
        self.pairs.get(&(given, family)).and_then(|learners| learners.first().copied())
    }

    fn matched(&self, toks: &[Token], first: usize, last: usize, given: Range<usize>, learner: u32) -> NameMatch {
        NameMatch {
            learner_id: self.learner_ids[learner as usize].clone(),
            start: toks[first].span.start,
            end: toks[last].span.end,
            first_name: toks[given.start].span.start..toks[given.end - 1].span.end,
            possessive: toks[last].possessive,
        }
    }
}

/// The text with every full name found cut to the first name as written, keeping a possessive:
/// "Amira Khan's project" → "Amira's project", "Khan, Amira and Ben" → "Amira and Ben".
pub fn suggest_redaction(text: &str, matches: &[NameMatch]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for m in matches {
        out.push_str(&text[at..m.start]);
        let first = &text[m.first_name.clone()];
        // The given name's own possessive (when it ends the match) is already in its span.
        let first_is_last = m.first_name.end == m.end;
        out.push_str(first);
        if m.possessive && !first_is_last {
            out.push_str(if first.ends_with(['s', 'S']) { "'" } else { "'s" });
        }
        at = m.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, given: &str, preferred: Option<&str>, family: &str) -> NameEntry {
        NameEntry {
            learner_id: id.into(),
            given_name: given.into(),
            preferred_name: preferred.map(Into::into),
            family_name: family.into(),
        }
    }

    fn roster() -> NameIndex {
        NameIndex::build([
            entry("amira", "Amira", None, "Khan"),
            entry("zoe", "Zoë", None, "O'Brien"),
            entry("sam", "Samuel", Some("Sam"), "Smith-Jones"),
            entry("mary", "Mary Anne", None, "van der Berg"),
            entry("ben", "Ben", None, "Baker"),
            entry("rose", "Rose", None, "Bush"),
            entry("sian", "Siân", None, "Évans"),
        ])
    }

    /// The learners and matched texts found in `text`.
    fn found(text: &str) -> Vec<(String, String)> {
        roster().find(text).into_iter().map(|m| (m.learner_id.clone(), text[m.start..m.end].to_string())).collect()
    }

    #[test]
    fn full_names_are_found_in_every_written_form() {
        let table: &[(&str, &str, &str)] = &[
            ("Amira Khan at the workshop", "amira", "Amira Khan"),
            ("Well done Khan Amira", "amira", "Khan Amira"),
            ("Khan, Amira (Level 2)", "amira", "Khan, Amira"),
            ("Amira J. Khan", "amira", "Amira J. Khan"),
            ("Amira J Khan", "amira", "Amira J Khan"),
            ("Amira Jane Khan", "amira", "Amira Jane Khan"),
            ("Amira Jane Louise Khan", "amira", "Amira Jane Louise Khan"),
            ("Amira Khan's project", "amira", "Amira Khan's"),
            ("Amira Khan’s project", "amira", "Amira Khan’s"),
            ("AMIRA KHAN", "amira", "AMIRA KHAN"),
            ("amira khan", "amira", "amira khan"),
            ("Zoe OBrien", "zoe", "Zoe OBrien"),
            ("Zoë O’Brien", "zoe", "Zoë O’Brien"),
            ("zoe o'brien", "zoe", "zoe o'brien"),
            ("Sam Smith-Jones", "sam", "Sam Smith-Jones"),
            ("Samuel Smith Jones", "sam", "Samuel Smith Jones"),
            ("Sam Smith–Jones", "sam", "Sam Smith–Jones"),
            ("Mary Anne van der Berg", "mary", "Mary Anne van der Berg"),
            ("Mary van der Berg", "mary", "Mary van der Berg"),
            ("Sian Evans", "sian", "Sian Evans"),
            ("SIÂN ÉVANS", "sian", "SIÂN ÉVANS"),
            ("Evans, Siân", "sian", "Evans, Siân"),
            // A name that is also a phrase still counts: a false hold is safe, a false pass is not.
            ("a rose bush in bloom", "rose", "rose bush"),
            ("Siân Evans' portfolio", "sian", "Siân Evans'"),
        ];
        for (text, who, matched) in table {
            assert_eq!(found(text), vec![(who.to_string(), matched.to_string())], "{text}");
        }
    }

    #[test]
    fn first_names_alone_and_words_containing_names_pass() {
        for text in [
            "Amira at the workshop",
            "Khan Academy videos",
            "Benjamin Baker",
            "Ben Bakers",
            "Amira Khanna",
            "Amira Pakhan",
            "Ben worked with Mr Baker's bread",
            "Amira and Ben",
            "Amira and the Khan family",
            "Samantha Smith",
            "",
            "Amira",
        ] {
            assert_eq!(found(text), Vec::<(String, String)>::new(), "{text}");
        }
    }

    #[test]
    fn several_names_in_one_text_are_each_found_in_order() {
        let text = "Khan, Amira and Ben Baker with Zoe O'Brien.";
        let who: Vec<String> = found(text).into_iter().map(|(w, _)| w).collect();
        assert_eq!(who, ["amira", "ben", "zoe"]);
    }

    #[test]
    fn redaction_keeps_first_names_and_possessives() {
        let index = roster();
        for (text, redacted) in [
            ("Amira Khan's project", "Amira's project"),
            ("Khan, Amira and Ben Baker", "Amira and Ben"),
            ("Well done Amira J. Khan!", "Well done Amira!"),
            ("The Evans' stall: Siân Evans' portfolio", "The Evans' stall: Siân's portfolio"),
            ("Nothing to see", "Nothing to see"),
        ] {
            assert_eq!(suggest_redaction(text, &index.find(text)), redacted, "{text}");
        }
    }

    #[test]
    fn a_thousand_generated_learners_are_each_found_and_filler_finds_nothing() {
        let givens = ["Ava", "Noah", "Leila", "Omar", "Chloé", "Dylan", "Ffion", "Kwame", "Priya", "Tomasz"];
        let families =
            ["Adeyemi", "Brown", "Czerny", "Dupont", "Evans", "Fitzgerald", "García", "Hughes", "Ito", "Jones"];
        let mut entries = Vec::new();
        for i in 0..1000 {
            entries.push(entry(
                &format!("l{i}"),
                &format!("{}{}", givens[i % 10], i / 100),
                None,
                &format!("{}{}", families[(i / 10) % 10], i % 7),
            ));
        }
        let index = NameIndex::build(entries.clone());
        assert_eq!(index.len(), 1000);
        for e in &entries {
            let text = format!("Great work today from {} {} at the bench.", e.given_name, e.family_name);
            let matches = index.find(&text);
            assert_eq!(matches.len(), 1, "{text}");
            let m = &matches[0];
            // Several learners can share a name; the one found has exactly it.
            let named = &entries.iter().find(|x| x.learner_id == m.learner_id).unwrap();
            assert_eq!(
                (named.given_name.as_str(), named.family_name.as_str()),
                (e.given_name.as_str(), e.family_name.as_str())
            );
        }
        let filler = "Learners practised brickwork, plastering and tiling; the assessor was impressed by the finish.";
        assert!(index.find(filler).is_empty());
        assert!(NameIndex::build(Vec::new()).find("Amira Khan").is_empty());
    }
}
