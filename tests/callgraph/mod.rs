//! A call-graph checker over the crate's own source text: which forbidden call can a
//! notify callback reach? Shared by `tests/forbidden_calls.rs` (the real source) and its
//! test of the test (planted sources).
//!
//! It parses every file with `syn` as text (the Windows-only driver included), keeps
//! what the *driver build* compiles (`cfg` evaluated for `target_os = "windows"`, not
//! `test`, not `loom`; unknown predicates count as true), builds a graph over the
//! crate's functions (free fns, inherent and trait-impl methods, trait default methods;
//! closures and nested items belong to their enclosing fn) and walks it from the
//! callbacks. Calls are resolved by name and over-approximated: a method call follows
//! every crate method of that name unless the receiver is `self`, a field of `self` or
//! a parameter whose declared type is a crate type; a path call follows the `use`
//! imports of its module and falls back to every function of that name. Implicit calls
//! (`Drop`, operator and formatting traits) are edges from any fn that names the type.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::{self, Write as _};
use std::path::Path;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, Item, Meta, Token};

/// One source file: its path relative to the crate root (`src/driver/thread.rs`) and text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path relative to the crate root, with `/` separators.
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// Every `.rs` file under `root/src`, sorted by path.
///
/// # Errors
/// A directory or file that cannot be read.
pub fn read_crate_sources(root: &Path) -> Result<Vec<SourceFile>, String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<SourceFile>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                walk(&path, root, out)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                out.push(SourceFile { path: rel, text });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&root.join("src"), root, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// What to check.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Names of the notify callbacks (the roots).
    pub callbacks: Vec<&'static str>,
    /// The callbacks must be defined under this directory.
    pub callback_dir: &'static str,
    /// The scheduler's single gate: `(type, method)`.
    pub gate: (&'static str, &'static str),
    /// The trait method the gate calls to queue the work item: `(trait, method)`.
    pub queue_trait: (&'static str, &'static str),
}

impl Settings {
    /// notifyring's callbacks, gate and work-queue trait.
    #[must_use]
    pub fn notifyring() -> Self {
        Self {
            // The three notify routines and the timers' DPCs (DISPATCH_LEVEL: the same
            // rules, and stricter ones the same checks already cover).
            callbacks: vec!["on_process", "on_thread", "on_image", "timer_dpc", "sweep_dpc"],
            callback_dir: "src/driver/",
            gate: ("Schedule", "wake"),
            queue_trait: ("WorkQueue", "queue"),
        }
    }
}

/// A forbidden call family.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Short name.
    pub id: &'static str,
    /// The rule, as the failure message states it.
    pub what: &'static str,
}

pub const WAIT: Rule = Rule {
    id: "wait",
    what: "a callback must never wait (KeWaitFor*, KeDelayExecutionThread, sleeps, parks, condition variables, blocking receives or joins)",
};
pub const LOCK: Rule = Rule {
    id: "blocking-lock",
    what: "a callback must not take a lock that can block (ExAcquire*, KeAcquire*Mutex*, push locks, mutexes)",
};
pub const REGISTRY: Rule =
    Rule { id: "registry", what: "a callback must not touch the registry (Zw*Key*, Rtl*Registry*, Cm*)" };
pub const SYSCALL: Rule =
    Rule { id: "zw-nt", what: "a callback must not make Zw*/Nt* system service calls (file I/O, IPC, waits)" };
pub const FILTER: Rule = Rule { id: "flt", what: "a callback must not call the filter manager (Flt*)" };
pub const OB_BY_NAME: Rule = Rule { id: "ob-by-name", what: "a callback must not look objects up by name (Ob*ByName)" };
pub const IRP: Rule = Rule { id: "io-call-driver", what: "a callback must not send IRPs (IoCallDriver)" };
pub const POOL: Rule = Rule {
    id: "allocation",
    what: "a callback must not allocate (ExAllocatePool*, Box, Vec/String growth, format!, alloc::)",
};
pub const PRINT: Rule =
    Rule { id: "print", what: "a callback must not print (DbgPrint* can stall on the debugger; println!, print!)" };
pub const PANIC: Rule = Rule {
    id: "panic",
    what: "a callback must not panic: under wdk-panic a panic is a bug check (panic!, unwrap, expect, assert!, unreachable!, todo!)",
};
pub const NOTIFY_REGISTRATION: Rule = Rule {
    id: "notify-registration",
    what: "a callback must not (un)register notify routines: removal waits for the callbacks in flight",
};
pub const QUEUE_GATE: Rule = Rule {
    id: "work-item-gate",
    what: "the work item may be queued (IoQueueWorkItem) only inside the WorkQueue::queue impl, reached only through Schedule::wake",
};
pub const UNVETTED: Rule = Rule {
    id: "unvetted-kernel-api",
    what: "a callback may call only kernel routines vetted as non-blocking (see `callgraph::CALLBACK_SAFE`, and `CALLBACK_SAFE_IN` for one callback only); add it there only with the documentation's word that it never waits",
};
pub const INDIRECT: Rule = Rule {
    id: "indirect-call",
    what: "a callback must not call through a value the checker cannot resolve (fn pointer or closure field)",
};

/// One step of a call chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Function (or forbidden callee) name.
    pub name: String,
    /// `file:line` of its definition (or of the call, for the last hop).
    pub at: String,
}

/// A forbidden call a callback can reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule broken.
    pub rule: &'static Rule,
    /// Callback → … → the forbidden call (last hop).
    pub chain: Vec<Hop>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[{}] {}", self.rule.id, self.rule.what)?;
        let names: Vec<&str> = self.chain.iter().map(|h| h.name.as_str()).collect();
        writeln!(f, "    chain: {}", names.join(" → "))?;
        for (i, hop) in self.chain.iter().enumerate() {
            let role = if i + 1 == self.chain.len() { "call at" } else { "defined at" };
            writeln!(f, "      {:>2}. {} ({role} {})", i, hop.name, hop.at)?;
        }
        Ok(())
    }
}

/// The checker's findings.
#[derive(Debug, Default)]
pub struct Report {
    /// Every forbidden call reachable from a callback (and every queue call outside the gate).
    pub violations: Vec<Violation>,
    /// Callbacks of [`Settings::callbacks`] not found under the callback directory.
    pub missing_callbacks: Vec<String>,
    /// Where the callbacks were looked for.
    pub callback_dir: String,
    /// Files that did not parse.
    pub parse_errors: Vec<String>,
    /// Per callback: the functions it reaches (display names), sorted.
    pub reachable: BTreeMap<String, BTreeSet<String>>,
    /// Modules left out because their `cfg` is false in the driver build.
    pub excluded_modules: Vec<String>,
    /// Files parsed, functions in the graph, edges.
    pub files: usize,
    /// Functions (and pseudo-nodes for consts and macros) in the graph.
    pub functions: usize,
    /// Resolved call edges.
    pub edges: usize,
}

impl Report {
    /// Whether `callback` reaches a function displayed as `function`.
    #[must_use]
    pub fn reaches(&self, callback: &str, function: &str) -> bool {
        self.reachable.get(callback).is_some_and(|r| r.contains(function))
    }

    /// `None` if the check passed; otherwise the whole failure message.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        let mut msg = String::new();
        for e in &self.parse_errors {
            let _ = writeln!(msg, "parse error (the checker cannot see this file): {e}");
        }
        for c in &self.missing_callbacks {
            let _ = writeln!(
                msg,
                "callback `{c}` not found (no `fn {c}` under {}): the checker refuses to pass without every callback as a root",
                self.callback_dir
            );
        }
        for v in &self.violations {
            msg.push_str(&v.to_string());
        }
        (!msg.is_empty()).then_some(msg)
    }

    /// Violations of `rule` whose chain passes through (or ends in) `name`.
    #[must_use]
    pub fn violations_through(&self, rule: &Rule, name: &str) -> Vec<&Violation> {
        self.violations.iter().filter(|v| v.rule == rule && v.chain.iter().any(|h| h.name == name)).collect()
    }
}

// ---------------------------------------------------------------------------------------
// cfg evaluation (three-valued: a predicate the checker does not know counts as maybe)

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tri {
    True,
    False,
    Maybe,
}

fn eval_cfg(meta: &Meta) -> Tri {
    match meta {
        Meta::Path(p) => match p.get_ident().map(ToString::to_string).as_deref() {
            Some("windows") => Tri::True,
            Some("test" | "loom" | "unix" | "miri" | "doc" | "docsrs" | "doctest") => Tri::False,
            _ => Tri::Maybe,
        },
        Meta::NameValue(nv) => {
            let key = nv.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let value = match &nv.value {
                Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => s.value(),
                _ => return Tri::Maybe,
            };
            match key.as_str() {
                "target_os" | "target_family" => {
                    if value == "windows" {
                        Tri::True
                    } else {
                        Tri::False
                    }
                }
                _ => Tri::Maybe,
            }
        }
        Meta::List(list) => {
            let op = list.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let Ok(args) = list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
                return Tri::Maybe;
            };
            let values: Vec<Tri> = args.iter().map(eval_cfg).collect();
            match op.as_str() {
                "all" if values.contains(&Tri::False) => Tri::False,
                "all" if values.iter().all(|v| *v == Tri::True) => Tri::True,
                "any" if values.contains(&Tri::True) => Tri::True,
                "any" if values.iter().all(|v| *v == Tri::False) => Tri::False,
                "not" => match values.as_slice() {
                    [Tri::True] => Tri::False,
                    [Tri::False] => Tri::True,
                    _ => Tri::Maybe,
                },
                _ => Tri::Maybe,
            }
        }
    }
}

/// False only if some `#[cfg]` on the item is definitely false in the driver build.
fn compiled(attrs: &[syn::Attribute]) -> bool {
    !attrs.iter().filter(|a| a.path().is_ident("cfg")).any(|a| match &a.meta {
        Meta::List(list) => list.parse_args::<Meta>().map_or(Tri::Maybe, |m| eval_cfg(&m)) == Tri::False,
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------
// The crate model

#[derive(Clone, Debug, PartialEq, Eq)]
enum Receiver {
    SelfValue,
    SelfField(String),
    Local(String),
    Other,
}

#[derive(Clone, Debug)]
enum CallKind {
    /// `f(..)`, `a::b::f(..)`, `<T as Tr>::f(..)`.
    Path(Vec<String>),
    /// `x.m(..)`.
    Method { name: String, receiver: Receiver },
    /// `m!(..)`.
    Macro(Vec<String>),
    /// A path used as a value (`map(f)`): may be called later.
    FnRef(Vec<String>),
    /// `(expr)(..)` with a callee that is not a path.
    Indirect,
    /// A function handed to the kernel to run later on another thread (the routine given
    /// to `IoQueueWorkItem`, a notify routine being registered): not a call from here.
    Deferred(Vec<String>),
}

/// Kernel APIs whose function-pointer arguments run later, elsewhere: the work item
/// routine runs on a system worker thread, so the callback does not execute it.
fn defers(name: &str) -> bool {
    matches!(
        name,
        "IoQueueWorkItem" | "IoQueueWorkItemEx" | "ExQueueWorkItem" | "ExInitializeWorkItem" | "KeInitializeDpc"
    ) || ((name.starts_with("PsSet") || name.starts_with("PsRemove")) && name.contains("NotifyRoutine"))
}

#[derive(Clone, Debug)]
struct Call {
    kind: CallKind,
    line: usize,
}

#[derive(Debug, Default)]
struct Body {
    calls: Vec<Call>,
    locals: HashSet<String>,
    mentions: HashSet<String>,
    /// Parameter name → the last path segment of its declared type.
    param_types: HashMap<String, String>,
}

#[derive(Debug)]
struct Func {
    name: String,
    display: String,
    file: String,
    line: usize,
    module: Vec<String>,
    self_ty: Option<String>,
    trait_: Option<String>,
    receiver: bool,
    /// Consts, statics and `macro_rules!`: reached by naming them, not by calling.
    pseudo: bool,
    body: Body,
}

#[derive(Debug, Default)]
struct Module {
    /// Local name → absolute path (crate-relative segments) or external path.
    uses: HashMap<String, UsePath>,
    /// Glob imports of crate modules.
    globs: Vec<Vec<String>>,
}

#[derive(Clone, Debug)]
enum UsePath {
    Crate(Vec<String>),
    External(Vec<String>),
}

/// Roots of paths that are never this crate.
const EXTERNAL_ROOTS: &[&str] =
    &["core", "std", "alloc", "wdk", "wdk_sys", "wdk_alloc", "wdk_panic", "crossbeam_utils", "loom"];

/// Traits whose methods run without being named at the call site.
const IMPLICIT_TRAITS: &[&str] = &[
    "Drop",
    "Deref",
    "DerefMut",
    "Index",
    "IndexMut",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Rem",
    "Neg",
    "Not",
    "BitAnd",
    "BitOr",
    "BitXor",
    "Shl",
    "Shr",
    "AddAssign",
    "SubAssign",
    "MulAssign",
    "DivAssign",
    "RemAssign",
    "BitAndAssign",
    "BitOrAssign",
    "BitXorAssign",
    "ShlAssign",
    "ShrAssign",
    "PartialEq",
    "PartialOrd",
    "Ord",
    "Hash",
    "Iterator",
    "IntoIterator",
    "Display",
    "Debug",
    "Write",
    "From",
    "TryFrom",
];

#[derive(Default)]
struct Model {
    funcs: Vec<Func>,
    modules: HashMap<Vec<String>, Module>,
    excluded: Vec<Vec<String>>,
    types: HashSet<String>,
    traits: HashSet<String>,
    /// Struct name → field name → last segment of the field's type.
    fields: HashMap<String, HashMap<String, String>>,
    /// `use X as Y`: Y → X (last segments), for calls through a renamed import.
    aliases: HashMap<String, BTreeSet<String>>,
    parse_errors: Vec<String>,
}

fn module_of(path: &str) -> Option<Vec<String>> {
    let rest = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    let mut parts: Vec<String> = rest.split('/').map(str::to_owned).collect();
    match parts.last().map(String::as_str) {
        Some("lib" | "main") if parts.len() == 1 => parts.clear(),
        Some("mod") => {
            parts.pop();
        }
        _ => {}
    }
    Some(parts)
}

fn line_of(span: proc_macro2::Span) -> usize {
    span.start().line
}

/// The last path segment naming a type, through references, pointers and slices.
fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        syn::Type::Ptr(p) => type_name(&p.elem),
        syn::Type::Paren(p) => type_name(&p.elem),
        syn::Type::Group(g) => type_name(&g.elem),
        _ => None,
    }
}

fn segments(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

struct BodyVisitor<'b> {
    body: &'b mut Body,
    /// Inside the arguments of a call that defers its function arguments.
    deferring: bool,
}

impl BodyVisitor<'_> {
    fn record(&mut self, kind: CallKind, line: usize) {
        self.body.calls.push(Call { kind, line });
    }

    fn receiver(expr: &Expr) -> Receiver {
        match expr {
            Expr::Paren(p) => Self::receiver(&p.expr),
            Expr::Reference(r) => Self::receiver(&r.expr),
            Expr::Group(g) => Self::receiver(&g.expr),
            Expr::Path(p) if p.qself.is_none() && p.path.is_ident("self") => Receiver::SelfValue,
            Expr::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
                Receiver::Local(p.path.segments[0].ident.to_string())
            }
            Expr::Field(f) => match (&*f.base, &f.member) {
                (Expr::Path(p), syn::Member::Named(name)) if p.path.is_ident("self") => {
                    Receiver::SelfField(name.to_string())
                }
                _ => Receiver::Other,
            },
            _ => Receiver::Other,
        }
    }

    /// Calls inside a macro's tokens: as expressions if they parse, else by token shape.
    fn macro_tokens(&mut self, tokens: &TokenStream) {
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        if let Ok(exprs) = syn::parse::Parser::parse2(parser, tokens.clone()) {
            for e in &exprs {
                self.visit_expr(e);
            }
            return;
        }
        self.scan(tokens.clone());
    }

    /// Over-approximate token scan: `a::b(` is a path call, `.m(` a method call, `m!` a
    /// macro, and any other identifier may name a function passed as a value.
    fn scan(&mut self, tokens: TokenStream) {
        const KEYWORDS: &[&str] = &[
            "if", "while", "match", "return", "in", "for", "let", "as", "move", "mut", "ref", "loop", "else", "fn",
            "where", "impl", "dyn", "unsafe", "break", "continue", "await", "self", "Self", "super", "crate", "true",
            "false",
        ];
        let toks: Vec<TokenTree> = tokens.into_iter().collect();
        let is_punct = |t: Option<&TokenTree>, c: char| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c);
        for (i, tok) in toks.iter().enumerate() {
            match tok {
                TokenTree::Group(g) => {
                    let prev = i.checked_sub(1).and_then(|j| toks.get(j));
                    let prev2 = i.checked_sub(2).and_then(|j| toks.get(j));
                    let line = line_of(g.span());
                    if g.delimiter() == Delimiter::Parenthesis
                        && let Some(TokenTree::Ident(id)) = prev
                        && !KEYWORDS.contains(&id.to_string().as_str())
                    {
                        if is_punct(prev2, '.') {
                            self.record(CallKind::Method { name: id.to_string(), receiver: Receiver::Other }, line);
                        } else {
                            // Collect `a :: b :: f` backwards.
                            let mut path = vec![id.to_string()];
                            let mut j = i - 1;
                            while j >= 3
                                && is_punct(toks.get(j - 1), ':')
                                && is_punct(toks.get(j - 2), ':')
                                && let Some(TokenTree::Ident(seg)) = toks.get(j - 3)
                            {
                                path.insert(0, seg.to_string());
                                j -= 3;
                            }
                            self.record(CallKind::Path(path), line);
                        }
                    } else if is_punct(prev, '!')
                        && let Some(TokenTree::Ident(id)) = prev2
                    {
                        self.record(CallKind::Macro(vec![id.to_string()]), line);
                    }
                    self.scan(g.stream());
                }
                TokenTree::Ident(id) => {
                    let name = id.to_string();
                    self.body.mentions.insert(name.clone());
                    let next = toks.get(i + 1);
                    let called = matches!(next, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis)
                        || is_punct(next, '!')
                        || matches!(next, Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == Spacing::Joint);
                    if !called && !KEYWORDS.contains(&name.as_str()) {
                        self.record(CallKind::FnRef(vec![name]), line_of(id.span()));
                    }
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for BodyVisitor<'_> {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        for a in &call.attrs {
            self.visit_attribute(a);
        }
        match &*call.func {
            Expr::Path(p) => {
                let mut segs = segments(&p.path);
                if let Some(q) = &p.qself {
                    self.visit_type(&q.ty);
                    // `<T as Trait>::f`: the path is `Trait::f`; `<T>::f` keeps T.
                    if q.position == 0
                        && let Some(t) = type_name(&q.ty)
                    {
                        segs.insert(0, t);
                    }
                }
                self.visit_path(&p.path);
                self.record(CallKind::Path(segs), line_of(call.func.span()));
            }
            other => {
                self.record(CallKind::Indirect, line_of(other.span()));
                self.visit_expr(other);
            }
        }
        let defer = matches!(&*call.func, Expr::Path(p) if p.path.segments.last().is_some_and(|s| defers(&s.ident.to_string())));
        let outer = self.deferring;
        self.deferring = outer || defer;
        for arg in &call.args {
            self.visit_expr(arg);
        }
        self.deferring = outer;
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let receiver = Self::receiver(&call.receiver);
        self.record(CallKind::Method { name: call.method.to_string(), receiver }, line_of(call.method.span()));
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        let mut segs = segments(&p.path);
        if let Some(q) = &p.qself
            && q.position == 0
            && let Some(t) = type_name(&q.ty)
        {
            segs.insert(0, t);
        }
        let kind = if self.deferring { CallKind::Deferred(segs) } else { CallKind::FnRef(segs) };
        self.record(kind, line_of(p.span()));
        visit::visit_expr_path(self, p);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        for s in &p.segments {
            self.body.mentions.insert(s.ident.to_string());
        }
        visit::visit_path(self, p);
    }

    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.record(CallKind::Macro(segments(&m.path)), line_of(m.path.span()));
        self.visit_path(&m.path);
        self.macro_tokens(&m.tokens);
    }

    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        self.body.locals.insert(p.ident.to_string());
        visit::visit_pat_ident(self, p);
    }
}

impl Model {
    fn build(files: &[SourceFile]) -> Self {
        let mut model = Self::default();
        let mut parsed = Vec::new();
        for file in files {
            let Some(module) = module_of(&file.path) else {
                model.parse_errors.push(format!("{}: not under src/", file.path));
                continue;
            };
            match syn::parse_file(&file.text) {
                Ok(ast) => parsed.push((file.path.clone(), module, ast)),
                Err(e) => {
                    model.parse_errors.push(format!("{}:{}: {e}", file.path, e.span().start().line));
                }
            }
        }
        // Modules first: which files does the driver build compile?
        for (_, module, ast) in &parsed {
            model.modules.entry(module.clone()).or_default();
            model.scan_modules(&ast.items, module);
        }
        for (path, module, ast) in &parsed {
            if model.is_excluded(module) {
                continue;
            }
            model.items(&ast.items, module, path);
        }
        model
    }

    fn is_excluded(&self, module: &[String]) -> bool {
        self.excluded.iter().any(|e| module.starts_with(e))
    }

    /// Records module declarations and which of them the driver build leaves out.
    fn scan_modules(&mut self, items: &[Item], module: &[String]) {
        for item in items {
            if let Item::Mod(m) = item {
                let mut child = module.to_vec();
                child.push(m.ident.to_string());
                if !compiled(&m.attrs) {
                    self.excluded.push(child.clone());
                }
                self.modules.entry(child.clone()).or_default();
                if let Some((_, inner)) = &m.content {
                    self.scan_modules(inner, &child);
                }
            }
        }
    }

    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>, module: &[String]) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix, module);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let name = n.ident.to_string();
                let mut full = prefix.clone();
                if name != "self" {
                    full.push(name.clone());
                }
                let local = if name == "self" { prefix.last().cloned().unwrap_or_default() } else { name };
                let resolved = self.absolute(&full, module);
                self.modules.entry(module.to_vec()).or_default().uses.insert(local, resolved);
            }
            syn::UseTree::Rename(r) => {
                let original = r.ident.to_string();
                let alias = r.rename.to_string();
                let mut full = prefix.clone();
                if original != "self" {
                    full.push(original.clone());
                }
                if alias != "_" {
                    let resolved = self.absolute(&full, module);
                    self.modules.entry(module.to_vec()).or_default().uses.insert(alias.clone(), resolved);
                    let last = full.last().cloned().unwrap_or(original);
                    self.aliases.entry(alias).or_default().insert(last);
                }
            }
            syn::UseTree::Glob(_) => {
                if let UsePath::Crate(abs) = self.absolute(prefix, module) {
                    self.modules.entry(module.to_vec()).or_default().globs.push(abs);
                }
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(t, prefix, module);
                }
            }
        }
    }

    /// A written path, made absolute if it names something in this crate.
    fn absolute(&self, path: &[String], module: &[String]) -> UsePath {
        let Some(first) = path.first() else { return UsePath::Crate(module.to_vec()) };
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.to_vec(),
            "super" => module.get(..module.len().saturating_sub(1)).unwrap_or(&[]).to_vec(),
            _ => {
                if EXTERNAL_ROOTS.contains(&first.as_str()) {
                    return UsePath::External(path.to_vec());
                }
                let mut child = module.to_vec();
                child.push(first.clone());
                if self.modules.contains_key(&child) {
                    let mut abs = child;
                    abs.extend(path.iter().skip(1).cloned());
                    return UsePath::Crate(abs);
                }
                if self.modules.contains_key(&vec![first.clone()]) {
                    return UsePath::Crate(path.to_vec());
                }
                return UsePath::External(path.to_vec());
            }
        };
        let mut rest = path.iter().skip(1).peekable();
        while rest.peek().is_some_and(|s| *s == "super") {
            base.pop();
            rest.next();
        }
        base.extend(rest.cloned());
        UsePath::Crate(base)
    }

    fn add_fn(&mut self, func: Func, visit: impl FnOnce(&mut BodyVisitor<'_>)) {
        let mut func = func;
        let mut v = BodyVisitor { body: &mut func.body, deferring: false };
        visit(&mut v);
        self.funcs.push(func);
    }

    fn params(sig: &syn::Signature) -> HashMap<String, String> {
        sig.inputs
            .iter()
            .filter_map(|arg| match arg {
                syn::FnArg::Typed(t) => match (&*t.pat, type_name(&t.ty)) {
                    (syn::Pat::Ident(id), Some(ty)) => Some((id.ident.to_string(), ty)),
                    _ => None,
                },
                syn::FnArg::Receiver(_) => None,
            })
            .collect()
    }

    #[allow(clippy::too_many_lines, reason = "one arm per item kind reads best as one match")]
    fn items(&mut self, items: &[Item], module: &[String], file: &str) {
        let module_display = module.join("::");
        let qualify = |name: &str| {
            if module_display.is_empty() { name.to_owned() } else { format!("{module_display}::{name}") }
        };
        for item in items {
            match item {
                Item::Fn(f) if compiled(&f.attrs) => {
                    let name = f.sig.ident.to_string();
                    let func = Func {
                        display: qualify(&name),
                        name,
                        file: file.to_owned(),
                        line: line_of(f.sig.ident.span()),
                        module: module.to_vec(),
                        self_ty: None,
                        trait_: None,
                        receiver: false,
                        pseudo: false,
                        body: Body { param_types: Self::params(&f.sig), ..Body::default() },
                    };
                    self.add_fn(func, |v| v.visit_item_fn(f));
                }
                Item::Impl(imp) if compiled(&imp.attrs) => {
                    let self_ty = type_name(&imp.self_ty).unwrap_or_else(|| "?".to_owned());
                    let trait_ =
                        imp.trait_.as_ref().and_then(|(_, p, _)| p.segments.last()).map(|s| s.ident.to_string());
                    for it in &imp.items {
                        let syn::ImplItem::Fn(m) = it else { continue };
                        if !compiled(&m.attrs) {
                            continue;
                        }
                        let name = m.sig.ident.to_string();
                        let display = trait_
                            .as_ref()
                            .map_or_else(|| format!("{self_ty}::{name}"), |t| format!("<{self_ty} as {t}>::{name}"));
                        let func = Func {
                            display,
                            name,
                            file: file.to_owned(),
                            line: line_of(m.sig.ident.span()),
                            module: module.to_vec(),
                            self_ty: Some(self_ty.clone()),
                            trait_: trait_.clone(),
                            receiver: m.sig.receiver().is_some(),
                            pseudo: false,
                            body: Body { param_types: Self::params(&m.sig), ..Body::default() },
                        };
                        self.add_fn(func, |v| v.visit_impl_item_fn(m));
                    }
                }
                Item::Trait(t) if compiled(&t.attrs) => {
                    let trait_name = t.ident.to_string();
                    self.traits.insert(trait_name.clone());
                    for it in &t.items {
                        let syn::TraitItem::Fn(m) = it else { continue };
                        if m.default.is_none() || !compiled(&m.attrs) {
                            continue;
                        }
                        let name = m.sig.ident.to_string();
                        let func = Func {
                            display: format!("{trait_name}::{name}"),
                            name,
                            file: file.to_owned(),
                            line: line_of(m.sig.ident.span()),
                            module: module.to_vec(),
                            self_ty: None,
                            trait_: Some(trait_name.clone()),
                            receiver: m.sig.receiver().is_some(),
                            pseudo: false,
                            body: Body { param_types: Self::params(&m.sig), ..Body::default() },
                        };
                        self.add_fn(func, |v| v.visit_trait_item_fn(m));
                    }
                }
                Item::Mod(m) if compiled(&m.attrs) => {
                    if let Some((_, inner)) = &m.content {
                        let mut child = module.to_vec();
                        child.push(m.ident.to_string());
                        self.items(inner, &child, file);
                    }
                }
                Item::Struct(s) if compiled(&s.attrs) => {
                    let name = s.ident.to_string();
                    self.types.insert(name.clone());
                    let fields = s
                        .fields
                        .iter()
                        .filter_map(|f| Some((f.ident.as_ref()?.to_string(), type_name(&f.ty)?)))
                        .collect::<HashMap<_, _>>();
                    self.fields.entry(name).or_default().extend(fields);
                }
                Item::Enum(e) if compiled(&e.attrs) => {
                    self.types.insert(e.ident.to_string());
                }
                Item::Union(u) if compiled(&u.attrs) => {
                    self.types.insert(u.ident.to_string());
                }
                Item::Type(t) if compiled(&t.attrs) => {
                    self.types.insert(t.ident.to_string());
                }
                Item::Use(u) if compiled(&u.attrs) => {
                    self.use_tree(&u.tree, &mut Vec::new(), module);
                }
                Item::Const(c) if compiled(&c.attrs) => {
                    let name = c.ident.to_string();
                    let func =
                        Self::pseudo(format!("const {}", qualify(&name)), name, file, line_of(c.ident.span()), module);
                    self.add_fn(func, |v| v.visit_expr(&c.expr));
                }
                Item::Static(s) if compiled(&s.attrs) => {
                    let name = s.ident.to_string();
                    let func =
                        Self::pseudo(format!("static {}", qualify(&name)), name, file, line_of(s.ident.span()), module);
                    self.add_fn(func, |v| v.visit_expr(&s.expr));
                }
                Item::Macro(m) if compiled(&m.attrs) => {
                    if let Some(ident) = &m.ident {
                        let name = ident.to_string();
                        let func = Self::pseudo(format!("{name}!"), name, file, line_of(ident.span()), module);
                        self.add_fn(func, |v| v.scan(m.mac.tokens.clone()));
                    }
                }
                _ => {}
            }
        }
    }

    fn pseudo(display: String, name: String, file: &str, line: usize, module: &[String]) -> Func {
        Func {
            name,
            display,
            file: file.to_owned(),
            line,
            module: module.to_vec(),
            self_ty: None,
            trait_: None,
            receiver: false,
            pseudo: true,
            body: Body::default(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Resolution

struct Graph<'m> {
    model: &'m Model,
    by_name: HashMap<&'m str, Vec<usize>>,
    /// Callee, line of the call, how it was reached.
    edges: Vec<Vec<(usize, usize)>>,
}

impl<'m> Graph<'m> {
    fn new(model: &'m Model) -> Self {
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, f) in model.funcs.iter().enumerate() {
            if !f.pseudo {
                by_name.entry(f.name.as_str()).or_default().push(i);
            }
        }
        let mut g = Self { model, by_name, edges: Vec::new() };
        g.edges = (0..model.funcs.len()).map(|i| g.edges_of(i)).collect();
        g
    }

    fn named(&self, name: &str) -> impl Iterator<Item = usize> + '_ {
        self.by_name.get(name).into_iter().flatten().copied()
    }

    fn free_in(&self, module: &[String], name: &str) -> Vec<usize> {
        self.named(name)
            .filter(|&i| {
                let f = &self.model.funcs[i];
                f.self_ty.is_none() && f.trait_.is_none() && f.module == module
            })
            .collect()
    }

    fn methods_of(&self, ty: &str, name: &str) -> Vec<usize> {
        let implemented: HashSet<&str> = self
            .model
            .funcs
            .iter()
            .filter(|f| f.self_ty.as_deref() == Some(ty))
            .filter_map(|f| f.trait_.as_deref())
            .collect();
        self.named(name)
            .filter(|&i| {
                let f = &self.model.funcs[i];
                f.self_ty.as_deref() == Some(ty)
                    || (f.self_ty.is_none() && f.trait_.as_deref().is_some_and(|t| implemented.contains(t)))
            })
            .collect()
    }

    fn trait_fns(&self, tr: &str, name: &str) -> Vec<usize> {
        self.named(name).filter(|&i| self.model.funcs[i].trait_.as_deref() == Some(tr)).collect()
    }

    /// A function name in a module: defined there, imported, or re-exported.
    fn in_module(&self, module: &[String], name: &str, depth: usize) -> Vec<usize> {
        let mut found = self.free_in(module, name);
        if depth > 4 {
            return found;
        }
        if let Some(m) = self.model.modules.get(module) {
            if let Some(UsePath::Crate(abs)) = m.uses.get(name)
                && let Some((last, parent)) = abs.split_last()
            {
                found.extend(self.in_module(parent, last, depth + 1));
                if let Some(ty) = parent.last()
                    && self.model.types.contains(ty)
                {
                    found.extend(self.methods_of(ty, last));
                }
            }
            for glob in &m.globs {
                found.extend(self.in_module(glob, name, depth + 1));
            }
        }
        found
    }

    fn imported_external(&self, module: &[String], name: &str) -> bool {
        self.model.modules.get(module).is_some_and(|m| matches!(m.uses.get(name), Some(UsePath::External(_))))
    }

    fn resolve_path(&self, from: &Func, segs: &[String]) -> Vec<usize> {
        let Some((name, prefix)) = segs.split_last() else { return Vec::new() };
        if prefix.is_empty() {
            let found = self.in_module(&from.module, name, 0);
            if !found.is_empty() || self.imported_external(&from.module, name) {
                return found;
            }
            // Not visibly imported: any free function of that name.
            return self
                .named(name)
                .filter(|&i| self.model.funcs[i].self_ty.is_none() && self.model.funcs[i].trait_.is_none())
                .collect();
        }
        let all = || self.named(name).collect::<Vec<_>>();
        let qualifier = prefix.last().map_or("", String::as_str);
        if qualifier == "Self" {
            let found = match (&from.self_ty, &from.trait_) {
                (Some(ty), _) => self.methods_of(ty, name),
                (None, Some(tr)) => self.trait_fns(tr, name),
                (None, None) => Vec::new(),
            };
            return if found.is_empty() { all() } else { found };
        }
        // What the first segment is, through this module's imports.
        let head = &prefix[0];
        let imported = self.model.modules.get(&from.module).and_then(|m| m.uses.get(head));
        if EXTERNAL_ROOTS.contains(&head.as_str()) || matches!(imported, Some(UsePath::External(_))) {
            return Vec::new();
        }
        let qualifier = if prefix.len() == 1 {
            match imported {
                Some(UsePath::Crate(abs)) => abs.last().cloned().unwrap_or_default(),
                _ => qualifier.to_owned(),
            }
        } else {
            qualifier.to_owned()
        };
        let qualifiers: BTreeSet<String> = std::iter::once(qualifier.clone())
            .chain(self.model.aliases.get(&qualifier).into_iter().flatten().cloned())
            .collect();
        let mut found = Vec::new();
        for q in &qualifiers {
            if self.model.types.contains(q) {
                found.extend(self.methods_of(q, name));
            }
            if self.model.traits.contains(q) {
                found.extend(self.trait_fns(q, name));
            }
        }
        if qualifiers.iter().any(|q| self.model.types.contains(q) || self.model.traits.contains(q)) {
            return if found.is_empty() { all() } else { found };
        }
        // A module path?
        let written: Vec<String> = match imported {
            Some(UsePath::Crate(abs)) => abs.iter().chain(prefix.iter().skip(1)).cloned().collect(),
            _ => prefix.to_vec(),
        };
        if let UsePath::Crate(abs) = self.model.absolute(&written, &from.module)
            && self.model.modules.contains_key(&abs)
        {
            let found = self.in_module(&abs, name, 0);
            return if found.is_empty() { all() } else { found };
        }
        if qualifier.starts_with(|c: char| c.is_ascii_uppercase()) || is_primitive(&qualifier) {
            // A foreign type (`Vec::new`, `u32::try_from`): only crate impls on it.
            return self.named(name).filter(|&i| self.model.funcs[i].self_ty.as_deref() == Some(&qualifier)).collect();
        }
        all()
    }

    /// The crate type a method receiver has, when the source says it plainly.
    fn receiver_type(&self, from: &Func, receiver: &Receiver) -> Option<String> {
        let ty = match receiver {
            Receiver::SelfValue => from.self_ty.clone()?,
            Receiver::SelfField(field) => self.model.fields.get(from.self_ty.as_ref()?)?.get(field)?.clone(),
            Receiver::Local(name) => from.body.param_types.get(name)?.clone(),
            Receiver::Other => return None,
        };
        self.model.types.contains(&ty).then_some(ty)
    }

    /// Crate methods a method call may run, and whether the receiver's crate type has it.
    fn resolve_method(&self, from: &Func, name: &str, receiver: &Receiver) -> (Vec<usize>, bool) {
        if let Some(ty) = self.receiver_type(from, receiver) {
            let found = self.methods_of(&ty, name);
            if !found.is_empty() {
                return (found, true);
            }
        }
        let mut found: Vec<usize> = self.named(name).filter(|&i| self.model.funcs[i].receiver).collect();
        // `.into()` / `.try_into()` run `From` / `TryFrom` impls.
        let via = match name {
            "into" => Some("from"),
            "try_into" => Some("try_from"),
            _ => None,
        };
        if let Some(via) = via {
            found.extend(self.named(via).filter(|&i| self.model.funcs[i].trait_.is_some()));
        }
        (found, false)
    }

    fn edges_of(&self, i: usize) -> Vec<(usize, usize)> {
        let f = &self.model.funcs[i];
        let mut out = Vec::new();
        for call in &f.body.calls {
            let targets = match &call.kind {
                CallKind::Path(segs) => self.resolve_path(f, segs),
                CallKind::FnRef(segs) => {
                    if segs.len() == 1 && f.body.locals.contains(&segs[0]) {
                        continue;
                    }
                    self.resolve_path(f, segs)
                }
                CallKind::Method { name, receiver } => self.resolve_method(f, name, receiver).0,
                CallKind::Macro(segs) => {
                    let name = segs.last().map_or("", String::as_str);
                    self.model
                        .funcs
                        .iter()
                        .enumerate()
                        .filter(|(_, m)| m.pseudo && m.display == format!("{name}!"))
                        .map(|(j, _)| j)
                        .collect()
                }
                CallKind::Indirect | CallKind::Deferred(_) => Vec::new(),
            };
            out.extend(targets.into_iter().map(|t| (t, call.line)));
        }
        // Implicit calls: trait impls of types this function names; consts and statics
        // it names (their initialisers may hold function pointers).
        let mut mentions: HashSet<&str> = f.body.mentions.iter().map(String::as_str).collect();
        if let Some(ty) = &f.self_ty
            && mentions.contains("Self")
        {
            mentions.insert(ty.as_str());
        }
        for (j, g) in self.model.funcs.iter().enumerate() {
            let implicit = g.trait_.as_deref().is_some_and(|t| IMPLICIT_TRAITS.contains(&t))
                && g.self_ty.as_deref().is_some_and(|t| mentions.contains(t));
            let named_item = g.pseudo && !g.display.ends_with('!') && mentions.contains(g.name.as_str());
            if (implicit || named_item) && j != i {
                out.push((j, f.line));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn is_primitive(name: &str) -> bool {
    matches!(
        name,
        "u8" | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
            | "f32"
            | "f64"
            | "bool"
            | "char"
            | "str"
    )
}

// ---------------------------------------------------------------------------------------
// Rules

/// Kernel routines a callback may call: documented callable at the callbacks' IRQL
/// (up to `APC_LEVEL`) without waiting. Every other kernel-looking routine is refused
/// (default deny), in addition to the named forbidden families.
pub const CALLBACK_SAFE: &[&str] = &[
    "KeQueryPerformanceCounter",
    "KeGetCurrentProcessorNumberEx",
    "KeGetCurrentProcessorNumber",
    "KeGetCurrentIrql",
    "PsGetCurrentProcessId",
    "PsGetCurrentThreadId",
    "PsGetCurrentProcess",
    "PsGetCurrentThread",
    "PsGetProcessId",
    "PsGetThreadId",
    "PsGetProcessExitStatus",
    "PsIsSystemThread",
    // The thread routine records inside a critical region (no suspension between
    // reserve and commit); both are documented callable at IRQL <= APC_LEVEL, no wait.
    "KeEnterCriticalRegion",
    "KeLeaveCriticalRegion",
];

/// Kernel routines one callback (and only that one) may call, with the reason.
pub const CALLBACK_SAFE_IN: &[(&str, &str)] = &[
    // The process routine references the new process for its record
    // (`Pipeline::record_holding`), so the worker can read its token later. Documented
    // callable at IRQL <= DISPATCH_LEVEL: an interlocked increment of the pointer count of
    // an object the callback's caller already holds referenced (the EPROCESS it passes):
    // no lock, no allocation, no wait.
    ("on_process", "ObfReferenceObject"),
    // The idle sweep's DPC sets its own one-shot timer again while a record is still in
    // flight (`Pipeline::sweep`). Documented callable at IRQL <= DISPATCH_LEVEL: it
    // inserts the timer in the timer table; no wait, no allocation.
    ("sweep_dpc", "KeSetTimerEx"),
];

/// Whether `callback` may make `call` although the default-deny rule refuses it.
fn allowed_in(callback: &str, call: &Call) -> bool {
    let (CallKind::Path(segs) | CallKind::FnRef(segs)) = &call.kind else { return false };
    segs.last().is_some_and(|name| CALLBACK_SAFE_IN.iter().any(|&(c, r)| c == callback && r == name))
}

/// A name shaped like a kernel routine (`KeWaitForSingleObject`, `IofCallDriver`).
fn kernel_shaped(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Ke", "Ex", "Io", "Iof", "Mm", "Ps", "Ob", "Obf", "Se", "Rtl", "Zw", "Nt", "Cm", "Flt", "FsRtl", "Fs", "Po",
        "Hal", "Kd", "Dbg", "vDbg", "Wmi", "Cc", "Etw", "Tm", "Lsa", "Wdf",
    ];
    PREFIXES.iter().any(|p| name.strip_prefix(p).and_then(|r| r.chars().next()).is_some_and(|c| c.is_ascii_uppercase()))
}

fn rule_for_name(name: &str, qualifier: Option<&str>, first: Option<&str>) -> Option<&'static Rule> {
    let upper_after =
        |prefix: &str| name.strip_prefix(prefix).and_then(|r| r.chars().next()).is_some_and(|c| c.is_ascii_uppercase());
    let zw_nt = upper_after("Zw") || upper_after("Nt");
    if name.starts_with("KeWaitFor")
        || name == "KeDelayExecutionThread"
        || (zw_nt && name.contains("WaitFor"))
        || matches!(name, "sleep" | "sleep_ms" | "park" | "park_timeout")
    {
        return Some(&WAIT);
    }
    if name.starts_with("ExAcquire")
        || name.starts_with("ExEnterCriticalRegionAndAcquire")
        || (name.starts_with("KeAcquire") && name.contains("Mutex"))
        || name.contains("PushLock")
    {
        return Some(&LOCK);
    }
    if (zw_nt && name.contains("Key")) || (name.starts_with("Rtl") && name.contains("Registry")) || upper_after("Cm") {
        return Some(&REGISTRY);
    }
    if zw_nt {
        return Some(&SYSCALL);
    }
    if upper_after("Flt") {
        return Some(&FILTER);
    }
    if name.starts_with("Ob") && name.ends_with("ByName") {
        return Some(&OB_BY_NAME);
    }
    if matches!(name, "IoCallDriver" | "IofCallDriver") {
        return Some(&IRP);
    }
    if name.starts_with("ExAllocate")
        || name.starts_with("MmAllocate")
        || first == Some("alloc")
        || (qualifier.is_some_and(|q| {
            matches!(
                q,
                "Box"
                    | "Vec"
                    | "String"
                    | "Rc"
                    | "Arc"
                    | "VecDeque"
                    | "BTreeMap"
                    | "BTreeSet"
                    | "HashMap"
                    | "HashSet"
                    | "BinaryHeap"
                    | "LinkedList"
                    | "CString"
            )
        }) && matches!(
            name,
            "new"
                | "with_capacity"
                | "from"
                | "from_iter"
                | "pin"
                | "new_uninit"
                | "new_zeroed"
                | "default"
                | "from_utf8"
                | "from_utf16"
                | "from_utf16_lossy"
                | "new_uninit_slice"
                | "try_new"
        ))
    {
        return Some(&POOL);
    }
    if name.starts_with("DbgPrint") || name.starts_with("vDbgPrint") || name.starts_with("KdPrint") {
        return Some(&PRINT);
    }
    if matches!(name, "unwrap" | "expect" | "unwrap_err" | "expect_err" | "panic_any" | "begin_panic" | "abort")
        || name.starts_with("KeBugCheck")
    {
        return Some(&PANIC);
    }
    if (name.starts_with("PsSet") || name.starts_with("PsRemove")) && name.contains("NotifyRoutine") {
        return Some(&NOTIFY_REGISTRATION);
    }
    if matches!(name, "IoQueueWorkItem" | "IoQueueWorkItemEx" | "ExQueueWorkItem") {
        return Some(&QUEUE_GATE);
    }
    None
}

fn rule_for_method(name: &str) -> Option<&'static Rule> {
    match name {
        "wait" | "wait_timeout" | "wait_while" | "wait_timeout_while" | "recv" | "recv_timeout" | "join" | "sleep" => {
            Some(&WAIT)
        }
        "lock" | "blocking_lock" => Some(&LOCK),
        "push" | "push_str" | "push_back" | "push_front" | "extend" | "extend_from_slice" | "resize"
        | "resize_with" | "reserve" | "reserve_exact" | "try_reserve" | "try_reserve_exact" | "insert" | "append"
        | "to_vec" | "to_owned" | "to_string" | "into_boxed_slice" | "collect" | "shrink_to_fit" | "repeat"
        | "concat" => Some(&POOL),
        "unwrap" | "expect" | "unwrap_err" | "expect_err" => Some(&PANIC),
        _ => None,
    }
}

fn rule_for_macro(name: &str) -> Option<&'static Rule> {
    match name {
        "panic" | "unreachable" | "todo" | "unimplemented" | "assert" | "assert_eq" | "assert_ne" | "debug_assert"
        | "debug_assert_eq" | "debug_assert_ne" => Some(&PANIC),
        "println" | "print" | "eprintln" | "eprint" | "dbg" => Some(&PRINT),
        "format" | "vec" => Some(&POOL),
        _ => None,
    }
}

impl Graph<'_> {
    /// The rule a call breaks, if any, with the callee name to show.
    fn rule(&self, from: &Func, call: &Call) -> Option<(&'static Rule, String)> {
        match &call.kind {
            CallKind::Path(segs) | CallKind::FnRef(segs) => {
                if matches!(call.kind, CallKind::FnRef(_)) && segs.len() == 1 && from.body.locals.contains(&segs[0]) {
                    return None;
                }
                let (name, prefix) = segs.split_last()?;
                let names =
                    std::iter::once(name.clone()).chain(self.model.aliases.get(name).into_iter().flatten().cloned());
                for n in names {
                    let shown =
                        if n == *name { segs.join("::") } else { format!("{} (`use {n} as {name}`)", segs.join("::")) };
                    if let Some(r) =
                        rule_for_name(&n, prefix.last().map(String::as_str), segs.first().map(String::as_str))
                    {
                        return Some((r, shown));
                    }
                    // Default deny for kernel routines that are not crate functions.
                    if kernel_shaped(&n)
                        && !CALLBACK_SAFE.contains(&n.as_str())
                        && self.resolve_path(from, segs).is_empty()
                    {
                        return Some((&UNVETTED, shown));
                    }
                }
                None
            }
            CallKind::Method { name, receiver } => {
                let r = rule_for_method(name)?;
                let (_, typed) = self.resolve_method(from, name, receiver);
                (!typed).then(|| (r, format!(".{name}()")))
            }
            CallKind::Macro(segs) => {
                let name = segs.last()?;
                rule_for_macro(name).map(|r| (r, format!("{}!", segs.join("::"))))
            }
            CallKind::Indirect => Some((&INDIRECT, "(indirect call)".to_owned())),
            CallKind::Deferred(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The check

/// Parses `files`, walks from the callbacks and reports what they reach.
#[must_use]
pub fn check(files: &[SourceFile], settings: &Settings) -> Report {
    let model = Model::build(files);
    let graph = Graph::new(&model);
    let funcs = &model.funcs;
    let mut report = Report {
        parse_errors: model.parse_errors.clone(),
        excluded_modules: model.excluded.iter().map(|m| m.join("::")).collect(),
        callback_dir: settings.callback_dir.to_owned(),
        files: files.len(),
        functions: funcs.len(),
        edges: graph.edges.iter().map(Vec::len).sum(),
        ..Report::default()
    };
    let hop = |i: usize| Hop { name: funcs[i].display.clone(), at: format!("{}:{}", funcs[i].file, funcs[i].line) };
    let is_gate = |i: usize| {
        let f = &funcs[i];
        f.self_ty.as_deref() == Some(settings.gate.0) && f.trait_.is_none() && f.name == settings.gate.1
    };
    let is_queue_impl = |i: usize| {
        let f = &funcs[i];
        f.trait_.as_deref() == Some(settings.queue_trait.0) && f.name == settings.queue_trait.1 && f.self_ty.is_some()
    };
    let mut seen: HashSet<(&'static str, usize, usize)> = HashSet::new();

    for &callback in &settings.callbacks {
        let roots: Vec<usize> = (0..funcs.len())
            .filter(|&i| {
                funcs[i].name == callback
                    && funcs[i].self_ty.is_none()
                    && !funcs[i].pseudo
                    && funcs[i].file.starts_with(settings.callback_dir)
            })
            .collect();
        if roots.is_empty() {
            report.missing_callbacks.push(callback.to_owned());
            continue;
        }
        // Breadth-first: the chain to each function is a shortest one.
        let mut parent: HashMap<usize, Option<usize>> = roots.iter().map(|&r| (r, None)).collect();
        let mut queue: VecDeque<usize> = roots.iter().copied().collect();
        while let Some(i) = queue.pop_front() {
            for &(j, _) in &graph.edges[i] {
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(j) {
                    e.insert(Some(i));
                    queue.push_back(j);
                }
            }
        }
        let chain_to = |mut i: usize| {
            let mut chain = vec![hop(i)];
            while let Some(Some(p)) = parent.get(&i) {
                chain.push(hop(*p));
                i = *p;
            }
            chain.reverse();
            chain
        };
        let mut order: Vec<usize> = parent.keys().copied().collect();
        order.sort_unstable();
        report.reachable.insert(callback.to_owned(), order.iter().map(|&i| funcs[i].display.clone()).collect());
        for &i in &order {
            let f = &funcs[i];
            for call in &f.body.calls {
                let Some((rule, shown)) = graph.rule(f, call) else { continue };
                if rule == &QUEUE_GATE && is_queue_impl(i) {
                    continue;
                }
                if rule == &UNVETTED && allowed_in(callback, call) {
                    continue;
                }
                if seen.insert((rule.id, i, call.line)) {
                    let mut chain = chain_to(i);
                    chain.push(Hop { name: shown, at: format!("{}:{}", f.file, call.line) });
                    report.violations.push(Violation { rule, chain });
                }
            }
            // The queue impl may be entered only from the gate.
            for &(j, line) in &graph.edges[i] {
                if is_queue_impl(j) && !is_gate(i) && seen.insert((QUEUE_GATE.id, i, line)) {
                    let mut chain = chain_to(i);
                    chain.push(Hop { name: funcs[j].display.clone(), at: format!("{}:{line}", f.file) });
                    report.violations.push(Violation { rule: &QUEUE_GATE, chain });
                }
            }
        }
    }
    // Anywhere in the crate: the work item is queued only inside the queue impl.
    for (i, f) in funcs.iter().enumerate() {
        if is_queue_impl(i) {
            continue;
        }
        for call in &f.body.calls {
            if let Some((rule, shown)) = graph.rule(f, call)
                && rule == &QUEUE_GATE
                && seen.insert((rule.id, i, call.line))
            {
                let chain = vec![hop(i), Hop { name: shown, at: format!("{}:{}", f.file, call.line) }];
                report.violations.push(Violation { rule, chain });
            }
        }
    }
    report
}
