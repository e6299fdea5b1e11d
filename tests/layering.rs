//! The shape of the code, checked: imports run one way (main → service → {http, app}; http → app →
//! {store, objects, policy, media, roster}), `http` never calls the store or the object store
//! itself, the pure core does no IO, no page calls a JSON handler or compares an error code, and no
//! source file is over 800 lines unless most of it is tests. These are
//! read from the source text, so a change that breaks one fails here rather than in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, with its text up to its `#[cfg(test)] mod tests` (tests may use
/// anything).
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = match text.find("#[cfg(test)]\nmod tests") {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                out.push((path, code));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out.sort();
    out
}

/// The top-level module a file belongs to (`app`, `http`, `store`, `service`…; `main` and `lib`
/// for the crate roots).
fn module_of(path: &Path) -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let relative = path.strip_prefix(&src).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The code without comments, so a doc comment naming a module is not an import.
fn without_comments(code: &str) -> String {
    code.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The top-level modules `code` refers to through `crate::…`, including inside `use crate::{a, b}`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let code = without_comments(code);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Which top-level module uses which.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in sources() {
        let from = module_of(&path);
        let uses = graph.entry(from.clone()).or_default();
        for to in crate_references(&code) {
            if to != from {
                uses.insert(to);
            }
        }
    }
    graph
}

#[test]
fn imports_run_one_way() {
    let graph = module_graph();
    // What each layer may not import. The pure core does no IO; the use cases know nothing of
    // HTTP or start-up; the adapters below the use cases never call up into them.
    let forbidden: &[(&str, &[&str])] = &[
        ("media", &["store", "objects", "http", "app", "service", "config"]),
        ("policy", &["store", "objects", "http", "app", "service", "config"]),
        ("roster", &["store", "objects", "http", "app", "service", "config"]),
        ("store", &["objects", "http", "app", "service"]),
        ("objects", &["store", "http", "app", "service"]),
        ("mail", &["store", "objects", "http", "app", "service"]),
        ("app", &["http", "service"]),
        ("http", &["service"]),
    ];
    let mut broken = Vec::new();
    for (module, never) in forbidden {
        for target in graph.get(*module).into_iter().flatten() {
            if never.contains(&target.as_str()) {
                broken.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(broken.is_empty(), "imports against the layering: {broken:?}\ngraph: {graph:#?}");
    // And no circle at all between top-level modules.
    fn reaches(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str, seen: &mut BTreeSet<String>) -> bool {
        graph
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
    }
    for module in graph.keys() {
        assert!(
            !reaches(&graph, module, module, &mut BTreeSet::new()),
            "{module} imports itself through others: {graph:#?}"
        );
    }
}

#[test]
fn pages_call_use_cases_not_json_handlers() {
    for (path, code) in sources() {
        let shown = path.display().to_string();
        if !shown.contains("/http/pages/") {
            continue;
        }
        let code = without_comments(&code);
        for handler in ["http::photos", "http::queue", "http::consents", "http::learners", "http::audit"] {
            assert!(!code.contains(handler), "{shown} calls the JSON handlers of {handler}");
        }
        // Outcomes are typed: a page never decides by an error's code or an answer's status.
        for comparison in [".code ==", ".code !=", "e.status ==", ".status() =="] {
            assert!(!code.contains(comparison), "{shown} compares {comparison}");
        }
    }
}

#[test]
fn no_source_file_is_over_800_lines_unless_most_of_it_is_tests() {
    for (path, code) in sources() {
        let total = std::fs::read_to_string(&path).unwrap().lines().count();
        let outside_tests = code.lines().count();
        assert!(
            total <= 800 || outside_tests * 2 < total,
            "{} has {total} lines, {outside_tests} of them outside its tests",
            path.display()
        );
    }
}

#[test]
fn http_reaches_the_store_and_objects_only_through_use_cases() {
    for (path, code) in sources() {
        let shown = path.display().to_string();
        if !shown.contains("/src/http/") {
            continue;
        }
        let code = without_comments(&code);
        for call in [".store.", ".objects."] {
            assert!(!code.contains(call), "{shown} calls {call} directly instead of a use case in app");
        }
    }
}

#[test]
fn the_checks_read_what_they_claim() {
    // The reader finds the references this test relies on, in each of their forms.
    let code =
        "use crate::app::{self, Actor};\nuse crate::{cli, service};\nfn f() { crate::store::now_ms() } // crate::http";
    assert_eq!(
        crate_references(code),
        ["app", "cli", "service", "store"].into_iter().map(String::from).collect::<BTreeSet<_>>()
    );
    let graph = module_graph();
    assert!(graph["http"].contains("app"), "http calls app: {graph:#?}");
    assert!(graph["service"].contains("http"), "service serves http: {graph:#?}");
    assert!(graph["app"].contains("store"), "app calls store: {graph:#?}");
}

/// No file imports itself through others either, at the finer grain of files (`scripts/import-graph`
/// follows `crate::`, `super::` and child-module paths file by file): a module's `mod.rs` uses its
/// children, and the children import from their siblings, never back from `mod.rs`.
#[test]
fn no_file_imports_itself_through_others() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("scripts/import-graph"))
        .arg(root.join("src"))
        .output()
        .expect("python3 runs scripts/import-graph");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && printed.contains("file-level cycles: 0"), "{printed}");
}
