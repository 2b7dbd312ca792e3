//! Fuzz harness: the callback's record path fed arbitrary events, interleaved with work
//! item runs through the real schedule, then unload (stop, final run, shutdown).
//!
//! The events carry UTF-16 of any content and length up to 32,767 units, any ids, caps
//! and ring size.
//!
//! Checks: no double queue of the work item; every line fits one `DbgPrint`; the
//! output's sequence numbers advance by one per record and by `n` per `LOST n` marker
//! (every loss reported at its place); conservation per kind: recorded = delivered +
//! lost, every loss reported, and the `Recorded` outcomes agree with the counters.

use super::common::{Input, check_line, parse, seq_and_part};
use crate::record::Caps;
use crate::stats::Snapshot;
use crate::vocab::clock::Clock;
use crate::vocab::process::{Lookup, Name};
use crate::worker::format::{Line, PREFIX};
use crate::{ClientId, Config, Event, Host, Kind, Pipeline, Recorded, Sink, Stamp, Stats, WorkQueue};
use std::cell::Cell;
use std::string::String;
use std::vec::Vec;

/// One process-wide counter block (the driver's is a static too); each run checks the
/// difference it made.
static STATS: Stats = Stats::new();

/// `IoQueueWorkItem` as the kernel sees it: queueing an already queued item is bug
/// check 0xE4.
#[derive(Default)]
struct Queue {
    queued: Cell<bool>,
}

impl WorkQueue for Queue {
    fn queue(&self) {
        assert!(!self.queued.replace(true), "work item queued while already queued (bug check 0xE4)");
    }
    fn arm_sweep(&self) {}
}

/// The debugger, the process table and the clock.
struct Env {
    /// The stream position the next line must show.
    seq: u64,
    /// Continuation part expected next, and whose.
    part: (Option<u64>, u64),
    event_lines: u64,
    lost_reported: u64,
    lines: u64,
    name: Vec<u16>,
    lookups: u64,
    ticks: u64,
    tick_step: u64,
}

impl Host for Env {
    fn process_image(&mut self, _pid: u64, name: &mut Name) -> Lookup {
        self.lookups += 1;
        if self.lookups.is_multiple_of(3) {
            return Lookup::Failed;
        }
        if self.lookups.is_multiple_of(5) {
            return Lookup::NoImageFile;
        }
        *name = Name::from_path(self.name.iter().copied());
        Lookup::Found
    }
    fn now_ticks(&mut self) -> u64 {
        self.ticks = self.ticks.wrapping_add(self.tick_step);
        self.ticks
    }
}

impl Sink for Env {
    fn print(&mut self, line: Line<'_>) {
        check_line(&line);
        self.lines += 1;
        let text = line.text();
        let (seq, part) = seq_and_part(text);
        if part > 1 {
            assert_eq!((seq, part), (self.part.0, self.part.1 + 1), "continuation out of order");
            self.part.1 = part;
            return;
        }
        self.part = (seq, 1);
        let body = text.strip_prefix(PREFIX).unwrap_or(text);
        if let Some(count) = body.strip_prefix(b"LOST ") {
            let digits = count.iter().take_while(|b| b.is_ascii_digit()).count();
            let n = parse(&count[..digits]).expect("LOST count");
            self.seq += n;
            self.lost_reported += n;
        } else if let Some(seq) = seq {
            self.seq += 1;
            assert_eq!(seq, self.seq, "record line #{seq} where #{} belongs", self.seq);
            self.event_lines += 1;
        } else {
            assert!(
                body.starts_with(b"stats ") || body.starts_with(b"final-stats "),
                "unknown line {:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

fn diff(after: &Snapshot, before: &Snapshot) -> Snapshot {
    let mut d = Snapshot::default();
    for k in 0..5 {
        d.delivered[k] = after.delivered[k] - before.delivered[k];
        d.lost[k] = after.lost[k] - before.lost[k];
    }
    d.lost_reported = after.lost_reported - before.lost_reported;
    d.lost_contended = after.lost_contended - before.lost_contended;
    d.lines = after.lines - before.lines;
    d
}

fn run_queued(pipeline: &Pipeline<Queue>, env: &mut Env) {
    if pipeline.queue().queued.replace(false) {
        pipeline.run_worker(env);
    }
}

/// Runs the harness on one input (see the module doc); panics on a broken check.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let config = Config {
        ring_bytes: 4096 << (input.u8() % 5),
        caps: Caps { image: 16 + u32::from(input.u16()) % 32_752, command_line: u32::from(input.u16()) % 32_768 },
        batch: 1 + u32::from(input.u8() % 64),
        names: 16 << (input.u8() % 4),
        omit_command_line: input.bool(),
        stats_interval_s: u32::from(input.u8() % 3),
        ..Config::DEFAULT
    };
    let clock = Clock { start_ticks: input.u64(), frequency: u64::from(input.u8()) };
    let name_len = usize::from(input.u8() % 80);
    let mut env = Env {
        seq: 0,
        part: (None, 1),
        event_lines: 0,
        lost_reported: 0,
        lines: 0,
        name: input.units(name_len),
        lookups: 0,
        ticks: clock.start_ticks,
        tick_step: u64::from(input.u8()),
    };
    let pipeline = Pipeline::new(&config, clock, Queue::default(), &STATS).expect("a valid configuration");
    let before = STATS.snapshot();
    let mut recorded = [0u64; 5];
    let mut lost_outcomes = 0u64;
    let mut events = 0;
    while !input.is_empty() && events < 300 {
        if input.u8() % 4 == 3 {
            run_queued(&pipeline, &mut env);
            continue;
        }
        events += 1;
        let image = input.string(32_767);
        let command_line = input.string(32_767);
        let stamp = Stamp { ticks: input.u64(), cpu: input.u32() };
        let (pid, a, b, c) = (input.u64() % 64, input.u64(), input.u64() % 64, input.u64());
        let event = match input.u8() % 5 {
            0 => Event::ProcessCreate {
                pid,
                parent_pid: a,
                creator: ClientId { pid: b, tid: c },
                file_open_name_available: input.bool(),
                subsystem_process: input.bool(),
                image: image.as_deref(),
                command_line: command_line.as_deref(),
            },
            1 => Event::ProcessExit { pid, exit_status: input.u32() },
            2 => Event::ThreadCreate { pid, tid: a, creator: ClientId { pid: b, tid: c } },
            3 => Event::ThreadExit { pid, tid: a },
            _ => Event::ImageLoad {
                pid,
                base: a,
                size: c,
                kernel_image: input.bool(),
                signature_level: input.u8(),
                signature_type: input.u8(),
                image: image.as_deref(),
            },
        };
        recorded[event.kind().index()] += 1;
        if pipeline.record(stamp, &event) == Recorded::Lost {
            lost_outcomes += 1;
        }
    }
    // Unload: close the gate, let a queued run finish, drain the rest.
    pipeline.stop();
    run_queued(&pipeline, &mut env);
    assert!(!pipeline.queue().queued.get(), "queued after stop");
    assert!(pipeline.is_idle(), "idle once the last run returned");
    let after = pipeline.shutdown(&mut env).expect("stopped and idle");
    let d = diff(&after, &before);
    for kind in Kind::ALL {
        let k = kind.index();
        assert_eq!(d.delivered[k] + d.lost[k], recorded[k], "{kind:?}: recorded = delivered + lost");
    }
    assert_eq!(d.lost_total(), lost_outcomes, "Recorded::Lost outcomes = lost counters");
    assert_eq!(d.lost_reported, d.lost_total(), "every loss reported");
    assert_eq!(env.lost_reported, d.lost_total(), "LOST markers in the output add up to the losses");
    assert_eq!(env.event_lines, d.delivered_total(), "one logical line per delivered record");
    assert_eq!(env.seq, d.delivered_total() + d.lost_total(), "stream position");
    assert_eq!(env.lines, d.lines, "lines counted = lines printed");
}
