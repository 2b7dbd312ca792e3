//! Link-time proof that nothing reachable from the callback path, the work item gate,
//! the timer's tick, the worker (drain, names, formatting, final drain) or the reader's
//! channel (the worker feeding it, the read dispatch) can panic.
//!
//! Compiled only with `--cfg notifyring_no_std` (`tools/prove-no-panic.sh`): the crate's
//! cdylib then exports these entry points with concrete types. The panic handler
//! calls a symbol that exists nowhere, and the link runs with `--no-undefined`: if any
//! exported function can reach a panic after optimisation (bounds checks, overflow
//! checks, `unwrap`, debug assertions, division by zero, …), the handler is reachable,
//! the symbol is needed, and the link fails. Run: `tools/prove-no-panic.sh`.

use crate::config::DebuggerOutput;
use crate::reader::{Channel, Device, Held, Lock, Pending, Read, ReadOutcome, ReaderSink};
use crate::record;
use crate::vocab::clock::Clock;
use crate::vocab::process::ProcessName;
use crate::vocab::process::{Lookup, Name, Origin};
use crate::worker::format::{self, Context, LINE_BUF, Line};
use crate::worker::{Both, Host, Sink};
use crate::{ClientId, Event, Pipeline, Stamp, WorkQueue};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

/// Construction (the only allocating code) is not an entry point of the proof; this
/// allocator exists only because a `no_std` cdylib must name one.
struct NoAlloc;

// SAFETY: never hands out memory; null is the documented failure value.
unsafe impl GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _: Layout) -> *mut u8 {
        ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoAlloc = NoAlloc;

unsafe extern "C" {
    /// Deliberately defined nowhere: referenced only if a panic is reachable.
    fn notifyring_panic_is_reachable() -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: never called in a successful proof; if it is reachable the link fails.
    unsafe { notifyring_panic_is_reachable() }
}

/// Hands `value` to the optimiser as if it were used.
const fn observe(value: u64) {
    core::hint::black_box(value);
}

/// A value the optimiser cannot predict.
const fn opaque() -> u64 {
    core::hint::black_box(0)
}

/// Stands in for `IoQueueWorkItem`.
pub struct Queue;

impl WorkQueue for Queue {
    fn queue(&self) {
        observe(1);
    }
    fn arm_sweep(&self) {
        observe(2);
    }
}

/// Stands in for the driver's `DbgPrintEx` / process look-up / clock.
pub struct Env;

impl Host for Env {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        let units = [(opaque() & 0xffff) as u16; 7];
        *name = Name::from_path(units.iter().copied());
        match pid & 12 {
            0 => Lookup::Failed,
            4 => Lookup::NoImageFile,
            _ => Lookup::Found,
        }
    }
    fn now_ticks(&mut self) -> u64 {
        opaque()
    }
}

impl Sink for Env {
    fn print(&mut self, line: Line<'_>) {
        for &b in line.with_nul() {
            observe(u64::from(b));
        }
    }
}

/// Builds an optional borrowed string from a raw pointer, as the driver does from a
/// `UNICODE_STRING`.
///
/// # Safety
/// `ptr` is null or valid for `len` units.
const unsafe fn units<'a>(ptr: *const u16, len: usize) -> Option<&'a [u16]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller's contract.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// The callback path, every kind.
///
/// # Safety
/// `pipeline` is valid; each string pointer is null or valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn proof_record(
    pipeline: &Pipeline<Queue>,
    kind: u8,
    ids: &[u64; 4],
    flags: u8,
    image: *const u16,
    image_len: usize,
    command_line: *const u16,
    command_line_len: usize,
) -> u8 {
    // SAFETY: forwarded contract.
    let image = unsafe { units(image, image_len) };
    // SAFETY: forwarded contract.
    let command_line = unsafe { units(command_line, command_line_len) };
    let [a, b, c, d] = *ids;
    let creator = ClientId { pid: c, tid: d };
    let event = match kind {
        0 => Event::ProcessCreate {
            pid: a,
            parent_pid: b,
            creator,
            file_open_name_available: flags & 1 != 0,
            subsystem_process: flags & 2 != 0,
            image,
            command_line,
        },
        1 => Event::ProcessExit { pid: a, exit_status: (b & 0xffff_ffff) as u32 },
        2 => Event::ThreadCreate { pid: a, tid: b, creator },
        3 => Event::ThreadExit { pid: a, tid: b },
        _ => Event::ImageLoad {
            pid: a,
            base: b,
            size: c,
            kernel_image: flags & 1 != 0,
            signature_level: (d & 0xff) as u8,
            signature_type: ((d >> 8) & 0xff) as u8,
            image,
        },
    };
    pipeline.record(Stamp { ticks: opaque(), cpu: flags.into() }, &event) as u8
}

/// The work item routine.
#[unsafe(no_mangle)]
pub extern "C" fn proof_run_worker(pipeline: &Pipeline<Queue>) {
    pipeline.run_worker(&mut Env);
}

/// The timer's DPC body.
#[unsafe(no_mangle)]
pub extern "C" fn proof_tick(pipeline: &Pipeline<Queue>) {
    pipeline.tick();
}

/// The idle sweep's DPC.
#[unsafe(no_mangle)]
pub extern "C" fn proof_sweep(pipeline: &Pipeline<Queue>) {
    pipeline.sweep();
}

/// Unload: STOPPING, idle check, final drain.
#[unsafe(no_mangle)]
pub extern "C" fn proof_unload(pipeline: &Pipeline<Queue>) -> bool {
    pipeline.stop();
    pipeline.is_idle() && pipeline.shutdown(&mut Env).is_ok()
}

/// The decoder and formatter on arbitrary bytes (a corrupt ring).
///
/// # Safety
/// `bytes` is valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn proof_decode_format(bytes: *const u8, len: usize, seq: u64) {
    // SAFETY: the caller's contract.
    let bytes = unsafe { core::slice::from_raw_parts(bytes, len) };
    let mut buf = [0u8; LINE_BUF];
    let Ok(rec) = record::decode(bytes) else { return };
    let name = Name::from_path(bytes.chunks_exact(2).map(|p| u16::from(p.first().copied().unwrap_or(0))));
    let token = crate::vocab::token::TokenFacts {
        user: crate::vocab::token::Sid::from_bytes(bytes),
        integrity: u32::try_from(opaque()).ok(),
        app_container: seq & 64 != 0,
        logon_id: Some(opaque()),
    };
    let ctx = Context {
        seq,
        clock: Clock { start_ticks: opaque(), frequency: opaque() },
        omit_command_line: seq & 1 != 0,
        process: match seq & 6 {
            0 => ProcessName::Unknown,
            2 => ProcessName::Known(&name),
            4 => ProcessName::NoImageFile,
            _ => ProcessName::NotApplicable,
        },
        origin: match (seq >> 3) & 3 {
            0 => Origin::Local,
            1 => Origin::Initial,
            2 => Origin::Remote,
            _ => Origin::Unknown,
        },
        token: (seq & 32 != 0).then_some(&token),
        start: (seq & 128 != 0).then(|| crate::vocab::start::ThreadStart {
            address: opaque(),
            region: match (seq >> 8) & 3 {
                0 => crate::vocab::start::StartRegion::Unknown,
                1 => crate::vocab::start::StartRegion::NoImage,
                _ => crate::vocab::start::StartRegion::Image { base: opaque() },
            },
        }),
    };
    let mut env = Env;
    format::record(&rec, &ctx, &mut buf, |l| env.print(l));
    format::lost(seq, &mut buf, |l| env.print(l));
}

/// The channel's lock: the kernel's spin lock is outside what this proof links.
pub struct NoLock;

impl Lock for NoLock {
    fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// A read request over caller memory.
pub struct ProofRead {
    bytes: *mut u8,
    len: usize,
}

impl Read for ProofRead {
    fn buffer(&mut self) -> &mut [u8] {
        // SAFETY: `proof_reader_read`'s caller hands over `len` writable bytes for the
        // duration of the call, and this read lives no longer.
        unsafe { core::slice::from_raw_parts_mut(self.bytes, self.len) }
    }
}

/// At most one pending read (its queue's behaviour is the kernel's, outside the proof).
pub struct OnePending(core::cell::Cell<Option<ProofRead>>);

impl Pending<NoLock> for OnePending {
    type Read = ProofRead;
    fn insert(&self, _: &Held<'_, NoLock>, read: ProofRead) -> Result<(), ProofRead> {
        match self.0.take() {
            None => {
                self.0.set(Some(read));
                Ok(())
            }
            Some(old) => {
                self.0.set(Some(old));
                Err(read)
            }
        }
    }
    fn queued(&self, _: &Held<'_, NoLock>) -> usize {
        let read = self.0.take();
        let queued = usize::from(read.is_some());
        self.0.set(read);
        queued
    }
    fn remove_next(&self, _: Option<&Held<'_, NoLock>>) -> Option<ProofRead> {
        self.0.take()
    }
    fn complete(&self, read: ProofRead, filled: usize) {
        observe(read.len as u64 ^ filled as u64);
    }
}

/// The reader's device: its channel and its one pending read.
pub struct ProofDevice<'c> {
    channel: &'c Channel<NoLock>,
    pending: &'c OnePending,
}

impl Device for ProofDevice<'_> {
    type Lock = NoLock;
    type Pending = OnePending;
    fn channel(&self) -> &Channel<NoLock> {
        self.channel
    }
    fn pending(&self) -> &OnePending {
        self.pending
    }
}

/// The work item routine with a reader attached (the worker feeding the channel).
#[unsafe(no_mangle)]
pub extern "C" fn proof_run_worker_reader(pipeline: &Pipeline<Queue>, channel: &Channel<NoLock>, pending: &OnePending) {
    let output = match opaque() {
        0 => DebuggerOutput::Always,
        1 => DebuggerOutput::WithoutReader,
        _ => DebuggerOutput::Never,
    };
    let sink = ReaderSink { device: ProofDevice { channel, pending }, output, debugger: Env };
    pipeline.run_worker(&mut Both { host: Env, sink });
}

/// The read dispatch, attach and cleanup.
///
/// # Safety
/// `bytes` points to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn proof_reader_read(
    channel: &Channel<NoLock>,
    pending: &OnePending,
    file: usize,
    bytes: *mut u8,
    len: usize,
) -> usize {
    if channel.attach(file) {
        observe(1);
    }
    let filled = match channel.read(file, pending, ProofRead { bytes, len }) {
        ReadOutcome::Filled(_, n) => n,
        _ => 0,
    };
    channel.detach(file ^ (opaque() as usize), pending, |r| observe(r.len as u64));
    filled
}
