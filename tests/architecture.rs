//! Keeps the module graph as docs/ARCHITECTURE.md draws it: dependencies point one way, from
//! the faces (HTTP, WebSocket) to the services to the infrastructure to the domain types, with
//! no cycle, and only the faces and the wiring name actix. Reads `src/` as text: a `crate::x`
//! path in a file of module `y` is an edge `y -> x`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and its layer; a module may use modules of lower layers only, and the
/// ones listed as its same-layer neighbours. A new top-level module must be placed here.
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("config", 0),
    ("config_file", 0),
    ("db", 1),
    ("storage", 1),
    ("limits", 1),
    ("registry", 1),
    ("relay", 1),
    ("services", 2),
    ("http", 3),
    ("ws", 3),
    ("doctor", 4),
    ("admin", 4),
    ("lib", 4),
    ("openapi", 4),
    ("asyncapi", 4),
    ("startup", 4),
    ("main", 4),
];

/// Same-layer edges that are part of the design.
const ALLOWED_SIDEWAYS: &[(&str, &str)] = &[
    // the file beneath the flags reads the settings off their clap definition
    ("config_file", "config"),
    // the WebSocket face refuses upgrades in the HTTP envelope and authenticates like HTTP
    ("ws", "http"),
];

/// Modules that may name actix types: the faces and the wiring.
const MAY_USE_ACTIX: &[&str] = &["http", "ws", "lib", "main", "startup"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/http/auth.rs` -> `http`; `src/lib.rs` -> `lib`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// The code of a file without comments and without its `#[cfg(test)]` tail, which may use
/// anything.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The names right after each `prefix` in `code`, `prefix{a, b}` groups included.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let found: Vec<String> = match rest.strip_prefix('{') {
            Some(group) => {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').map(ident).collect()
            }
            None => vec![ident(rest)],
        };
        names.extend(found.into_iter().filter(|n| !n.is_empty()));
    }
    names
}

/// `crate::name` and `use crate::{a, b}` targets.
fn crate_refs(code: &str) -> BTreeSet<String> {
    names_after(code, "crate::")
}

fn graph() -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut actix_users = BTreeSet::new();
    let modules: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    for file in &files {
        let module = top_module(&src, file);
        let text = std::fs::read_to_string(file).expect("read a source file");
        let code = code_of(&text);
        if code.contains("actix") {
            actix_users.insert(module.clone());
        }
        let targets = edges.entry(module.clone()).or_default();
        for target in crate_refs(&code) {
            if target != module && modules.contains(target.as_str()) {
                targets.insert(target);
            }
        }
    }
    (edges, actix_users)
}

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

#[test]
fn every_module_has_a_layer() {
    let (edges, _) = graph();
    let unplaced: Vec<_> = edges.keys().filter(|m| layer(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules missing from LAYERS: {unplaced:?}"
    );
}

#[test]
fn dependencies_point_down_the_layers() {
    let (edges, _) = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &edges {
        let Some(from_layer) = layer(from) else {
            continue;
        };
        for to in targets {
            let Some(to_layer) = layer(to) else { continue };
            let sideways_ok = ALLOWED_SIDEWAYS.contains(&(from.as_str(), to.as_str()));
            if to_layer > from_layer || (to_layer == from_layer && !sideways_ok) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "edges against the layering: {wrong:?}");
}

#[test]
fn the_module_graph_has_no_cycle() {
    let (edges, _) = graph();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = find_cycle(node, &edges, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "import cycle: {cycle:?}");
    }
}

/// `src/services/chat/threads.rs` -> `services::chat`; `src/http/auth.rs` -> `http::auth`; a
/// top-level file or a `mod.rs` of a top-level directory -> `None` (no sibling to cycle with).
fn sub_module(src: &Path, file: &Path) -> Option<(String, String)> {
    let rel = file.strip_prefix(src).expect("under src");
    let parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    match parts.as_slice() {
        [top, sub, ..] if sub != "mod" => Some((top.clone(), sub.clone())),
        _ => None,
    }
}

/// References to siblings: `crate::top::x` anywhere, `super::x` in a file directly under `top/`.
fn sibling_refs(code: &str, top: &str, nested: bool) -> BTreeSet<String> {
    let mut refs = names_after(code, &format!("crate::{top}::"));
    if !nested {
        refs.extend(names_after(code, "super::"));
    }
    refs
}

#[test]
fn sibling_modules_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut subs: BTreeSet<String> = BTreeSet::new();
    for file in &files {
        if let Some((top, sub)) = sub_module(&src, file) {
            subs.insert(format!("{top}::{sub}"));
        }
    }
    for file in &files {
        let Some((top, sub)) = sub_module(&src, file) else {
            continue;
        };
        let rel_depth = file
            .strip_prefix(&src)
            .map_or(0, |r| r.components().count());
        let text = std::fs::read_to_string(file).expect("read a source file");
        let from = format!("{top}::{sub}");
        for name in sibling_refs(&code_of(&text), &top, rel_depth > 2) {
            let to = format!("{top}::{name}");
            if to != from && subs.contains(&to) {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = find_cycle(node, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle between sibling modules: {cycle:?}"
        );
    }
}

fn find_cycle(
    node: &str,
    edges: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_owned());
    for next in edges.get(node).into_iter().flatten() {
        if let Some(cycle) = find_cycle(next, edges, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn only_the_faces_and_the_wiring_name_actix() {
    let (_, actix_users) = graph();
    let wrong: Vec<_> = actix_users
        .iter()
        .filter(|m| !MAY_USE_ACTIX.contains(&m.as_str()))
        .collect();
    assert!(wrong.is_empty(), "modules naming actix: {wrong:?}");
}
