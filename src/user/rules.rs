//! Sigma rules on the stream: load rule files, evaluate each event's JSON object against
//! the rules of its log source, and make an alert of every match.
//!
//! The engine is rsigma (`rsigma-parser`, `rsigma-eval`): it compiles each rule once and
//! matches JSON events against the compiled set. What it is given is the object the JSON
//! output prints ([`super::json`]), parsed back: one formatter, so a rule
//! sees exactly the fields and values a SIEM would.
//!
//! Log sources, as Sysmon's Sigma pipeline maps them ([`CATEGORIES`]): product `windows`
//! and category `process_creation` (`EventID` 1), `process_termination` (5),
//! `driver_load` (6), `image_load` (7), `create_remote_thread` (8). A rule for any other
//! log source is skipped and counted; so are correlation rules and filters. A file that
//! cannot be read, parsed or compiled is a failure, named once with its reason, and never
//! stops the load. Folders are searched recursively for `.yml`/`.yaml` files (hidden
//! folders such as `.git` are not entered); their other files are counted as ignored.
//! A rule file is untrusted input: what the parser or the engine cannot take (deep
//! nesting, long conditions, huge regexes, files that never end) is refused before it
//! gets there, each limit a constant below, measured against the public rules.
//!
//! Three places where rsigma 0.23 departs from the Sigma specification are mended here,
//! on the parsed rule before it is compiled (`mend`), found by probing it against
//! pySigma (docs/sigma-agreement.md) and the specification:
//! * a wildcard `*` must match any characters, line breaks included (command lines hold
//!   them), and rsigma's regex for it does not;
//! * a value with wildcards under `startswith` is anchored at the end and one under
//!   `endswith` at the start (swapped): `startswith: 'a?c'` matched `xabc`, not `abcx`;
//!
//!   values with wildcards become regexes with the dot-matches-newline flag, anchored as
//!   their modifiers say;
//! * a value list holding `null` (`Field: [null, '']`) never matched an event without
//!   the field: such an item is split into its `null` and its other values, either of which may match;
//! * `windash` expanded only a `-` written in the rule, not a `/`, and took a wildcard in
//!   such a value literally: the values are expanded here, as pySigma does;
//! * `base64offset` must drop the last base64 character of each of the three encodings
//!   where its bits depend on the bytes after the value, and rsigma keeps it, so the
//!   value matches only where those bits happen to be zero: the values are encoded here.

use core::fmt::Write as _;
use std::borrow::ToOwned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsigma_eval::{Engine, JsonEvent};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, SigmaRule, SigmaString, SigmaValue, SpecialChar, StringPart,
};
use serde_json::{Map, Value};

use super::json::ALERT_EVENT_ID;

/// The Sigma categories notifyring's events answer, with their `EventID`.
pub const CATEGORIES: [(&str, u64); 5] = [
    ("process_creation", 1),
    ("process_termination", 5),
    ("driver_load", 6),
    ("image_load", 7),
    ("create_remote_thread", 8),
];

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
const PARSER_STACK: usize = 64 << 20;

/// A failure's reason longer than this many characters keeps only its two ends.
///
/// The first and last half of them: the condition parser's messages can quote the
/// whole condition, up to 64 KiB, and wrap a nested error once per level.
pub const MAX_REASON: usize = 200;

/// The event's keys an alert copies, by `EventID`: its process (or, for a driver load,
/// the driver), under the event's own names.
const IDENTITY: [(u64, &[&str]); 5] = [
    (1, &["ProcessId", "Image"]),
    (5, &["ProcessId", "Image"]),
    (6, &["ImageLoaded"]),
    (7, &["ProcessId", "Image"]),
    (8, &["SourceProcessId", "SourceImage"]),
];

/// A rule's level, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `informational`
    Informational,
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
    /// `critical`
    Critical,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Self; 5] = [Self::Informational, Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The name Sigma gives it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Informational => "informational",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Parses a level name (any case).
    ///
    /// # Errors
    /// A one-line message naming the word and the levels.
    pub fn parse(word: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(word.trim()))
            .ok_or_else(|| format!("unknown level {word:?} (expected informational, low, medium, high, critical)"))
    }

    const fn of(level: Option<rsigma_parser::Level>) -> Self {
        match level {
            // A rule without a level is shown as the lowest, never hidden by `--min-level`
            // more than an informational one would be.
            None | Some(rsigma_parser::Level::Informational) => Self::Informational,
            Some(rsigma_parser::Level::Low) => Self::Low,
            Some(rsigma_parser::Level::Medium) => Self::Medium,
            Some(rsigma_parser::Level::High) => Self::High,
            Some(rsigma_parser::Level::Critical) => Self::Critical,
        }
    }

    /// Its place in [`Level::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }
}

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
    /// Rules loaded, by category (in [`CATEGORIES`] order).
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

/// What the engine knows of one rule beyond what it matches.
struct RuleInfo {
    /// Its place in the load order: alerts on one event come in this order.
    order: usize,
    id: String,
    title: String,
    level: Level,
    /// The fields its detection names, in name order.
    fields: Vec<String>,
}

/// One category's rules.
struct Category {
    event_id: u64,
    engine: Engine,
    /// By rule id (or title, for a rule without one).
    info: HashMap<String, RuleInfo>,
}

/// The loaded rules, ready to evaluate events.
pub struct Rules {
    categories: Vec<Category>,
    loaded: Loaded,
    /// Alerts below this level are not made.
    min_level: Level,
    /// What the regexes loaded so far count against [`MAX_REGEX_TOTAL`].
    regex_bytes: usize,
}

/// Alerts made so far, by level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertCounts(pub [u64; 5]);

impl AlertCounts {
    /// All levels together.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `N alerts (critical 1, high 2, …)`, levels with none left out.
    #[must_use]
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        for level in Level::ALL.into_iter().rev() {
            let n = self.0[level.index()];
            if n != 0 {
                parts.push(format!("{} {n}", level.name()));
            }
        }
        if parts.is_empty() {
            format!("{} alerts", self.total())
        } else {
            format!("{} alerts ({})", self.total(), parts.join(", "))
        }
    }
}

/// One match: what an alert says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The rule's `id` (its title if it has none).
    pub rule_id: String,
    /// The rule's `title`.
    pub title: String,
    /// The rule's `level`.
    pub level: Level,
    /// The matched event's `Sequence`.
    pub sequence: Option<u64>,
    /// The matched event's `EventID`.
    pub event_id: u64,
    /// The matched event's `UtcTime`.
    pub utc_time: Option<String>,
    /// The matched event's process (or driver), under the event's own keys.
    pub identity: Vec<(&'static str, Value)>,
    /// The fields the rule's detection names, with the event's values (absent ones left out).
    pub fields: Vec<(String, Value)>,
}

impl Alert {
    /// The alert as one JSON object (docs/json.md, `EventID` 1003).
    #[must_use]
    pub fn json(&self) -> String {
        let mut object = Map::new();
        object.insert("EventID".into(), Value::from(ALERT_EVENT_ID));
        object.insert("Kind".into(), Value::from("alert"));
        object.insert("RuleId".into(), Value::from(self.rule_id.as_str()));
        object.insert("RuleTitle".into(), Value::from(self.title.as_str()));
        object.insert("RuleLevel".into(), Value::from(self.level.name()));
        if let Some(seq) = self.sequence {
            object.insert("Sequence".into(), Value::from(seq));
        }
        object.insert("MatchedEventID".into(), Value::from(self.event_id));
        if let Some(time) = &self.utc_time {
            object.insert("UtcTime".into(), Value::from(time.as_str()));
        }
        for (key, value) in &self.identity {
            object.insert((*key).to_owned(), value.clone());
        }
        let fields: Map<String, Value> = self.fields.iter().cloned().collect();
        object.insert("RuleFields".into(), Value::Object(fields));
        Value::Object(object).to_string()
    }

    /// The alert as one text line, beside the debugger's lines.
    #[must_use]
    pub fn text(&self) -> String {
        let mut line = format!(
            "notifyring: ALERT level={} rule={} id={} seq={} event={}",
            self.level.name(),
            Value::from(self.title.as_str()),
            self.rule_id,
            self.sequence.map_or_else(|| "?".to_owned(), |s| s.to_string()),
            self.event_id
        );
        // The event's process, then the rule's fields it has not named already.
        let fields = self.fields.iter().filter(|(k, _)| !self.identity.iter().any(|(i, _)| i == k));
        for (key, value) in self.identity.iter().map(|(k, v)| (*k, v)).chain(fields.map(|(k, v)| (k.as_str(), v))) {
            let _ = write!(line, " {key}={value}");
        }
        line
    }
}

impl core::fmt::Debug for Rules {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rules")
            .field("loaded", &self.loaded)
            .field("min_level", &self.min_level)
            .finish_non_exhaustive()
    }
}

impl Rules {
    /// Loads the rules in `paths` (files, or folders searched recursively). Never fails:
    /// what does not load is in [`Rules::loaded`].
    #[must_use]
    pub fn load(paths: &[PathBuf]) -> Self {
        let mut sources = Vec::new();
        let mut loaded = Loaded::default();
        let mut searched = BTreeMap::new();
        for path in paths {
            collect(path, true, &mut sources, &mut loaded, &mut searched);
        }
        let sources: Vec<(&str, &[u8])> =
            sources.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
        let mut rules = Self::empty(loaded);
        rules.add_sources(&sources);
        rules
    }

    /// Loads rules from `(name, bytes)` pairs, as if each were a file of that name.
    #[must_use]
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let sources: Vec<(&str, &[u8])> = sources.into_iter().collect();
        let mut rules = Self::empty(Loaded::default());
        rules.add_sources(&sources);
        rules
    }

    fn empty(loaded: Loaded) -> Self {
        let categories = CATEGORIES
            .iter()
            .map(|&(_, event_id)| Category { event_id, engine: Engine::new(), info: HashMap::new() })
            .collect();
        Self { categories, loaded, min_level: Level::Informational, regex_bytes: 0 }
    }

    /// Makes no alert below `level`.
    #[must_use]
    pub const fn min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// What loading found.
    #[must_use]
    pub const fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    fn fail(&mut self, file: &str, reason: impl Into<String>) {
        let reason: String = reason.into();
        // One line: the parser's messages can span several.
        let mut reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
        // Its start (what failed) and its end (the innermost cause), if it is too long.
        let length = reason.chars().count();
        if length > MAX_REASON {
            let head: String = reason.chars().take(MAX_REASON / 2).collect();
            let tail: String = reason.chars().skip(length - MAX_REASON / 2).collect();
            reason = format!("{head} ... {tail}");
        }
        self.loaded.failures.push(Failure { file: file.to_owned(), reason });
    }

    /// Adds the sources on a thread of its own with a [`PARSER_STACK`] (on the caller's if
    /// no thread can start): parsing a condition, compiling it and dropping it each
    /// recurse once per level, and the parser sees how deep only once it has parsed.
    fn add_sources(&mut self, sources: &[(&str, &[u8])]) {
        let started = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("rules-parser".to_owned())
                .stack_size(PARSER_STACK)
                .spawn_scoped(scope, || sources.iter().for_each(|&(name, bytes)| self.add_source(name, bytes)))
                // A panic in the parser is the caller's, as it would be on its own thread.
                .map(|parser| parser.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        });
        if started.is_err() {
            for &(name, bytes) in sources {
                self.add_source(name, bytes);
            }
        }
    }

    fn add_source(&mut self, name: &str, bytes: &[u8]) {
        let Ok(text) = core::str::from_utf8(bytes) else {
            self.fail(name, "not valid UTF-8");
            return;
        };
        if let Err(reason) = prescan(text) {
            self.fail(name, reason);
            return;
        }
        let parsed = parse(text);
        if parsed.errors.is_empty() && parsed.rules.is_empty() && parsed.skipped == 0 {
            self.fail(name, "no Sigma rule in it");
        }
        for error in parsed.errors {
            self.fail(name, error);
        }
        self.loaded.skipped += parsed.skipped;
        for rule in &parsed.rules {
            self.add_rule(name, rule);
        }
    }

    fn add_rule(&mut self, name: &str, rule: &SigmaRule) {
        let Some(index) = category_of(rule) else {
            self.loaded.skipped += 1;
            return;
        };
        let key = rule.id.clone().unwrap_or_else(|| rule.title.clone());
        let mut rule = rule.clone();
        mend(&mut rule);
        let rule = &rule;
        if self.categories[index].info.contains_key(&key) {
            self.fail(name, format!("rule {key} is loaded already (from another file)"));
            return;
        }
        let regex_bytes = match regex_size(rule, MAX_REGEX_TOTAL.saturating_sub(self.regex_bytes)) {
            Ok(bytes) => bytes,
            Err(why) => {
                self.fail(name, format!("rule {key}: {why}"));
                return;
            }
        };
        let category = &mut self.categories[index];
        if let Err(e) = category.engine.add_rule(rule) {
            self.fail(name, format!("rule {key}: {e}"));
            return;
        }
        self.regex_bytes += regex_bytes;
        let info = RuleInfo {
            order: self.loaded.rules,
            id: key.clone(),
            title: rule.title.clone(),
            level: Level::of(rule.level),
            fields: detection_fields(rule),
        };
        category.info.insert(key, info);
        self.loaded.rules += 1;
        self.loaded.by_category[index] += 1;
    }

    /// Evaluates one event's JSON object (as the JSON output prints it) and calls `alert`
    /// for each match at or above the minimum level, in the order the rules loaded (the
    /// engine's own order depends on its indexes). An object of another `EventID`, or one
    /// that is not JSON, matches nothing.
    pub fn evaluate(&self, object: &str, mut alert: impl FnMut(Alert)) {
        let Ok(event) = serde_json::from_str::<Value>(object) else { return };
        let Some(event_id) = event.get("EventID").and_then(Value::as_u64) else { return };
        let Some(category) = self.categories.iter().find(|c| c.event_id == event_id) else { return };
        if category.info.is_empty() {
            return;
        }
        let results = category.engine.evaluate(&JsonEvent::borrow(&event));
        if results.is_empty() {
            return;
        }
        let mut matched: Vec<&RuleInfo> = results
            .iter()
            .filter_map(|r| category.info.get(r.header.rule_id.as_ref().unwrap_or(&r.header.rule_title)))
            .filter(|info| info.level >= self.min_level)
            .collect();
        matched.sort_by_key(|info| info.order);
        for info in matched {
            alert(make_alert(info, &event, event_id));
        }
    }
}

/// Refuses, before it is parsed, a text the parser would take too long on: `[`/`{`
/// nested deeper than [`MAX_FLOW_NESTING`], more `and`/`or`/`not` words than
/// [`MAX_CONDITION_WORDS`]. Both are counted on the raw text, brackets and words in
/// strings too. Escapes in double quotes can spell letters (`"not\tnot"`) but never
/// structure, so the brackets are never undercounted; words so spelled are bounded only
/// by the parser's own limit, 64 KiB a condition.
fn prescan(text: &str) -> Result<(), String> {
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
struct Parsed {
    /// Why documents or rules did not load, one each.
    errors: Vec<String>,
    /// Correlation rules and filters.
    skipped: usize,
    /// The rules to add.
    rules: Vec<SigmaRule>,
}

/// Parses a rule file's text, and refuses a rule whose condition nests deeper than
/// [`MAX_CONDITION_NESTING`].
fn parse(text: &str) -> Parsed {
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

fn make_alert(info: &RuleInfo, event: &Value, event_id: u64) -> Alert {
    let identity = IDENTITY
        .iter()
        .find(|(id, _)| *id == event_id)
        .map_or(&[][..], |(_, keys)| *keys)
        .iter()
        .filter_map(|&key| event.get(key).map(|v| (key, v.clone())))
        .collect();
    let fields = info.fields.iter().filter_map(|f| event.get(f).map(|v| (f.clone(), v.clone()))).collect();
    Alert {
        rule_id: info.id.clone(),
        title: info.title.clone(),
        level: info.level,
        sequence: event.get("Sequence").and_then(Value::as_u64),
        event_id,
        utc_time: event.get("UtcTime").and_then(Value::as_str).map(ToOwned::to_owned),
        identity,
        fields,
    }
}

/// The category index of a rule this engine evaluates: product `windows` (any case) and
/// one of [`CATEGORIES`]; a `service` other than `sysmon` is another log source.
fn category_of(rule: &SigmaRule) -> Option<usize> {
    let source = &rule.logsource;
    if !source.product.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("windows")) {
        return None;
    }
    if source.service.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("sysmon")) {
        return None;
    }
    let category = source.category.as_deref()?;
    CATEGORIES.iter().position(|(name, _)| name.eq_ignore_ascii_case(category))
}

/// What `rule`'s regexes (`re` values, with their `i`/`m`/`s` flags) count against
/// [`MAX_REGEX_TOTAL`]: each the power of two, from 4 KiB, that its compiled size fits.
/// Refuses a regex over [`MAX_REGEX`], or one that would pass `room`.
fn regex_size(rule: &SigmaRule, room: usize) -> Result<usize, String> {
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

/// Mends the two departures from the specification named in the module doc, in every
/// detection item of `rule`.
fn mend(rule: &mut SigmaRule) {
    fn walk(detection: &mut Detection) {
        match detection {
            Detection::AllOf(items) => {
                if let Some(split) = split_null(items) {
                    *detection = split;
                    walk(detection);
                } else {
                    items.iter_mut().for_each(mend_item);
                }
            }
            Detection::AnyOf(inner) => inner.iter_mut().for_each(walk),
            _ => {}
        }
    }
    rule.detection.named.values_mut().for_each(walk);
}

/// A value list holding `null` among other values (`Field: [null, '']`): the items with
/// `null` alone, or else with the rest. A list is an OR, and `null` alone matches an event
/// without the field, which rsigma's mixed list does not.
fn split_null(items: &[DetectionItem]) -> Option<Detection> {
    let at = items.iter().position(|item| {
        item.values.len() > 1
            && item.values.contains(&SigmaValue::Null)
            && !item.field.modifiers.contains(&Modifier::All)
    })?;
    let mut null = items.to_vec();
    null[at].values = vec![SigmaValue::Null];
    let mut rest = items.to_vec();
    rest[at].values.retain(|v| *v != SigmaValue::Null);
    Some(Detection::AnyOf(vec![Detection::AllOf(null), Detection::AllOf(rest)]))
}

fn mend_item(item: &mut DetectionItem) {
    if item.field.modifiers.contains(&Modifier::WindAsh) {
        mend_windash(item);
    }
    let has = |m: Modifier| item.field.modifiers.contains(&m);
    if has(Modifier::Base64Offset) {
        mend_base64offset(item);
    } else if item.values.iter().any(|v| matches!(v, SigmaValue::String(s) if !s.is_plain())) {
        mend_wildcards(item);
    }
}

/// The dashes `windash` stands for.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// More values than this from one `windash` value: left to rsigma.
const MAX_WINDASH_VALUES: usize = 625;

/// `windash`: every value with each of its option dashes (a `-` or `/` after a non-word
/// character and before a word character, pySigma's `\B[-/]\b`) in each of the five forms.
/// rsigma expanded only `-`, and took a wildcard in such a value literally.
fn mend_windash(item: &mut DetectionItem) {
    let mut values = Vec::new();
    for value in &item.values {
        let SigmaValue::String(s) = value else { return };
        let chars: Vec<char> = s.original.chars().collect();
        let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
        let at: Vec<usize> = (0..chars.len())
            .filter(|&i| {
                matches!(chars[i], '-' | '/')
                    && !word(i.checked_sub(1).and_then(|j| chars.get(j)))
                    && word(chars.get(i + 1))
            })
            .collect();
        let count = u32::try_from(at.len()).ok().and_then(|n| DASHES.len().checked_pow(n));
        if count.is_none_or(|n| n > MAX_WINDASH_VALUES) {
            return;
        }
        let mut variants = vec![chars.clone()];
        for &i in &at {
            variants = variants
                .into_iter()
                .flat_map(|v| {
                    DASHES.iter().map(move |&d| {
                        let mut v = v.clone();
                        v[i] = d;
                        v
                    })
                })
                .collect();
        }
        values.extend(variants.iter().map(|v| SigmaValue::String(SigmaString::new(&v.iter().collect::<String>()))));
    }
    item.values = values;
    item.field.modifiers.retain(|m| *m != Modifier::WindAsh);
}

/// `base64offset|contains`: the three encodings of each value, at offsets 0, 1 and 2, each
/// without the characters that depend on bytes outside the value (the specification's,
/// and pySigma's, expansion), matched as plain `contains` values in the same case mode.
fn mend_base64offset(item: &mut DetectionItem) {
    let modifiers = &item.field.modifiers;
    let known = [
        Modifier::Base64Offset,
        Modifier::Contains,
        Modifier::Cased,
        Modifier::Wide,
        Modifier::Utf16,
        Modifier::Utf16be,
    ];
    // `all` would require every encoding of a value, not one of them: left as it is.
    if !modifiers.contains(&Modifier::Contains) || modifiers.iter().any(|m| !known.contains(m)) {
        return;
    }
    let mut values = Vec::new();
    for value in &item.values {
        let SigmaValue::String(s) = value else { return };
        let Some(text) = s.as_plain() else { return };
        let bytes = if modifiers.contains(&Modifier::Wide) {
            text.encode_utf16().flat_map(u16::to_le_bytes).collect()
        } else if modifiers.contains(&Modifier::Utf16be) {
            text.encode_utf16().flat_map(u16::to_be_bytes).collect()
        } else if modifiers.contains(&Modifier::Utf16) {
            [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
        } else {
            text.as_bytes().to_vec()
        };
        values.extend(base64_offsets(&bytes).into_iter().map(|p| SigmaValue::String(SigmaString::from_raw(&p))));
    }
    item.values = values;
    item.field.modifiers.retain(|m| matches!(m, Modifier::Contains | Modifier::Cased));
}

/// The three `base64offset` encodings of `value`: after 0, 1 and 2 bytes of anything,
/// without the leading characters those bytes touch and the trailing ones the following
/// bytes would (as pySigma: starts 0, 2, 3; ends trimmed by the value's length mod 3).
fn base64_offsets(value: &[u8]) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    for shift in 0..3usize {
        let mut bytes = vec![b' '; shift];
        bytes.extend_from_slice(value);
        let encoded = BASE64.encode(&bytes);
        let start = [0, 2, 3][shift];
        let end = encoded.len().saturating_sub([0, 3, 2][(value.len() + shift) % 3]);
        if let Some(part) = encoded.get(start..end).filter(|p| !p.is_empty()) {
            out.push(part.to_owned());
        }
    }
    out
}

/// Values with wildcards, under `contains`/`startswith`/`endswith`/`all`/`cased` only: the
/// whole item becomes regexes (its plain values too: one modifier list serves them all),
/// anchored as those modifiers say, case-insensitive unless `cased`, `*` and `?` matching
/// line breaks.
fn mend_wildcards(item: &mut DetectionItem) {
    let modifiers = &item.field.modifiers;
    let string = [Modifier::Contains, Modifier::StartsWith, Modifier::EndsWith, Modifier::All, Modifier::Cased];
    if modifiers.iter().any(|m| !string.contains(m)) || item.values.iter().any(|v| !matches!(v, SigmaValue::String(_)))
    {
        return;
    }
    let has = |m: Modifier| modifiers.contains(&m);
    let (contains, starts, ends) = (has(Modifier::Contains), has(Modifier::StartsWith), has(Modifier::EndsWith));
    let flags = if has(Modifier::Cased) { "(?s)" } else { "(?si)" };
    let mut values = Vec::with_capacity(item.values.len());
    for value in &item.values {
        let SigmaValue::String(s) = value else { return };
        let mut pattern = String::from(flags);
        // Anchored at the start unless the value may sit anywhere or end the field.
        if !contains && !ends {
            pattern.push('^');
        }
        for part in &s.parts {
            match part {
                StringPart::Plain(text) => escape_regex(text, &mut pattern),
                StringPart::Special(SpecialChar::WildcardMulti) => pattern.push_str(".*"),
                StringPart::Special(SpecialChar::WildcardSingle) => pattern.push('.'),
            }
        }
        if !contains && !starts {
            pattern.push('$');
        }
        values.push(SigmaValue::String(SigmaString::from_raw(&pattern)));
    }
    item.values = values;
    let all = has(Modifier::All);
    item.field.modifiers = if all { vec![Modifier::Re, Modifier::All] } else { vec![Modifier::Re] };
}

/// Appends `text` to a regex, its meta characters escaped (the regex crate's set).
fn escape_regex(text: &str, pattern: &mut String) {
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
}

/// The field names a rule's detection mentions, sorted, each once.
fn detection_fields(rule: &SigmaRule) -> Vec<String> {
    fn walk(detection: &Detection, names: &mut BTreeSet<String>) {
        match detection {
            Detection::AllOf(items) => {
                names.extend(items.iter().filter_map(|item| item.field.name.clone()));
            }
            Detection::AnyOf(inner) => inner.iter().for_each(|d| walk(d, names)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for detection in rule.detection.named.values() {
        walk(detection, &mut names);
    }
    names.into_iter().collect()
}

/// Adds the rule files under `path` to `sources` (a file given by name is read whatever
/// its extension and kind, up to [`MAX_RULE_FILE`]; in a folder only regular files are:
/// a named pipe would wait for a writer). A folder is searched once, however many paths
/// (symbolic links, loops among them) lead to it: `searched` holds the real path of each
/// folder searched, and the path it was searched by.
fn collect(
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

#[cfg(test)]
mod tests {
    use super::*;

    const WHOAMI: &str = r"
title: Whoami run
id: 11111111-1111-1111-1111-111111111111
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
level: high
";

    #[test]
    fn a_matching_event_makes_one_alert_with_its_fields() {
        let rules = Rules::from_sources([("whoami.yml", WHOAMI.as_bytes())]);
        assert_eq!(rules.loaded().rules, 1);
        let mut alerts = Vec::new();
        let event = r#"{"EventID":1,"Sequence":7,"UtcTime":"2026-01-01 00:00:00.000","ProcessId":42,"Image":"C:\\Windows\\System32\\WHOAMI.EXE"}"#;
        rules.evaluate(event, |a| alerts.push(a));
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(
            (a.rule_id.as_str(), a.level, a.sequence, a.event_id),
            ("11111111-1111-1111-1111-111111111111", Level::High, Some(7), 1)
        );
        assert_eq!(a.fields, [("Image".to_owned(), Value::from("C:\\Windows\\System32\\WHOAMI.EXE"))]);
        let json: Value = serde_json::from_str(&a.json()).unwrap();
        assert_eq!(json["EventID"], ALERT_EVENT_ID);
        assert_eq!(json["Kind"], "alert");
        assert_eq!(json["ProcessId"], 42);
        assert!(a.text().starts_with("notifyring: ALERT level=high rule=\"Whoami run\""));
    }

    #[test]
    fn other_event_ids_and_levels_below_the_minimum_make_none() {
        let rules = Rules::from_sources([("whoami.yml", WHOAMI.as_bytes())]);
        let mut n = 0;
        rules.evaluate(r#"{"EventID":7,"Image":"C:\\whoami.exe"}"#, |_| n += 1);
        rules.evaluate("not json", |_| n += 1);
        assert_eq!(n, 0);
        let rules = rules.min_level(Level::Critical);
        rules.evaluate(r#"{"EventID":1,"Image":"C:\\whoami.exe"}"#, |_| n += 1);
        assert_eq!(n, 0);
    }

    #[test]
    fn bad_rules_are_counted_and_named_never_fatal() {
        let other = WHOAMI.replace("process_creation", "network_connection").replace("1111", "2222");
        let unknown_modifier = WHOAMI.replace("endswith", "endswithh").replace("1111", "3333");
        let rules = Rules::from_sources([
            ("bad.yml", &b"title: [unclosed"[..]),
            ("latin1.yml", &b"title: caf\xe9"[..]),
            ("other.yml", other.as_bytes()),
            ("modifier.yml", unknown_modifier.as_bytes()),
            ("whoami.yml", WHOAMI.as_bytes()),
            ("again.yml", WHOAMI.as_bytes()),
        ]);
        let loaded = rules.loaded();
        assert_eq!((loaded.rules, loaded.skipped), (1, 1));
        let files: Vec<&str> = loaded.failures.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, ["bad.yml", "latin1.yml", "modifier.yml", "again.yml"]);
        assert!(loaded.failures.iter().all(|f| !f.reason.is_empty() && !f.reason.contains('\n')));
    }

    /// A process-creation rule with this detection body (indented under `detection:`).
    fn rule(detection: &str) -> String {
        format!(
            "title: t\nid: 44444444-4444-4444-4444-444444444444\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n{detection}\n    condition: selection\nlevel: low\n"
        )
    }

    fn fires(rule_text: &str, command_line: &str) -> bool {
        let rules = Rules::from_sources([("r.yml", rule_text.as_bytes())]);
        assert_eq!(rules.loaded().rules, 1, "{:?}", rules.loaded());
        let event = serde_json::json!({ "EventID": 1, "Sequence": 1, "CommandLine": command_line }).to_string();
        let mut n = 0;
        rules.evaluate(&event, |_| n += 1);
        n == 1
    }

    #[test]
    fn a_wildcard_matches_across_line_breaks_as_the_specification_says() {
        let r =
            rule("    selection:\n        CommandLine|contains:\n            - 'join*split'\n            - 'plain'");
        assert!(fires(&r, "a -JOIN ''\n$t = $s -split ''"));
        assert!(fires(&r, "x PLAIN y"), "the item's plain value still matches, in any case");
        assert!(!fires(&r, "split then join"));
        let r = rule("    selection:\n        CommandLine|cased|startswith: 'a?c'");
        assert!(fires(&r, "a\nc and more"));
        assert!(!fires(&r, "A\nC and more"), "cased");
        let r = rule("    selection:\n        CommandLine|startswith: 'a?c'");
        assert!(fires(&r, "abc and more") && !fires(&r, "more then abc"), "startswith anchors the start");
        let r = rule("    selection:\n        CommandLine|endswith: 'a*c'");
        assert!(fires(&r, "more then abc") && !fires(&r, "abc and more"), "endswith anchors the end");
        let r = rule("    selection:\n        CommandLine: 'a.(b)*'");
        assert!(fires(&r, "a.(b)\nx"));
        assert!(!fires(&r, "ax(b)"), "regex meta characters stay literal");
    }

    #[test]
    fn base64offset_matches_whatever_bytes_follow_the_value() {
        let r = rule("    selection:\n        CommandLine|base64offset|contains: 'IEX (New'");
        // base64 of `$a=1;IEX (New-Object Net.WebClient)`: the value at offset 5, mid-payload.
        assert!(fires(&r, "b.exe JGE9MTtJRVggKE5ldy1PYmplY3QgTmV0LldlYkNsaWVudCk="));
        for prefix in ["", "x", "xy"] {
            let payload = BASE64.encode(format!("{prefix}IEX (New-Object)"));
            assert!(fires(&r, &payload), "offset {}: {payload}", prefix.len());
        }
        assert!(!fires(&r, &BASE64.encode("IEX (Old-Object)")));
        assert_eq!(base64_offsets(b"IEX (New"), ["SUVYIChOZX", "lFWCAoTmV3", "JRVggKE5ld"]);
    }

    #[test]
    fn windash_expands_slashes_and_dashes_and_keeps_wildcards() {
        let r = rule("    selection:\n        CommandLine|windash|contains: ' /c '");
        for cmd in ["cmd /c dir", "cmd -c dir", "cmd \u{2013}c dir", "cmd \u{2014}c dir", "cmd \u{2015}c dir"] {
            assert!(fires(&r, cmd), "{cmd}");
        }
        assert!(!fires(&r, "cmd +c dir"));
        let r = rule("    selection:\n        CommandLine|windash|contains: '-enc*JAB'");
        assert!(fires(&r, "powershell /encodedcommand JABz"), "a wildcard stays a wildcard");
        let r = rule("    selection:\n        CommandLine|windash|contains: 'x-y'");
        assert!(fires(&r, "x-y") && !fires(&r, "x/y"), "a dash inside a word is not an option dash");
    }

    #[test]
    fn a_list_with_null_matches_an_absent_field() {
        let r = rule(
            "    selection:\n        CommandLine|contains: 'x'\n        ParentImage:\n            - null\n            - ''",
        );
        assert!(fires(&r, "x"), "ParentImage absent");
        let rules = Rules::from_sources([("r.yml", r.as_bytes())]);
        let mut n = 0;
        for parent in ["", "C:\\p.exe"] {
            let event = serde_json::json!({ "EventID": 1, "CommandLine": "x", "ParentImage": parent }).to_string();
            rules.evaluate(&event, |_| n += 1);
        }
        assert_eq!(n, 1, "'' matches, another parent does not");
    }

    #[test]
    fn alerts_on_one_event_come_in_load_order() {
        let ids = [
            "ffffffff-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
            "88888888-0000-0000-0000-000000000003",
        ];
        let texts: Vec<String> =
            ids.iter().map(|id| WHOAMI.replace("11111111-1111-1111-1111-111111111111", id)).collect();
        let rules = Rules::from_sources(texts.iter().map(|t| ("r.yml", t.as_bytes())));
        let mut seen = Vec::new();
        rules.evaluate(r#"{"EventID":1,"Image":"C:\\whoami.exe"}"#, |a| seen.push(a.rule_id));
        assert_eq!(seen, ids);
    }

    #[test]
    fn regexes_are_sized_one_by_one_and_together() {
        let re = |id: usize, pattern: &str| {
            rule(&format!("    selection:\n        CommandLine|re: '{pattern}'"))
                .replace("44444444-4444-4444-4444-444444444444", &format!("44444444-4444-4444-4444-{id:012}"))
        };
        let big = Rules::from_sources([("big.yml", re(1, "\\w{200}").as_bytes())]);
        assert_eq!(big.loaded().rules, 0);
        assert!(big.loaded().failures[0].reason.contains("a regex compiles to more than"), "{:?}", big.loaded());
        // 4 MiB each (the largest public rule's class): 64 fit the total, the next do not.
        let texts: Vec<String> = (0..66).map(|i| re(i, "-k\\s\\w{1,64}")).collect();
        let many = Rules::from_sources(texts.iter().map(|t| ("many.yml", t.as_bytes())));
        assert_eq!(many.loaded().rules, MAX_REGEX_TOTAL / (4 << 20));
        assert!(many.loaded().failures.iter().all(|f| f.reason.contains("the regexes loaded would compile")));
        assert!(fires(&re(0, "-k\\s\\w{1,64}"), "svchost.exe -k netsvcs"));
    }

    #[test]
    fn levels_parse_in_any_case() {
        assert_eq!(Level::parse("HIGH"), Ok(Level::High));
        assert!(Level::parse("severe").is_err());
        assert!(Level::Low < Level::Critical);
    }
}
