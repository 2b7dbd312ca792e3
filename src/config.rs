//! The driver's settings, as read from the service key's `Parameters` subkey.
//!
//! Validation lives here (portable, tested on the host); the driver only reads
//! `REG_DWORD` values and hands each to [`Config::apply`]. An invalid value keeps its
//! default and yields a [`Rejected`] the driver prints as one line.

use crate::record::Caps;

/// Which notify routines to register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    /// `PsSetCreateProcessNotifyRoutineEx`.
    pub process: bool,
    /// `PsSetCreateThreadNotifyRoutine`.
    pub thread: bool,
    /// `PsSetLoadImageNotifyRoutine`.
    pub image: bool,
}

/// Every setting, with its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Ring memory in bytes: a power of two from 4 KiB to 256 MiB, split across the
    /// processors' rings ([`Config::ring_bytes_per_processor`]). Default 4 MiB.
    pub ring_bytes: usize,
    /// Processors, one ring each (not a registry value: the driver counts the active
    /// processors of all groups at entry). Default 1.
    pub processors: u32,
    /// String caps in UTF-16 units. Default 1024 (image) / 8192 (command line).
    pub caps: Caps,
    /// Records one work item run drains before it re-queues itself. Default 256.
    pub batch: u32,
    /// Milliseconds one work item run may print for before it re-queues itself (it
    /// finishes the line it is on). Default 10.
    pub run_budget_ms: u32,
    /// Processes the worker remembers by pid. Default 4096.
    pub names: usize,
    /// Replace command lines by `<omitted>` in the output (they can hold secrets).
    pub omit_command_line: bool,
    /// Seconds between periodic statistics lines (0: only at unload). Default 60.
    pub stats_interval_s: u32,
    /// Which event sources to register. Default all three.
    pub sources: Sources,
    /// `DbgPrintEx` level for event lines (0 error … 3 info). Default 3.
    pub level: u32,
    /// Bytes of the user-mode reader's buffer (`ReaderBytes`, non-paged, allocated at
    /// entry). Default 1 MiB.
    pub reader_bytes: usize,
    /// When event lines go to the debugger (`DebuggerOutput`). Default: always.
    pub debugger_output: DebuggerOutput,
    /// Print and send kernel images' load addresses (`KernelImageBases`). Default: no,
    /// since anyone who reads the output would learn where the kernel's modules lie,
    /// which defeats its address-space layout randomisation.
    pub kernel_image_bases: bool,
}

/// When the worker prints event and LOST lines to the debugger (`DebuggerOutput`).
/// Statistics lines are printed in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebuggerOutput {
    /// 0: always (the default, and the behaviour before the reader existed).
    Always,
    /// 1: only while no reader is attached to `\\.\Global\NotifyRing`.
    WithoutReader,
    /// 2: never.
    Never,
}

impl DebuggerOutput {
    /// The registry value that selects it.
    #[must_use]
    pub const fn value(self) -> u32 {
        match self {
            Self::Always => 0,
            Self::WithoutReader => 1,
            Self::Never => 2,
        }
    }

    /// Whether event lines are printed, given whether a reader is attached.
    #[must_use]
    pub const fn prints(self, reader_attached: bool) -> bool {
        match self {
            Self::Always => true,
            Self::WithoutReader => !reader_attached,
            Self::Never => false,
        }
    }
}

/// The smallest `ReaderBytes` (256 KiB): the channel's buffer holds at least one read's
/// worth (the reader's wire module checks this against its smallest read).
pub const READER_MIN: usize = 256 << 10;

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A registry value that was out of range; the default was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The value's name.
    pub name: &'static str,
    /// What was found.
    pub value: u32,
    /// What is allowed.
    pub allowed: &'static str,
}

/// The smallest ring a processor gets when `RingBytes` is split (64 KiB: about 400
/// process-create records with long command lines, or 1,000 thread events).
pub const RING_FLOOR: usize = 64 << 10;

/// The value names under `Parameters`, in the order the driver reads them.
pub const VALUE_NAMES: [&str; 14] = [
    "RingBytes",
    "ImagePathCap",
    "CommandLineCap",
    "BatchSize",
    "RunBudgetMilliseconds",
    "PidTableSize",
    "OmitCommandLine",
    "StatsIntervalSeconds",
    "EnableProcess",
    "EnableThread",
    "EnableImage",
    "ReaderBytes",
    "DebuggerOutput",
    "KernelImageBases",
];

/// The name of the `DbgPrintEx` level value (read separately: it names a filter level).
pub const LEVEL_NAME: &str = "DebugLevel";

impl Config {
    /// The defaults.
    pub const DEFAULT: Self = Self {
        ring_bytes: 4 << 20,
        processors: 1,
        caps: Caps::DEFAULT,
        batch: 256,
        run_budget_ms: 10,
        names: 4096,
        omit_command_line: false,
        stats_interval_s: 60,
        sources: Sources { process: true, thread: true, image: true },
        level: 3,
        reader_bytes: 1 << 20,
        debugger_output: DebuggerOutput::Always,
        kernel_image_bases: false,
    };

    /// Applies one registry value. Unknown names are ignored (`Ok`).
    ///
    /// # Errors
    /// [`Rejected`] when the value is out of range; the setting keeps its current value.
    pub fn apply(&mut self, name: &str, value: u32) -> Result<(), Rejected> {
        let reject = |allowed| Err(Rejected { name: static_name(name), value, allowed });
        let flag = |v: u32| match v {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
        match name {
            "RingBytes" => {
                let v = value as usize;
                if !crate::ring::valid_size(v) {
                    return reject("a power of two from 4096 to 268435456");
                }
                self.ring_bytes = v;
            }
            "ImagePathCap" => {
                if !(16..=32_767).contains(&value) {
                    return reject("16 to 32767 UTF-16 units");
                }
                self.caps.image = value;
            }
            "CommandLineCap" => {
                if value > 32_767 {
                    return reject("0 to 32767 UTF-16 units");
                }
                self.caps.command_line = value;
            }
            "BatchSize" => {
                if !(1..=65_536).contains(&value) {
                    return reject("1 to 65536 records");
                }
                self.batch = value;
            }
            "RunBudgetMilliseconds" => {
                if !(1..=1000).contains(&value) {
                    return reject("1 to 1000 milliseconds");
                }
                self.run_budget_ms = value;
            }
            "PidTableSize" => {
                if !(16..=1 << 20).contains(&value) {
                    return reject("16 to 1048576 processes");
                }
                self.names = value as usize;
            }
            "StatsIntervalSeconds" => {
                if value > 86_400 {
                    return reject("0 (only at unload) to 86400 seconds");
                }
                self.stats_interval_s = value;
            }
            "ReaderBytes" => {
                if !(READER_MIN..=64 << 20).contains(&(value as usize)) {
                    return reject("262144 to 67108864 bytes");
                }
                self.reader_bytes = value as usize;
            }
            "DebuggerOutput" => {
                self.debugger_output = match value {
                    0 => DebuggerOutput::Always,
                    1 => DebuggerOutput::WithoutReader,
                    2 => DebuggerOutput::Never,
                    _ => return reject("0 (always), 1 (while no reader is attached) or 2 (never)"),
                };
            }
            "DebugLevel" => {
                if value > 3 {
                    return reject("0 (error) to 3 (info)");
                }
                self.level = value;
            }
            "OmitCommandLine" | "EnableProcess" | "EnableThread" | "EnableImage" | "KernelImageBases" => {
                let Some(on) = flag(value) else { return reject("0 or 1") };
                match name {
                    "OmitCommandLine" => self.omit_command_line = on,
                    "EnableProcess" => self.sources.process = on,
                    "EnableThread" => self.sources.thread = on,
                    "EnableImage" => self.sources.image = on,
                    _ => self.kernel_image_bases = on,
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The caps actually used: shrunk so that the largest record fits a quarter of one
    /// processor's ring (a 4 KiB ring cannot hold an 8192-unit command line).
    #[must_use]
    pub const fn effective_caps(&self) -> Caps {
        let caps = self.caps.fit(self.ring_bytes_per_processor() as u64 / 4 - 8);
        // Omitted command lines are never copied: not into the ring, not to a reader.
        if self.omit_command_line { Caps { command_line: 0, ..caps } } else { caps }
    }

    /// Each processor's ring: `RingBytes` split evenly (rounded down to a power of two),
    /// but at least [`RING_FLOOR`] (or all of `RingBytes`, if that is smaller). So the
    /// total is `RingBytes` up to 64 processors at the default, and `processors × 64 KiB`
    /// beyond: memory stays fixed and bounded, and no ring is too small to absorb a burst.
    #[must_use]
    pub const fn ring_bytes_per_processor(&self) -> usize {
        let n = if self.processors == 0 { 1 } else { self.processors as usize };
        let share = self.ring_bytes / n;
        let share = if share == 0 { 0 } else { 1usize << (usize::BITS - 1 - share.leading_zeros()) };
        let floor = if RING_FLOOR < self.ring_bytes { RING_FLOOR } else { self.ring_bytes };
        if share > floor { share } else { floor }
    }
}

fn static_name(name: &str) -> &'static str {
    VALUE_NAMES.iter().chain(&[LEVEL_NAME]).find(|n| **n == name).copied().unwrap_or("?")
}
