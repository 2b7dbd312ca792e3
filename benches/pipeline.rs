//! Criterion benchmarks of the callback path against its peers and the hardware floor,
//! and of the worker (drain + format). `tools/bench.sh` runs them and summarises.
//!
//! Push benchmarks time chunks of [`common::CHUNK`] events with the consumer idle and
//! drain between chunks (untimed), so every variant does producer-side work only and no
//! queue ever fills. Two-producer runs split each chunk between this thread and a
//! helper that spins on an epoch counter, and time the chunk until both are done:
//! criterion's "time per iteration" is then the aggregate time per event, and
//! 1000 / that is Mops/s.
//!
//! Each sample reports its *median chunk* (per event, times the sample's events), not
//! the sum of its chunks: on a shared 2-vCPU VM a chunk in which another process
//! descheduled one of the threads would otherwise dominate a two-thread sample. Figures
//! for two threads still vary from run to run; compare variants within one run.

mod common;

use common::{CHUNK, Floor, Variant, ticker::Ticker};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use notifyring::event::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn ticker() -> Ticker {
    Ticker::calibrate(Duration::from_millis(20))
}

/// Pushes `n` events of `payload` (cycled) through `push`; returns the time taken.
#[inline]
fn chunk(
    n: usize,
    payload: &[Event<'static>; 4],
    ticker: &Ticker,
    mut push: impl FnMut(u64, &Event<'static>),
) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        push(ticker.now(), &payload[i & 3]);
    }
    start.elapsed()
}

/// Per-chunk timings of one sample, reduced to the sample's time: the median chunk's
/// time per event, times the sample's events.
#[derive(Default)]
struct Chunks(Vec<f64>);

impl Chunks {
    fn add(&mut self, elapsed: Duration, events: usize) {
        #[expect(clippy::cast_precision_loss, reason = "at most CHUNK events")]
        self.0.push(elapsed.as_secs_f64() / events.max(1) as f64);
    }

    fn typical(mut self, iters: u64) -> Duration {
        self.0.sort_by(f64::total_cmp);
        let per_event = self.0.get(self.0.len() / 2).copied().unwrap_or(0.0);
        #[expect(clippy::cast_precision_loss, reason = "a sample's event count")]
        Duration::try_from_secs_f64(per_event * iters as f64).unwrap_or(Duration::MAX)
    }
}

fn floor_1p(iters: u64, payload: &[Event<'static>; 4], ticker: &Ticker, floor: &mut Floor) -> Duration {
    let mut chunks = Chunks::default();
    let mut left = iters;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        chunks.add(chunk(n, payload, ticker, |t, e| floor.push(t, 0, e)), n);
        left -= n as u64;
    }
    chunks.typical(iters)
}

fn variant_1p<V: Variant>(iters: u64, payload: &[Event<'static>; 4], ticker: &Ticker, v: &V) -> Duration {
    let mut chunks = Chunks::default();
    let mut left = iters;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        chunks.add(chunk(n, payload, ticker, |t, e| assert!(v.push(t, 0, e), "{} refused an event", V::NAME)), n);
        v.drain();
        left -= n as u64;
    }
    chunks.typical(iters)
}

/// Two producers contending: each chunk is split between this thread and a helper.
///
/// Only chunks whose two halves actually ran at the same time count (their run times
/// overlap by at least [`CONCURRENT`] of the longer one): on a loaded 2-vCPU VM the two
/// threads are otherwise often time-sliced on one CPU, which measures the scheduler,
/// not contention. If a sample has no such chunk, all of its chunks count.
fn variant_2p<V: Variant>(iters: u64, payload: &[Event<'static>; 4], ticker: &Ticker, v: &V) -> Duration {
    let epoch = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let share = AtomicU64::new(0);
    let helper_span = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut seen = 0;
            loop {
                let e = epoch.load(Ordering::Acquire);
                if e == seen {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    std::hint::spin_loop();
                    continue;
                }
                seen = e;
                let n = usize::try_from(share.load(Ordering::Relaxed)).unwrap_or(0);
                let begin = ticker.now();
                chunk(n, payload, ticker, |t, ev| assert!(v.push(t, 1, ev), "{} refused an event", V::NAME));
                helper_span.0.store(begin, Ordering::Relaxed);
                helper_span.1.store(ticker.now(), Ordering::Relaxed);
                // Release: publishes the span above to the Acquire below.
                done.store(e, Ordering::Release);
            }
        });
        let (mut concurrent, mut all) = (Chunks::default(), Chunks::default());
        let mut left = iters;
        let mut e = 0;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            let mine = n / 2;
            share.store((n - mine) as u64, Ordering::Relaxed);
            e += 1;
            let begin = ticker.now();
            epoch.store(e, Ordering::Release);
            chunk(mine, payload, ticker, |t, ev| assert!(v.push(t, 0, ev), "{} refused an event", V::NAME));
            let end = ticker.now();
            while done.load(Ordering::Acquire) != e {
                std::hint::spin_loop();
            }
            let (h_begin, h_end) = (helper_span.0.load(Ordering::Relaxed), helper_span.1.load(Ordering::Relaxed));
            let wall = Duration::from_nanos(ticker.nanos(end.max(h_end).saturating_sub(begin.min(h_begin))));
            let overlap = end.min(h_end).saturating_sub(begin.max(h_begin));
            let longer = end.saturating_sub(begin).max(h_end.saturating_sub(h_begin));
            #[expect(clippy::cast_precision_loss, reason = "a ratio of tick counts")]
            if overlap as f64 >= CONCURRENT * longer as f64 {
                concurrent.add(wall, n);
            }
            all.add(wall, n);
            v.drain();
            left -= n as u64;
        }
        stop.store(true, Ordering::Release);
        if concurrent.0.is_empty() { all.typical(iters) } else { concurrent.typical(iters) }
    })
}

/// The overlap of the two halves of a chunk for it to count as contended.
const CONCURRENT: f64 = 0.8;

fn push(c: &mut Criterion) {
    let ticker = ticker();
    let mut group = c.benchmark_group("push");
    group.throughput(Throughput::Elements(1));
    for (name, payload) in common::payloads() {
        let mut floor = Floor::new(8 << 20);
        group.bench_function(BenchmarkId::new("floor_1p", name), |b| {
            b.iter_custom(|iters| floor_1p(iters, &payload, &ticker, &mut floor));
        });
        let record = common::record();
        group.bench_function(BenchmarkId::new("record_1p", name), |b| {
            b.iter_custom(|iters| variant_1p(iters, &payload, &ticker, &record));
        });
        // The process callback's extra: a reference taken between copy and commit.
        let holding = common::Holding::new();
        group.bench_function(BenchmarkId::new("record_holding_1p", name), |b| {
            b.iter_custom(|iters| variant_1p(iters, &payload, &ticker, &holding));
        });
        let aq = common::array_queue();
        group.bench_function(BenchmarkId::new("arrayqueue_1p", name), |b| {
            b.iter_custom(|iters| variant_1p(iters, &payload, &ticker, &aq));
        });
        let mutex = common::mutex_alloc();
        group.bench_function(BenchmarkId::new("mutex_alloc_1p", name), |b| {
            b.iter_custom(|iters| variant_1p(iters, &payload, &ticker, &mutex));
        });
        if name == "mix" {
            let floors = common::FloorPair::new(8 << 20);
            group.bench_function(BenchmarkId::new("floor_2p", name), |b| {
                b.iter_custom(|iters| variant_2p(iters, &payload, &ticker, &floors));
            });
            group.bench_function(BenchmarkId::new("record_2p", name), |b| {
                b.iter_custom(|iters| variant_2p(iters, &payload, &ticker, &record));
            });
            group.bench_function(BenchmarkId::new("arrayqueue_2p", name), |b| {
                b.iter_custom(|iters| variant_2p(iters, &payload, &ticker, &aq));
            });
            group.bench_function(BenchmarkId::new("mutex_alloc_2p", name), |b| {
                b.iter_custom(|iters| variant_2p(iters, &payload, &ticker, &mutex));
            });
        }
    }
    group.finish();
}

/// The worker: drain + decode + name + format (into a sink that discards), per event.
fn worker(c: &mut Criterion) {
    let ticker = ticker();
    let mut group = c.benchmark_group("worker");
    group.throughput(Throughput::Elements(1));
    for (name, payload) in common::payloads() {
        // The real output, command lines included.
        let record = common::Record::new(16 << 20, false);
        group.bench_function(BenchmarkId::new("drain_format", name), |b| {
            b.iter_custom(|iters| {
                let mut chunks = Chunks::default();
                let mut left = iters;
                while left > 0 {
                    let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                    chunk(n, &payload, &ticker, |t, e| assert!(record.push(t, 0, e), "the ring overflowed"));
                    let start = Instant::now();
                    record.run_worker();
                    chunks.add(start.elapsed(), n);
                    left -= n as u64;
                }
                chunks.typical(iters)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, push, worker);
criterion_main!(benches);
