//! The server's import structure, read from its source: no module imports
//! one that (directly or through others) imports it back, and no layer
//! imports one above it (http → appliance → engine → store). Only paths
//! are read (`crate::…`, `super::…`), not what a method call reaches; test
//! modules (`#[cfg(test)]` to the end of a file) are left out.

// Reading its own source: a file that cannot be read fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, with the module path it defines.
fn modules(dir: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap().with_extension("");
                let mut module: Module = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                found.insert(module, path);
            }
        }
    }
    found
}

/// The source without comments, string literals or test modules.
fn code_of(source: &str) -> String {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .map(|line| {
            // Text inside "..." cannot name a module.
            let mut out = String::new();
            let mut in_string = false;
            let mut escaped = false;
            for c in line.chars() {
                match (in_string, escaped, c) {
                    (true, true, _) => escaped = false,
                    (true, false, '\\') => escaped = true,
                    (true, false, '"') => in_string = false,
                    (true, false, _) => {}
                    (false, _, '"') => in_string = true,
                    (false, _, c) => out.push(c),
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths a file names: each `crate::a::b` or `super::a`, with one
/// level of `{a, b::c}` spelled out.
fn paths_in(code: &str, me: &Module) -> Vec<Module> {
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':';
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        if starts_word && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let (base, mut j) = if rest.starts_with("crate::") {
                (Vec::new(), i + 7)
            } else {
                let mut base = me.clone();
                let mut j = i;
                while chars[j..].iter().collect::<String>().starts_with("super::") {
                    base.pop();
                    j += 7;
                }
                (base, j)
            };
            let mut path = base;
            loop {
                if chars.get(j) == Some(&'{') {
                    let end = chars[j..].iter().position(|c| *c == '}').unwrap_or(0) + j;
                    let inner: String = chars[j + 1..end].iter().collect();
                    for item in inner.split(',') {
                        let mut sub = path.clone();
                        sub.extend(
                            item.trim()
                                .split("::")
                                .map(|s| s.trim().to_owned())
                                .filter(|s| !s.is_empty() && s.chars().all(is_ident)),
                        );
                        paths.push(sub);
                    }
                    j = end;
                    break;
                }
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                if j > start {
                    path.push(chars[start..j].iter().collect());
                }
                if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                    j += 2;
                    continue;
                }
                break;
            }
            paths.push(path);
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    paths
}

/// Which module each module imports.
fn imports() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut graph = BTreeMap::new();
    for (me, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut targets = BTreeSet::new();
        for path in paths_in(&code, me) {
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix));
            if let Some(target) = target
                && &target != me
                && !me.starts_with(&target)
            {
                targets.insert(target);
            }
        }
        graph.insert(me.clone(), targets);
    }
    graph
}

/// The groups of modules that import each other round, by Tarjan's
/// algorithm.
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(w: &mut Walk<'g>, v: &'g Module) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for t in &w.graph[v] {
            if !w.index.contains_key(t) {
                visit(w, t);
                let low = w.low[v].min(w.low[t]);
                w.low.insert(v, low);
            } else if w.stack.contains(&t) {
                let low = w.low[v].min(w.index[t]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(m) = w.stack.pop() {
                group.push(m.join("::"));
                if m == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.found.push(group);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

#[test]
fn no_module_of_the_server_imports_one_that_imports_it_back() {
    let graph = imports();
    assert!(
        graph.len() > 100,
        "only {} modules read: the reader is broken",
        graph.len()
    );
    // The reader must see what it looks for: the engine's runtime names
    // the store.
    assert!(
        graph[&vec!["engine".to_owned(), "runtime".to_owned()]].contains(&vec!["store".to_owned()]),
        "{:?}",
        graph[&vec!["engine".to_owned(), "runtime".to_owned()]]
    );
    assert_eq!(circles(&graph), Vec::<Vec<String>>::new());
}

#[test]
fn each_layer_imports_only_the_layers_below_it() {
    // From the top: a layer may import any layer after it, none before.
    const LAYERS: [&str; 4] = ["http", "appliance", "engine", "store"];
    let mut wrong = Vec::new();
    for (from, targets) in imports() {
        let Some(at) = LAYERS
            .iter()
            .position(|l| from.first().map(String::as_str) == Some(l))
        else {
            continue;
        };
        for to in targets {
            let above = LAYERS[..at]
                .iter()
                .any(|l| to.first().map(String::as_str) == Some(l));
            if above {
                wrong.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert_eq!(wrong, Vec::<String>::new());
}

#[test]
fn the_reader_finds_a_circle_where_there_is_one() {
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Module>();
    let graph = BTreeMap::from([
        (m("a"), BTreeSet::from([m("b")])),
        (m("b"), BTreeSet::from([m("c")])),
        (m("c"), BTreeSet::from([m("a")])),
        (m("d"), BTreeSet::from([m("a")])),
    ]);
    assert_eq!(circles(&graph), vec![vec!["a", "b", "c"]]);
    let paths = paths_in(
        "use super::{EngineError, guest::Guest};\nlet x = crate::store::hosts::list;",
        &m("engine::driver"),
    );
    assert!(paths.contains(&m("engine::guest::Guest")), "{paths:?}");
    assert!(paths.contains(&m("store::hosts::list")), "{paths:?}");
}
