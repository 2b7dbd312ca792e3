//! docs/sigma-coverage.md: which of the shared `SigmaHQ` rules (../shared/sigma) can never
//! match notifyring's events, and why. This file generates the page and fails when the
//! committed one differs, so the table cannot go stale; the planted rules below show the
//! analysis deciding each case.
//!
//! A rule can never match when, with the keys docs/json.md lists for its `EventID` (the
//! one owner of that list), its condition cannot be true. Each detection item is read in
//! three values: on a key notifyring never gives that `EventID` it is false (`null` alone
//! and `exists: false` are true there, `exists: true` false); anything else is unknown.
//! The condition combines them (`not` swaps true and false, `and`/`or`, `1 of`/`all of`,
//! `N of`), and a rule whose condition is false can never match; the keys that decided
//! it are the ones its row names.
//!
//! Regenerate the page: `SIGMA_COVERAGE_WRITE=1 cargo test --profile host --test sigma_coverage`.

mod common;

use common::json_schema;
use notifyring::user::rules::{CATEGORIES, Rules};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SigmaRule, SigmaValue, parse_sigma_yaml,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable that makes the freshness test write the page.
const WRITE: &str = "SIGMA_COVERAGE_WRITE";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// --- Three-valued logic ---------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    False,
    Unknown,
    True,
}

/// A truth value and, where it is definite, the keys notifyring never gives that decide
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    truth: Truth,
    because: BTreeSet<String>,
}

impl Verdict {
    const fn unknown() -> Self {
        Self { truth: Truth::Unknown, because: BTreeSet::new() }
    }

    fn missing(truth: Truth, keys: impl IntoIterator<Item = String>) -> Self {
        Self { truth, because: keys.into_iter().collect() }
    }

    fn not(self) -> Self {
        let truth = match self.truth {
            Truth::False => Truth::True,
            Truth::Unknown => Truth::Unknown,
            Truth::True => Truth::False,
        };
        Self { truth, ..self }
    }

    /// At least `n` of `items` true: true once `n` are, false once fewer than `n` can be.
    /// `and` is all of them, `or` one.
    fn at_least(n: usize, items: Vec<Self>) -> Self {
        let count = |t| items.iter().filter(|v| v.truth == t).count();
        let (yes, unknown) = (count(Truth::True), count(Truth::Unknown));
        let truth = if yes >= n {
            Truth::True
        } else if yes + unknown < n {
            Truth::False
        } else {
            return Self::unknown();
        };
        let because = items.into_iter().filter(|v| v.truth == truth).flat_map(|v| v.because).collect();
        Self { truth, because }
    }

    fn all(items: Vec<Self>) -> Self {
        Self::at_least(items.len(), items)
    }

    fn any(items: Vec<Self>) -> Self {
        Self::at_least(1, items)
    }
}

/// One detection item, on an event that has exactly the keys `keys`.
fn item(item: &DetectionItem, keys: &BTreeSet<String>) -> Verdict {
    // A field-less item (keywords, `'|all'`) searches every value: unknown.
    let Some(name) = &item.field.name else { return Verdict::unknown() };
    let has = |m: Modifier| item.field.modifiers.contains(&m);
    if keys.contains(name) {
        if has(Modifier::FieldRef) {
            // Compared with another key: never equal where that key is never there.
            let referenced: Vec<String> = item.values.iter().filter_map(plain).collect();
            if !referenced.is_empty() && referenced.iter().all(|r| !keys.contains(r)) {
                return Verdict::missing(Truth::False, referenced);
            }
        }
        return Verdict::unknown();
    }
    if has(Modifier::Exists) {
        let expected = match item.values.first() {
            Some(SigmaValue::Bool(b)) => *b,
            Some(v) => !matches!(plain(v).as_deref(), Some("false" | "no")),
            None => true,
        };
        let truth = if expected { Truth::False } else { Truth::True };
        return Verdict::missing(truth, [name.clone()]);
    }
    if has(Modifier::Neq) {
        // The specification does not say what `neq` makes of an absent key.
        return Verdict::unknown();
    }
    let nulls = item.values.iter().filter(|v| matches!(v, SigmaValue::Null)).count();
    if nulls == 0 {
        Verdict::missing(Truth::False, [name.clone()])
    } else if nulls == item.values.len() {
        Verdict::missing(Truth::True, [name.clone()])
    } else {
        // A null beside other values: the specification matches absence, rsigma does not
        // (tests/sigma_semantics.rs). Either could be meant.
        Verdict::unknown()
    }
}

fn plain(value: &SigmaValue) -> Option<String> {
    match value {
        SigmaValue::String(s) => Some(s.original.clone()),
        _ => None,
    }
}

/// A named detection (a selection, a filter).
fn detection(detection: &Detection, keys: &BTreeSet<String>) -> Verdict {
    match detection {
        Detection::AllOf(items) => Verdict::all(items.iter().map(|i| item(i, keys)).collect()),
        Detection::AnyOf(inner) => Verdict::any(inner.iter().map(|d| self::detection(d, keys)).collect()),
        Detection::And(inner) => Verdict::all(inner.iter().map(|d| self::detection(d, keys)).collect()),
        // Keywords search every value; array blocks do not occur in Windows events.
        _ => Verdict::unknown(),
    }
}

fn condition(expr: &ConditionExpr, named: &BTreeMap<&str, Verdict>) -> Verdict {
    match expr {
        ConditionExpr::And(items) => Verdict::all(items.iter().map(|e| condition(e, named)).collect()),
        ConditionExpr::Or(items) => Verdict::any(items.iter().map(|e| condition(e, named)).collect()),
        ConditionExpr::Not(inner) => condition(inner, named).not(),
        ConditionExpr::Identifier(name) => named.get(name.as_str()).cloned().unwrap_or_else(Verdict::unknown),
        ConditionExpr::Selector { quantifier, pattern } => {
            let chosen: Vec<Verdict> =
                named.iter().filter(|(n, _)| pattern.matches_detection_name(n)).map(|(_, v)| v.clone()).collect();
            let n = match quantifier {
                Quantifier::Any => 1,
                Quantifier::All => chosen.len(),
                Quantifier::Count(n) => usize::try_from(*n).unwrap_or(usize::MAX),
            };
            Verdict::at_least(n, chosen)
        }
    }
}

/// The rule, on an event that has exactly the keys `keys`. Several conditions are an or.
fn rule(rule: &SigmaRule, keys: &BTreeSet<String>) -> Verdict {
    let named: BTreeMap<&str, Verdict> =
        rule.detection.named.iter().map(|(name, d)| (name.as_str(), detection(d, keys))).collect();
    Verdict::any(rule.detection.conditions.iter().map(|c| condition(c, &named)).collect())
}

// --- Inputs -----------------------------------------------------------------------------

/// docs/json.md's keys for each category's `EventID`, its own table's and the common keys,
/// as the JSON tests hold every object to them.
fn documented_keys() -> HashMap<u64, BTreeSet<String>> {
    let schema = json_schema::schema();
    CATEGORIES
        .iter()
        .map(|&(_, id)| {
            (id, schema.event_keys(id).unwrap_or_else(|| panic!("docs/json.md: no table for EventID {id}")))
        })
        .collect()
}

/// The category index notifyring's engine files a rule under (src/user/rules/): product
/// `windows`, service none or `sysmon`, one of [`CATEGORIES`].
fn category_of(rule: &SigmaRule) -> Option<usize> {
    let source = &rule.logsource;
    if !source.product.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("windows"))
        || source.service.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("sysmon"))
    {
        return None;
    }
    let category = source.category.as_deref()?;
    CATEGORIES.iter().position(|(name, _)| name.eq_ignore_ascii_case(category))
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rule_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

// --- The analysis and the page -------------------------------------------------------

/// One rule of the set.
struct Row {
    /// The file, under rules/.
    file: String,
    title: String,
    id: String,
    category: usize,
    /// Why notifyring's engine did not load it.
    failure: Option<String>,
    verdict: Verdict,
    modifiers: BTreeSet<String>,
    /// Which of [`READINGS`] apply to it.
    readings: [bool; READINGS.len()],
}

impl Row {
    /// Loaded, and its condition is false on every event of its category.
    fn never(&self) -> bool {
        self.failure.is_none() && self.verdict.truth == Truth::False
    }
}

fn analyse(rules_dir: &Path) -> Vec<Row> {
    let keys = documented_keys();
    let mut files = Vec::new();
    rule_files(rules_dir, &mut files);
    let mut rows = Vec::new();
    for path in files {
        let file = path.strip_prefix(rules_dir).expect("under rules/").to_string_lossy().replace('\\', "/");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let text = String::from_utf8_lossy(&bytes);
        let collection = parse_sigma_yaml(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let engine = Rules::from_sources([(file.as_str(), &bytes[..])]);
        let loaded = engine.loaded();
        let failure = loaded.failures.first().map(|f| f.reason.clone());
        for sigma in &collection.rules {
            let Some(category) = category_of(sigma) else { continue };
            if failure.is_none() {
                assert_eq!(loaded.by_category[category], collection.rules.len(), "{file}: filed elsewhere");
            }
            let event_keys = &keys[&CATEGORIES[category].1];
            rows.push(Row {
                file: file.clone(),
                title: sigma.title.clone(),
                id: sigma.id.clone().unwrap_or_default(),
                category,
                failure: failure.clone(),
                verdict: rule(sigma, event_keys),
                modifiers: modifiers_of(sigma),
                readings: READINGS.map(|(_, affects)| items_of(sigma).into_iter().any(affects)),
            });
        }
    }
    rows
}

/// Every detection item of a rule's named detections.
fn items_of(rule: &SigmaRule) -> Vec<&DetectionItem> {
    fn walk<'a>(detection: &'a Detection, out: &mut Vec<&'a DetectionItem>) {
        match detection {
            Detection::AllOf(items) => out.extend(items),
            Detection::AnyOf(inner) | Detection::And(inner) => inner.iter().for_each(|d| walk(d, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    rule.detection.named.values().for_each(|d| walk(d, &mut out));
    out
}

/// The modifiers a rule uses, by their Sigma names.
fn modifiers_of(rule: &SigmaRule) -> BTreeSet<String> {
    items_of(rule)
        .into_iter()
        .flat_map(|i| &i.field.modifiers)
        .map(|m| {
            let name = serde_json::to_value(m).ok().and_then(|v| v.as_str().map(ToOwned::to_owned));
            name.unwrap_or_else(|| format!("{m:?}"))
        })
        .collect()
}

/// A difference, and whether a detection item is exposed to it.
type Reading = (&'static str, fn(&DetectionItem) -> bool);

/// Where rsigma reads the specification differently and src/user/rules/mend.rs mends it
/// (`tests/sigma_semantics.rs`), the differences a rule set can show.
const READINGS: [Reading; 5] = [
    (
        "`windash` with a value written with `/`: rsigma expands only `-`, so `-`, en dash, em dash and \
         horizontal bar would not be matched there",
        |i| {
            i.field.modifiers.contains(&Modifier::WindAsh)
                && i.values.iter().any(|v| plain(v).is_some_and(|s| s.contains('/')))
        },
    ),
    ("`base64offset|contains`: mid-text, the value would be found at one byte shift of three", |i| {
        i.field.modifiers.contains(&Modifier::Base64Offset)
    }),
    ("a value with `*` or `?` (not `re`): the wildcard would not match a line break", |i| {
        !i.field.modifiers.contains(&Modifier::Re)
            && i.values.iter().any(|v| matches!(v, SigmaValue::String(s) if s.contains_wildcards()))
    }),
    ("`startswith` or `endswith` with a wildcard in the value: anchored at the wrong end", |i| {
        let m = &i.field.modifiers;
        (m.contains(&Modifier::StartsWith) || m.contains(&Modifier::EndsWith))
            && i.values.iter().any(|v| matches!(v, SigmaValue::String(s) if s.contains_wildcards()))
    }),
    ("`null` in a list with other values: an absent key would match none of them", |i| {
        let nulls = i.values.iter().filter(|v| matches!(v, SigmaValue::Null)).count();
        nulls != 0 && nulls != i.values.len()
    }),
];

/// Appends `text` as a paragraph wrapped at 90 columns, as the other pages are.
fn paragraph(o: &mut String, text: &str) {
    // Words, a code span kept whole.
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match words.last_mut() {
            Some(last) if last.matches('`').count() % 2 == 1 => {
                last.push(' ');
                last.push_str(word);
            }
            _ => words.push(word.to_owned()),
        }
    }
    let mut line = String::new();
    for word in &words {
        if !line.is_empty() && line.len() + 1 + word.len() > 90 {
            o.push_str(&line);
            o.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    o.push_str(&line);
    o.push_str("\n\n");
}

/// A table cell: pipes escaped, on one line.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

fn keys_list(keys: &BTreeSet<String>) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

/// The `SigmaHQ` commit the shared set was copied from, as its README names it.
fn snapshot_commit(rules_dir: &Path) -> String {
    let readme = std::fs::read_to_string(rules_dir.join("../README.md")).unwrap_or_default();
    readme
        .split_whitespace()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(|| "(not named in its README)".to_owned(), |c| format!("`{}`", &c[..12]))
}

#[allow(clippy::too_many_lines, reason = "one page, written top to bottom")]
fn page(rules_dir: &Path, rows: &[Row]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Sigma coverage: shared rules that can never match\n");
    paragraph(
        &mut o,
        &format!(
            "Generated by `tests/sigma_coverage.rs` from the SigmaHQ rules in `../shared/sigma` (SigmaHQ/sigma \
             commit {}) and the keys [json.md](json.md) lists for each `EventID`; that test fails when this page \
             differs from what it generates. Regenerate: `SIGMA_COVERAGE_WRITE=1 cargo test --profile host --test \
             sigma_coverage`.",
            snapshot_commit(rules_dir)
        ),
    );
    paragraph(
        &mut o,
        "A rule **can never match** when its condition cannot be true on any event notifyring prints for \
         the rule's category. Each detection item is true, false or unknown: an item on a key notifyring never \
         gives that `EventID` is false, except that `Key: null` and `Key|exists: false` are true there (and \
         `Key|exists: true` false, and so is `Key|fieldref: Other` where `Other` is never given); an item on a \
         key it gives, and a keyword, is unknown. `not` swaps true and false, `and`, `or`, `1 of` and `all of` \
         combine as usual, and a rule whose condition is false is listed \
         below with the keys that decide it. A `null` listed beside other values, and `neq`, count as unknown. \
         \"Can match\" means only that the keys are there: the values still decide.",
    );
    let _ = writeln!(o, "## Totals\n");
    let _ = writeln!(o, "| category | EventID | rules | not loaded | can match | can never match |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    let mut totals = [0usize; 4];
    for (index, (name, id)) in CATEGORIES.iter().enumerate() {
        let of: Vec<&Row> = rows.iter().filter(|r| r.category == index).collect();
        let failed = of.iter().filter(|r| r.failure.is_some()).count();
        let impossible = of.iter().filter(|r| r.never()).count();
        let counts = [of.len(), failed, of.len() - failed - impossible, impossible];
        let _ = writeln!(o, "| {name} | {id} | {} | {} | {} | {} |", counts[0], counts[1], counts[2], counts[3]);
        totals.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
    }
    let _ = writeln!(o, "| **all** | | {} | {} | {} | {} |\n", totals[0], totals[1], totals[2], totals[3]);

    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.never()) {
        for key in &row.verdict.because {
            *by_key.entry(key).or_default() += 1;
        }
    }
    let mut by_key: Vec<(&str, usize)> = by_key.into_iter().collect();
    by_key.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(o, "## The keys that rule them out\n");
    let _ = writeln!(o, "How many of those rules each key decides (a rule can name several):\n");
    let _ = writeln!(o, "| key | rules |");
    let _ = writeln!(o, "|---|---|");
    for (key, n) in &by_key {
        let _ = writeln!(o, "| `{key}` | {n} |");
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "## The rules\n");
    let _ = writeln!(o, "| rule (under rules/) | title | id | keys notifyring never gives |");
    let _ = writeln!(o, "|---|---|---|---|");
    for row in rows.iter().filter(|r| r.never()) {
        let _ = writeln!(
            o,
            "| `{}` | {} | `{}` | {} |",
            row.file,
            cell(&row.title),
            row.id,
            keys_list(&row.verdict.because)
        );
    }
    let always: Vec<&Row> = rows.iter().filter(|r| r.failure.is_none() && r.verdict.truth == Truth::True).collect();
    if !always.is_empty() {
        let _ = writeln!(o, "\nRules whose condition is true on every event of their category:\n");
        for row in always {
            let _ = writeln!(o, "- `{}` ({})", row.file, keys_list(&row.verdict.because));
        }
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| r.failure.is_some()).collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "\n## Rules notifyring's engine does not load\n");
        let _ = writeln!(o, "| rule (under rules/) | why |");
        let _ = writeln!(o, "|---|---|");
        for row in failed {
            let _ = writeln!(o, "| `{}` | {} |", row.file, cell(row.failure.as_deref().unwrap_or_default()));
        }
    }

    let mut by_modifier: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        for m in &row.modifiers {
            *by_modifier.entry(m).or_default() += 1;
        }
    }
    let _ = writeln!(o, "\n## Modifiers the rules use\n");
    paragraph(
        &mut o,
        "Rules using each modifier; the specification's other modifiers are used by none. \
         [tests/sigma_semantics.rs](../tests/sigma_semantics.rs) pins rsigma's reading of each.",
    );
    let _ = writeln!(o, "| modifier | rules |");
    let _ = writeln!(o, "|---|---|");
    for (m, n) in by_modifier {
        let _ = writeln!(o, "| `{m}` | {n} |");
    }

    let _ = writeln!(o, "\n## Rules rsigma reads differently from the specification\n");
    paragraph(
        &mut o,
        "Where rsigma 0.23 departs from the specification and src/user/rules/mend.rs mends the rule before it is \
         compiled (each a `MENDED` test in tests/sigma_semantics.rs), the rules the difference touches: \
         without the mend they could miss events the specification matches.",
    );
    let _ = writeln!(o, "| difference | rules |");
    let _ = writeln!(o, "|---|---|");
    for (index, (what, _)) in READINGS.iter().enumerate() {
        let n = rows.iter().filter(|r| r.readings[index]).count();
        let _ = writeln!(o, "| {} | {n} |", cell(what));
    }
    for (index, (what, _)) in READINGS.iter().enumerate().take(2) {
        let _ = writeln!(o, "\n{}:\n", what.split(':').next().unwrap_or(what));
        for row in rows.iter().filter(|r| r.readings[index]) {
            let _ = writeln!(o, "- `{}`", row.file);
        }
    }
    o
}

// --- Tests ------------------------------------------------------------------------------

/// ../shared/sigma/rules, beside the checkout; `None` (said) in a user's clone.
fn shared_rules() -> Option<PathBuf> {
    let dir = manifest_dir().join("../shared/sigma/rules");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "CI has ../shared/sigma/rules");
    eprintln!("NOTE: no ../shared/sigma/rules beside the checkout: docs/sigma-coverage.md is not checked");
    None
}

#[test]
fn the_committed_coverage_page_is_current() {
    let Some(rules_dir) = shared_rules() else { return };
    let rows = analyse(&rules_dir);
    assert!(rows.len() > 1000, "{} rules in {}", rows.len(), rules_dir.display());
    let fresh = page(&rules_dir, &rows);
    let path = manifest_dir().join("docs/sigma-coverage.md");
    if std::env::var_os(WRITE).is_some() {
        std::fs::write(&path, &fresh).expect("docs/sigma-coverage.md is written");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "docs/sigma-coverage.md is stale from line {}:\n  committed: {:?}\n  generated: {:?}\n\
             regenerate with {WRITE}=1 cargo test --profile host --test sigma_coverage",
            line + 1,
            committed.lines().nth(line).unwrap_or("(end)"),
            fresh.lines().nth(line).unwrap_or("(end)")
        );
    }
}

/// The verdict on a process-creation rule with this `detection:` section, on an event
/// with `keys`.
fn planted(detection: &str, keys: &[&str]) -> Verdict {
    let yaml = format!(
        "title: Planted\nlogsource:\n    product: windows\n    category: process_creation\ndetection:{detection}\n"
    );
    let collection = parse_sigma_yaml(&yaml).expect("the planted rule parses");
    let keys: BTreeSet<String> = keys.iter().map(|&k| k.to_owned()).collect();
    rule(&collection.rules[0], &keys)
}

fn decided(truth: Truth, keys: &[&str]) -> Verdict {
    Verdict::missing(truth, keys.iter().map(|&k| k.to_owned()))
}

#[test]
fn a_selection_on_a_missing_key_rules_the_rule_out() {
    let v = planted(
        r"
    selection:
        Image|endswith: '\cmd.exe'
        CurrentDirectory|contains: '\Temp\'
    condition: selection",
        &["Image"],
    );
    assert_eq!(v, decided(Truth::False, &["CurrentDirectory"]));
    let v = planted(
        r"
    selection:
        Image|endswith: '\cmd.exe'
        CurrentDirectory|contains: '\Temp\'
    condition: selection",
        &["Image", "CurrentDirectory"],
    );
    assert_eq!(v, Verdict::unknown(), "with the key there, the values decide");
}

#[test]
fn a_filter_on_a_missing_key_leaves_the_rule_possible() {
    let v = planted(
        r"
    selection:
        Image|endswith: '\cmd.exe'
    filter_main_dir:
        CurrentDirectory|startswith: 'C:\Windows\'
    condition: selection and not 1 of filter_main_*",
        &["Image"],
    );
    assert_eq!(v, Verdict::unknown());
}

#[test]
fn null_and_exists_false_are_true_on_a_missing_key() {
    // `not` of a filter that is always true: never.
    let v = planted(
        r"
    selection:
        Image|endswith: '\cmd.exe'
    filter_null:
        ParentUser: null
    condition: selection and not filter_null",
        &["Image"],
    );
    assert_eq!(v, decided(Truth::False, &["ParentUser"]));
    let v = planted(
        r"
    selection:
        Image|endswith: '\cmd.exe'
        ParentUser|exists: false
    condition: selection",
        &["Image"],
    );
    assert_eq!(v, Verdict::unknown(), "the missing key's item is true; Image decides");
    let v = planted(
        r"
    selection:
        ParentUser|exists: true
    condition: selection",
        &["Image"],
    );
    assert_eq!(v, decided(Truth::False, &["ParentUser"]));
    let v = planted(
        r"
    selection:
        ParentUser:
            - null
            - ''
    condition: not selection",
        &["Image"],
    );
    assert_eq!(v, Verdict::unknown(), "a null among other values: the specification and rsigma disagree");
}

#[test]
fn one_of_needs_one_possible_selection_and_all_of_every_one() {
    let detection = |condition: &str| {
        format!(
            r"
    selection_img:
        Image|endswith: '\cmd.exe'
    selection_guid:
        ProcessGuid: '{{00000000-0000-0000-0000-000000000000}}'
    selection_session:
        TerminalSessionId: 0
    condition: {condition}"
        )
    };
    assert_eq!(planted(&detection("1 of selection_*"), &["Image"]), Verdict::unknown());
    assert_eq!(
        planted(&detection("all of selection_*"), &["Image"]),
        decided(Truth::False, &["ProcessGuid", "TerminalSessionId"])
    );
    assert_eq!(
        planted(&detection("1 of selection_g* or selection_session"), &["Image"]),
        decided(Truth::False, &["ProcessGuid", "TerminalSessionId"])
    );
    assert_eq!(planted(&detection("2 of them"), &["Image", "ProcessGuid"]), Verdict::unknown());
    assert_eq!(
        planted(&detection("2 of them"), &["Image"]),
        decided(Truth::False, &["ProcessGuid", "TerminalSessionId"])
    );
}

#[test]
fn keywords_and_a_list_of_maps_stay_possible_while_one_branch_is() {
    let v = planted(
        r"
    keywords:
        - 'mimikatz'
    condition: keywords",
        &[],
    );
    assert_eq!(v, Verdict::unknown());
    let v = planted(
        r"
    selection:
        - Hashes|contains: 'IMPHASH=ABC'
        - Imphash: 'ABC'
    condition: selection",
        &["Hashes"],
    );
    assert_eq!(v, Verdict::unknown());
    let v = planted(
        r"
    selection:
        - sha256: 'ABC'
        - Imphash: 'ABC'
    condition: selection",
        &["Hashes"],
    );
    assert_eq!(v, decided(Truth::False, &["Imphash", "sha256"]));
}

#[test]
fn fieldref_to_a_missing_key_is_false() {
    let v = planted(
        r"
    selection:
        User|fieldref: ParentUser
    condition: selection",
        &["User"],
    );
    assert_eq!(v, decided(Truth::False, &["ParentUser"]));
    let v = planted(
        r"
    selection:
        User|fieldref: ParentUser
    condition: selection",
        &["User", "ParentUser"],
    );
    assert_eq!(v, Verdict::unknown());
}

#[test]
fn the_json_tables_give_each_category_its_own_keys() {
    let keys = documented_keys();
    // The brief's examples, against docs/json.md: these notifyring gives on EventID 1 …
    for key in ["ParentUser", "FileVersion", "User", "IntegrityLevel", "Hashes", "UtcTime"] {
        assert!(keys[&1].contains(key), "EventID 1 has {key}");
    }
    // … and these it does not.
    for key in ["CurrentDirectory", "ProcessGuid", "ParentProcessGuid", "LogonGuid", "TerminalSessionId"] {
        assert!(!keys[&1].contains(key), "EventID 1 lacks {key}");
    }
    assert!(keys[&7].contains("ImageLoaded") && !keys[&7].contains("ParentImage"));
    assert!(keys[&8].contains("StartFunction") && !keys[&8].contains("Image"));
}
