//! One ring per processor, merged by the worker, on the real pipeline stepped by hand
//! (deterministic): records come out in timestamp order across rings and in each ring's
//! own order; a head still being copied holds back only its own ring, and its commit
//! wakes the worker;
//! each ring's losses are reported at their place and `#N` gaps equal them; a record kept
//! half-printed is resumed from its own ring; `RingBytes` is split with a floor.

mod common;

use common::stepped;
use notifyring::config::RING_FLOOR;
use notifyring::pipeline::Swept;
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name};
use notifyring::worker::format::Line;
use notifyring::{ClientId, Config, Event, Host, Pipeline, Recorded, Sink, Stamp, Stats};
use stepped::Queue;

#[derive(Default)]
struct Env {
    lines: Vec<String>,
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
        self.lines.push(String::from_utf8(line.text().to_vec()).unwrap());
    }
}

fn pipeline(ring_bytes: usize, processors: u32) -> Pipeline<Queue> {
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let config = Config { ring_bytes, processors, stats_interval_s: 0, ..Config::DEFAULT };
    Pipeline::new(&config, Clock { start_ticks: 0, frequency: 1_000_000 }, Queue::default(), stats).unwrap()
}

/// A thread-create on `cpu` at `ticks`, naming itself by `tid`.
fn event(p: &Pipeline<Queue>, cpu: u32, ticks: u64, tid: u64) -> Recorded {
    let e = Event::ThreadCreate { pid: 40, tid, creator: ClientId { pid: 40, tid: 1 } };
    p.record(Stamp { ticks, cpu }, &e)
}

fn run_all(p: &Pipeline<Queue>, env: &mut Env) {
    while p.queue().0.replace(false) {
        p.run_worker(env);
    }
}

/// The `tid`s of the thread-create lines, in output order.
fn tids(env: &Env) -> Vec<u64> {
    env.lines
        .iter()
        .filter_map(|l| l.split(' ').find_map(|w| w.strip_prefix("tid=")).and_then(|t| t.parse().ok()))
        .collect()
}

#[test]
fn ring_bytes_are_split_across_processors_with_a_floor() {
    let split =
        |ring_bytes, processors| Config { ring_bytes, processors, ..Config::DEFAULT }.ring_bytes_per_processor();
    assert_eq!(split(4 << 20, 1), 4 << 20);
    assert_eq!(split(4 << 20, 2), 2 << 20);
    assert_eq!(split(4 << 20, 3), 1 << 20, "rounded down to a power of two");
    assert_eq!(split(4 << 20, 64), RING_FLOOR);
    assert_eq!(split(4 << 20, 256), RING_FLOOR, "never below the floor");
    assert_eq!(split(16 << 10, 8), 16 << 10, "a RingBytes below the floor is each ring's size");
    let p = pipeline(1 << 20, 4);
    assert_eq!((p.rings(), p.ring_bytes()), (4, 256 << 10));
}

#[test]
fn rings_merge_by_timestamp_and_keep_their_own_order() {
    let p = pipeline(1 << 20, 3);
    let mut env = Env::default();
    // Interleaved stamps on three processors; cpu 7 shares ring 1 (7 mod 3).
    for (cpu, ticks, tid) in [(0, 10, 1), (1, 5, 2), (2, 7, 3), (0, 11, 4), (7, 12, 5), (2, 8, 6), (1, 30, 7)] {
        event(&p, cpu, ticks, tid);
    }
    run_all(&p, &mut env);
    assert_eq!(tids(&env), [2, 3, 6, 1, 4, 5, 7], "{:?}", env.lines);
    // Within ring 1, reservation order wins even against a smaller stamp (a callback
    // preempted between reading the clock and reserving).
    let p = pipeline(1 << 20, 2);
    let mut env = Env::default();
    event(&p, 1, 50, 1);
    event(&p, 1, 40, 2);
    event(&p, 0, 45, 3);
    run_all(&p, &mut env);
    assert_eq!(tids(&env), [3, 1, 2], "ring 1's order is kept; the merge compares heads");
}

#[test]
fn a_head_being_copied_holds_back_only_its_own_ring() {
    let p = pipeline(1 << 20, 2);
    let mut env = Env::default();
    event(&p, 0, 20, 1);
    // Processor 1 stamps at 10 and is "preempted" between reserve and commit; meanwhile
    // the worker runs, processor 0 records again, and another callback records on
    // processor 1, behind the busy head.
    let e = Event::ThreadCreate { pid: 40, tid: 2, creator: ClientId { pid: 40, tid: 1 } };
    let (outcome, _) = p.record_paused(Stamp { ticks: 10, cpu: 1 }, &e, || {
        run_all(&p, &mut env);
        assert_eq!(tids(&env), [1], "ring 0's record passes ring 1's busy head: {:?}", env.lines);
        assert_eq!(event(&p, 0, 30, 3), Recorded::Queued, "the worker went idle, nothing left for it");
        assert_eq!(event(&p, 1, 40, 4), Recorded::Pending);
        run_all(&p, &mut env);
        assert_eq!(tids(&env), [1, 3], "ring 1 waits for its own head, ring 0 does not: {:?}", env.lines);
        assert_eq!(p.queue().1.get(), 2, "each run went idle with ring 1's head in flight and set the sweep");
        assert_eq!(p.sweep(), Swept::Again, "the sweep finds the head still in flight and looks again later");
        assert_eq!(p.queue().1.get(), 3);
    });
    assert_eq!(p.stats().snapshot().busy_stops, 2, "each run stopped once at the busy head, no spinning");
    assert_eq!(p.sweep(), Swept::Nothing, "the commit queued the worker itself: nothing left for the sweep");
    assert_eq!(outcome, Recorded::Queued, "the worker went idle; the commit found it idle and queued it");
    run_all(&p, &mut env);
    assert_eq!(tids(&env), [1, 3, 2, 4], "then ring 1, in its own order: {:?}", env.lines);
}

#[test]
fn an_empty_rings_losses_are_reported_while_another_rings_head_is_busy() {
    let p = pipeline(4096, 2);
    let mut env = Env::default();
    let e = Event::ThreadCreate { pid: 40, tid: 1, creator: ClientId { pid: 40, tid: 1 } };
    let (_, _) = p.record_paused(Stamp { ticks: 1, cpu: 1 }, &e, || {
        let mut tid = 100;
        while event(&p, 0, tid, tid) != Recorded::Lost {
            tid += 1;
        }
        event(&p, 0, 1000, 900);
        event(&p, 0, 1001, 901);
        run_all(&p, &mut env);
        let last = env.lines.last().expect("lines");
        assert!(last.starts_with("notifyring: LOST 3 events"), "ring 0 drained, its losses follow: {:?}", env.lines);
    });
    run_all(&p, &mut env);
    assert!(env.lines.last().unwrap().contains(" tid=1 "), "then ring 1's record: {:?}", env.lines);
    let s = p.stats().snapshot();
    assert_eq!((s.lost_total(), s.lost_reported), (3, 3));
}

#[test]
fn each_rings_losses_are_reported_at_their_place() {
    let p = pipeline(4096, 2);
    let mut env = Env::default();
    // Ring 0 fills up (records of 64 + 8 bytes: 56 fit in 4 KiB), and 3 more are lost.
    let mut tid = 100;
    let mut recorded = 0;
    while event(&p, 0, tid, tid) != Recorded::Lost {
        tid += 1;
        recorded += 1;
    }
    event(&p, 0, 1000, 900);
    event(&p, 0, 1001, 901);
    // Ring 1 has an older record and a newer one.
    event(&p, 1, 1, 1);
    event(&p, 1, 5000, 2);
    run_all(&p, &mut env);
    // Ring 0 drained: the next record of ring 0 carries its 3 losses.
    event(&p, 0, 2000, 3);
    run_all(&p, &mut env);
    let lines: Vec<&str> = env.lines.iter().map(|l| l.strip_prefix("notifyring: ").unwrap()).collect();
    let lost_at = lines.iter().position(|l| l.starts_with("LOST 3 events")).expect("a LOST line");
    assert!(lines[lost_at + 1].contains(" tid=3 "), "ring 0's losses sit right before its next record: {lines:?}");
    assert!(lines[lost_at - 1].contains(" tid=2 "), "after what came before them in the merge: {lines:?}");
    // `#N` counts the losses: no gap but the LOST count.
    let seqs: Vec<u64> = lines.iter().filter_map(|l| l.strip_prefix('#')?.split(' ').next()?.parse().ok()).collect();
    assert_eq!(seqs.len(), recorded + 3, "every record delivered");
    let gaps: u64 = seqs.windows(2).map(|w| w[1] - w[0] - 1).sum();
    assert_eq!(gaps, 3);
    let s = p.stats().snapshot();
    assert_eq!((s.lost_total(), s.lost_reported), (3, 3));
}
