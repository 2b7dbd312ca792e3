//! `notifyring watch`, minus Windows: what the CLI (cli/) does with the batches the
//! driver returns, so that all of it is tested on the host.
//!
//! * [`Watch::batch`] turns one read's batch into output: the debugger's text lines
//!   (the same [`format::record`] and [`format::lost`] the worker prints with, `notifyring: `
//!   prefix and all) or one JSON object per event and per LOST ([`JsonFormatter`], as
//!   the replay writes them), after the user-mode filters ([`Filter`]);
//! * Sigma rules ([`Watch::with_rules`]): each shown event's JSON object is evaluated
//!   and every alert printed right after the event, as JSON or a text line;
//! * [`Summary`]: what a watch showed, for the line printed when it stops;
//! * [`WatchError`]: bytes that are not a batch this program reads (the CLI makes its
//!   one-line error and exit code of it).
//!
//! Time in JSON: the batch header carries the driver's clock (performance-counter ticks
//! at load, and their frequency). `UtcTime` is the wall clock at load plus the event's
//! offset from it, and the CLI has no wall clock of load: it reads the wall clock and
//! the same performance counter together once ([`Anchor`]) and subtracts the driver's
//! uptime ([`utc_start_ns`]). It does so once, at the first batch, and keeps the result:
//! events are stamped on the monotonic counter, so a later change of the wall clock
//! (NTP, a user) moves no event, and times stay in stamp order. The cost: UTC times
//! are as right as the wall clock was when the watch started.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use super::accounts::AccountNames;
use super::facts::{FileFactsSource, NoFileFacts};
use super::json::{HostProcess, JsonFormatter, LOST_BOTH, LOST_READER_FULL, LOST_RING_FULL};
use super::paths::PathMap;
use super::rules::{AlertCounts, Loaded, Rules};
use super::starts::StartPlaces;
use crate::delivered::Delivered;
use crate::event::Kind;
use crate::reader::wire::{self, Batch, Entry, Process, WireError};
use crate::record::Record;
use crate::vocab::clock::Clock;
use crate::vocab::process::Name;
use crate::worker::format::{self, Context, LINE_BUF};

/// Processes the JSON formatter remembers (as the driver's default pid table).
const JSON_PROCESSES: usize = crate::config::Config::DEFAULT.names;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// The debugger's lines.
    #[default]
    Text,
    /// One JSON object per line (docs/json.md).
    Json,
}

/// Kinds `--kinds` names: `process`, `thread`, `image`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds {
    process: bool,
    thread: bool,
    image: bool,
}

impl Kinds {
    /// Every kind.
    pub const ALL: Self = Self { process: true, thread: true, image: true };

    /// Parses a comma list of `process`, `thread`, `image` (any case, spaces allowed).
    ///
    /// # Errors
    /// A one-line message naming the unknown word, or saying the list is empty.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut kinds = Self { process: false, thread: false, image: false };
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "process" => kinds.process = true,
                "thread" => kinds.thread = true,
                "image" => kinds.image = true,
                _ => return Err(alloc::format!("unknown kind {word:?} (expected process, thread, image)")),
            }
        }
        if kinds == Self::NONE {
            return Err(String::from("no kinds given (expected process, thread, image)"));
        }
        Ok(kinds)
    }

    const NONE: Self = Self { process: false, thread: false, image: false };

    /// Whether events of `kind` pass.
    #[must_use]
    pub const fn contains(self, kind: Kind) -> bool {
        match kind {
            Kind::ProcessCreate | Kind::ProcessExit => self.process,
            Kind::ThreadCreate | Kind::ThreadExit => self.thread,
            Kind::ImageLoad => self.image,
        }
    }
}

/// The user-mode filters. An event shows if it passes all that are set; LOST entries
/// always show (a gap must never be hidden).
#[derive(Clone, Debug)]
pub struct Filter {
    /// `--kinds`.
    pub kinds: Kinds,
    /// `--pid`: the event's process id (the new process's, for a process-create).
    pub pid: Option<u64>,
    /// `--image`, lowercased: a substring of the event's image path or, where the event
    /// has none, of the name of its process.
    image: Option<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Self { kinds: Kinds::ALL, pid: None, image: None }
    }
}

impl Filter {
    /// A filter; `image` matches case-insensitively.
    #[must_use]
    pub fn new(kinds: Kinds, pid: Option<u64>, image: Option<&str>) -> Self {
        Self { kinds, pid, image: image.map(str::to_lowercase) }
    }

    /// Whether an event shows.
    #[must_use]
    pub fn passes(&self, record: &Record<'_>, process: Process<'_>) -> bool {
        if !self.kinds.contains(record.kind) || self.pid.is_some_and(|pid| pid != record.pid) {
            return false;
        }
        let Some(needle) = &self.image else { return true };
        let haystack = match (record.image, process) {
            (Some(image), _) => String::from_utf16_lossy(&image.units().collect::<Vec<_>>()),
            (None, Process::Known(bytes)) => utf16le(bytes),
            (None, _) => return false,
        };
        haystack.to_lowercase().contains(needle.as_str())
    }
}

/// UTF-16LE bytes as a string (U+FFFD for what is not UTF-16).
fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = crate::bytes::utf16(bytes).collect();
    String::from_utf16_lossy(&units)
}

/// The wall clock and the performance counter, read together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// Unix time, ns.
    pub wall_ns: u128,
    /// The performance counter at the same moment (the counter the driver stamps with).
    pub ticks: u64,
}

/// Unix time in ns at `clock.start_ticks` (the driver's load), from `anchor`: its wall
/// time less the driver's uptime at it. An anchor before the clock's start (a foreign
/// counter) counts as uptime 0.
#[must_use]
pub fn utc_start_ns(clock: Clock, anchor: Anchor) -> u128 {
    let uptime_ticks = anchor.ticks.saturating_sub(clock.start_ticks);
    let uptime_ns = u128::from(uptime_ticks) * 1_000_000_000 / u128::from(clock.frequency.max(1));
    anchor.wall_ns.saturating_sub(uptime_ns)
}

/// What a watch showed so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Batches read.
    pub batches: u64,
    /// Events shown.
    pub events: u64,
    /// Events the filters hid.
    pub filtered: u64,
    /// Events lost (the sum of the LOST entries, all shown).
    pub lost: u64,
    /// Alerts made, by level (`None`: no rules).
    pub alerts: Option<AlertCounts>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "notifyring: {} events, {} lost", self.events, self.lost)?;
        if self.filtered != 0 {
            write!(f, " ({} more filtered out)", self.filtered)?;
        }
        if let Some(alerts) = &self.alerts {
            write!(f, ", {}", alerts.line())?;
        }
        Ok(())
    }
}

/// A watch: format, filters, the JSON formatter's memory, the summary.
pub struct Watch {
    format: Format,
    /// Where JSON events get their image files' facts (`None`: no facts).
    files: Option<Box<dyn FileFactsSource>>,
    /// Where JSON events' `User` gets its account name, until the formatter is made at
    /// the first batch and takes it (`None` then, or without one: `User` is the SID).
    accounts: Option<Box<dyn AccountNames + Send>>,
    /// Where JSON events' `StartModule`/`StartFunction` come from, until the formatter
    /// takes it (without one: only what the kernel knows, `StartAddress` and the empty
    /// pair for a start outside every image).
    starts: Option<Box<dyn StartPlaces + Send>>,
    filter: Filter,
    paths: PathMap,
    json: Option<JsonFormatter>,
    /// Sigma rules each shown event is evaluated against (`None`: no rules).
    rules: Option<Arc<Rules>>,
    /// Print the alerts (and LOST reports) only, not the events.
    alerts_only: bool,
    summary: Summary,
    line: [u8; LINE_BUF],
}

impl Watch {
    /// A watch; `paths` converts JSON paths (the CLI asks Windows for the drives).
    #[must_use]
    pub const fn new(format: Format, filter: Filter, paths: PathMap) -> Self {
        Self {
            format,
            files: None,
            accounts: None,
            starts: None,
            filter,
            paths,
            json: None,
            rules: None,
            alerts_only: false,
            summary: Summary { batches: 0, events: 0, filtered: 0, lost: 0, alerts: None },
            line: [0; LINE_BUF],
        }
    }

    /// JSON events get their image files' facts from `source` (the CLI: the disk).
    #[must_use]
    pub fn with_file_facts(mut self, source: Box<dyn FileFactsSource>) -> Self {
        self.files = Some(source);
        self
    }

    /// JSON events name their user SIDs through `names` (the CLI: `LookupAccountSidW`,
    /// cached); without it `User` is the SID, counted in the formatter's
    /// `accounts_unresolved`.
    #[must_use]
    pub fn with_account_names(mut self, names: Box<dyn AccountNames + Send>) -> Self {
        self.accounts = Some(names);
        self
    }

    /// JSON events place a thread's start inside an image through `places` (the CLI: the
    /// file Windows maps there, and its exports).
    #[must_use]
    pub fn with_start_places(mut self, places: Box<dyn StartPlaces + Send>) -> Self {
        self.starts = Some(places);
        self
    }

    /// Evaluates every shown event against `rules` and prints each alert right after
    /// its event (in the output's format); with `alerts_only`, the events themselves are
    /// not printed (LOST reports still are: a gap may hide a match). The events are
    /// evaluated as the JSON output prints them, so a text watch formats them too.
    #[must_use]
    pub fn with_rules(mut self, rules: Arc<Rules>, alerts_only: bool) -> Self {
        self.rules = Some(rules);
        self.alerts_only = alerts_only;
        self.summary.alerts = Some(AlertCounts::default());
        self
    }

    /// What loading the rules found (`None`: no rules).
    #[must_use]
    pub fn rules_loaded(&self) -> Option<&Loaded> {
        self.rules.as_deref().map(Rules::loaded)
    }

    /// The JSON formatter's counters, once the first batch made it (`None` before, and
    /// for text output).
    #[must_use]
    pub fn json_counters(&self) -> Option<super::json::Counters> {
        self.json.as_ref().map(JsonFormatter::counters)
    }

    /// The file-facts source, if any.
    pub fn file_facts(&mut self) -> Option<&mut (dyn FileFactsSource + 'static)> {
        self.files.as_deref_mut()
    }

    /// What was shown so far.
    #[must_use]
    pub const fn summary(&self) -> Summary {
        self.summary
    }

    /// One read's bytes: each entry's output, one line at a time, to `out`.
    ///
    /// `anchor` is read once, at the first batch, for JSON times (see the module doc);
    /// `lookup` names a process the JSON formatter never saw created (an NT or Win32
    /// image path). Entries before a malformed one are shown.
    ///
    /// # Errors
    /// [`WatchError::Wire`] for bytes that are not a batch of this version or hold a
    /// malformed entry, [`WatchError::EntryCount`] if the header announces another count.
    pub fn batch(
        &mut self,
        bytes: &[u8],
        anchor: impl FnOnce() -> Anchor,
        mut lookup: impl FnMut(u64) -> Option<HostProcess>,
        mut out: impl FnMut(&str),
    ) -> Result<(), WatchError> {
        let batch = Batch::parse(bytes).map_err(WatchError::Wire)?;
        self.summary.batches += 1;
        if (self.format == Format::Json || self.rules.is_some()) && self.json.is_none() {
            let start = utc_start_ns(batch.clock, anchor());
            let mut json = JsonFormatter::new(batch.clock, start, self.paths.clone(), JSON_PROCESSES);
            if let Some(names) = self.accounts.take() {
                json.account_names(names);
            }
            if let Some(places) = self.starts.take() {
                json.start_places(places);
            }
            self.json = Some(json);
        }
        let omitted = batch.command_lines_omitted();
        if let Some(json) = self.json.as_mut() {
            json.omit_command_lines(omitted);
        }
        let mut found = 0u32;
        for entry in batch.entries() {
            let entry = entry.map_err(WatchError::Wire)?;
            found = found.saturating_add(1);
            match entry {
                Entry::Lost { seq, count, reason } => self.lost(seq, count, reason, &mut out),
                Entry::Event { process, .. } => {
                    let mut name = Name::EMPTY;
                    if let Some(d) = entry.delivered(&mut name) {
                        self.event(&d, process, (batch.clock, omitted), &mut lookup, &mut out);
                    }
                }
            }
        }
        if found != batch.entries {
            return Err(WatchError::EntryCount { announced: batch.entries, found });
        }
        Ok(())
    }

    fn lost(&mut self, seq: u64, count: u64, reason: u8, out: &mut impl FnMut(&str)) {
        self.summary.lost = self.summary.lost.saturating_add(count);
        // The same words in text and JSON.
        let why = match (reason & wire::LOST_RING != 0, reason & wire::LOST_READER != 0) {
            (true, true) => LOST_BOTH,
            (false, true) => LOST_READER_FULL,
            _ => LOST_RING_FULL,
        };
        match (&mut self.json, self.format) {
            (Some(json), Format::Json) => out(&json.lost_because(seq, count, why)),
            _ => format::lost_because(count, why.as_bytes(), &mut self.line, |l| out(ascii(l.text()))),
        }
    }

    fn event(
        &mut self,
        d: &Delivered<'_>,
        process: Process<'_>,
        (clock, omitted): (Clock, bool),
        lookup: &mut impl FnMut(u64) -> Option<HostProcess>,
        out: &mut impl FnMut(&str),
    ) {
        let shown = self.filter.passes(d.record, process);
        if shown {
            self.summary.events += 1;
        } else {
            self.summary.filtered += 1;
        }
        // The event's JSON object: for JSON output, and for the rules.
        let mut object = None;
        if let Some(json) = &mut self.json {
            // A hidden process-create or -exit still teaches the formatter its process
            // (the `ParentImage` of the children it shows), so it is formatted and dropped.
            let remembers = matches!(d.record.kind, Kind::ProcessCreate | Kind::ProcessExit);
            if shown || remembers {
                // The image file's facts (the CLI: read off the disk), or none.
                let mut none = NoFileFacts;
                let files: &mut dyn FileFactsSource = match self.files.as_deref_mut() {
                    Some(source) => source,
                    None => &mut none,
                };
                object = Some(json.event_with(d, &mut *lookup, files));
            }
        }
        if !shown {
            return;
        }
        if !self.alerts_only {
            if let (Some(object), Format::Json) = (&object, self.format) {
                out(object);
            } else {
                // The worker's own context for the line: its stream position, the
                // driver's clock, what it knew of the process, and whether the driver
                // omits command lines.
                let ctx = Context {
                    seq: d.seq,
                    clock,
                    omit_command_line: omitted,
                    process: d.process,
                    origin: d.origin,
                    token: d.token,
                    start: d.start,
                };
                format::record(d.record, &ctx, &mut self.line, |l| out(ascii(l.text())));
            }
        }
        if let (Some(rules), Some(object)) = (&self.rules, &object) {
            let json = self.format == Format::Json;
            let counts = self.summary.alerts.get_or_insert_default();
            rules.evaluate(object, |alert| {
                counts.0[alert.level.index()] += 1;
                out(&if json { alert.json() } else { alert.text() });
            });
        }
    }
}

/// The formatter's lines are printable ASCII; anything else would be a formatter bug,
/// shown rather than hidden.
fn ascii(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("notifyring: (line not ASCII)")
}

/// Why a read's bytes were not shown in full (the entries before a malformed one were).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchError {
    /// Not a batch of this version, or one that holds a malformed entry.
    Wire(WireError),
    /// The header announces `announced` entries, the batch holds `found`.
    EntryCount {
        /// What the header says.
        announced: u32,
        /// Entries parsed.
        found: u32,
    },
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wire(e) => write!(f, "{e}"),
            Self::EntryCount { announced, found } => write!(f, "batch announces {announced} entries, holds {found}"),
        }
    }
}

impl core::error::Error for WatchError {}
