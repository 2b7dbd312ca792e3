//! What a replay feeds the pipeline: owned events with their strings already in UTF-16
//! (the kernel hands the callbacks UTF-16, so encoding is not part of a callback's cost),
//! each with the time it was recorded at.

use notifyring::event::{ClientId, Event, Kind};
use notifyring::user::facts::FileFacts;
use std::collections::HashMap;

/// One event, owning its strings.
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
    /// What the recording read from the image file of an event (a process create's
    /// image, an image load's image), by index in `events`; only events with any.
    pub file_facts: HashMap<usize, FileFacts>,
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
