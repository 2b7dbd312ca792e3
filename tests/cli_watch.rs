//! The CLI's portable part (`notifyring::user::watch`) on batches the real encoder made:
//! the real pipeline, stepped by hand, whose worker prints debugger lines and hands
//! every record and loss to a reader's [`Channel`], as the driver's worker does.
//! - text output is the debugger's lines, LOST lines at their place, across batches;
//! - JSON output is what the replay's `JsonFormatter` writes for the same records;
//! - filters hide events, never LOST entries, and the summary counts both;
//! - another protocol version, truncated or garbage bytes: a clear error, no panic;
//! - Win32 errors map to the documented exit codes; the status reply as text.

#[path = "stepped/mod.rs"]
mod stepped;

use notifyring::reader::wire::{self, WireError};
use notifyring::reader::{Channel, ReadOutcome};
use notifyring::sim::device::{SimLock, VecRead as Buf, VecReads as Reads};
use notifyring::user::json::JsonFormatter;
use notifyring::user::paths::PathMap;
use notifyring::user::watch::{Anchor, CliError, Filter, Format, Kinds, Summary, Watch, status_text, utc_start_ns};
use notifyring::worker::format::{Clock, Line};
use notifyring::worker::names::{Lookup, Name};
use notifyring::{ClientId, Config, Delivered, Event, Pipeline, Recorded, Stamp, Stats, WorkerEnv};
use std::collections::HashMap;
use stepped::Queue;

/// 1 MHz: a tick is a microsecond.
const CLOCK: Clock = Clock { start_ticks: 1_000_000, frequency: 1_000_000 };
/// Unix time of the driver's load in these tests (2026-11-29 07:00:00 UTC).
const UTC_START_NS: u128 = 1_795_935_600_000_000_000;
const READER: usize = 1;

/// The driver's worker host, as far as the reader is concerned: the debugger's lines,
/// the replay's JSON for the same records, and the reader's channel with its reads.
struct Env {
    lines: Vec<String>,
    json: JsonFormatter,
    objects: Vec<String>,
    processes: HashMap<u64, String>,
    channel: Channel<SimLock>,
    reads: Reads,
    batches: Vec<Vec<u8>>,
}

impl Env {
    fn new() -> Self {
        let channel = Channel::try_new(1 << 20, CLOCK, SimLock::default()).expect("channel");
        assert!(channel.attach(READER));
        Self {
            lines: Vec::new(),
            json: JsonFormatter::new(CLOCK, UTC_START_NS, PathMap::default(), Config::DEFAULT.names),
            objects: Vec::new(),
            processes: HashMap::from([(640, String::from(r"\Device\HarddiskVolume3\Windows\explorer.exe"))]),
            channel,
            reads: Reads::default(),
            batches: Vec::new(),
        }
    }

    fn completed(&mut self, done: Option<(Buf, usize)>) {
        if let Some((Buf(mut bytes), n)) = done {
            bytes.truncate(n);
            self.batches.push(bytes);
        }
    }

    /// Issues a read: filled now, or pending until the worker delivers.
    fn read(&mut self) {
        match self.channel.read(READER, &self.reads, Buf(vec![0; wire::MIN_READ])) {
            ReadOutcome::Filled(read, n) => self.completed(Some((read, n))),
            ReadOutcome::Pending => {}
            other => panic!("read refused: {other:?}"),
        }
    }

    fn lookup(processes: &HashMap<u64, String>) -> impl FnMut(u64) -> Option<String> + '_ {
        |pid| processes.get(&pid).cloned()
    }
}

impl WorkerEnv for Env {
    fn print(&mut self, line: Line<'_>) {
        self.lines.push(String::from_utf8(line.text().to_vec()).expect("ASCII"));
    }

    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.processes.get(&pid).map_or(Lookup::Failed, |path| {
            *name = Name::from_path(path.encode_utf16());
            Lookup::Found
        })
    }

    fn now_ticks(&mut self) -> u64 {
        CLOCK.start_ticks
    }

    fn delivered(&mut self, event: &Delivered<'_>) {
        let object = self.json.event(event, Self::lookup(&self.processes));
        self.objects.push(object);
        let done = self.channel.deliver(&self.reads, event);
        self.completed(done);
    }

    fn lost(&mut self, seq: u64, count: u64) {
        self.objects.push(self.json.lost(seq, count));
        let done = self.channel.lost(&self.reads, seq, count);
        self.completed(done);
    }
}

fn units(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn run_all(p: &Pipeline<Queue>, env: &mut Env) {
    while p.queue().0.replace(false) {
        p.run_worker(env);
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
    // The first read waits; the worker's first delivery completes it with one event.
    env.read();
    p.record(
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
    p.record(stamp(), &Event::ProcessExit { pid: 7212, exit_status: 0xC000_013A });
    run_all(&p, &mut env);
    env.read();
    assert!(env.reads.0.borrow().is_empty(), "a read is still pending");
    assert!(env.batches.len() >= 3, "{} batches", env.batches.len());
    assert!(env.lines.iter().any(|l| l.contains(" LOST ")), "no loss: {:#?}", env.lines);
    env
}

/// Anchor read 5 s after the driver's load (the JSON's UTC start comes out right).
const fn anchor() -> Anchor {
    Anchor { wall_ns: UTC_START_NS + 5_000_000_000, ticks: CLOCK.start_ticks + 5_000_000 }
}

/// Every batch through `watch`: its output lines, or the first error.
fn watch_all(watch: &mut Watch, env: &Env) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for batch in &env.batches {
        watch.batch(batch, anchor, Env::lookup(&env.processes), |l| out.push(l.to_owned()))?;
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
    assert_eq!(out, env.lines);
    let lost = lost_total(&env.lines);
    assert!(lost > 0);
    let events = env.lines.iter().filter(|l| l.starts_with("notifyring: #")).count() as u64;
    assert_eq!(w.summary(), Summary { batches: env.batches.len() as u64, events, filtered: 0, lost });
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
    std::fs::write(dir.join("lines.txt"), env.lines.join("\n") + "\n").expect("lines");
    let read: Vec<u8> = std::fs::read(dir.join("batch0.bin")).expect("read back");
    assert_eq!(read, env.batches[0]);
}

#[test]
fn json_output_is_the_replays_json() {
    let env = stream();
    let mut w = watch(Format::Json, Filter::default());
    let out = watch_all(&mut w, &env).expect("batches");
    assert_eq!(out, env.objects);
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
fn another_protocol_version_is_exit_5() {
    let env = stream();
    let mut bytes = env.batches[0].clone();
    bytes[4..6].copy_from_slice(&(wire::VERSION + 1).to_le_bytes());
    let err = watch(Format::Text, Filter::default())
        .batch(&bytes, anchor, |_| None, |_| panic!("nothing is printed"))
        .expect_err("version");
    assert_eq!(err, CliError::Wire(WireError::Version { found: wire::VERSION + 1 }));
    assert_eq!(err.exit_code(), 5);
    assert_eq!(
        err.to_string(),
        format!(
            "notifyring: protocol version mismatch: the driver speaks {}, this program {}: use the CLI built with the driver",
            wire::VERSION + 1,
            wire::VERSION
        )
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
            assert_eq!(err.exit_code(), 1, "{n}");
            assert!(err.to_string().starts_with("notifyring: bad reply from the driver: "), "{err}");
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
    assert_eq!(err.exit_code(), 5, "{err}");
    let err = watch(Format::Text, Filter::default()).batch(b"hello", anchor, |_| None, |_| {}).expect_err("text");
    assert_eq!(err, CliError::Wire(WireError::Magic));
    // A header announcing one more entry than it holds.
    let mut b = bytes.clone();
    let announced = u32::from_le_bytes(b[12..16].try_into().expect("4")) + 1;
    b[12..16].copy_from_slice(&announced.to_le_bytes());
    let err = watch(Format::Text, Filter::default()).batch(&b, anchor, |_| None, |_| {}).expect_err("count");
    assert_eq!(err, CliError::EntryCount { announced, found: announced - 1 });
}

#[test]
fn win32_errors_map_to_the_documented_exit_codes() {
    let cases =
        [(2, 2, "driver not loaded"), (3, 2, "driver not loaded"), (5, 3, "elevated"), (32, 4, "another reader")];
    for (code, exit, says) in cases {
        let err = CliError::from_win32("opening", code);
        assert_eq!(err.exit_code(), exit, "{code}");
        assert!(err.to_string().contains(says), "{err}");
    }
    let err = CliError::from_win32("reading", 1167);
    assert_eq!(err.exit_code(), 1);
    assert_eq!(err.to_string(), "notifyring: reading failed: Windows error 1167");
    assert_eq!(
        CliError::from_win32("opening", 2).to_string(),
        r"notifyring: driver not loaded (\\.\NotifyRing does not exist): start the notifyring service"
    );
}

#[test]
fn status_reply_as_text() {
    let mut buf = [0u8; wire::STATUS_MAX];
    let items = [("reader_attached", 1), ("events", 1234), ("lost", 5)];
    let n = wire::encode_status(&mut buf, "0.1.0", items).expect("fits");
    assert_eq!(
        status_text(&buf[..n]).expect("status"),
        format!("driver 0.1.0 (protocol {})\nreader_attached=1\nevents=1234\nlost=5\n", wire::VERSION)
    );
    // Total length pulled back by one: the last item no longer fits.
    let mut cut = buf;
    cut[8..12].copy_from_slice(&u32::try_from(n - 1).expect("small").to_le_bytes());
    assert_eq!(status_text(&cut[..n]), Err(CliError::StatusItems { announced: 3, found: 2 }));
    let mut other = buf;
    other[4..6].copy_from_slice(&7u16.to_le_bytes());
    assert_eq!(status_text(&other[..n]).map_err(|e| e.exit_code()), Err(5));
    for end in 0..n {
        assert!(status_text(&buf[..end]).is_err(), "{end}");
    }
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
