//! The pipeline on a *simulated* kernel: producer threads call the same entry point as
//! the notify callbacks, the simulated work queue runs the routine on its own thread and
//! counts any queue of an already-queued work item (bug check 0xE4 on Windows).

use notifyring::sim::{CollectEnv, SimKernel, Unloaded};
use notifyring::{ClientId, Config, Event, Recorded, Stamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn quiet_env() -> CollectEnv {
    let mut env = CollectEnv::default();
    env.keep = false;
    env
}

const fn config(ring_bytes: usize) -> Config {
    Config { ring_bytes, stats_interval_s: 0, ..Config::DEFAULT }
}

/// A thread-create event that encodes (producer, sequence) in its ids, so order and
/// identity can be checked on the far side.
const fn tagged(producer: u64, seq: u64) -> Event<'static> {
    Event::ThreadCreate { pid: 4 * (producer + 1), tid: seq, creator: ClientId { pid: 4 * (producer + 1), tid: 0 } }
}

/// Runs `producers` threads of `per_producer` events each; returns calls made.
fn burst(kernel: &SimKernel, producers: u64, per_producer: u64) -> (u64, Duration) {
    let worst = AtomicU64::new(0);
    std::thread::scope(|s| {
        for p in 0..producers {
            let pipeline = kernel.pipeline_arc();
            let worst = &worst;
            s.spawn(move || {
                let mut local_worst = 0u64;
                for i in 0..per_producer {
                    let t = Instant::now();
                    pipeline.record(Stamp { ticks: i, cpu: u32::try_from(p).unwrap() }, &tagged(p, i));
                    local_worst = local_worst.max(u64::try_from(t.elapsed().as_nanos()).unwrap());
                }
                worst.fetch_max(local_worst, Ordering::Relaxed);
            });
        }
    });
    (producers * per_producer, Duration::from_nanos(worst.load(Ordering::Relaxed)))
}

fn assert_conserved(recorded: u64, unloaded: &Unloaded<CollectEnv>) {
    let s = &unloaded.stats;
    assert_eq!(recorded, s.delivered_total() + s.lost_total(), "events = delivered + lost ({s:?})");
    assert_eq!(s.lost_total(), s.lost_reported, "every loss is reported in-band");
    assert_eq!(unloaded.queue.double_queues, 0, "work item queued while queued");
    assert_eq!(unloaded.queue.queues_after_unload, 0, "work item queued after unload");
}

#[test]
fn conservation_holds_over_a_million_events_with_2_to_8_producers() {
    for (producers, ring) in [(2u64, 64 << 10), (4, 16 << 10), (8, 1 << 20)] {
        let env = quiet_env();
        let kernel = SimKernel::start(&config(ring), env.clock(), env).unwrap();
        let (recorded, worst) = burst(&kernel, producers, 1_000_000 / producers + 1);
        let unloaded = kernel.unload();
        assert!(recorded >= 1_000_000);
        assert_conserved(recorded, &unloaded);
        eprintln!(
            "producers={producers} ring={ring} delivered={} lost={} runs={} worst_callback={worst:?}",
            unloaded.stats.delivered_total(),
            unloaded.stats.lost_total(),
            unloaded.stats.worker_runs
        );
    }
}

#[test]
fn per_producer_order_is_preserved() {
    let env = CollectEnv::default();
    let kernel = SimKernel::start(&config(1 << 20), env.clock(), env).unwrap();
    let (recorded, _) = burst(&kernel, 4, 20_000);
    let unloaded = kernel.unload();
    assert_conserved(recorded, &unloaded);
    assert_each_producers_order(&unloaded, 4);
}

/// Each producer's records (tagged by [`tagged`]) come out in the order it recorded
/// them, and every delivered record is printed once.
fn assert_each_producers_order(unloaded: &Unloaded<CollectEnv>, producers: u64) {
    let mut last = vec![None::<u64>; usize::try_from(producers).unwrap()];
    let mut seen = 0;
    for line in &unloaded.env.lines {
        let Some(rest) = line.split(" thread-create pid=").nth(1) else { continue };
        let pid: u64 = rest.split(' ').next().unwrap().parse().unwrap();
        let tid: u64 = rest.split(" tid=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        let p = usize::try_from(pid / 4 - 1).unwrap();
        assert!(last[p].is_none_or(|prev| tid > prev), "producer {p}: {tid} after {:?}", last[p]);
        last[p] = Some(tid);
        seen += 1;
    }
    assert_eq!(seen, unloaded.stats.delivered_total(), "every delivered record was printed once");
}

#[test]
fn per_processor_rings_conserve_and_keep_each_producers_order_with_2_to_8_producers() {
    for producers in [2u64, 4, 8] {
        let env = CollectEnv::default();
        // One ring per producer ("processor"): each burst thread stamps its index.
        let config = Config { processors: u32::try_from(producers).unwrap(), ..config(1 << 20) };
        let kernel = SimKernel::start(&config, env.clock(), env).unwrap();
        assert_eq!(kernel.pipeline().rings(), usize::try_from(producers).unwrap());
        let (recorded, _) = burst(&kernel, producers, 200_000 / producers);
        let unloaded = kernel.unload();
        assert_conserved(recorded, &unloaded);
        assert_each_producers_order(&unloaded, producers);
        eprintln!(
            "{producers} rings: delivered={} lost={} runs={}",
            unloaded.stats.delivered_total(),
            unloaded.stats.lost_total(),
            unloaded.stats.worker_runs
        );
    }
}

#[test]
fn stalled_worker_never_blocks_callbacks() {
    let env = quiet_env();
    let kernel = SimKernel::start(&config(64 << 10), env.clock(), env).unwrap();
    kernel.hold();
    let (recorded, worst) = burst(&kernel, 2, 500_000);
    // Every call returned (we are here) although the worker never ran.
    let before_release = kernel.pipeline().stats().snapshot();
    assert_eq!(before_release.delivered_total(), 0, "the worker was held");
    assert!(before_release.lost_total() > 0, "a held worker must overflow the ring");
    assert_eq!(kernel.queue_report().queues, 1, "queued exactly once, never again while queued");
    let unloaded = kernel.unload();
    assert_conserved(recorded, &unloaded);
    eprintln!("held worker: recorded={recorded} lost={} worst_callback={worst:?}", unloaded.stats.lost_total());
}

#[test]
fn unload_mid_burst_leaves_nothing_queued_and_conserves() {
    for round in 0..20u64 {
        let env = quiet_env();
        let kernel = Arc::new(SimKernel::start(&config(16 << 10), env.clock(), env).unwrap());
        let stop = AtomicBool::new(false);
        let recorded = AtomicU64::new(0);
        std::thread::scope(|s| {
            for p in 0..3u64 {
                let (kernel, stop, recorded) = (&kernel, &stop, &recorded);
                s.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        kernel.pipeline().record(Stamp::default(), &tagged(p, i));
                        i += 1;
                        recorded.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            if round % 2 == 0 {
                kernel.stall_each_run(Duration::from_micros(300));
            }
            // Mid-burst by the producers' own count (2,000 to 6,000 calls in), not by a
            // guess at the host's timing.
            let deadline = Instant::now() + Duration::from_mins(1);
            while recorded.load(Ordering::Relaxed) < 1000 * (2 + round % 5) {
                assert!(Instant::now() < deadline, "the producers made no progress in 60 s");
                std::thread::yield_now();
            }
            // Callbacks are removed first (the removal waits for callbacks in flight):
            // joining the producers is that step.
            stop.store(true, Ordering::Relaxed);
        });
        let kernel = Arc::into_inner(kernel).unwrap();
        let unloaded = kernel.unload();
        assert_conserved(recorded.load(Ordering::Relaxed), &unloaded);
    }
}

#[test]
fn producer_paused_between_reserve_and_commit_does_not_stop_others() {
    // A "producer" that stalls mid-copy is modelled with the ring directly: reserve, hold
    // the reservation, let others record, then commit.
    let env = CollectEnv::default();
    let kernel = SimKernel::start(&config(64 << 10), env.clock(), env).unwrap();
    let pipeline = kernel.pipeline_arc();
    let (_, outcome) = pipeline.record_paused(Stamp::default(), &tagged(9, 0), || {
        let (recorded, _) = burst(&kernel, 2, 10_000);
        // The others kept returning, and their commits queued the worker: wait (with a
        // deadline, however the host schedules it) until it has stopped at the paused record.
        let deadline = Instant::now() + Duration::from_mins(1);
        while kernel.pipeline().stats().snapshot().busy_stops == 0 {
            assert!(Instant::now() < deadline, "the worker never stopped at the busy record");
            std::thread::yield_now();
        }
        let s = kernel.pipeline().stats().snapshot();
        assert_eq!(s.delivered_total(), 0, "nothing behind the busy record is delivered yet");
        recorded
    });
    let recorded = outcome.expect("reserved") + 1;
    // After the commit, delivery resumes without anyone else queueing.
    let deadline = Instant::now() + Duration::from_mins(1);
    while kernel.pipeline().stats().snapshot().delivered_total() + kernel.pipeline().stats().snapshot().lost_total()
        < recorded
    {
        assert!(Instant::now() < deadline, "delivery did not resume after the commit");
        std::thread::sleep(Duration::from_millis(1));
    }
    let unloaded = kernel.unload();
    assert_conserved(recorded, &unloaded);
}

#[test]
fn record_reports_queued_once_then_pending() {
    let env = quiet_env();
    let kernel = SimKernel::start(&config(64 << 10), env.clock(), env).unwrap();
    kernel.hold();
    let first = kernel.pipeline().record(Stamp::default(), &tagged(0, 0));
    let second = kernel.pipeline().record(Stamp::default(), &tagged(0, 1));
    assert_eq!((first, second), (Recorded::Queued, Recorded::Pending));
    let unloaded = kernel.unload();
    assert_conserved(2, &unloaded);
}
