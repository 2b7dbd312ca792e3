//! One JSON object per event, one per line, in Sysmon's vocabulary.
//!
//! Where Sysmon has the event, its `EventID`, field names and value formats, so that
//! Sigma rules with their Sysmon mapping and SIEM parsers read it unchanged.
//! docs/json.md is the schema; a test holds the output to it key by key.
//!
//! | kind | `EventID` |
//! |---|---|
//! | process create | 1 (Sysmon's `ProcessCreate`) |
//! | process exit | 5 (`ProcessTerminate`) |
//! | kernel image load | 6 (`DriverLoad`) |
//! | user image load | 7 (`ImageLoad`) |
//! | thread from another process, not a new process's first | 8 (`CreateRemoteThread`) |
//! | lost events | 1000 (notifyring) |
//! | any other thread create | 1001 (notifyring) |
//! | thread exit | 1002 (notifyring) |
//! | a Sigma rule's alert | 1003 (notifyring, `rules`) |
//!
//! notifyring's own facts (sequence number, kind, CPU, thread and creator ids, exit
//! status, image base and size, signature level and type, truncation) are keys of their
//! own that Sysmon does not use. `ParentImage`/`ParentCommandLine` and the `Image` of
//! the process an event is about come from [`Processes`], which learns them from
//! process-create records and asks its host about processes it never saw created.
//! The image file's facts (`OriginalFileName`, `Hashes`, `Signed`, …: see
//! [`super::facts`]) come from a [`FileFactsSource`], each on the `EventID`s Sysmon puts
//! them on.
//!
//! Strings are escaped per RFC 8259 (by `serde_json`); the output is UTF-8, and an
//! unpaired UTF-16 surrogate (which UTF-8 cannot carry) becomes U+FFFD and is counted.
//! This is user-mode code: the kernel never formats JSON.

use alloc::boxed::Box;
use alloc::string::{String, ToString as _};
use core::fmt::Write as _;
use std::collections::HashMap;

use super::accounts::{AccountNames, NoAccountNames};
use super::facts::{FileEvent, FileFacts, FileFactsSource, NoFileFacts};
use super::paths::PathMap;
use super::starts::{NoStartPlaces, StartPlace, StartPlaces, StartRegion, ThreadStart, start_address};
use crate::delivered::Delivered;
use crate::record::{Detail, Record, Text};
use crate::vocab::clock::Clock;
use crate::vocab::process::Origin;
use crate::vocab::token::{TokenFacts, write_integrity, write_logon_id};

/// `EventID` of a LOST marker.
pub const LOST_EVENT_ID: u64 = 1000;
/// A LOST object's `Reason`: lost before the worker, the ring full.
pub const LOST_RING_FULL: &str = "ring full";
/// … dropped for this reader, its buffer full.
pub const LOST_READER_FULL: &str = "this reader's buffer full";
/// … both, adjacent.
pub const LOST_BOTH: &str = "ring full, then this reader's buffer full";
/// `EventID` of a thread-create that is not a remote thread.
pub const THREAD_CREATE_EVENT_ID: u64 = 1001;
/// `EventID` of a thread exit.
pub const THREAD_EXIT_EVENT_ID: u64 = 1002;
/// `EventID` of an alert: a Sigma rule matched the event before it (`rules`).
pub const ALERT_EVENT_ID: u64 = 1003;

/// UTF-16 units of a process's command line kept for its children's
/// `ParentCommandLine`; a longer one is kept cut, and the children say so.
pub const PARENT_COMMAND_LINE_UNITS: usize = 2048;

/// What the formatter remembers of a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessFacts {
    /// Image path, Win32 form where convertible.
    pub image: Option<String>,
    /// Command line, at most [`PARENT_COMMAND_LINE_UNITS`] units.
    pub command_line: Option<String>,
    /// The command line was longer than the cap (or than the ring's cap).
    pub command_line_truncated: bool,
    /// The account it runs as (`User` of its create), for its children's `ParentUser`
    /// and the `User` of its other events.
    pub user: Option<String>,
}

/// What the host knows of a process the formatter never saw created (it started before
/// the stream, or its create was lost): the CLI asks Windows, the replay the recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostProcess {
    /// Its image path (NT or Win32 form).
    pub image: String,
    /// Its command line, where the host could read it.
    pub command_line: Option<String>,
}

impl From<String> for HostProcess {
    fn from(image: String) -> Self {
        Self { image, command_line: None }
    }
}

/// A bounded pid → [`ProcessFacts`] table.
///
/// Filled from process-create records and from the host's look-ups, pruned at process
/// exit; past `capacity` entries a process is not remembered (counted in
/// [`Counters::processes_dropped`]).
#[derive(Debug)]
pub struct Processes {
    table: HashMap<u64, ProcessFacts>,
    capacity: usize,
}

/// What the formatter counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Objects written (events and LOST markers).
    pub objects: u64,
    /// Unpaired surrogates replaced by U+FFFD.
    pub replaced_surrogates: u64,
    /// Processes not remembered because the table was full.
    pub processes_dropped: u64,
    /// Look-ups of processes never seen created that found nothing.
    pub lookup_failures: u64,
    /// User SIDs with no account name (`User` is then the SID).
    pub accounts_unresolved: u64,
    /// Start addresses whose place could not be said (`StartModule` and `StartFunction`
    /// absent).
    pub start_places_unknown: u64,
}

/// Where the formatter names user SIDs.
struct Accounts(Box<dyn AccountNames + Send>);

impl core::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Accounts")
    }
}

/// Where the formatter learns a start address's place.
struct Starts(Box<dyn StartPlaces + Send>);

impl core::fmt::Debug for Starts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Starts")
    }
}

/// The JSON formatter and what it remembers between events.
#[derive(Debug)]
pub struct JsonFormatter {
    accounts: Accounts,
    starts: Starts,
    processes: Processes,
    paths: PathMap,
    clock: Clock,
    /// Unix time in ns at `clock.start_ticks`.
    utc_start_ns: u128,
    counters: Counters,
    /// The driver omits command lines (`OmitCommandLine=1`): print `<omitted>`.
    omit_command_lines: bool,
}

/// An object being written: `{"Key":value,...}` in insertion order.
struct Object {
    out: String,
    empty: bool,
}

impl Object {
    fn new() -> Self {
        Self { out: String::from("{"), empty: true }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        // RFC 8259 escaping; serializing a `str` cannot fail.
        self.out.push_str(&serde_json::to_string(value).unwrap_or_default());
    }

    fn num(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
const fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "1..=12 and 1..=31")]
    (year, month as u32, day as u32)
}

/// Sysmon's `UtcTime`: `YYYY-MM-DD HH:MM:SS.mmm` for Unix time `ns`.
#[must_use]
pub fn utc_time(ns: u128) -> String {
    let ms = ns / 1_000_000;
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rest = secs % 86_400;
    let (y, m, d) = civil(days);
    alloc::format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}", rest / 3600, rest / 60 % 60, rest % 60, ms % 1000)
}

impl Processes {
    /// An empty table of at most `capacity` processes.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { table: HashMap::new(), capacity }
    }

    /// What is known about `pid`.
    #[must_use]
    pub fn get(&self, pid: u64) -> Option<&ProcessFacts> {
        self.table.get(&pid)
    }

    /// Remembers `pid` (replacing what was there); false if the table is full.
    pub fn insert(&mut self, pid: u64, facts: ProcessFacts) -> bool {
        if self.table.len() >= self.capacity && !self.table.contains_key(&pid) {
            return false;
        }
        self.table.insert(pid, facts);
        true
    }

    /// Forgets `pid`.
    pub fn remove(&mut self, pid: u64) {
        self.table.remove(&pid);
    }
}

impl JsonFormatter {
    /// A formatter for a stream stamped by `clock`, which read `utc_start_ns` (Unix ns)
    /// at `clock.start_ticks`; it remembers at most `processes` processes.
    #[must_use]
    pub fn new(clock: Clock, utc_start_ns: u128, paths: PathMap, processes: usize) -> Self {
        Self {
            accounts: Accounts(Box::new(NoAccountNames)),
            starts: Starts(Box::new(NoStartPlaces)),
            processes: Processes::new(processes),
            paths,
            clock,
            utc_start_ns,
            counters: Counters::default(),
            omit_command_lines: false,
        }
    }

    /// Whether the driver omits command lines (`OmitCommandLine=1`, which the records
    /// then carry none of): `CommandLine` and `ParentCommandLine` say `<omitted>`, as the
    /// debugger's lines do, rather than an empty, truncated string.
    pub const fn omit_command_lines(&mut self, omitted: bool) {
        self.omit_command_lines = omitted;
    }

    /// Where `User` gets its account names (default: none, `User` is the SID).
    pub fn account_names(&mut self, names: Box<dyn AccountNames + Send>) {
        self.accounts = Accounts(names);
    }

    /// Where `StartModule` and `StartFunction` come from (default: nowhere, so only
    /// `StartAddress` is printed).
    pub fn start_places(&mut self, places: Box<dyn StartPlaces + Send>) {
        self.starts = Starts(places);
    }

    /// What was counted so far.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// UTF-16 → UTF-8, U+FFFD (counted) for an unpaired surrogate.
    fn text(&mut self, units: impl Iterator<Item = u16>) -> String {
        let mut out = String::new();
        for c in char::decode_utf16(units) {
            out.push(c.unwrap_or_else(|_| {
                self.counters.replaced_surrogates += 1;
                char::REPLACEMENT_CHARACTER
            }));
        }
        out
    }

    fn utc(&self, ticks: u64) -> String {
        let delta = i128::from(ticks) - i128::from(self.clock.start_ticks);
        let frequency = i128::from(self.clock.frequency.max(1));
        let ns = i128::try_from(self.utc_start_ns).unwrap_or(i128::MAX / 2) + delta * 1_000_000_000 / frequency;
        utc_time(u128::try_from(ns.max(0)).unwrap_or(0))
    }

    /// The facts of `pid`: remembered, or asked of `lookup` (an image path, and a command
    /// line where the host has one) and then remembered.
    fn facts(&mut self, pid: u64, lookup: &mut impl FnMut(u64) -> Option<HostProcess>) -> Option<ProcessFacts> {
        if let Some(facts) = self.processes.get(pid) {
            return Some(facts.clone());
        }
        if pid == 0 {
            return None;
        }
        let Some(known) = lookup(pid) else {
            self.counters.lookup_failures += 1;
            return None;
        };
        let image = Some(String::from(self.paths.win32(&known.image)));
        let (command_line, command_line_truncated) = known.command_line.map_or((None, false), kept_for_children);
        let facts = ProcessFacts { image, command_line, command_line_truncated, user: None };
        if !self.processes.insert(pid, facts.clone()) {
            self.counters.processes_dropped += 1;
        }
        Some(facts)
    }

    /// The object of one delivered record. `lookup` names a process the formatter never
    /// saw created (the CLI asks Windows; the replay, the recording). No file facts: see
    /// [`Self::event_with`].
    pub fn event(&mut self, d: &Delivered<'_>, lookup: impl FnMut(u64) -> Option<HostProcess>) -> String {
        self.event_with(d, lookup, &mut NoFileFacts)
    }

    /// [`Self::event`], with the image file's facts from `files` on process creates
    /// (`EventID` 1) and image loads (6, 7), as Sysmon has them on those events.
    pub fn event_with(
        &mut self,
        d: &Delivered<'_>,
        mut lookup: impl FnMut(u64) -> Option<HostProcess>,
        files: &mut dyn FileFactsSource,
    ) -> String {
        let rec: &Record<'_> = d.record;
        let mut o = Object::new();
        let kernel_image = matches!(rec.detail, Detail::ImageLoad { kernel_image: true, .. });
        let event_id = match rec.detail {
            Detail::ProcessCreate { .. } => 1,
            Detail::ProcessExit { .. } => 5,
            Detail::ImageLoad { .. } if kernel_image => 6,
            Detail::ImageLoad { .. } => 7,
            Detail::ThreadCreate { .. } if d.origin == Origin::Remote => 8,
            Detail::ThreadCreate { .. } => THREAD_CREATE_EVENT_ID,
            Detail::ThreadExit { .. } => THREAD_EXIT_EVENT_ID,
        };
        o.num("EventID", event_id);
        o.str("UtcTime", &self.utc(rec.stamp.ticks));
        match rec.detail {
            Detail::ProcessCreate { .. } => self.process_create(&mut o, rec, d.token, &mut lookup, files),
            Detail::ThreadCreate { .. } => self.thread_create(&mut o, rec, d.origin, d.start, &mut lookup),
            Detail::ImageLoad { .. } => self.image_load(&mut o, rec, &mut lookup, files),
            _ => self.other(&mut o, rec, &mut lookup),
        }
        o.num("Sequence", d.seq);
        o.str("Kind", rec.kind.name());
        o.num("Cpu", u64::from(rec.stamp.cpu));
        self.counters.objects += 1;
        o.finish()
    }

    /// The record's image path (as given, and Win32 where convertible) and what `files`
    /// knows of that file. A path cut by the cap names no file: its facts are not asked.
    fn image_file(&mut self, rec: &Record<'_>, files: &mut dyn FileFactsSource) -> (Option<String>, Option<FileFacts>) {
        let Some(t) = rec.image else { return (None, None) };
        let raw = self.text(t.units());
        let win32 = self.paths.win32(&raw).into_owned();
        let facts = if t.truncated() {
            None
        } else {
            files.file_facts(&FileEvent {
                kind: rec.kind,
                pid: rec.pid,
                ticks: rec.stamp.ticks,
                path: &raw,
                win32_path: &win32,
            })
        };
        (Some(win32), facts)
    }

    /// `EventID` 1: a process create; remembers the process for its children.
    fn process_create(
        &mut self,
        o: &mut Object,
        rec: &Record<'_>,
        token: Option<&TokenFacts>,
        lookup: &mut impl FnMut(u64) -> Option<HostProcess>,
        files: &mut dyn FileFactsSource,
    ) {
        let Detail::ProcessCreate { parent_pid, creator, file_open_name_available, subsystem_process } = rec.detail
        else {
            return;
        };
        let (image, file) = self.image_file(rec, files);
        let file = file.unwrap_or_default();
        let cmd = rec.command_line.filter(|_| !self.omit_command_lines);
        let command_line = if self.omit_command_lines {
            rec.command_line.map(|_| String::from("<omitted>"))
        } else {
            cmd.map(|t| self.text(t.units()))
        };
        o.num("ProcessId", rec.pid);
        if let Some(image) = &image {
            o.str("Image", image);
        }
        version_resource(o, &file);
        if let Some(command_line) = &command_line {
            o.str("CommandLine", command_line);
        }
        let user = token.and_then(|token| self.token(o, token));
        fact(o, "Hashes", file.hashes.as_deref());
        o.num("ParentProcessId", parent_pid);
        let parent = self.facts(parent_pid, lookup);
        if let Some(parent) = &parent {
            if let Some(image) = &parent.image {
                o.str("ParentImage", image);
            }
            if let Some(command_line) = &parent.command_line {
                o.str("ParentCommandLine", command_line);
                if parent.command_line_truncated {
                    o.bool("ParentCommandLineTruncated", true);
                }
            }
            if let Some(user) = &parent.user {
                o.str("ParentUser", user);
            }
        }
        o.num("CreatorProcessId", creator.pid);
        o.num("CreatorThreadId", creator.tid);
        o.bool("FileOpenNameAvailable", file_open_name_available);
        if subsystem_process {
            o.bool("SubsystemProcess", true);
        }
        truncation(o, "ImageOriginalLength", rec.image);
        truncation(o, "CommandLineOriginalLength", cmd);
        // Remember it for its children, its images and its threads.
        let (kept, cut) = command_line.map_or((None, false), |c| {
            let (kept, cut) = kept_for_children(c);
            (kept, cut || cmd.is_some_and(|t| t.truncated()))
        });
        let facts = ProcessFacts { image, command_line: kept, command_line_truncated: cut, user };
        if !self.processes.insert(rec.pid, facts) {
            self.counters.processes_dropped += 1;
        }
    }

    /// `User`, `LogonId`, `IntegrityLevel` (Sysmon's order and forms), and the user's
    /// SID as `UserSid`. Returns the `User`.
    fn token(&mut self, o: &mut Object, token: &TokenFacts) -> Option<String> {
        let user = token.user.map(|sid| {
            let sid_text = sid.to_string();
            let name = self.accounts.0.account(&sid).unwrap_or_else(|| {
                self.counters.accounts_unresolved += 1;
                sid_text.clone()
            });
            o.str("User", &name);
            o.str("UserSid", &sid_text);
            name
        });
        if let Some(id) = token.logon_id {
            let mut text = String::new();
            write_logon_id(id, |p| text.push_str(core::str::from_utf8(p).unwrap_or("")));
            o.str("LogonId", &text);
        }
        if let Some(level) = token.integrity_level() {
            let mut text = String::new();
            write_integrity(level, |p| text.push_str(core::str::from_utf8(p).unwrap_or("")));
            o.str("IntegrityLevel", &text);
        }
        user
    }

    /// The account `pid` runs as, if the formatter saw it created with its token facts.
    fn user_of(&self, pid: u64) -> Option<String> {
        self.processes.get(pid).and_then(|f| f.user.clone())
    }

    /// `EventID` 8 (a remote thread) or 1001 (any other thread create).
    fn thread_create(
        &mut self,
        o: &mut Object,
        rec: &Record<'_>,
        origin: Origin,
        start: Option<ThreadStart>,
        lookup: &mut impl FnMut(u64) -> Option<HostProcess>,
    ) {
        let Detail::ThreadCreate { tid, creator } = rec.detail else { return };
        if origin == Origin::Remote {
            o.num("SourceProcessId", creator.pid);
            if let Some(image) = self.facts(creator.pid, lookup).and_then(|f| f.image) {
                o.str("SourceImage", &image);
            }
            o.num("TargetProcessId", rec.pid);
            if let Some(image) = self.facts(rec.pid, lookup).and_then(|f| f.image) {
                o.str("TargetImage", &image);
            }
            o.num("NewThreadId", tid);
            self.start(o, rec.pid, start);
            if let Some(user) = self.user_of(creator.pid) {
                o.str("SourceUser", &user);
            }
            if let Some(user) = self.user_of(rec.pid) {
                o.str("TargetUser", &user);
            }
            o.num("CreatorThreadId", creator.tid);
            return;
        }
        o.num("ProcessId", rec.pid);
        if let Some(image) = self.facts(rec.pid, lookup).and_then(|f| f.image) {
            o.str("Image", &image);
        }
        o.num("ThreadId", tid);
        o.num("CreatorProcessId", creator.pid);
        o.num("CreatorThreadId", creator.tid);
        o.str(
            "RemoteThread",
            match origin {
                Origin::Initial => "initial",
                Origin::Unknown => "unknown",
                Origin::Local | Origin::Remote => "no",
            },
        );
        self.start(o, rec.pid, start);
    }

    /// `StartAddress` and, where its place is known, `StartModule` and `StartFunction`
    /// (empty strings for a start outside every image, as Sysmon writes them: the kernel's
    /// answer suffices for that).
    fn start(&mut self, o: &mut Object, pid: u64, start: Option<ThreadStart>) {
        let Some(start) = start else { return };
        o.str("StartAddress", &start_address(start.address));
        let place = match start.region {
            StartRegion::NoImage => Some(StartPlace::NoImage),
            StartRegion::Image { .. } | StartRegion::Unknown => self.starts.0.start_place(pid, &start),
        };
        match place {
            Some(StartPlace::Image { path, function }) => {
                o.str("StartModule", &self.paths.win32(&path));
                if let Some(function) = function {
                    o.str("StartFunction", &function);
                }
            }
            Some(StartPlace::NoImage) => {
                o.str("StartModule", "");
                o.str("StartFunction", "");
            }
            None => self.counters.start_places_unknown += 1,
        }
    }

    /// `EventID` 6 (a kernel-mode image: `Hashes` and the signature, no version
    /// resource, as Sysmon's `DriverLoad`) or 7 (a user-mode image, into `rec.pid`).
    fn image_load(
        &mut self,
        o: &mut Object,
        rec: &Record<'_>,
        lookup: &mut impl FnMut(u64) -> Option<HostProcess>,
        files: &mut dyn FileFactsSource,
    ) {
        let Detail::ImageLoad { base, size, kernel_image, signature_level, signature_type } = rec.detail else {
            return;
        };
        if !kernel_image {
            o.num("ProcessId", rec.pid);
            if let Some(image) = self.facts(rec.pid, lookup).and_then(|f| f.image) {
                o.str("Image", &image);
            }
        }
        let (loaded, file) = self.image_file(rec, files);
        let file = file.unwrap_or_default();
        if let Some(loaded) = &loaded {
            o.str("ImageLoaded", loaded);
        }
        if !kernel_image {
            version_resource(o, &file);
        }
        fact(o, "Hashes", file.hashes.as_deref());
        if let Some(signed) = file.signed {
            // A string in Sysmon's manifest (`win:UnicodeString`), unlike its booleans.
            o.str("Signed", if signed { "true" } else { "false" });
        }
        fact(o, "Signature", file.signature.as_deref());
        fact(o, "SignatureStatus", file.signature_status.as_deref());
        if let Some(user) = self.user_of(rec.pid).filter(|_| !kernel_image) {
            o.str("User", &user);
        }
        // 0: not given (a kernel image's base unless `KernelImageBases` is set).
        if base != 0 {
            o.str("ImageBase", &alloc::format!("0x{base:x}"));
        }
        o.num("ImageSize", size);
        o.num("SignatureLevel", u64::from(signature_level));
        o.num("SignatureType", u64::from(signature_type));
        truncation(o, "ImageLoadedOriginalLength", rec.image);
    }

    /// `EventID` 5 and 1002: process exit, thread exit.
    fn other(&mut self, o: &mut Object, rec: &Record<'_>, lookup: &mut impl FnMut(u64) -> Option<HostProcess>) {
        match rec.detail {
            Detail::ProcessExit { exit_status } => {
                o.num("ProcessId", rec.pid);
                if let Some(image) = self.facts(rec.pid, lookup).and_then(|f| f.image) {
                    o.str("Image", &image);
                }
                if let Some(user) = self.user_of(rec.pid) {
                    o.str("User", &user);
                }
                o.str("ExitStatus", &alloc::format!("0x{exit_status:08X}"));
                self.processes.remove(rec.pid);
            }
            Detail::ThreadExit { tid } => {
                o.num("ProcessId", rec.pid);
                if let Some(image) = self.facts(rec.pid, lookup).and_then(|f| f.image) {
                    o.str("Image", &image);
                }
                o.num("ThreadId", tid);
            }
            Detail::ProcessCreate { .. } | Detail::ThreadCreate { .. } | Detail::ImageLoad { .. } => {}
        }
    }

    /// The object of a LOST marker: `count` events lost to a full ring after stream
    /// position `seq` (the only loss before a reader: see [`Self::lost_because`]).
    pub fn lost(&mut self, seq: u64, count: u64) -> String {
        self.lost_because(seq, count, LOST_RING_FULL)
    }

    /// [`Self::lost`], saying where they were lost: [`LOST_RING_FULL`],
    /// [`LOST_READER_FULL`] or [`LOST_BOTH`] (the words of the text `LOST` line).
    pub fn lost_because(&mut self, seq: u64, count: u64, reason: &str) -> String {
        let mut o = Object::new();
        o.num("EventID", LOST_EVENT_ID);
        o.num("Lost", count);
        o.str("Reason", reason);
        o.num("Sequence", seq.wrapping_add(1));
        o.str("Kind", "lost");
        self.counters.objects += 1;
        o.finish()
    }
}

/// A file fact under Sysmon's `key`. Sysmon writes `-` for a value it could not read
/// or that is empty; here such a value is absent, as every unknown is.
fn fact(o: &mut Object, key: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty() && *v != "-") {
        o.str(key, value);
    }
}

/// The version resource's strings, in Sysmon's order (events 1 and 7).
fn version_resource(o: &mut Object, file: &FileFacts) {
    fact(o, "FileVersion", file.file_version.as_deref());
    fact(o, "Description", file.description.as_deref());
    fact(o, "Product", file.product.as_deref());
    fact(o, "Company", file.company.as_deref());
    fact(o, "OriginalFileName", file.original_file_name.as_deref());
}

/// `key: original length` when `text` was cut by a cap.
fn truncation(o: &mut Object, key: &str, text: Option<Text<'_>>) {
    if let Some(t) = text.filter(Text::truncated) {
        o.num(key, u64::from(t.original_len()));
    }
}

/// A command line as a process's children see it (`ParentCommandLine`): at most
/// [`PARENT_COMMAND_LINE_UNITS`] units, and whether it was cut.
fn kept_for_children(command_line: String) -> (Option<String>, bool) {
    let cut = command_line.encode_utf16().count() > PARENT_COMMAND_LINE_UNITS;
    (Some(if cut { cut_units(&command_line, PARENT_COMMAND_LINE_UNITS) } else { command_line }), cut)
}

/// The first `units` UTF-16 units of `s` (not splitting a surrogate pair).
fn cut_units(s: &str, units: usize) -> String {
    let mut n = 0;
    s.chars()
        .take_while(|c| {
            n += c.len_utf16();
            n <= units
        })
        .collect()
}
