//! Sigma rules on the stream: load rule files, evaluate each event's JSON object against
//! the rules of its log source, and make an alert of every match.
//!
//! The engine is rsigma (`rsigma-parser`, `rsigma-eval`): it compiles each rule once and
//! matches JSON events against the compiled set. What it is given is the object the JSON
//! output prints ([`super::json`]), parsed back: one formatter, so a rule sees exactly the
//! fields and values a SIEM would.
//!
//! Log sources, as Sysmon's Sigma pipeline maps them ([`CATEGORIES`]): product `windows`
//! and category `process_creation` (`EventID` 1), `process_termination` (5),
//! `driver_load` (6), `image_load` (7), `create_remote_thread` (8), one engine each. A rule
//! for any other log source is skipped and counted; so are correlation rules and filters.
//!
//! * this file: [`Rules`] (load, evaluate);
//! * [`load`]: reading rule files, their limits, and what did not load ([`Loaded`]);
//! * `mend`: where rsigma 0.23 departs from the Sigma specification, mended on the parsed
//!   rule before it is compiled;
//! * [`alert`]: what a match says ([`Alert`]), as JSON or a text line, the counts, and
//!   the rule's [`Level`].

use std::borrow::ToOwned;
use std::collections::{BTreeMap, HashMap};
use std::format;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

use rsigma_eval::{Engine, JsonEvent};
use rsigma_parser::SigmaRule;
use serde_json::Value;

use alert::{RuleInfo, detection_fields, make_alert};
use load::{PARSER_STACK, collect, parse, prescan, regex_size};
use mend::mend;

pub mod alert;
pub mod load;
mod mend;

pub use alert::{Alert, AlertCounts, Level};
pub use load::{
    Failure, Loaded, MAX_CONDITION_NESTING, MAX_CONDITION_WORDS, MAX_FLOW_NESTING, MAX_REASON, MAX_REGEX,
    MAX_REGEX_TOTAL, MAX_RULE_FILE,
};

/// The Sigma categories notifyring's events answer, with their `EventID`.
pub const CATEGORIES: [(&str, u64); 5] = [
    ("process_creation", 1),
    ("process_termination", 5),
    ("driver_load", 6),
    ("image_load", 7),
    ("create_remote_thread", 8),
];

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
        // One Aho-Corasick pass over an event rules out the rules none of whose needles
        // occur in it: 1.5-1.8x faster per event on the recorded traces. Turned on once
        // all rules are in: the index is rebuilt on every rule added while it is on.
        for category in &mut self.categories {
            category.engine.set_cross_rule_ac(true);
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
        for rule in parsed.rules {
            self.add_rule(name, rule);
        }
    }

    fn add_rule(&mut self, name: &str, mut rule: SigmaRule) {
        let Some(index) = category_of(&rule) else {
            self.loaded.skipped += 1;
            return;
        };
        let key = rule.id.clone().unwrap_or_else(|| rule.title.clone());
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

#[cfg(test)]
mod tests {
    use super::mend::base64_offsets;
    use super::*;
    use crate::user::json::ALERT_EVENT_ID;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use std::string::ToString;

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
