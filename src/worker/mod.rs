//! Step 5: the work item routine's side. Everything slow happens here: draining the
//! ring in bounded runs, resolving process names, formatting and printing.
//!
//! A run ends after `BatchSize` records or once it has run `RunBudgetMilliseconds`,
//! whichever comes first, and re-queues itself through the gate: with a kernel
//! debugger attached every line is a synchronous round trip, and a work item must not
//! hold a system worker thread for long. The budget is checked before every line, so a
//! run lasts at most the budget plus one line; a record whose lines do not all fit is
//! kept at the ring's head and finished by the next run.
//!
//! The processors' rings are merged into one stream ([`Rings::oldest`] says in which
//! order). A ring's losses are reported (a LOST line, or its object) right before that
//! ring's next record in the merged stream, or once that ring is empty and no ring has a
//! committed record; `#N` counts every event delivered or lost before it, so its gaps
//! still equal the LOST counts.
//!
//! [`WorkerState`] is what only the consumer touches; the pipeline runs it under the
//! schedule's protocol (`Pipeline::run_worker`), which gives it the rings only while it
//! owns RUNNING.

mod env;
pub mod format;
pub mod names;

pub use env::{Both, Host, Sink, WorkerEnv};

use crate::config::Config;
use crate::delivered::Delivered;
use crate::record::{self, Record};
use crate::ring::Pop;
use crate::rings::{Next, Rings};
use crate::stats::{self, Stats};
use crate::vocab::clock::Clock;
use crate::vocab::process::{Lookup, Name, Origin, ProcessName};
use crate::vocab::start::ThreadStart;
use crate::vocab::token::TokenFacts;
use format::{Context, LINE_BUF, Line};
use names::Names;

/// The process every Windows since XP runs as pid 4; it has no image file, and
/// Sysmon, Task Manager and Process Explorer all call it `System`.
pub const SYSTEM_PID: u64 = 4;

/// State only the consumer touches.
pub struct WorkerState {
    names: Names,
    line: [u8; LINE_BUF],
    /// Stream position: records delivered plus events reported lost.
    seq: u64,
    /// Events reported lost so far (the pid table compares against it).
    losses: u64,
    /// The system time just before the process routine was registered (0: unknown), as
    /// `Pipeline::watching_since` set it; read at the start of each run.
    watch_start: u64,
    /// Whether kernel addresses may be shown (`KernelImageBases`).
    kernel_addresses: bool,
    clock: Clock,
    batch: u32,
    /// A run stops printing once it has run this long (and printed at least a line).
    budget_ticks: u64,
    omit_command_line: bool,
    stats_every_ticks: u64,
    last_stats_ticks: u64,
    /// The record at the ring's head, if a run stopped part-way through its lines.
    head: Option<Head>,
    /// The current run: when it started and how many lines it printed.
    run: Run,
}

/// A record the worker has started on but not finished printing.
#[derive(Clone, Copy)]
struct Head {
    /// The ring it is at the head of.
    ring: usize,
    seq: u64,
    origin: Origin,
    /// The record's physical lines already printed (its LOST marker not counted).
    printed: u32,
    /// No lines for this record (`Sink::event_lines` said so when it was taken).
    muted: bool,
    /// The token facts read when it was taken (its reference is already dropped).
    token: Option<TokenFacts>,
    /// The thread's start facts, read when it was taken.
    start: Option<ThreadStart>,
}

#[derive(Clone, Copy, Default)]
struct Run {
    start: u64,
    lines: u32,
    /// Records this run may still take.
    left: u32,
    /// Whether the budget is spent (set by the first line refused).
    spent: bool,
}

/// What [`WorkerState::learn`] decided about a record.
struct Learnt {
    origin: Origin,
    start: Option<ThreadStart>,
}

/// Why the drain loop stopped.
enum Stop {
    Empty,
    Busy,
    Budget,
}

/// How one pass over the rings ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The run's budget (records or time) is spent and records are left: re-queue.
    Budget,
    /// No committed record is left (some ring's head may still be being copied).
    Drained,
}

impl WorkerState {
    pub(crate) fn try_new(config: &Config, clock: Clock) -> Option<Self> {
        Some(Self {
            names: Names::try_new(config.names)?,
            line: [0; LINE_BUF],
            seq: 0,
            losses: 0,
            watch_start: 0,
            kernel_addresses: config.kernel_image_bases,
            clock,
            batch: config.batch.max(1),
            budget_ticks: u64::from(config.run_budget_ms).saturating_mul(clock.frequency) / 1000,
            omit_command_line: config.omit_command_line,
            stats_every_ticks: u64::from(config.stats_interval_s).saturating_mul(clock.frequency),
            last_stats_ticks: clock.start_ticks,
            head: None,
            run: Run::default(),
        })
    }

    /// Starts a work item run: its budgets, and the watch's start time as the pipeline
    /// holds it now.
    pub(crate) fn begin_run(&mut self, stats: &Stats, env: &mut impl WorkerEnv, watch_start: u64) {
        stats::bump(&stats.worker.worker_runs);
        let start = env.now_ticks();
        self.run = Run { start, lines: 0, left: self.batch, spent: false };
        self.watch_start = watch_start;
    }

    /// One pass of a run: drains what the run's budgets allow, prints the periodic
    /// statistics line when due, and says whether records are left for another run.
    pub(crate) fn pass(&mut self, rings: &Rings, stats: &Stats, env: &mut impl WorkerEnv) -> Pass {
        rings.raise_high_water(stats);
        let (count, stop) = self.drain(rings, stats, env, Some(self.run.left));
        self.run.left = self.run.left.saturating_sub(count);
        stats::raise(&stats.worker.largest_batch, u64::from(self.batch.saturating_sub(self.run.left)));
        self.maybe_print_stats(rings.capacity(), stats, env);
        stats::raise(&stats.worker.longest_run_ticks, env.now_ticks().wrapping_sub(self.run.start));
        if matches!(stop, Stop::Budget) { Pass::Budget } else { Pass::Drained }
    }

    /// Whether the run's record or time budget is spent.
    pub(crate) const fn spent(&self) -> bool {
        self.run.left == 0 || self.run.spent
    }

    /// Unload's final drain: everything left, untimed, then the final statistics line.
    pub(crate) fn drain_all(&mut self, rings: &Rings, stats: &Stats, env: &mut impl WorkerEnv, watch_start: u64) {
        rings.raise_high_water(stats);
        self.run = Run::default();
        self.watch_start = watch_start;
        self.drain(rings, stats, env, None);
        self.print_stats(b"final-stats", rings.capacity(), stats, env);
    }

    /// Whether this run may print another line (see [`may_print`]).
    fn may_print(&mut self, env: &mut impl WorkerEnv, timed: bool) -> bool {
        may_print(&mut self.run, self.budget_ticks, env, timed)
    }

    /// Which ring's head goes next: the ring whose head a run left half-printed, else
    /// the merge's choice.
    fn pick(&self, rings: &Rings) -> Next {
        if let Some(head) = self.head {
            return Next::Ring(head.ring);
        }
        // SAFETY: the worker state is touched only by the party that owns the consumer
        // side (see `WorkerState`).
        unsafe { rings.oldest() }
    }

    /// Drains up to `budget` records (all of them, untimed, if `None`) from the rings,
    /// merged: see the module documentation for the order this gives.
    fn drain(&mut self, rings: &Rings, stats: &Stats, env: &mut impl WorkerEnv, budget: Option<u32>) -> (u32, Stop) {
        let mut count = 0u32;
        let timed = budget.is_some();
        loop {
            if budget.is_some_and(|b| count >= b) || (timed && self.run.spent) {
                return (count, Stop::Budget);
            }
            let (index, ring) = match self.pick(rings) {
                Next::Ring(i) => match rings.get(i) {
                    Some(ring) => (i, ring),
                    None => return (count, Stop::Empty),
                },
                stop => {
                    // No committed head anywhere: report the losses of the rings that are
                    // empty (a busy ring's losses wait for the record reserved after them).
                    for ring in rings {
                        // SAFETY: as below; it takes nothing from a ring that is not empty.
                        let trailing = unsafe { ring.take_trailing_losses() };
                        // Printed even past the budget: the count is already taken.
                        let muted = trailing != 0 && !env.event_lines();
                        self.report_lost(trailing, stats, env, muted);
                    }
                    if matches!(stop, Next::Busy) {
                        stats::bump(&stats.worker.busy_stops);
                        return (count, Stop::Busy);
                    }
                    return (count, Stop::Empty);
                }
            };
            // SAFETY: the caller owns the consumer side (RUNNING, or stopped and idle).
            let popped = unsafe {
                ring.pop_or_keep(|lost_before, bytes| {
                    self.deliver(index, lost_before, bytes, stats, env, timed).then_some(())
                })
            };
            match popped {
                Pop::Record { value: Some(()), .. } => count = count.wrapping_add(1),
                Pop::Record { value: None, .. } => return (count, Stop::Budget),
                // The head `pick` saw is gone only if it was a pad; look again.
                Pop::Empty | Pop::Busy => {}
            }
        }
    }

    /// Reports `count` lost events at the stream's current place: to the env, and as a
    /// LOST line unless `muted`.
    fn report_lost(&mut self, count: u64, stats: &Stats, env: &mut impl WorkerEnv, muted: bool) {
        if count == 0 {
            return;
        }
        env.lost(self.seq, count);
        self.seq = self.seq.wrapping_add(count);
        self.losses = self.losses.wrapping_add(count);
        stats::add(&stats.worker.lost_reported, count);
        if muted {
            return;
        }
        let run = &mut self.run;
        format::lost(count, &mut self.line, |l| {
            run.lines = run.lines.wrapping_add(1);
            print(env, stats, l);
        });
    }

    /// One record: LOST marker first (if any), then enrich, format and print. Returns
    /// false if the run's budget ran out part-way: the record stays at the head and
    /// the next run resumes after the lines already printed.
    // Not inlined into `drain`: there LLVM keeps `memcpy`'s address in a callee-saved
    // register across branches, a call the link-time no-panic proof cannot follow.
    #[inline(never)]
    fn deliver(
        &mut self,
        ring: usize,
        lost_before: u32,
        bytes: &[u8],
        stats: &Stats,
        env: &mut impl WorkerEnv,
        timed: bool,
    ) -> bool {
        let decoded = record::decode(bytes);
        let head = if let Some(head) = self.head {
            head
        } else {
            if !self.may_print(env, timed) {
                return false;
            }
            let muted = !env.event_lines();
            self.report_lost(u64::from(lost_before), stats, env, muted);
            self.seq = self.seq.wrapping_add(1);
            // The held reference is used and dropped here, once, on the record's first
            // visit: a record kept for the next run keeps its facts, not the reference.
            let token = record::held(bytes).map(|object| {
                let mut facts = TokenFacts::default();
                let failures = env.process_token(object, &mut facts);
                env.release_process(object);
                stats::add(&stats.worker.token_failures, u64::from(failures));
                facts
            });
            let Ok(rec) = &decoded else {
                let mut l = format::Lines::new(&mut self.line, Some(self.seq), |l| print(env, stats, l));
                l.key_dec(b"#", self.seq);
                l.put(b" undecodable record");
                l.finish();
                return true;
            };
            let Learnt { origin, start } = self.learn(rec, stats, env);
            let process = process_name(&self.names, rec);
            let token_ref = token.as_ref();
            env.delivered(&Delivered { seq: self.seq, record: rec, bytes, origin, process, token: token_ref, start });
            Head { ring, seq: self.seq, origin, printed: 0, muted, token, start }
        };
        // A kept record decoded when it was first visited, so this cannot fail.
        let Ok(rec) = decoded else { return true };
        let process = process_name(&self.names, &rec);
        let ctx = Context {
            seq: head.seq,
            clock: self.clock,
            omit_command_line: self.omit_command_line,
            process,
            origin: head.origin,
            token: head.token.as_ref(),
            start: head.start,
        };
        // Lines before `head.printed` went out in an earlier run; formatting is
        // deterministic, so they are formatted again and skipped. A muted record is not
        // formatted at all.
        let (mut index, mut printed, mut kept) = (0u32, head.printed, false);
        if head.muted {
            return self.finish_record(&rec, stats);
        }
        let (run, budget) = (&mut self.run, self.budget_ticks);
        format::record(&rec, &ctx, &mut self.line, |l| {
            if index >= head.printed && !kept {
                if may_print(run, budget, env, timed) {
                    run.lines = run.lines.wrapping_add(1);
                    printed = printed.wrapping_add(1);
                    print(env, stats, l);
                } else {
                    kept = true;
                }
            }
            index = index.wrapping_add(1);
        });
        if kept {
            self.head = Some(Head { printed, ..head });
            return false;
        }
        self.finish_record(&rec, stats)
    }

    /// A record's lines are all out (or muted): count it, forget an exited process.
    fn finish_record(&mut self, rec: &Record<'_>, stats: &Stats) -> bool {
        self.head = None;
        if let Some(c) = stats.worker.delivered.get(rec.kind.index()) {
            stats::bump(c);
        }
        // An omitted command line is not copied at all, which is not a truncation.
        let command_line = rec.command_line.filter(|_| !self.omit_command_line);
        let truncated = [rec.image, command_line].iter().flatten().filter(|t| t.truncated()).count();
        stats::add(&stats.worker.truncated_strings, truncated as u64);
        if let record::Detail::ProcessExit { .. } = rec.detail {
            self.names.remove(rec.pid);
        }
        true
    }

    /// What the worker learns from a record before printing it (once per record): the
    /// pid table's name and thread facts; for a thread-create, its origin and, for one from
    /// another process, its start address.
    fn learn(&mut self, rec: &Record<'_>, stats: &Stats, env: &mut impl WorkerEnv) -> Learnt {
        use record::Detail;
        const LOCAL: Learnt = Learnt { origin: Origin::Local, start: None };
        match rec.detail {
            Detail::ProcessCreate { creator, .. } => {
                let name = rec.image.map(|t| Name::from_path(t.units()));
                if !self.names.insert_created(rec.pid, name.as_ref(), creator, self.losses) {
                    stats::bump(&stats.worker.names_dropped);
                }
                return LOCAL;
            }
            Detail::ImageLoad { .. } if rec.pid == 0 => return LOCAL,
            _ => {}
        }
        if self.names.get(rec.pid).is_none() {
            let mut name = Name::EMPTY;
            let found = if rec.pid == SYSTEM_PID {
                // No image file to look up, and no failure either.
                name = Name::from_path("System".encode_utf16());
                Lookup::Found
            } else {
                env.process_image(rec.pid, &mut name)
            };
            if found == Lookup::Failed {
                stats::bump(&stats.worker.lookup_failures);
            }
            if !self.names.insert_lookup(rec.pid, found, &name) {
                stats::bump(&stats.worker.names_dropped);
            }
        }
        match rec.detail {
            Detail::ThreadCreate { tid, creator } => {
                let mut origin = self.names.thread_origin(rec.pid, creator, self.losses);
                if origin == Origin::Unknown && !self.names.seen_created(rec.pid) {
                    origin = self.older_than_the_watch(rec.pid, env);
                }
                let start = if matches!(origin, Origin::Remote | Origin::Unknown) {
                    let start = env.thread_start(rec.pid, tid);
                    if start.is_none() {
                        stats::bump(&stats.worker.start_failures);
                    }
                    start.and_then(|s| s.shown(self.kernel_addresses))
                } else {
                    None
                };
                Learnt { origin, start }
            }
            Detail::ThreadExit { .. } => {
                self.names.note_thread(rec.pid);
                LOCAL
            }
            _ => LOCAL,
        }
    }

    /// A thread created in `pid` by another process, when the worker did not see `pid`
    /// created: `Remote` if `pid` was created before the watch started (it had its first
    /// thread then too), else `Unknown`. Both times come from the same clock, whose ticks
    /// are coarse (about 15.6 ms): a tie says nothing, and neither does a failed look-up.
    fn older_than_the_watch(&self, pid: u64, env: &mut impl WorkerEnv) -> Origin {
        if self.watch_start == 0 {
            return Origin::Unknown;
        }
        match env.process_created(pid) {
            Some(created) if created < self.watch_start => Origin::Remote,
            _ => Origin::Unknown,
        }
    }

    fn print_stats(&mut self, label: &[u8], capacity: u64, stats: &Stats, env: &mut impl WorkerEnv) {
        let snapshot = stats.snapshot();
        let run = &mut self.run;
        format::stats(label, &snapshot, capacity, self.clock, &mut self.line, |l| {
            run.lines = run.lines.wrapping_add(1);
            print(env, stats, l);
        });
    }

    /// The periodic statistics line, when due and the run's budget allows a line (else
    /// the next run prints it).
    fn maybe_print_stats(&mut self, capacity: u64, stats: &Stats, env: &mut impl WorkerEnv) {
        if self.stats_every_ticks == 0 {
            return;
        }
        let now = env.now_ticks();
        if now.wrapping_sub(self.last_stats_ticks) >= self.stats_every_ticks && self.may_print(env, true) {
            self.last_stats_ticks = now;
            self.print_stats(b"stats", capacity, stats, env);
        }
    }
}

/// The `proc=` name for `rec`'s process.
fn process_name<'n>(names: &'n Names, rec: &Record<'_>) -> ProcessName<'n> {
    use record::Detail;
    match rec.detail {
        Detail::ProcessCreate { .. } => ProcessName::NotApplicable,
        Detail::ImageLoad { .. } if rec.pid == 0 => ProcessName::NotApplicable,
        _ => names.get(rec.pid).unwrap_or(ProcessName::Unknown),
    }
}

/// Whether a run may print another line: always its first (so every run makes
/// progress), then only while it has run for less than `budget` ticks. Untimed (unload's
/// final drain, which may take its time): always.
fn may_print(run: &mut Run, budget: u64, env: &mut impl WorkerEnv, timed: bool) -> bool {
    if !timed || run.lines == 0 {
        return true;
    }
    if !run.spent && env.now_ticks().wrapping_sub(run.start) >= budget {
        run.spent = true;
    }
    !run.spent
}

fn print(env: &mut impl WorkerEnv, stats: &Stats, line: Line<'_>) {
    stats::bump(&stats.worker.lines);
    env.print(line);
}
