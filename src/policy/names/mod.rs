//! The name check: no learner's full name may leave with an image. Every learner on record is
//! matched (not only those tagged: a caption can name someone untagged), with one Aho–Corasick
//! automaton over all name parts, so the cost per text does not grow with the number of learners.
//!
//! A full name is a given (or preferred) name and the family name, in either order ("Amira Khan",
//! "Khan, Amira"), possibly with up to four middle names or initials between ("Amira J. Khan",
//! "amira jane khan"), possessive or not ("Amira Khan's", and "Amira Khans" when "Khans" is not
//! itself a family name on record), or written as one word ("AmiraKhan", "#AmiraKhan";
//! "@amira_khan" and "amira.khan" are two words). Given names listed before one family name each
//! take it: "Amira and Liam Khan", "Amira, Ben & Liam Khan" name Amira Khan in full. Texts and roster names are folded
//! the same way: invisible format characters (soft hyphens, zero-width spaces and joiners, BOMs)
//! are dropped, then compatibility decomposition, combining marks dropped, lowercase, and letters
//! with no decomposition spelt out (Zoë = Zoe, Łukasz = Lukasz, Søren = Soren, Strauß = Strauss),
//! and lookalikes of Latin letters in other scripts read as those letters (Cyrillic "Аmira" =
//! Amira; see `fold.rs`), while ASCII letters are never read as one another.
//! Apostrophes inside names vanish whatever their code point (O'Brien = O’Brien = O′Brien =
//! OBrien), hyphens separate words (Smith-Jones = Smith Jones), and a family name is also indexed
//! joined and split at a known prefix (MacDonald = Mac Donald, O'Brien = O Brien, Ó Súilleabháin =
//! O'Suilleabhain, SmithJones). Only whole words match ("Benjamin" is not "Ben"). A first name
//! alone, or a family name alone, is not a full name and passes.
//!
//! Safety comes first: when unsure the check holds. It declines a match only on evidence that the
//! words are not one name: a function word or title between them ("Amira and the Khan family",
//! "Amira thanked Mr Khan"), a sentence boundary between them ("Mr Khan. Amira led"), or a family
//! name written in lowercase as a common word after a capitalised given name with lowercase words
//! between ("Amira wore brown shoes").
//!
//! Pure: the index is built from names, and texts are checked against it.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use unicode_normalization::char::is_combining_mark;

pub mod erase;
mod fold;
mod words;

use fold::fold_into;
pub(crate) use fold::{is_apostrophe, is_invisible, spelt_out};
pub(crate) use words::name_words;
use words::{join_words, tokens, Token};

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
    /// keeps. For given names listed before one family name ("Amira and Liam Khan"), all of them
    /// and what joins them ("Amira and Liam").
    pub first_name: Range<usize>,
    /// Whether the name was written possessive ("Khan's"), which a redaction keeps.
    pub possessive: bool,
}

/// Most words allowed between a first and a family name (middle names or initials).
const MAX_MIDDLE: usize = 4;

/// Most given names a list sharing one family name is followed back over ("Amira, Ben, Cara,
/// Dev and Liam Khan").
const MAX_LISTED: usize = 8;

/// Words that are never a middle name: between a given and a family name they show two people or
/// a phrase ("Amira and the Khan family", "Amira with Mr Khan"), not one name. Kept small: every
/// word here is a way to let a real name through.
const STOP_WORDS: &[&str] = &[
    "and", "the", "with", "of", "at", "in", "on", "by", "for", "from", "to", "or", "nor", "but", "not", "as", "than",
    "into", "onto", "via", "vs", "is", "was", "are", "were", "be", "been", "has", "had", "have", "her", "his", "their",
    "our", "my", "your", "its", "mr", "mrs", "ms", "miss", "mx", "dr", "sir", "prof",
];

/// Family-name prefixes written joined or apart ("MacDonald" / "Mac Donald", "O'Brien" / "O Brien",
/// "D'Arcy" / "D Arcy"): each family name starting with one is also indexed split there.
const FAMILY_PREFIXES: &[&str] = &["mac", "mc", "o", "d", "fitz"];

/// What a pattern of the automaton stands for (several things at once when names coincide).
#[derive(Debug, Clone, Copy, Default)]
struct Role {
    given: bool,
    family: bool,
}

/// All learners' names, indexed for checking texts.
pub struct NameIndex {
    automaton: Option<AhoCorasick>,
    /// Per pattern: how many words it has.
    pattern_words: Vec<u32>,
    /// Per pattern: what it stands for.
    roles: Vec<Role>,
    /// (given pattern, family pattern) → the first learner with that pair, by index into
    /// `learner_ids`.
    pairs: HashMap<(u32, u32), u32>,
    /// One-word patterns by their folded word: a word that is a given name and a family name run
    /// together ("amirakhan") is found by looking up its two halves, each an O(1) lookup, rather
    /// than by a pattern per learner, which would triple the automaton and its build time.
    single_words: HashMap<String, u32>,
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

/// A name's folded words in each case it may be written in: as on record, lowercase, uppercase
/// and capitalised. They differ only where a letter's two cases look like two different Latin
/// letters (Greek "Ν" is "N" and "ν" is "v"; "Υ" is "Y" and "υ" is "u"), so an ASCII name, and
/// nearly every other, has one.
fn name_variants(name: &str) -> Vec<Vec<String>> {
    let mut out = vec![name_words(name)];
    if !name.is_ascii() {
        let mut capitalised = String::with_capacity(name.len());
        let mut in_word = false;
        for c in name.chars() {
            if in_word {
                capitalised.extend(c.to_lowercase());
            } else {
                capitalised.extend(c.to_uppercase());
            }
            in_word = c.is_alphanumeric() || is_combining_mark(c);
        }
        for written in [name.to_lowercase(), name.to_uppercase(), capitalised] {
            out.push(name_words(&written));
        }
        out.sort();
        out.dedup();
    }
    out.retain(|words| !words.is_empty());
    out
}

/// The ways a family name is written: as on record, joined ("van der Berg" → "vanderberg",
/// "Mac Donald" → "macdonald") and split after a known prefix ("macdonald" → "mac donald").
fn family_forms(words: &[String]) -> Vec<Vec<String>> {
    let mut forms = vec![words.to_vec()];
    if words.len() > 1 {
        forms.push(vec![words.concat()]);
    }
    for (k, word) in words.iter().enumerate() {
        for prefix in FAMILY_PREFIXES {
            if let Some(rest) = word.strip_prefix(prefix) {
                // "Od" is not O'D: a split needs a real name after the prefix.
                if rest.chars().nth(1).is_some() {
                    let mut split = words.to_vec();
                    split[k] = (*prefix).to_string();
                    split.insert(k + 1, rest.to_string());
                    forms.push(split);
                }
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Collects the automaton's patterns while the index is built.
#[derive(Default)]
struct Patterns {
    texts: Vec<String>,
    ids: HashMap<String, u32>,
    words: Vec<u32>,
    roles: Vec<Role>,
    single_words: HashMap<String, u32>,
}

impl Patterns {
    /// The pattern for `phrase`, added when new.
    fn intern(&mut self, phrase: &[String]) -> u32 {
        // Patterns are matched against " w1 w2 … " so that every match is on whole words.
        let key = format!(" {} ", phrase.join(" "));
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.ids.insert(key.clone(), id);
        self.texts.push(key);
        self.words.push(phrase.len() as u32);
        self.roles.push(Role::default());
        if let [word] = phrase {
            self.single_words.insert(word.clone(), id);
        }
        id
    }
}

impl NameIndex {
    /// Builds the index over every learner's names.
    pub fn build(entries: impl IntoIterator<Item = NameEntry>) -> NameIndex {
        let mut patterns = Patterns::default();
        let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
        let mut learner_ids = Vec::new();
        for entry in entries {
            let learner = learner_ids.len() as u32;
            learner_ids.push(entry.learner_id);
            let mut families = Vec::new();
            for family_words in name_variants(&entry.family_name) {
                for form in family_forms(&family_words) {
                    let id = patterns.intern(&form);
                    patterns.roles[id as usize].family = true;
                    families.push(id);
                }
            }
            if families.is_empty() {
                continue;
            }
            let mut firsts: Vec<Vec<String>> = Vec::new();
            for words in
                std::iter::once(&entry.given_name).chain(entry.preferred_name.as_ref()).flat_map(|n| name_variants(n))
            {
                if words.len() > 1 {
                    // "Mary Anne" is also written "Mary" and "MaryAnne".
                    firsts.push(words[..1].to_vec());
                    firsts.push(vec![words.concat()]);
                }
                if !words.is_empty() {
                    firsts.push(words);
                }
            }
            firsts.sort();
            firsts.dedup();
            for first in &firsts {
                let given = patterns.intern(first);
                patterns.roles[given as usize].given = true;
                for &family in &families {
                    pairs.entry((given, family)).or_insert(learner);
                }
            }
        }
        let automaton = (!patterns.texts.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                // The noncontiguous NFA skips a second pass over ~100 000 patterns at build time;
                // texts are short, so the faster search of the other kinds would not pay it back.
                .kind(Some(AhoCorasickKind::NoncontiguousNFA))
                .build(&patterns.texts)
                .expect("name patterns are small and valid")
        });
        NameIndex {
            automaton,
            pattern_words: patterns.words,
            roles: patterns.roles,
            pairs,
            single_words: patterns.single_words,
            learner_ids,
        }
    }

    /// How many learners the index holds.
    pub fn len(&self) -> usize {
        self.learner_ids.len()
    }

    /// Whether the index holds nobody.
    pub fn is_empty(&self) -> bool {
        self.learner_ids.is_empty()
    }

    /// Every full name in `text`, in order of where it starts (the longer first). Matches of
    /// different learners may overlap ("Khan, Amira Khan"); a match inside another of the same
    /// learner is left out.
    pub fn find(&self, text: &str) -> Vec<NameMatch> {
        let Some(automaton) = &self.automaton else { return Vec::new() };
        let toks = tokens(text);
        if toks.is_empty() {
            return Vec::new();
        }
        let (joined, word_at) = join_words(toks.iter().map(|t| t.norm.as_str()));
        let mut found: Vec<NameMatch> = Vec::new();
        // Name parts found: (first word, word count, pattern).
        let mut starting: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
        let mut ending: HashMap<usize, Vec<(usize, u32)>> = HashMap::new();
        for (first, count, pattern) in self.parts(automaton, &joined, &word_at) {
            starting.entry(first).or_default().push((count, pattern));
            ending.entry(first + count - 1).or_default().push((first, pattern));
        }
        // Family names found: (first word, word count, pattern, written with a possessive "s"
        // and no apostrophe).
        let mut families: Vec<(usize, usize, u32, bool)> = Vec::new();
        for (&first, parts) in &starting {
            for &(count, pattern) in parts {
                if self.roles[pattern as usize].family {
                    families.push((first, count, pattern, false));
                }
            }
        }
        // "Amira Khans robot": a word ending in "s" that is not itself a family name on record is
        // also read without it, as a possessive whose apostrophe was left out.
        let plural: Vec<bool> = toks.iter().map(|t| self.may_be_plural(t)).collect();
        if plural.contains(&true) {
            let words = toks.iter().zip(&plural).map(|(t, &s)| if s { &t.norm[..t.norm.len() - 1] } else { &t.norm });
            let (joined, word_at) = join_words(words);
            for (first, count, pattern) in self.parts(automaton, &joined, &word_at) {
                if self.roles[pattern as usize].family && plural[first + count - 1] {
                    families.push((first, count, pattern, true));
                }
            }
        }
        // Hashtags and handles: "#AmiraKhan", "KhanAmira".
        for token in &toks {
            self.find_joined(text, token, &mut found);
        }
        for (first, count, pattern, plural_s) in families {
            let (family_first, family_last) = (first, first + count - 1);
            let possessive = toks[family_last].possessive || plural_s;
            // A family name in capitals is written as a name, not as a common word.
            let family_capitalised = toks[family_first..=family_last].iter().any(|t| t.capitalised);
            let mut lowercase_middle = false;
            // Given [middle…] Family.
            for middle in 0..=MAX_MIDDLE {
                let Some(given_last) = family_first.checked_sub(middle + 1) else { break };
                let next = &toks[given_last + 1];
                if next.break_before {
                    break;
                }
                if middle > 0 {
                    if next.possessive || STOP_WORDS.contains(&next.norm.as_str()) {
                        break;
                    }
                    lowercase_middle |= next.lowercase_word();
                }
                for &(given_first, given) in ending.get(&given_last).into_iter().flatten() {
                    // "Amira wore brown": lowercase words before a lowercase family name after
                    // a capitalised given name read as a sentence; "amira jane khan" and
                    // "Amira jane Khan" as a name.
                    let sentence = lowercase_middle
                        && !family_capitalised
                        && toks[given_first..=given_last].iter().any(|t| t.capitalised);
                    if sentence || (middle > 0 && toks[given_last].possessive) {
                        continue;
                    }
                    if let Some(learner) = self.pair(given, pattern) {
                        found.push(self.matched(
                            &toks,
                            given_first..family_last + 1,
                            given_first..given_last + 1,
                            learner,
                            possessive,
                        ));
                    }
                    // "Amira and Liam Khan": the given names listed before this one take its
                    // family name too.
                    if middle == 0 && self.roles[given as usize].given && !toks[given_last].possessive {
                        self.listed_before(
                            &toks,
                            &ending,
                            given_first,
                            given_last,
                            family_last,
                            pattern,
                            possessive,
                            &mut found,
                        );
                    }
                }
            }
            // Family Given ("Khan Amira", "Khan, Amira"); a plural is not a family name there.
            if plural_s || toks.get(family_last + 1).is_none_or(|t| t.break_before) {
                continue;
            }
            for &(count, given) in starting.get(&(family_last + 1)).into_iter().flatten() {
                if let Some(learner) = self.pair(given, pattern) {
                    let given_last = family_last + count;
                    found.push(self.matched(
                        &toks,
                        family_first..given_last + 1,
                        family_last + 1..given_last + 1,
                        learner,
                        false,
                    ));
                }
            }
        }
        // Leftmost, then longest, then the longest first name (what a redaction keeps).
        found.sort_by(|a, b| {
            (a.start, Reverse(a.end), &a.learner_id, Reverse(a.first_name.len())).cmp(&(
                b.start,
                Reverse(b.end),
                &b.learner_id,
                Reverse(b.first_name.len()),
            ))
        });
        let mut kept: Vec<NameMatch> = Vec::with_capacity(found.len());
        for m in found {
            let inside = kept.iter().any(|k| k.learner_id == m.learner_id && k.start <= m.start && m.end <= k.end);
            if !inside {
                kept.push(m);
            }
        }
        kept
    }

    /// Full names split across `texts` read together, in order, separated by single spaces: a
    /// given name in one tag and the family name in the next. Offsets are in
    /// `texts.join(" ")`; a name wholly inside one text is left to the check of that text.
    pub fn find_across(&self, texts: &[&str]) -> Vec<NameMatch> {
        if texts.len() < 2 {
            return Vec::new();
        }
        let joined = texts.join(" ");
        let ranges = join_ranges(texts);
        let text_of = |at: usize| ranges.iter().position(|r| at < r.end + 1).unwrap_or(ranges.len());
        self.find(&joined).into_iter().filter(|m| text_of(m.start) != text_of(m.end.saturating_sub(1))).collect()
    }

    /// `text` with every full name cut to the first name, again and again until no full name is
    /// left (cutting can bring words together into a new name): what is suggested is final.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        loop {
            let found = self.find(&text);
            if found.is_empty() {
                return text;
            }
            // Each round makes the text shorter (a family name goes), so this ends.
            text = suggest_redaction(&text, &found);
        }
    }

    /// `tags` with every full name cut to the first name, within each tag and across them ("Amira",
    /// "Khan" → "Amira"), until none is left either way. A tag left empty by a cut goes.
    pub fn redact_tags(&self, tags: &[&str]) -> Vec<String> {
        let mut tags: Vec<String> = tags.iter().map(|t| self.redact(t)).collect();
        loop {
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let found = self.find_across(&refs);
            if found.is_empty() {
                return tags;
            }
            let joined = refs.join(" ");
            let cuts = cuts(&found);
            let mut next = Vec::with_capacity(tags.len());
            for range in join_ranges(&refs) {
                let mut tag = String::new();
                let mut at = range.start;
                for cut in cuts.iter().filter(|c| c.span.start < range.end && range.start < c.span.end) {
                    let (from, to) = (cut.span.start.max(range.start), cut.span.end.min(range.end));
                    tag.push_str(&joined[at..from]);
                    if range.contains(&cut.keep.start) {
                        push_kept(&mut tag, &joined[cut.keep.start..cut.keep.end.min(range.end)], cut.suffix);
                    }
                    at = to;
                }
                tag.push_str(&joined[at..range.end]);
                let cut = at != range.start;
                let emptied = cut && tag.trim().is_empty();
                if cut {
                    // "Khan Academy" less "Khan" is "Academy", not " Academy".
                    tag = tag.trim().to_string();
                }
                if !emptied {
                    // A cut inside a tag can bring words together; each round checks tags alone too.
                    next.push(self.redact(&tag));
                }
            }
            // Each round makes the tags shorter, so this ends.
            tags = next;
        }
    }

    fn pair(&self, given: u32, family: u32) -> Option<u32> {
        if !self.roles[given as usize].given {
            return None;
        }
        self.pairs.get(&(given, family)).copied()
    }

    /// The match of `learner` over the words `words`, keeping the words `given`.
    fn matched(
        &self,
        toks: &[Token],
        words: Range<usize>,
        given: Range<usize>,
        learner: u32,
        possessive: bool,
    ) -> NameMatch {
        NameMatch {
            learner_id: self.learner_ids[learner as usize].clone(),
            start: toks[words.start].span.start,
            end: toks[words.end - 1].span.end,
            first_name: toks[given.start].span.start..toks[given.end - 1].span.end,
            possessive,
        }
    }

    /// The name parts in `joined` (words joined as [`join_words`] joins them): (first word, word
    /// count, pattern) of each.
    fn parts<'a>(
        &'a self,
        automaton: &'a AhoCorasick,
        joined: &'a str,
        word_at: &'a [u32],
    ) -> impl Iterator<Item = (usize, usize, u32)> + 'a {
        automaton.find_overlapping_iter(joined).filter_map(|m| {
            let first = word_at[m.start()];
            // A match that starts inside a word is no name part.
            (first != u32::MAX).then(|| {
                let pattern = m.pattern().as_u32();
                (first as usize, self.pattern_words[pattern as usize] as usize, pattern)
            })
        })
    }

    /// Whether `word` (folded) is a family name, or one word of one, on record.
    fn is_family_word(&self, word: &str) -> bool {
        self.single_words.get(word).is_some_and(|&p| self.roles[p as usize].family)
    }

    /// Whether `token` may be a family name with a possessive "s" and no apostrophe ("Khans"):
    /// it ends in "s", has no apostrophe possessive already, and is not a family name on record
    /// as it is ("Evans" stays Evans when an Evans is on record).
    fn may_be_plural(&self, token: &Token) -> bool {
        !token.possessive && token.norm.len() > 2 && token.norm.ends_with('s') && !self.is_family_word(&token.norm)
    }

    /// Given names listed before the one at `head..=given_last`, joined by "and", "&" or commas,
    /// each with the family name ending at `family_last`: "Amira and Liam Khan", "Amira, Ben &
    /// Liam Khan". Each learner so named in full is a match from their given name to the family
    /// name, keeping every listed given name ("Amira and Liam").
    #[allow(clippy::too_many_arguments)]
    fn listed_before(
        &self,
        toks: &[Token],
        ending: &HashMap<usize, Vec<(usize, u32)>>,
        mut head: usize,
        given_last: usize,
        family_last: usize,
        family: u32,
        possessive: bool,
        found: &mut Vec<NameMatch>,
    ) {
        for _ in 0..MAX_LISTED {
            let mut at = head;
            if toks[at].sentence_before {
                return;
            }
            let mut listed = toks[at].listed_after;
            if at >= 2 && toks[at - 1].norm == "and" {
                at -= 1;
                listed = true;
                if toks[at].sentence_before {
                    return;
                }
            }
            if !listed || at == 0 || toks[at - 1].possessive {
                return;
            }
            let mut next_head: Option<usize> = None;
            for &(given_first, given) in ending.get(&(at - 1)).into_iter().flatten() {
                if !self.roles[given as usize].given {
                    continue;
                }
                if let Some(learner) = self.pair(given, family) {
                    found.push(self.matched(
                        toks,
                        given_first..family_last + 1,
                        given_first..given_last + 1,
                        learner,
                        possessive,
                    ));
                }
                next_head = Some(next_head.map_or(given_first, |h| h.min(given_first)));
            }
            match next_head {
                Some(next) => head = next,
                None => return,
            }
        }
    }

    /// A full name written as the one word `token` ("amirakhan", "khanamira", and "amirakhans"
    /// as a possessive): every split of it into a given and a family name of one learner.
    fn find_joined(&self, text: &str, token: &Token, found: &mut Vec<NameMatch>) {
        self.split_joined(text, token, &token.norm, false, found);
        if !token.possessive && token.norm.len() > 2 && token.norm.ends_with('s') {
            self.split_joined(text, token, &token.norm[..token.norm.len() - 1], true, found);
        }
    }

    /// [`NameIndex::find_joined`] for `word`, the token's folded word or, when `plural_s`, that
    /// word less its final "s" (then only given-then-family, and only where the family name with
    /// its "s" is not a family name on record).
    fn split_joined(&self, text: &str, token: &Token, word: &str, plural_s: bool, found: &mut Vec<NameMatch>) {
        for (at, _) in word.char_indices().skip(1) {
            let (head, tail) = word.split_at(at);
            // Most heads are no name: the tail is looked up only after the head.
            let Some(&head) = self.single_words.get(head) else { continue };
            let Some(&tail_id) = self.single_words.get(tail) else { continue };
            if plural_s && self.is_family_word(&format!("{tail}s")) {
                continue;
            }
            let span = token.span.clone();
            let cut = folded_prefix_end(text, span.clone(), at);
            let given_first = (head, tail_id, span.start..cut);
            let family_first = (tail_id, head, cut..span.end);
            let orders = if plural_s { vec![given_first] } else { vec![given_first, family_first] };
            for (given, family, first_name) in orders {
                if let Some(learner) = self.pair(given, family) {
                    found.push(NameMatch {
                        learner_id: self.learner_ids[learner as usize].clone(),
                        start: span.start,
                        end: span.end,
                        first_name,
                        possessive: token.possessive || plural_s,
                    });
                }
            }
        }
    }
}

/// Where, in `text`, the word at `span` has given its first `folded` folded bytes, with the
/// combining marks and invisible characters that follow them.
fn folded_prefix_end(text: &str, span: Range<usize>, folded: usize) -> usize {
    let mut done = 0;
    let mut buffer = String::new();
    for (k, c) in text[span.clone()].char_indices() {
        if done >= folded && !is_combining_mark(c) && !is_invisible(c) {
            return span.start + k;
        }
        buffer.clear();
        fold_into(c, &mut buffer);
        done += buffer.len();
    }
    span.end
}

/// Where each of `texts` is in `texts.join(" ")`.
fn join_ranges(texts: &[&str]) -> Vec<Range<usize>> {
    let mut at = 0;
    texts
        .iter()
        .map(|t| {
            let range = at..at + t.len();
            at = range.end + 1;
            range
        })
        .collect()
}

/// One cut of a redaction: `span` is replaced by the text at `keep` and then `suffix`.
struct Cut {
    span: Range<usize>,
    keep: Range<usize>,
    suffix: &'static str,
}

/// The cuts for `matches`: overlapping or touching matches make one cut (dropping one of them
/// would leave its name in the text), which keeps the first name of the leftmost.
fn cuts(matches: &[NameMatch]) -> Vec<Cut> {
    let mut sorted: Vec<&NameMatch> = matches.iter().collect();
    sorted.sort_by_key(|m| (m.start, Reverse(m.end)));
    let mut out: Vec<Cut> = Vec::new();
    let mut k = 0;
    while k < sorted.len() {
        let lead = sorted[k];
        let (mut end, mut possessive) = (lead.end, lead.possessive);
        k += 1;
        while k < sorted.len() && sorted[k].start <= end {
            if sorted[k].end > end {
                end = sorted[k].end;
                possessive = sorted[k].possessive;
            } else if sorted[k].end == end {
                possessive |= sorted[k].possessive;
            }
            k += 1;
        }
        // The given name's own possessive (when it ends the cut) is already in its span.
        let suffix = if possessive && lead.first_name.end != end { "'s" } else { "" };
        out.push(Cut { span: lead.start..end, keep: lead.first_name.clone(), suffix });
    }
    out
}

/// Appends the first name a cut keeps, with the possessive suffix ("James'" rather than "James's").
fn push_kept(out: &mut String, first: &str, suffix: &str) {
    out.push_str(first);
    if !suffix.is_empty() {
        out.push_str(if first.ends_with(['s', 'S']) { "'" } else { suffix });
    }
}

/// The text with every full name found cut to the first name as written, keeping a possessive:
/// "Amira Khan's project" → "Amira's project", "Khan, Amira and Ben" → "Amira and Ben".
/// Overlapping matches are cut as one. One pass: [`NameIndex::redact`] repeats it until nothing
/// is found.
pub fn suggest_redaction(text: &str, matches: &[NameMatch]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for cut in cuts(matches) {
        out.push_str(&text[at..cut.span.start]);
        push_kept(&mut out, &text[cut.keep], cut.suffix);
        at = cut.span.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests;
