//! Kernel helpers every other file of the Windows layer stands on, and which stand on
//! nothing of it: a callback's timestamp and processor ([`stamp`]), the performance
//! counter and the system time, kernel routines looked up by name ([`routine`]), ids and
//! counted strings as the portable code takes them ([`id`], [`units`], [`with_name`]), and
//! the debugger's lines ([`print_line`], [`say`], [`Status`]).

use core::fmt::{self, Write as _};

use wdk_sys::ntddk::{DbgPrintEx, KeGetCurrentProcessorNumberEx, KeQueryPerformanceCounter, MmGetSystemRoutineAddress};
use wdk_sys::{_DPFLTR_TYPE, HANDLE, PCUNICODE_STRING, PVOID, UNICODE_STRING};

use crate::event::Stamp;
use crate::ntname::NtName;
use crate::worker::format::{LINE_BUF, LINE_MAX};

/// Timestamp and processor for a callback: `KeQueryPerformanceCounter` and the
/// system-wide processor index. Cheap, callable at any IRQL.
pub(super) fn stamp() -> Stamp {
    Stamp { ticks: performance_counter(None), cpu: current_cpu() }
}

fn current_cpu() -> u32 {
    // SAFETY: NULL asks for the system-wide processor index only.
    unsafe { KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) }
}

/// Ticks of the performance counter; stores its frequency in `frequency` if given.
pub(super) fn performance_counter(frequency: Option<&mut u64>) -> u64 {
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
pub(super) fn system_time() -> u64 {
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
pub(super) fn routine(name: &NtName) -> PVOID {
    with_name(name, |name| {
        // SAFETY: PASSIVE_LEVEL; `name` is a counted string that outlives the call and
        // that the routine only reads.
        unsafe { MmGetSystemRoutineAddress(name.cast_mut()) }
    })
}

/// A process or thread id as the portable code counts them.
pub(super) fn id(handle: HANDLE) -> u64 {
    handle.addr() as u64
}

/// The UTF-16 units of a kernel `UNICODE_STRING` (`Length` is in bytes): `None` for a
/// NULL string, empty for a NULL buffer or zero length.
///
/// # Safety
/// `string` is NULL or points to a `UNICODE_STRING` whose buffer stays valid for `'a`
/// (a callback argument, for the duration of the call).
pub(super) unsafe fn units<'a>(string: PCUNICODE_STRING) -> Option<&'a [u16]> {
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
pub(super) const ERROR_LEVEL: u32 = wdk_sys::DPFLTR_ERROR_LEVEL;

/// Prints one line with `DbgPrintEx(IHVDRIVER, level, "%s\n", line)`: the line is
/// data, never the format string. `line` must end in its NUL (worker lines hold at
/// most 510 bytes, so with the newline and the NUL one call carries at most 512, all
/// `DbgPrint` transmits); lines without one are dropped.
pub(super) fn print_line(level: u32, line: &[u8]) {
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
pub(super) fn say(level: u32, args: fmt::Arguments<'_>) {
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
pub(super) struct Status(pub(super) wdk_sys::NTSTATUS);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0.cast_unsigned())
    }
}

/// Calls `f` with `name` as a counted UTF-16 string. Its buffer is a copy on this stack:
/// `UNICODE_STRING` declares its buffer writable, though the routines given these names
/// only read them.
pub(super) fn with_name<R>(name: &NtName, f: impl FnOnce(PCUNICODE_STRING) -> R) -> R {
    let mut units = name.buffer();
    let bytes = name.bytes();
    let string = UNICODE_STRING { Length: bytes, MaximumLength: bytes, Buffer: units.as_mut_ptr() };
    f(&raw const string)
}
