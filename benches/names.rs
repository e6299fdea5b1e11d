//! The name check at scale: the index over 100 000 learners (500 given names and 1 000 family
//! names, so names repeat as they do in a real roll), and one 200-character caption checked against
//! it, with and without a full name in it.

use consentgate::policy::names::{suggest_redaction, NameEntry, NameIndex};
use criterion::{criterion_group, criterion_main, Criterion};

/// Distinct pronounceable names from syllables: `n` of them.
fn names(n: usize, seed: usize) -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "a", "ba", "ka", "da", "el", "fi", "go", "ha", "io", "ja", "ke", "li", "mo", "na", "or", "pa", "ri", "sa",
        "tu", "va", "we", "yo", "zi", "en",
    ];
    (0..n)
        .map(|i| {
            let k = i + seed;
            let mut name: String = [SYLLABLES[k % 24], SYLLABLES[(k / 24) % 24], SYLLABLES[(k / 576) % 24]].concat();
            if let Some(first) = name.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            name
        })
        .collect()
}

fn roster() -> Vec<NameEntry> {
    let givens = names(500, 7);
    let families = names(1000, 3001);
    (0..100_000)
        .map(|i| NameEntry {
            learner_id: format!("l{i}"),
            given_name: givens[i % 500].clone(),
            preferred_name: None,
            family_name: families[(i * 7919) % 1000].clone(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let entries = roster();
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
