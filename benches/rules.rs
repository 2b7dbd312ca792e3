//! Sigma rules' cost per event beside the JSON formatter's, in the same run, on every
//! recorded trace's events, with the full shared rule set: what the reader thread of
//! `notifyring watch --rules` (and of the replay's `--rules`) pays per event after a read.
//!
//! Untimed, per trace: its events go through a pipeline's record path, the real worker
//! (processes named from the recording, as the replay's host names them) and the reader
//! channel into wire batches (`common::stages`); the batches are formatted once, which
//! gives the JSON objects the rules see. Then one criterion group per trace, with
//! throughput in events:
//!
//! * `format`: every event of the batches decoded and formatted ([`json_each`], with the
//!   recording's processes for those the formatter has not seen created, as the replay's
//!   reader asks them), a fresh formatter each pass (set up untimed);
//! * `evaluate`: `Rules::evaluate` of every object, the alerts `black_box`ed;
//! * `parse`: `serde_json::from_str::<Value>` of every object, the part of `evaluate`
//!   that parses the object back;
//! * `evaluate_replay`: `Rules::evaluate` of the objects the replay prints for the same
//!   trace (`--format json`, untimed). Those carry what the capture above has no source
//!   for (token facts, the recorded file facts, account names, thread start places), so
//!   more rules find their fields: they are what `replay --rules` evaluates.
//!
//! Traces: `../shared/traces/*.jsonl.gz`, or the vendored recording where there is no
//! `../shared` (a user's clone). Rules: `../shared/sigma/rules`, or `tests/data/rules`.
//! Either fallback is said on stderr. `RULES_TRACES=a,b` keeps the traces whose file
//! names contain one of the words.
//!
//! Each group takes about 10 s: per stage 0.5 s of warm-up and 2 s of measurement
//! (criterion's `--warm-up-time` and `--measurement-time` override them) in 10 samples
//! (fixed: the summary takes them). Besides criterion's own estimates
//! (`target/criterion/`), it prints two tables and writes `target/bench/rules.json`: per
//! trace the events, each stage's median ns per event over the samples (p10–p90),
//! evaluate/format, the events per second one reader thread sustains formatting and
//! evaluating, and the trace's recorded peak rates (the most events in any 1 s, and in
//! any 100 ms × 10) against it at the replay's `--speed 10`.

#![allow(clippy::cast_precision_loss, reason = "a report's arithmetic on counts and nanoseconds far below 2^52")]

mod common;

use common::stages::{CLOCK, Wire, capture_events_named, json_each};
use common::ticker::Ticker;
use criterion::{Criterion, SamplingMode, Throughput};
use notifyring::config::Config;
use notifyring::event::Event;
use notifyring::replay::engine::{self, Format, Options, Output};
use notifyring::replay::trace;
use notifyring::replay::workload::Workload;
use notifyring::user::json::{HostProcess, JsonFormatter, LOST_EVENT_ID};
use notifyring::user::paths::PathMap;
use notifyring::user::rules::Rules;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Samples per stage: set on each group (a `--sample-size` is not taken), so that the
/// summary knows which of the routine's calls were the measurement's (the last ones).
const SAMPLES: usize = 10;

/// The stages, in the order each group runs them.
const STAGES: [&str; 4] = ["format", "evaluate", "parse", "evaluate_replay"];

/// One trace, ready to bench.
struct Trace {
    name: String,
    events: usize,
    wire: Wire,
    objects: Vec<String>,
    /// The event objects the replay prints for this trace.
    replay_objects: Vec<String>,
    /// What the recording machine knew of processes that started before the trace.
    processes: HashMap<u64, Box<[u16]>>,
    command_lines: HashMap<u64, Box<[u16]>>,
    alerts: u64,
    alerts_replay: u64,
    /// Recorded span, first to last event.
    span_ns: u64,
    peak_1s: usize,
    peak_100ms: usize,
}

impl Trace {
    /// What the host says of `pid`, as the replay's reader answers from the recording.
    fn lookup(&self, pid: u64) -> Option<HostProcess> {
        self.processes.get(&pid).map(|units| HostProcess {
            image: String::from_utf16_lossy(units),
            command_line: self.command_lines.get(&pid).map(|c| String::from_utf16_lossy(c)),
        })
    }

    /// A formatter as the CLI's watch makes one.
    fn formatter() -> JsonFormatter {
        JsonFormatter::new(CLOCK, 1_700_000_000_000_000_000, PathMap::default(), Config::DEFAULT.names)
    }
}

/// The most events in any window of `window_ns` (`t` sorted).
fn peak(t: &[u64], window_ns: u64) -> usize {
    let (mut best, mut end) = (0, 0);
    for (start, &t0) in t.iter().enumerate() {
        while end < t.len() && t[end] - t0 < window_ns {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// The shared folder `name`, or `fallback` (said on stderr) where there is none.
fn shared_or(name: &str, fallback: &str, what: &str) -> (PathBuf, bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared").join(name);
    if shared.is_dir() {
        (shared, true)
    } else {
        eprintln!("rules bench: no {} ({what}): using {fallback}", shared.display());
        (root.join(fallback), false)
    }
}

fn trace_paths() -> Vec<PathBuf> {
    let (dir, shared) =
        shared_or("traces", "examples/data/procmon_win10x64_process.jsonl.gz", "the development traces");
    let mut paths: Vec<PathBuf> = if shared {
        std::fs::read_dir(&dir)
            .expect("read ../shared/traces")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".jsonl.gz"))
            .collect()
    } else {
        vec![dir]
    };
    paths.sort();
    if let Ok(only) = std::env::var("RULES_TRACES") {
        paths.retain(|p| only.split(',').any(|w| p.to_string_lossy().contains(w)));
    }
    paths
}

fn prepare(path: &Path, rules: &Rules, ticker: &Ticker) -> Option<Trace> {
    let workload = match trace::load(&[path.to_owned()]) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("rules bench: skipped {}: {}", e.path.display(), e.reason);
            return None;
        }
    };
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().replace(".jsonl.gz", ""));
    let events: Vec<Event<'_>> = workload.events.iter().map(|t| t.item.event()).collect();
    let wire = capture_events_named(&events, &workload.processes, ticker);
    let mut times: Vec<u64> = workload.events.iter().map(|t| t.t_ns).collect();
    times.sort_unstable();
    let mut trace = Trace {
        name,
        events: events.len(),
        wire,
        objects: Vec::with_capacity(events.len()),
        processes: workload.processes.clone(),
        command_lines: workload.command_lines.clone(),
        alerts: 0,
        alerts_replay: 0,
        replay_objects: replay_objects(&workload),
        span_ns: times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0),
        peak_1s: peak(&times, 1_000_000_000),
        peak_100ms: peak(&times, 100_000_000),
    };
    let mut objects = Vec::with_capacity(trace.events);
    let formatted =
        json_each(&trace.wire.batches, &mut Trace::formatter(), |pid| trace.lookup(pid), None, |o| objects.push(o));
    assert_eq!(formatted, trace.events, "every event was formatted");
    for object in &objects {
        rules.evaluate(object, |_| trace.alerts += 1);
    }
    for object in &trace.replay_objects {
        rules.evaluate(object, |_| trace.alerts_replay += 1);
    }
    trace.objects = objects;
    Some(trace)
}

/// The event objects the replay prints for `workload` (its LOST objects left out: with a
/// ring this large there are none).
fn replay_objects(workload: &Workload) -> Vec<String> {
    let options = Options { ring_bytes: 64 << 20, output: Output::Keep, format: Format::Json, ..Options::default() };
    let report = engine::run(workload, &options).expect("the replay starts");
    assert_eq!(report.stats.lost_total(), 0, "the replay lost no event");
    let event = |line: &String| {
        serde_json::from_str::<Value>(line).ok().and_then(|o| o.get("EventID")?.as_u64()) != Some(LOST_EVENT_ID)
    };
    report.lines.into_iter().filter(event).collect()
}

/// The calls of one stage's routine: (iterations, time).
type Samples = BTreeMap<(String, &'static str), Vec<(u64, Duration)>>;

fn bench(c: &mut Criterion, t: &Trace, rules: &Rules, samples: &RefCell<Samples>) {
    let note = |stage: &'static str, iters: u64, time: Duration| {
        samples.borrow_mut().entry((t.name.clone(), stage)).or_default().push((iters, time));
        time
    };
    let mut group = c.benchmark_group(format!("rules/{}", t.name));
    group.throughput(Throughput::Elements(t.events as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(SAMPLES);
    group.bench_function(STAGES[0], |b| {
        b.iter_custom(|iters| {
            let mut time = Duration::ZERO;
            for _ in 0..iters {
                let mut json = Trace::formatter();
                let start = Instant::now();
                let n = json_each(
                    &t.wire.batches,
                    &mut json,
                    |pid| t.lookup(pid),
                    None,
                    |o| {
                        black_box(o.len());
                    },
                );
                time += start.elapsed();
                black_box(n);
            }
            note(STAGES[0], iters, time)
        });
    });
    group.bench_function(STAGES[1], |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for object in &t.objects {
                    rules.evaluate(object, |alert| {
                        black_box(alert);
                    });
                }
            }
            note(STAGES[1], iters, start.elapsed())
        });
    });
    group.bench_function(STAGES[2], |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for object in &t.objects {
                    black_box(serde_json::from_str::<Value>(object).ok());
                }
            }
            note(STAGES[2], iters, start.elapsed())
        });
    });
    group.throughput(Throughput::Elements(t.replay_objects.len() as u64));
    group.bench_function(STAGES[3], |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for object in &t.replay_objects {
                    rules.evaluate(object, |alert| {
                        black_box(alert);
                    });
                }
            }
            note(STAGES[3], iters, start.elapsed())
        });
    });
    group.finish();
}

/// Median, p10 and p90 of the measurement's samples of one stage, in ns per event.
fn per_event(calls: &[(u64, Duration)], events: usize) -> Option<[f64; 3]> {
    let measured = calls.get(calls.len().checked_sub(SAMPLES)?..)?;
    let mut v: Vec<f64> =
        measured.iter().map(|(iters, time)| time.as_nanos() as f64 / (*iters).max(1) as f64 / events as f64).collect();
    v.sort_by(f64::total_cmp);
    let at = |percent: usize| v[((v.len() - 1) * percent + 50) / 100];
    Some([at(50), at(10), at(90)])
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

/// One trace's figures: each stage's median ns per event, with p10 and p90.
struct Figures {
    format: [f64; 3],
    evaluate: [f64; 3],
    parse: [f64; 3],
    evaluate_replay: [f64; 3],
}

impl Figures {
    fn of(t: &Trace, samples: &Samples) -> Option<Self> {
        let stage =
            |s: &'static str, events: usize| samples.get(&(t.name.clone(), s)).and_then(|c| per_event(c, events));
        Some(Self {
            format: stage(STAGES[0], t.events)?,
            evaluate: stage(STAGES[1], t.events)?,
            parse: stage(STAGES[2], t.events)?,
            evaluate_replay: stage(STAGES[3], t.replay_objects.len())?,
        })
    }

    /// Events per second one reader thread formats and evaluates, with `evaluate`.
    fn reader(&self, evaluate: [f64; 3]) -> f64 {
        1e9 / (self.format[0] + evaluate[0])
    }
}

fn summary(traces: &[Trace], samples: &Samples, rules_line: &str, load_before: &str) {
    let cell = |s: [f64; 3]| format!("{:.0} ({:.0}–{:.0})", s[0], s[1], s[2]);
    let mut costs = vec![
        "| trace | events | format ns/event | evaluate ns/event | parse ns/event | evaluate/format | evaluate, replay's objects | alerts (replay's) |".to_owned(),
        "|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    let mut rates = vec![
        "| trace | recorded s | peak/s, 1 s | peak/s, 100 ms ×10 | reader events/s | reader / (peak ×10), 1 s; 100 ms | same, replay's objects |".to_owned(),
        "|---|---|---|---|---|---|---|".to_owned(),
    ];
    let mut rows = Vec::new();
    for t in traces {
        let Some(f) = Figures::of(t, samples) else { continue };
        let (peak_1s, peak_100ms) = (t.peak_1s as f64, t.peak_100ms as f64 * 10.0);
        let (reader, reader_replay) = (f.reader(f.evaluate), f.reader(f.evaluate_replay));
        costs.push(format!(
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} ({}) |",
            t.name,
            t.events,
            cell(f.format),
            cell(f.evaluate),
            cell(f.parse),
            f.evaluate[0] / f.format[0],
            cell(f.evaluate_replay),
            t.alerts,
            t.alerts_replay
        ));
        rates.push(format!(
            "| {} | {:.1} | {peak_1s:.0} | {peak_100ms:.0} | {reader:.0} | {:.1}×; {:.1}× | {:.1}×; {:.1}× |",
            t.name,
            t.span_ns as f64 / 1e9,
            reader / (10.0 * peak_1s),
            reader / (10.0 * peak_100ms),
            reader_replay / (10.0 * peak_1s),
            reader_replay / (10.0 * peak_100ms),
        ));
        let median = |s: [f64; 3]| round(s[0], 1);
        let spread = |s: [f64; 3]| json!([round(s[1], 1), round(s[2], 1)]);
        rows.push(json!({
            "trace": t.name,
            "events": t.events,
            "replay_objects": t.replay_objects.len(),
            "alerts": t.alerts,
            "alerts_replay_objects": t.alerts_replay,
            "recorded_seconds": round(t.span_ns as f64 / 1e9, 3),
            "ns_per_event": {
                "format": median(f.format),
                "evaluate": median(f.evaluate),
                "parse": median(f.parse),
                "evaluate_replay": median(f.evaluate_replay),
            },
            "ns_per_event_p10_p90": {
                "format": spread(f.format),
                "evaluate": spread(f.evaluate),
                "parse": spread(f.parse),
                "evaluate_replay": spread(f.evaluate_replay),
            },
            "evaluate_vs_format": round(f.evaluate[0] / f.format[0], 3),
            "parse_share_of_evaluate": round(f.parse[0] / f.evaluate[0], 3),
            "reader_events_per_s": reader.round(),
            "reader_events_per_s_replay_objects": reader_replay.round(),
            "peak_events_per_s_1s_window": peak_1s,
            "peak_events_per_s_100ms_window_x10": peak_100ms,
            "reader_vs_peak_at_speed_10": {
                "1s_window": round(reader / (10.0 * peak_1s), 2),
                "100ms_window": round(reader / (10.0 * peak_100ms), 2),
                "1s_window_replay_objects": round(reader_replay / (10.0 * peak_1s), 2),
                "100ms_window_replay_objects": round(reader_replay / (10.0 * peak_100ms), 2),
            },
        }));
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\n{}\n\n{}", costs.join("\n"), rates.join("\n"));
    let out = json!({
        "traces": rows,
        "rules": rules_line,
        "samples_per_stage": SAMPLES,
        "method": "benches/rules.rs: per trace, criterion's samples of each stage (the last SAMPLES calls of \
                   its routine, flat sampling); ns/event is the median over the samples, with p10-p90; \
                   reader events/s = 1e9 / (format + evaluate); peak/s: most recorded events in any 1 s \
                   window, and in any 100 ms window times 10; at --speed 10 the replay offers 10 times those",
        "load_average_before": load_before.trim(),
        "load_average_after": load_after.trim(),
        "cpus": std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    });
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let text = serde_json::to_string_pretty(&out).expect("serialise");
    std::fs::write(dir.join("rules.json"), text + "\n").expect("write rules.json");
    println!("\nload average before: {}, after: {}", load_before.trim(), load_after.trim());
    println!("wrote {}", dir.join("rules.json").display());
}

fn main() {
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    // Measured only as `cargo bench` runs it (`--bench`, none of `--test`, `--list`,
    // `--profile-time`): otherwise criterion runs each routine once, and no summary is
    // written.
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench")
        && !args.iter().any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"));
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let (rules_dir, _) = shared_or("sigma/rules", "tests/data/rules", "the shared Sigma rules");
    let started = Instant::now();
    let rules = Rules::load(&[rules_dir]);
    let rules_line = rules.loaded().line();
    eprintln!("{rules_line} in {:.1} s", started.elapsed().as_secs_f64());
    let ticker = Ticker::calibrate(Duration::from_millis(20));
    let traces: Vec<Trace> = trace_paths().iter().filter_map(|p| prepare(p, &rules, &ticker)).collect();
    for t in &traces {
        eprintln!(
            "rules bench: {}: {} events, {} alerts; the replay's {} objects, {} alerts",
            t.name,
            t.events,
            t.alerts,
            t.replay_objects.len(),
            t.alerts_replay
        );
    }

    let samples = RefCell::new(Samples::new());
    for t in &traces {
        bench(&mut criterion, t, &rules, &samples);
    }
    criterion.final_summary();
    drop(criterion);
    if measuring {
        summary(&traces, &samples.borrow(), &rules_line, &load_before);
    }
}
