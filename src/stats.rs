//! Counters, readable at any time without a lock (and live in WinDbg: the driver keeps
//! one instance in a named global).
//!
//! Producers touch only the loss counters, and only when an event is lost: a shared
//! counter bumped on every record would cost every callback a contended cache line
//! (docs/performance.md). Everything else is counted by the worker from
//! what it drains, on its own cache line.

use crate::event::Kind;
use core::sync::atomic::{AtomicU64, Ordering};
use crossbeam_utils::CachePadded;

// All counters are Relaxed: each is an independent tally, and nothing is read or
// written on the strength of a counter's value. Plain core atomics even under loom:
// they are not part of the protocol being model-checked.

/// Counters updated by producers (failure path only).
#[derive(Debug, Default)]
pub struct ProducerStats {
    /// Events lost, by kind, because the ring was full.
    pub lost_full: [AtomicU64; 5],
    /// Events lost, by kind, after too many lost reservation races.
    pub lost_contended: [AtomicU64; 5],
}

/// Counters updated by the worker (and, for the high-water mark, by a failed
/// reservation: the moment the ring is fullest).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Records delivered (formatted and printed), by kind.
    pub delivered: [AtomicU64; 5],
    /// Losses reported in-band through LOST markers.
    pub lost_reported: AtomicU64,
    /// Strings a cap cut short.
    pub truncated_strings: AtomicU64,
    /// Work item routine runs that drained.
    pub worker_runs: AtomicU64,
    /// Largest number of records drained in one run.
    pub largest_batch: AtomicU64,
    /// Largest ring occupancy in bytes seen by the worker or a failed reservation.
    pub high_water: AtomicU64,
    /// Runs that stopped because the only records left were still being copied.
    pub busy_stops: AtomicU64,
    /// Idle sweeps that ran: the one-shot timer the worker sets when it goes idle with
    /// a record in flight (bumped by the sweep's DPC, which is rare).
    pub sweeps: AtomicU64,
    /// Sweeps that found a record ready with the worker idle and queued it: wake-ups a
    /// producer's race with the worker's idle transition left to the sweep.
    pub sweep_wakes: AtomicU64,
    /// Output lines handed to the debugger.
    pub lines: AtomicU64,
    /// Process-image look-ups that failed.
    pub lookup_failures: AtomicU64,
    /// Token queries that failed (each leaves one token fact absent).
    pub token_failures: AtomicU64,
    /// Start addresses of threads from another process that could not be read (the
    /// thread was gone by then): the field is absent.
    pub start_failures: AtomicU64,
    /// Processes not remembered because the pid table was full.
    pub names_dropped: AtomicU64,
    /// Longest work item run, in performance-counter ticks.
    pub longest_run_ticks: AtomicU64,
}

/// All counters of one pipeline.
#[derive(Debug, Default)]
pub struct Stats {
    /// Producer-side counters.
    pub producer: CachePadded<ProducerStats>,
    /// Worker-side counters.
    pub worker: CachePadded<WorkerStats>,
}

/// A plain copy of [`Stats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Delivered, by kind.
    pub delivered: [u64; 5],
    /// Lost (full + contended), by kind.
    pub lost: [u64; 5],
    /// Lost after too many reservation races (included in `lost`).
    pub lost_contended: u64,
    /// Reported in LOST markers so far.
    pub lost_reported: u64,
    /// Truncated strings.
    pub truncated_strings: u64,
    /// Worker runs.
    pub worker_runs: u64,
    /// Largest batch.
    pub largest_batch: u64,
    /// Ring high-water mark in bytes.
    pub high_water: u64,
    /// Runs stopped because only records still being copied were left.
    pub busy_stops: u64,
    /// See [`WorkerStats::sweeps`].
    pub sweeps: u64,
    /// See [`WorkerStats::sweep_wakes`].
    pub sweep_wakes: u64,
    /// Lines printed.
    pub lines: u64,
    /// Failed look-ups.
    pub lookup_failures: u64,
    /// See [`WorkerStats::token_failures`].
    pub token_failures: u64,
    /// See [`WorkerStats::start_failures`].
    pub start_failures: u64,
    /// Names not remembered.
    pub names_dropped: u64,
    /// Longest work item run, in performance-counter ticks.
    pub longest_run_ticks: u64,
}

impl Snapshot {
    /// Total delivered.
    #[must_use]
    pub fn delivered_total(&self) -> u64 {
        self.delivered.iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// Total lost.
    #[must_use]
    pub fn lost_total(&self) -> u64 {
        self.lost.iter().fold(0, |a, &b| a.wrapping_add(b))
    }
}

#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    // Relaxed: an independent tally; pairs with nothing (see the note above).
    counter.fetch_add(1, Ordering::Relaxed);
}

#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    // Relaxed: an independent tally; pairs with nothing (see the note above).
    counter.fetch_add(n, Ordering::Relaxed);
}

#[inline]
pub(crate) fn raise(counter: &AtomicU64, value: u64) {
    // Relaxed: an independent tally; pairs with nothing (see the note above).
    counter.fetch_max(value, Ordering::Relaxed);
}

#[inline]
fn get(counter: &AtomicU64) -> u64 {
    // Relaxed: an independent tally; pairs with nothing (see the note above).
    counter.load(Ordering::Relaxed)
}

impl Stats {
    /// All zero.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            producer: CachePadded::new(ProducerStats {
                lost_full: [const { AtomicU64::new(0) }; 5],
                lost_contended: [const { AtomicU64::new(0) }; 5],
            }),
            worker: CachePadded::new(WorkerStats {
                delivered: [const { AtomicU64::new(0) }; 5],
                lost_reported: AtomicU64::new(0),
                truncated_strings: AtomicU64::new(0),
                worker_runs: AtomicU64::new(0),
                largest_batch: AtomicU64::new(0),
                high_water: AtomicU64::new(0),
                busy_stops: AtomicU64::new(0),
                sweeps: AtomicU64::new(0),
                sweep_wakes: AtomicU64::new(0),
                lines: AtomicU64::new(0),
                lookup_failures: AtomicU64::new(0),
                token_failures: AtomicU64::new(0),
                start_failures: AtomicU64::new(0),
                names_dropped: AtomicU64::new(0),
                longest_run_ticks: AtomicU64::new(0),
            }),
        }
    }

    /// Counts a lost event of `kind`.
    #[cold]
    pub(crate) fn lost(&self, kind: Kind, contended: bool) {
        let by_kind = if contended { &self.producer.lost_contended } else { &self.producer.lost_full };
        if let Some(c) = by_kind.get(kind.index()) {
            bump(c);
        }
    }

    /// Reads every counter (each exact, the set not one atomic moment).
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let p = &self.producer;
        let w = &self.worker;
        let each = |a: &[AtomicU64; 5]| [get(&a[0]), get(&a[1]), get(&a[2]), get(&a[3]), get(&a[4])];
        let full = each(&p.lost_full);
        let contended = each(&p.lost_contended);
        let mut lost = [0; 5];
        for ((l, f), c) in lost.iter_mut().zip(full).zip(contended) {
            *l = f.wrapping_add(c);
        }
        Snapshot {
            delivered: each(&w.delivered),
            lost,
            lost_contended: contended.iter().fold(0, |a, &b| a.wrapping_add(b)),
            lost_reported: get(&w.lost_reported),
            truncated_strings: get(&w.truncated_strings),
            worker_runs: get(&w.worker_runs),
            largest_batch: get(&w.largest_batch),
            high_water: get(&w.high_water),
            busy_stops: get(&w.busy_stops),
            sweeps: get(&w.sweeps),
            sweep_wakes: get(&w.sweep_wakes),
            lines: get(&w.lines),
            lookup_failures: get(&w.lookup_failures),
            token_failures: get(&w.token_failures),
            start_failures: get(&w.start_failures),
            names_dropped: get(&w.names_dropped),
            longest_run_ticks: get(&w.longest_run_ticks),
        }
    }
}
