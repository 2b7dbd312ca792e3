//! The replay itself: start the simulated kernel, let producer threads call the record
//! entry point for every event (timing each call), unload, and check what came out.
//!
//! In JSON mode the worker also feeds the simulated reader's device (the driver's
//! reader sink, `\\.\Global\NotifyRing`), and a reader thread reads its batches off
//! the wire and turns them into JSON with the CLI's own [`Watch`], as `notifyring watch
//! --format json` does on Windows. The worker waits for room in the reader's buffer
//! before it hands over an event (a debugger-attached worker waits too), so the reader
//! loses nothing and the JSON holds every event. Losses in the ring reach the JSON as
//! the CLI sees them: the channel joins LOST reports with no event between them (two
//! rings' trailing losses, say) into one LOST object with their sum.
//!
//! Producers own disjoint sets of processes (by pid), so each process's events keep
//! their order, as they would on Windows where one process's callbacks cannot overtake
//! each other. Each producer keeps its own latency histogram and counts; nothing shared
//! is written on the hot path except by the pipeline itself.

use super::facts::{FactsCounts, RecordedFacts, Stamps};
use super::ticker::Ticker;
use super::workload::Workload;
use crate::config::Config;
use crate::config::DebuggerOutput;
use crate::delivered::Delivered;
use crate::event::{Event, Kind, Stamp};
use crate::pipeline::{NewError, Pipeline, Recorded};
use crate::reader::wire::{self, Batch, Entry};
use crate::record::Caps;
use crate::sim::device::{Completion, ReaderHandle, SimDevice};
use crate::sim::objects::{ObjectsReport, SimObjects};
use crate::sim::{QueueReport, SimKernel, SimQueue, Unloaded};
use crate::stats::Snapshot;
use crate::user::facts::{FileEvent, FileFacts, FileFactsSource};
use crate::user::json::{Counters, HostProcess};
use crate::user::paths::PathMap;
use crate::user::rules::{AlertCounts, Loaded, Rules};
use crate::user::starts::{StartPlace, StartPlaces, ThreadStart};
use crate::user::watch::{self, Anchor, Filter, Watch};
use crate::vocab::clock::Clock;
use crate::vocab::process::{Lookup, Name};
use crate::vocab::token::TokenFacts;
use crate::worker::format::Line;
use crate::worker::{Host, Sink, WorkerEnv};
use hdrhistogram::Histogram;
use std::borrow::ToOwned;
use std::boxed::Box;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufWriter, Stdout, Write};
use std::rc::Rc;
use std::string::{String, ToString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::vec::Vec;
use std::{format, vec};

/// Where the debugger lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Standard output (buffered).
    Stdout,
    /// Nowhere (`--quiet`); lines are still formatted and counted.
    Discard,
    /// Kept in memory, for tests.
    Keep,
}

/// What the replay prints on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The debugger lines, exactly as the driver hands them to `DbgPrintEx`.
    #[default]
    Text,
    /// One Sysmon-compatible JSON object per event (docs/json.md).
    Json,
}

/// Counts of the JSON objects written, for the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonCounts {
    /// Event objects, by the kind of their record.
    pub objects_by_kind: [u64; 5],
    /// Sum of the `Lost` counts of LOST objects.
    pub lost_in_objects: u64,
    /// The formatter's own counters.
    pub counters: Counters,
    /// What the recorded file facts did; `None` when the input has none.
    pub file_facts: Option<FactsCounts>,
    /// What went wrong between the device and the JSON: a batch the watch could not
    /// read, a read refused, objects the watch did not show. Empty in a sound run.
    pub errors: Vec<String>,
    /// Alerts the rules made, by level (`None`: no rules).
    pub alerts: Option<AlertCounts>,
    /// What loading the rules found (`None`: no rules).
    pub rules: Option<Loaded>,
}

/// Kernel-side and pacing settings of one run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Producer threads (≥ 1).
    pub producers: usize,
    /// Recorded timing scaled by this factor; `None`: as fast as possible.
    pub speed: Option<f64>,
    /// Ring capacity in bytes.
    pub ring_bytes: usize,
    /// String caps in UTF-16 units.
    pub caps: Caps,
    /// The worker sleeps this long before each run.
    pub stall_worker: Duration,
    /// Each printed line costs the worker this long (a debugger's round trip).
    pub print_delay: Duration,
    /// The worker's time budget per run.
    pub run_budget_ms: u32,
    /// Record kernel images' bases (`KernelImageBases`).
    pub kernel_image_bases: bool,
    /// Where lines go.
    pub output: Output,
    /// Debugger lines or JSON objects.
    pub format: Format,
    /// NT → Win32 path conversion for JSON (volumes, system root).
    pub paths: PathMap,
    /// Sigma rules every event is evaluated against (then the output comes from the
    /// reader, as the CLI's, in either format).
    pub rules: Option<Arc<Rules>>,
    /// With rules: print only the alerts (and LOST reports).
    pub alerts_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            producers: 1,
            speed: None,
            ring_bytes: Config::DEFAULT.ring_bytes,
            caps: Config::DEFAULT.caps,
            stall_worker: Duration::ZERO,
            print_delay: Duration::ZERO,
            run_budget_ms: Config::DEFAULT.run_budget_ms,
            kernel_image_bases: Config::DEFAULT.kernel_image_bases,
            output: Output::Discard,
            format: Format::Text,
            paths: PathMap::default(),
            rules: None,
            alerts_only: false,
        }
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum RunError {
    /// The pipeline refused the configuration.
    Pipeline(NewError),
    /// A producer thread could not be started.
    Thread(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pipeline(NewError::RingSize) => {
                write!(f, "the ring size must be a power of two from 4096 to 268435456 bytes")
            }
            Self::Pipeline(NewError::NoMemory) => write!(f, "could not allocate the ring"),
            Self::Thread(e) => write!(f, "could not start a producer thread: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Counts from the debugger lines themselves, so the checks compare what the counters
/// say with what was actually printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Printed {
    /// Physical lines.
    pub lines: u64,
    /// First lines of event records, by kind (continuations not counted).
    pub records_by_kind: [u64; 5],
    /// Sum of the counts in `LOST n events` lines.
    pub lost_in_markers: u64,
    /// `stats` and `final-stats` lines.
    pub stats_lines: u64,
    /// Bytes printed (without NULs and newlines).
    pub bytes: u64,
}

impl Printed {
    fn count(&mut self, text: &[u8]) {
        self.lines += 1;
        self.bytes += text.len() as u64;
        let mut tokens = text.split(|&b| b == b' ').filter(|t| !t.is_empty()).skip(1);
        match (tokens.next(), tokens.next()) {
            (Some(b"LOST"), Some(n)) => {
                self.lost_in_markers += std::str::from_utf8(n).ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            }
            (Some(b"stats" | b"final-stats"), _) => self.stats_lines += 1,
            (Some(seq), Some(stamp))
                if seq.starts_with(b"#") && (stamp.starts_with(b"+") || stamp.starts_with(b"-")) =>
            {
                // `#SEQ +S.USs cpuN KIND ...`
                let kind = tokens.nth(1).unwrap_or_default();
                if let Some(k) = Kind::ALL.iter().find(|k| k.name().as_bytes() == kind) {
                    self.records_by_kind[k.index()] += 1;
                }
            }
            _ => {}
        }
    }
}

enum Out {
    Stdout(BufWriter<Stdout>),
    Discard,
    Keep(Vec<String>),
}

/// Where output lines go, and why printing stopped, if it did.
struct Writer {
    sink: Out,
    error: Option<String>,
}

impl Writer {
    fn new(output: Output) -> Self {
        let sink = match output {
            Output::Stdout => Out::Stdout(BufWriter::with_capacity(1 << 16, std::io::stdout())),
            Output::Discard => Out::Discard,
            Output::Keep => Out::Keep(Vec::new()),
        };
        Self { sink, error: None }
    }

    /// Writes one output line (a debugger line or a JSON object).
    fn write(&mut self, text: &[u8]) {
        match &mut self.sink {
            Out::Stdout(out) => {
                if let Err(e) = out.write_all(text).and_then(|()| out.write_all(b"\n")) {
                    // A closed pipe (`| head`) ends the printing, not the replay.
                    self.error = Some(e.to_string());
                    self.sink = Out::Discard;
                }
            }
            Out::Discard => {}
            Out::Keep(lines) => lines.push(String::from_utf8_lossy(text).into_owned()),
        }
    }

    /// Flushes stdout; returns the lines kept and why printing stopped, if it did.
    fn finish(mut self) -> (Vec<String>, Option<String>) {
        if let Out::Stdout(out) = &mut self.sink
            && let Err(e) = out.flush()
        {
            self.error = Some(e.to_string());
        }
        match self.sink {
            Out::Keep(lines) => (lines, self.error),
            _ => (Vec::new(), self.error),
        }
    }
}

/// The worker's host in the replay: prints to the sink, names processes from the
/// workload's table, and reads the same ticker the producers stamp with.
struct ReplayEnv {
    /// The debugger lines' destination (in JSON mode: nowhere; the reader writes).
    out: Writer,
    printed: Printed,
    processes: HashMap<u64, Box<[u16]>>,
    ticker: Ticker,
    print_delay: Duration,
    /// Token facts (user, integrity, logon id) of delivered process creates that the
    /// recording does not have.
    token_facts_not_recorded: u64,
    /// In JSON mode: the reader's device, whose buffer must have room for an entry
    /// before the worker hands one over.
    device: Option<Arc<SimDevice>>,
    /// The simulated process objects the process creates' records hold.
    objects: Arc<SimObjects>,
    /// The host kernel's processes as the worker's stream has shown them so far: a pid's
    /// creation time from its create to its exit. A pid the trace never creates was
    /// created before the driver started watching.
    lives: HashMap<u64, Life>,
    /// Remote threads' start facts as the recording has them, by (pid, tid).
    thread_starts: HashMap<(u64, u64), ThreadStart>,
}

/// A process as the simulated kernel's look-ups see it.
#[derive(Clone, Copy)]
enum Life {
    /// Created at this time (the replay's clock stands in for the system time).
    Created(u64),
    /// Exited: a look-up fails.
    Exited,
}

/// The recording's start places, served to the JSON formatter as the CLI's Windows
/// look-ups would.
struct RecordedStartPlaces(HashMap<(u64, u64), StartPlace>);

impl StartPlaces for RecordedStartPlaces {
    fn start_place(&mut self, pid: u64, start: &ThreadStart) -> Option<StartPlace> {
        self.0.get(&(pid, start.address)).cloned()
    }
}

impl ReplayEnv {
    /// Waits until the reader's buffer has room for the largest entry and a LOST entry
    /// (JSON mode), so the channel never drops one for the reader.
    fn wait_for_room(&self) {
        if let Some(device) = &self.device {
            while device.buffered() + wire::MAX_ENTRY + wire::LOST_ENTRY > READER_BYTES {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

/// Waits `delay` on this thread (sleeping, then spinning for the last stretch), as a
/// synchronous debugger round trip would.
fn spin_for(delay: Duration) {
    wait_until(Instant::now() + delay);
}

impl Host for ReplayEnv {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.processes.get(&pid).map_or(Lookup::Failed, |path| {
            *name = Name::from_path(path.iter().copied());
            Lookup::Found
        })
    }
    fn now_ticks(&mut self) -> u64 {
        self.ticker.now()
    }
    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        // As if read from the token: what the recording has. A fact the recording lacks
        // is left absent, as a failed query leaves it in the driver, but no query failed:
        // it is counted apart, not as a token failure.
        *facts = self.objects.token(object).unwrap_or_default();
        let absent = u64::from(facts.user.is_none())
            + u64::from(facts.integrity.is_none())
            + u64::from(facts.logon_id.is_none());
        self.token_facts_not_recorded += absent;
        0
    }
    fn release_process(&mut self, object: u64) {
        self.objects.dereference(object);
    }
    fn process_created(&mut self, pid: u64) -> Option<u64> {
        match self.lives.get(&pid) {
            Some(Life::Created(ticks)) => Some(*ticks),
            Some(Life::Exited) => None,
            // Never created in the trace: running before the watch (tick 0 of this clock).
            None => Some(0),
        }
    }
    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        self.thread_starts.get(&(pid, tid)).copied()
    }
}

impl Sink for ReplayEnv {
    fn print(&mut self, line: Line<'_>) {
        if !self.print_delay.is_zero() {
            // A debugger's synchronous round trip: the worker's thread waits it out.
            spin_for(self.print_delay);
        }
        let text = line.text();
        self.printed.count(text);
        self.out.write(text);
    }
    fn delivered(&mut self, event: &Delivered<'_>) {
        // What the host kernel would answer about the pid from here on: its process was
        // created (at the create's stamp) or has exited. Kept in stream order, so the
        // answer does not depend on how far the producers ran ahead of the worker.
        match event.record.kind {
            Kind::ProcessCreate => {
                self.lives.insert(event.record.pid, Life::Created(event.record.stamp.ticks));
            }
            Kind::ProcessExit => {
                self.lives.insert(event.record.pid, Life::Exited);
            }
            _ => {}
        }
        self.wait_for_room();
    }
    fn lost(&mut self, _seq: u64, _count: u64) {
        self.wait_for_room();
    }
}

/// The reader's buffer in JSON mode: the driver's default.
const READER_BYTES: usize = Config::DEFAULT.reader_bytes;

/// What the reader thread made of the device's batches.
struct JsonOut {
    out: Writer,
    counts: JsonCounts,
}

/// The recording's file facts, shared between the watch (which asks) and the reader
/// thread (which reports their counts at the end).
struct SharedFacts(Rc<RefCell<RecordedFacts>>);

impl FileFactsSource for SharedFacts {
    fn file_facts(&mut self, event: &FileEvent<'_>) -> Option<FileFacts> {
        self.0.borrow_mut().file_facts(event)
    }
}

/// The reader thread: reads batches until the device cancels the read (unload), and
/// turns each into JSON objects with the CLI's [`Watch`], as `notifyring watch` does.
/// Once `unloaded` is set, a refused read also ends it (the device detached the reader
/// before the read came).
fn read_json(
    handle: &ReaderHandle,
    unloaded: &AtomicBool,
    workload: &Workload,
    files: Option<RecordedFacts>,
    anchor: Anchor,
    options: &Options,
    mut out: Writer,
) -> JsonOut {
    let format = match options.format {
        Format::Json => watch::Format::Json,
        Format::Text => watch::Format::Text,
    };
    let mut watch = Watch::new(format, Filter::default(), options.paths.clone())
        .with_account_names(Box::new(workload.accounts.clone()))
        .with_start_places(Box::new(RecordedStartPlaces(workload.start_places.clone())));
    if let Some(rules) = &options.rules {
        watch = watch.with_rules(Arc::clone(rules), options.alerts_only);
    }
    let files = files.map(|f| Rc::new(RefCell::new(f)));
    if let Some(files) = &files {
        watch = watch.with_file_facts(Box::new(SharedFacts(Rc::clone(files))));
    }
    let mut counts = JsonCounts { file_facts: None, ..JsonCounts::default() };
    // What the recording machine knew of a process that started before the trace.
    let lookup = |pid: u64| {
        workload.processes.get(&pid).map(|units| HostProcess {
            image: String::from_utf16_lossy(units),
            command_line: workload.command_lines.get(&pid).map(|c| String::from_utf16_lossy(c)),
        })
    };
    loop {
        let ticket = handle.read(wire::MIN_READ);
        let completion = loop {
            if let Some(c) = ticket.wait(Duration::from_millis(100)) {
                break c;
            }
        };
        let bytes = match completion {
            Completion::Data(bytes) => bytes,
            Completion::Cancelled => break,
            Completion::Refused if unloaded.load(Ordering::SeqCst) => break,
            other => {
                counts.errors.push(format!("a read was refused: {other:?}"));
                break;
            }
        };
        // What the wire carried, counted apart from what the watch made of it.
        if let Ok(batch) = Batch::parse(&bytes) {
            for entry in batch.entries().flatten() {
                match entry {
                    Entry::Event { record, .. } => counts.objects_by_kind[record.kind.index()] += 1,
                    Entry::Lost { count, .. } => counts.lost_in_objects += count,
                }
            }
        }
        if let Err(e) = watch.batch(&bytes, || anchor, lookup, |object| out.write(object.as_bytes())) {
            counts.errors.push(format!("the watch could not read a batch: {e}"));
        }
    }
    let shown = watch.summary();
    let on_wire: u64 = counts.objects_by_kind.iter().sum();
    if shown.events != on_wire || shown.lost != counts.lost_in_objects {
        counts.errors.push(format!(
            "the watch showed {} events and {} lost, the wire carried {on_wire} and {}",
            shown.events, shown.lost, counts.lost_in_objects
        ));
    }
    counts.counters = watch.json_counters().unwrap_or_default();
    counts.alerts = shown.alerts;
    counts.rules = watch.rules_loaded().cloned();
    counts.file_facts = files.map(|f| f.borrow().counts());
    JsonOut { out, counts }
}

/// Everything a run measured and saw.
pub struct Report {
    /// Events recorded (calls to `record`).
    pub events: u64,
    /// Events recorded, by kind.
    pub events_by_kind: [u64; 5],
    /// Calls that returned `Recorded::Lost`.
    pub lost_returned: u64,
    /// Calls that queued the work item.
    pub queued_returned: u64,
    /// Final counters after unload.
    pub stats: Snapshot,
    /// What the simulated work queue saw.
    pub queue: QueueReport,
    /// What was printed.
    pub printed: Printed,
    /// In JSON mode: what the JSON output held.
    pub json: Option<JsonCounts>,
    /// The process objects' reference counts (balanced: every object freed, no misuse).
    pub objects: ObjectsReport,
    /// Token facts (user, integrity, logon id) of the delivered process creates that the
    /// input does not have: served as absent, not counted as failed token queries.
    pub token_facts_not_recorded: u64,
    /// The lines, with [`Output::Keep`].
    pub lines: Vec<String>,
    /// Per-call latency of `record`, in ticker ticks (all producers merged).
    pub latency_ticks: Histogram<u64>,
    /// The same, for the calls that found the worker idle and queued the work item
    /// (the simulated `IoQueueWorkItem` wakes a thread through a condition variable).
    pub latency_queued_ticks: Histogram<u64>,
    /// The ticker used for stamps and latency.
    pub ticker: Ticker,
    /// From the first record to the last producer's last record.
    pub record_elapsed: Duration,
    /// From the first record to the end of unload (everything delivered).
    pub total_elapsed: Duration,
    /// Caps in force (after fitting them to the ring).
    pub caps: Caps,
    /// Ring capacity in bytes.
    pub ring_bytes: u64,
    /// Producer threads used.
    pub producers: usize,
    /// Why printing stopped early, if it did (e.g. stdout closed).
    pub write_error: Option<String>,
    /// The worker's time budget per run, in ms.
    pub run_budget_ms: u32,
    /// What each printed line cost the worker.
    pub print_delay: Duration,
}

impl Report {
    /// Quantile `q` of a latency histogram of this run, in nanoseconds.
    #[must_use]
    pub fn quantile_ns(&self, histogram: &Histogram<u64>, q: f64) -> u64 {
        self.ticker.nanos(histogram.value_at_quantile(q))
    }

    /// The invariants every run must keep; an empty list means all held.
    #[must_use]
    pub fn violations(&self) -> Vec<String> {
        let s = &self.stats;
        let (delivered, lost) = (s.delivered_total(), s.lost_total());
        let mut v = Vec::new();
        if self.events != delivered + lost {
            v.push(format!("conservation: {} events != {delivered} delivered + {lost} lost", self.events));
        }
        for kind in Kind::ALL {
            let i = kind.index();
            if self.events_by_kind[i] != s.delivered[i] + s.lost[i] {
                v.push(format!(
                    "conservation of {}: {} events != {} delivered + {} lost",
                    kind.name(),
                    self.events_by_kind[i],
                    s.delivered[i],
                    s.lost[i]
                ));
            }
            if self.printed.records_by_kind[i] != s.delivered[i] {
                v.push(format!(
                    "{} lines printed for {} {} delivered",
                    self.printed.records_by_kind[i],
                    s.delivered[i],
                    kind.name()
                ));
            }
        }
        if let Err(e) = self.objects.balanced() {
            v.push(format!("process object references: {e}"));
        }
        if self.lost_returned != lost {
            v.push(format!("{} record calls returned Lost but the counters say {lost}", self.lost_returned));
        }
        if s.lost_reported != lost || self.printed.lost_in_markers != lost {
            v.push(format!(
                "{lost} events lost but {} reported by the worker and {} in LOST lines",
                s.lost_reported, self.printed.lost_in_markers
            ));
        }
        if let Some(json) = &self.json {
            for kind in Kind::ALL {
                let i = kind.index();
                if json.objects_by_kind[i] != s.delivered[i] {
                    v.push(format!(
                        "{} JSON objects for {} {} delivered",
                        json.objects_by_kind[i],
                        s.delivered[i],
                        kind.name()
                    ));
                }
            }
            if json.lost_in_objects != lost {
                v.push(format!("{lost} events lost but {} in LOST objects", json.lost_in_objects));
            }
            v.extend(json.errors.iter().cloned());
            if let Some(files) = json.file_facts.filter(|f| f.unmatched != 0) {
                v.push(format!("{} records matched no recorded event's file facts", files.unmatched));
            }
        }
        if self.queue.double_queues != 0 {
            v.push(format!(
                "the work item was queued while queued {} times (bug check 0xE4)",
                self.queue.double_queues
            ));
        }
        if self.queue.queues_after_unload != 0 {
            v.push(format!("the work item was queued {} times after unload", self.queue.queues_after_unload));
        }
        v
    }
}

/// The producer that records `pid`'s events: a hash, so processes spread evenly.
fn producer_of(pid: u64, producers: usize) -> usize {
    let mut z = pid.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    usize::try_from((z ^ (z >> 31)) % producers as u64).unwrap_or(0)
}

/// What one producer thread measured.
struct ProducerResult {
    latency: Histogram<u64>,
    /// Calls that queued the work item (included in `latency` too).
    latency_queued: Histogram<u64>,
    lost: u64,
    queued: u64,
}

fn new_histogram(ticker: &Ticker) -> Histogram<u64> {
    // Up to a minute of ticks at 3 significant digits; longer calls saturate.
    let high = ticker.frequency().saturating_mul(60).max(2);
    Histogram::new_with_bounds(1, high, 3).expect("bounds are valid: 1 <= high/2 and 3 significant digits")
}

/// When an event recorded `t_ns` after the first one is due at `speed`× recorded pace.
fn due(start: Instant, t_ns: u64, speed: f64) -> Instant {
    let offset =
        Duration::try_from_secs_f64(Duration::from_nanos(t_ns).as_secs_f64() / speed).unwrap_or(Duration::ZERO);
    start.checked_add(offset).unwrap_or(start)
}

/// Sleeps (or, for the last stretch, yields) until `deadline`.
fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        let Some(left) = deadline.checked_duration_since(now).filter(|d| !d.is_zero()) else { return };
        if left > Duration::from_micros(100) {
            std::thread::sleep(left);
        } else {
            std::thread::yield_now();
        }
    }
}

/// One producer's loop: pace, stamp, record, time.
#[expect(clippy::too_many_arguments, reason = "one call site; a struct would only rename them")]
fn produce(
    pipeline: &Pipeline<SimQueue>,
    workload: &Workload,
    share: &[usize],
    cpu: u32,
    speed: Option<f64>,
    first_t: u64,
    ticker: &Ticker,
    stamps: Option<&Stamps>,
    objects: &SimObjects,
    result: &mut ProducerResult,
) {
    let start = Instant::now();
    for &i in share {
        let Some(timed) = workload.events.get(i) else { continue };
        if let Some(speed) = speed {
            wait_until(due(start, timed.t_ns.saturating_sub(first_t), speed));
        }
        let event = timed.item.event();
        let t0 = ticker.now();
        if let Some(stamps) = stamps {
            // Names the record's trace line for its file facts (JSON only).
            stamps.set(i, t0);
        }
        let stamp = Stamp { ticks: t0, cpu };
        let outcome = if matches!(event, Event::ProcessCreate { .. }) {
            // The driver's process callback: a new process, referenced by its record.
            let object = objects.create(workload.tokens.get(&i).copied().unwrap_or_default());
            let outcome = pipeline.record_holding(stamp, &event, object, || objects.reference(object));
            // Gone at once, the worst case: only the record's reference keeps it readable.
            objects.exit(object);
            outcome
        } else {
            pipeline.record(stamp, &event)
        };
        let t1 = ticker.now();
        let ticks = t1.wrapping_sub(t0).max(1);
        result.latency.saturating_record(ticks);
        match outcome {
            Recorded::Lost => result.lost += 1,
            Recorded::Queued => {
                result.queued += 1;
                result.latency_queued.saturating_record(ticks);
            }
            Recorded::Pending => {}
        }
    }
}

/// Runs one producer thread per share and waits for all of them. Returns their results,
/// when they started, and how long they took.
#[expect(clippy::too_many_arguments, reason = "one call site; a struct would only rename them")]
fn record_all(
    pipeline: &Pipeline<SimQueue>,
    workload: &Workload,
    shares: &[Vec<usize>],
    speed: Option<f64>,
    first_t: u64,
    ticker: &Ticker,
    stamps: Option<&Stamps>,
    objects: &SimObjects,
) -> (Result<Vec<ProducerResult>, String>, Instant, Duration) {
    // 0: wait, 1: go, 2: give up (a thread could not be started).
    let gate = AtomicU8::new(0);
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(shares.len());
        let mut spawn_error = None;
        for (cpu, share) in shares.iter().enumerate() {
            let gate = &gate;
            let spawned = std::thread::Builder::new().name(format!("producer-{cpu}")).spawn_scoped(scope, move || {
                let cpu = u32::try_from(cpu).unwrap_or(u32::MAX);
                let mut result = ProducerResult {
                    latency: new_histogram(ticker),
                    latency_queued: new_histogram(ticker),
                    lost: 0,
                    queued: 0,
                };
                let go = loop {
                    match gate.load(Ordering::Acquire) {
                        0 => std::thread::yield_now(),
                        g => break g == 1,
                    }
                };
                if go {
                    produce(pipeline, workload, share, cpu, speed, first_t, ticker, stamps, objects, &mut result);
                }
                result
            });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    spawn_error = Some(e.to_string());
                    break;
                }
            }
        }
        let start = Instant::now();
        gate.store(if spawn_error.is_some() { 2 } else { 1 }, Ordering::Release);
        let results: Vec<_> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        (spawn_error.map_or(Ok(results), Err), start, start.elapsed())
    })
}

/// One drive of the simulated kernel: what unload left and what the producers measured.
struct Driven<E> {
    unloaded: Unloaded<E>,
    results: Vec<ProducerResult>,
    record_elapsed: Duration,
    total_elapsed: Duration,
    caps: Caps,
    ring_bytes: u64,
}

/// What [`drive`] needs besides the worker's environment.
struct Drive<'a> {
    config: &'a Config,
    clock: Clock,
    workload: &'a Workload,
    options: &'a Options,
    ticker: &'a Ticker,
    stamps: Option<&'a Stamps>,
    objects: &'a SimObjects,
}

/// Starts the simulated kernel with `env`, lets the producers record every event, and
/// unloads (everything recorded is then delivered).
fn drive<E: WorkerEnv + Send + 'static>(d: &Drive<'_>, env: E) -> Result<Driven<E>, RunError> {
    let (workload, options) = (d.workload, d.options);
    let kernel = SimKernel::start(d.config, d.clock, env).map_err(RunError::Pipeline)?;
    // The watch starts now, before the first record (as DriverEntry reads the system time
    // before registering the process routine); processes the trace never creates are older.
    kernel.pipeline().watching_since(d.clock.start_ticks.max(1));
    if !options.stall_worker.is_zero() {
        kernel.stall_each_run(options.stall_worker);
    }
    let caps = kernel.pipeline().caps();
    let ring_bytes = kernel.pipeline().ring_bytes();

    // Each producer's share, in stream order.
    let producers = options.producers.max(1);
    let mut shares: Vec<Vec<usize>> = vec![Vec::new(); producers];
    for (i, e) in workload.events.iter().enumerate() {
        shares[producer_of(e.item.pid(), producers)].push(i);
    }
    let first_t = workload.events.iter().map(|e| e.t_ns).min().unwrap_or(0);
    let (results, start, record_elapsed) =
        record_all(kernel.pipeline(), workload, &shares, options.speed, first_t, d.ticker, d.stamps, d.objects);
    let results = results.map_err(RunError::Thread)?;
    let unloaded = kernel.unload();
    let total_elapsed = start.elapsed();
    Ok(Driven { unloaded, results, record_elapsed, total_elapsed, caps, ring_bytes })
}

/// JSON mode's reader side: the device, its reader, and what the reader thread needs.
struct Reader<'a> {
    device: &'a Arc<SimDevice>,
    handle: &'a ReaderHandle,
    files: Option<RecordedFacts>,
    anchor: Anchor,
    output: Output,
}

/// [`drive`] with the worker feeding the reader's device, and a reader thread turning
/// its batches into JSON ([`read_json`]) meanwhile.
fn drive_with_reader(
    d: &Drive<'_>,
    env: ReplayEnv,
    reader: Reader<'_>,
) -> Result<(Driven<ReplayEnv>, JsonOut), RunError> {
    let Reader { device, handle, files, anchor, output } = reader;
    // Set before the device unloads: the reader's next read may then be refused.
    let unloaded = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (unloaded, workload, options, out) = (&unloaded, d.workload, d.options, Writer::new(output));
        let reading = std::thread::Builder::new()
            .name("reader".to_owned())
            .spawn_scoped(scope, move || read_json(handle, unloaded, workload, files, anchor, options, out))
            .map_err(|e| RunError::Thread(e.to_string()));
        let driven = match &reading {
            Ok(_) => drive(d, device.env(env)),
            Err(e) => Err(RunError::Thread(e.to_string())),
        };
        // Unload delivered everything to the reader's buffer: let the reader take it
        // all, then unload the device, which cancels the reader's last read.
        while driven.is_ok() && device.has_data() && reading.as_ref().is_ok_and(|r| !r.is_finished()) {
            std::thread::sleep(Duration::from_micros(200));
        }
        unloaded.store(true, Ordering::SeqCst);
        device.unload();
        let json_out = reading?.join().map_err(|_| RunError::Thread("the reader thread panicked".to_owned()))?;
        let Driven { unloaded, results, record_elapsed, total_elapsed, caps, ring_bytes } = driven?;
        let Unloaded { stats, queue, env } = unloaded;
        let unloaded = Unloaded { stats, queue, env: env.into_inner() };
        Ok((Driven { unloaded, results, record_elapsed, total_elapsed, caps, ring_bytes }, json_out))
    })
}

/// Replays `workload` through a freshly started simulated kernel.
///
/// # Errors
/// [`RunError`] if the pipeline rejects the options or a thread cannot start.
pub fn run(workload: &Workload, options: &Options) -> Result<Report, RunError> {
    let producers = options.producers.max(1);
    let ticker = Ticker::calibrate(Duration::from_millis(20));
    let config = Config {
        ring_bytes: options.ring_bytes,
        caps: options.caps,
        run_budget_ms: options.run_budget_ms,
        kernel_image_bases: options.kernel_image_bases,
        // One ring per simulated processor: each producer thread stamps its index as the
        // processor it runs on, as a callback does with the one it runs on.
        processors: u32::try_from(producers).unwrap_or(u32::MAX),
        ..Config::DEFAULT
    };
    let clock = Clock { start_ticks: ticker.now(), frequency: ticker.frequency() };
    // The wall clock at the same moment: UtcTime = this + the stamp's offset. The reader
    // reads both together, as the CLI does at its first batch (`watch::utc_start_ns`).
    let utc_start_ns = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let anchor = Anchor { wall_ns: utc_start_ns, ticks: clock.start_ticks };
    // The output comes from the reader (the wire, then the CLI's `Watch`) for JSON and
    // for rules, which evaluate the JSON objects; otherwise from the worker's lines.
    let json = options.format == Format::Json || options.rules.is_some();
    // The recording's file facts, named by the stamps the producers write.
    let stamps = (json && !workload.file_facts.is_empty()).then(|| Arc::new(Stamps::new(workload.events.len())));
    let files = stamps.clone().map(|stamps| RecordedFacts::new(workload, stamps));
    let objects = Arc::new(SimObjects::new());
    // JSON mode: the reader's device, its reader attached before the first event.
    let reader = if json {
        let device = SimDevice::new(READER_BYTES, clock, DebuggerOutput::Always)
            .ok_or(RunError::Pipeline(NewError::NoMemory))?;
        let handle = device.open_reader().map_err(|e| RunError::Thread(format!("cannot open the reader: {e:?}")))?;
        Some((device, handle))
    } else {
        None
    };
    let env = ReplayEnv {
        out: Writer::new(if json { Output::Discard } else { options.output }),
        printed: Printed::default(),
        processes: workload.processes.clone(),
        ticker,
        print_delay: options.print_delay,
        token_facts_not_recorded: 0,
        device: reader.as_ref().map(|(device, _)| Arc::clone(device)),
        objects: Arc::clone(&objects),
        lives: HashMap::new(),
        thread_starts: workload.thread_starts.clone(),
    };
    let d = Drive {
        config: &config,
        clock,
        workload,
        options,
        ticker: &ticker,
        stamps: stamps.as_deref(),
        objects: &objects,
    };
    let (driven, json_out) = match &reader {
        None => (drive(&d, env)?, None),
        Some((device, handle)) => {
            let reader = Reader { device, handle, files, anchor, output: options.output };
            let (driven, json_out) = drive_with_reader(&d, env, reader)?;
            (driven, Some(json_out))
        }
    };
    let Driven { unloaded, results, record_elapsed, total_elapsed, caps, ring_bytes } = driven;
    let env = unloaded.env;
    let mut latency = new_histogram(&ticker);
    let mut latency_queued = new_histogram(&ticker);
    let (mut lost_returned, mut queued_returned) = (0, 0);
    for r in &results {
        // Same bounds everywhere, so adding cannot fail.
        let _ = latency.add(&r.latency);
        let _ = latency_queued.add(&r.latency_queued);
        lost_returned += r.lost;
        queued_returned += r.queued;
    }
    let (lines, write_error, json) = if let Some(JsonOut { out, counts }) = json_out {
        let (lines, error) = out.finish();
        (lines, error, Some(counts))
    } else {
        let (lines, error) = env.out.finish();
        (lines, error, None)
    };
    Ok(Report {
        events: workload.events.len() as u64,
        events_by_kind: workload.count_by_kind(),
        lost_returned,
        queued_returned,
        stats: unloaded.stats,
        queue: unloaded.queue,
        objects: objects.report(),
        token_facts_not_recorded: env.token_facts_not_recorded,
        printed: env.printed,
        json,
        lines,
        latency_ticks: latency,
        latency_queued_ticks: latency_queued,
        ticker,
        record_elapsed,
        total_elapsed,
        caps,
        ring_bytes,
        producers,
        write_error,
        run_budget_ms: options.run_budget_ms,
        print_delay: options.print_delay,
    })
}
