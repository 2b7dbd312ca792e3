//! The replay's file facts: what Sysmon read from each image file on the machine that
//! recorded the trace.
//!
//! They are served to the JSON formatter through the `FileFactsSource` interface the
//! CLI's disk reader implements, as if read from disk when the event arrived.
//!
//! Keying: each delivered record gets the facts of the trace line it came from. The
//! recording has facts per event (Sysmon read the file at each event), and a cache by
//! path, the CLI's model, would not reproduce them: in the shared traces some paths'
//! facts differ between events (creates taken from Security 4688 carry none; Sysmon
//! sometimes could not read a file it read before), so a path cache would print facts
//! the recording does not have at that event. A record names its line by process and
//! stamp: the producers write each event's stamp into [`Stamps`] before recording it,
//! and one process's events are recorded by one producer in order, so its stamps rise
//! with its lines. Lines of the process stamped before the record asked about were lost
//! (or never asked: no path, or one cut by the cap) and are passed over and counted.

use super::workload::{Item, Workload};
use crate::event::Kind;
use crate::user::facts::{FileEvent, FileFacts, FileFactsSource};
use std::boxed::Box;
use std::collections::{HashMap, VecDeque};
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A slot not stamped yet.
const UNSTAMPED: u64 = u64::MAX;

/// The stamp (ticks) each event of the workload was recorded with, by index.
///
/// Written by the producers before they record the event, read by the worker after it
/// took the record from the ring; the ring's release/acquire orders the two, so
/// relaxed accesses suffice.
pub struct Stamps(Box<[AtomicU64]>);

impl Stamps {
    /// `events` unstamped slots.
    #[must_use]
    pub fn new(events: usize) -> Self {
        Self((0..events).map(|_| AtomicU64::new(UNSTAMPED)).collect())
    }

    /// Event `index` is recorded with `ticks`.
    pub fn set(&self, index: usize, ticks: u64) {
        if let Some(slot) = self.0.get(index) {
            slot.store(ticks, Ordering::Relaxed);
        }
    }

    fn get(&self, index: usize) -> Option<u64> {
        self.0.get(index).map(|s| s.load(Ordering::Relaxed)).filter(|&t| t != UNSTAMPED)
    }
}

/// What the source did, for the checks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FactsCounts {
    /// Records the formatter asked about.
    pub asked: u64,
    /// Of those, the ones whose line had facts (served).
    pub served: u64,
    /// Lines passed over: stamped before a later record of their process was asked
    /// about, never asked themselves (lost, or no whole path).
    pub passed: u64,
    /// Of those, the ones that had facts.
    pub passed_with_facts: u64,
    /// Records no line matched: the replay's own bug, never expected.
    pub unmatched: u64,
    /// Lines never reached (at the end of their process's stream and not asked about).
    pub left: u64,
}

/// One process-create or image-load line.
struct Line {
    index: usize,
    kind: Kind,
    /// The image path as the record carries it (lossy UTF-8, as the formatter hands it).
    path: Option<String>,
    facts: Option<FileFacts>,
}

/// The recorded facts, served by (process, stamp) as the module doc says.
pub struct RecordedFacts {
    /// Per process, its lines in recording order.
    lines: HashMap<u64, VecDeque<Line>>,
    stamps: Arc<Stamps>,
    counts: FactsCounts,
}

impl RecordedFacts {
    /// The facts of `workload`, for events the producers stamp into `stamps`.
    #[must_use]
    pub fn new(workload: &Workload, stamps: Arc<Stamps>) -> Self {
        let mut lines: HashMap<u64, VecDeque<Line>> = HashMap::new();
        for (index, timed) in workload.events.iter().enumerate() {
            let (kind, image) = match &timed.item {
                Item::ProcessCreate { image, .. } => (Kind::ProcessCreate, image),
                Item::ImageLoad { image, .. } => (Kind::ImageLoad, image),
                _ => continue,
            };
            let path = image.as_deref().map(String::from_utf16_lossy);
            let facts = workload.file_facts.get(&index).cloned();
            lines.entry(timed.item.pid()).or_default().push_back(Line { index, kind, path, facts });
        }
        Self { lines, stamps, counts: FactsCounts::default() }
    }

    /// What was counted; `left` counts the lines not reached so far.
    #[must_use]
    pub fn counts(&self) -> FactsCounts {
        FactsCounts { left: self.lines.values().map(|q| q.len() as u64).sum(), ..self.counts }
    }
}

impl FileFactsSource for RecordedFacts {
    fn file_facts(&mut self, event: &FileEvent<'_>) -> Option<FileFacts> {
        self.counts.asked += 1;
        if let Some(queue) = self.lines.get_mut(&event.pid) {
            while let Some(stamp) = queue.front().and_then(|l| self.stamps.get(l.index)) {
                if stamp > event.ticks {
                    break;
                }
                let line = queue.pop_front()?;
                // Equal stamps (a coarse counter) are told apart by kind and path.
                if stamp == event.ticks && line.kind == event.kind && line.path.as_deref() == Some(event.path) {
                    self.counts.served += u64::from(line.facts.is_some());
                    return line.facts;
                }
                self.counts.passed += 1;
                self.counts.passed_with_facts += u64::from(line.facts.is_some());
            }
        }
        self.counts.unmatched += 1;
        None
    }
}
