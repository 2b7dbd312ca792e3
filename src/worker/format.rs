//! Step 5b: turning one drained record into debugger lines.
//!
//! One `DbgPrint` call transmits at most 512 bytes, and the driver prints a line as
//! `"%s\n"`: so a physical line is at most [`LINE_MAX`] (510) bytes, which with the
//! newline and the terminating NUL make 512, written into a caller-provided fixed buffer. Longer
//! content continues on following lines, each prefixed `notifyring: #SEQ cont=N `, so
//! nothing is cut silently: concatenating the parts after their prefixes gives the
//! whole logical line. Nothing here allocates, uses `core::fmt`, or can panic.
//!
//! Lines are pure printable ASCII: `DbgPrint`'s `%s` shows bytes in the ANSI code page,
//! so UTF-8 would reach DebugView and WinDbg as mojibake. Quoted text keeps printable
//! ASCII as it is (Windows paths keep their backslashes) and writes everything else as
//! an escape; only two escapes exist, so the text stays readable and parses back to the
//! original UTF-16 units exactly:
//! * `\"` is a quote, `\u{hex}` a code point: every non-ASCII character, controls, NUL
//!   and DEL; a surrogate pair as its one code point, an unpaired surrogate as itself
//!   (`\u{d800}`), so nothing is replaced;
//! * a backslash is written as `\u{5c}` only where it would otherwise start one of
//!   those (before a `u`) or swallow the closing quote (at the end).
//!
//! Any other backslash is literal, so `\Device\HarddiskVolume3\x.exe` reads as is.

use crate::digits::{dec, escape, hex, micros};
use crate::record::{Detail, Record, Text};
use crate::stats::Snapshot;
use crate::vocab::clock::Clock;
use crate::vocab::process::{Origin, ProcessName};
use crate::vocab::start::{StartRegion, ThreadStart};

/// Longest physical line in bytes, without its NUL: 510, so that the line, the newline
/// the driver appends and the NUL fit the 512 bytes one `DbgPrint` call transmits.
pub const LINE_MAX: usize = 510;
/// Size of the line buffer: a line plus its NUL.
pub const LINE_BUF: usize = LINE_MAX + 1;
/// Every line starts with this.
pub const PREFIX: &[u8] = b"notifyring: ";
/// The longest piece [`Lines::put`] keeps in one line (a key with a 20-digit value).
const UNIT_MAX: usize = 40;

/// One physical line handed to the debugger: text followed by a NUL.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a>(&'a [u8]);

impl<'a> Line<'a> {
    /// The text without the NUL.
    #[must_use]
    pub fn text(&self) -> &'a [u8] {
        self.0.split_last().map_or(&[], |(_, t)| t)
    }

    /// The text with its terminating NUL, ready for `DbgPrintEx("%s", ...)`.
    #[must_use]
    pub const fn with_nul(&self) -> &'a [u8] {
        self.0
    }
}

/// Writes one logical line as physical lines of at most [`LINE_MAX`] bytes.
pub struct Lines<'b, F: FnMut(Line<'_>)> {
    buf: &'b mut [u8; LINE_BUF],
    len: usize,
    seq: Option<u64>,
    part: u64,
    out: F,
}

impl<'b, F: FnMut(Line<'_>)> Lines<'b, F> {
    /// Starts a logical line; `seq` (if any) names it in continuation prefixes.
    pub fn new(buf: &'b mut [u8; LINE_BUF], seq: Option<u64>, out: F) -> Self {
        let mut lines = Self { buf, len: 0, seq, part: 1, out };
        lines.raw(PREFIX);
        lines
    }

    /// Copies `bytes` if they fit (callers check the room first).
    fn raw(&mut self, bytes: &[u8]) {
        let Some(room) = self.buf.get_mut(self.len..LINE_MAX) else { return };
        let Some(dst) = room.get_mut(..bytes.len()) else { return };
        dst.copy_from_slice(bytes);
        self.len = self.len.wrapping_add(bytes.len());
    }

    /// Emits the current line and starts a continuation line.
    fn break_line(&mut self) {
        self.emit();
        self.part = self.part.wrapping_add(1);
        self.len = 0;
        self.raw(PREFIX);
        if let Some(seq) = self.seq {
            self.raw(b"#");
            self.raw(dec(seq, &mut [0; 20]));
            self.raw(b" ");
        }
        self.raw(b"cont=");
        self.raw(dec(self.part, &mut [0; 20]));
        self.raw(b" ");
    }

    /// Appends text that may be split at any byte (plain ASCII), filling each line.
    fn run(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = LINE_MAX.saturating_sub(self.len);
            if room == 0 {
                self.break_line();
                continue;
            }
            let Some((now, rest)) = bytes.split_at_checked(room.min(bytes.len())) else { return };
            self.raw(now);
            bytes = rest;
        }
    }

    /// Appends `piece` without splitting it (pieces longer than 40 bytes may split).
    pub fn put(&mut self, piece: &[u8]) {
        if piece.len() > UNIT_MAX {
            for chunk in piece.chunks(UNIT_MAX) {
                self.put(chunk);
            }
            return;
        }
        if self.len.saturating_add(piece.len()) > LINE_MAX {
            self.break_line();
        }
        self.raw(piece);
    }

    /// Appends `key` immediately followed by the decimal `value`, unsplit.
    pub fn key_dec(&mut self, key: &[u8], value: u64) {
        self.pair(key, dec(value, &mut [0; 20]));
    }

    /// Appends `key` followed by `0x` and the hex `value` (at least `width` digits).
    pub fn key_hex(&mut self, key: &[u8], value: u64, width: usize) {
        let mut digits = [0; 18];
        self.pair(key, hex(value, width, &mut digits));
    }

    fn pair(&mut self, key: &[u8], value: &[u8]) {
        let mut piece = [0u8; UNIT_MAX];
        let k = key.len().min(UNIT_MAX);
        let v = value.len().min(UNIT_MAX - k);
        if let (Some(dk), Some(sk)) = (piece.get_mut(..k), key.get(..k)) {
            dk.copy_from_slice(sk);
        }
        if let (Some(dv), Some(sv)) = (piece.get_mut(k..k + v), value.get(..v)) {
            dv.copy_from_slice(sv);
        }
        self.put(piece.get(..k + v).unwrap_or(&[]));
    }

    /// Appends UTF-16 units as quoted, escaped ASCII (see the module documentation).
    /// Runs of printable ASCII, most of any path or command line, are copied in bulk;
    /// everything else is decoded and written as `\u{hex}`.
    pub fn quoted(&mut self, units: impl Iterator<Item = u16>) {
        self.put(b"\"");
        let mut units = units.peekable();
        let mut ascii = [0u8; 64];
        let mut n = 0;
        while let Some(unit) = units.next() {
            let plain = match unit {
                0x22 => false,
                // A backslash is literal unless it would start an escape or end the text.
                0x5c => !matches!(units.peek(), None | Some(&0x75)),
                0x20..=0x7e => true,
                _ => false,
            };
            if plain {
                if let (Some(slot), Ok(byte)) = (ascii.get_mut(n), u8::try_from(unit)) {
                    *slot = byte;
                    n += 1;
                }
                if n == ascii.len() {
                    self.run(&ascii);
                    n = 0;
                }
                continue;
            }
            self.run(ascii.get(..n).unwrap_or(&[]));
            n = 0;
            if unit == 0x22 {
                self.put(b"\\\"");
                continue;
            }
            // A surrogate pair is one code point; anything else (an unpaired surrogate
            // included) is its own unit's value, so the escape loses nothing.
            let code = match (unit, units.peek().copied()) {
                (0xd800..=0xdbff, Some(low @ 0xdc00..=0xdfff)) => {
                    units.next();
                    let high = u32::from(unit).wrapping_sub(0xd800);
                    let low = u32::from(low).wrapping_sub(0xdc00);
                    0x1_0000u32.wrapping_add(high << 10).wrapping_add(low)
                }
                _ => u32::from(unit),
            };
            let mut piece = [0u8; 12];
            self.put(escape(code, &mut piece));
        }
        self.run(ascii.get(..n).unwrap_or(&[]));
        self.put(b"\"");
    }

    fn emit(&mut self) {
        if let Some(nul) = self.buf.get_mut(self.len) {
            *nul = 0;
        }
        let end = self.len.saturating_add(1);
        if let Some(line) = self.buf.get(..end) {
            (self.out)(Line(line));
        }
    }

    /// Ends the logical line, emitting what is left.
    pub fn finish(mut self) {
        self.emit();
    }
}

/// What the formatter needs besides the record.
pub struct Context<'n> {
    /// Stream position (delivered + lost so far).
    pub seq: u64,
    /// Time base.
    pub clock: Clock,
    /// Print `cmdline=<omitted>` instead of command lines.
    pub omit_command_line: bool,
    /// The process image name the worker knows for `pid`, or why not.
    pub process: ProcessName<'n>,
    /// For a thread-create: whether it came from another process (ignored otherwise).
    pub origin: Origin,
    /// A process create's token facts (`user=`, `integrity=`, `logon=`), if read.
    pub token: Option<&'n crate::vocab::token::TokenFacts>,
    /// A thread from another process: its start address (`start=`) and the image base it
    /// lies in (`start_image=`, `-` for none), if read.
    pub start: Option<ThreadStart>,
}

fn flag(lines: &mut Lines<'_, impl FnMut(Line<'_>)>, key: &[u8], on: bool) {
    lines.key_dec(key, u64::from(on));
}

fn text(lines: &mut Lines<'_, impl FnMut(Line<'_>)>, key: &[u8], value: Option<Text<'_>>) {
    lines.put(b" ");
    lines.put(key);
    match value {
        None => lines.put(b"=-"),
        Some(t) => {
            lines.put(b"=");
            lines.quoted(t.units());
            if t.truncated() {
                lines.put(b" ");
                lines.put(key);
                lines.key_dec(b"_truncated=", u64::from(t.stored_len()));
                lines.key_dec(b"/", u64::from(t.original_len()));
            }
        }
    }
}

fn stamp(lines: &mut Lines<'_, impl FnMut(Line<'_>)>, ticks: u64, clock: Clock) {
    let (sign, delta) =
        if ticks >= clock.start_ticks { (b"+", ticks - clock.start_ticks) } else { (b"-", clock.start_ticks - ticks) };
    let (secs, micros) = if clock.frequency == 0 {
        (0, 0)
    } else {
        let f = u128::from(clock.frequency);
        let d = u128::from(delta);
        // d / f <= d, and the fraction is below 1_000_000: both fit u64.
        (u64::try_from(d / f).unwrap_or(u64::MAX), u64::try_from((d % f) * 1_000_000 / f).unwrap_or(0))
    };
    let mut piece = [0u8; UNIT_MAX];
    let mut len = 0;
    let mut digits = [0u8; 20];
    let mut frac = [0u8; 20];
    let frac = dec(micros.wrapping_add(1_000_000), &mut frac).get(1..).unwrap_or(&[]);
    for &b in sign.iter().chain(dec(secs, &mut digits)).chain(b".").chain(frac).chain(b"s") {
        if let Some(slot) = piece.get_mut(len) {
            *slot = b;
            len += 1;
        }
    }
    lines.put(piece.get(..len).unwrap_or(&[]));
}

/// A thread's start facts as its line prints them: ` start=0x…`, then ` start_image=0x…`
/// (the base of the image holding it), ` start_image=-` (outside every image), or nothing
/// (not known).
pub fn write_start(start: &ThreadStart, mut put: impl FnMut(&[u8])) {
    let mut digits = [0u8; 18];
    put(b" start=");
    put(hex(start.address, 1, &mut digits));
    match start.region {
        StartRegion::Unknown => {}
        StartRegion::NoImage => put(b" start_image=-"),
        StartRegion::Image { base } => {
            put(b" start_image=");
            put(hex(base, 1, &mut digits));
        }
    }
}

/// Formats `record` as one logical line (plus continuations) and hands the physical
/// lines to `out`.
pub fn record(rec: &Record<'_>, ctx: &Context<'_>, buf: &mut [u8; LINE_BUF], out: impl FnMut(Line<'_>)) {
    let mut l = Lines::new(buf, Some(ctx.seq), out);
    l.key_dec(b"#", ctx.seq);
    l.put(b" ");
    stamp(&mut l, rec.stamp.ticks, ctx.clock);
    l.put(b" ");
    l.key_dec(b"cpu", u64::from(rec.stamp.cpu));
    l.put(b" ");
    l.put(rec.kind.name().as_bytes());
    l.put(b" ");
    l.key_dec(b"pid=", rec.pid);
    match rec.detail {
        Detail::ProcessCreate { parent_pid, creator, file_open_name_available, subsystem_process } => {
            l.put(b" ");
            l.key_dec(b"ppid=", parent_pid);
            l.put(b" ");
            l.key_dec(b"by=", creator.pid);
            l.key_dec(b":", creator.tid);
            l.put(b" ");
            flag(&mut l, b"fileopen=", file_open_name_available);
            // Only a routine registered for subsystem processes (Ex2) is told about them,
            // and then the flag marks the few that are; absent means a Win32 process.
            if subsystem_process {
                l.put(b" subsystem=1");
            }
            if let Some(token) = ctx.token {
                token.write(None, |p| l.put(p));
            }
            text(&mut l, b"image", rec.image);
            if ctx.omit_command_line {
                l.put(b" cmdline=<omitted>");
            } else {
                text(&mut l, b"cmdline", rec.command_line);
            }
        }
        Detail::ProcessExit { exit_status } => {
            l.put(b" ");
            l.key_hex(b"status=", u64::from(exit_status), 8);
        }
        Detail::ThreadCreate { tid, creator } => {
            l.put(b" ");
            l.key_dec(b"tid=", tid);
            l.put(b" ");
            l.key_dec(b"by=", creator.pid);
            l.key_dec(b":", creator.tid);
            l.put(match ctx.origin {
                Origin::Local => b" remote=0".as_slice(),
                Origin::Initial => b" remote=0 initial=1",
                Origin::Remote => b" remote=1",
                Origin::Unknown => b" remote=?",
            });
            if let Some(start) = &ctx.start {
                write_start(start, |p| l.put(p));
            }
        }
        Detail::ThreadExit { tid } => {
            l.put(b" ");
            l.key_dec(b"tid=", tid);
        }
        Detail::ImageLoad { base, size, kernel_image, signature_level, signature_type } => {
            // 0: not given (a kernel image's base unless `KernelImageBases` is set).
            if base == 0 {
                l.put(b" base=-");
            } else {
                l.put(b" ");
                l.key_hex(b"base=", base, 1);
            }
            l.put(b" ");
            l.key_hex(b"size=", size, 1);
            l.put(b" ");
            flag(&mut l, b"kernel=", kernel_image);
            l.put(b" ");
            l.key_dec(b"sig=", u64::from(signature_level));
            l.key_dec(b"/", u64::from(signature_type));
        }
    }
    match ctx.process {
        ProcessName::NotApplicable => {}
        ProcessName::Known(name) => {
            l.put(b" proc=");
            l.quoted(name.units().iter().copied());
        }
        ProcessName::NoImageFile => l.put(b" proc=-"),
        ProcessName::Unknown => l.put(b" proc=?"),
    }
    if let Detail::ImageLoad { .. } = rec.detail {
        text(&mut l, b"image", rec.image);
    }
    l.finish();
}

/// `notifyring: LOST n events (ring full)`.
pub fn lost(count: u64, buf: &mut [u8; LINE_BUF], out: impl FnMut(Line<'_>)) {
    lost_because(count, b"ring full", buf, out);
}

/// `notifyring: LOST n events (why)`: the reader's LOST lines say whose buffer was full.
pub fn lost_because(count: u64, why: &[u8], buf: &mut [u8; LINE_BUF], out: impl FnMut(Line<'_>)) {
    let mut l = Lines::new(buf, None, out);
    l.key_dec(b"LOST ", count);
    l.put(if count == 1 { b" event (" } else { b" events (" });
    l.put(why);
    l.put(b")");
    l.finish();
}

/// The statistics line; `label` is `stats` (periodic) or `final-stats` (unload).
pub fn stats(
    label: &[u8],
    s: &Snapshot,
    capacity: u64,
    clock: Clock,
    buf: &mut [u8; LINE_BUF],
    out: impl FnMut(Line<'_>),
) {
    let mut l = Lines::new(buf, None, out);
    l.put(label);
    l.key_dec(b" delivered=", s.delivered_total());
    for kind in crate::event::Kind::ALL {
        l.put(b" ");
        l.put(kind.name().as_bytes());
        l.key_dec(b"=", s.delivered.get(kind.index()).copied().unwrap_or(0));
    }
    l.key_dec(b" lost=", s.lost_total());
    l.key_dec(b" lost_contended=", s.lost_contended);
    l.key_dec(b" lost_reported=", s.lost_reported);
    l.key_dec(b" truncated=", s.truncated_strings);
    l.key_dec(b" runs=", s.worker_runs);
    l.key_dec(b" max_batch=", s.largest_batch);
    l.key_dec(b" high_water=", s.high_water);
    l.key_dec(b"/", capacity);
    l.key_dec(b" busy_stops=", s.busy_stops);
    l.key_dec(b" sweeps=", s.sweeps);
    l.key_dec(b" sweep_wakes=", s.sweep_wakes);
    l.key_dec(b" lookup_failures=", s.lookup_failures);
    l.key_dec(b" token_failures=", s.token_failures);
    l.key_dec(b" start_failures=", s.start_failures);
    l.key_dec(b" names_dropped=", s.names_dropped);
    l.key_dec(b" longest_run_us=", micros(s.longest_run_ticks, clock.frequency));
    l.finish();
}
