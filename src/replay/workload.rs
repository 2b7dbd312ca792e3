//! What a replay feeds the pipeline: owned events, each with the time it was recorded at.
//!
//! Their strings are already in UTF-16 (the kernel hands the callbacks UTF-16, so
//! encoding is not part of a callback's cost).

use crate::event::{ClientId, Event, Kind};
use crate::user::accounts::AccountNames;
use crate::user::facts::FileFacts;
use crate::user::starts::{StartPlace, ThreadStart};
use crate::vocab::token::{Sid, TokenFacts};
use std::borrow::ToOwned;
use std::boxed::Box;
use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

/// One event, owning its strings.
#[allow(missing_docs, reason = "each variant's fields are those of the `Event` variant it names")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// See [`Event::ProcessCreate`].
    ProcessCreate {
        pid: u64,
        parent_pid: u64,
        creator: ClientId,
        file_open_name_available: bool,
        subsystem_process: bool,
        image: Option<Box<[u16]>>,
        command_line: Option<Box<[u16]>>,
    },
    /// See [`Event::ProcessExit`].
    ProcessExit { pid: u64, exit_status: u32 },
    /// See [`Event::ThreadCreate`].
    ThreadCreate { pid: u64, tid: u64, creator: ClientId },
    /// See [`Event::ThreadExit`].
    ThreadExit { pid: u64, tid: u64 },
    /// See [`Event::ImageLoad`].
    ImageLoad {
        pid: u64,
        base: u64,
        size: u64,
        kernel_image: bool,
        signature_level: u8,
        signature_type: u8,
        image: Option<Box<[u16]>>,
    },
}

impl Item {
    /// The borrowed form a notify callback would hand to `Pipeline::record`.
    #[inline]
    #[must_use]
    pub fn event(&self) -> Event<'_> {
        match self {
            Self::ProcessCreate {
                pid,
                parent_pid,
                creator,
                file_open_name_available,
                subsystem_process,
                image,
                command_line,
            } => Event::ProcessCreate {
                pid: *pid,
                parent_pid: *parent_pid,
                creator: *creator,
                file_open_name_available: *file_open_name_available,
                subsystem_process: *subsystem_process,
                image: image.as_deref(),
                command_line: command_line.as_deref(),
            },
            Self::ProcessExit { pid, exit_status } => Event::ProcessExit { pid: *pid, exit_status: *exit_status },
            Self::ThreadCreate { pid, tid, creator } => Event::ThreadCreate { pid: *pid, tid: *tid, creator: *creator },
            Self::ThreadExit { pid, tid } => Event::ThreadExit { pid: *pid, tid: *tid },
            Self::ImageLoad { pid, base, size, kernel_image, signature_level, signature_type, image } => {
                Event::ImageLoad {
                    pid: *pid,
                    base: *base,
                    size: *size,
                    kernel_image: *kernel_image,
                    signature_level: *signature_level,
                    signature_type: *signature_type,
                    image: image.as_deref(),
                }
            }
        }
    }

    /// The process whose producer records this event (per-process order holds).
    #[must_use]
    pub const fn pid(&self) -> u64 {
        match self {
            Self::ProcessCreate { pid, .. }
            | Self::ProcessExit { pid, .. }
            | Self::ThreadCreate { pid, .. }
            | Self::ThreadExit { pid, .. }
            | Self::ImageLoad { pid, .. } => *pid,
        }
    }

    /// This event's kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.event().kind()
    }
}

/// An event and when it was recorded (ns since the start of its stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// Nanoseconds since the stream started.
    pub t_ns: u64,
    /// The event.
    pub item: Item,
}

/// A line of input that was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    /// `FILE:LINE`.
    pub at: String,
    /// Why it was skipped.
    pub reason: String,
}

/// A whole replay input.
#[derive(Debug, Default)]
pub struct Workload {
    /// Events in stream order (per-process order is what the producers preserve).
    pub events: Vec<Timed>,
    /// Processes the simulated kernel can name on request (pid → image path), for pids
    /// whose creation is not in the stream (they existed before the recording began).
    pub processes: HashMap<u64, Box<[u16]>>,
    /// Their command lines, where the recording names them (a create's `parent_cmdline`).
    pub command_lines: HashMap<u64, Box<[u16]>>,
    /// What the recording read from the image file of an event (a process create's
    /// image, an image load's image), by index in `events`; only events with any.
    pub file_facts: HashMap<usize, FileFacts>,
    /// A process create's token facts as the recording has them (the simulated kernel
    /// serves them as if read from the new process's token), by index in `events`.
    pub tokens: HashMap<usize, TokenFacts>,
    /// The recording's account names and the SIDs they stand for.
    pub accounts: Accounts,
    /// A remote thread's start facts as recorded, by (pid, tid): what the simulated kernel
    /// reads from the thread and the target's memory (outside every image where the
    /// recording says so; the base of an image is not recorded).
    pub thread_starts: HashMap<(u64, u64), ThreadStart>,
    /// Where that address lies, by (pid, address): what user mode learns of it.
    pub start_places: HashMap<(u64, u64), StartPlace>,
    /// Where the events came from, for the summary.
    pub sources: Vec<String>,
    /// Skipped input lines (at most `trace::MALFORMED_SHOWN_PER_FILE` per file).
    pub malformed: Vec<Malformed>,
    /// How many input lines were skipped.
    pub malformed_lines: u64,
}

impl Workload {
    /// Events per kind, in `Kind::ALL` order.
    #[must_use]
    pub fn count_by_kind(&self) -> [u64; 5] {
        let mut counts = [0u64; 5];
        for e in &self.events {
            if let Some(c) = counts.get_mut(e.item.kind().index()) {
                *c += 1;
            }
        }
        counts
    }
}

/// `s` as UTF-16 units.
#[must_use]
pub fn utf16(s: &str) -> Box<[u16]> {
    s.encode_utf16().collect()
}

/// The accounts a recording names (`DOMAIN\\user`, as Sysmon prints them) and a SID for
/// each.
///
/// The SIDs are the well-known ones Windows gives those names (`NT AUTHORITY\\SYSTEM` is
/// S-1-5-18, `Window Manager\\DWM-1` S-1-5-90-0-1, …), and for any other account a
/// made-up one (`S-1-5-21-1-2-<domain>-<1000 + n>`), as a domain or the local SAM would
/// give it. The replay's kernel hands the SID to the worker, and the JSON formatter
/// names it through this table, as the CLI names it with `LookupAccountSidW` on the
/// machine that recorded the trace.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    by_name: HashMap<String, Sid>,
    by_sid: HashMap<Sid, String>,
    domains: HashMap<String, u32>,
}

impl Accounts {
    /// The SID `name` stands for (assigned on first sight).
    pub fn sid_of(&mut self, name: &str) -> Option<Sid> {
        if let Some(sid) = self.by_name.get(name) {
            return Some(*sid);
        }
        let (domain, user) = name.split_once('\\').unwrap_or(("", name));
        let numbered = |prefix: &str| user.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok());
        let sid = match (domain.to_ascii_uppercase().as_str(), user.to_ascii_uppercase().as_str()) {
            ("NT AUTHORITY", "SYSTEM") => Sid::from_parts(5, &[18]),
            ("NT AUTHORITY", "LOCAL SERVICE") => Sid::from_parts(5, &[19]),
            ("NT AUTHORITY", "NETWORK SERVICE") => Sid::from_parts(5, &[20]),
            ("WINDOW MANAGER", _) if numbered("DWM-").is_some() => Sid::from_parts(5, &[90, 0, numbered("DWM-")?]),
            ("FONT DRIVER HOST", _) if numbered("UMFD-").is_some() => Sid::from_parts(5, &[96, 0, numbered("UMFD-")?]),
            _ => {
                let next = u32::try_from(self.domains.len()).ok()?;
                let domain_id = *self.domains.entry(domain.to_ascii_uppercase()).or_insert(next);
                let rid = 1000 + u32::try_from(self.by_name.len()).ok()?;
                Sid::from_parts(5, &[21, 1, 2, domain_id, rid])
            }
        }?;
        self.by_name.insert(name.to_owned(), sid);
        self.by_sid.entry(sid).or_insert_with(|| name.to_owned());
        Some(sid)
    }
}

impl AccountNames for Accounts {
    fn account(&mut self, sid: &Sid) -> Option<String> {
        self.by_sid.get(sid).cloned()
    }
}
