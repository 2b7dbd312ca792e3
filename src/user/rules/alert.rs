//! What a match says, and how many.
//!
//! [`Alert`]: the rule, the matched event's identity, the fields the rule's detection
//! names; as one JSON object (`EventID` 1003, docs/json.md) or one text line.
//! [`AlertCounts`]: alerts by level.

use core::fmt::Write as _;
use std::borrow::ToOwned;
use std::collections::BTreeSet;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use rsigma_parser::{Detection, SigmaRule};
use serde_json::{Map, Value};

use crate::user::json::ALERT_EVENT_ID;

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

    pub(super) const fn of(level: Option<rsigma_parser::Level>) -> Self {
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

/// What the engine knows of one rule beyond what it matches.
pub(super) struct RuleInfo {
    /// Its place in the load order: alerts on one event come in this order.
    pub order: usize,
    /// The rule's `id` (its title, for a rule without one).
    pub id: String,
    /// Its `title`.
    pub title: String,
    /// Its `level`.
    pub level: Level,
    /// The fields its detection names, in name order.
    pub fields: Vec<String>,
}

/// The event's keys an alert copies, by `EventID`: its process (or, for a driver load,
/// the driver), under the event's own names.
const IDENTITY: [(u64, &[&str]); 5] = [
    (1, &["ProcessId", "Image"]),
    (5, &["ProcessId", "Image"]),
    (6, &["ImageLoaded"]),
    (7, &["ProcessId", "Image"]),
    (8, &["SourceProcessId", "SourceImage"]),
];

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

pub(super) fn make_alert(info: &RuleInfo, event: &Value, event_id: u64) -> Alert {
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

/// The field names a rule's detection mentions, sorted, each once.
pub(super) fn detection_fields(rule: &SigmaRule) -> Vec<String> {
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
