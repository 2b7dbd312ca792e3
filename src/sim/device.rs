//! The simulated `\\.\Global\NotifyRing`: the reader's [`Channel`] with the kernel's pieces.
//!
//! Those pieces: a lock, a cancel-safe queue of pending reads, opens and handle
//! cleanup, `CancelIoEx`, and the worker environment that feeds the channel — so that
//! the reader path runs on the simulated kernel exactly as the driver wires it.
//!
//! Every read ends exactly once: filled, cancelled or refused. [`SimDevice::leaks`]
//! counts reads still pending after a handle's cleanup or unload (must be 0).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use std::vec::Vec;

use crate::config::DebuggerOutput;
use crate::delivered::Delivered;
use crate::reader::open::{Access, Open, classify};
use crate::reader::{Channel, Device, Held, Lock, Pending, Read, ReadOutcome, ReaderCounters, ReaderSink};
use crate::vocab::clock::Clock;
use crate::vocab::process::{Lookup, Name};
use crate::vocab::start::ThreadStart;
use crate::vocab::token::TokenFacts;
use crate::worker::format::Line;
use crate::worker::{Host, Sink, WorkerEnv};

// Orderings in this file are SeqCst: test scaffolding (see the parent module).

/// The kernel's spin lock, as a mutex.
#[derive(Default)]
pub struct SimLock(Mutex<()>);

impl Lock for SimLock {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f()
    }
}

/// A read request that is just a buffer, and a plain queue of them: for tests that
/// drive a [`Channel`] by hand on one thread (no cancellation).
#[derive(Debug)]
pub struct VecRead(pub Vec<u8>);

impl Read for VecRead {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Pending [`VecRead`]s, oldest first, and the batches of those completed
/// (single-threaded).
#[derive(Default)]
pub struct VecReads {
    /// The pending reads.
    pub queue: core::cell::RefCell<VecDeque<VecRead>>,
    /// What each read completed through [`Pending::complete`] returned, in order.
    pub filled: core::cell::RefCell<Vec<Vec<u8>>>,
}

impl<L> Pending<L> for VecReads {
    type Read = VecRead;

    fn insert(&self, _: &Held<'_, L>, read: VecRead) -> Result<(), VecRead> {
        self.queue.borrow_mut().push_back(read);
        Ok(())
    }

    fn queued(&self, _: &Held<'_, L>) -> usize {
        self.queue.borrow().len()
    }

    fn remove_next(&self, _: Option<&Held<'_, L>>) -> Option<VecRead> {
        self.queue.borrow_mut().pop_front()
    }

    fn complete(&self, VecRead(mut bytes): VecRead, filled: usize) {
        bytes.truncate(filled);
        self.filled.borrow_mut().push(bytes);
    }
}

/// How a read ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Filled: the batch's bytes.
    Data(Vec<u8>),
    /// `STATUS_CANCELLED`.
    Cancelled,
    /// Refused: not the reader, or a buffer below `MIN_READ`.
    Refused,
    /// Refused: `MAX_PENDING_READS` reads wait already (`STATUS_TOO_MANY_COMMANDS`).
    TooMany,
}

/// One read request (an IRP): its buffer and where its completion goes.
pub struct SimRead {
    id: u64,
    buffer: Vec<u8>,
    done: Arc<Slot>,
}

#[derive(Default)]
struct Slot {
    result: Mutex<Option<Completion>>,
    ready: Condvar,
    /// Completions of this read (must end at exactly 1).
    completions: AtomicUsize,
}

impl SimRead {
    fn complete(self, how: impl FnOnce(Vec<u8>) -> Completion) {
        let Self { buffer, done, .. } = self;
        done.completions.fetch_add(1, Ordering::SeqCst);
        *done.result.lock().unwrap_or_else(PoisonError::into_inner) = Some(how(buffer));
        done.ready.notify_all();
    }
}

impl Read for SimRead {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buffer
    }
}

/// The cancel-safe queue of pending reads (the driver's list + cancel routine), with its own lock.
#[derive(Default)]
pub struct SimPending(Mutex<VecDeque<SimRead>>);

impl<L> Pending<L> for SimPending {
    type Read = SimRead;

    fn insert(&self, _: &Held<'_, L>, read: SimRead) -> Result<(), SimRead> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push_back(read);
        Ok(())
    }

    fn queued(&self, _: &Held<'_, L>) -> usize {
        self.len()
    }

    fn remove_next(&self, _: Option<&Held<'_, L>>) -> Option<SimRead> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }

    fn complete(&self, read: SimRead, filled: usize) {
        read.complete(|mut b| {
            b.truncate(filled);
            Completion::Data(b)
        });
    }
}

impl SimPending {
    /// `CancelIoEx` on read `id`: takes it out if it is still queued.
    fn remove(&self, id: u64) -> Option<SimRead> {
        let mut queue = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = queue.iter().position(|r| r.id == id)?;
        queue.remove(at)
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The device: channel, pending reads, and who is open.
pub struct SimDevice {
    channel: Channel<SimLock>,
    pending: SimPending,
    output: DebuggerOutput,
    next_id: AtomicU64,
}

/// Why an open failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Another reader is attached (`STATUS_SHARING_VIOLATION`).
    ReaderAttached,
    /// A name inside the device (`STATUS_OBJECT_NAME_NOT_FOUND`).
    NoSuchName,
}

impl SimDevice {
    /// A device with a `reader_bytes` buffer; `None` if the allocation fails.
    #[must_use]
    pub fn new(reader_bytes: usize, clock: Clock, output: DebuggerOutput) -> Option<Arc<Self>> {
        let channel = Channel::try_new(reader_bytes, clock, SimLock::default())?;
        Some(Arc::new(Self { channel, pending: SimPending::default(), output, next_id: AtomicU64::new(1) }))
    }

    /// `OmitCommandLine=1`: every batch says command lines are omitted.
    pub fn omit_command_lines(&self, omitted: bool) {
        self.channel.set_command_lines_omitted(omitted);
    }

    /// An open (`IRP_MJ_CREATE`) of `name` inside the device (`""`: the device itself)
    /// carrying `access` (`None`: no security context), decided as the driver's create
    /// dispatch decides it ([`classify`]): a name inside the device is not found; one
    /// with read access attaches as the reader; one without may only ask for the status
    /// (its reads are refused); one without a security context (Wine 8's) attaches
    /// nothing, and its first read makes it the reader if no other is
    /// (`Channel::attach_at_read`).
    ///
    /// # Errors
    /// [`OpenError::NoSuchName`] for a name inside the device;
    /// [`OpenError::ReaderAttached`] if it asks to read and another reader is attached.
    pub fn open(self: &Arc<Self>, name: &str, access: Option<Access>) -> Result<ReaderHandle, OpenError> {
        let open = classify(name.encode_utf16().count().saturating_mul(2), access);
        if open == Open::NoSuchName {
            return Err(OpenError::NoSuchName);
        }
        let handle = self.handle(open == Open::Unclassified);
        match open {
            Open::Reader if !self.channel.attach(handle.file) => Err(OpenError::ReaderAttached),
            _ => Ok(handle),
        }
    }

    /// A new file object on the device.
    fn handle(self: &Arc<Self>, unclassified: bool) -> ReaderHandle {
        let file = usize::try_from(self.next_id.fetch_add(1, Ordering::SeqCst)).unwrap_or(usize::MAX);
        ReaderHandle { device: self.clone(), file, closed: false, unclassified }
    }

    /// An open with read access (`GENERIC_READ`, as the CLI's): attaches the reader.
    ///
    /// # Errors
    /// [`OpenError::ReaderAttached`] if another reader is attached.
    pub fn open_reader(self: &Arc<Self>) -> Result<ReaderHandle, OpenError> {
        self.open("", Some(Access { desired: crate::reader::open::GENERIC_READ, granted: 0 }))
    }

    /// An open whose create carried no security context (Wine 8's): `open("", None)`, which
    /// attaches nothing and so cannot fail.
    #[must_use]
    pub fn open_unclassified(self: &Arc<Self>) -> ReaderHandle {
        self.handle(true)
    }

    /// Whether a reader is attached.
    #[must_use]
    pub fn attached(&self) -> bool {
        self.channel.with(|s| s.attached())
    }

    /// The reader's counters.
    #[must_use]
    pub fn counters(&self) -> ReaderCounters {
        self.channel.with(|s| s.counters())
    }

    /// Bytes waiting for the reader.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.channel.with(|s| s.buffered())
    }

    /// Whether a read would get anything (buffered entries, or a LOST not yet appended).
    #[must_use]
    pub fn has_data(&self) -> bool {
        self.channel.with(|s| s.has_data())
    }

    /// Reads still queued (after a cleanup or unload: leaks, must be 0).
    #[must_use]
    pub fn leaks(&self) -> usize {
        self.pending.len()
    }

    /// Unload's last step for the device: whatever reader is attached is detached and
    /// every pending read cancelled.
    pub fn unload(&self) {
        self.channel.detach_any(&self.pending, |r| r.complete(|_| Completion::Cancelled));
        while let Some(read) = Pending::<SimLock>::remove_next(&self.pending, None) {
            read.complete(|_| Completion::Cancelled);
        }
    }

    /// The worker environment that feeds this device, around `inner`.
    #[must_use]
    pub fn env<E: WorkerEnv>(self: &Arc<Self>, inner: E) -> DeviceEnv<E> {
        DeviceEnv { sink: ReaderSink { device: self.clone(), output: self.output, debugger: inner } }
    }
}

/// An open reader handle.
pub struct ReaderHandle {
    device: Arc<SimDevice>,
    file: usize,
    closed: bool,
    /// Opened without a security context: becomes the reader at its first read.
    unclassified: bool,
}

/// A read in flight.
pub struct Ticket {
    id: u64,
    done: Arc<Slot>,
    device: Arc<SimDevice>,
}

impl ReaderHandle {
    /// `ReadFile` of `len` bytes: completed at once, or pending.
    #[must_use]
    pub fn read(&self, len: usize) -> Ticket {
        let id = self.device.next_id.fetch_add(1, Ordering::SeqCst);
        let done = Arc::new(Slot::default());
        let read = SimRead { id, buffer: std::vec![0u8; len], done: done.clone() };
        if self.unclassified && !self.device.channel.attach_at_read(self.file) {
            // STATUS_SHARING_VIOLATION: another open is the reader.
            read.complete(|_| Completion::Refused);
            return Ticket { id, done, device: self.device.clone() };
        }
        match self.device.channel.read(self.file, &self.device.pending, read) {
            ReadOutcome::Filled(read, n) => read.complete(|mut b| {
                b.truncate(n);
                Completion::Data(b)
            }),
            ReadOutcome::Pending => {}
            ReadOutcome::Cancelled(read) => read.complete(|_| Completion::Cancelled),
            ReadOutcome::NotReader(read) | ReadOutcome::TooSmall(read) => read.complete(|_| Completion::Refused),
            ReadOutcome::TooMany(read) => read.complete(|_| Completion::TooMany),
        }
        Ticket { id, done, device: self.device.clone() }
    }

    /// Handle close: `IRP_MJ_CLEANUP` detaches the reader and cancels its pending reads
    /// (under Wine, which sends no cleanup, `IRP_MJ_CLOSE` does the same).
    pub fn close(mut self) {
        self.cleanup();
    }

    fn cleanup(&mut self) {
        if !self.closed {
            self.closed = true;
            self.device.channel.detach(self.file, &self.device.pending, |r| r.complete(|_| Completion::Cancelled));
        }
    }
}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl Ticket {
    /// The completion, if there is one yet.
    #[must_use]
    pub fn poll(&self) -> Option<Completion> {
        self.done.result.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits up to `timeout` for the completion.
    #[must_use]
    pub fn wait(&self, timeout: Duration) -> Option<Completion> {
        let guard = self.done.result.lock().unwrap_or_else(PoisonError::into_inner);
        self.done
            .ready
            .wait_timeout_while(guard, timeout, |r| r.is_none())
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// `CancelIoEx`: completes the read cancelled if it is still pending.
    pub fn cancel(&self) {
        if let Some(read) = self.device.pending.remove(self.id) {
            read.complete(|_| Completion::Cancelled);
        }
    }

    /// How many times the read was completed (exactly 1 once it has ended).
    #[must_use]
    pub fn completions(&self) -> usize {
        self.done.completions.load(Ordering::SeqCst)
    }
}

/// The worker's environment with this device: `inner` is the host, and the debugger
/// inside the reader's sink ([`ReaderSink`], the one the driver runs).
pub struct DeviceEnv<E> {
    sink: ReaderSink<Arc<SimDevice>, E>,
}

impl<E> DeviceEnv<E> {
    /// The environment this one wraps.
    #[must_use]
    pub const fn inner(&self) -> &E {
        &self.sink.debugger
    }

    /// The environment this one wraps, taken back (after unload).
    #[must_use]
    pub fn into_inner(self) -> E {
        self.sink.debugger
    }
}

impl<E: Host> Host for DeviceEnv<E> {
    fn now_ticks(&mut self) -> u64 {
        self.sink.debugger.now_ticks()
    }
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.sink.debugger.process_image(pid, name)
    }
    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        self.sink.debugger.process_token(object, facts)
    }
    fn process_created(&mut self, pid: u64) -> Option<u64> {
        self.sink.debugger.process_created(pid)
    }
    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        self.sink.debugger.thread_start(pid, tid)
    }
    fn release_process(&mut self, object: u64) {
        self.sink.debugger.release_process(object);
    }
}

impl<E: Sink> Sink for DeviceEnv<E> {
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

impl Device for Arc<SimDevice> {
    type Lock = SimLock;
    type Pending = SimPending;
    fn channel(&self) -> &Channel<SimLock> {
        &self.channel
    }
    fn pending(&self) -> &SimPending {
        &self.pending
    }
}
