//! Step 5: the work item routine's side. Everything slow happens here: draining the
//! ring in bounded batches, resolving process names, formatting and printing.
//!
//! [`Pipeline::run_worker`] is the routine's whole body: it follows the schedule's
//! protocol (enter, drain a batch, re-queue through the gate or go idle and re-check,
//! exit) and touches the worker state only while it owns RUNNING.

pub mod format;
pub mod names;

use crate::config::Config;
use crate::pipeline::{Pipeline, ShutdownError};
use crate::record::{self, Record};
use crate::ring::{Pop, Ring};
use crate::schedule::WorkQueue;
use crate::stats::{self, Snapshot, Stats};
use format::{Clock, Context, LINE_BUF, Line, ProcessName};
use names::{Entry, Name, Names};

/// What the worker needs from its host.
///
/// A debugger to print to, a way to name a process it has not seen created, and a
/// clock. The driver implements it with
/// `DbgPrintEx`, `PsLookupProcessByProcessId` + `SeLocateProcessImageName` and
/// `KeQueryPerformanceCounter`; tests with vectors and tables.
pub trait WorkerEnv {
    /// Prints one line (its `with_nul()` form is a C string).
    fn print(&mut self, line: Line<'_>);
    /// Fills `name` with the image file name of process `pid`; false if unknown.
    fn process_image(&mut self, pid: u64, name: &mut Name) -> bool;
    /// Current performance-counter ticks.
    fn now_ticks(&mut self) -> u64;
}

/// State only the consumer touches.
pub struct WorkerState {
    names: Names,
    line: [u8; LINE_BUF],
    /// Stream position: records delivered plus events reported lost.
    seq: u64,
    clock: Clock,
    batch: u32,
    omit_command_line: bool,
    stats_every_ticks: u64,
    last_stats_ticks: u64,
}

/// Why the drain loop stopped.
enum Stop {
    Empty,
    Busy,
    Budget,
}

impl WorkerState {
    pub(crate) fn try_new(config: &Config, clock: Clock) -> Option<Self> {
        Some(Self {
            names: Names::try_new(config.names)?,
            line: [0; LINE_BUF],
            seq: 0,
            clock,
            batch: config.batch.max(1),
            omit_command_line: config.omit_command_line,
            stats_every_ticks: u64::from(config.stats_interval_s).saturating_mul(clock.frequency),
            last_stats_ticks: clock.start_ticks,
        })
    }

    /// Drains up to `budget` records (all of them if `None`).
    fn drain(&mut self, ring: &Ring, stats: &Stats, env: &mut impl WorkerEnv, budget: Option<u32>) -> (u32, Stop) {
        let mut count = 0u32;
        loop {
            if budget.is_some_and(|b| count >= b) {
                return (count, Stop::Budget);
            }
            // SAFETY: the caller owns the consumer side (RUNNING, or stopped and idle).
            let popped = unsafe { ring.pop(|lost_before, bytes| self.deliver(lost_before, bytes, stats, env)) };
            match popped {
                Pop::Record { .. } => count = count.wrapping_add(1),
                Pop::Empty => {
                    // SAFETY: as above, and `pop` just returned Empty.
                    let trailing = unsafe { ring.take_trailing_losses() };
                    self.report_lost(trailing, stats, env);
                    return (count, Stop::Empty);
                }
                Pop::Busy => {
                    stats::bump(&stats.worker.busy_stops);
                    return (count, Stop::Busy);
                }
            }
        }
    }

    fn report_lost(&mut self, count: u64, stats: &Stats, env: &mut impl WorkerEnv) {
        if count == 0 {
            return;
        }
        self.seq = self.seq.wrapping_add(count);
        stats::add(&stats.worker.lost_reported, count);
        format::lost(count, &mut self.line, |l| print(env, stats, l));
    }

    /// One record: LOST marker first (if any), then enrich, format and print.
    fn deliver(&mut self, lost_before: u32, bytes: &[u8], stats: &Stats, env: &mut impl WorkerEnv) {
        self.report_lost(u64::from(lost_before), stats, env);
        self.seq = self.seq.wrapping_add(1);
        let Ok(rec) = record::decode(bytes) else {
            let mut l = format::Lines::new(&mut self.line, Some(self.seq), |l| print(env, stats, l));
            l.key_dec(b"#", self.seq);
            l.put(b" undecodable record");
            l.finish();
            return;
        };
        if let Some(c) = stats.worker.delivered.get(rec.kind.index()) {
            stats::bump(c);
        }
        let truncated = [rec.image, rec.command_line].iter().flatten().filter(|t| t.truncated()).count();
        stats::add(&stats.worker.truncated_strings, truncated as u64);
        self.enrich_and_print(&rec, stats, env);
    }

    fn enrich_and_print(&mut self, rec: &Record<'_>, stats: &Stats, env: &mut impl WorkerEnv) {
        use record::Detail;
        let learn = match rec.detail {
            Detail::ProcessCreate { .. } => {
                let name = rec.image.map(|t| Name::from_path(t.units()));
                if !self.names.insert(rec.pid, name.as_ref()) {
                    stats::bump(&stats.worker.names_dropped);
                }
                false
            }
            Detail::ImageLoad { .. } if rec.pid == 0 => false,
            _ => true,
        };
        if learn && matches!(self.names.get(rec.pid), Entry::Unseen) {
            let mut name = Name::EMPTY;
            let found = env.process_image(rec.pid, &mut name);
            if !found {
                stats::bump(&stats.worker.lookup_failures);
            }
            if !self.names.insert(rec.pid, found.then_some(&name)) {
                stats::bump(&stats.worker.names_dropped);
            }
        }
        let entry = self.names.get(rec.pid);
        let process = match (learn, entry) {
            (false, _) => ProcessName::NotApplicable,
            (true, Entry::Known(name)) => ProcessName::Known(name),
            (true, _) => ProcessName::Unknown,
        };
        let ctx = Context { seq: self.seq, clock: self.clock, omit_command_line: self.omit_command_line, process };
        format::record(rec, &ctx, &mut self.line, |l| print(env, stats, l));
        if let Detail::ProcessExit { .. } = rec.detail {
            self.names.remove(rec.pid);
        }
    }

    fn print_stats(&mut self, label: &[u8], ring: &Ring, stats: &Stats, env: &mut impl WorkerEnv) {
        let snapshot = stats.snapshot();
        format::stats(label, &snapshot, ring.capacity(), &mut self.line, |l| print(env, stats, l));
    }

    fn maybe_print_stats(&mut self, ring: &Ring, stats: &Stats, env: &mut impl WorkerEnv) {
        if self.stats_every_ticks == 0 {
            return;
        }
        let now = env.now_ticks();
        if now.wrapping_sub(self.last_stats_ticks) >= self.stats_every_ticks {
            self.last_stats_ticks = now;
            self.print_stats(b"stats", ring, stats, env);
        }
    }
}

fn print(env: &mut impl WorkerEnv, stats: &Stats, line: Line<'_>) {
    stats::bump(&stats.worker.lines);
    env.print(line);
}

impl<Q: WorkQueue> Pipeline<Q> {
    /// The work item routine's body. Drains at most one batch per pass; re-queues itself
    /// through the schedule's gate when more is left, otherwise goes idle and re-checks.
    pub fn run_worker(&self, env: &mut impl WorkerEnv) {
        if self.schedule.enter() {
            self.worker.with_mut(|state| {
                // SAFETY: `enter` returned true, so this routine holds RUNNING: it is the
                // only party touching the worker state and consuming the ring until it
                // leaves RUNNING below.
                let state = unsafe { &mut *state };
                self.run_owned(state, env);
            });
        }
        // Last touch of the pipeline by this routine: unload may free it after this.
        self.schedule.exit();
    }

    fn run_owned(&self, state: &mut WorkerState, env: &mut impl WorkerEnv) {
        let counters = self.stats;
        stats::bump(&counters.worker.worker_runs);
        let mut budget = state.batch;
        loop {
            stats::raise(&counters.worker.high_water, self.ring.used());
            let (count, stop) = state.drain(&self.ring, counters, env, Some(budget));
            budget = budget.saturating_sub(count);
            stats::raise(&counters.worker.largest_batch, u64::from(state.batch.saturating_sub(budget)));
            state.maybe_print_stats(&self.ring, counters, env);
            if matches!(stop, Stop::Budget) {
                // Leaves RUNNING either way; the state must not be touched after this.
                self.schedule.requeue(&self.queue);
                return;
            }
            // Leaves RUNNING: from here only atomics of the ring and schedule.
            self.schedule.finish_run();
            if !self.ring.has_work() || !self.schedule.resume() {
                return;
            }
            // Resumed: RUNNING again, with what is left of this run's budget.
            if budget == 0 {
                self.schedule.requeue(&self.queue);
                return;
            }
        }
    }

    /// Unload, step 3: once stopped and idle, drains everything left, prints the final
    /// statistics line and returns the final counters.
    ///
    /// # Errors
    /// [`ShutdownError`] if [`Pipeline::stop`] was not called or the work item is
    /// still queued or running (poll [`Pipeline::is_idle`] and retry).
    pub fn shutdown(&self, env: &mut impl WorkerEnv) -> Result<Snapshot, ShutdownError> {
        if !self.schedule.is_stopping() {
            return Err(ShutdownError::NotStopping);
        }
        if !self.schedule.is_idle() {
            return Err(ShutdownError::Busy);
        }
        Ok(self.worker.with_mut(|state| {
            // SAFETY: stopped and idle: no routine is inside the pipeline and none can be
            // queued again, so the caller is the only consumer from now on.
            let state = unsafe { &mut *state };
            stats::raise(&self.stats.worker.high_water, self.ring.used());
            state.drain(&self.ring, self.stats, env, None);
            state.print_stats(b"final-stats", &self.ring, self.stats, env);
            self.stats.snapshot()
        }))
    }
}
