//! Fuzz harness: Sigma rule files from arbitrary bytes through the rule loader and
//! evaluator ([`crate::user::rules`]).
//!
//! The input is up to four rule files, split at NUL bytes. Checks: loading never panics
//! and never stops; each file on its own accounts for itself (a rule loaded or skipped,
//! or the file named as a failure), and every failure names its file with a one-line
//! reason of bounded length; loading the files together loads what each loads alone,
//! but a rule id a file before it loaded already (named as a failure instead); the
//! category counts add up. Then a few fixed events, and any part that is a JSON object,
//! are evaluated: every alert is for the event's `EventID`, at or above the minimum
//! level, and its JSON and text forms are well formed.

use crate::user::json::ALERT_EVENT_ID;
use crate::user::rules::{Level, MAX_REASON, Rules};
use serde_json::Value;
use std::format;
use std::string::String;
use std::vec::Vec;

/// Events like those the JSON output prints, one per category the rules can match.
const EVENTS: [&str; 5] = [
    r#"{"EventID":1,"Sequence":1,"UtcTime":"2026-01-01 00:00:00.000","ProcessId":42,"Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami /all","ParentImage":"C:\\Windows\\explorer.exe","ParentCommandLine":"C:\\Windows\\Explorer.EXE","User":"S-1-5-21-1-2-3-1000","IntegrityLevel":"Medium","OriginalFileName":"whoami.exe"}"#,
    r#"{"EventID":5,"Sequence":2,"ProcessId":42,"Image":"C:\\Windows\\System32\\whoami.exe"}"#,
    r#"{"EventID":6,"Sequence":3,"ImageLoaded":"C:\\Windows\\System32\\drivers\\evil.sys","Hashes":"SHA256=00","Signed":"false"}"#,
    r#"{"EventID":7,"Sequence":4,"ProcessId":7,"Image":"C:\\Windows\\notepad.exe","ImageLoaded":"C:\\Users\\a\\mavinject.dll","Signed":false}"#,
    r#"{"EventID":8,"Sequence":5,"SourceProcessId":4,"SourceImage":"C:\\a.exe","TargetProcessId":7,"TargetImage":"C:\\Windows\\notepad.exe","StartAddress":"0x7FF600001000"}"#,
];

/// Runs the harness on one input (see the module doc); panics on a broken check.
pub fn run(data: &[u8]) {
    let parts: Vec<&[u8]> = data.split(|&b| b == 0).take(4).collect();
    let names: Vec<String> = (0..parts.len()).map(|i| format!("rule-{i}.yml")).collect();
    let (mut rules, mut skipped, mut failures) = (0, 0, 0);
    let mut last = None;
    for (name, part) in names.iter().zip(&parts) {
        let alone = Rules::from_sources([(name.as_str(), *part)]);
        let loaded = alone.loaded();
        assert!(loaded.rules + loaded.skipped + loaded.failures.len() >= 1, "{name} accounts for itself");
        for failure in &loaded.failures {
            assert_eq!(&failure.file, name, "a failure names its file");
        }
        rules += loaded.rules;
        skipped += loaded.skipped;
        failures += loaded.failures.len();
        last = Some(alone);
    }
    let level = Level::ALL[data.len() % Level::ALL.len()];
    // One file together is that file alone (loading is the slow part of a run).
    let all = match last {
        Some(only) if parts.len() == 1 => only,
        _ => Rules::from_sources(names.iter().map(String::as_str).zip(parts.iter().copied())),
    }
    .min_level(level);
    let loaded = all.loaded();
    for failure in &loaded.failures {
        assert!(names.contains(&failure.file), "a failure names its file: {failure:?}");
        let reason = &failure.reason;
        assert!(!reason.trim().is_empty() && !reason.contains('\n'), "one line: {failure:?}");
        assert!(reason.chars().count() <= MAX_REASON + " ... ".len(), "bounded: {failure:?}");
    }
    let duplicates = loaded.failures.len().checked_sub(failures).expect("together, no fewer failures than alone");
    assert_eq!(loaded.rules + duplicates, rules, "together, each rule loads or is a duplicate");
    assert_eq!(loaded.skipped, skipped, "together, the same skipped");
    assert_eq!(loaded.by_category.iter().sum::<usize>(), loaded.rules, "categories add up");

    let objects = parts.iter().filter(|p| p.first() == Some(&b'{')).filter_map(|p| core::str::from_utf8(p).ok());
    for event in EVENTS.into_iter().chain(objects) {
        let Ok(value) = serde_json::from_str::<Value>(event) else { continue };
        let event_id = value.get("EventID").and_then(Value::as_u64);
        all.evaluate(event, |alert| {
            assert_eq!(Some(alert.event_id), event_id, "an alert is for its event's EventID");
            assert!(alert.level >= level, "no alert below the minimum level");
            let json: Value = serde_json::from_str(&alert.json()).expect("an alert's JSON parses");
            assert_eq!(json["EventID"], ALERT_EVENT_ID);
            assert_eq!(json["MatchedEventID"], alert.event_id);
            assert!(!alert.text().contains('\n'), "an alert's text is one line");
        });
    }
}
