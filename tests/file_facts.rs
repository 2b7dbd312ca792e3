//! The image files' facts in the JSON output: `OriginalFileName`,
//! `Description`, `Product`, `Company`, `FileVersion`, `Hashes`, `Signed`, `Signature`,
//! `SignatureStatus`.
//!
//! * Every recorded trace, replayed as JSON: each fact its input line has reaches the
//!   object of that event under Sysmon's name, with the same value, on the `EventID`s
//!   Sysmon gives it, and each one it lacks stays absent; the counts equal the table of
//!   ../shared/traces/README.md, nothing lost.
//! * With events lost, every delivered event still gets its own line's facts, not a
//!   neighbour's.
//! * The formatter: hostile strings stay exact and valid JSON, Sysmon's order, `-` and
//!   empty values absent, what the source is asked, and a cut path asks nothing.

mod common;

use common::{json_schema, recordings, stepped};
use engine::{Format, Options, Output, Report};
use json_schema::{Schema, recorded_traces, schema};
use notifyring::replay::{engine, trace, workload};
use recordings::{input_lines, readme_column, readme_counts};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

/// Trace key → Sysmon's key, and the `EventID`s that carry it (Sysmon's manifest: 1
/// `ProcessCreate`, 6 `DriverLoad`, 7 `ImageLoad`).
const FILE_KEYS: [(&str, &str, &[u64]); 9] = [
    ("file_version", "FileVersion", &[1, 7]),
    ("description", "Description", &[1, 7]),
    ("product", "Product", &[1, 7]),
    ("company", "Company", &[1, 7]),
    ("original_file_name", "OriginalFileName", &[1, 7]),
    ("hashes", "Hashes", &[1, 6, 7]),
    ("signed", "Signed", &[6, 7]),
    ("signature", "Signature", &[6, 7]),
    ("signature_status", "SignatureStatus", &[6, 7]),
];

/// The `EventID` Sysmon gives an input line's event, for the lines with an image file.
fn event_id(line: &Value) -> Option<u64> {
    match line["kind"].as_str()? {
        "process_create" => Some(1),
        "image_load" if line["is_kernel"] == true => Some(6),
        "image_load" => Some(7),
        _ => None,
    }
}

/// The process an object's event is about, as its input line names it.
fn object_pid(o: &Value) -> u64 {
    if o["EventID"] == 6 { 0 } else { o["ProcessId"].as_u64().unwrap() }
}

/// A fact as the JSON must carry it: strings verbatim, `signed` as Sysmon's string.
fn expected(value: &Value) -> Value {
    match value {
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

fn replay(workload: &workload::Workload, options: &Options, schema: &Schema) -> (Report, Vec<Value>) {
    let report = engine::run(workload, options).expect("the replay starts");
    assert_eq!(report.violations(), Vec::<String>::new(), "broken invariants");
    let objects = report.lines.iter().map(|l| schema.check(l)).collect();
    (report, objects)
}

#[test]
fn every_recorded_fact_reaches_its_events_json_under_sysmons_name_and_absent_ones_stay_absent() {
    let schema = schema();
    let readme = readme_counts();
    // Several producers, so records of different processes interleave across rings.
    let options = Options {
        producers: 4,
        ring_bytes: 64 << 20,
        output: Output::Keep,
        format: Format::Json,
        ..Options::default()
    };
    for path in recorded_traces() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let workload = trace::load(std::slice::from_ref(&path)).unwrap();
        let (report, objects) = replay(&workload, &options, &schema);
        assert_eq!(report.stats.lost_total(), 0, "{name}: a roomy ring loses nothing, so every line is checked");

        // Each process's input lines in order; its objects come in the same order.
        let mut lines: HashMap<u64, VecDeque<Value>> = HashMap::new();
        let mut in_input: BTreeMap<&str, u64> = BTreeMap::new();
        for line in input_lines(&path).into_iter().filter(|l| event_id(l).is_some()) {
            for (key, ..) in FILE_KEYS {
                *in_input.entry(key).or_default() += u64::from(line.get(key).is_some());
            }
            lines.entry(line["pid"].as_u64().unwrap_or(0)).or_default().push_back(line);
        }
        let mut in_json: BTreeMap<&str, u64> = BTreeMap::new();
        let (mut checked, mut with_facts) = (0u64, 0u64);
        for o in objects.iter().filter(|o| [1, 6, 7].contains(&o["EventID"].as_u64().unwrap())) {
            let pid = object_pid(o);
            let line = lines.get_mut(&pid).and_then(VecDeque::pop_front).unwrap_or_else(|| {
                panic!("{name}: an object with no input line left for process {pid}: {o}");
            });
            let id = event_id(&line).unwrap();
            assert_eq!(o["EventID"], id, "{name}: the object of {line}: {o}");
            let image = line["image"].as_str().map(|i| options.paths.win32(i).into_owned());
            let key = if id == 1 { "Image" } else { "ImageLoaded" };
            assert_eq!(o.get(key).and_then(Value::as_str), image.as_deref(), "{name}: the object of {line}: {o}");
            for (input_key, json_key, ids) in FILE_KEYS {
                let want = line.get(input_key).filter(|_| ids.contains(&id)).map(expected);
                assert_eq!(o.get(json_key), want.as_ref(), "{name}: {json_key} of {line}: {o}");
                *in_json.entry(input_key).or_default() += u64::from(want.is_some());
            }
            checked += 1;
            with_facts += u64::from(FILE_KEYS.iter().any(|(_, k, _)| o.get(*k).is_some()));
        }
        assert!(lines.values().all(VecDeque::is_empty), "{name}: every input line has its object");
        let files = report.json.as_ref().and_then(|j| j.file_facts);
        if with_facts > 0 || files.is_some() {
            let files = files.expect("the input has facts, so the replay serves them");
            assert_eq!(
                (files.asked, files.unmatched, files.passed, files.left),
                (checked, 0, 0, 0),
                "{name}: {files:?}"
            );
            assert_eq!(files.served, with_facts, "{name}: {files:?}");
        }
        // No fact is dropped on the way: each is in the JSON as often as in the input.
        assert_eq!(in_json, in_input, "{name}: events carrying each fact, JSON vs input");
        eprintln!(
            "{name}: {checked} process creates and image loads checked field by field; facts in the JSON: {in_json:?}"
        );
        if let Some(table) = &readme {
            let column = readme_column(table["user"].keys(), &name);
            for (key, count) in &in_json {
                assert_eq!(Some(count), table[*key].get(&column), "{name}: {key} vs the README's {column} column");
            }
        } else {
            assert!(std::env::var_os("CI").is_none(), "CI has ../shared/traces/README.md");
            eprintln!("NOTE: no ../shared/traces/README.md: {name}'s counts checked against its input only");
        }
    }
}

/// A trace where every line's facts name the line (and so do its image base or command
/// line), so a misplaced fact shows.
fn numbered_trace(path: &Path, per_process: usize) -> usize {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut n = 0;
    for i in 0..per_process {
        for pid in [100u64, 200, 300, 0] {
            let (kind, image, is_kernel) = match (pid, i) {
                (0, _) => ("image_load", r"C:\Windows\System32\drivers\same.sys", true),
                (_, 0) => ("process_create", r"C:\Tools\same.exe", false),
                _ => ("image_load", r"C:\Tools\same.dll", false),
            };
            let line = serde_json::json!({
                "t_ns": n * 1000, "kind": kind, "pid": pid, "ppid": 4, "tid": null, "image": image,
                // The event's own number, in fields the facts do not touch.
                "cmdline": (kind == "process_create").then(|| format!("same.exe {n}")),
                "base": (kind == "image_load").then_some(n * 4096), "size": null, "exit_code": null,
                "is_kernel": is_kernel,
                "source": "test", "file_version": format!("{n}"), "hashes": format!("SHA256={n:064X}"),
                "signed": n % 2 == 0, "signature_status": "Valid",
            });
            writeln!(out, "{line}").unwrap();
            n += 1;
        }
    }
    n
}

#[test]
fn with_events_lost_each_delivered_event_still_gets_its_own_lines_facts() {
    let schema = schema();
    let path = std::env::temp_dir().join(format!("notifyring-file-facts-{}.jsonl", std::process::id()));
    let lines = numbered_trace(&path, 3000);
    let workload = trace::load(std::slice::from_ref(&path)).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(workload.events.len(), lines);
    // Paced over ~240 ms, so losses fall between deliveries of the same process, not
    // only after them.
    let options = Options {
        producers: 2,
        speed: Some(0.05),
        ring_bytes: 16 << 10,
        stall_worker: Duration::from_millis(20),
        // The lines number their events by base, the drivers' loads too.
        kernel_image_bases: true,
        output: Output::Keep,
        format: Format::Json,
        ..Options::default()
    };
    let (report, objects) = replay(&workload, &options, &schema);
    let lost = report.stats.lost_total();
    assert!(lost > 0, "a stalled worker and a small ring lose events");
    let mut latest_line: HashMap<u64, u64> = HashMap::new();
    let mut delivered = 0;
    for o in objects.iter().filter(|o| o["EventID"] != 1000) {
        // The line the facts came from: same process, kind and path, later than the last.
        let hashes = o["Hashes"].as_str().unwrap_or_else(|| panic!("every line has facts: {o}"));
        let n = u64::from_str_radix(hashes.trim_start_matches("SHA256="), 16).unwrap();
        let own = o.get("ImageBase").map_or_else(
            || o["CommandLine"].as_str().unwrap().trim_start_matches("same.exe ").parse().unwrap(),
            |base| u64::from_str_radix(base.as_str().unwrap().trim_start_matches("0x"), 16).unwrap() / 4096,
        );
        assert_eq!(n, own, "the facts of line {n} on the event of line {own}: {o}");
        let pid = object_pid(o);
        assert_eq!(pid, [100, 200, 300, 0][usize::try_from(n % 4).unwrap()], "line {n}'s facts on {o}");
        let kind = if n < 4 && pid != 0 {
            1
        } else if pid == 0 {
            6
        } else {
            7
        };
        assert_eq!(o["EventID"], kind, "line {n}'s facts on {o}");
        if kind == 6 {
            assert!(o.get("FileVersion").is_none(), "a driver load carries no version resource: {o}");
        } else {
            assert_eq!(o["FileVersion"], n.to_string(), "{o}");
        }
        if kind == 1 {
            assert!(o.get("Signed").is_none(), "a process create carries no signature: {o}");
        } else {
            assert_eq!(o["Signed"], (n % 2 == 0).to_string(), "{o}");
        }
        let previous = latest_line.insert(pid, n);
        assert!(previous.is_none_or(|p| p < n), "process {pid}: line {n} after line {previous:?}");
        delivered += 1;
    }
    let files = report.json.as_ref().and_then(|j| j.file_facts).expect("the input has facts");
    assert_eq!((files.asked, files.served, files.unmatched), (delivered, delivered, 0), "{files:?}");
    assert_eq!(files.passed + files.left, lost, "every lost line is passed over or left: {files:?}");
    assert_eq!(files.passed_with_facts, files.passed, "{files:?}");
    assert!(files.passed > 0, "some lost lines lie between delivered ones: {files:?}");
    eprintln!("{delivered} delivered and {lost} lost: {files:?}");
}

/// The formatter on the real pipeline stepped by hand, with a source that serves fixed
/// facts and notes what it was asked.
mod direct {
    use super::FILE_KEYS;
    use super::stepped::Queue;
    use notifyring::event::Kind;
    use notifyring::user::facts::{FileEvent, FileFacts, FileFactsSource};
    use notifyring::user::json::JsonFormatter;
    use notifyring::user::paths::PathMap;
    use notifyring::vocab::clock::Clock;
    use notifyring::vocab::process::{Lookup, Name};
    use notifyring::worker::format::Line;
    use notifyring::{ClientId, Config, Delivered, Event, Host, Pipeline, Sink, Stamp, Stats};
    use serde_json::Value;

    /// What the formatter asked: kind, pid, ticks, path, Win32 path.
    type Asked = (Kind, u64, u64, String, String);

    struct Fixed {
        facts: FileFacts,
        asked: Vec<Asked>,
    }

    impl FileFactsSource for Fixed {
        fn file_facts(&mut self, e: &FileEvent<'_>) -> Option<FileFacts> {
            self.asked.push((e.kind, e.pid, e.ticks, e.path.to_owned(), e.win32_path.to_owned()));
            Some(self.facts.clone())
        }
    }

    struct Env {
        json: JsonFormatter,
        files: Fixed,
        /// Also format with `event` (no source), to show it prints no file facts.
        plain: JsonFormatter,
        lines: Vec<(String, String)>,
    }

    impl Host for Env {
        fn process_image(&mut self, _: u64, _: &mut Name) -> Lookup {
            Lookup::Failed
        }
        fn now_ticks(&mut self) -> u64 {
            0
        }
    }

    impl Sink for Env {
        fn print(&mut self, _: Line<'_>) {}
        fn delivered(&mut self, event: &Delivered<'_>) {
            let with = self.json.event_with(event, |_| None, &mut self.files);
            self.lines.push((with, self.plain.event(event, |_| None)));
        }
        fn lost(&mut self, _: u64, _: u64) {}
    }

    fn hostile() -> FileFacts {
        FileFacts {
            original_file_name: Some("a\0b\"c\\d.exe".into()),
            description: Some("line\nbreak \u{202e}exe.txt 🦀 \u{1}".into()),
            product: Some("Microsoft® Windows® Operating System".into()),
            company: Some(String::new()),
            file_version: Some("-".into()),
            hashes: Some("SHA1=0A,MD5=0B,SHA256=0C,IMPHASH=0D".into()),
            signed: Some(false),
            signature: Some("Ünïcødé Signer \"Ltd\"".into()),
            signature_status: Some("Unavailable".into()),
        }
    }

    /// Records `events` stamped 1000, 1001, … and returns (raw line, parsed) with and
    /// without the source, and what the source was asked.
    fn run(events: &[Event<'_>]) -> (Vec<(String, Value, Value)>, Vec<Asked>) {
        let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
        let clock = Clock { start_ticks: 0, frequency: 1_000_000 };
        let pipeline = Pipeline::new(&Config::DEFAULT, clock, Queue::default(), stats).unwrap();
        let mut env = Env {
            json: JsonFormatter::new(clock, 0, PathMap::default(), 64),
            files: Fixed { facts: hostile(), asked: Vec::new() },
            plain: JsonFormatter::new(clock, 0, PathMap::default(), 64),
            lines: Vec::new(),
        };
        for (ticks, event) in (1000..).zip(events) {
            pipeline.record(Stamp { ticks, cpu: 0 }, event);
        }
        while pipeline.queue().0.replace(false) {
            pipeline.run_worker(&mut env);
        }
        let schema = super::schema();
        let lines =
            env.lines.iter().map(|(with, plain)| (with.clone(), schema.check(with), schema.check(plain))).collect();
        (lines, env.files.asked)
    }

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    /// The keys of `line` appear in this order.
    fn in_order(line: &str, keys: &[&str]) {
        let at: Vec<usize> =
            keys.iter().map(|k| line.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} in {line}"))).collect();
        assert!(at.is_sorted(), "Sysmon's order {keys:?}: {line}");
    }

    #[test]
    fn facts_keep_hostile_strings_exact_in_sysmons_order_on_sysmons_events() {
        let exe = units(r"\??\C:\Tools\x.exe");
        let dll = units(r"\SystemRoot\System32\x.dll");
        let sys = units(r"\??\C:\Windows\System32\drivers\x.sys");
        let cmd = units("x.exe /c");
        let (lines, asked) = run(&[
            Event::ProcessCreate {
                pid: 500,
                parent_pid: 4,
                creator: ClientId { pid: 4, tid: 8 },
                file_open_name_available: true,
                subsystem_process: false,
                image: Some(&exe),
                command_line: Some(&cmd),
            },
            Event::ImageLoad {
                pid: 500,
                base: 0x7ff0_0000,
                size: 4096,
                kernel_image: false,
                signature_level: 0,
                signature_type: 0,
                image: Some(&dll),
            },
            Event::ImageLoad {
                pid: 0,
                base: 0xffff_f800_0000_0000,
                size: 4096,
                kernel_image: true,
                signature_level: 0,
                signature_type: 0,
                image: Some(&sys),
            },
            Event::ProcessExit { pid: 500, exit_status: 0 },
        ]);
        assert_eq!(
            asked,
            [
                (Kind::ProcessCreate, 500, 1000, r"\??\C:\Tools\x.exe".into(), r"C:\Tools\x.exe".into()),
                (Kind::ImageLoad, 500, 1001, r"\SystemRoot\System32\x.dll".into(), r"C:\Windows\System32\x.dll".into()),
                (
                    Kind::ImageLoad,
                    0,
                    1002,
                    r"\??\C:\Windows\System32\drivers\x.sys".into(),
                    r"C:\Windows\System32\drivers\x.sys".into()
                ),
            ],
            "asked once per process create and image load, with the record's path in both forms; never for an exit"
        );
        for (raw, o, plain) in &lines {
            check_facts(raw, o, plain);
        }
    }

    /// One object of the hostile test: the facts its `EventID` carries, exact, in order.
    fn check_facts(raw: &str, o: &Value, plain: &Value) {
        let facts = hostile();
        let id = o["EventID"].as_u64().unwrap();
        for (_, key, ids) in FILE_KEYS {
            assert!(plain.get(key).is_none(), "event() has no source, so no {key}: {plain}");
            if !ids.contains(&id) {
                assert!(o.get(key).is_none(), "EventID {id} has no {key} in Sysmon: {raw}");
            }
        }
        if id == 5 {
            return;
        }
        // Exact values, hostile ones included; `-` and empty are absent.
        assert_eq!(o["Hashes"], facts.hashes.as_deref().unwrap(), "{raw}");
        assert!(o.get("FileVersion").is_none() && o.get("Company").is_none(), "`-` and empty are absent: {raw}");
        if id == 6 {
            in_order(raw, &["ImageLoaded", "Hashes", "Signed", "Signature", "SignatureStatus", "ImageSize"]);
            assert!(o.get("ImageBase").is_none(), "a kernel image's base is not recorded by default: {raw}");
            return;
        }
        assert_eq!(o["OriginalFileName"], facts.original_file_name.as_deref().unwrap(), "{raw}");
        assert_eq!(o["Description"], facts.description.as_deref().unwrap(), "{raw}");
        assert_eq!(o["Product"], "Microsoft® Windows® Operating System", "{raw}");
        assert!(raw.contains("Microsoft® Windows®"), "non-ASCII is UTF-8, not escaped: {raw}");
        assert!(raw.contains(r#""a\u0000b\"c\\d.exe""#), "NUL, quote and backslash escaped: {raw}");
        if id == 1 {
            in_order(
                raw,
                &["Image", "Description", "Product", "OriginalFileName", "CommandLine", "Hashes", "ParentProcessId"],
            );
        } else {
            assert_eq!(o["Signed"], "false", "Sysmon's string, not a JSON boolean: {raw}");
            assert_eq!(o["Signature"], facts.signature.as_deref().unwrap(), "{raw}");
            assert_eq!(o["SignatureStatus"], "Unavailable", "{raw}");
            in_order(
                raw,
                &[
                    "ProcessId",
                    "Image",
                    "ImageLoaded",
                    "Description",
                    "Product",
                    "OriginalFileName",
                    "Hashes",
                    "Signed",
                    "Signature",
                    "SignatureStatus",
                    "ImageBase",
                ],
            );
        }
    }

    #[test]
    fn a_path_cut_by_the_cap_names_no_file_and_asks_for_nothing() {
        let long = units(&format!(r"C:\{}.dll", "a".repeat(Config::DEFAULT.caps.image as usize + 10)));
        let (lines, asked) = run(&[Event::ImageLoad {
            pid: 600,
            base: 0,
            size: 0,
            kernel_image: false,
            signature_level: 0,
            signature_type: 0,
            image: Some(&long),
        }]);
        assert!(asked.is_empty(), "{asked:?}");
        let (raw, o, _) = &lines[0];
        assert!(o.get("ImageLoadedOriginalLength").is_some(), "the path was cut: {raw}");
        assert!(FILE_KEYS.iter().all(|(_, k, _)| o.get(*k).is_none()), "{raw}");
    }
}
