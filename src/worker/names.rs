//! Step 5c: the worker's pid table (slow work, off the callback path): each process's
//! image name, and what the worker has seen of its threads.
//!
//! Filled from process-create records and from look-ups of pids the worker has never
//! seen (the driver asks the kernel; tests a table); pruned on process exit. Fixed
//! capacity, allocated once: open addressing with linear probing and backward-shift
//! deletion, at most 3/4 full (past that a process is simply not remembered, and counted).
//!
//! Names are looked up when the worker first meets a pid, which may be a while after
//! the event: if the process has exited and its pid was reused meanwhile, the look-up
//! names the new process. Process-create records are never late in that way.

use crate::event::ClientId;
use crate::vocab::process::{Lookup, Name, Origin, ProcessName};
use alloc::vec::Vec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Known,
    NoImageFile,
    /// A remembered failed look-up (not asked again until the pid is reused).
    Failed,
}

#[derive(Clone, Copy)]
struct Slot {
    pid: u64,
    used: bool,
    state: State,
    name: Name,
    /// The creating thread, when the worker saw this process's create record.
    creator: Option<ClientId>,
    /// Seen created, and its first thread not seen yet.
    initial_pending: bool,
    /// A thread of this process was seen (created or exiting) since the driver started,
    /// so any later thread is not its first.
    threads_seen: bool,
    /// Losses reported before the create record: a change means the first thread's
    /// record may have been among them.
    loss_mark: u64,
}

const EMPTY: Slot = Slot {
    pid: 0,
    used: false,
    state: State::Failed,
    name: Name::EMPTY,
    creator: None,
    initial_pending: false,
    threads_seen: false,
    loss_mark: 0,
};

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
        Some(Self { slots: crate::fallible::try_vec_with(capacity, || EMPTY)?, len: 0 })
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

    /// What is known about `pid`'s name: `None` if it was never seen, `Unknown` if
    /// a look-up failed.
    #[must_use]
    pub fn get(&self, pid: u64) -> Option<ProcessName<'_>> {
        self.find(pid).and_then(|i| self.slots.get(i)).map(|s| match s.state {
            State::Known => ProcessName::Known(&s.name),
            State::NoImageFile => ProcessName::NoImageFile,
            State::Failed => ProcessName::Unknown,
        })
    }

    /// Remembers `pid` as a new process (replacing what was there). `None` records a
    /// failed look-up. Returns false if the table is too full to remember a new pid.
    pub fn insert(&mut self, pid: u64, name: Option<&Name>) -> bool {
        let lookup = if name.is_some() { Lookup::Found } else { Lookup::Failed };
        self.insert_lookup(pid, lookup, name.unwrap_or(&Name::EMPTY))
    }

    /// Remembers what a look-up of `pid` found (`name` is used only if `Found`).
    pub fn insert_lookup(&mut self, pid: u64, lookup: Lookup, name: &Name) -> bool {
        let state = match lookup {
            Lookup::Found => State::Known,
            Lookup::NoImageFile => State::NoImageFile,
            Lookup::Failed => State::Failed,
        };
        let name = if state == State::Known { *name } else { Name::EMPTY };
        self.put(Slot { pid, used: true, state, name, ..EMPTY })
    }

    /// Remembers the create record of `pid`: its name, its creating thread, and the
    /// count of losses reported so far.
    pub fn insert_created(&mut self, pid: u64, name: Option<&Name>, creator: ClientId, losses: u64) -> bool {
        let state = if name.is_some() { State::Known } else { State::Failed };
        let name = name.copied().unwrap_or(Name::EMPTY);
        self.put(Slot {
            pid,
            used: true,
            state,
            name,
            creator: Some(creator),
            initial_pending: true,
            loss_mark: losses,
            ..EMPTY
        })
    }

    /// Whether the worker saw `pid`'s process-create record (and has not forgotten it).
    #[must_use]
    pub fn seen_created(&self, pid: u64) -> bool {
        self.find(pid).and_then(|i| self.slots.get(i)).is_some_and(|s| s.creator.is_some())
    }

    /// A thread of `pid` exited: the process has had a thread.
    pub fn note_thread(&mut self, pid: u64) {
        if let Some(s) = self.find(pid).and_then(|i| self.slots.get_mut(i)) {
            s.threads_seen = true;
        }
    }

    /// Classifies a new thread of `pid` created by `creator` and remembers that the
    /// process now has a thread. `losses` is the count of losses reported so far.
    ///
    /// Sound by construction: a process's first thread is created by the thread that
    /// created the process, inside process creation, so a thread is `Initial` only if
    /// its creator is that thread, no earlier thread was seen and no record since the
    /// create was lost; `Remote` only if it cannot be the first thread (another creator,
    /// or an earlier thread seen); otherwise `Unknown`.
    pub fn thread_origin(&mut self, pid: u64, creator: ClientId, losses: u64) -> Origin {
        let slot = self.find(pid).and_then(|i| self.slots.get_mut(i));
        if creator.pid == pid {
            if let Some(s) = slot {
                s.threads_seen = true;
                s.initial_pending = false;
            }
            return Origin::Local;
        }
        let Some(s) = slot else { return Origin::Unknown };
        let origin = match s.creator {
            Some(by) if s.initial_pending && !s.threads_seen && by == creator => {
                if s.loss_mark == losses {
                    Origin::Initial
                } else {
                    Origin::Unknown
                }
            }
            Some(_) => Origin::Remote,
            None if s.threads_seen => Origin::Remote,
            None => Origin::Unknown,
        };
        s.threads_seen = true;
        s.initial_pending = false;
        origin
    }

    fn put(&mut self, slot: Slot) -> bool {
        let pid = slot.pid;
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
