//! Step 5c: the worker's pid → process image table (slow work, off the callback path).
//!
//! Filled from process-create records and from look-ups of pids the worker has never
//! seen (the driver asks the kernel; tests a table); pruned on process exit. Fixed
//! capacity, allocated once: open addressing with linear probing and backward-shift
//! deletion, at most 3/4 full (past that a process is simply not remembered, and counted).

use alloc::vec::Vec;

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
        let (mut start, mut len) = (0usize, 0usize);
        for (i, unit) in path.clone().enumerate() {
            if separator(unit) {
                (start, len) = (i.wrapping_add(1), 0);
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

#[derive(Clone, Copy)]
struct Slot {
    pid: u64,
    used: bool,
    /// False for a remembered failed look-up (not asked again until the pid is reused).
    known: bool,
    name: Name,
}

const EMPTY: Slot = Slot { pid: 0, used: false, known: false, name: Name::EMPTY };

/// What the table knows about a pid.
#[derive(Clone, Copy, Debug)]
pub enum Entry<'a> {
    /// Never seen.
    Unseen,
    /// Looked up before, without success.
    Unknown,
    /// Known image name.
    Known(&'a Name),
}

/// The pid table.
pub struct Names {
    slots: Vec<Slot>,
    len: usize,
}

impl Names {
    /// A table of `capacity` slots (rounded up to a power of two, at least 16).
    #[must_use]
    pub fn try_new(capacity: usize) -> Option<Self> {
        let capacity = capacity.max(16).checked_next_power_of_two()?;
        Some(Self { slots: crate::sync::try_vec_with(capacity, || EMPTY)?, len: 0 })
    }

    const fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Windows pids are multiples of 4; Fibonacci hashing spreads them.
    const fn home(&self, pid: u64) -> usize {
        ((pid >> 2).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask()
    }

    fn find(&self, pid: u64) -> Option<usize> {
        let mut i = self.home(pid);
        for _ in 0..self.slots.len() {
            let slot = self.slots.get(i)?;
            if !slot.used {
                return None;
            }
            if slot.pid == pid {
                return Some(i);
            }
            i = i.wrapping_add(1) & self.mask();
        }
        None
    }

    /// What is known about `pid`.
    #[must_use]
    pub fn get(&self, pid: u64) -> Entry<'_> {
        match self.find(pid).and_then(|i| self.slots.get(i)) {
            None => Entry::Unseen,
            Some(s) if s.known => Entry::Known(&s.name),
            Some(_) => Entry::Unknown,
        }
    }

    /// Remembers `pid` (replacing what was there). `None` records a failed look-up.
    /// Returns false if the table is too full to remember a new pid.
    pub fn insert(&mut self, pid: u64, name: Option<&Name>) -> bool {
        let slot = Slot { pid, used: true, known: name.is_some(), name: name.copied().unwrap_or(Name::EMPTY) };
        if let Some(i) = self.find(pid) {
            if let Some(s) = self.slots.get_mut(i) {
                *s = slot;
            }
            return true;
        }
        if self.len.saturating_add(1).saturating_mul(4) > self.slots.len().saturating_mul(3) {
            return false;
        }
        let mut i = self.home(pid);
        for _ in 0..self.slots.len() {
            if let Some(s) = self.slots.get_mut(i)
                && !s.used
            {
                *s = slot;
                self.len = self.len.wrapping_add(1);
                return true;
            }
            i = i.wrapping_add(1) & self.mask();
        }
        false
    }

    /// Forgets `pid` (backward-shift deletion keeps probe chains unbroken).
    pub fn remove(&mut self, pid: u64) {
        let Some(mut hole) = self.find(pid) else { return };
        let mask = self.mask();
        let mut i = hole.wrapping_add(1) & mask;
        while let Some(&next) = self.slots.get(i) {
            if !next.used {
                break;
            }
            let wanted = self.home(next.pid);
            // Move `next` into the hole unless its home lies cyclically in (hole, i].
            if (i.wrapping_sub(wanted) & mask) >= (i.wrapping_sub(hole) & mask) {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = next;
                }
                hole = i;
            }
            i = i.wrapping_add(1) & mask;
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = EMPTY;
        }
        self.len = self.len.saturating_sub(1);
    }
}
