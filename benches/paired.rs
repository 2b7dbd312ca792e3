//! Paired, interleaved benchmark of the record path, its peers, its floors and the stages
//! after it (worker, reader channel, JSON): the figures `tools/bench.sh` summarises.
//!
//! Criterion runs each variant in its own block, seconds apart; on a shared VM the
//! machine's speed drifts between blocks, and a ratio of two blocks measures the drift
//! as much as the code. Here every round runs every task back to back on the same events
//! (the payloads of `benches/common`), in an order rotated round by round; each round
//! gives each task's time per event and each ratio of that round. The report is the
//! median of the per-round ratios over the rounds, with their p10–p90 spread.
//!
//! * One producer: `floor` (copies + `fetch_add` + `rdtsc`, through a buffer as large as
//!   a ring), `protocol_floor` (the same plus the protocol's memory operations),
//!   `record` (mix, and each kind against a floor of that kind), `record_holding`,
//!   `arrayqueue`, `mutex_alloc`. Each pushes one chunk of [`CHUNK`] events per round;
//!   queues are drained (untimed) before it.
//! * Two producers: this thread and a helper, pinned to CPUs 0 and 1 where the OS
//!   allows, start together on a spin barrier and push [`CHUNK`] events each; the time
//!   is the wall time from the first start to the last end over both producers' events.
//!   `floor_2p` (a private floor each), `record_2p` (a ring each), `arrayqueue_2p` and
//!   `mutex_alloc_2p` (shared).
//! * Stages, per event: the worker (drain + decode + name + format), the reader channel
//!   (`Channel::deliver`, `Channel::read`, `Batch::parse` and its entries), the JSON
//!   formatter from the wire (decode + `JsonFormatter::event`) and the same with file
//!   facts served from a cache.
//! * Allocations: a counting global allocator counts what the record tasks allocate
//!   while timed (must be 0).
//!
//! `PAIRED_PRODUCERS=n` adds a producer sweep: 1..=n producers, each on its own ring
//! (and, as the yardstick, each on a private floor), aggregate events per second.
//! `PAIRED_ROUNDS` sets the rounds (default 300). Writes `target/bench/paired.json`.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a report's arithmetic on counts far below 2^52"
)]

mod common;

use common::stages::{CHANNEL_BYTES, CLOCK, CachedFacts, STAGE_EVENTS, capture, deliver_and_read, json_of};
use common::{
    ArrayQueueOfSlots, CHUNK, Floor, FloorPair, Holding, MutexAlloc, ProtocolFloor, Record, RingOnly, Variant,
    ticker::Ticker,
};
use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;
use notifyring::event::Event;
use notifyring::reader::Channel;
use notifyring::sim::device::{SimLock, VecReads};
use notifyring::user::json::JsonFormatter;
use notifyring::user::paths::PathMap;
use serde_json::{Map, Value, json};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Allocations, counted per thread.

#[global_allocator]
static ALLOCATOR: common::Counting = common::Counting;

// ---------------------------------------------------------------------------------------
// Placement and timing.

/// The CPUs this process may run on, read once before any thread is pinned (a pinned
/// thread's `available_parallelism` is 1, and its children inherit the mask).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// Pins the calling thread to `cpu` (modulo the CPUs there are); false if the OS refused.
#[cfg(target_os = "linux")]
fn pin(cpu: usize) -> bool {
    let cpus = cpus();
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu % cpus` is below the set's capacity (1024 CPUs) on any machine this runs on.
    unsafe { libc::CPU_SET(cpu % cpus, &mut set) };
    // SAFETY: `set` is a valid, initialised set of the size passed; pid 0 is this thread.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) == 0 }
}

#[cfg(not(target_os = "linux"))]
const fn pin(_cpu: usize) -> bool {
    false
}

/// Pushes `n` events of `payload` (cycled) through `push`; returns the ticks taken.
#[inline]
fn chunk(n: usize, payload: &[Event<'static>; 4], ticker: &Ticker, mut push: impl FnMut(u64, &Event<'static>)) -> u64 {
    let start = ticker.now();
    for i in 0..n {
        push(ticker.now(), &payload[i & 3]);
    }
    ticker.now().wrapping_sub(start)
}

/// Nanoseconds per event for `ticks` over `events`.
fn per_event(ticker: &Ticker, ticks: u64, events: usize) -> f64 {
    ticks as f64 * 1e9 / ticker.frequency() as f64 / events.max(1) as f64
}

/// Waits (spinning, yielding now and then so an oversubscribed machine still gets there)
/// until `counter` reaches `n`.
fn spin_until(counter: &AtomicU32, n: u32) {
    let mut spins = 0u32;
    // Acquire: pairs with the Release increments of the other parties.
    while counter.load(Ordering::Acquire) < n {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(4096) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// What a record task allocated while timed, over how many events.
#[derive(Default)]
struct AllocCount {
    allocations: u64,
    events: u64,
}

/// Two producers, `n` events each, started on a spin barrier: the aggregate time per
/// event (ns), and whether the two ran at the same time (overlap >= 80% of the longer).
fn two_producers<V: Variant>(
    v: &V,
    payload: &[Event<'static>; 4],
    ticker: &Ticker,
    n: usize,
    allocs: Option<&mut AllocCount>,
) -> (f64, bool) {
    let ready = AtomicU32::new(0);
    let (mine, theirs) = std::thread::scope(|s| {
        let helper = s.spawn(|| {
            pin(1);
            // Release: pairs with the Acquire in `spin_until`.
            ready.fetch_add(1, Ordering::Release);
            spin_until(&ready, 2);
            let before = common::allocations();
            let begin = ticker.now();
            chunk(n, payload, ticker, |t, e| assert!(v.push(t, 1, e), "{} refused an event", V::NAME));
            (begin, ticker.now(), common::allocations() - before)
        });
        spin_until(&ready, 1);
        // Release: as above.
        ready.fetch_add(1, Ordering::Release);
        let before = common::allocations();
        let begin = ticker.now();
        chunk(n, payload, ticker, |t, e| assert!(v.push(t, 0, e), "{} refused an event", V::NAME));
        let mine = (begin, ticker.now(), common::allocations() - before);
        (mine, helper.join().expect("the helper producer"))
    });
    if let Some(a) = allocs {
        a.allocations += mine.2 + theirs.2;
        a.events += 2 * n as u64;
    }
    let wall = mine.1.max(theirs.1).saturating_sub(mine.0.min(theirs.0));
    let overlap = mine.1.min(theirs.1).saturating_sub(mine.0.max(theirs.0));
    let longer = mine.1.saturating_sub(mine.0).max(theirs.1.saturating_sub(theirs.0));
    (per_event(ticker, wall, 2 * n), overlap.saturating_mul(5) >= longer.saturating_mul(4))
}

// ---------------------------------------------------------------------------------------
// Rounds.

/// A task: runs once per round and returns its time per event (ns).
struct Task<'a> {
    name: String,
    run: Box<dyn FnMut() -> f64 + 'a>,
}

fn task<'a>(name: impl Into<String>, run: impl FnMut() -> f64 + 'a) -> Task<'a> {
    Task { name: name.into(), run: Box::new(run) }
}

/// Median, p10, p90, min and max of `v`.
fn quantiles(v: &[f64]) -> [f64; 5] {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s.get(((s.len().saturating_sub(1)) as f64 * q).round() as usize).copied().unwrap_or(f64::NAN);
    [at(0.5), at(0.1), at(0.9), at(0.0), at(1.0)]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The 1p and 2p push variants and the stages, interleaved for `rounds` rounds.
#[expect(clippy::too_many_lines, reason = "one list of every task, in one place")]
fn paired(rounds: usize, ticker: &Ticker) -> (Series, Map<String, Value>) {
    let mix = common::mix();
    let kinds = [
        ("process_create", [common::process_create(); 4]),
        ("thread_create", [common::thread_create(); 4]),
        ("image_load", [common::image_load(); 4]),
    ];
    let ring_bytes = 8 << 20;
    let wire = capture(&mix, ticker);
    let ring = RingOnly::new(ring_bytes as usize);
    let record = common::record();
    assert_eq!(record.pipeline.ring_bytes(), ring_bytes, "the floors' buffers are as large as a ring");
    let holding = Holding::new();
    let aq = ArrayQueueOfSlots(ArrayQueue::new(2 * CHUNK));
    let mutex = MutexAlloc::new(2 * CHUNK);
    let floors = FloorPair::new(ring_bytes as usize);
    let record_allocs = Cell::new(AllocCount::default());
    let concurrent: BTreeMap<&str, Cell<(u32, u32)>> = ["floor_2p", "record_2p", "arrayqueue_2p", "mutex_alloc_2p"]
        .into_iter()
        .map(|n| (n, Cell::new((0, 0))))
        .collect();
    let last_together = Cell::new(true);
    let note = |name: &str, together: bool| {
        last_together.set(together);
        if let Some(c) = concurrent.get(name) {
            let (t, a) = c.get();
            c.set((t + u32::from(together), a + 1));
        }
    };
    let counted = |n: usize, run: &mut dyn FnMut() -> u64| {
        let before = common::allocations();
        let ticks = run();
        let mut a = record_allocs.take();
        a.allocations += common::allocations() - before;
        a.events += n as u64;
        record_allocs.set(a);
        ticks
    };

    let mut tasks = Vec::new();
    let mut floor = Floor::new(ring_bytes as usize);
    tasks.push(task("floor", move || {
        floor.drain();
        per_event(ticker, chunk(CHUNK, &mix, ticker, |t, e| floor.push(t, 0, e)), CHUNK)
    }));
    let mut protocol = ProtocolFloor::new(ring_bytes as usize);
    tasks.push(task("protocol_floor", move || {
        protocol.drain();
        per_event(ticker, chunk(CHUNK, &mix, ticker, |t, e| protocol.push(t, 0, e)), CHUNK)
    }));
    {
        let ring = &ring;
        tasks.push(task("ring", move || {
            ring.drain();
            per_event(ticker, chunk(CHUNK, &mix, ticker, |t, e| assert!(ring.push(t, 0, e))), CHUNK)
        }));
    }
    for (kind, payload) in kinds {
        let mut floor = Floor::new(ring_bytes as usize);
        tasks.push(task(format!("floor/{kind}"), move || {
            floor.drain();
            per_event(ticker, chunk(CHUNK, &payload, ticker, |t, e| floor.push(t, 0, e)), CHUNK)
        }));
        // A pipeline per task, so that every ring, like every floor, is written by one
        // task only and its memory is reused at the same distance as the floor's.
        let record = common::record();
        let counted = &counted;
        tasks.push(task(format!("record/{kind}"), move || {
            record.drain();
            let ticks = counted(CHUNK, &mut || chunk(CHUNK, &payload, ticker, |t, e| assert!(record.push(t, 0, e))));
            per_event(ticker, ticks, CHUNK)
        }));
    }
    {
        let (record, counted) = (&record, &counted);
        tasks.push(task("record", move || {
            record.drain();
            let ticks = counted(CHUNK, &mut || chunk(CHUNK, &mix, ticker, |t, e| assert!(record.push(t, 0, e))));
            per_event(ticker, ticks, CHUNK)
        }));
    }
    {
        let holding = &holding;
        tasks.push(task("record_holding", move || {
            holding.drain();
            per_event(ticker, chunk(CHUNK, &mix, ticker, |t, e| assert!(holding.push(t, 0, e))), CHUNK)
        }));
    }
    {
        let aq = &aq;
        tasks.push(task("arrayqueue", move || {
            aq.drain();
            per_event(ticker, chunk(CHUNK, &mix, ticker, |t, e| assert!(aq.push(t, 0, e))), CHUNK)
        }));
    }
    {
        let mutex = &mutex;
        tasks.push(task("mutex_alloc", move || {
            mutex.drain();
            per_event(ticker, chunk(CHUNK, &mix, ticker, |t, e| assert!(mutex.push(t, 0, e))), CHUNK)
        }));
    }
    {
        let (floors, note) = (&floors, &note);
        tasks.push(task("floor_2p", move || {
            floors.drain();
            let (ns, together) = two_producers(floors, &mix, ticker, CHUNK, None);
            note("floor_2p", together);
            ns
        }));
    }
    {
        let record = common::record();
        let (note, record_allocs) = (&note, &record_allocs);
        tasks.push(task("record_2p", move || {
            record.drain();
            let mut a = record_allocs.take();
            let (ns, together) = two_producers(&record, &mix, ticker, CHUNK, Some(&mut a));
            record_allocs.set(a);
            note("record_2p", together);
            ns
        }));
    }
    {
        let (aq, note) = (&aq, &note);
        tasks.push(task("arrayqueue_2p", move || {
            aq.drain();
            let (ns, together) = two_producers(aq, &mix, ticker, CHUNK, None);
            note("arrayqueue_2p", together);
            ns
        }));
    }
    {
        let (mutex, note) = (&mutex, &note);
        tasks.push(task("mutex_alloc_2p", move || {
            mutex.drain();
            let (ns, together) = two_producers(mutex, &mix, ticker, CHUNK, None);
            note("mutex_alloc_2p", together);
            ns
        }));
    }

    // The stages.
    let worker = Record::new(16 << 20, false);
    tasks.push(task("drain_format", move || {
        chunk(CHUNK, &mix, ticker, |t, e| assert!(worker.push(t, 0, e), "the ring overflowed"));
        let start = ticker.now();
        worker.run_worker();
        per_event(ticker, ticker.now() - start, CHUNK)
    }));
    let channel = Channel::try_new(CHANNEL_BYTES, CLOCK, SimLock::default()).expect("the channel's buffer");
    assert!(channel.attach(1), "the reader attaches");
    let pending = VecReads::default();
    let (kept, batches) = (&wire.kept, &wire.batches);
    tasks.push(task("reader", move || {
        let start = ticker.now();
        let read = deliver_and_read(&channel, &pending, kept, |_| ());
        let ticks = ticker.now() - start;
        assert_eq!(read, kept.len(), "the reader read every event");
        per_event(ticker, ticks, read)
    }));
    let mut plain = JsonFormatter::new(CLOCK, 1_700_000_000_000_000_000, PathMap::new(r"C:\Windows"), 4096);
    tasks.push(task("json", move || {
        let start = ticker.now();
        let events = json_of(batches, &mut plain, None);
        per_event(ticker, ticker.now() - start, events)
    }));
    let mut with_facts = JsonFormatter::new(CLOCK, 1_700_000_000_000_000_000, PathMap::new(r"C:\Windows"), 4096);
    let mut facts = CachedFacts::new();
    tasks.push(task("json_facts", move || {
        let start = ticker.now();
        let events = json_of(batches, &mut with_facts, Some(&mut facts));
        per_event(ticker, ticker.now() - start, events)
    }));

    // `PAIRED_ONLY=a,b`: only the tasks named (for looking into one comparison).
    if let Ok(only) = std::env::var("PAIRED_ONLY") {
        tasks.retain(|t| only.split(',').any(|o| o == t.name));
    }
    // Warm-up: two untimed rounds (first touch of every buffer, the caches, the pid table).
    for _ in 0..2 {
        for t in &mut tasks {
            (t.run)();
        }
    }
    let _ = record_allocs.take();
    let mut times: BTreeMap<String, Vec<f64>> = tasks.iter().map(|t| (t.name.clone(), Vec::new())).collect();
    let mut together: BTreeMap<String, Vec<bool>> = tasks.iter().map(|t| (t.name.clone(), Vec::new())).collect();
    for c in concurrent.values() {
        c.set((0, 0));
    }
    let n = tasks.len();
    for r in 0..rounds {
        for i in 0..n {
            let t = &mut tasks[(i + r) % n];
            last_together.set(true);
            let ns = (t.run)();
            times.get_mut(&t.name).expect("every task has a series").push(ns);
            together.get_mut(&t.name).expect("every task has a series").push(last_together.get());
        }
    }
    drop(tasks);
    let allocs = record_allocs.take();
    let mut extra = Map::new();
    extra.insert("allocations_per_record".into(), json!(allocs.allocations as f64 / allocs.events.max(1) as f64));
    extra.insert("record_events_counted_for_allocations".into(), json!(allocs.events));
    let ran_together: Map<String, Value> =
        concurrent.iter().map(|(k, c)| ((*k).to_owned(), json!(format!("{}/{}", c.get().0, c.get().1)))).collect();
    extra.insert("two_producer_rounds_concurrent".into(), Value::Object(ran_together));
    (Series { times, together }, extra)
}

/// Per task, per round: the time per event, and whether a two-producer task's producers
/// ran at the same time (always true for one producer).
struct Series {
    times: BTreeMap<String, Vec<f64>>,
    together: BTreeMap<String, Vec<bool>>,
}

/// Mevents/s of producers that ran over `spans` (begin, end ticks) and made `events` in
/// all, and whether they all ran at the same time (their common overlap >= 80% of the
/// longest span).
fn rate(ticker: &Ticker, spans: &[(u64, u64)], events: usize) -> (f64, bool) {
    let begin = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.1).max().unwrap_or(0);
    let last_begin = spans.iter().map(|s| s.0).max().unwrap_or(0);
    let first_end = spans.iter().map(|s| s.1).min().unwrap_or(0);
    let longest = spans.iter().map(|s| s.1.saturating_sub(s.0)).max().unwrap_or(0);
    let together = first_end.saturating_sub(last_begin).saturating_mul(5) >= longest.saturating_mul(4);
    (1e3 / per_event(ticker, end.saturating_sub(begin), events), together)
}

/// Aggregate events per second of `n` producers, each on its own ring, and of `n`
/// producers each on a private floor: medians over `rounds` paired rounds.
fn sweep(max: usize, rounds: usize, ticker: &Ticker) -> Value {
    let mix = common::mix();
    let mut points = Vec::new();
    for n in 1..=max {
        let ring_bytes = n.next_power_of_two() * (8 << 20);
        let record = Record::with_processors(ring_bytes, u32::try_from(n).unwrap_or(1), true);
        // Padded: each floor's position word on its own cache line, as the rings' are.
        let mut floors: Vec<CachePadded<Floor>> = (0..n).map(|_| CachePadded::new(Floor::new(8 << 20))).collect();
        let (mut rounds_all, mut rounds_together) = (Vec::new(), Vec::new());
        for r in 0..=rounds {
            record.drain();
            let run_record = || {
                let ready = AtomicU32::new(0);
                let spans: Vec<(u64, u64)> = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..n)
                        .map(|i| {
                            let (ready, record, mix) = (&ready, &record, &mix);
                            s.spawn(move || {
                                pin(i);
                                // Release: pairs with the Acquire in `spin_until`.
                                ready.fetch_add(1, Ordering::Release);
                                spin_until(ready, n as u32);
                                let begin = ticker.now();
                                let cpu = u32::try_from(i).unwrap_or(0);
                                chunk(CHUNK, mix, ticker, |t, e| assert!(record.push(t, cpu, e)));
                                (begin, ticker.now())
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().expect("a producer")).collect()
                });
                spans
            };
            let run_floors = |floors: &mut Vec<CachePadded<Floor>>| {
                for f in floors.iter_mut() {
                    f.drain();
                }
                let ready = AtomicU32::new(0);
                std::thread::scope(|s| {
                    let handles: Vec<_> = floors
                        .iter_mut()
                        .enumerate()
                        .map(|(i, f)| {
                            let (ready, mix) = (&ready, &mix);
                            s.spawn(move || {
                                pin(i);
                                // Release: as above.
                                ready.fetch_add(1, Ordering::Release);
                                spin_until(ready, n as u32);
                                let begin = ticker.now();
                                chunk(CHUNK, mix, ticker, |t, e| f.push(t, 0, e));
                                (begin, ticker.now())
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().expect("a producer")).collect::<Vec<_>>()
                })
            };
            // Alternate which goes first; round 0 is a warm-up.
            let ((a, a_together), (b, b_together)) = if r % 2 == 0 {
                let a = rate(ticker, &run_record(), n * CHUNK);
                (a, rate(ticker, &run_floors(&mut floors), n * CHUNK))
            } else {
                let b = rate(ticker, &run_floors(&mut floors), n * CHUNK);
                (rate(ticker, &run_record(), n * CHUNK), b)
            };
            if r > 0 {
                rounds_all.push((a, b));
                if a_together && b_together {
                    rounds_together.push((a, b));
                }
            }
        }
        // With no more producers than CPUs, the rounds where they all ran at once (if any):
        // the others measure the scheduler time-slicing them.
        let concurrent = format!("{}/{}", rounds_together.len(), rounds_all.len());
        let kept = if n <= cpus() && !rounds_together.is_empty() { &rounds_together } else { &rounds_all };
        let rec: Vec<f64> = kept.iter().map(|p| p.0).collect();
        let flo: Vec<f64> = kept.iter().map(|p| p.1).collect();
        let ratio: Vec<f64> = kept.iter().map(|p| p.0 / p.1).collect();
        let [rm, r10, r90, ..] = quantiles(&rec);
        let [fm, f10, f90, ..] = quantiles(&flo);
        let [q, q10, q90, ..] = quantiles(&ratio);
        points.push(json!({
            "producers": n,
            "record_mevents_per_s": round3(rm),
            "record_mevents_per_s_spread": [round3(r10), round3(r90)],
            "floor_mevents_per_s": round3(fm),
            "floor_mevents_per_s_spread": [round3(f10), round3(f90)],
            "record_vs_floor_throughput": round3(q),
            "record_vs_floor_throughput_spread": [round3(q10), round3(q90)],
            "rounds_all_producers_concurrent": concurrent,
        }));
    }
    Value::Array(points)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass other flags: then
    // run one quick round so the bench is still exercised (no timing is judged here).
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds = if quick { 1 } else { env_usize("PAIRED_ROUNDS", 300) };
    let producers = if quick { 0 } else { env_usize("PAIRED_PRODUCERS", 0) };
    let ticker = Ticker::calibrate(Duration::from_millis(50));
    let cpus = cpus();
    let pinned = pin(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (Series { times, together }, extra) = paired(rounds, &ticker);

    // Per-round ratios, then their medians and spreads. A ratio of two-producer tasks
    // counts the rounds where both ran their producers at the same time (if there are
    // any): a round where the OS time-sliced them on one CPU measures the scheduler.
    let series = |name: &str| times.get(name).map_or(&[][..], Vec::as_slice);
    let both = |name: &str| together.get(name).map_or(&[][..], Vec::as_slice);
    let ratio = |num: &str, den: &str| -> Vec<f64> {
        let pairs = || series(num).iter().zip(series(den)).zip(both(num).iter().zip(both(den)));
        let concurrent: Vec<f64> = pairs().filter(|(_, (a, b))| **a && **b).map(|((a, b), _)| a / b).collect();
        if concurrent.is_empty() { pairs().map(|((a, b), _)| a / b).collect() } else { concurrent }
    };
    let mut out = Map::new();
    let mut put = |key: &str, values: &[f64]| {
        let [m, p10, p90, min, max] = quantiles(values);
        out.insert(key.to_owned(), json!(round3(m)));
        out.insert(format!("{key}_spread"), json!([round3(p10), round3(p90)]));
        out.insert(format!("{key}_min_max"), json!([round3(min), round3(max)]));
    };
    let ratios: Vec<(&str, Vec<f64>)> = vec![
        ("record_vs_floor", ratio("record", "floor")),
        ("protocol_floor_vs_floor", ratio("protocol_floor", "floor")),
        ("record_vs_protocol_floor", ratio("record", "protocol_floor")),
        ("ring_vs_protocol_floor", ratio("ring", "protocol_floor")),
        ("record_vs_ring", ratio("record", "ring")),
        ("record_holding_vs_floor", ratio("record_holding", "floor")),
        ("arrayqueue_1p_vs_record", ratio("arrayqueue", "record")),
        ("mutex_alloc_1p_vs_record", ratio("mutex_alloc", "record")),
        ("record_2p_vs_floor_2p", ratio("record_2p", "floor_2p")),
        ("record_2p_vs_arrayqueue", ratio("arrayqueue_2p", "record_2p")),
        ("record_2p_vs_mutex_alloc", ratio("mutex_alloc_2p", "record_2p")),
        ("record_2p_vs_record_1p", ratio("record_2p", "record")),
        ("drain_format_vs_floor", ratio("drain_format", "floor")),
        ("reader_vs_floor", ratio("reader", "floor")),
        ("json_vs_floor", ratio("json", "floor")),
        ("json_facts_vs_floor", ratio("json_facts", "floor")),
        ("record_vs_floor_process_create", ratio("record/process_create", "floor/process_create")),
        ("record_vs_floor_thread_create", ratio("record/thread_create", "floor/thread_create")),
        ("record_vs_floor_image_load", ratio("record/image_load", "floor/image_load")),
    ];
    for (key, values) in &ratios {
        put(key, values);
    }
    let mut ns = Map::new();
    for (name, values) in &times {
        // Two-producer tasks: over the rounds where both producers ran at once, if any.
        let flags = both(name);
        let concurrent: Vec<f64> = values.iter().zip(flags).filter(|(_, t)| **t).map(|(v, _)| *v).collect();
        let values = if concurrent.is_empty() { values } else { &concurrent };
        let [m, p10, p90, ..] = quantiles(values);
        ns.insert(name.clone(), json!({ "median": round3(m), "p10": round3(p10), "p90": round3(p90) }));
    }
    out.insert("ns_per_event".into(), Value::Object(ns));
    out.extend(extra);
    out.insert("rounds".into(), json!(rounds));
    out.insert("chunk_events".into(), json!(CHUNK));
    out.insert("stage_events".into(), json!(STAGE_EVENTS));
    out.insert("timer".into(), json!(ticker.describe()));
    out.insert("pinned".into(), json!(pinned));
    out.insert("cpus".into(), json!(cpus));
    out.insert("load_average_at_start".into(), json!(load.trim()));
    if producers > 0 {
        out.insert("producer_sweep".into(), sweep(producers, env_usize("PAIRED_SWEEP_ROUNDS", 30), &ticker));
    }
    if quick {
        println!("paired: one quick round ran (pass --bench, as `cargo bench` does, to measure)");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let text = serde_json::to_string_pretty(&Value::Object(out)).expect("serialise");
    std::fs::write(dir.join("paired.json"), text + "\n").expect("write paired.json");
    println!("wrote {}", dir.join("paired.json").display());
}
