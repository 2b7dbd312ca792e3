//! The stages after the ring, as the benches prepare and time them: events pushed through
//! a real pipeline and drained by the real worker, whose deliveries are kept ([`Captured`])
//! so the reader channel can be fed them again without the worker ([`deliver_and_read`]);
//! the batches a reader read ([`Wire`]), and every event of them decoded and formatted as
//! a JSON object by the one formatter ([`json_of`]).
//!
//! Used by `benches/paired.rs` (the mix, [`STAGE_EVENTS`] of it) and `benches/rules.rs`
//! (a recorded trace's events).

use super::ticker::Ticker;
use super::{NullEnv, Record, Variant};
use notifyring::Delivered;
use notifyring::event::Event;
use notifyring::reader::wire::{Batch, MIN_READ};
use notifyring::reader::{Channel, ReadOutcome};
use notifyring::sim::device::{SimLock, VecRead, VecReads};
use notifyring::user::facts::{FileEvent, FileFacts, FileFactsSource};
use notifyring::user::json::{HostProcess, JsonFormatter};
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name, Origin, ProcessName};
use notifyring::vocab::start::ThreadStart;
use notifyring::vocab::token::TokenFacts;
use notifyring::worker::format::Line;
use notifyring::worker::{Host, Sink};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::Ordering;

/// What the worker delivered for one record, kept so the reader stage can deliver it
/// again without the worker.
pub struct Captured {
    seq: u64,
    bytes: Vec<u8>,
    origin: Origin,
    process: Owned,
    token: Option<TokenFacts>,
    start: Option<ThreadStart>,
}

/// A [`ProcessName`] that owns its name.
#[derive(Clone, Copy)]
enum Owned {
    NotApplicable,
    Known(Name),
    NoImageFile,
    Unknown,
}

/// The worker's environment for the stages' preparation: [`NullEnv`] (every process is
/// `svchost.exe`), or the images of `names` (as the replay's host names a process, and
/// failing as it does for a process it does not know), keeping every delivered record.
#[derive(Default)]
struct CaptureEnv<'n> {
    null: NullEnv,
    names: Option<&'n HashMap<u64, Box<[u16]>>>,
    kept: Vec<Captured>,
}

impl Host for CaptureEnv<'_> {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        let Some(names) = self.names else { return self.null.process_image(pid, name) };
        names.get(&pid).map_or(Lookup::Failed, |path| {
            *name = Name::from_path(path.iter().copied());
            Lookup::Found
        })
    }
    fn now_ticks(&mut self) -> u64 {
        0
    }
}

impl Sink for CaptureEnv<'_> {
    fn print(&mut self, line: Line<'_>) {
        self.null.print(line);
    }
    fn delivered(&mut self, d: &Delivered<'_>) {
        let process = match d.process {
            ProcessName::NotApplicable => Owned::NotApplicable,
            ProcessName::Known(name) => Owned::Known(*name),
            ProcessName::NoImageFile => Owned::NoImageFile,
            ProcessName::Unknown => Owned::Unknown,
        };
        self.kept.push(Captured {
            seq: d.seq,
            bytes: d.bytes.to_vec(),
            origin: d.origin,
            process,
            token: d.token.copied(),
            start: d.start,
        });
    }
}

/// Events per stage round of the paired bench (the stages cost 10–100× a push).
pub const STAGE_EVENTS: usize = 2048;
/// Events delivered between two reads of the reader stage.
pub const DELIVER_BETWEEN_READS: usize = 256;
/// The reader channel's buffer.
pub const CHANNEL_BYTES: usize = 4 << 20;
/// Events pushed between two runs of the worker while capturing: even at the caps
/// (1,024 + 8,192 UTF-16 units, about 18 KiB a record) they fit the 8 MiB ring.
const PUSHES_BETWEEN_DRAINS: usize = 256;

/// The wire input of the stages: what the worker delivered for the events, and the
/// batches a reader read of it.
pub struct Wire {
    /// Every delivery, in order.
    pub kept: Vec<Captured>,
    /// What each read returned.
    pub batches: Vec<Vec<u8>>,
}

/// The clock of the captured stamps and of the stages' formatters: one tick a nanosecond.
pub const CLOCK: Clock = Clock { start_ticks: 0, frequency: 1_000_000_000 };

/// [`STAGE_EVENTS`] events of `payload`, cycled, through the worker and the reader
/// channel; every process is named `svchost.exe`.
pub fn capture(payload: &[Event<'static>; 4], ticker: &Ticker) -> Wire {
    let events: Vec<Event<'static>> = payload.iter().copied().cycle().take(STAGE_EVENTS).collect();
    capture_events(&events, ticker)
}

/// `events`, in order, through a pipeline's record path, its worker and the reader
/// channel; every process is named `svchost.exe`.
pub fn capture_events(events: &[Event<'_>], ticker: &Ticker) -> Wire {
    capture_with(events, None, ticker)
}

/// [`capture_events`], with the worker naming each process by its image in `names` (a
/// process not there is one it could not look up).
pub fn capture_events_named(events: &[Event<'_>], names: &HashMap<u64, Box<[u16]>>, ticker: &Ticker) -> Wire {
    capture_with(events, Some(names), ticker)
}

fn capture_with(events: &[Event<'_>], names: Option<&HashMap<u64, Box<[u16]>>>, ticker: &Ticker) -> Wire {
    let record = Record::new(16 << 20, false);
    let mut env = CaptureEnv { names, ..CaptureEnv::default() };
    for group in events.chunks(PUSHES_BETWEEN_DRAINS) {
        for e in group {
            assert!(record.push(ticker.now(), 0, e), "the ring overflowed");
        }
        // Relaxed: single-threaded here; the flag only says the worker was queued.
        while record.pipeline.queue().0.swap(false, Ordering::Relaxed) {
            record.pipeline.run_worker(&mut env);
        }
    }
    assert_eq!(env.kept.len(), events.len(), "the worker delivered every event");
    let channel = Channel::try_new(CHANNEL_BYTES, CLOCK, SimLock::default()).expect("the channel's buffer");
    assert!(channel.attach(1), "the reader attaches");
    let pending = VecReads::default();
    let mut batches = Vec::new();
    deliver_and_read(&channel, &pending, &env.kept, |batch| batches.push(batch.to_vec()));
    Wire { kept: env.kept, batches }
}

/// The reader stage's body: delivers `kept` to `channel` and reads it back (in batches of
/// at most [`DELIVER_BETWEEN_READS`] deliveries), handing each batch read to `batch`.
/// Returns the entries read.
pub fn deliver_and_read(
    channel: &Channel<SimLock>,
    pending: &VecReads,
    kept: &[Captured],
    mut batch: impl FnMut(&[u8]),
) -> usize {
    let mut buffer = vec![0u8; MIN_READ];
    let mut read = 0;
    for group in kept.chunks(DELIVER_BETWEEN_READS) {
        for c in group {
            let record = notifyring::record::decode(&c.bytes).expect("a record the worker delivered");
            let name = if let Owned::Known(name) = c.process { name } else { Name::EMPTY };
            let process = match c.process {
                Owned::NotApplicable => ProcessName::NotApplicable,
                Owned::Known(_) => ProcessName::Known(&name),
                Owned::NoImageFile => ProcessName::NoImageFile,
                Owned::Unknown => ProcessName::Unknown,
            };
            let d = Delivered {
                seq: c.seq,
                record: &record,
                bytes: &c.bytes,
                origin: c.origin,
                process,
                token: c.token.as_ref(),
                start: c.start,
            };
            assert!(channel.deliver(pending, &d).is_none(), "no read is pending");
        }
        loop {
            match channel.read(1, pending, VecRead(std::mem::take(&mut buffer))) {
                ReadOutcome::Filled(VecRead(bytes), n) => {
                    let parsed = Batch::parse(&bytes[..n]).expect("a batch");
                    for entry in parsed.entries() {
                        black_box(entry.expect("an entry"));
                        read += 1;
                    }
                    batch(&bytes[..n]);
                    buffer = bytes;
                }
                ReadOutcome::Pending => {
                    let VecRead(bytes) = pending.queue.borrow_mut().pop_front().expect("the read just queued");
                    buffer = bytes;
                    break;
                }
                other => panic!("the reader's read failed: {other:?}"),
            }
        }
    }
    read
}

/// File facts from a cache, as the CLI's `DiskFacts` serves a path it has read before
/// (the key lowercased, the facts cloned), without its `metadata` call: the first ask of
/// a path fills the cache, every later one is a hit.
pub struct CachedFacts {
    cache: HashMap<String, FileFacts>,
    template: FileFacts,
}

impl CachedFacts {
    /// An empty cache; every path gets the same facts.
    pub fn new() -> Self {
        let text = |s: &str| Some(s.to_owned());
        let template = FileFacts {
            original_file_name: text("agent-host.exe"),
            description: text("Contoso Monitoring Agent Host"),
            product: text("Contoso Monitoring Agent"),
            company: text("Contoso Ltd."),
            file_version: text("10.4.2211.7 (release.221107-1200)"),
            hashes: text(
                "SHA1=2FD4E1C67A2D28FCED849EE1BB76E7391B93EB12,MD5=9E107D9D372BB6826BD81D3542A419D6,\
                 SHA256=D7A8FBB307D7809469CA9ABCB0082E4F8D5651E46D3CDB762D02D0BF37C9E592,\
                 IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744",
            ),
            signed: Some(true),
            signature: text("Contoso Ltd."),
            signature_status: text("Valid"),
        };
        Self { cache: HashMap::new(), template }
    }
}

impl FileFactsSource for CachedFacts {
    fn file_facts(&mut self, event: &FileEvent<'_>) -> Option<FileFacts> {
        if event.win32_path.is_empty() {
            return None;
        }
        let key = event.win32_path.to_ascii_lowercase();
        if let Some(facts) = self.cache.get(&key) {
            return Some(facts.clone());
        }
        self.cache.insert(key, self.template.clone());
        Some(self.template.clone())
    }
}

/// The JSON stage's body: every event of `batches` decoded and formatted as a JSON
/// object (with file facts from `files`, if given). Returns the events formatted.
pub fn json_of(batches: &[Vec<u8>], json: &mut JsonFormatter, files: Option<&mut CachedFacts>) -> usize {
    json_each(
        batches,
        json,
        |_| None,
        files,
        |object| {
            black_box(object.len());
        },
    )
}

/// [`json_of`], with what the host knows of a process the formatter has not seen
/// created from `lookup` (as the replay's reader asks the recording), handing each
/// object to `object`.
pub fn json_each(
    batches: &[Vec<u8>],
    json: &mut JsonFormatter,
    mut lookup: impl FnMut(u64) -> Option<HostProcess>,
    mut files: Option<&mut CachedFacts>,
    mut object: impl FnMut(String),
) -> usize {
    let mut events = 0;
    for bytes in batches {
        let batch = Batch::parse(bytes).expect("a batch");
        for entry in batch.entries() {
            let entry = entry.expect("an entry");
            let mut name = Name::EMPTY;
            let Some(d) = entry.delivered(&mut name) else { continue };
            object(match files.as_deref_mut() {
                Some(files) => json.event_with(&d, &mut lookup, files),
                None => json.event(&d, &mut lookup),
            });
            events += 1;
        }
    }
    events
}
