//! What the worker is given: a [`Host`] (what the kernel provides: the clock, the
//! look-ups by id, the token, the release of a held process) and a [`Sink`] (what
//! happens to the output: the debugger's lines, and each delivered record and loss for
//! a reader). The driver's host is the kernel, its sink the debugger wrapped in the
//! reader's ([`crate::reader::ReaderSink`] is above this module; it implements [`Sink`]).
//! Tests give the worker a host of tables and a sink that keeps what it is handed.

use super::format::Line;
use crate::delivered::Delivered;
use crate::vocab::process::{Lookup, Name};
use crate::vocab::start::ThreadStart;
use crate::vocab::token::TokenFacts;

/// What the kernel provides the worker.
///
/// The driver implements it with `KeQueryPerformanceCounter`, `PsLookupProcessByProcessId`
/// and `SeLocateProcessImageName`, the token queries and `ObfDereferenceObject`; tests
/// with tables.
pub trait Host {
    /// Current performance-counter ticks.
    fn now_ticks(&mut self) -> u64;
    /// Fills `name` with the image file name of process `pid` (on `Found`).
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup;
    /// Fills `facts` from the primary token of the process `object` is (a record's held
    /// reference, still held: the process may have exited, its object is alive). Returns
    /// how many of the token queries failed; each failure leaves its field `None`.
    /// Default: no token facts, no failures (a host that has no tokens).
    fn process_token(&mut self, _object: u64, _facts: &mut TokenFacts) -> u32 {
        0
    }
    /// When the process `pid` now names was created, as the system time (`KeQuerySystemTime`'s
    /// clock: 100 ns units since 1601) its creation was stamped with; `None` if the look-up
    /// failed (no such process any more). Asked only about a thread that another process
    /// created in `pid` when the worker did not see `pid` created: a process created before
    /// the driver started watching (`Pipeline::watching_since`) had its first thread then
    /// too. Default: `None` (the host cannot say).
    fn process_created(&mut self, _pid: u64) -> Option<u64> {
        None
    }
    /// Where the new thread `tid` of process `pid` starts: its Win32 start address and
    /// what `pid`'s memory holds there; `None` if the address cannot be read (the thread is
    /// gone, or `tid` now names a thread of another process). Asked for every thread
    /// created by another process that is not a new process's first. Default: `None`.
    fn thread_start(&mut self, _pid: u64, _tid: u64) -> Option<ThreadStart> {
        None
    }
    /// Drops the reference the process callback took on `object`
    /// (`Pipeline::record_holding`): called exactly once for every record that holds
    /// one, after [`Host::process_token`], whether the record decodes or not.
    fn release_process(&mut self, _object: u64) {}
}

/// What happens to the worker's output.
pub trait Sink {
    /// Prints one line (its `with_nul()` form is a C string).
    fn print(&mut self, line: Line<'_>);
    /// Each record, once, as the worker is about to print it, with what it decided about
    /// it: for a reader, which formats it itself. Default: nothing (a debugger only).
    fn delivered(&mut self, _event: &Delivered<'_>) {}
    /// `count` events were lost just before stream position `seq + 1` (the LOST line's
    /// place). Default: nothing.
    fn lost(&mut self, _seq: u64, _count: u64) {}
    /// Whether event and LOST lines are wanted for the record about to be printed (the
    /// reader's sink mutes them as `DebuggerOutput` says). Statistics lines are always
    /// printed. Default: yes.
    fn event_lines(&mut self) -> bool {
        true
    }
}

/// A host and a sink together: what the worker runs with. Implemented for every type
/// that is both (a test double whose clock moves as it prints), and for [`Both`].
pub trait WorkerEnv: Host + Sink {}

impl<T: Host + Sink + ?Sized> WorkerEnv for T {}

/// A host and a sink of separate types, as one [`WorkerEnv`].
pub struct Both<H, S> {
    /// What the kernel provides.
    pub host: H,
    /// Where the output goes.
    pub sink: S,
}

impl<H: Host, S> Host for Both<H, S> {
    fn now_ticks(&mut self) -> u64 {
        self.host.now_ticks()
    }
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.host.process_image(pid, name)
    }
    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        self.host.process_token(object, facts)
    }
    fn process_created(&mut self, pid: u64) -> Option<u64> {
        self.host.process_created(pid)
    }
    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        self.host.thread_start(pid, tid)
    }
    fn release_process(&mut self, object: u64) {
        self.host.release_process(object);
    }
}

impl<H, S: Sink> Sink for Both<H, S> {
    fn print(&mut self, line: Line<'_>) {
        self.sink.print(line);
    }
    fn delivered(&mut self, event: &Delivered<'_>) {
        self.sink.delivered(event);
    }
    fn lost(&mut self, seq: u64, count: u64) {
        self.sink.lost(seq, count);
    }
    fn event_lines(&mut self) -> bool {
        self.sink.event_lines()
    }
}

impl<H: Host + ?Sized> Host for &mut H {
    fn now_ticks(&mut self) -> u64 {
        (**self).now_ticks()
    }
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        (**self).process_image(pid, name)
    }
    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        (**self).process_token(object, facts)
    }
    fn process_created(&mut self, pid: u64) -> Option<u64> {
        (**self).process_created(pid)
    }
    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        (**self).thread_start(pid, tid)
    }
    fn release_process(&mut self, object: u64) {
        (**self).release_process(object);
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn print(&mut self, line: Line<'_>) {
        (**self).print(line);
    }
    fn delivered(&mut self, event: &Delivered<'_>) {
        (**self).delivered(event);
    }
    fn lost(&mut self, seq: u64, count: u64) {
        (**self).lost(seq, count);
    }
    fn event_lines(&mut self) -> bool {
        (**self).event_lines()
    }
}
