//! Invariants of the architecture, as tests (docs/ARCHITECTURE.md).

use std::collections::{BTreeSet, HashMap};

/// Crates that do I/O or bring a runtime: adapters' business, never the domain's.
const IO_CRATES: [&str; 12] = [
    "tokio",
    "mio",
    "diesel",
    "actix-web",
    "actix-http",
    "actix-rt",
    "lettre",
    "hyper",
    "reqwest",
    "sqlx",
    "libsqlite3-sys",
    "pq-sys",
];

/// `[[package]]` name → its dependencies' names, from the workspace's `Cargo.lock`
/// (the union over every feature the workspace uses: an over-approximation, so a
/// crate absent from it is surely absent).
fn lock_graph() -> HashMap<String, Vec<String>> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .expect("the workspace Cargo.lock");
    let mut graph = HashMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let name = block
            .lines()
            .find_map(|l| l.strip_prefix("name = \""))
            .and_then(|l| l.strip_suffix('"'))
            .expect("a package name")
            .to_owned();
        let deps = block
            .split_once("dependencies = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or_default())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().trim_end_matches(',').strip_prefix('"'))
            .filter_map(|l| l.trim_end_matches('"').split(' ').next())
            .map(str::to_owned)
            .collect();
        graph.entry(name).or_insert(deps);
    }
    graph
}

/// pat-core's normal (not dev) dependencies, from its manifest.
fn normal_dependencies() -> Vec<String> {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("pat-core's Cargo.toml");
    let section = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] section")
        .split("\n[")
        .next()
        .unwrap_or_default();
    section
        .lines()
        .filter_map(|l| l.split(['.', '=', ' ']).next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every package reachable from `roots` in `graph`.
fn reachable(graph: &HashMap<String, Vec<String>>, roots: Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = roots;
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).cloned().unwrap_or_default());
        }
    }
    seen
}

fn io_in(seen: &BTreeSet<String>) -> Vec<&'static str> {
    IO_CRATES
        .iter()
        .copied()
        .filter(|io| seen.contains(*io))
        .collect()
}

#[test]
fn pat_core_performs_no_io_not_even_through_a_dependency() {
    let graph = lock_graph();
    let roots = normal_dependencies();
    assert!(roots.contains(&"chrono".to_owned()), "parsed {roots:?}");
    let io = io_in(&reachable(&graph, roots));
    assert!(
        io.is_empty(),
        "pat-core reaches {io:?} through its dependencies: that belongs in an adapter"
    );
    // The walk does see I/O where it is: an adapter reaches its driver.
    let adapter = io_in(&reachable(&graph, vec!["pat-store-diesel".to_owned()]));
    assert!(adapter.contains(&"diesel"), "{adapter:?}");
}

#[test]
fn the_two_http_adapters_do_not_depend_on_each_other() {
    let graph = lock_graph();
    let web = reachable(&graph, vec!["pat-web".to_owned()]);
    assert!(
        !web.contains("pat-actix"),
        "pat-web reaches pat-actix: shared HTTP plumbing belongs in pat-http"
    );
    assert!(web.contains("pat-http"), "the walk sees pat-web's plumbing");
    let api = reachable(&graph, vec!["pat-actix".to_owned()]);
    assert!(!api.contains("pat-web"), "pat-actix reaches pat-web");
}
