//! What is known of a process.
//!
//! Its image's file name ([`Name`]), what a host's look-up found ([`Lookup`]), what the
//! output says of it ([`ProcessName`], the `proc=` field and its wire and JSON forms), and
//! whether a new thread came from another process ([`Origin`]).

/// UTF-16 units kept of a process image's file name.
pub const NAME_UNITS: usize = 64;

/// The file-name part of a process image path, at most [`NAME_UNITS`] units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    units: [u16; NAME_UNITS],
    len: usize,
}

impl Default for Name {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Name {
    /// No name.
    pub const EMPTY: Self = Self { units: [0; NAME_UNITS], len: 0 };

    /// The file name of `path` (after the last `\` or `/`), keeping its last
    /// [`NAME_UNITS`] units if longer (the extension is the telling part).
    #[must_use]
    pub fn from_path(path: impl Iterator<Item = u16> + Clone) -> Self {
        let separator = |unit: u16| unit == u16::from(b'\\') || unit == u16::from(b'/');
        // First pass: where the file name starts and how long it is.
        // A hand-kept index, not `enumerate()`: its count inherits the caller's overflow
        // checks, a panic path the link-time proof (rightly) refuses.
        let (mut start, mut len, mut i) = (0usize, 0usize, 0usize);
        for unit in path.clone() {
            i = i.wrapping_add(1);
            if separator(unit) {
                (start, len) = (i, 0);
            } else {
                len = len.wrapping_add(1);
            }
        }
        // Second pass: its last NAME_UNITS units.
        let skip = start.wrapping_add(len.saturating_sub(NAME_UNITS));
        let mut name = Self::EMPTY;
        for (slot, unit) in name.units.iter_mut().zip(path.skip(skip)) {
            *slot = unit;
            name.len = name.len.wrapping_add(1);
        }
        name
    }

    /// The stored units.
    #[must_use]
    pub fn units(&self) -> &[u16] {
        self.units.get(..self.len).unwrap_or(&[])
    }
}

/// What a look-up of a process the worker never saw created found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The process exists and its image file name was filled in.
    Found,
    /// The process exists but has no image file (System's minimal processes such as
    /// Registry or MemCompression): nothing to name it by, and nothing failed.
    NoImageFile,
    /// No such process any more, or the kernel could not say.
    Failed,
}

/// The worker's knowledge of a record's process, for the `proc=` field.
#[derive(Clone, Copy, Debug)]
pub enum ProcessName<'n> {
    /// Not printed (process-create lines carry the full image; kernel images have none).
    NotApplicable,
    /// Known name.
    Known(&'n Name),
    /// The process has no image file (`proc=-`).
    NoImageFile,
    /// Look-up failed or not possible.
    Unknown,
}

/// Whether a new thread was created by another process, as far as the worker can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Created by a thread of its own process.
    Local,
    /// The first thread of a new process, created by the thread that created the
    /// process (inside process creation): not remote, whatever the pids say.
    Initial,
    /// Created from another process, and not a new process's first thread.
    Remote,
    /// Created from another process, but the worker cannot tell whether it is the
    /// process's first thread (it did not see the process start, or events were lost
    /// since): said so rather than guessed.
    Unknown,
}
