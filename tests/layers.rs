//! The modules of src/ import downward only.
//!
//! Reads every `.rs` file under src/ with `syn`, resolves each path it uses (`use`
//! lines, and paths in code and types) to the file that defines the module it names,
//! and fails on
//! - any cycle among those files (a file that imports, through others, itself), and
//! - any import from one top-level module into another that is not on a lower floor of
//!   the layer table in docs/design.md (the table is read from there: one owner).
//!
//! A module's `mod` declarations are not imports; its `pub use` lines are. Paths inside
//! macro bodies are not seen. The planted-source tests prove the check catches a cycle
//! and an upward import.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use syn::visit::Visit;

/// A module, as its path from the crate root (`["worker", "format"]`; the root is `[]`).
type Module = Vec<String>;

/// What the check found.
#[derive(Debug, Default)]
struct Report {
    /// file module -> the file modules it imports (self edges left out).
    edges: BTreeMap<Module, BTreeSet<Module>>,
    /// Every cycle found, as the modules around it.
    cycles: Vec<Vec<Module>>,
    /// Imports against the layer order: (from, to, from's floor, to's floor).
    upward: Vec<(Module, Module, usize, usize)>,
    /// Top-level modules the layer table does not place.
    unplaced: BTreeSet<String>,
}

impl Report {
    fn failure(&self) -> Option<String> {
        let mut out = String::new();
        for cycle in &self.cycles {
            let names: Vec<_> = cycle.iter().map(show).collect();
            let _ = writeln!(out, "cycle: {} -> {}", names.join(" -> "), names[0]);
        }
        for (from, to, f, t) in &self.upward {
            let _ = writeln!(out, "upward import: {} (floor {f}) uses {} (floor {t})", show(from), show(to));
        }
        for m in &self.unplaced {
            let _ = writeln!(out, "module `{m}` is on no floor of the layer table in docs/design.md");
        }
        (!out.is_empty()).then_some(out)
    }
}

fn show(m: &Module) -> String {
    if m.is_empty() { "crate".to_owned() } else { m.join("::") }
}

/// The module a source file defines: `worker/format.rs` -> `worker::format`,
/// `reader/mod.rs` -> `reader`, `lib.rs` -> the root.
fn module_of(relative: &str) -> Module {
    let trimmed = relative.trim_end_matches(".rs");
    let mut parts: Module = trimmed.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Collects the module paths one file uses, resolved against the crate's modules.
struct Uses<'a> {
    modules: &'a BTreeSet<Module>,
    /// What the crate root re-exports (`pub use config::Config`): name -> module.
    root: &'a BTreeMap<String, Module>,
    /// The logical module the code stands in (the file's, plus inline `mod`s).
    here: Module,
    /// Paths as written, each with the module it was written in.
    found: Vec<(Module, Vec<String>)>,
}

impl Uses<'_> {
    fn note(&mut self, segments: Vec<String>) {
        self.found.push((self.here.clone(), segments));
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut path = prefix.clone();
                if n.ident != "self" {
                    path.push(n.ident.to_string());
                }
                self.note(path);
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.clone();
                path.push(r.ident.to_string());
                self.note(path);
            }
            syn::UseTree::Glob(_) => self.note(prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Uses<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if m.content.is_some() {
            self.here.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.here.pop();
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        if p.segments.len() > 1 {
            let segments = p.segments.iter().map(|s| s.ident.to_string()).collect();
            self.note(segments);
        }
        syn::visit::visit_path(self, p);
    }
}

impl Uses<'_> {
    /// The file module a path written in `here` leads into, if it names one of the
    /// crate's modules (`None` for other crates and local items).
    fn resolve(&self, here: &Module, path: &[String]) -> Option<Module> {
        let (mut base, rest): (Module, &[String]) = match path.first().map(String::as_str)? {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (here.clone(), &path[1..]),
            "super" => {
                let mut base = here.clone();
                let mut at = 0;
                while path.get(at).map(String::as_str) == Some("super") {
                    base.pop();
                    at += 1;
                }
                (base, &path[at..])
            }
            first => {
                let mut child = here.clone();
                child.push(first.to_owned());
                if !self.modules.contains(&child) {
                    return None;
                }
                (here.clone(), path)
            }
        };
        // The innermost file module: inline modules belong to their file.
        while !self.modules.contains(&base) {
            base.pop();
        }
        for (at, segment) in rest.iter().enumerate() {
            let mut next = base.clone();
            next.push(segment.clone());
            if !self.modules.contains(&next) {
                if base.is_empty() && at == 0 {
                    // `crate::Config`: where the root's re-export leads.
                    return Some(self.root.get(segment).cloned().unwrap_or_default());
                }
                break;
            }
            base = next;
        }
        Some(base)
    }
}

/// The layer table: module name -> floor, from the rows of docs/design.md's table whose
/// first cell is a number (the floor) and whose second names modules in backticks.
fn floors(design: &str) -> BTreeMap<String, usize> {
    let mut floors = BTreeMap::new();
    for line in design.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[0].is_empty() {
            continue;
        }
        let Ok(floor) = cells[1].parse::<usize>() else { continue };
        for name in cells[2].split('`').skip(1).step_by(2) {
            let name = name.trim_end_matches('/').trim_end_matches(".rs");
            assert!(floors.insert(name.to_owned(), floor).is_none(), "`{name}` is on two floors");
        }
    }
    floors
}

/// Checks the sources (`(path under src/, text)`) against the layer table.
fn check(files: &[(String, String)], floors: &BTreeMap<String, usize>) -> Report {
    let modules: BTreeSet<Module> = files.iter().map(|(p, _)| module_of(p)).collect();
    let parsed: Vec<_> =
        files.iter().map(|(p, t)| (p, syn::parse_file(t).unwrap_or_else(|e| panic!("src/{p}: {e}")))).collect();
    // The root's re-exports first: `crate::Config` is an import of config.
    let mut root = BTreeMap::new();
    if let Some((_, lib)) = parsed.iter().find(|(p, _)| p.as_str() == "lib.rs") {
        let none = BTreeMap::new();
        let mut uses = Uses { modules: &modules, root: &none, here: Vec::new(), found: Vec::new() };
        for item in &lib.items {
            if let syn::Item::Use(u) = item {
                uses.visit_item_use(u);
            }
        }
        for (here, segments) in &uses.found {
            if let (Some(name), Some(target)) = (segments.last(), uses.resolve(here, segments)) {
                root.insert(name.clone(), target);
            }
        }
    }
    let mut report = Report::default();
    for (path, file) in &parsed {
        let module = module_of(path);
        let mut uses = Uses { modules: &modules, root: &root, here: module.clone(), found: Vec::new() };
        uses.visit_file(file);
        let mut targets = BTreeSet::new();
        for (here, segments) in &uses.found {
            if let Some(target) = uses.resolve(here, segments) {
                // An import of an ancestor's own item (`super::X` from a child, `crate::X`)
                // is an edge to the ancestor; a path through it to a child is not.
                if target != module && !target.is_empty() {
                    targets.insert(target);
                }
            }
        }
        report.edges.insert(module, targets);
    }
    report.cycles = cycles(&report.edges);
    for (from, targets) in &report.edges {
        for to in targets {
            let (Some(a), Some(b)) = (from.first(), to.first()) else { continue };
            if a == b {
                continue;
            }
            match (floors.get(a), floors.get(b)) {
                (Some(&f), Some(&t)) if t >= f => report.upward.push((from.clone(), to.clone(), f, t)),
                (None, _) => {
                    report.unplaced.insert(a.clone());
                }
                (_, None) => {
                    report.unplaced.insert(b.clone());
                }
                _ => {}
            }
        }
    }
    for m in &modules {
        if let Some(top) = m.first().filter(|t| !floors.contains_key(*t)) {
            report.unplaced.insert(top.clone());
        }
    }
    report
}

/// Every strongly connected set of more than one module (Tarjan), as one cycle each.
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut set = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    set.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if set.len() > 1 {
                    set.reverse();
                    self.found.push(set);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn read_sources(src: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/");
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(src, src, &mut out);
    out
}

#[test]
fn src_imports_downward_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/design.md")).unwrap();
    let floors = floors(&design);
    assert!(floors.len() > 10, "docs/design.md's layer table was not found ({} modules)", floors.len());
    let files = read_sources(&root.join("src"));
    let report = check(&files, &floors);
    let edges: usize = report.edges.values().map(BTreeSet::len).sum();
    println!("{} files, {edges} imports between them", report.edges.len());
    for (from, to) in &report.edges {
        let to: Vec<_> = to.iter().map(show).collect();
        println!("  {} -> {}", show(from), to.join(", "));
    }
    // The resolver really sees imports: a broken one must not pass vacuously.
    let worker = report.edges.get(&vec!["worker".to_owned()]).expect("src/worker/mod.rs");
    assert!(worker.contains(&vec!["ring".to_owned()]), "worker's import of the ring was not seen");
    if let Some(failure) = report.failure() {
        panic!("src/ does not import downward only:\n{failure}");
    }
}

fn planted(files: &[(&str, &str)]) -> Report {
    let table = "| floor | modules | what |\n|---|---|---|\n| 0 | `low` | |\n| 1 | `mid` | |\n| 2 | `high` | |\n";
    let files: Vec<_> = files.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())).collect();
    check(&files, &floors(table))
}

#[test]
fn a_planted_cycle_is_caught() {
    let report = planted(&[
        ("lib.rs", "pub mod low; pub mod mid; pub mod high;"),
        ("low.rs", "pub struct A;"),
        ("mid/mod.rs", "pub mod a; pub mod b; pub use a::X;"),
        ("mid/a.rs", "use super::b::Y; pub struct X(Y);"),
        ("mid/b.rs", "pub struct Y; fn f() -> crate::mid::a::X { todo!() }"),
        ("high.rs", "use crate::mid::X; use crate::low::A;"),
    ]);
    let failure = report.failure().expect("the cycle mid::a <-> mid::b is not caught");
    assert!(failure.contains("cycle: mid::a -> mid::b -> mid::a"), "{failure}");
    assert!(report.upward.is_empty(), "{failure}");
}

#[test]
fn a_planted_upward_import_is_caught() {
    let report = planted(&[
        ("lib.rs", "pub mod low; pub mod mid; pub mod high;"),
        ("low.rs", "pub fn f() { crate::high::g(); }"),
        ("mid.rs", "pub use super::low::f;"),
        ("high.rs", "pub fn g() { crate::mid::f(); } mod tests { use super::g; }"),
    ]);
    let failure = report.failure().expect("low -> high is not caught");
    assert!(failure.contains("upward import: low (floor 0) uses high (floor 2)"), "{failure}");
    assert!(failure.contains("cycle: "), "low -> high -> mid -> low is a cycle too: {failure}");
    assert_eq!(report.upward.len(), 1, "{failure}");
}

#[test]
fn a_module_on_no_floor_is_named() {
    let report = planted(&[("lib.rs", "pub mod low; pub mod extra;"), ("low.rs", ""), ("extra.rs", "use crate::low;")]);
    let failure = report.failure().expect("extra is on no floor");
    assert!(failure.contains("module `extra` is on no floor"), "{failure}");
}
