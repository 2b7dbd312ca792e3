//! The Windows layer: it only adapts. DriverEntry/Unload own the kernel objects
//! (`entry`); one file per notify callback extracts fields and calls
//! [`Pipeline::record`]; `work_item` runs the worker on the single `IO_WORKITEM`, and
//! `token` reads a new process's token facts for it, `lookup` what it asks by id (a
//! process's image and creation time, where a new thread starts); `timer` wakes it periodically for
//! the statistics line; `device` is `\Device\NotifyRing` and its dispatch routines,
//! `queue` the reader's locks and cancel-safe read queue.

extern crate wdk_panic;

mod device;
mod entry;
mod image;
mod lookup;
mod pool;
mod process;
mod queue;
mod thread;
mod timer;
mod token;
mod work_item;

use core::cell::UnsafeCell;
use core::fmt::{self, Write as _};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use wdk_sys::ntddk::{DbgPrintEx, KeGetCurrentProcessorNumberEx, KeQueryPerformanceCounter, MmGetSystemRoutineAddress};
use wdk_sys::{_DPFLTR_TYPE, HANDLE, PCUNICODE_STRING, PDEVICE_OBJECT, PVOID, UNICODE_STRING};

use crate::config::{Config, Sources};
use crate::event::Stamp;
use crate::ntname::NtName;
use crate::pipeline::Pipeline;
use crate::reader::Channel;
use crate::stats::Stats;
use crate::worker::format::{LINE_BUF, LINE_MAX};
use work_item::WorkItemQueue;

/// Pool allocations for the ring (non-paged, no-execute) and the pid table (paged; tag
/// `nfyr`): `ExAllocatePool2` where the kernel has it, resolved at run time (`pool`).
#[global_allocator]
static GLOBAL_ALLOCATOR: pool::Pool = pool::Pool;

/// The counters, under a fixed symbol so that WinDbg shows them live:
/// `dx notifyring!NOTIFYRING_STATS`.
#[unsafe(no_mangle)]
pub static NOTIFYRING_STATS: Stats = Stats::new();

/// Everything DriverEntry creates and unload tears down.
struct Driver {
    pipeline: Pipeline<WorkItemQueue>,
    /// `\Device\NotifyRing`: the reader's device, and what the work item is allocated on.
    device: PDEVICE_OBJECT,
    /// The reader's share of the stream (its buffer is non-paged: default pool).
    channel: Channel<queue::SpinLock>,
    /// The reader's pending reads; initialised in place once the driver is published.
    reads: queue::ReadQueue,
    /// The settings in force (the status IOCTL reports them).
    config: Config,
    /// Performance-counter frequency (the status IOCTL converts ticks with it).
    frequency: u64,
    /// The notify routines that are registered (and so must be removed).
    registered: Sources,
    /// `DbgPrintEx` level for event lines.
    level: u32,
    /// The periodic statistics timer and its DPC (`timer`); initialised in place once
    /// the driver is published, so their addresses never change while armed.
    timer: timer::Timer,
}

/// Static storage for the one [`Driver`]: no allocation that could fail after the
/// pipeline exists, and nothing to leak.
struct Slot {
    /// True while `driver` holds a live value (Release on publish, Acquire on read).
    ready: AtomicBool,
    driver: UnsafeCell<MaybeUninit<Driver>>,
}

// SAFETY: `driver` is written only by DriverEntry before `ready` is set and taken only
// by unload after every reader is gone ([`DRIVER`]'s invariant); in between it is only read,
// and the pipeline inside is built for concurrent use.
unsafe impl Sync for Slot {}

/// The one global, because notify callbacks get no context. Invariant: it holds a live
/// [`Driver`] from the moment DriverEntry publishes it, before any callback is
/// registered or the work item can be queued, until unload has removed every callback
/// (the removal calls wait for callbacks in flight) and the schedule reports the work
/// item idle; only then is it emptied and dropped. The device's dispatch routines run
/// only while one of its handles is open or one of its IRPs outstanding: the device
/// refuses opens until DriverEntry's last step, and the I/O manager calls unload only
/// once no handle and no IRP is left.
static DRIVER: Slot = Slot { ready: AtomicBool::new(false), driver: UnsafeCell::new(MaybeUninit::uninit()) };

/// The live driver, for callbacks and the work item routine; `None` outside
/// DriverEntry's publish .. unload's teardown.
fn driver() -> Option<&'static Driver> {
    if !DRIVER.ready.load(Ordering::Acquire) {
        return None;
    }
    let driver = DRIVER.driver.get().cast::<Driver>();
    // SAFETY: `ready` was set (Release) after the value was written, and unload drops
    // it only after removing every callback and seeing the work item idle, i.e. after
    // every caller of this function has returned ([`DRIVER`]'s invariant).
    Some(unsafe { &*driver })
}

/// Publishes `driver` (DriverEntry, before registering any callback).
fn install(driver: Driver) {
    let slot = DRIVER.driver.get();
    // SAFETY: DriverEntry runs once, before any callback or work item could read the
    // slot, and the slot is empty (a failed entry or an unload emptied it).
    unsafe { (*slot).write(driver) };
    DRIVER.ready.store(true, Ordering::Release);
}

/// Takes the driver back out (unload, or a failed DriverEntry).
///
/// # Safety
/// Every callback must be removed and the work item idle: no reference from
/// [`driver`] may be used after this.
unsafe fn uninstall() -> Option<Driver> {
    if !DRIVER.ready.swap(false, Ordering::AcqRel) {
        return None;
    }
    let slot = DRIVER.driver.get();
    // SAFETY: `ready` was true, so the slot holds a value; it is now false, and the
    // caller guarantees no reader is left, so the value is moved out exactly once.
    Some(unsafe { slot.cast::<Driver>().read() })
}

/// Timestamp and processor for a callback: `KeQueryPerformanceCounter` and the
/// system-wide processor index. Cheap, callable at any IRQL.
fn stamp() -> Stamp {
    Stamp { ticks: performance_counter(None), cpu: current_cpu() }
}

fn current_cpu() -> u32 {
    // SAFETY: NULL asks for the system-wide processor index only.
    unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) }
}

/// Ticks of the performance counter; stores its frequency in `frequency` if given.
fn performance_counter(frequency: Option<&mut u64>) -> u64 {
    let mut hz = wdk_sys::LARGE_INTEGER { QuadPart: 0 };
    let ask = if frequency.is_some() { &raw mut hz } else { core::ptr::null_mut() };
    // SAFETY: `ask` is NULL or points to a LARGE_INTEGER on this stack.
    let now = unsafe { KeQueryPerformanceCounter(ask) };
    if let Some(out) = frequency {
        // SAFETY: every bit pattern of the union is a valid i64.
        *out = unsafe { hz.QuadPart }.cast_unsigned();
    }
    // SAFETY: as above.
    unsafe { now.QuadPart }.cast_unsigned()
}

/// The system time now, as `KeQuerySystemTime` reads it (100 ns units since 1601, the
/// clock `PsGetProcessCreateTimeQuadPart` stamps processes with). On x64 the WDK's
/// `KeQuerySystemTime` is a macro: one 8-byte load of `KUSER_SHARED_DATA.SystemTime` at
/// `KI_USER_SHARED_DATA + 0x14`, which is what this does (an inline `mov`: Rust's
/// volatile reads want the 8-alignment the field lacks, and read piecewise the compiler
/// may fold a load into a compare, which Wine's emulation of the page does not handle).
fn system_time() -> u64 {
    /// `KI_USER_SHARED_DATA` on x64 (wdm.h), plus `SystemTime`'s offset.
    const SYSTEM_TIME: u64 = 0xFFFF_F780_0000_0014;
    let time: u64;
    // SAFETY: reads 8 bytes of KUSER_SHARED_DATA, mapped read-only at this address in
    // every process for the system's life; the field lies within one cache line, so the
    // load is atomic on x64, as the WDK's macro relies on. Touches nothing else.
    unsafe {
        core::arch::asm!(
            "mov {time}, qword ptr [{address}]",
            address = in(reg) SYSTEM_TIME,
            time = out(reg) time,
            options(nostack, readonly, preserves_flags),
        );
    }
    time
}

/// A kernel routine looked up by name at run time (`PASSIVE_LEVEL`): NULL where this
/// kernel does not export it (older Windows, or Wine). Names are built at compile time
/// (`NtName::of` in a `const` item), so none can be cut.
fn routine(name: &NtName) -> PVOID {
    with_name(name, |name| {
        // SAFETY: PASSIVE_LEVEL; `name` is a counted string that outlives the call and
        // that the routine only reads.
        unsafe { MmGetSystemRoutineAddress(name.cast_mut()) }
    })
}

/// A process or thread id as the portable code counts them.
fn id(handle: HANDLE) -> u64 {
    handle.addr() as u64
}

/// The UTF-16 units of a kernel `UNICODE_STRING` (`Length` is in bytes): `None` for a
/// NULL string, empty for a NULL buffer or zero length.
///
/// # Safety
/// `string` is NULL or points to a `UNICODE_STRING` whose buffer stays valid for `'a`
/// (a callback argument, for the duration of the call).
unsafe fn units<'a>(string: PCUNICODE_STRING) -> Option<&'a [u16]> {
    // SAFETY: the caller's contract.
    let string = unsafe { string.as_ref() }?;
    let len = usize::from(string.Length / 2);
    if string.Buffer.is_null() || len == 0 {
        return Some(&[]);
    }
    // SAFETY: the kernel's UNICODE_STRING holds `Length` valid bytes at `Buffer`,
    // aligned for u16, for as long as the caller's contract says.
    Some(unsafe { core::slice::from_raw_parts(string.Buffer, len) })
}

/// `DbgPrintEx` level of errors: shown by default, unlike the others.
const ERROR_LEVEL: u32 = wdk_sys::DPFLTR_ERROR_LEVEL;

/// Prints one line with `DbgPrintEx(IHVDRIVER, level, "%s\n", line)`: the line is
/// data, never the format string. `line` must end in its NUL (worker lines hold at
/// most 510 bytes, so with the newline and the NUL one call carries at most 512, all
/// `DbgPrint` transmits); lines without one are dropped.
fn print_line(level: u32, line: &[u8]) {
    if line.last() != Some(&0) {
        return;
    }
    // SAFETY: "%s\n" consumes exactly one argument, a NUL-terminated string, which
    // `line` is (checked above) for the duration of the call.
    unsafe {
        DbgPrintEx(_DPFLTR_TYPE::DPFLTR_IHVDRIVER_ID.cast_unsigned(), level, c"%s\n".as_ptr(), line.as_ptr());
    }
}

/// One formatted line for DriverEntry and unload (never a callback): `notifyring: `
/// and the text, cut to a worker line's length.
fn say(level: u32, args: fmt::Arguments<'_>) {
    let mut line = Text { buf: [0; LINE_BUF], len: 0 };
    // A full buffer only cuts the line short, which is all `Err` can mean here.
    let _ = line.write_str("notifyring: ");
    let _ = line.write_fmt(args);
    print_line(level, line.buf.get(..=line.len).unwrap_or(&[]));
}

/// A line being formatted; the byte after `len` is always a NUL.
struct Text {
    buf: [u8; LINE_BUF],
    len: usize,
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // One byte stays free for the NUL; interior NULs would cut the line short.
        let take = s.len().min(LINE_MAX.saturating_sub(self.len));
        let dst = self.buf.get_mut(self.len..self.len + take).ok_or(fmt::Error)?;
        for (d, &b) in dst.iter_mut().zip(s.as_bytes()) {
            *d = if b == 0 { b'?' } else { b };
        }
        self.len += take;
        if take < s.len() { Err(fmt::Error) } else { Ok(()) }
    }
}

/// An NTSTATUS as the documentation writes it: `0xC0000022`.
struct Status(wdk_sys::NTSTATUS);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0.cast_unsigned())
    }
}

/// Calls `f` with `name` as a counted UTF-16 string. Its buffer is a copy on this stack:
/// `UNICODE_STRING` declares its buffer writable, though the routines given these names
/// only read them.
fn with_name<R>(name: &NtName, f: impl FnOnce(PCUNICODE_STRING) -> R) -> R {
    let mut units = name.buffer();
    let bytes = name.bytes();
    let string = UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: units.as_mut_ptr() };
    f(&raw const string)
}
