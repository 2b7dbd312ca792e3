//! Real threads against the ring and the schedule, small enough to also run under miri
//! (`cargo +nightly miri test --test concurrency`), which checks every payload access
//! for data races and every access for use-after-free, including across unload.

use notifyring::record::HEAD;
use notifyring::ring::{Pop, Ring};
use notifyring::sim::{CollectEnv, SimKernel};
use notifyring::{ClientId, Config, Event, Stamp};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const PER_PRODUCER: u32 = if cfg!(miri) { 30 } else { 20_000 };

#[test]
fn ring_threads_deliver_intact_payloads_in_per_producer_order() {
    let ring = Ring::try_new(4096).unwrap();
    let done = AtomicBool::new(false);
    let lost = AtomicU64::new(0);
    let (delivered, reported) = std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            let mut next = [0u32; 2];
            let (mut delivered, mut reported) = (0u64, 0u64);
            loop {
                // SAFETY: this thread is the only consumer.
                match unsafe { ring.pop(|l, b| (l, b.to_vec())) } {
                    Pop::Record { value: (l, bytes), .. } => {
                        reported += u64::from(l);
                        delivered += 1;
                        let p = bytes[0];
                        let i = u32::from_ne_bytes(bytes[4..8].try_into().unwrap());
                        assert!(i >= next[usize::from(p)], "producer {p} out of order");
                        next[usize::from(p)] = i + 1;
                        assert!(bytes[HEAD..].chunks(2).all(|c| c == u16::from(p).to_ne_bytes()), "torn payload");
                    }
                    Pop::Empty if done.load(Ordering::Acquire) => {
                        // SAFETY: sole consumer, after Empty.
                        reported += unsafe { ring.take_trailing_losses() };
                        return (delivered, reported);
                    }
                    Pop::Empty | Pop::Busy => std::thread::yield_now(),
                }
            }
        });
        let producers: Vec<_> = (0..2u8)
            .map(|p| {
                let (ring, lost) = (&ring, &lost);
                s.spawn(move || {
                    for i in 0..PER_PRODUCER {
                        let mut head = [p; HEAD];
                        head[4..8].copy_from_slice(&i.to_ne_bytes());
                        match ring.reserve(HEAD + 40) {
                            Ok(r) => {
                                assert!(r.write(&head, &[u16::from(p); 20], &[]));
                                r.commit();
                            }
                            Err(_) => {
                                lost.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        done.store(true, Ordering::Release);
        consumer.join().unwrap()
    });
    let lost = lost.load(Ordering::Relaxed);
    assert_eq!(delivered + lost, 2 * u64::from(PER_PRODUCER));
    assert_eq!(reported, lost);
}

const fn event(pid: u64, tid: u64) -> Event<'static> {
    Event::ThreadCreate { pid, tid, creator: ClientId { pid, tid: 0 } }
}

/// Unload at varying points while producers record and the work item is queued or
/// running; afterwards the pipeline is dropped (freed) — under miri any access after
/// that, or any race on the worker state, fails the test.
#[test]
fn unload_at_random_points_conserves_and_frees_cleanly() {
    let rounds = if cfg!(miri) { 3 } else { 30 };
    for round in 0..rounds {
        let mut env = CollectEnv::default();
        env.keep = false;
        let config = Config { ring_bytes: 4096, batch: 4, stats_interval_s: 0, ..Config::DEFAULT };
        let kernel = SimKernel::start(&config, env.clock(), env).unwrap();
        if round % 3 == 1 {
            kernel.stall_each_run(Duration::from_micros(50));
        }
        if round % 3 == 2 {
            kernel.hold();
        }
        let recorded = AtomicU64::new(0);
        std::thread::scope(|s| {
            for p in 1..=2u64 {
                let (kernel, recorded) = (&kernel, &recorded);
                s.spawn(move || {
                    let n = u64::from(PER_PRODUCER) / 4 + round;
                    for i in 0..n {
                        kernel.pipeline().record(Stamp::default(), &event(p * 4, i));
                    }
                    recorded.fetch_add(n, Ordering::Relaxed);
                });
            }
        });
        let unloaded = kernel.unload();
        let s = unloaded.stats;
        assert_eq!(recorded.load(Ordering::Relaxed), s.delivered_total() + s.lost_total());
        assert_eq!(s.lost_total(), s.lost_reported);
        assert_eq!(unloaded.queue.double_queues, 0);
    }
}
