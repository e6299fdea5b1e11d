//! The name check at scale: the index over 100 000 learners with about 100 000 distinct name parts
//! (2 000 given names shared as in a real roll, and a distinct family name for nearly everyone,
//! so the automaton is as large as a real roll can make it), and one 200-character caption
//! checked against it, with and without a full name in it.

use std::collections::HashSet;

use consentgate::policy::names::{suggest_redaction, NameEntry, NameIndex};
use criterion::{criterion_group, criterion_main, Criterion};

const SYLLABLES: [&str; 24] = [
    "a", "ba", "ka", "da", "el", "fi", "go", "ha", "io", "ja", "ke", "li", "mo", "na", "or", "pa", "ri", "sa", "tu",
    "va", "we", "yo", "zi", "en",
];

/// A pronounceable name of `syllables` syllables, the `k`th in mixed-radix order: distinct `k`
/// below 24^`syllables` give distinct spellings of the syllable sequence.
fn name(k: usize, syllables: u32) -> String {
    let mut name: String = (0..syllables).map(|s| SYLLABLES[(k / 24usize.pow(s)) % 24]).collect();
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    name
}

fn roster() -> Vec<NameEntry> {
    let givens: Vec<String> = (0..2_000).map(|k| name(k * 7 + 11, 3)).collect();
    // 24^4 = 331 776 four-syllable names; a stride coprime with 24 spreads them over every syllable.
    let families: Vec<String> = (0..100_000).map(|k| name((k * 13 + 5) % 331_776, 4)).collect();
    (0..100_000)
        .map(|i| NameEntry {
            learner_id: format!("l{i}"),
            given_name: givens[(i * 7919) % givens.len()].clone(),
            preferred_name: None,
            family_name: families[i].clone(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let entries = roster();
    // Different syllable sequences can spell the same string: count the parts the automaton gets.
    let parts: HashSet<&str> = entries.iter().flat_map(|e| [e.given_name.as_str(), e.family_name.as_str()]).collect();
    eprintln!("names: {} learners, {} distinct name parts", entries.len(), parts.len());
    let mut group = c.benchmark_group("names");
    group.sample_size(10);
    group.bench_function("build_100k", |b| b.iter(|| NameIndex::build(entries.clone())));
    group.finish();

    let index = NameIndex::build(entries.clone());
    let named = &entries[4242];
    let filler = "Level 2 bricklaying learners built a garden wall for the community centre this week, \
                  with pointing and coping finished to a high standard; thanks to the site team";
    let with_name = format!("{filler} and {} {}.", named.given_name, named.family_name);
    let without = format!("{filler} and everyone who helped.");
    assert_eq!(index.find(&with_name).len(), 1);
    assert!(index.find(&without).is_empty());
    c.bench_function("names/find_200_chars_with_a_name", |b| b.iter(|| index.find(&with_name)));
    c.bench_function("names/find_200_chars_without", |b| b.iter(|| index.find(&without)));
    c.bench_function("names/redact_200_chars", |b| b.iter(|| suggest_redaction(&with_name, &index.find(&with_name))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
