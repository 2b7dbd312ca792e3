//! The replay tool's engine, driven as a library: synthetic and recorded streams go
//! through the real pipeline on the simulated kernel, and every run must conserve its
//! events (delivered + lost = recorded), report every loss in-band, never double-queue
//! the work item, and print every kind it was given. Bad input is reported, not fatal
//! to the process.

use engine::{Options, Output, Report};
use notifyring::event::Kind;
use notifyring::replay::{engine, summary, synthetic, trace, workload};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workload::{Item, Workload};

/// Large enough that the tests' streams never fill it: every event must be delivered.
const ROOMY_RING: usize = 64 << 20;

fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces")
}

fn recorded_traces() -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(traces_dir())
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
        .collect();
    files.sort();
    Some(files)
}

fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("notifyring-replay-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("write a temporary trace");
    path
}

fn replay(workload: &Workload, options: &Options) -> Report {
    engine::run(workload, options).expect("the replay starts")
}

fn keep(producers: usize) -> Options {
    Options { producers, ring_bytes: ROOMY_RING, output: Output::Keep, ..Options::default() }
}

/// The checks every replay must pass, plus: each kind in the input shows up in the lines.
fn assert_sound(name: &str, workload: &Workload, report: &Report) {
    let summary =
        summary::Summary::new(report, workload.sources.clone(), workload.malformed_lines, None, Duration::ZERO);
    eprint!("{}", summary.human());
    assert_eq!(report.violations(), Vec::<String>::new(), "{name}: broken invariants");
    assert_eq!(report.events, report.stats.delivered_total() + report.stats.lost_total(), "{name}: conservation");
    assert_eq!(report.queue.double_queues, 0, "{name}: double queue");
    let input = workload.count_by_kind();
    for kind in Kind::ALL {
        // A kind the stalled-worker runs lost entirely is in no line, rightly: skip it
        // (the lossless runs also assert that nothing was lost).
        if input[kind.index()] == 0 || report.stats.lost[kind.index()] == input[kind.index()] {
            continue;
        }
        let needle = format!(" {} pid=", kind.name());
        assert!(
            report.lines.iter().any(|l| l.contains(&needle)),
            "{name}: {} is in the input but in no output line",
            kind.name()
        );
    }
}

#[test]
fn the_vendored_recording_names_every_process() {
    // The recording shipped for the README's first command: its `process_image` names
    // the processes that started before it, so no line says `proc=?`.
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/procmon_win10x64_process.jsonl.gz");
    let workload = trace::load(&[vendored]).expect("the vendored recording loads");
    let report = replay(&workload, &keep(1));
    assert_sound("vendored", &workload, &report);
    assert!(
        report.lines[0].ends_with(r#"proc="Explorer.EXE""#),
        "the first line names its process: {}",
        report.lines[0]
    );
    assert!(!report.lines.iter().any(|l| l.contains("proc=?")), "every process is named");
}

#[test]
fn synthetic_replay_delivers_every_event_of_every_kind() {
    let workload = synthetic::generate(7, 20_000);
    assert!(workload.count_by_kind().iter().all(|&n| n > 0), "the synthetic stream has every kind");
    let report = replay(&workload, &keep(2));
    assert_sound("synthetic", &workload, &report);
    assert_eq!(report.stats.lost_total(), 0, "a roomy ring loses nothing");
    assert_eq!(report.stats.delivered, report.events_by_kind);
}

#[test]
fn synthetic_first_threads_are_initial_and_only_real_remote_threads_are_remote() {
    let workload = synthetic::generate(11, 20_000);
    let report = replay(&workload, &keep(2));
    assert_sound("synthetic threads", &workload, &report);
    let field = |line: &str, key: &str| -> Option<u64> {
        line.split(' ').find_map(|w| w.strip_prefix(key)).and_then(|v| v.parse().ok())
    };
    let created: std::collections::HashSet<u64> =
        report.lines.iter().filter(|l| l.contains(" process-create ")).filter_map(|l| field(l, "pid=")).collect();
    let mut first_seen = std::collections::HashSet::new();
    let (mut initial, mut remote) = (0, 0);
    for line in report.lines.iter().filter(|l| l.contains(" thread-create ")) {
        let pid = field(line, "pid=").unwrap();
        if created.contains(&pid) {
            let first = first_seen.insert(pid);
            assert_eq!(first, line.contains(" remote=0 initial=1"), "first thread of a new process: {line}");
            assert!(!line.contains(" remote=?"), "nothing was lost, so nothing is unknown: {line}");
        }
        initial += usize::from(line.contains(" initial=1"));
        remote += usize::from(line.contains(" remote=1"));
    }
    assert_eq!(initial, created.len(), "one initial thread per process started");
    assert!(remote > 0, "the workload's remote threads (from csrss, explorer) are still remote");
}

#[test]
fn recorded_traces_replay_without_loss_or_malformed_lines() {
    // The synthetic stream always runs, so this test asserts something without the traces.
    let mut inputs = vec![("synthetic".to_owned(), synthetic::generate(11, 5_000))];
    match recorded_traces() {
        Some(files) if !files.is_empty() => {
            for file in files {
                let workload = trace::load(std::slice::from_ref(&file)).expect("the recorded trace loads");
                assert_eq!(workload.malformed_lines, 0, "{}: malformed lines {:?}", file.display(), workload.malformed);
                assert!(!workload.events.is_empty(), "{}: no events", file.display());
                inputs.push((file.display().to_string(), workload));
            }
        }
        _ => eprintln!(
            "NOTE: no recorded traces at {} (*.jsonl.gz): only the synthetic stream was replayed",
            traces_dir().display()
        ),
    }
    for (name, workload) in &inputs {
        let report = replay(workload, &keep(2));
        assert_sound(name, workload, &report);
        assert_eq!(report.stats.lost_total(), 0, "{name}: a roomy ring loses nothing");
    }
}

#[test]
fn stalled_worker_loses_events_and_reports_every_loss() {
    let workload = synthetic::generate(3, 20_000);
    let options = Options {
        producers: 1,
        ring_bytes: 64 << 10,
        stall_worker: Duration::from_millis(2),
        output: Output::Keep,
        ..Options::default()
    };
    let report = replay(&workload, &options);
    assert_sound("stalled", &workload, &report);
    let lost = report.stats.lost_total();
    assert!(lost > 0, "a 64 KiB ring behind a stalled worker overflows");
    let in_lines: u64 = report
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("notifyring: LOST "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(in_lines, lost, "every loss appears in a LOST line");
}

#[test]
fn synthetic_workload_is_deterministic_by_seed() {
    let a = synthetic::generate(42, 3_000);
    let b = synthetic::generate(42, 3_000);
    let c = synthetic::generate(43, 3_000);
    assert_eq!(a.events.len(), 3_000);
    assert_eq!(a.events, b.events);
    assert_ne!(a.events, c.events);
}

fn quantile(sorted: &[usize], q: f64) -> usize {
    let last = sorted.len().saturating_sub(1);
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index"
    )]
    let i = ((last as f64) * q).round() as usize;
    sorted.get(i.min(last)).copied().unwrap_or(0)
}

#[test]
fn synthetic_workload_has_the_recorded_shape() {
    let workload = synthetic::generate(1, 100_000);
    let mut images = Vec::new();
    let mut commands = Vec::new();
    for e in &workload.events {
        match &e.item {
            Item::ProcessCreate { image, command_line, .. } => {
                images.extend(image.as_ref().map(|s| s.len()));
                commands.extend(command_line.as_ref().map(|s| s.len()));
            }
            Item::ImageLoad { image, .. } => images.extend(image.as_ref().map(|s| s.len())),
            _ => {}
        }
    }
    images.sort_unstable();
    commands.sort_unstable();
    let by_kind = workload.count_by_kind();
    let process = by_kind[Kind::ProcessCreate.index()] + by_kind[Kind::ProcessExit.index()];
    let thread = by_kind[Kind::ThreadCreate.index()] + by_kind[Kind::ThreadExit.index()];
    let loads = by_kind[Kind::ImageLoad.index()];
    let creates = by_kind[Kind::ProcessCreate.index()];
    let span_ms = workload.events.last().map_or(0, |e| e.t_ns) / 1_000_000;
    let mut per_ms = std::collections::HashMap::<u64, u64>::new();
    for e in &workload.events {
        *per_ms.entry(e.t_ns / 1_000_000).or_default() += 1;
    }
    let peak = per_ms.values().copied().max().unwrap_or(0);
    #[expect(clippy::cast_precision_loss, reason = "ratios printed for people")]
    let ratio = |a: u64, b: u64| a as f64 / b.max(1) as f64;
    eprintln!(
        "image len median {} p99 {} max {}; cmdline median {} p99 {} max {}; kinds {by_kind:?}; \
         thread/process {:.1}; loads/create {:.1}; {:.1} events/ms, peak {peak}/ms",
        quantile(&images, 0.5),
        quantile(&images, 0.99),
        images.last().unwrap_or(&0),
        quantile(&commands, 0.5),
        quantile(&commands, 0.99),
        commands.last().unwrap_or(&0),
        ratio(thread, process),
        ratio(loads, creates),
        ratio(workload.events.len() as u64, span_ms),
    );
    assert!((29..=40).contains(&quantile(&images, 0.5)), "image path median");
    assert!((60..=153).contains(&quantile(&images, 0.99)), "image path p99");
    assert!((36..=90).contains(&quantile(&commands, 0.5)), "command line median");
    assert!((140..=750).contains(&quantile(&commands, 0.99)), "command line p99");
    assert!(commands.iter().any(|&n| (4_000..=5_200).contains(&n)), "a ~5,000-unit command line");
    assert_eq!(commands.last(), Some(&32_767), "the longest possible command line");
    assert!(loads > thread && loads > process, "image loads dominate");
    assert!((10..=100).contains(&(loads / creates)), "10-100 image loads per process start");
    assert!((14..=26).contains(&(thread / process)), "thread events ~20x process events");
    assert!((3..=10).contains(&(workload.events.len() as u64 / span_ms.max(1))), "~6 events/ms on average");
    assert!(peak >= 60, "bursts up to ~140/ms");
}

#[test]
fn synthetic_workload_carries_odd_text_and_the_output_escapes_it() {
    let workload = synthetic::generate(5, 2_000);
    let strings: Vec<&[u16]> = workload
        .events
        .iter()
        .filter_map(|e| match &e.item {
            Item::ProcessCreate { image, command_line, .. } => Some([image.as_deref(), command_line.as_deref()]),
            _ => None,
        })
        .flatten()
        .flatten()
        .collect();
    let any = |f: &dyn Fn(&[u16]) -> bool| strings.iter().any(|s| f(s));
    let high = |u: u16| (0xd800..0xdc00).contains(&u);
    let low = |u: u16| (0xdc00..0xe000).contains(&u);
    assert!(any(&|s| s.windows(2).any(|w| high(w[0]) && low(w[1]))), "a surrogate pair");
    assert!(
        any(&|s| s.iter().enumerate().any(|(i, &u)| high(u) && !s.get(i + 1).is_some_and(|&n| low(n)))),
        "an unpaired surrogate"
    );
    assert!(any(&|s| s.contains(&0x202e)), "a right-to-left override");
    assert!(any(&|s| s.contains(&0)), "an embedded NUL");
    assert!(any(&|s| s.len() == 32_767), "a 32,767-unit command line");

    let report = replay(&workload, &keep(1));
    assert_sound("odd text", &workload, &report);
    assert!(report.stats.truncated_strings > 0, "the 32,767-unit command line is cut at the cap");
    let text = report.lines.join("\n");
    assert!(text.contains("\\u{202e}"), "the override is escaped, not obeyed");
    assert!(text.bytes().all(|b| b == b'\n' || (0x20..0x7f).contains(&b)), "debugger lines are printable ASCII");
    assert!(
        ["\\u{d8", "\\u{d9", "\\u{da", "\\u{db", "\\u{dc", "\\u{dd", "\\u{de", "\\u{df"]
            .iter()
            .any(|p| text.contains(p)),
        "an unpaired surrogate is escaped as itself, not replaced"
    );
    assert!(text.contains("\\u{1f600}"), "a surrogate pair is escaped as its code point");
    assert!(text.contains("cmdline_truncated=8192/32767"), "the cut is said");
    assert!(report.lines.iter().all(|l| !l.contains('\0')), "no raw NUL reaches the debugger");
}

const GOOD: &str = r#"{"t_ns":0,"kind":"process_create","pid":100,"ppid":4,"tid":8,"image":"C:\\a.exe","cmdline":"a.exe \u202e \ud800","base":null,"size":null,"exit_code":null,"is_kernel":null,"source":"test"}"#;

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_skipped() {
    let lines = [
        GOOD,
        r#"{"t_ns":5,"kind":"thread_create","pid":100,"tid":12}"#,
        r#"{"t_ns":6,"kind":"thread_create","pid":100,"tid":"#,
        r#"{"t_ns":7,"kind":"teleport","pid":100}"#,
        "",
        r#"{"t_ns":8,"kind":"process_exit","pid":-1,"exit_code":0}"#,
        r#"{"t_ns":9,"kind":"process_exit","pid":100,"exit_code":4294967296}"#,
        r#"{"t_ns":10,"kind":"image_load","pid":100,"image":42}"#,
        "[1,2,3]",
        r#"{"t_ns":11,"kind":"process_exit","pid":100,"exit_code":3221225477}"#,
    ];
    let path = temp_file("malformed.jsonl", lines.join("\n").as_bytes());
    let workload = trace::load(std::slice::from_ref(&path)).expect("a file with some bad lines still loads");
    let at: Vec<String> = workload.malformed.iter().map(|m| m.at.clone()).collect();
    let file = path.display();
    assert_eq!(
        at,
        [3, 4, 6, 7, 8, 9].map(|n| format!("{file}:{n}")),
        "each bad line once, by number: {:?}",
        workload.malformed
    );
    assert_eq!(workload.malformed_lines, 6);
    assert!(workload.malformed[1].reason.contains("teleport"), "{:?}", workload.malformed[1]);
    assert!(workload.malformed[3].reason.contains("32 bits"), "{:?}", workload.malformed[3]);
    assert!(workload.malformed[4].reason.contains("image"), "{:?}", workload.malformed[4]);
    assert_eq!(workload.events.len(), 3);
    assert_eq!(workload.events[2].item, Item::ProcessExit { pid: 100, exit_status: 0xc000_0005 });
    let report = replay(&workload, &keep(1));
    assert_sound("malformed", &workload, &report);
    std::fs::remove_file(path).ok();
}

#[test]
fn null_fields_become_zero_and_missing_strings() {
    let lines = [
        r#"{"t_ns":null,"kind":"process_create","pid":null,"ppid":null,"tid":null,"image":null,"cmdline":null,"base":null,"size":null,"exit_code":null,"is_kernel":null,"source":null}"#,
        r#"{"t_ns":1,"kind":"thread_create","pid":200,"ppid":null,"tid":null}"#,
        r#"{"t_ns":2,"kind":"image_load","pid":null,"image":"\\SystemRoot\\System32\\drivers\\x.sys","is_kernel":true}"#,
        r#"{"t_ns":3,"kind":"process_exit","pid":200,"exit_code":null}"#,
        r#"{"t_ns":4,"kind":"thread_exit","pid":200,"tid":204}"#,
    ];
    let path = temp_file("nulls.jsonl", lines.join("\n").as_bytes());
    let workload = trace::load(std::slice::from_ref(&path)).expect("nulls are normal");
    assert_eq!(workload.malformed_lines, 0, "{:?}", workload.malformed);
    let items: Vec<Item> = workload.events.iter().map(|e| e.item.clone()).collect();
    let zero = notifyring::ClientId { pid: 0, tid: 0 };
    assert_eq!(
        items[0],
        Item::ProcessCreate {
            pid: 0,
            parent_pid: 0,
            creator: zero,
            file_open_name_available: false,
            subsystem_process: false,
            image: None,
            command_line: None,
        }
    );
    assert_eq!(items[1], Item::ThreadCreate { pid: 200, tid: 0, creator: notifyring::ClientId { pid: 200, tid: 0 } });
    assert!(matches!(items[2], Item::ImageLoad { pid: 0, base: 0, size: 0, kernel_image: true, .. }));
    assert_eq!(items[3], Item::ProcessExit { pid: 200, exit_status: 0 });
    assert_eq!(items[4], Item::ThreadExit { pid: 200, tid: 204 });
    let report = replay(&workload, &keep(1));
    assert_sound("nulls", &workload, &report);
    std::fs::remove_file(path).ok();
}

#[test]
fn gzip_traces_are_read_whatever_their_name() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(GOOD.as_bytes()).and_then(|()| gz.write_all(b"\n")).expect("compress");
    let path = temp_file("trace.jsonl", &gz.finish().expect("compress"));
    let workload = trace::load(std::slice::from_ref(&path)).expect("a gzip trace loads");
    assert_eq!(workload.events.len(), 1);
    let Item::ProcessCreate { command_line: Some(cmd), .. } = &workload.events[0].item else {
        panic!("a process create")
    };
    assert_eq!(
        cmd.iter().rev().take(3).copied().collect::<Vec<_>>(),
        [0xd800, 0x20, 0x202e],
        "escapes decode to UTF-16 as is"
    );
    std::fs::remove_file(path).ok();
}

#[test]
fn unreadable_or_non_json_input_is_an_error() {
    let missing = std::env::temp_dir().join("notifyring-replay-no-such-file.jsonl");
    let err = trace::load(std::slice::from_ref(&missing)).expect_err("a missing file is an error");
    assert!(err.to_string().contains("no-such-file") && err.to_string().contains("cannot read"), "{err}");

    let text = temp_file("prose.txt", b"Dear reader,\nthis is not JSON.\n");
    let err = trace::load(std::slice::from_ref(&text)).expect_err("prose is an error");
    assert!(err.to_string().contains("not a JSON Lines trace"), "{err}");

    let array = temp_file("array.json", b"[\n  {\"kind\": \"process_exit\"}\n]\n");
    let err = trace::load(std::slice::from_ref(&array)).expect_err("a JSON document is not JSON Lines");
    assert!(err.to_string().contains("not a JSON Lines trace"), "{err}");

    let foreign = temp_file("foreign.jsonl", b"{\"a\":1}\n{\"b\":2}\n");
    let err = trace::load(std::slice::from_ref(&foreign)).expect_err("JSON of another schema has no event");
    assert!(err.to_string().contains("no event"), "{err}");

    let binary = temp_file("binary.gz", &[0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef]);
    let err = trace::load(std::slice::from_ref(&binary)).expect_err("a broken gzip stream is an error");
    assert!(err.to_string().contains("cannot read"), "{err}");

    let blank = temp_file("blank.jsonl", b"\n  \n");
    let err = trace::load(std::slice::from_ref(&blank)).expect_err("an empty trace is an error");
    assert!(err.to_string().contains("no event"), "{err}");

    for p in [text, array, foreign, binary, blank] {
        std::fs::remove_file(p).ok();
    }
}

/// The built example, next to this test binary (`cargo test` builds examples first).
fn replay_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?;
    let bin = dir.join("examples").join(format!("replay{}", std::env::consts::EXE_SUFFIX));
    bin.exists().then_some(bin)
}

#[test]
fn cli_reports_bad_lines_writes_the_summary_and_fails_on_missing_files() {
    let Some(bin) = replay_binary() else {
        eprintln!("NOTE: the replay example is not built (run `cargo test` without --test): CLI test skipped");
        return;
    };
    let trace = temp_file("cli.jsonl", format!("{GOOD}\nnot json\n").as_bytes());
    let json = std::env::temp_dir().join(format!("notifyring-replay-{}-summary.json", std::process::id()));
    let out = std::process::Command::new(&bin)
        .arg("--trace")
        .arg(&trace)
        .arg("--summary-json")
        .arg(&json)
        .output()
        .expect("run the replay example");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(stderr.contains(&format!("{}:2: ", trace.display())), "the bad line is named: {stderr}");
    assert!(stdout.contains("process-create pid=100"), "the event is printed: {stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("summary written")).expect("summary is JSON");
    for key in
        ["events", "delivered", "lost", "truncated", "worker_runs", "callback_ns", "events_per_s", "malformed_lines"]
    {
        assert!(summary.get(key).is_some(), "summary has {key}: {summary}");
    }
    for key in ["p50", "p99", "p999", "max"] {
        assert!(summary["callback_ns"].get(key).is_some(), "callback_ns has {key}");
    }
    assert_eq!(summary["events"], 1);
    assert_eq!(summary["malformed_lines"], 1);
    // The create's line has no user, integrity or logon id: facts the recording lacks,
    // not failed token queries.
    assert_eq!(summary["token_failures"], 0);
    assert_eq!(summary["token_facts_not_recorded"], 3);
    assert!(
        stderr.contains("token queries failed: 0; token facts not in the recording: 3"),
        "the summary says which: {stderr}"
    );

    let missing = std::process::Command::new(&bin)
        .args(["--quiet", "--trace", "/nonexistent/notifyring/trace.jsonl"])
        .output()
        .expect("run the replay example");
    assert!(!missing.status.success(), "a missing trace fails the run");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/notifyring/trace.jsonl"));
    for p in [trace, json] {
        std::fs::remove_file(p).ok();
    }
}

/// `--rules` on the vendored recording with the project's own test rules: text output
/// through the reader and the CLI's `Watch` is the worker's debugger lines plus the one
/// alert (svchost started as SYSTEM) right after its event, and the summary counts it.
#[test]
fn rules_add_their_alert_after_its_event_and_the_summary_counts_them() {
    let vendored = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/procmon_win10x64_process.jsonl.gz");
    let workload = trace::load(&[vendored]).expect("the vendored recording");
    let plain = replay(&workload, &keep(1));
    let rules = notifyring::user::rules::Rules::load(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rules")]);
    let options = Options { rules: Some(std::sync::Arc::new(rules)), ..keep(1) };
    let report = replay(&workload, &options);
    assert_sound("vendored with rules", &workload, &report);
    let is_alert = |l: &&String| l.starts_with("notifyring: ALERT ");
    let alerts: Vec<usize> = (0..report.lines.len()).filter(|&i| is_alert(&&report.lines[i])).collect();
    assert_eq!(alerts.len(), 1, "one svchost started as SYSTEM");
    let event = &report.lines[alerts[0] - 1];
    assert!(
        event.contains(" process-create ") && event.contains("svchost.exe") && event.contains("integrity=System"),
        "{event}"
    );
    // Apart from the alert, the lines are the worker's, in the same order (the `+seconds`
    // differ between runs: compare from the kind on).
    let body = |l: &String| l.split_once(" cpu").map_or_else(|| l.clone(), |(_, rest)| rest.to_owned());
    let without: Vec<String> = report.lines.iter().filter(|l| !is_alert(l)).map(body).collect();
    let worker: Vec<String> = plain.lines.iter().filter(|l| l.starts_with("notifyring: #")).map(body).collect();
    assert_eq!(without, worker);
    let summary = summary::Summary::new(&report, workload.sources, 0, None, Duration::ZERO);
    let rules = summary.rules.as_ref().expect("rules in the summary");
    assert_eq!((rules.loaded, rules.skipped, rules.failed, rules.alerts["high"]), (2, 0, 0, 1));
    assert!(
        summary.human().contains("  rules: 2 loaded, 0 skipped (other log sources), 0 failed; 1 alerts (high 1)\n")
    );
}
