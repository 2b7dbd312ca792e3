//! Shared by the JSON tests: docs/json.md parsed into a checker that holds every object
//! to it key by key, and the recorded traces to replay (../shared, or the vendored one).

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// key → (JSON type, required) for one `EventID`.
type Keys = BTreeMap<String, (String, bool)>;

/// docs/json.md, parsed: the common keys and each `EventID`'s own.
pub struct Schema {
    common: Keys,
    by_id: HashMap<u64, Keys>,
}

pub fn schema() -> Schema {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md")).unwrap();
    let mut common = Keys::new();
    let mut by_id: HashMap<u64, Keys> = HashMap::new();
    let mut section: Option<Option<u64>> = None; // Some(None): common; Some(Some(id))
    for line in doc.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = if title.starts_with("Common keys") {
                Some(None)
            } else {
                title
                    .strip_prefix("EventID ")
                    .and_then(|t| t.split_whitespace().next())
                    .map(|id| Some(id.parse().unwrap()))
            };
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(section), [_, key, ty, presence, _, _]) = (section, cells.as_slice()) else { continue };
        let Some(key) = key.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else { continue };
        assert!(["string", "integer", "boolean", "object"].contains(ty), "docs/json.md: {key} has type {ty}");
        assert!(["always", "optional"].contains(presence), "docs/json.md: {key} has presence {presence}");
        let entry = (ty.to_string(), *presence == "always");
        match section {
            None => common.insert(key.to_owned(), entry),
            Some(id) => by_id.entry(id).or_default().insert(key.to_owned(), entry),
        };
    }
    assert!(common.contains_key("EventID") && by_id.len() == 9, "docs/json.md parsed: {:?}", by_id.keys());
    Schema { common, by_id }
}

impl Schema {
    /// The keys an event of `EventID` `id` may carry: its own table's and the common ones
    /// (`None`: no table for it).
    pub fn event_keys(&self, id: u64) -> Option<std::collections::BTreeSet<String>> {
        let own = self.by_id.get(&id)?;
        Some(own.keys().chain(self.common.keys()).cloned().collect())
    }

    /// Every key documented for its `EventID` with the documented type, every `always`
    /// key present; the `EventID` fits the `Kind`.
    pub fn check(&self, line: &str) -> Value {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let object = value.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
        let id = object.get("EventID").and_then(Value::as_u64).unwrap_or_else(|| panic!("no EventID: {line}"));
        let own = self.by_id.get(&id).unwrap_or_else(|| panic!("EventID {id} is not documented: {line}"));
        // LOST and alert objects list all their keys; events have the common ones too.
        let mut keys = own.clone();
        if id != 1000 && id != 1003 {
            keys.extend(self.common.clone());
        }
        for (key, v) in object {
            let (ty, _) = keys.get(key).unwrap_or_else(|| panic!("{key} is not documented for EventID {id}: {line}"));
            let ok = match ty.as_str() {
                "string" => v.is_string(),
                "integer" => v.is_u64(),
                "object" => v.is_object(),
                _ => v.is_boolean(),
            };
            assert!(ok, "{key} should be a {ty}: {line}");
        }
        for (key, (_, required)) in &keys {
            assert!(!required || object.contains_key(key), "{key} missing from EventID {id}: {line}");
        }
        let kind = object["Kind"].as_str().unwrap();
        let fits = match id {
            1 => kind == "process-create",
            5 => kind == "process-exit",
            6 | 7 => kind == "image-load",
            8 | 1001 => kind == "thread-create",
            1002 => kind == "thread-exit",
            1000 => kind == "lost",
            1003 => kind == "alert",
            _ => false,
        };
        assert!(fits, "EventID {id} for kind {kind}: {line}");
        if let Some(t) = object.get("UtcTime").and_then(Value::as_str) {
            assert!(is_utc_time(t), "UtcTime {t}");
        }
        value
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm`
fn is_utc_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 23
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            19 => c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// The project's recorded traces in ../shared/traces. A user's clone has none: then the
/// recording vendored in examples/data/ stands in, and the test says so. CI always has
/// them, so there their absence is a failure, not a fallback.
pub fn recorded_traces() -> Vec<PathBuf> {
    let dir = shared_traces_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        assert!(std::env::var_os("CI").is_none(), "CI has ../shared/traces, but {} holds no trace", dir.display());
        eprintln!("NOTE: no traces in {}: replaying only the vendored recording", dir.display());
        files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/procmon_win10x64_process.jsonl.gz"));
    }
    files
}

/// ../shared/traces, beside the checkout.
pub fn shared_traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces")
}
