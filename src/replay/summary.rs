//! What a replay tells a person (stderr) and a script (`--summary-json`): the same
//! numbers, from one [`Summary`].

use super::engine::Report;
use crate::event::Kind;
use crate::user::rules::Level;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::borrow::ToOwned;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::format;
use std::string::String;
use std::time::Duration;
use std::vec::Vec;

/// Callback latency, per `record` call, in nanoseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Calls measured.
    pub calls: u64,
    /// The clock that timed them.
    pub timer: String,
}

impl Latency {
    fn new(report: &Report, h: &Histogram<u64>) -> Self {
        Self {
            p50: report.quantile_ns(h, 0.5),
            p90: report.quantile_ns(h, 0.9),
            p99: report.quantile_ns(h, 0.99),
            p999: report.quantile_ns(h, 0.999),
            max: report.ticker.nanos(h.max()),
            calls: h.len(),
            timer: report.ticker.describe(),
        }
    }
}

/// The work item's record, from the simulated work queue.
#[derive(Clone, Debug, Serialize)]
pub struct WorkItem {
    /// Successful queue calls.
    pub queues: u64,
    /// Of those, made by a record call that found the worker idle (the rest are the
    /// worker re-queueing itself after a full batch).
    pub queued_by_record: u64,
    /// Queue calls while already queued (bug check 0xE4 on Windows): must be 0.
    pub double_queues: u64,
    /// Queue calls after unload: must be 0.
    pub queues_after_unload: u64,
}

/// One run, summarised. Serialised as the `--summary-json` document.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// What was replayed.
    pub input: Vec<String>,
    /// Events recorded.
    pub events: u64,
    /// Events recorded, by kind (`process_create`, …).
    pub events_by_kind: BTreeMap<String, u64>,
    /// Events delivered (formatted and printed).
    pub delivered: u64,
    /// Delivered, by kind.
    pub delivered_by_kind: BTreeMap<String, u64>,
    /// Events lost.
    pub lost: u64,
    /// Lost, by kind.
    pub lost_by_kind: BTreeMap<String, u64>,
    /// Of those, lost to reservation contention rather than a full ring.
    pub lost_contended: u64,
    /// Losses the worker reported in LOST lines.
    pub lost_reported: u64,
    /// Strings cut by a cap.
    pub truncated: u64,
    /// Work item runs.
    pub worker_runs: u64,
    /// Most records drained in one run.
    pub largest_batch: u64,
    /// Ring high-water mark in bytes.
    pub ring_high_water: u64,
    /// Ring capacity in bytes.
    pub ring_bytes: u64,
    /// Times the worker stopped at a record still being copied.
    pub busy_stops: u64,
    /// Idle sweeps that ran (the worker went idle with a record in flight).
    pub sweeps: u64,
    /// Sweeps that found a record ready with the worker idle and woke it.
    pub sweep_wakes: u64,
    /// The longest work item run, in µs (measured by the pipeline with the stamping
    /// clock, as the driver measures it).
    pub worker_longest_run_us: u64,
    /// The worker's time budget per run, in ms.
    pub run_budget_ms: u32,
    /// What each printed line cost the worker (`--print-delay-us`).
    pub print_delay_us: u64,
    /// Debugger lines printed (including continuations, LOST and stats lines).
    pub lines: u64,
    /// Process names the worker could not find.
    pub lookup_failures: u64,
    /// Callback latency, every call.
    pub callback_ns: Latency,
    /// Callback latency of the calls that queued the work item (a subset of the above).
    pub callback_ns_queueing: Latency,
    /// Events per second from the first record until everything was delivered.
    pub events_per_s: f64,
    /// Events per second while the producers were recording.
    pub record_events_per_s: f64,
    /// Seconds from the first record until everything was delivered.
    pub elapsed_s: f64,
    /// Input lines skipped as malformed.
    pub malformed_lines: u64,
    /// Producer threads.
    pub producers: usize,
    /// Pacing factor; null: as fast as possible.
    pub speed: Option<f64>,
    /// Image path cap in force, in UTF-16 units.
    pub image_cap: u32,
    /// Command line cap in force, in UTF-16 units.
    pub cmdline_cap: u32,
    /// Worker stall before each run, in ms.
    pub stall_worker_ms: u64,
    /// What the work queue saw.
    pub work_item: WorkItem,
    /// Process objects: created (one per process create), referenced by a record,
    /// still alive at the end (must be 0).
    pub process_objects: ProcessObjects,
    /// Token queries that failed (the worker's counter; a replay's never fail).
    pub token_failures: u64,
    /// Token facts (user, integrity, logon id) of delivered process creates that the
    /// recording lacks: served as absent, not counted as failures.
    pub token_facts_not_recorded: u64,
    /// With `--rules`: what loaded and what fired.
    pub rules: Option<RulesSummary>,
    /// The same, for people.
    #[serde(skip)]
    rules_line: Option<String>,
    /// Broken invariants (conservation, double queues, …); empty when all held.
    pub violations: Vec<String>,
}

/// What the rules did (`--rules`).
#[derive(Clone, Debug, Serialize)]
pub struct RulesSummary {
    /// Rules loaded and evaluated.
    pub loaded: usize,
    /// Rules for other log sources (and correlations, filters), not evaluated.
    pub skipped: usize,
    /// Files and rules that failed to load.
    pub failed: usize,
    /// Alerts made, by level (`high`, …; levels with none included).
    pub alerts: BTreeMap<String, u64>,
}

/// The simulated kernel's process objects (see [`crate::sim::objects`]).
#[derive(Clone, Debug, Serialize)]
pub struct ProcessObjects {
    /// Created, one per process create.
    pub created: u64,
    /// Referenced by a record (the creates that got a place in the ring).
    pub held_by_records: u64,
    /// Still alive after unload (a leak; must be 0).
    pub live: u64,
}

fn by_kind(counts: &[u64; 5]) -> BTreeMap<String, u64> {
    Kind::ALL.iter().map(|k| (k.name().replace('-', "_"), counts[k.index()])).collect()
}

#[expect(clippy::cast_precision_loss, reason = "a rate for people; 2^53 events is far away")]
fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

impl Summary {
    /// Summarises `report`; `input` and `malformed_lines` come from the workload.
    #[must_use]
    pub fn new(report: &Report, input: Vec<String>, malformed_lines: u64, speed: Option<f64>, stall: Duration) -> Self {
        let s = &report.stats;
        let rules = report.json.as_ref().and_then(|j| Some((j.rules.as_ref()?, j.alerts?)));
        Self {
            input,
            events: report.events,
            events_by_kind: by_kind(&report.events_by_kind),
            delivered: s.delivered_total(),
            delivered_by_kind: by_kind(&s.delivered),
            lost: s.lost_total(),
            lost_by_kind: by_kind(&s.lost),
            lost_contended: s.lost_contended,
            lost_reported: s.lost_reported,
            truncated: s.truncated_strings,
            worker_runs: s.worker_runs,
            largest_batch: s.largest_batch,
            ring_high_water: s.high_water,
            ring_bytes: report.ring_bytes,
            busy_stops: s.busy_stops,
            sweeps: s.sweeps,
            sweep_wakes: s.sweep_wakes,
            worker_longest_run_us: report.ticker.nanos(s.longest_run_ticks) / 1000,
            run_budget_ms: report.run_budget_ms,
            print_delay_us: u64::try_from(report.print_delay.as_micros()).unwrap_or(u64::MAX),
            lines: report.printed.lines,
            lookup_failures: s.lookup_failures,
            callback_ns: Latency::new(report, &report.latency_ticks),
            callback_ns_queueing: Latency::new(report, &report.latency_queued_ticks),
            events_per_s: per_second(report.events, report.total_elapsed),
            record_events_per_s: per_second(report.events, report.record_elapsed),
            elapsed_s: report.total_elapsed.as_secs_f64(),
            malformed_lines,
            producers: report.producers,
            speed,
            image_cap: report.caps.image,
            cmdline_cap: report.caps.command_line,
            stall_worker_ms: u64::try_from(stall.as_millis()).unwrap_or(u64::MAX),
            work_item: WorkItem {
                queues: report.queue.queues,
                queued_by_record: report.queued_returned,
                double_queues: report.queue.double_queues,
                queues_after_unload: report.queue.queues_after_unload,
            },
            process_objects: ProcessObjects {
                created: report.objects.created,
                held_by_records: report.objects.referenced,
                live: report.objects.live(),
            },
            token_failures: s.token_failures,
            token_facts_not_recorded: report.token_facts_not_recorded,
            rules: rules.map(|(l, a)| RulesSummary {
                loaded: l.rules,
                skipped: l.skipped,
                failed: l.failures.len(),
                alerts: Level::ALL.iter().map(|level| (level.name().to_owned(), a.0[level.index()])).collect(),
            }),
            rules_line: rules.map(|(l, a)| format!("{}; {}", l.counts(), a.line())),
            violations: report.violations(),
        }
    }

    /// The worker's longest run against its budget.
    fn longest_run_line(&self) -> String {
        format!(
            "  longest worker run {} (budget {} ms per run; each line cost {} µs)\n",
            nanos(self.worker_longest_run_us.saturating_mul(1000)),
            self.run_budget_ms,
            self.print_delay_us
        )
    }

    /// The summary for people, as printed on stderr.
    #[must_use]
    pub fn human(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "notifyring replay: {}", self.input.join(", "));
        let pace = self.speed.map_or_else(|| "as fast as possible".to_owned(), |x| format!("{x}x recorded pace"));
        let _ = writeln!(
            o,
            "  {} producer{}, {pace}; one ring per producer, {} B each; caps: image {} / cmdline {} UTF-16 units; \
             worker stall {} ms",
            self.producers,
            if self.producers == 1 { "" } else { "s" },
            self.ring_bytes,
            self.image_cap,
            self.cmdline_cap,
            self.stall_worker_ms
        );
        let _ = writeln!(o, "  {:<16}{:>12}{:>12}{:>10}", "kind", "events", "delivered", "lost");
        for kind in Kind::ALL {
            let key = kind.name().replace('-', "_");
            let get = |m: &BTreeMap<String, u64>| m.get(&key).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "  {:<16}{:>12}{:>12}{:>10}",
                kind.name(),
                get(&self.events_by_kind),
                get(&self.delivered_by_kind),
                get(&self.lost_by_kind)
            );
        }
        let _ = writeln!(o, "  {:<16}{:>12}{:>12}{:>10}", "total", self.events, self.delivered, self.lost);
        let _ = writeln!(
            o,
            "  lost: {} to a full ring, {} to contention, {} reported in LOST lines; truncated strings: {}",
            self.lost - self.lost_contended.min(self.lost),
            self.lost_contended,
            self.lost_reported,
            self.truncated
        );
        let _ = writeln!(
            o,
            "  worker: {} runs, largest batch {}, ring high-water {} of {} B ({:.1}%), busy stops {}, idle sweeps {} \
             (woke the worker {})",
            self.worker_runs,
            self.largest_batch,
            self.ring_high_water,
            self.ring_bytes,
            percent(self.ring_high_water, self.ring_bytes),
            self.busy_stops,
            self.sweeps,
            self.sweep_wakes
        );
        o.push_str(&self.longest_run_line());
        let l = &self.callback_ns;
        let _ = writeln!(
            o,
            "  callback latency ({} record calls, {}): p50 {}, p99 {}, p99.9 {}, max {}",
            l.calls,
            l.timer,
            nanos(l.p50),
            nanos(l.p99),
            nanos(l.p999),
            nanos(l.max)
        );
        let q = &self.callback_ns_queueing;
        if q.calls > 0 {
            let _ = writeln!(
                o,
                "    of which {} call{} queued the work item (the simulated IoQueueWorkItem wakes a thread): p50 {}, \
                 p99 {}, max {}",
                q.calls,
                if q.calls == 1 { "" } else { "s" },
                nanos(q.p50),
                nanos(q.p99),
                nanos(q.max)
            );
        }
        let _ = writeln!(
            o,
            "  throughput: {} events/s end to end ({:.3} s until all delivered), {} events/s while recording; {} lines",
            si(self.events_per_s),
            self.elapsed_s,
            si(self.record_events_per_s),
            self.lines
        );
        if self.lost > 0 && self.speed.is_none() && self.stall_worker_ms == 0 {
            let _ = writeln!(
                o,
                "  (as fast as possible, the producers outrun the worker and fill the ring; --speed 1 replays at the \
                 recorded pace)"
            );
        }
        self.checks(&mut o);
        o
    }

    /// The summary's last lines: process objects, malformed input, the checks.
    fn checks(&self, o: &mut String) {
        let p = &self.process_objects;
        let _ = writeln!(
            o,
            "  process objects: {} created, {} held by their records and released by the worker, {} alive after \
             unload; token queries failed: {}; token facts not in the recording: {}",
            p.created, p.held_by_records, p.live, self.token_failures, self.token_facts_not_recorded
        );
        let _ = writeln!(o, "  malformed input lines: {}", self.malformed_lines);
        if let Some(line) = &self.rules_line {
            let _ = writeln!(o, "  rules: {line}");
        }
        if self.violations.is_empty() {
            let _ = writeln!(
                o,
                "  checks: ok (events = delivered + lost: {} = {} + {}; every loss reported; {} queues, 0 double queues)",
                self.events, self.delivered, self.lost, self.work_item.queues
            );
        } else {
            for v in &self.violations {
                let _ = writeln!(o, "  CHECK FAILED: {v}");
            }
        }
    }
}

#[expect(clippy::cast_precision_loss, reason = "a percentage for people")]
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// `870 ns`, `12.3 µs`, `4.5 ms`, `1.20 s`.
#[must_use]
pub fn nanos(ns: u64) -> String {
    let secs = Duration::from_nanos(ns).as_secs_f64();
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", secs * 1e6),
        1_000_000..1_000_000_000 => format!("{:.1} ms", secs * 1e3),
        _ => format!("{secs:.2} s"),
    }
}

/// `850`, `12.3 k`, `2.45 M`.
fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}
