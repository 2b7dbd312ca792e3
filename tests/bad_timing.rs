//! Bad timing on the *simulated* kernel: ring sizes from the minimum up, records from
//! empty strings to 32,767-unit command lines, 2–8 producers, a stalled worker, unload at
//! awkward moments, and a producer stalled mid-record. Each scenario prints the worst
//! callback latency it saw — as data: wall-clock time on a shared 2-core machine says
//! more about the host scheduler than about the code, so it is never a pass/fail bound.

use notifyring::sim::{CollectEnv, SimKernel, Unloaded};
use notifyring::stats::Snapshot;
use notifyring::{ClientId, Config, Event, Recorded, Stamp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one producer did: for each of its events (by index), whether it was lost.
struct Producer {
    lost: Vec<bool>,
    worst: Duration,
}

/// Command line lengths from empty to the `UNICODE_STRING` maximum.
const LENGTHS: [usize; 8] = [0, 1, 31, 200, 747, 5141, 8192, 32_767];

/// Producer `p`'s event `i`: a process create whose creator tid carries `i` and whose
/// pid carries `p`, with a command line of one of [`LENGTHS`].
fn event(p: u64, i: u64, text: &[u16]) -> Event<'_> {
    let len = LENGTHS[usize::try_from(i).unwrap() % LENGTHS.len()];
    Event::ProcessCreate {
        pid: 4 * (p + 1),
        parent_pid: 4,
        creator: ClientId { pid: 4, tid: i },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(&text[..len.min(300)]),
        command_line: Some(&text[..len]),
    }
}

/// Runs `producers` threads of `per_producer` events each (fewer once `stop_early` is
/// set); `progress` counts the calls made so far, for tests that act mid-burst.
fn run_producers(
    kernel: &SimKernel,
    producers: u64,
    per_producer: u64,
    stop_early: &AtomicBool,
    progress: &AtomicU64,
) -> Vec<Producer> {
    let text: Vec<u16> = (0..32_767u32).map(|i| u16::try_from(0x41 + i % 26).unwrap()).collect();
    std::thread::scope(|s| {
        #[expect(clippy::needless_collect, reason = "all producers must start before any is joined")]
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let text = &text;
                s.spawn(move || {
                    let mut out = Producer { lost: Vec::new(), worst: Duration::ZERO };
                    for i in 0..per_producer {
                        if stop_early.load(Ordering::Relaxed) {
                            break;
                        }
                        let t = Instant::now();
                        let r = kernel.pipeline().record(Stamp { ticks: i, cpu: 0 }, &event(p, i, text));
                        out.worst = out.worst.max(t.elapsed());
                        out.lost.push(r == Recorded::Lost);
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Checks conservation and that every loss is reported at its place: for each producer,
/// its events lost between two of its delivered events are covered by LOST lines printed
/// between those two lines (a loss rides on the next record reserved after it, which is
/// at the latest that producer's own next record), and the totals match exactly.
fn check(unloaded: &Unloaded<CollectEnv>, producers: &[Producer]) {
    let recorded: u64 = producers.iter().map(|p| p.lost.len() as u64).sum();
    let lost: u64 = producers.iter().map(|p| p.lost.iter().filter(|&&l| l).count() as u64).sum();
    let s = &unloaded.stats;
    assert_eq!(recorded, s.delivered_total() + s.lost_total(), "conservation");
    assert_eq!(lost, s.lost_total(), "losses counted");
    assert_eq!(lost, s.lost_reported, "losses reported in-band");
    assert_eq!(unloaded.queue.double_queues, 0, "double queue");
    assert_eq!(unloaded.queue.queues_after_unload, 0, "queued after unload");

    // LOST counts seen so far, at each producer's last delivered line.
    let mut reported_so_far = 0u64;
    let mut previous: HashMap<u64, (u64, u64)> = HashMap::new(); // producer -> (index, reported_so_far)
    let mut delivered = 0u64;
    for line in &unloaded.env.lines {
        if let Some(rest) = line.strip_prefix("notifyring: LOST ") {
            reported_so_far += rest.split(' ').next().unwrap().parse::<u64>().unwrap();
            continue;
        }
        let Some(rest) = line.split(" process-create pid=").nth(1) else { continue };
        let pid: u64 = rest.split(' ').next().unwrap().parse().unwrap();
        let i: u64 = rest.split(" by=4:").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        let p = pid / 4 - 1;
        let (from, seen_then) = previous.get(&p).map_or((0, 0), |&(j, l)| (j + 1, l));
        let lost_between = producers[usize::try_from(p).unwrap()].lost
            [usize::try_from(from).unwrap()..usize::try_from(i).unwrap()]
            .iter()
            .filter(|&&l| l)
            .count() as u64;
        assert!(
            lost_between <= reported_so_far - seen_then,
            "producer {p}: {lost_between} of its events lost before #{i}, but only {} reported since its previous line",
            reported_so_far - seen_then
        );
        previous.insert(p, (i, reported_so_far));
        delivered += 1;
    }
    assert_eq!(delivered, s.delivered_total(), "every delivered record printed once");
    assert_eq!(reported_so_far, lost, "LOST lines add up");
}

/// Waits until the counters satisfy `done`, or fails after a deadline far beyond any
/// scheduling delay: the condition is what the test asserts, not the host's timing.
fn wait_for(kernel: &SimKernel, done: impl Fn(&Snapshot) -> bool, what: &str) -> Snapshot {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let s = kernel.pipeline().stats().snapshot();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "not within 60 s: {what}");
        std::thread::yield_now();
    }
}

fn env() -> CollectEnv {
    CollectEnv::default()
}

#[test]
fn ring_sizes_record_sizes_and_producers_conserve_and_place_losses() {
    let never = AtomicBool::new(false);
    for (ring, producers, stall_us) in
        [(4 << 10, 2, 0), (4 << 10, 8, 0), (64 << 10, 4, 200), (1 << 20, 8, 0), (16 << 20, 2, 0), (16 << 20, 8, 1000)]
    {
        let config = Config { ring_bytes: ring, stats_interval_s: 0, ..Config::DEFAULT };
        let e = env();
        let kernel = SimKernel::start(&config, e.clock(), e).unwrap();
        kernel.stall_each_run(Duration::from_micros(stall_us));
        let out = run_producers(&kernel, producers, 3000, &never, &AtomicU64::new(0));
        let unloaded = kernel.unload();
        check(&unloaded, &out);
        let worst = out.iter().map(|p| p.worst).max().unwrap();
        eprintln!(
            "ring={ring} producers={producers} stall={stall_us}us caps={:?}: delivered={} lost={} truncated={} worst_callback={worst:?}",
            config.effective_caps(),
            unloaded.stats.delivered_total(),
            unloaded.stats.lost_total(),
            unloaded.stats.truncated_strings
        );
    }
}

#[test]
fn unload_while_producers_are_mid_record_queued_running_or_full() {
    for (round, what) in ["mid-record", "queued", "running", "full"].iter().cycle().take(16).enumerate() {
        let config = Config { ring_bytes: 16 << 10, batch: 8, stats_interval_s: 0, ..Config::DEFAULT };
        let e = env();
        let kernel = SimKernel::start(&config, e.clock(), e).unwrap();
        match *what {
            "queued" | "full" => kernel.hold(),
            "running" => kernel.stall_each_run(Duration::from_micros(100)),
            _ => {}
        }
        let stop = AtomicBool::new(false);
        let progress = AtomicU64::new(0);
        let out = std::thread::scope(|s| {
            let per_producer = if *what == "full" { 2000 } else { 1_000_000 };
            let (kernel, stop, progress) = (&kernel, &stop, &progress);
            let producers = s.spawn(move || run_producers(kernel, 3, per_producer, stop, progress));
            // Mid-burst by the producers' own count, not by a guess at the host's timing:
            // 1,000 to 4,000 calls in, with every producer still far from its end.
            let mid = 1000 * (1 + round as u64 % 4);
            let deadline = Instant::now() + Duration::from_mins(1);
            while progress.load(Ordering::Relaxed) < mid && !producers.is_finished() {
                assert!(Instant::now() < deadline, "the producers made no progress in 60 s");
                std::thread::yield_now();
            }
            if *what != "full" {
                // STOPPING while callbacks are still in flight (stricter than the driver,
                // which removes them first): they must neither queue nor lose anything.
                kernel.pipeline().stop();
            }
            stop.store(true, Ordering::Relaxed);
            producers.join().unwrap()
        });
        let unloaded = kernel.unload();
        check(&unloaded, &out);
        eprintln!(
            "unload {what}: recorded={} delivered={} lost={} worst_callback={:?}",
            out.iter().map(|p| p.lost.len()).sum::<usize>(),
            unloaded.stats.delivered_total(),
            unloaded.stats.lost_total(),
            out.iter().map(|p| p.worst).max().unwrap()
        );
    }
}

#[test]
fn stalled_producer_blocks_no_one_and_delivery_resumes_after_its_commit() {
    let config = Config { ring_bytes: 8 << 10, stats_interval_s: 0, ..Config::DEFAULT };
    let e = env();
    let kernel = SimKernel::start(&config, e.clock(), e).unwrap();
    let text = vec![u16::from(b'x'); 64];
    let others_done = AtomicU64::new(0);
    let (outcome, paused) = kernel.pipeline().record_paused(Stamp::default(), &event(7, 0, &text), || {
        // While the stalled record sits at the head, not committed, the others fill the ring and
        // keep returning at once.
        let never = AtomicBool::new(false);
        let out = run_producers(&kernel, 3, 20_000, &never, &AtomicU64::new(0));
        others_done.store(out.iter().map(|p| p.lost.len() as u64).sum(), Ordering::Relaxed);
        // The others' commits queued the worker: wait (with a deadline, however the host
        // schedules its thread) until it has run into the busy head and stopped there.
        let s = wait_for(&kernel, |s| s.busy_stops > 0, "the worker stopped at the busy record");
        assert_eq!(s.delivered_total(), 0, "nothing passes the busy head");
        assert!(s.lost_total() > 0, "the ring filled up behind it");
        // The worker went idle with the head in flight: its idle sweep (the simulated
        // timer) looks again, and again, while the record is still being copied.
        wait_for(&kernel, |s| s.sweeps >= 2, "the idle sweep looked again while the head was busy");
        (out, s.worker_runs)
    });
    assert_ne!(outcome, Recorded::Lost);
    let (out, runs_while_stalled) = paused.unwrap();
    // After the commit, delivery resumes without anything but the commit's own wake-up.
    wait_for(&kernel, |s| s.delivered_total() > 0, "delivery resumed after the commit");
    let unloaded = kernel.unload();
    let s = &unloaded.stats;
    let recorded = others_done.load(Ordering::Relaxed) + 1;
    assert_eq!(recorded, s.delivered_total() + s.lost_total());
    eprintln!(
        "stalled producer: others recorded={} lost={} worker runs while stalled={runs_while_stalled} (each stopped at the busy head and returned) worst_callback={:?}",
        recorded - 1,
        s.lost_total(),
        out.iter().map(|p| p.worst).max().unwrap()
    );
}
