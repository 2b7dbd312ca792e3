//! The CLI's portable part (`notifyring::user::watch`) on batches the real encoder made:
//! the real pipeline, stepped by hand, whose worker prints debugger lines and hands
//! every record and loss to a reader's [`Channel`], as the driver's worker does.
//! - text output is the debugger's lines, LOST lines at their place, across batches;
//! - JSON output is what the replay's `JsonFormatter` writes for the same records;
//! - filters hide events, never LOST entries, and the summary counts both;
//! - another protocol version, truncated or garbage bytes: an error that says which
//!   (the CLI's one line and exit code of each: `cli/tests/errors.rs`), no panic;
//! - process creates carry their token facts (the worker reads them through the reference
//!   the record holds and drops it once): the text line's ` user= integrity= logon=`,
//!   JSON's `User` (named by the watch's resolver, else the SID, counted), `UserSid`,
//!   `LogonId`, `IntegrityLevel`; on the wire the facts round-trip and the held object's
//!   address is zeroed.

mod common;

use common::{json_schema, stepped};
use notifyring::config::DebuggerOutput;
use notifyring::reader::wire::{self, WireError};
use notifyring::reader::{Channel, Device, ReadOutcome, ReaderSink};
use notifyring::record;
use notifyring::sim::device::{SimLock, VecRead as Buf, VecReads as Reads};
use notifyring::user::accounts::AccountNames;
use notifyring::user::json::{HostProcess, JsonFormatter};
use notifyring::user::paths::PathMap;
use notifyring::user::watch::{Anchor, Filter, Format, Kinds, Summary, Watch, WatchError, utc_start_ns};
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name};
use notifyring::vocab::token::{Sid, TokenFacts};
use notifyring::worker::format::Line;
use notifyring::{Both, ClientId, Config, Delivered, Event, Host, Pipeline, Recorded, Sink, Stamp, Stats};
use std::collections::HashMap;
use stepped::Queue;

/// 1 MHz: a tick is a microsecond.
const CLOCK: Clock = Clock { start_ticks: 1_000_000, frequency: 1_000_000 };
/// Unix time of the driver's load in these tests (2026-11-29 07:00:00 UTC).
const UTC_START_NS: u128 = 1_795_935_600_000_000_000;
const READER: usize = 1;

/// The driver's worker, as far as the reader is concerned: its host (process names,
/// tokens), what it printed and delivered, and the reader's device it feeds through the
/// reader's sink.
struct Env {
    host: Tables,
    out: Out,
    device: Dev,
    /// Every batch a read returned, in order.
    batches: Vec<Vec<u8>>,
}

/// The host: process names and token facts by table.
struct Tables {
    processes: HashMap<u64, String>,
    /// The token facts of each process object a record holds (absent: every query fails).
    tokens: HashMap<u64, TokenFacts>,
    /// Every `release_process`, in order.
    released: Vec<u64>,
}

/// The debugger's lines, and the replay's JSON for the same records.
struct Out {
    lines: Vec<String>,
    json: JsonFormatter,
    objects: Vec<String>,
    processes: HashMap<u64, String>,
    /// What the worker delivered: (seq, the record's bytes as in the ring, token facts).
    delivered: Vec<(u64, Vec<u8>, Option<TokenFacts>)>,
}

/// The reader's device: its channel and its reads.
struct Dev {
    channel: Channel<SimLock>,
    reads: Reads,
}

impl Device for Dev {
    type Lock = SimLock;
    type Pending = Reads;
    fn channel(&self) -> &Channel<SimLock> {
        &self.channel
    }
    fn pending(&self) -> &Reads {
        &self.reads
    }
}

impl Env {
    fn new() -> Self {
        let channel = Channel::try_new(1 << 20, CLOCK, SimLock::default()).expect("channel");
        assert!(channel.attach(READER));
        let processes = HashMap::from([(640, String::from(r"\Device\HarddiskVolume3\Windows\explorer.exe"))]);
        Self {
            host: Tables { processes: processes.clone(), tokens: HashMap::new(), released: Vec::new() },
            out: Out {
                lines: Vec::new(),
                json: JsonFormatter::new(CLOCK, UTC_START_NS, PathMap::default(), Config::DEFAULT.names),
                objects: Vec::new(),
                processes,
                delivered: Vec::new(),
            },
            device: Dev { channel, reads: Reads::default() },
            batches: Vec::new(),
        }
    }

    /// Runs the worker until it is idle, with the reader's sink the driver runs.
    fn run_worker(&mut self, p: &Pipeline<Queue>) {
        let sink = ReaderSink { device: &self.device, output: DebuggerOutput::Always, debugger: &mut self.out };
        p.run_worker(&mut Both { host: &mut self.host, sink });
        self.batches.extend(self.device.reads.filled.take());
    }

    /// Issues a read: filled now, or pending until the worker delivers.
    fn read(&mut self) {
        match self.device.channel.read(READER, &self.device.reads, Buf(vec![0; wire::MIN_READ])) {
            ReadOutcome::Filled(Buf(mut bytes), n) => {
                bytes.truncate(n);
                self.batches.push(bytes);
            }
            ReadOutcome::Pending => {}
            other => panic!("read refused: {other:?}"),
        }
    }

    fn lookup(processes: &HashMap<u64, String>) -> impl FnMut(u64) -> Option<HostProcess> + '_ {
        |pid| processes.get(&pid).cloned().map(HostProcess::from)
    }
}

impl Host for Tables {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.processes.get(&pid).map_or(Lookup::Failed, |path| {
            *name = Name::from_path(path.encode_utf16());
            Lookup::Found
        })
    }
    fn now_ticks(&mut self) -> u64 {
        CLOCK.start_ticks
    }
    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        assert!(!self.released.contains(&object), "token asked after the reference was dropped");
        self.tokens.get(&object).map_or(3, |known| {
            *facts = *known;
            0
        })
    }
    fn release_process(&mut self, object: u64) {
        self.released.push(object);
    }
}

impl Sink for Out {
    fn print(&mut self, line: Line<'_>) {
        self.lines.push(String::from_utf8(line.text().to_vec()).expect("ASCII"));
    }
    fn delivered(&mut self, event: &Delivered<'_>) {
        self.delivered.push((event.seq, event.bytes.to_vec(), event.token.copied()));
        let object = self.json.event(event, Env::lookup(&self.processes));
        self.objects.push(object);
    }
    fn lost(&mut self, seq: u64, count: u64) {
        self.objects.push(self.json.lost(seq, count));
    }
}

/// The process objects (kernel addresses, as the driver's records hold them) of the
/// stream's two process creates.
const NOTEPAD_OBJECT: u64 = 0xffff_c50f_1234_5080;
const SERVICE_OBJECT: u64 = 0xffff_c50f_2222_4080;
/// The user notepad runs as.
const USER_SID: &str = "S-1-5-21-1004336348-1177238915-682003330-1001";

/// notepad's token: a user's, Medium, in a logon session of its own.
fn notepad_token() -> TokenFacts {
    TokenFacts { user: Sid::parse(USER_SID), integrity: Some(0x2000), app_container: false, logon_id: Some(0x1a_2b3c) }
}

/// svchost's token: SYSTEM's, System, the system logon session (0x3e7).
fn service_token() -> TokenFacts {
    TokenFacts { user: Sid::parse("S-1-5-18"), integrity: Some(0x4000), app_container: false, logon_id: Some(0x3e7) }
}

fn units(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn run_all(p: &Pipeline<Queue>, env: &mut Env) {
    while p.queue().0.replace(false) {
        env.run_worker(p);
    }
}

/// A stream with every kind, a process the worker had to look up, one it could not,
/// non-ASCII text, a loss in the middle, spread over several batches.
fn stream() -> Env {
    let config = Config { ring_bytes: 4096, ..Config::DEFAULT };
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let p = Pipeline::new(&config, CLOCK, Queue::default(), stats).expect("pipeline");
    let mut env = Env::new();
    let mut t = CLOCK.start_ticks;
    let mut stamp = || {
        t += 1_250;
        Stamp { ticks: t, cpu: 1 }
    };
    let explorer = ClientId { pid: 640, tid: 644 };
    let notepad = units(r"\??\C:\Windows\System32\notepad.exe");
    let cmdline = units("notepad.exe \"C:\\Users\\Zoë\\naïve.txt\"");
    let kernel32 = units(r"\Device\HarddiskVolume3\Windows\System32\kernel32.dll");
    let driver = units(r"\SystemRoot\System32\drivers\beep.sys");
    let svchost = units(r"\??\C:\Windows\System32\svchost.exe");
    let svchost_cmdline = units(r"C:\Windows\system32\svchost.exe -k netsvcs -p");
    // The process creates hold a reference on their process: the worker reads the token
    // through it, then drops it. `taken` counts the references the records took.
    env.host.tokens.insert(NOTEPAD_OBJECT, notepad_token());
    env.host.tokens.insert(SERVICE_OBJECT, service_token());
    let taken = std::cell::Cell::new(0u32);
    let take = || taken.set(taken.get() + 1);
    // The first read waits; the worker's first delivery completes it with one event.
    env.read();
    p.record_holding(
        stamp(),
        &Event::ProcessCreate {
            pid: 7212,
            parent_pid: 640,
            creator: explorer,
            file_open_name_available: true,
            subsystem_process: false,
            image: Some(&notepad),
            command_line: Some(&cmdline),
        },
        NOTEPAD_OBJECT,
        take,
    );
    p.record(stamp(), &Event::ThreadCreate { pid: 7212, tid: 7216, creator: explorer });
    p.record(
        stamp(),
        &Event::ImageLoad {
            pid: 7212,
            base: 0x7ff8_1234_0000,
            size: 0x9_8000,
            kernel_image: false,
            signature_level: 12,
            signature_type: 1,
            image: Some(&kernel32),
        },
    );
    p.record(stamp(), &Event::ThreadCreate { pid: 7212, tid: 7300, creator: ClientId { pid: 999, tid: 1000 } });
    run_all(&p, &mut env);
    // Fill the ring until it refuses: those are lost, and reported before the next record.
    let mut filler = 0u64;
    while p.record(stamp(), &Event::ThreadExit { pid: 7212, tid: 8000 + filler }) != Recorded::Lost {
        filler += 1;
    }
    p.record(stamp(), &Event::ThreadExit { pid: 7212, tid: 9999 });
    run_all(&p, &mut env);
    env.read();
    p.record(
        stamp(),
        &Event::ImageLoad {
            pid: 0,
            base: 0xffff_f800_1000_0000,
            size: 0x1_0000,
            kernel_image: true,
            signature_level: 0,
            signature_type: 0,
            image: Some(&driver),
        },
    );
    p.record(stamp(), &Event::ThreadExit { pid: 4, tid: 80 });
    p.record(stamp(), &Event::ThreadExit { pid: 31_337, tid: 31_340 });
    p.record_holding(
        stamp(),
        &Event::ProcessCreate {
            pid: 7400,
            parent_pid: 640,
            creator: explorer,
            file_open_name_available: true,
            subsystem_process: false,
            image: Some(&svchost),
            command_line: Some(&svchost_cmdline),
        },
        SERVICE_OBJECT,
        take,
    );
    p.record(stamp(), &Event::ProcessExit { pid: 7212, exit_status: 0xC000_013A });
    run_all(&p, &mut env);
    env.read();
    assert!(env.device.reads.queue.borrow().is_empty(), "a read is still pending");
    // Each reference taken was dropped once, after its token was read.
    assert_eq!(taken.get(), 2);
    assert_eq!(env.host.released, [NOTEPAD_OBJECT, SERVICE_OBJECT]);
    assert!(env.batches.len() >= 3, "{} batches", env.batches.len());
    assert!(env.out.lines.iter().any(|l| l.contains(" LOST ")), "no loss: {:#?}", env.out.lines);
    env
}

/// Anchor read 5 s after the driver's load (the JSON's UTC start comes out right).
const fn anchor() -> Anchor {
    Anchor { wall_ns: UTC_START_NS + 5_000_000_000, ticks: CLOCK.start_ticks + 5_000_000 }
}

/// Every batch through `watch`: its output lines, or the first error.
fn watch_all(watch: &mut Watch, env: &Env) -> Result<Vec<String>, WatchError> {
    let mut out = Vec::new();
    for batch in &env.batches {
        watch.batch(batch, anchor, Env::lookup(&env.host.processes), |l| out.push(l.to_owned()))?;
    }
    Ok(out)
}

fn watch(format: Format, filter: Filter) -> Watch {
    Watch::new(format, filter, PathMap::default())
}

fn lost_total(lines: &[String]) -> u64 {
    lines.iter().filter_map(|l| l.strip_prefix("notifyring: LOST ")?.split(' ').next()?.parse::<u64>().ok()).sum()
}

#[test]
fn text_output_is_the_debuggers_lines() {
    let env = stream();
    let mut w = watch(Format::Text, Filter::default());
    let out = watch_all(&mut w, &env).expect("batches");
    assert_eq!(out, env.out.lines);
    let lost = lost_total(&env.out.lines);
    assert!(lost > 0);
    let events = env.out.lines.iter().filter(|l| l.starts_with("notifyring: #")).count() as u64;
    assert_eq!(w.summary(), Summary { batches: env.batches.len() as u64, events, filtered: 0, lost, alerts: None });
    assert_eq!(w.summary().to_string(), format!("notifyring: {events} events, {lost} lost"));
}

/// The stream's batches and the debugger's lines, for tools/smoke-wine-cli.sh, which
/// serves the batches to the Windows build under Wine as a stand-in device.
#[test]
fn writes_the_stream_for_the_wine_check() {
    let env = stream();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-stream");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (i, batch) in env.batches.iter().enumerate() {
        std::fs::write(dir.join(format!("batch{i}.bin")), batch).expect("batch");
    }
    std::fs::write(dir.join("lines.txt"), env.out.lines.join("\n") + "\n").expect("lines");
    let read: Vec<u8> = std::fs::read(dir.join("batch0.bin")).expect("read back");
    assert_eq!(read, env.batches[0]);
}

#[test]
fn json_output_is_the_replays_json() {
    let env = stream();
    let mut w = watch(Format::Json, Filter::default());
    let out = watch_all(&mut w, &env).expect("batches");
    assert_eq!(out, env.out.objects);
    // The anchor's arithmetic held: the first event, 1.25 ms after load.
    assert!(out[0].contains(r#""UtcTime":"2026-11-29 07:00:00.001""#), "{}", out[0]);
    assert!(out.iter().any(|o| o.contains(r#""EventID":1000"#)));
}

/// Which of the unfiltered lines a filter keeps (LOST lines aside).
type Wanted = dyn Fn(&str) -> bool;

#[test]
fn filters_hide_events_never_lost_entries() {
    let env = stream();
    let all = watch_all(&mut watch(Format::Text, Filter::default()), &env).expect("batches");
    let lost: Vec<&String> = all.iter().filter(|l| l.contains(" LOST ")).collect();
    let cases: [(Filter, &Wanted); 5] = [
        (Filter::new(Kinds::parse("process").expect("kinds"), None, None), &|l| l.contains(" process-")),
        (Filter::new(Kinds::parse("thread, IMAGE").expect("kinds"), None, None), &|l| !l.contains(" process-")),
        (Filter::new(Kinds::ALL, Some(4), None), &|l| l.contains(" pid=4 ")),
        // The image path where the event has one, else the process's name.
        (Filter::new(Kinds::ALL, None, Some("NotePad")), &|l| {
            l.contains(r#"image="\??\C:\Windows\System32\notepad.exe""#)
                || l.contains(r#"proc="notepad.exe""#) && !l.contains(" image-load ")
        }),
        (Filter::new(Kinds::ALL, None, Some("beep.SYS")), &|l| l.contains("beep.sys")),
    ];
    for (filter, wanted) in cases {
        let mut w = watch(Format::Text, filter.clone());
        let out = watch_all(&mut w, &env).expect("batches");
        let expected: Vec<&String> = all.iter().filter(|l| l.contains(" LOST ") || wanted(l)).collect();
        assert_eq!(out.iter().collect::<Vec<_>>(), expected, "{filter:?}");
        assert!(out.len() > lost.len(), "{filter:?} showed no event");
        let s = w.summary();
        assert_eq!(s.events + s.filtered, all.len() as u64 - lost.len() as u64, "{filter:?}");
        assert_eq!(s.lost, lost_total(&all));
    }
}

#[test]
fn a_hidden_process_create_still_names_its_process_in_json() {
    let env = stream();
    let all = watch_all(&mut watch(Format::Json, Filter::default()), &env).expect("batches");
    let mut w = watch(Format::Json, Filter::new(Kinds::parse("thread").expect("kinds"), None, None));
    let out = watch_all(&mut w, &env).expect("batches");
    assert!(out.iter().all(|o| !o.contains(r#""EventID":1,"#) && !o.contains(r#""EventID":5,"#)), "{out:#?}");
    // The first thread of notepad: its Image came from the hidden process-create.
    let first = |o: &&String| o.contains(r#""ThreadId":7216,"#);
    let shown = out.iter().find(first).expect("thread-create shown");
    assert_eq!(Some(shown), all.iter().find(first));
    assert!(shown.contains(r#""Image":"C:\\Windows\\System32\\notepad.exe""#), "{shown}");
    // Nothing passes: only the LOST objects are written.
    let mut w = watch(Format::Json, Filter::new(Kinds::ALL, None, Some("zzz")));
    let out = watch_all(&mut w, &env).expect("batches");
    assert!(!out.is_empty() && out.iter().all(|o| o.contains(r#""EventID":1000"#)), "{out:#?}");
}

#[test]
fn another_protocol_version_is_a_version_error() {
    let env = stream();
    let mut bytes = env.batches[0].clone();
    bytes[4..6].copy_from_slice(&(wire::VERSION + 1).to_le_bytes());
    let err = watch(Format::Text, Filter::default())
        .batch(&bytes, anchor, |_| None, |_| panic!("nothing is printed"))
        .expect_err("version");
    assert_eq!(err, WatchError::Wire(WireError::Version { found: wire::VERSION + 1 }));
    assert_eq!(
        err.to_string(),
        format!("protocol version mismatch: the driver speaks {}, this program {}", wire::VERSION + 1, wire::VERSION)
    );
}

#[test]
fn truncated_or_garbage_batches_are_errors_not_panics() {
    let env = stream();
    let bytes = env.batches.iter().max_by_key(|b| b.len()).expect("batch");
    for format in [Format::Text, Format::Json] {
        // Every cut short of the whole: the header's length no longer fits.
        for n in 0..bytes.len() {
            let err = watch(format, Filter::default()).batch(&bytes[..n], anchor, |_| None, |_| {}).expect_err("short");
            // Not a version mismatch: the CLI's "bad reply from the driver", exit 1.
            assert!(!matches!(err, WatchError::Wire(WireError::Version { .. })), "{n}: {err:?}");
        }
        // Every byte flipped: any answer but a panic (most are errors).
        let mut errors = 0;
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xa5;
            errors += usize::from(watch(format, Filter::default()).batch(&b, anchor, |_| None, |_| {}).is_err());
        }
        assert!(errors > 100, "{errors} errors");
    }
    let mut garbage = vec![0x5a_u8; 4096];
    garbage[..4].copy_from_slice(&wire::BATCH_MAGIC);
    let err = watch(Format::Text, Filter::default()).batch(&garbage, anchor, |_| None, |_| {}).expect_err("garbage");
    assert_eq!(err, WatchError::Wire(WireError::Version { found: 0x5a5a }), "{err}");
    let err = watch(Format::Text, Filter::default()).batch(b"hello", anchor, |_| None, |_| {}).expect_err("text");
    assert_eq!(err, WatchError::Wire(WireError::Magic));
    // A header announcing one more entry than it holds.
    let mut b = bytes.clone();
    let announced = u32::from_le_bytes(b[12..16].try_into().expect("4")) + 1;
    b[12..16].copy_from_slice(&announced.to_le_bytes());
    let err = watch(Format::Text, Filter::default()).batch(&b, anchor, |_| None, |_| {}).expect_err("count");
    assert_eq!(err, WatchError::EntryCount { announced, found: announced - 1 });
    assert_eq!(err.to_string(), format!("batch announces {announced} entries, holds {}", announced - 1));
}

#[test]
fn utc_start_is_the_wall_clock_less_the_drivers_uptime() {
    assert_eq!(utc_start_ns(CLOCK, anchor()), UTC_START_NS);
    let clock = Clock { start_ticks: 10_000_000, frequency: 10_000_000 };
    let at = Anchor { wall_ns: 1_000_000_000_000, ticks: 10_000_000 + 25_000_000 };
    assert_eq!(utc_start_ns(clock, at), 1_000_000_000_000 - 2_500_000_000);
    // A counter before the driver's start (not the driver's counter): no uptime.
    assert_eq!(utc_start_ns(clock, Anchor { ticks: 5, ..at }), at.wall_ns);
    assert_eq!(utc_start_ns(Clock { frequency: 0, ..clock }, Anchor { wall_ns: 3, ..at }), 0);
}

#[test]
fn kinds_lists() {
    assert_eq!(Kinds::parse("process,thread,image"), Ok(Kinds::ALL));
    assert!(Kinds::parse("process").expect("one").contains(notifyring::Kind::ProcessExit));
    assert!(!Kinds::parse("process").expect("one").contains(notifyring::Kind::ImageLoad));
    assert_eq!(Kinds::parse("proc").unwrap_err(), r#"unknown kind "proc" (expected process, thread, image)"#);
    assert!(Kinds::parse(" , ").is_err());
}

/// A file-facts source that knows one file, and what it was asked.
struct OneFile(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl notifyring::user::facts::FileFactsSource for OneFile {
    fn file_facts(
        &mut self,
        event: &notifyring::user::facts::FileEvent<'_>,
    ) -> Option<notifyring::user::facts::FileFacts> {
        self.0.borrow_mut().push(event.win32_path.to_owned());
        event.path.ends_with("kernel32.dll").then(|| notifyring::user::facts::FileFacts {
            original_file_name: Some("kernel32".into()),
            company: Some("Microsoft Corporation".into()),
            hashes: Some("SHA256=00AA".into()),
            ..notifyring::user::facts::FileFacts::default()
        })
    }
}

#[test]
fn json_events_carry_the_file_facts_the_cli_reads() {
    let env = stream();
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut w = watch(Format::Json, Filter::default()).with_file_facts(Box::new(OneFile(asked.clone())));
    let out = watch_all(&mut w, &env).expect("batches");
    let loads: Vec<&String> = out.iter().filter(|o| o.contains(r#""EventID":7"#)).collect();
    let with_facts: Vec<&&String> = loads.iter().filter(|o| o.contains("kernel32.dll")).collect();
    assert!(!with_facts.is_empty());
    for o in &with_facts {
        assert!(o.contains(r#""OriginalFileName":"kernel32""#), "{o}");
        assert!(o.contains(r#""Company":"Microsoft Corporation""#), "{o}");
        assert!(o.contains(r#""Hashes":"SHA256=00AA""#), "{o}");
        assert!(!o.contains(r#""Description""#), "an unknown fact stays absent: {o}");
    }
    assert!(loads.iter().filter(|o| !o.contains("kernel32.dll")).all(|o| !o.contains("OriginalFileName")));
    assert!(!asked.borrow().is_empty(), "the source was asked");
    // Without a source, the same stream has no file facts at all.
    let mut plain = watch(Format::Json, Filter::default());
    assert!(watch_all(&mut plain, &env).expect("batches").iter().all(|o| !o.contains("OriginalFileName")));
}

/// Names one account, and records what it was asked.
struct OneAccount(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl AccountNames for OneAccount {
    fn account(&mut self, sid: &Sid) -> Option<String> {
        self.0.lock().expect("lock").push(sid.to_string());
        (sid.to_string() == USER_SID).then(|| String::from(r"WORKSTATION\Zoë"))
    }
}

/// The JSON objects of `out` whose `EventID` is 1, by `ProcessId`.
fn process_creates(out: &[String]) -> HashMap<u64, serde_json::Value> {
    let schema = json_schema::schema();
    out.iter()
        .map(|line| schema.check(line))
        .filter(|o| o["EventID"] == 1)
        .map(|o| (o["ProcessId"].as_u64().expect("ProcessId"), o))
        .collect()
}

#[test]
fn process_creates_carry_their_token_facts() {
    let env = stream();
    // Text: the debugger's line, token facts and all.
    let text = watch_all(&mut watch(Format::Text, Filter::default()), &env).expect("batches");
    let create = |pid: u64| {
        let line = text.iter().find(|l| l.contains(" process-create ") && l.contains(&format!(" pid={pid} ")));
        line.unwrap_or_else(|| panic!("no process-create of {pid}: {text:#?}")).clone()
    };
    let (notepad, svchost) = (create(7212), create(7400));
    assert!(notepad.contains(&format!(" user={USER_SID} integrity=Medium logon=0x1a2b3c")), "{notepad}");
    assert!(svchost.contains(" user=S-1-5-18 integrity=System logon=0x3e7"), "{svchost}");
    assert!(env.out.lines.contains(&notepad) && env.out.lines.contains(&svchost), "not the debugger's lines");
    assert_eq!(text.iter().filter(|l| l.contains(" user=")).count(), 2, "only the process creates: {text:#?}");

    // JSON with a resolver: `User` is its name where it has one, else the SID (counted).
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut w = watch(Format::Json, Filter::default()).with_account_names(Box::new(OneAccount(asked.clone())));
    assert_eq!(w.json_counters(), None, "no formatter before the first batch");
    let out = watch_all(&mut w, &env).expect("batches");
    let creates = process_creates(&out);
    let (notepad, svchost) = (&creates[&7212], &creates[&7400]);
    assert_eq!(notepad["User"], r"WORKSTATION\Zoë", "{notepad}");
    assert_eq!(notepad["UserSid"], USER_SID, "{notepad}");
    assert_eq!(notepad["LogonId"], "0x1a2b3c", "{notepad}");
    assert_eq!(notepad["IntegrityLevel"], "Medium", "{notepad}");
    assert_eq!(svchost["User"], "S-1-5-18", "no name: the SID: {svchost}");
    assert_eq!(svchost["UserSid"], "S-1-5-18", "{svchost}");
    assert_eq!(svchost["LogonId"], "0x3e7", "{svchost}");
    assert_eq!(svchost["IntegrityLevel"], "System", "{svchost}");
    // Sysmon's order: User, LogonId, IntegrityLevel (UserSid beside User).
    let raw = out.iter().find(|o| o.contains(r#""ProcessId":7212,"#)).expect("notepad's object");
    let at = |key: &str| raw.find(&format!(r#""{key}":"#)).unwrap_or_else(|| panic!("{key} in {raw}"));
    assert!(
        at("User") < at("UserSid") && at("UserSid") < at("LogonId") && at("LogonId") < at("IntegrityLevel"),
        "{raw}"
    );
    assert_eq!(w.json_counters().expect("counters").accounts_unresolved, 1);
    assert_eq!(*asked.lock().expect("lock"), [USER_SID, "S-1-5-18"], "each SID asked once");
    // Only process creates carry token facts; a created process's later events carry
    // its User (remembered by the formatter), and nothing else of its token.
    let notepad_user = raw.split(r#""User":"#).nth(1).and_then(|r| r.split('"').nth(1)).expect("notepad's User");
    let mut followed = 0;
    for o in out.iter().filter(|o| !o.contains(r#""EventID":1,"#)) {
        assert!(!o.contains(r#""LogonId""#) && !o.contains(r#""IntegrityLevel""#), "{o}");
        if o.contains(r#""User""#) {
            assert!(o.contains(r#""ProcessId":7212,"#), "only notepad was seen created with a User: {o}");
            assert!(o.contains(&format!(r#""User":"{notepad_user}""#)), "{o}");
            followed += 1;
        }
    }
    assert!(followed > 0, "notepad's image loads carry its User");

    // Without a resolver: `User` is the SID, every one counted.
    let mut w = watch(Format::Json, Filter::default());
    let out = watch_all(&mut w, &env).expect("batches");
    let creates = process_creates(&out);
    assert_eq!(creates[&7212]["User"], USER_SID);
    assert_eq!(creates[&7212]["IntegrityLevel"], "Medium");
    assert_eq!(creates[&7400]["User"], "S-1-5-18");
    assert_eq!(w.json_counters().expect("counters").accounts_unresolved, 2);
    // The text output has no formatter.
    let mut w = watch(Format::Text, Filter::default());
    watch_all(&mut w, &env).expect("batches");
    assert_eq!(w.json_counters(), None);
}

/// The wire's event entries, with the delivered records they carry.
fn wire_events(batches: &[Vec<u8>]) -> Vec<(u64, Vec<u8>, Option<TokenFacts>, notifyring::record::Record<'_>)> {
    let mut events = Vec::new();
    for batch in batches {
        for entry in wire::Batch::parse(batch).expect("batch").entries() {
            if let wire::Entry::Event { seq, bytes, token, record, .. } = entry.expect("entry") {
                events.push((seq, bytes.to_vec(), token, record));
            }
        }
    }
    events
}

#[test]
fn token_facts_round_trip_on_the_wire_and_the_held_address_does_not() {
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let p = Pipeline::new(&Config::DEFAULT, CLOCK, Queue::default(), stats).expect("pipeline");
    let mut env = Env::new();
    let app_container = TokenFacts {
        user: Sid::parse("S-1-15-2-466767348-3739614953-2700836392-1801644223-4227750657-1087833535-2488631167"),
        integrity: Some(0x1000),
        app_container: true,
        logon_id: Some(0x9_0000_0001),
    };
    // The longest SID there is: 15 sub-authorities, an authority written in hex.
    let long = Sid::from_parts(0x1234_5678_9abc, &[u32::MAX, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0x8000_0000])
        .expect("15 sub-authorities");
    assert_eq!(long.as_bytes().len(), 68);
    assert_eq!(Sid::parse(&long.to_string()), Some(long), "{long}");
    let longest = TokenFacts { user: Some(long), integrity: Some(0x2345), app_container: false, logon_id: None };
    let no_user = TokenFacts { user: None, integrity: Some(0x3000), app_container: false, logon_id: Some(u64::MAX) };
    // (object, the facts its token gives: `None`, every query fails).
    let held: [(u64, Option<TokenFacts>); 5] = [
        (0xffff_a001_0000_1080, Some(notepad_token())),
        (0xffff_a001_0000_2080, None),
        (0xffff_a001_0000_3080, Some(app_container)),
        (0xffff_a001_0000_4080, Some(longest)),
        (0xffff_a001_0000_5080, Some(no_user)),
    ];
    let image = units(r"\??\C:\Windows\System32\cmd.exe");
    let create = |pid| Event::ProcessCreate {
        pid,
        parent_pid: 640,
        creator: ClientId { pid: 640, tid: 644 },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(&image),
        command_line: None,
    };
    env.read();
    for (i, (object, facts)) in held.iter().enumerate() {
        if let Some(facts) = facts {
            env.host.tokens.insert(*object, *facts);
        }
        p.record_holding(Stamp { ticks: CLOCK.start_ticks + 10, cpu: 0 }, &create(100 + i as u64), *object, || ());
    }
    // A process create that holds nothing (a host without tokens), and a thread.
    p.record(Stamp { ticks: CLOCK.start_ticks + 20, cpu: 0 }, &create(200));
    p.record(
        Stamp { ticks: CLOCK.start_ticks + 30, cpu: 0 },
        &Event::ThreadCreate { pid: 200, tid: 204, creator: ClientId { pid: 640, tid: 644 } },
    );
    run_all(&p, &mut env);
    env.read();
    assert_eq!(env.host.released, held.map(|(object, _)| object), "each reference dropped once, in order");

    let events = wire_events(&env.batches);
    assert_eq!(events.len(), env.out.delivered.len());
    assert_eq!(events.len(), held.len() + 2);
    for (i, ((seq, bytes, token, record), (d_seq, d_bytes, d_token))) in
        events.iter().zip(&env.out.delivered).enumerate()
    {
        assert_eq!(seq, d_seq);
        assert_eq!(token, d_token, "{i}: the facts the worker read, as they were");
        let Some(&(object, facts)) = held.get(i) else {
            assert_eq!(*token, None, "{i}: no reference, no token facts");
            assert_eq!(bytes, d_bytes, "{i}: a record holding nothing goes out as it is");
            assert_eq!(record::held(bytes), None);
            continue;
        };
        // A token read whose queries all failed is still there, knowing nothing.
        assert_eq!(*token, Some(facts.unwrap_or_default()), "{i}");
        // The ring's record holds the object; the wire's has its address zeroed and
        // nothing else changed (the HELD flag stays: the reader knows one was held).
        assert_eq!(record::held(d_bytes), Some(object), "{i}");
        assert_eq!(record::held(bytes), None, "{i}: a kernel address reached the reader");
        assert_eq!(record.held, None, "{i}");
        let at = d_bytes.windows(8).position(|w| w == object.to_ne_bytes()).expect("the ring's record has it");
        let mut scrubbed = d_bytes.clone();
        scrubbed[at..at + 8].fill(0);
        assert_eq!(*bytes, scrubbed, "{i}: the address zeroed, nothing else changed");
        assert!(!bytes.windows(8).any(|w| w == object.to_ne_bytes()), "{i}: the address is nowhere");
    }
    // And the words they print as.
    let mut w = watch(Format::Json, Filter::default());
    let creates = process_creates(&watch_all(&mut w, &env).expect("batches"));
    assert_eq!(creates[&100]["IntegrityLevel"], "Medium");
    assert!(creates[&101].get("User").is_none() && creates[&101].get("IntegrityLevel").is_none(), "{}", creates[&101]);
    assert_eq!(creates[&102]["IntegrityLevel"], "AppContainer");
    assert_eq!(creates[&102]["LogonId"], "0x900000001");
    assert_eq!(creates[&103]["User"], long.to_string());
    assert_eq!(creates[&103]["IntegrityLevel"], "0x2345");
    assert!(creates[&103].get("LogonId").is_none());
    assert!(creates[&104].get("User").is_none() && creates[&104].get("UserSid").is_none());
    assert_eq!(creates[&104]["LogonId"], "0xffffffffffffffff");
    assert!(creates[&200].get("User").is_none() && creates[&200].get("IntegrityLevel").is_none());
    let text = watch_all(&mut watch(Format::Text, Filter::default()), &env).expect("batches");
    let line = |pid: u64| text.iter().find(|l| l.contains(&format!(" pid={pid} "))).expect("line").clone();
    assert!(line(102).contains(" integrity=AppContainer logon=0x900000001"), "{}", line(102));
    assert!(line(103).contains(&format!(" user={long} integrity=0x2345")), "{}", line(103));
    assert!(!line(101).contains(" user=") && !line(200).contains(" integrity="), "{text:#?}");
    assert_eq!(text, env.out.lines);
}
