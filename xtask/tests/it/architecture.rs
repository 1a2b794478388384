//! The xtask's shape, read from its sources: data flows one way. In the library (`xtask/src`),
//! nothing below `tasks` names a task; in both crates (the library, and `xtask/tools` on top of
//! it) the top-level modules form no cycle (a reader finds each concept's dependencies below
//! it); `secrets` is a leaf; no test or tool reads a fact from what a run printed (its record
//! says it). Files are split by concept, never by length: no test counts lines.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use crate::support::workspace_root;

/// Each top-level module of a crate (`xtask/src`, `xtask/tools/src`) and the top-level modules
/// it names (`crate::x`).
fn graph(crate_src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace_root().join(crate_src);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        let text = fs::read_to_string(&file).unwrap();
        graph.entry(module.clone()).or_default().extend(references(&text).into_iter().filter(|m| *m != module));
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The first segment of every path after `crate::`, through `use crate::{a, b::{c}}` groups.
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        found.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn ident(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

#[test]
fn no_module_below_the_tasks_names_a_task() {
    let offenders: Vec<_> = graph("xtask/src")
        .into_iter()
        .filter(|(m, uses)| uses.contains("tasks") && m != "main" && m != "lib")
        .map(|(m, _)| m)
        .collect();
    assert!(offenders.is_empty(), "these modules reach into the tasks: {offenders:?}");
}

#[test]
fn the_modules_form_no_cycle_and_secrets_is_a_leaf() {
    let library = graph("xtask/src");
    assert!(library["secrets"].is_empty(), "secrets names {:?}", library["secrets"]);
    no_cycle(library);
    no_cycle(graph("xtask/tools/src"));
}

fn no_cycle(graph: BTreeMap<String, BTreeSet<String>>) {
    // Kahn's algorithm: whatever cannot be ordered lies on a cycle.
    let mut remaining = graph.clone();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !remaining.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            remaining.remove(&leaf);
        }
    }
    assert!(remaining.is_empty(), "these modules are on a cycle: {remaining:#?}");
}

#[test]
fn the_reader_finds_every_kind_of_reference() {
    let text = "use crate::{a::b, c, d::{e, f}};\nlet x = crate::g::h();\nuse crate::{\n    i,\n    j::{self, k},\n};";
    assert_eq!(references(text), ["a", "c", "d", "g", "i", "j"].map(String::from).into());
}

/// What a run learned, in the words its log uses for it: a test or a tool reads these from the
/// run's record, never from what it printed.
const FACTS: [&str; 13] = [
    "pushed ",
    "already cached",
    "uploaded again",
    "re-signed",
    "deleting ",
    "deleted ",
    "up to date (",
    "OWN_TIME",
    "own time",
    "] Build",
    "hit rate",
    "repaired",
    "published",
];

/// A line that reads one of [`FACTS`] from a run's output.
fn reads_a_fact(line: &str) -> bool {
    let reads = ["stderr.contains(", "stdout.contains(", "stderr.matches(", "stdout.matches(", ".lines()"];
    // A fact is read where a literal starts or ends with it (`contains("pushed ")`); a step's
    // header, shown in full, is the log's rendering, tested as such.
    reads.iter().any(|r| line.contains(r))
        && FACTS.iter().any(|fact| line.contains(&format!("\"{fact}")) || line.contains(&format!("{fact}\"")))
}

#[test]
fn no_test_or_tool_reads_a_fact_from_what_a_run_printed() {
    let mut found = Vec::new();
    for dir in ["xtask/tests", "xtask/tools/src"] {
        for file in rust_files(&workspace_root().join(dir)).into_iter().filter(|f| !f.ends_with("architecture.rs")) {
            let text = fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate().filter(|(_, l)| reads_a_fact(l)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "read these from the run's record (`--record`):\n{}", found.join("\n"));
}

#[test]
fn the_fact_reader_finds_a_scrape_and_leaves_a_message_alone() {
    assert!(reads_a_fact(r#"assert!(out.stderr.contains("pushed 9 path(s)"));"#));
    assert!(reads_a_fact(r#"let n = out.stdout.lines().filter(|l| l.starts_with("deleting ")).count();"#));
    assert!(!reads_a_fact(r#"assert!(out.stderr.contains("cannot push to {url}"));"#));
    assert!(reads_a_fact(r#"assert!(!second.stderr.contains("] Build"));"#));
    assert!(!reads_a_fact(r#"assert!(out.stderr.contains("==> [4/13] Build packages.x86_64-linux.deps"));"#));
    assert!(!reads_a_fact(r#"assert_eq!(record.pushed.paths, 9);"#));
}
