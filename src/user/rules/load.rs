//! Reading rule files: folders searched, files read, texts checked before the parser,
//! and what did not load ([`Loaded`], [`Failure`]).
//!
//! Folders are searched recursively for `.yml`/`.yaml` files (hidden folders such as `.git`
//! are not entered; each folder once); their other files are counted as ignored. A file
//! that cannot be read, parsed or compiled is a failure, named once with its reason, and
//! never stops the load. A rule file is untrusted input: what the parser or the engine
//! cannot take (deep nesting, long conditions, huge regexes, files that never end) is
//! refused before it gets there, each limit a constant here, measured against the public
//! rules.

use core::fmt::Write as _;
use std::borrow::ToOwned;
use std::collections::BTreeMap;
use std::format;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use rsigma_parser::{ConditionExpr, Detection, DetectionItem, Modifier, SigmaRule, SigmaValue};

/// A rule file larger than this is refused (the public rules are under 20 KiB).
pub const MAX_RULE_FILE: u64 = 1 << 20;

/// A rule file whose `[` and `{` nest deeper than this is refused before it is parsed.
///
/// Counted on its text, those inside strings too (the public rules reach 10). The YAML
/// scanner's time grows with the square of that depth (a file of 40,000 `[` takes 5 s,
/// one of a million hours), and its own limit (128) is checked only after the scan.
pub const MAX_FLOW_NESTING: usize = 64;

/// A rule file with more `and`, `or` and `not` words than this is refused before it is
/// parsed.
///
/// Descriptions count too (the public rules have at most 22). The condition parser's
/// time grows with a condition's operators times its length: 4,600 `and`s in one 64 KiB
/// condition take 0.7 s, a 1 MiB file of such rules 10 s.
pub const MAX_CONDITION_WORDS: usize = 1000;

/// A rule whose condition nests deeper than this is refused.
///
/// `not`, `and`, `or`, and what they hold, count one level each (the public rules reach
/// 5): the engine walks a condition recursively on every event.
pub const MAX_CONDITION_NESTING: usize = 64;

/// A regex (`re`) that compiles to more than this is refused.
///
/// The public rules' largest needs 4 MiB (`\w{1,64}`: Unicode classes are large); the
/// regex crate's own limit, which rsigma keeps, is 10 MiB.
pub const MAX_REGEX: usize = 8 << 20;

/// The regexes of all rules loaded may compile to at most this much, together.
///
/// Each counts at the power of two its size reaches (from 4 KiB). The public rules' (their
/// 74 `re` values and the values with wildcards, which become regexes) count 10.8 MiB;
/// without a total, a 10 KB file of 50 rules with
/// `\w{200}` took 620 MB, and a 1 MiB file of them would take tens of GB.
pub const MAX_REGEX_TOTAL: usize = 256 << 20;

/// The stack of the thread that loads rule files.
///
/// The condition parser recurses once per `not` in a row: a 64 KiB condition holds
/// 16,384 of them, and escapes spell them where no look at the text counts them
/// (`"not\tnot\t..."`). That takes about 8 MiB of stack, more than a caller's thread may
/// have (a test's has 2 MiB). Only the pages used are ever touched.
pub(super) const PARSER_STACK: usize = 64 << 20;

/// A failure's reason longer than this many characters keeps only its two ends.
///
/// The first and last half of them: the condition parser's messages can quote the
/// whole condition, up to 64 KiB, and wrap a nested error once per level.
pub const MAX_REASON: usize = 200;

/// A rule file (or one document in it) that did not load, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The file.
    pub file: String,
    /// Why, in one line.
    pub reason: String,
}

/// What loading found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Rules compiled and evaluated.
    pub rules: usize,
    /// Rules for another log source (and correlation rules, filters): not evaluated.
    pub skipped: usize,
    /// Files and rules that failed, each named once.
    pub failures: Vec<Failure>,
    /// Files in the folders searched that are not `.yml`/`.yaml`.
    pub ignored: usize,
    /// The first of them, to name one.
    pub first_ignored: Option<String>,
    /// Rules loaded, by category (in [`super::CATEGORIES`] order).
    pub by_category: [usize; 5],
}

impl Loaded {
    /// `N loaded, N skipped (other log sources), N failed`.
    #[must_use]
    pub fn counts(&self) -> String {
        format!("{} loaded, {} skipped (other log sources), {} failed", self.rules, self.skipped, self.failures.len())
    }

    /// The one-line account printed when a watch starts.
    #[must_use]
    pub fn line(&self) -> String {
        let mut line = format!("notifyring: rules: {}", self.counts());
        if self.ignored != 0 {
            let _ = write!(line, ", {} files ignored (not .yml/.yaml", self.ignored);
            if let Some(first) = &self.first_ignored {
                let _ = write!(line, ", e.g. {first}");
            }
            line.push(')');
        }
        line
    }
}

impl Loaded {
    /// What a watch prints on stderr when it starts: each failure (`file: reason`),
    /// then [`Loaded::line`].
    #[must_use]
    pub fn report(&self) -> Vec<String> {
        let mut lines: Vec<String> =
            self.failures.iter().map(|f| format!("notifyring: rule not loaded: {}: {}", f.file, f.reason)).collect();
        lines.push(self.line());
        lines
    }
}

/// Refuses, before it is parsed, a text the parser would take too long on: `[`/`{`
/// nested deeper than [`MAX_FLOW_NESTING`], more `and`/`or`/`not` words than
/// [`MAX_CONDITION_WORDS`]. Both are counted on the raw text, brackets and words in
/// strings too. Escapes in double quotes can spell letters (`"not\tnot"`) but never
/// structure, so the brackets are never undercounted; words so spelled are bounded only
/// by the parser's own limit, 64 KiB a condition.
pub(super) fn prescan(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    for (at, byte) in text.bytes().enumerate() {
        match byte {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > MAX_FLOW_NESTING {
            let line = text[..at].matches('\n').count() + 1;
            return Err(format!("nested deeper than {MAX_FLOW_NESTING} [ and {{ (line {line})"));
        }
    }
    // The condition grammar's words: letters, digits, `_` and `-`.
    let words = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|word| matches!(*word, "and" | "or" | "not"))
        .count();
    if words > MAX_CONDITION_WORDS {
        return Err(format!("{words} and/or/not words, more than {MAX_CONDITION_WORDS}: too long a condition"));
    }
    Ok(())
}

/// What of a rule file is kept ([`parse`]).
#[derive(Default)]
pub(super) struct Parsed {
    /// Why documents or rules did not load, one each.
    pub errors: Vec<String>,
    /// Correlation rules and filters.
    pub skipped: usize,
    /// The rules to add.
    pub rules: Vec<SigmaRule>,
}

/// Parses a rule file's text, and refuses a rule whose condition nests deeper than
/// [`MAX_CONDITION_NESTING`].
pub(super) fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let collection = match rsigma_parser::parse_sigma_yaml(text) {
        Ok(c) => c,
        Err(e) => {
            parsed.errors.push(e.to_string());
            return parsed;
        }
    };
    parsed.skipped = collection.correlations.len() + collection.filters.len();
    parsed.errors = collection.errors;
    for rule in collection.rules {
        if rule.detection.conditions.iter().any(|c| nests_deeper(c, MAX_CONDITION_NESTING)) {
            let key = rule.id.as_ref().unwrap_or(&rule.title);
            parsed.errors.push(format!("rule {key}: condition nested deeper than {MAX_CONDITION_NESTING}"));
        } else {
            parsed.rules.push(rule);
        }
    }
    parsed
}

/// Whether `condition` nests deeper than `limit` levels (walked without recursion).
fn nests_deeper(condition: &ConditionExpr, limit: usize) -> bool {
    let mut pending = Vec::from([(condition, 1usize)]);
    while let Some((expr, depth)) = pending.pop() {
        if depth > limit {
            return true;
        }
        match expr {
            ConditionExpr::And(inner) | ConditionExpr::Or(inner) => {
                pending.extend(inner.iter().map(|e| (e, depth + 1)));
            }
            ConditionExpr::Not(inner) => pending.push((inner, depth + 1)),
            ConditionExpr::Identifier(_) | ConditionExpr::Selector { .. } => {}
        }
    }
    false
}

/// What `rule`'s regexes (`re` values, with their `i`/`m`/`s` flags) count against
/// [`MAX_REGEX_TOTAL`]: each the power of two, from 4 KiB, that its compiled size fits.
/// Refuses a regex over [`MAX_REGEX`], or one that would pass `room`.
pub(super) fn regex_size(rule: &SigmaRule, room: usize) -> Result<usize, String> {
    fn walk<'r>(detection: &'r Detection, out: &mut Vec<&'r DetectionItem>) {
        match detection {
            Detection::AllOf(items) => out.extend(items.iter().filter(|i| i.field.modifiers.contains(&Modifier::Re))),
            Detection::AnyOf(inner) => inner.iter().for_each(|d| walk(d, out)),
            _ => {}
        }
    }
    let mut items = Vec::new();
    rule.detection.named.values().for_each(|d| walk(d, &mut items));
    let mut total = 0usize;
    for item in items {
        let has = |m: Modifier| item.field.modifiers.contains(&m);
        for value in &item.values {
            let SigmaValue::String(s) = value else { continue };
            let pattern = s.as_plain().unwrap_or_else(|| s.original.clone());
            let mut limit = 4 << 10;
            let built = loop {
                let built = regex::RegexBuilder::new(&pattern)
                    .case_insensitive(has(Modifier::IgnoreCase))
                    .multi_line(has(Modifier::Multiline))
                    .dot_matches_new_line(has(Modifier::DotAll))
                    .size_limit(limit)
                    .build();
                match built {
                    Err(regex::Error::CompiledTooBig(_)) if limit < MAX_REGEX => limit *= 2,
                    other => break other,
                }
            };
            match built {
                Ok(_) => total += limit,
                Err(regex::Error::CompiledTooBig(_)) => {
                    return Err(format!("a regex compiles to more than {MAX_REGEX} bytes"));
                }
                // rsigma reports a pattern it cannot compile in its own words.
                Err(_) => {}
            }
            if total > room {
                return Err(format!("the regexes loaded would compile to more than {MAX_REGEX_TOTAL} bytes"));
            }
        }
    }
    Ok(total)
}

/// Adds the rule files under `path` to `sources` (a file given by name is read whatever
/// its extension and kind, up to [`MAX_RULE_FILE`]; in a folder only regular files are:
/// a named pipe would wait for a writer). A folder is searched once, however many paths
/// (symbolic links, loops among them) lead to it: `searched` holds the real path of each
/// folder searched, and the path it was searched by.
pub(super) fn collect(
    path: &Path,
    named: bool,
    sources: &mut Vec<(String, Vec<u8>)>,
    loaded: &mut Loaded,
    searched: &mut BTreeMap<PathBuf, String>,
) {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            loaded.failures.push(Failure { file: shown, reason: e.to_string() });
            return;
        }
    };
    if meta.is_dir() {
        match std::fs::canonicalize(path) {
            Ok(real) => {
                if let Some(first) = searched.get(&real) {
                    let reason =
                        format!("the folder {first} again, searched once (a symbolic link loop, or a second path)");
                    loaded.failures.push(Failure { file: shown, reason });
                    return;
                }
                searched.insert(real, shown.clone());
            }
            Err(e) => {
                loaded.failures.push(Failure { file: shown, reason: e.to_string() });
                return;
            }
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                loaded.failures.push(Failure { file: shown, reason: e.to_string() });
                return;
            }
        };
        let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        // Sorted: the same rules load in the same order on every machine.
        children.sort();
        for child in children {
            let hidden = child.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if child.is_dir() {
                if !hidden {
                    collect(&child, false, sources, loaded, searched);
                }
            } else if is_yaml(&child) {
                collect(&child, false, sources, loaded, searched);
            } else {
                loaded.ignored += 1;
                if loaded.first_ignored.is_none() {
                    loaded.first_ignored = Some(child.display().to_string());
                }
            }
        }
        return;
    }
    if !named && !meta.is_file() {
        loaded.failures.push(Failure { file: shown, reason: "not a regular file".to_owned() });
        return;
    }
    if meta.len() > MAX_RULE_FILE {
        loaded.failures.push(Failure { file: shown, reason: format!("larger than {MAX_RULE_FILE} bytes") });
        return;
    }
    // Read at most one byte past the limit: a device or pipe given by name has no length.
    let mut bytes = Vec::new();
    match std::fs::File::open(path).and_then(|file| file.take(MAX_RULE_FILE + 1).read_to_end(&mut bytes)) {
        Ok(_) if bytes.len() as u64 > MAX_RULE_FILE => {
            loaded.failures.push(Failure { file: shown, reason: format!("larger than {MAX_RULE_FILE} bytes") });
        }
        Ok(_) => sources.push((shown, bytes)),
        Err(e) => loaded.failures.push(Failure { file: shown, reason: e.to_string() }),
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}
