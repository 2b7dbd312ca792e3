//! The JSON output (`replay --format json`): every object parses, matches docs/json.md
//! key by key (documented key, documented type, every `always` key present), carries the
//! `EventID` of its kind, and the stream conserves its events; on the Sysmon-derived
//! recordings, process creates carry `ParentImage` wherever the parent was seen. Also
//! the hostile strings, LOST objects, path conversion and Sysmon's time format.

mod common;

use common::{json_schema, stepped};
use engine::{Format, Options, Output, Report};
use json_schema::{Schema, recorded_traces, schema};
use notifyring::replay::{engine, synthetic, trace, workload};
use notifyring::user::json::utc_time;
use notifyring::user::paths::PathMap;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use workload::Workload;

fn json_options() -> Options {
    Options { ring_bytes: 64 << 20, output: Output::Keep, format: Format::Json, ..Options::default() }
}

/// Replays `workload` as JSON; checks conservation and every line against the schema.
fn replay_json(name: &str, workload: &Workload, options: &Options, schema: &Schema) -> (Report, Vec<Value>) {
    let report = engine::run(workload, options).expect("the replay starts");
    assert_eq!(report.violations(), Vec::<String>::new(), "{name}: broken invariants");
    let json = report.json.as_ref().expect("JSON counts");
    assert_eq!(json.objects_by_kind, report.stats.delivered, "{name}: one object per delivered record");
    let objects: Vec<Value> = report.lines.iter().map(|l| schema.check(l)).collect();
    let events = objects.iter().filter(|o| o["EventID"] != 1000).count() as u64;
    assert_eq!(events, report.stats.delivered_total(), "{name}: one line per event");
    (report, objects)
}

#[test]
fn every_recorded_trace_replays_as_schema_valid_json_with_parent_images() {
    let schema = schema();
    for path in recorded_traces() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let workload = trace::load(std::slice::from_ref(&path)).unwrap();
        let (report, objects) = replay_json(&name, &workload, &json_options(), &schema);
        assert_eq!(report.stats.lost_total(), 0, "{name}: a roomy ring loses nothing");
        // Which parents were seen: created earlier in the stream, or named by the recording.
        let mut seen: HashSet<u64> = workload.processes.keys().copied().collect();
        let mut creates = 0;
        for o in &objects {
            if o["EventID"] != 1 {
                continue;
            }
            creates += 1;
            let parent = o["ParentProcessId"].as_u64().unwrap();
            if name.starts_with("otrf_") && seen.contains(&parent) {
                assert!(o.get("ParentImage").is_some_and(Value::is_string), "{name}: parent {parent} was seen: {o}");
            }
            seen.insert(o["ProcessId"].as_u64().unwrap());
        }
        assert!(creates > 0, "{name}: has process creates");
        if name.starts_with("otrf_") {
            let with_parent = objects.iter().filter(|o| o["EventID"] == 1 && o.get("ParentImage").is_some()).count();
            assert!(with_parent * 2 > creates, "{name}: most creates name their parent ({with_parent} of {creates})");
        }
    }
}

#[test]
fn hostile_strings_stay_valid_json_and_are_counted_not_rejected() {
    let schema = schema();
    let workload = synthetic::generate(3, 30_000);
    let (report, objects) = replay_json("synthetic", &workload, &json_options(), &schema);
    let text = report.lines.join("\n");
    assert!(text.contains("\\u0000"), "an embedded NUL is escaped, not dropped");
    assert!(text.contains('\u{202e}'), "a right-to-left override is kept as data");
    assert!(text.contains('\u{1F600}'), "a surrogate pair is its character");
    let counters = report.json.as_ref().unwrap().counters;
    assert!(counters.replaced_surrogates > 0, "unpaired surrogates are replaced and counted");
    assert!(
        objects.iter().any(|o| o["CommandLineOriginalLength"] == 32_767),
        "the 32,767-unit command line is cut at the cap and says so"
    );
    assert!(objects.iter().any(|o| o["EventID"] == 1 && o.get("Image").is_none()), "an absent image is absent");
    assert!(objects.iter().any(|o| o["EventID"] == 8), "remote threads are Sysmon's event 8");
    assert!(objects.iter().any(|o| o["RemoteThread"] == "initial"), "first threads are 1001, initial");
}

#[test]
fn lost_events_are_objects_at_their_place() {
    let schema = schema();
    let workload = synthetic::generate(5, 20_000);
    let options = Options { ring_bytes: 16 << 10, stall_worker: Duration::from_millis(20), ..json_options() };
    let (report, objects) = replay_json("overload", &workload, &options, &schema);
    assert!(report.stats.lost_total() > 0, "a stalled worker and a small ring lose events");
    let mut next = 1;
    let mut lost = 0;
    for o in &objects {
        assert_eq!(o["Sequence"], next, "no gap but a LOST object's: {o}");
        let step = if o["EventID"] == 1000 { o["Lost"].as_u64().unwrap() } else { 1 };
        lost += if o["EventID"] == 1000 { step } else { 0 };
        next += step;
    }
    assert_eq!(lost, report.stats.lost_total(), "LOST objects add up to the losses");
}

#[test]
fn nt_paths_become_win32_where_no_guess_is_needed() {
    let mut map = PathMap::new(r"C:\Windows");
    map.add_volume(r"\Device\HarddiskVolume3", "C:");
    map.add_volume(r"\Device\HarddiskVolume10\", "D:");
    for (nt, win32) in [
        (r"\??\C:\Windows\notepad.exe", r"C:\Windows\notepad.exe"),
        (r"\??\UNC\srv\share\a.exe", r"\\srv\share\a.exe"),
        (r"\SystemRoot\System32\drivers\x.sys", r"C:\Windows\System32\drivers\x.sys"),
        (r"\systemroot\System32\ntdll.dll", r"C:\Windows\System32\ntdll.dll"),
        (r"\Device\Mup\srv\share\a.dll", r"\\srv\share\a.dll"),
        (r"\Device\HarddiskVolume3\Windows\a.dll", r"C:\Windows\a.dll"),
        (r"\Device\HarddiskVolume10\x\b.dll", r"D:\x\b.dll"),
        // Not mapped, or not at a component boundary: kept as given.
        (r"\Device\HarddiskVolume4\a.dll", r"\Device\HarddiskVolume4\a.dll"),
        (r"\Device\HarddiskVolume30\a.dll", r"\Device\HarddiskVolume30\a.dll"),
        (r"\SystemRootX\a.dll", r"\SystemRootX\a.dll"),
        (r"C:\already\win32.exe", r"C:\already\win32.exe"),
        ("", ""),
    ] {
        assert_eq!(map.win32(nt), win32, "{nt}");
    }
}

#[test]
fn utc_time_is_sysmons_format() {
    assert_eq!(utc_time(0), "1970-01-01 00:00:00.000");
    // 2024-02-29 23:59:59.999 UTC: a leap day, the last millisecond.
    assert_eq!(utc_time(1_709_251_199_999_000_000), "2024-02-29 23:59:59.999");
    assert_eq!(utc_time(951_782_400_000_000_000), "2000-02-29 00:00:00.000");
    assert_eq!(utc_time(4_102_444_800_123_456_789), "2100-01-01 00:00:00.123");
}

/// The built example, next to this test binary (`cargo test` builds examples too).
fn replay_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("examples").join("replay");
    assert!(
        bin.exists(),
        "{} is not built: run `cargo test` (which builds examples) or `cargo build --release --example replay`",
        bin.display()
    );
    bin
}

#[test]
fn the_readmes_first_command_replays_the_vendored_recording_as_json_losing_nothing() {
    let out = std::process::Command::new(replay_binary())
        .args(["--format", "json", "--speed", "1000"])
        .output()
        .expect("run the replay example");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(stderr.contains("procmon_win10x64_process.jsonl.gz"), "the vendored recording: {stderr}");
    assert!(stderr.contains("checks: ok (events = delivered + lost: 3361 = 3361 + 0;"), "{stderr}");
    let schema = schema();
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 3361, "one object per event, nothing lost");
    for line in lines {
        schema.check(line);
    }
}

/// The real pipeline stepped by hand, with a worker environment that formats JSON.
mod direct {
    use super::stepped::Queue;
    use notifyring::user::json::JsonFormatter;
    use notifyring::user::paths::PathMap;
    use notifyring::vocab::clock::Clock;
    use notifyring::vocab::process::{Lookup, Name};
    use notifyring::worker::format::Line;
    use notifyring::{ClientId, Config, Delivered, Event, Host, Pipeline, Sink, Stamp, Stats};
    use proptest::prelude::*;
    use serde_json::Value;

    struct Env {
        json: JsonFormatter,
        objects: Vec<String>,
        /// The debugger lines.
        lines: Vec<String>,
        /// Each delivered record's bytes, as the reader's wire carries them.
        records: Vec<Vec<u8>>,
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
        fn print(&mut self, line: Line<'_>) {
            self.lines.push(String::from_utf8_lossy(line.text()).into_owned());
        }
        fn delivered(&mut self, event: &Delivered<'_>) {
            self.records.push(event.bytes.to_vec());
            self.objects.push(self.json.event(event, |_| None));
        }
        fn lost(&mut self, seq: u64, count: u64) {
            self.objects.push(self.json.lost(seq, count));
        }
    }

    /// Records `events` and returns the objects, checked against docs/json.md.
    fn objects(events: &[Event<'_>]) -> Vec<Value> {
        run(&Config::DEFAULT, events).0
    }

    /// Records `events` with `config`; returns the objects (checked against
    /// docs/json.md) and the environment (debugger lines, records).
    fn run(config: &Config, events: &[Event<'_>]) -> (Vec<Value>, Env) {
        let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
        let clock = Clock { start_ticks: 0, frequency: 1_000_000 };
        let pipeline = Pipeline::new(config, clock, Queue::default(), stats).unwrap();
        let mut env = Env {
            json: JsonFormatter::new(clock, 0, PathMap::default(), 64),
            objects: Vec::new(),
            lines: Vec::new(),
            records: Vec::new(),
        };
        for event in events {
            pipeline.record(Stamp::default(), event);
        }
        while pipeline.queue().0.replace(false) {
            pipeline.run_worker(&mut env);
        }
        let schema = super::schema();
        (env.objects.iter().map(|o| schema.check(o)).collect(), env)
    }

    #[test]
    fn a_kernel_images_base_is_recorded_only_when_the_setting_asks_for_it() {
        let load = |base, kernel_image| Event::ImageLoad {
            pid: if kernel_image { 0 } else { 600 },
            base,
            size: 4096,
            kernel_image,
            signature_level: 0,
            signature_type: 0,
            image: None,
        };
        let events = [load(0xffff_f805_3a10_0000, true), load(0x7ffb_1a2c_0000, false)];
        let (objects, env) = run(&Config::DEFAULT, &events);
        // By default a kernel image's base never enters the ring: not in the debugger's
        // line, not in the record a reader gets, not in JSON. A user image's base stays.
        assert!(env.lines[0].contains(" image-load pid=0 base=- size=0x1000 kernel=1 "), "{:?}", env.lines);
        assert!(env.lines[1].contains(" base=0x7ffb1a2c0000 "), "{:?}", env.lines);
        let base = |bytes: &[u8]| match notifyring::record::decode(bytes).unwrap().detail {
            notifyring::record::Detail::ImageLoad { base, .. } => base,
            _ => unreachable!(),
        };
        assert_eq!((base(&env.records[0]), base(&env.records[1])), (0, 0x7ffb_1a2c_0000));
        assert!(objects[0].get("ImageBase").is_none(), "{}", objects[0]);
        assert_eq!(objects[1]["ImageBase"], "0x7ffb1a2c0000");
        // KernelImageBases=1: recorded.
        let mut config = Config::DEFAULT;
        config.apply("KernelImageBases", 1).unwrap();
        let (objects, env) = run(&config, &events);
        assert!(env.lines[0].contains(" base=0xfffff8053a100000 "), "{:?}", env.lines);
        assert_eq!(objects[0]["ImageBase"], "0xfffff8053a100000");
    }

    const fn create<'a>(pid: u64, parent: u64, image: Option<&'a [u16]>, command_line: Option<&'a [u16]>) -> Event<'a> {
        Event::ProcessCreate {
            pid,
            parent_pid: parent,
            creator: ClientId { pid: parent, tid: 8 },
            file_open_name_available: true,
            subsystem_process: false,
            image,
            command_line,
        }
    }

    #[test]
    fn empty_strings_are_empty_and_absent_strings_absent() {
        let objects = objects(&[
            create(100, 4, Some(&[]), None),
            Event::ImageLoad {
                pid: 0,
                base: 0xffff_f800_0000_0000,
                size: 4096,
                kernel_image: true,
                signature_level: 0,
                signature_type: 0,
                image: None,
            },
        ]);
        assert_eq!(objects[0]["Image"], "", "{}", objects[0]);
        assert!(objects[0].get("CommandLine").is_none(), "{}", objects[0]);
        assert_eq!(objects[0]["EventID"], 1);
        assert_eq!(objects[1]["EventID"], 6, "a kernel image is a driver load");
        assert!(objects[1].get("ImageLoaded").is_none() && objects[1].get("ProcessId").is_none(), "{}", objects[1]);
        assert!(objects[1].get("ImageBase").is_none(), "not recorded by default: {}", objects[1]);
    }

    #[test]
    fn a_long_parent_command_line_is_kept_cut_and_marked() {
        let parent_image: Vec<u16> = r"\??\C:\Windows\System32\cmd.exe".encode_utf16().collect();
        let long: Vec<u16> = "x".repeat(3000).encode_utf16().collect();
        let short: Vec<u16> = "child".encode_utf16().collect();
        let objects = objects(&[
            create(200, 4, Some(&parent_image), Some(&long)),
            create(204, 200, None, Some(&short)),
            create(208, 204, None, None),
        ]);
        let child = &objects[1];
        assert_eq!(child["ParentImage"], r"C:\Windows\System32\cmd.exe", "NT form converted: {child}");
        assert_eq!(child["ParentCommandLine"].as_str().unwrap().len(), 2048);
        assert_eq!(child["ParentCommandLineTruncated"], true);
        let grandchild = &objects[2];
        assert_eq!(grandchild["ParentCommandLine"], "child");
        assert!(grandchild.get("ParentImage").is_none(), "the child had no image: absent, not guessed");
        assert!(grandchild.get("ParentCommandLineTruncated").is_none());
    }

    proptest! {
        #[test]
        fn any_utf16_becomes_valid_json_that_reads_back_as_the_lossy_text(units in prop::collection::vec(any::<u16>(), 0..300)) {
            let objects = objects(&[create(300, 4, Some(&units), Some(&units))]);
            let expected = String::from_utf16_lossy(&units);
            prop_assert_eq!(objects[0]["CommandLine"].as_str().unwrap(), expected.as_str());
        }
    }
}
