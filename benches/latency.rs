//! Per-call latency of each push variant (timed one call at a time with the TSC), the
//! heap allocations each makes per call, and an SVG plot of the distributions.
//!
//! Writes `target/bench/latency.json` and `target/bench/latency.svg`. Run by
//! `tools/bench.sh` (or `cargo bench --bench latency`). Every call is timed by two
//! `rdtsc` reads; the `timer` row is those two reads alone, the floor under every row.

mod common;

use common::{CHUNK, Floor, Variant, ticker::Ticker};
use hdrhistogram::Histogram;
use notifyring::event::Event;
use plotters::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

/// The calls of each chunk counted apart: the first after the untimed drain.
const FIRST: usize = 1;

/// Minor page faults of this thread so far (0 where unknown).
#[cfg(target_os = "linux")]
fn minor_faults() -> u64 {
    // SAFETY: `rusage` is plain integers; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`; RUSAGE_THREAD is this thread.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &raw mut usage) } == 0;
    if ok { u64::try_from(usage.ru_minflt).unwrap_or(0) } else { 0 }
}

#[cfg(not(target_os = "linux"))]
const fn minor_faults() -> u64 {
    0
}

/// Chunks timed per variant.
const CHUNKS: usize = 48;
/// Untimed chunks first: enough to pass through every page of the 8 MiB ring and floor
/// buffer once, so first-touch page faults are not counted as push latency.
const WARM_UP_CHUNKS: usize = 8;

/// One producer's measurements.
struct Measured {
    latency: Histogram<u64>,
    /// The same calls without the first [`FIRST`] of each chunk (the calls right after the
    /// untimed drain).
    rest: Histogram<u64>,
    /// The first [`FIRST`] calls of each chunk.
    first: Histogram<u64>,
    /// Minor page faults while timed (this thread).
    faults: u64,
    /// Two-producer runs: chunks whose halves ran at the same time, of all chunks.
    concurrent_chunks: (u64, u64),
    /// Per-call ticks of the chunk being timed (allocated once, outside the timing).
    scratch: Vec<u64>,
    allocations: u64,
    calls: u64,
}

impl Measured {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds"),
            rest: Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds"),
            first: Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds"),
            faults: 0,
            scratch: vec![0; CHUNK],
            concurrent_chunks: (0, 0),
            allocations: 0,
            calls: 0,
        }
    }

    fn merge(&mut self, other: &Self) {
        self.latency.add(&other.latency).expect("same bounds");
        self.rest.add(&other.rest).expect("same bounds");
        self.first.add(&other.first).expect("same bounds");
        self.faults += other.faults;
        self.allocations += other.allocations;
        self.concurrent_chunks.0 += other.concurrent_chunks.0;
        self.concurrent_chunks.1 += other.concurrent_chunks.1;
        self.calls += other.calls;
    }
}

/// Times `n` calls of `push` one by one into `m`.
#[inline]
fn timed(
    n: usize,
    payload: &[Event<'static>; 4],
    ticker: &Ticker,
    m: &mut Measured,
    mut push: impl FnMut(u64, &Event<'static>),
) {
    let mut elapsed = std::mem::take(&mut m.scratch);
    let before = common::allocations();
    let faults = minor_faults();
    for (i, slot) in elapsed.iter_mut().enumerate().take(n) {
        let t0 = ticker.now();
        push(t0, &payload[i & 3]);
        *slot = ticker.now().wrapping_sub(t0);
    }
    m.allocations += common::allocations() - before;
    m.faults += minor_faults().saturating_sub(faults);
    m.calls += n as u64;
    for (i, &e) in elapsed.iter().take(n).enumerate() {
        m.latency.saturating_record(e.max(1));
        if i < FIRST {
            m.first.saturating_record(e.max(1));
        } else {
            m.rest.saturating_record(e.max(1));
        }
    }
    m.scratch = elapsed;
}

fn one_producer<V: Variant>(v: &V, payload: &[Event<'static>; 4], ticker: &Ticker) -> Measured {
    let mut m = Measured::new();
    let mut warm = Measured::new();
    for _ in 0..WARM_UP_CHUNKS {
        timed(CHUNK, payload, ticker, &mut warm, |t, e| assert!(v.push(t, 0, e)));
        v.drain();
    }
    for _ in 0..CHUNKS {
        timed(CHUNK, payload, ticker, &mut m, |t, e| assert!(v.push(t, 0, e)));
        v.drain();
    }
    m
}

/// Two producers, each timing its half of every chunk. Only chunks whose halves ran at
/// the same time (overlapping by 80% of the longer) make the distribution, as in
/// `benches/pipeline.rs`: on a loaded VM the threads are otherwise often time-sliced on
/// one CPU and do not contend at all. If no chunk ran concurrently, all of them count.
fn two_producers<V: Variant>(v: &V, payload: &[Event<'static>; 4], ticker: &Ticker) -> Measured {
    let epoch = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    // The main thread's verdict on chunk e: 2e + 1 if it ran concurrently, 2e if not.
    let verdict = AtomicU64::new(0);
    let span = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let half = CHUNK / 2;
    let wait = |a: &AtomicU64, at_least: u64| {
        while a.load(Ordering::Acquire) < at_least {
            std::hint::spin_loop();
        }
    };
    let warm = WARM_UP_CHUNKS as u64;
    std::thread::scope(|s| {
        let helper = s.spawn(|| {
            let (mut all, mut concurrent) = (Measured::new(), Measured::new());
            let mut seen = 0;
            loop {
                let e = epoch.load(Ordering::Acquire);
                if e == seen {
                    if stop.load(Ordering::Acquire) {
                        return (all, concurrent);
                    }
                    std::hint::spin_loop();
                    continue;
                }
                seen = e;
                let mut this = Measured::new();
                let begin = ticker.now();
                timed(half, payload, ticker, &mut this, |t, ev| assert!(v.push(t, 1, ev)));
                span.0.store(begin, Ordering::Relaxed);
                span.1.store(ticker.now(), Ordering::Relaxed);
                done.store(e, Ordering::Release);
                wait(&verdict, 2 * e);
                if e > warm {
                    all.merge(&this);
                    if verdict.load(Ordering::Acquire) & 1 == 1 {
                        concurrent.merge(&this);
                    }
                }
            }
        });
        let (mut all, mut concurrent) = (Measured::new(), Measured::new());
        let mut chunks = (0, 0);
        for e in 1..=warm + CHUNKS as u64 {
            let mut this = Measured::new();
            let begin = ticker.now();
            epoch.store(e, Ordering::Release);
            timed(half, payload, ticker, &mut this, |t, ev| assert!(v.push(t, 0, ev)));
            let end = ticker.now();
            wait(&done, e);
            let (h_begin, h_end) = (span.0.load(Ordering::Relaxed), span.1.load(Ordering::Relaxed));
            let overlap = end.min(h_end).saturating_sub(begin.max(h_begin));
            let longer = end.saturating_sub(begin).max(h_end.saturating_sub(h_begin));
            let ran_together = overlap.saturating_mul(5) >= longer.saturating_mul(4);
            verdict.store(2 * e + u64::from(ran_together), Ordering::Release);
            if e > warm {
                chunks.1 += 1;
                all.merge(&this);
                if ran_together {
                    chunks.0 += 1;
                    concurrent.merge(&this);
                }
            }
            v.drain();
        }
        stop.store(true, Ordering::Release);
        let (helper_all, helper_concurrent) = helper.join().expect("helper thread");
        all.merge(&helper_all);
        concurrent.merge(&helper_concurrent);
        let mut m = if chunks.0 > 0 { concurrent } else { all };
        m.concurrent_chunks = chunks;
        m
    })
}

fn floor(payload: &[Event<'static>; 4], ticker: &Ticker) -> Measured {
    let mut f = Floor::new(8 << 20);
    let mut m = Measured::new();
    let mut warm = Measured::new();
    for _ in 0..WARM_UP_CHUNKS {
        timed(CHUNK, payload, ticker, &mut warm, |t, e| f.push(t, 0, e));
    }
    for _ in 0..CHUNKS {
        timed(CHUNK, payload, ticker, &mut m, |t, e| f.push(t, 0, e));
    }
    m
}

fn timer_only(payload: &[Event<'static>; 4], ticker: &Ticker) -> Measured {
    let mut m = Measured::new();
    for _ in 0..CHUNKS {
        timed(CHUNK, payload, ticker, &mut m, |t, e| {
            std::hint::black_box((t, e));
        });
    }
    m
}

#[derive(Serialize)]
struct Row {
    calls: u64,
    /// Two-producer rows: chunks that ran concurrently and counted / chunks run.
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrent_chunks: Option<String>,
    allocations_per_call: f64,
    mean_ns: f64,
    p50_ns: u64,
    p90_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    p9999_ns: u64,
    max_ns: u64,
    /// p99.99 without the first call of each chunk (the one right after the drain).
    p9999_ns_without_first_call: u64,
    /// The first call of each chunk: median and p90.
    first_call_p50_ns: u64,
    first_call_p90_ns: u64,
    /// Minor page faults taken while timed.
    minor_faults: u64,
}

#[derive(Serialize)]
struct Report {
    timer: String,
    payload: &'static str,
    calls_per_variant: usize,
    variants: BTreeMap<&'static str, Row>,
}

#[expect(clippy::cast_precision_loss, reason = "ratios for a report")]
fn row(m: &Measured, ticker: &Ticker) -> Row {
    let ns = |q: f64| ticker.nanos(m.latency.value_at_quantile(q));
    Row {
        calls: m.calls,
        concurrent_chunks: (m.concurrent_chunks.1 > 0)
            .then(|| format!("{}/{}", m.concurrent_chunks.0, m.concurrent_chunks.1)),
        allocations_per_call: m.allocations as f64 / m.calls.max(1) as f64,
        mean_ns: m.latency.mean() * 1e9 / ticker.frequency() as f64,
        p50_ns: ns(0.5),
        p90_ns: ns(0.9),
        p99_ns: ns(0.99),
        p999_ns: ns(0.999),
        p9999_ns: ns(0.9999),
        max_ns: ticker.nanos(m.latency.max()),
        p9999_ns_without_first_call: ticker.nanos(m.rest.value_at_quantile(0.9999)),
        first_call_p50_ns: ticker.nanos(m.first.value_at_quantile(0.5)),
        first_call_p90_ns: ticker.nanos(m.first.value_at_quantile(0.9)),
        minor_faults: m.faults,
    }
}

/// Percentile "nines": x = -log10(1 - q), so 1 is p90, 2 is p99, 3 is p99.9.
fn quantile_at(nines: f64) -> f64 {
    1.0 - 10f64.powf(-nines)
}

fn plot(path: &Path, series: &[(String, &Measured)], ticker: &Ticker) -> Result<(), Box<dyn std::error::Error>> {
    const MAX_NINES: f64 = 4.0;
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, m)| {
            let pts = (0..=80)
                .map(|i| {
                    let x = f64::from(i) * MAX_NINES / 80.0;
                    let ns = ticker.nanos(m.latency.value_at_quantile(quantile_at(x))).max(1);
                    #[expect(clippy::cast_precision_loss, reason = "plot coordinates")]
                    (x, ns as f64)
                })
                .collect();
            (name.as_str(), pts)
        })
        .collect();
    let top = points.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y)).fold(10.0, f64::max) * 1.5;
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("record-call latency by percentile (2-vCPU VM, same payload mix)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..MAX_NINES, (5.0..top).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| {
            ["p0", "p90", "p99", "p99.9", "p99.99"]
                .iter()
                .zip(0..)
                .find(|(_, at)| (x - f64::from(*at)).abs() < 0.01)
                .map_or_else(String::new, |(label, _)| (*label).to_owned())
        })
        .y_desc("ns per call (log)")
        .x_desc("percentile")
        .draw()?;
    let colors =
        [BLACK, RGBColor(120, 120, 120), BLUE, RED, GREEN, MAGENTA, CYAN, RGBColor(200, 120, 0), RGBColor(0, 100, 0)];
    for (i, (name, pts)) in points.into_iter().enumerate() {
        let color = colors[i % colors.len()];
        let style = if name.contains("_2p") { color.stroke_width(2) } else { color.stroke_width(3) };
        chart
            .draw_series(LineSeries::new(pts, style))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let ticker = Ticker::calibrate(Duration::from_millis(50));
    let payload = common::mix();
    let record = common::record();
    let aq = common::array_queue();
    let mutex = common::mutex_alloc();
    let measured: Vec<(&'static str, Measured)> = vec![
        ("timer", timer_only(&payload, &ticker)),
        ("floor_1p", floor(&payload, &ticker)),
        ("record_1p", one_producer(&record, &payload, &ticker)),
        ("arrayqueue_1p", one_producer(&aq, &payload, &ticker)),
        ("mutex_alloc_1p", one_producer(&mutex, &payload, &ticker)),
        ("record_2p", two_producers(&record, &payload, &ticker)),
        ("arrayqueue_2p", two_producers(&aq, &payload, &ticker)),
        ("mutex_alloc_2p", two_producers(&mutex, &payload, &ticker)),
    ];
    let report = Report {
        timer: ticker.describe(),
        payload: "mix: 1 process create (60-unit image, 200-unit command line) per 3 ids-only thread events",
        calls_per_variant: CHUNKS * CHUNK,
        variants: measured.iter().map(|(name, m)| (*name, row(m, &ticker))).collect(),
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let json = serde_json::to_string_pretty(&report).expect("serialise");
    std::fs::write(dir.join("latency.json"), json + "\n").expect("write latency.json");
    println!(
        "{:<16}{:>6}{:>6}{:>6}{:>7}{:>8}{:>8}{:>12}{:>10}{:>8}{:>12}",
        "variant", "p50", "p90", "p99", "p99.9", "p99.99", "max", "p99.99-1st", "1st p50", "faults", "allocs/call"
    );
    for (name, r) in &report.variants {
        println!(
            "{name:<16}{:>6}{:>6}{:>6}{:>7}{:>8}{:>8}{:>12}{:>10}{:>8}{:>12.3}",
            r.p50_ns,
            r.p90_ns,
            r.p99_ns,
            r.p999_ns,
            r.p9999_ns,
            r.max_ns,
            r.p9999_ns_without_first_call,
            r.first_call_p50_ns,
            r.minor_faults,
            r.allocations_per_call
        );
    }
    let series: Vec<(String, &Measured)> = measured
        .iter()
        .map(|(n, m)| {
            let (together, chunks) = m.concurrent_chunks;
            let label = if chunks == 0 {
                (*n).to_owned()
            } else if together == 0 {
                format!("{n} (threads never ran together)")
            } else {
                format!("{n} ({together}/{chunks} chunks ran together)")
            };
            (label, m)
        })
        .collect();
    let svg = dir.join("latency.svg");
    plot(&svg, &series, &ticker).expect("render the plot");
    println!("wrote {} and {}", dir.join("latency.json").display(), svg.display());
    let record_allocs = report.variants.get("record_1p").map_or(1.0, |r| r.allocations_per_call)
        + report.variants.get("record_2p").map_or(1.0, |r| r.allocations_per_call);
    assert!(record_allocs == 0.0, "the record path allocated: {record_allocs} per call");
}
