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

/// One `REG_DWORD` value under `Parameters`.
///
/// Its name, default, allowed range (in words, as the rejection line and the
/// documentation say it), what it means, and how it is checked, set and read back.
/// [`SETTINGS`] is the one list of them: the driver reads,
/// the status reply reports and the config line prints what it holds, and tests check
/// the INF's defaults and docs/windows.md's table against it.
pub struct Setting {
    /// The value's name.
    pub name: &'static str,
    /// Its default (what the INF writes).
    pub default: u32,
    /// What is allowed, in words.
    pub allowed: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// The field of [`Config`] it sets.
    field: Field,
}

/// The field of [`Config`] a setting sets: a plain match, no function pointers, so the
/// driver's link-time no-panic proof follows every call.
#[derive(Clone, Copy, Debug)]
enum Field {
    RingBytes,
    ImagePathCap,
    CommandLineCap,
    BatchSize,
    RunBudgetMilliseconds,
    PidTableSize,
    OmitCommandLine,
    StatsIntervalSeconds,
    EnableProcess,
    EnableThread,
    EnableImage,
    DebugLevel,
    ReaderBytes,
    DebuggerOutput,
    KernelImageBases,
}

impl Setting {
    /// Whether `value` is allowed.
    #[must_use]
    pub fn allows(&self, value: u32) -> bool {
        let v = value;
        match self.field {
            Field::RingBytes => crate::ring::valid_size(v as usize),
            Field::ImagePathCap => (16..=32_767).contains(&v),
            Field::CommandLineCap => v <= 32_767,
            Field::BatchSize => (1..=65_536).contains(&v),
            Field::RunBudgetMilliseconds => (1..=1000).contains(&v),
            Field::PidTableSize => (16..=1 << 20).contains(&v),
            Field::StatsIntervalSeconds => v <= 86_400,
            Field::DebugLevel => v <= 3,
            Field::ReaderBytes => (READER_MIN..=64 << 20).contains(&(v as usize)),
            Field::DebuggerOutput => v <= 2,
            Field::OmitCommandLine
            | Field::EnableProcess
            | Field::EnableThread
            | Field::EnableImage
            | Field::KernelImageBases => v <= 1,
        }
    }

    /// Sets it in `c` to `v` (allowed: [`Setting::allows`]).
    const fn set(&self, c: &mut Config, v: u32) {
        match self.field {
            Field::RingBytes => c.ring_bytes = v as usize,
            Field::ImagePathCap => c.caps.image = v,
            Field::CommandLineCap => c.caps.command_line = v,
            Field::BatchSize => c.batch = v,
            Field::RunBudgetMilliseconds => c.run_budget_ms = v,
            Field::PidTableSize => c.names = v as usize,
            Field::OmitCommandLine => c.omit_command_line = v == 1,
            Field::StatsIntervalSeconds => c.stats_interval_s = v,
            Field::EnableProcess => c.sources.process = v == 1,
            Field::EnableThread => c.sources.thread = v == 1,
            Field::EnableImage => c.sources.image = v == 1,
            Field::DebugLevel => c.level = v,
            Field::ReaderBytes => c.reader_bytes = v as usize,
            Field::DebuggerOutput => {
                c.debugger_output = match v {
                    0 => DebuggerOutput::Always,
                    1 => DebuggerOutput::WithoutReader,
                    _ => DebuggerOutput::Never,
                };
            }
            Field::KernelImageBases => c.kernel_image_bases = v == 1,
        }
    }

    /// The setting's value in `c`.
    #[must_use]
    pub fn value(&self, c: &Config) -> u32 {
        // Sizes came from a `u32`.
        let dword = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match self.field {
            Field::RingBytes => dword(c.ring_bytes),
            Field::ImagePathCap => c.caps.image,
            Field::CommandLineCap => c.caps.command_line,
            Field::BatchSize => c.batch,
            Field::RunBudgetMilliseconds => c.run_budget_ms,
            Field::PidTableSize => dword(c.names),
            Field::OmitCommandLine => u32::from(c.omit_command_line),
            Field::StatsIntervalSeconds => c.stats_interval_s,
            Field::EnableProcess => u32::from(c.sources.process),
            Field::EnableThread => u32::from(c.sources.thread),
            Field::EnableImage => u32::from(c.sources.image),
            Field::DebugLevel => c.level,
            Field::ReaderBytes => dword(c.reader_bytes),
            Field::DebuggerOutput => c.debugger_output.value(),
            Field::KernelImageBases => u32::from(c.kernel_image_bases),
        }
    }
}

impl core::fmt::Debug for Setting {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Setting").field("name", &self.name).field("default", &self.default).finish_non_exhaustive()
    }
}

/// Every value under `Parameters`, in the order the INF writes them and the driver reads
/// and prints them.
pub const SETTINGS: [Setting; 15] = [
    Setting {
        name: "RingBytes",
        default: 4 << 20,
        allowed: "a power of two from 4096 to 268435456",
        meaning: "ring memory (non-paged pool), split into one ring per processor, each at least 64 KiB (so at most `max(RingBytes, processors × 64 KiB)`)",
        field: Field::RingBytes,
    },
    Setting {
        name: "ImagePathCap",
        default: 1024,
        allowed: "16 to 32767 UTF-16 units",
        meaning: "UTF-16 units kept of an image path",
        field: Field::ImagePathCap,
    },
    Setting {
        name: "CommandLineCap",
        default: 8192,
        allowed: "0 to 32767 UTF-16 units",
        meaning: "UTF-16 units kept of a command line",
        field: Field::CommandLineCap,
    },
    Setting {
        name: "BatchSize",
        default: 256,
        allowed: "1 to 65536 records",
        meaning: "records one work item run drains before it re-queues",
        field: Field::BatchSize,
    },
    Setting {
        name: "RunBudgetMilliseconds",
        default: 10,
        allowed: "1 to 1000 milliseconds",
        meaning: "how long one work item run may print before it re-queues (it finishes the line it is on)",
        field: Field::RunBudgetMilliseconds,
    },
    Setting {
        name: "PidTableSize",
        default: 4096,
        allowed: "16 to 1048576 processes",
        meaning: "processes the worker remembers by pid (paged pool: about 150 bytes each)",
        field: Field::PidTableSize,
    },
    Setting {
        name: "OmitCommandLine",
        default: 0,
        allowed: "0 or 1",
        meaning: "never copy command lines (not into the ring, not to a reader): lines print `cmdline=<omitted>`, and so do the CLI's lines and JSON",
        field: Field::OmitCommandLine,
    },
    Setting {
        name: "StatsIntervalSeconds",
        default: 60,
        allowed: "0 (only at unload) to 86400 seconds",
        meaning: "seconds between `stats` lines, from a kernel timer, events or not (0: no timer, only at unload)",
        field: Field::StatsIntervalSeconds,
    },
    Setting {
        name: "EnableProcess",
        default: 1,
        allowed: "0 or 1",
        meaning: "register the process create/exit routine",
        field: Field::EnableProcess,
    },
    Setting {
        name: "EnableThread",
        default: 1,
        allowed: "0 or 1",
        meaning: "register the thread create/exit routine",
        field: Field::EnableThread,
    },
    Setting {
        name: "EnableImage",
        default: 1,
        allowed: "0 or 1",
        meaning: "register the image-load routine",
        field: Field::EnableImage,
    },
    Setting {
        name: "DebugLevel",
        default: 3,
        allowed: "0 (error) to 3 (info)",
        meaning: "`DbgPrintEx` level of event and status lines",
        field: Field::DebugLevel,
    },
    Setting {
        name: "ReaderBytes",
        default: 1 << 20,
        allowed: "262144 to 67108864 bytes",
        meaning: "the reader's buffer (non-paged pool, allocated at start): how far `notifyring watch` may fall behind before it loses events (each loss counted, and reported to it in a LOST entry)",
        field: Field::ReaderBytes,
    },
    Setting {
        name: "DebuggerOutput",
        default: 0,
        allowed: "0 (always), 1 (while no reader is attached) or 2 (never)",
        meaning: "event and LOST lines to the debugger: 0 always, 1 only while no reader is attached, 2 never (statistics lines always)",
        field: Field::DebuggerOutput,
    },
    Setting {
        name: "KernelImageBases",
        default: 0,
        allowed: "0 or 1",
        meaning: "1: record where kernel-mode images (drivers) are loaded, for the debugger (`base=0x…`) and a reader (JSON `ImageBase` on `EventID` 6). 0: the callback records no base for them (`base=-`, no `ImageBase`): a kernel image's address tells anyone who reads the output where the kernel's modules lie, which defeats KASLR. User-mode images' bases are always recorded",
        field: Field::KernelImageBases,
    },
];

/// The `config` line the driver prints at start.
///
/// Every setting as `Name=value` in [`SETTINGS`]' order, with what is in force after
/// `RingBytes` (the rings made) and `CommandLineCap` (the caps fitted to them).
#[derive(Clone, Copy, Debug)]
pub struct ConfigLine<'a> {
    /// The settings read.
    pub config: &'a Config,
    /// Rings made.
    pub rings: usize,
    /// Bytes of each ring.
    pub ring_bytes: u64,
    /// The string caps in force.
    pub caps: Caps,
}

impl core::fmt::Display for ConfigLine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("config")?;
        for setting in &SETTINGS {
            write!(f, " {}={}", setting.name, setting.value(self.config))?;
            match setting.field {
                Field::RingBytes => {
                    write!(f, " (in force: {} rings of {}, one per processor)", self.rings, self.ring_bytes)?;
                }
                Field::CommandLineCap => write!(f, " (in force: {}/{})", self.caps.image, self.caps.command_line)?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// The setting called `name`, if there is one.
#[must_use]
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

impl Config {
    /// The defaults (each [`Setting::default`]; a test checks the two agree).
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
        let Some(setting) = setting(name) else { return Ok(()) };
        if !setting.allows(value) {
            return Err(Rejected { name: setting.name, value, allowed: setting.allowed });
        }
        setting.set(self, value);
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
