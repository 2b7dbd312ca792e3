//! The reader path on the simulated kernel (`notifyring::sim::device`), with the real
//! pipeline stepped by hand (deterministic: no threads):
//! - a reader gets every record the worker delivers, with the same sequence numbers,
//!   bytes, origins and `proc=` knowledge, in the wire format it decodes;
//! - one read takes at most its budget (plus one entry) whatever its size, and the rest
//!   follows in order; the largest entry fits the smallest read;
//! - a slow reader loses events from its own stream only, each loss reported by an
//!   exact LOST entry at its place, so `delivered + lost` equals the worker's stream
//!   since the reader attached; the debugger stream loses nothing;
//! - a reader attaching mid-stream starts at the next record (earlier ones are not its
//!   losses); a second reader is refused; detaching cancels pending reads; an open is the
//!   reader when it asked for or was granted read access (`MAXIMUM_ALLOWED`);
//! - a pending read is completed by the worker, by `CancelIoEx`, by handle cleanup or
//!   by unload, exactly once, and nothing stays queued; at most `MAX_PENDING_READS`
//!   wait, one more is refused at once;
//! - `DebuggerOutput` mutes event lines while a reader is attached, or always.

mod common;

use common::stepped;
use notifyring::config::DebuggerOutput;
use notifyring::reader::wire::{self, Batch, Entry, MIN_READ, WireError};
use notifyring::reader::{Channel, FILL_BUDGET, Held, Pending, ReadOutcome};
use notifyring::sim::CollectEnv;
use notifyring::sim::device::{Completion, DeviceEnv, OpenError, SimDevice, SimLock, VecRead as Buf, VecReads};
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::NAME_UNITS;
use notifyring::{ClientId, Config, Delivered, Event, Host, Pipeline, Sink, Stamp, Stats};
use std::sync::Arc;
use std::time::Duration;
use stepped::Queue;

const CLOCK: Clock = Clock { start_ticks: 0, frequency: 1_000_000 };

/// Keeps what the worker delivered, as (seq, bytes).
#[derive(Default)]
struct Seen {
    inner: CollectEnv,
    delivered: Vec<(u64, Vec<u8>)>,
    lost: Vec<(u64, u64)>,
}

impl Host for Seen {
    fn process_image(
        &mut self,
        pid: u64,
        name: &mut notifyring::vocab::process::Name,
    ) -> notifyring::vocab::process::Lookup {
        self.inner.process_image(pid, name)
    }
    fn now_ticks(&mut self) -> u64 {
        0
    }
}

impl Sink for Seen {
    fn print(&mut self, line: notifyring::worker::format::Line<'_>) {
        self.inner.print(line);
    }
    fn delivered(&mut self, event: &Delivered<'_>) {
        self.delivered.push((event.seq, event.bytes.to_vec()));
    }
    fn lost(&mut self, seq: u64, count: u64) {
        self.lost.push((seq, count));
    }
}

struct Rig {
    pipeline: Pipeline<Queue>,
    device: Arc<SimDevice>,
    env: DeviceEnv<Seen>,
}

fn rig(reader_bytes: usize, output: DebuggerOutput, config: &Config) -> Rig {
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let pipeline = Pipeline::new(config, CLOCK, Queue::default(), stats).unwrap();
    let device = SimDevice::new(reader_bytes, CLOCK, output).unwrap();
    let env = device.env(Seen::default());
    Rig { pipeline, device, env }
}

impl Rig {
    fn run(&mut self) {
        while self.pipeline.queue().0.replace(false) {
            self.pipeline.run_worker(&mut self.env);
        }
    }

    fn thread(&self, pid: u64, tid: u64) {
        self.pipeline.record(Stamp::default(), &Event::ThreadCreate { pid, tid, creator: ClientId { pid, tid: 1 } });
    }

    fn image(&self, pid: u64, path: &[u16]) {
        let event = Event::ImageLoad {
            pid,
            base: 0x7ff6_0000_0000,
            size: 0x1000,
            kernel_image: false,
            signature_level: 0,
            signature_type: 0,
            image: Some(path),
        };
        self.pipeline.record(Stamp::default(), &event);
    }
}

/// A reader's view: the event seqs and LOST (seq, count) entries of the batches.
#[derive(Default, Debug)]
struct Stream {
    events: Vec<(u64, Vec<u8>)>,
    lost: Vec<(u64, u64)>,
    /// Every LOST entry's reason bits, or-ed.
    reasons: u8,
    batches: usize,
    omitted: bool,
}

impl Stream {
    fn take(&mut self, completion: Option<Completion>) {
        let Some(Completion::Data(bytes)) = completion else { panic!("expected data, got {completion:?}") };
        let batch = Batch::parse(&bytes).expect("batch");
        assert_eq!(batch.clock, CLOCK);
        self.omitted = batch.command_lines_omitted();
        let mut n = 0;
        for entry in batch.entries() {
            match entry.expect("entry") {
                Entry::Event { seq, bytes, .. } => self.events.push((seq, bytes.to_vec())),
                Entry::Lost { seq, count, reason } => {
                    self.lost.push((seq, count));
                    self.reasons |= reason;
                }
            }
            n += 1;
        }
        assert_eq!(n, batch.entries, "the header's entry count");
        self.batches += 1;
    }

    /// Every stream position from `first` on, exactly once: events, or inside a LOST.
    fn assert_gapless(&self, first: u64, last: u64) {
        let mut marks: Vec<(u64, u64)> = self.events.iter().map(|(s, _)| (*s, 1)).collect();
        marks.extend(self.lost.iter().map(|&(s, c)| (s + 1, c)));
        marks.sort_unstable();
        let mut next = first;
        for (start, count) in marks {
            assert_eq!(start, next, "stream position {next} missing or doubled: {self:?}");
            next = start + count;
        }
        assert_eq!(next, last + 1, "the stream ends at {last}");
    }
}

/// How long a test waits for a completion it expects: far beyond any scheduling delay
/// (the completion is the condition; the deadline only bounds a failure).
const WAIT: Duration = Duration::from_mins(1);

#[test]
fn a_reader_gets_every_record_the_worker_delivers_in_the_wire_format() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    let first = reader.read(MIN_READ);
    assert_eq!(first.poll(), None, "nothing yet: the read pends");
    let path: Vec<u16> = r"\Device\HarddiskVolume3\Windows\System32\ntdll.dll".encode_utf16().collect();
    r.image(4321, &path);
    r.run();
    let mut stream = Stream::default();
    stream.take(first.wait(WAIT));
    for tid in 0..50 {
        r.thread(4321, 100 + tid);
    }
    r.run();
    stream.take(reader.read(MIN_READ).poll());
    assert_eq!(stream.events, r.env.inner().delivered, "the same records, bytes and positions");
    assert!(stream.lost.is_empty());
    assert_eq!(stream.batches, 2, "the pending read took the first record; the rest waited for the next read");
    let c = r.device.counters();
    assert_eq!((c.events, c.events_read, c.lost, c.reads, c.reads_pended), (51, 51, 0, 2, 1));
}

#[test]
fn a_slow_readers_losses_are_exact_lost_entries_and_the_debugger_loses_nothing() {
    // A 4 KiB reader buffer holds a few dozen thread records: the reader falls behind.
    let mut r = rig(4096, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    let mut stream = Stream::default();
    let mut tid = 0;
    for round in 1..20 {
        for _ in 0..(round * 7) {
            tid += 1;
            r.thread(10, tid);
        }
        r.run();
        stream.take(reader.read(MIN_READ).poll());
    }
    let delivered = r.env.inner().delivered.len() as u64;
    assert_eq!(delivered, tid, "the worker delivered everything (its ring was large enough)");
    assert!(!stream.lost.is_empty(), "the small buffer must have dropped some");
    assert_eq!(stream.reasons, wire::LOST_READER, "LOST entries say the reader's buffer was full");
    stream.assert_gapless(1, delivered);
    let c = r.device.counters();
    assert_eq!(c.events_read + c.lost_read, delivered, "recorded = delivered to reader + lost for reader");
    assert_eq!(c.lost, c.dropped_full);
    let event_lines = r.env.inner().inner.lines.iter().filter(|l| l.contains(" thread-create ")).count() as u64;
    assert_eq!(event_lines, delivered, "the debugger stream is untouched by the reader's losses");
}

#[test]
fn ring_losses_reach_the_reader_at_their_place() {
    // A ring of 4 KiB: a burst overflows it and the worker reports LOST.
    let config = Config { ring_bytes: 4096, ..Config::DEFAULT };
    let mut r = rig(1 << 20, DebuggerOutput::Always, &config);
    let reader = r.device.open_reader().unwrap();
    for tid in 0..500 {
        r.thread(10, tid);
    }
    r.run();
    r.thread(10, 9999);
    r.run();
    let mut stream = Stream::default();
    stream.take(reader.read(MIN_READ).poll());
    let worker_lost: u64 = r.env.inner().lost.iter().map(|l| l.1).sum();
    assert!(worker_lost > 0, "the ring must have overflowed");
    assert_eq!(stream.lost, r.env.inner().lost, "the worker's LOST reports, at the same positions");
    assert_eq!(stream.reasons, wire::LOST_RING, "LOST entries say the ring was full");
    let last = r.env.inner().delivered.last().unwrap().0;
    stream.assert_gapless(1, last);
}

/// A read copies entries under the channel's spin lock: whatever its buffer's size, it
/// stops after the entry that reaches `FILL_BUDGET` bytes. Nothing is lost, split or
/// reordered (a ring LOST stays after the entries before it); the rest comes with the
/// next reads.
#[test]
fn a_read_stops_after_its_budget_and_the_rest_follows_in_order() {
    // A 64 KiB ring that the worker drains between bursts, then overflows once.
    let config = Config { ring_bytes: 64 << 10, ..Config::DEFAULT };
    let mut r = rig(4 << 20, DebuggerOutput::Never, &config);
    let reader = r.device.open_reader().unwrap();
    let path: Vec<u16> = format!(r"\Device\HarddiskVolume3\{}.dll", "x".repeat(200)).encode_utf16().collect();
    for burst in 0..5 {
        for n in 0..100 {
            r.image(1000 + burst * 100 + n, &path);
        }
        r.run();
    }
    for tid in 0..2000 {
        r.thread(10, tid);
    }
    r.run();
    r.thread(10, 9999);
    r.run();
    let worker_lost: u64 = r.env.inner().lost.iter().map(|l| l.1).sum();
    assert!(worker_lost > 0, "the ring must have overflowed");
    let last = r.env.inner().delivered.last().unwrap().0;
    let largest = r.env.inner().delivered.iter().map(|(_, b)| b.len()).max().unwrap();
    let mut stream = Stream::default();
    // (position, is an event) in arrival order, across batches.
    let mut arrived = Vec::new();
    // Until a read finds nothing and waits.
    while let Some(Completion::Data(bytes)) = reader.read(4 << 20).poll() {
        let batch = Batch::parse(&bytes).unwrap();
        assert!(batch.entries > 0);
        arrived.extend(batch.entries().map(|e| match e.unwrap() {
            Entry::Event { seq, .. } => (seq, true),
            Entry::Lost { seq, .. } => (seq + 1, false),
        }));
        let entries = bytes.len() - wire::BATCH_HEADER;
        stream.take(Some(Completion::Data(bytes)));
        // At most the budget plus one entry (and a LOST behind the last one).
        let largest_entry = wire::ENTRY_HEAD + 2 * NAME_UNITS + largest + 8;
        assert!(entries < FILL_BUDGET + largest_entry + wire::LOST_ENTRY, "{entries} bytes");
        if r.device.buffered() > 0 {
            assert!(entries >= FILL_BUDGET, "stopped short of the budget ({entries} bytes) with more buffered");
        }
    }
    assert!(stream.batches >= 4, "{} batches for more than 4 budgets of entries", stream.batches);
    stream.assert_gapless(1, last);
    assert!(arrived.windows(2).all(|w| w[0].0 < w[1].0), "entries out of order");
    assert!(arrived.iter().any(|&(_, event)| !event), "the ring's LOST reached the reader");
    assert_eq!(stream.lost, r.env.inner().lost, "the worker's LOST reports, at the same positions");
}

/// The largest entry (an image path and a command line at 32,767 units each) is more
/// than the budget, and still fits one read of `MIN_READ` bytes: each read takes one.
#[test]
fn the_largest_entry_fits_one_read_of_the_smallest_size() {
    let caps = notifyring::record::Caps { image: 32_767, command_line: 32_767 };
    let config = Config { caps, ..Config::DEFAULT };
    let mut r = rig(1 << 20, DebuggerOutput::Never, &config);
    let reader = r.device.open_reader().unwrap();
    let image: Vec<u16> = std::iter::repeat_n(u16::from(b'i'), 32_767).collect();
    let command_line: Vec<u16> = std::iter::repeat_n(u16::from(b'c'), 32_767).collect();
    for pid in 1..=3 {
        let event = Event::ProcessCreate {
            pid,
            parent_pid: 4,
            creator: ClientId { pid: 4, tid: 8 },
            file_open_name_available: true,
            subsystem_process: false,
            image: Some(&image),
            command_line: Some(&command_line),
        };
        r.pipeline.record(Stamp::default(), &event);
    }
    r.run();
    let mut stream = Stream::default();
    for n in 1..=3 {
        let Some(Completion::Data(bytes)) = reader.read(MIN_READ).poll() else { panic!("read {n}: no data") };
        let batch = Batch::parse(&bytes).unwrap();
        assert_eq!(batch.entries, 1, "read {n}: one entry, past the budget on its own");
        assert!(bytes.len() > FILL_BUDGET && bytes.len() <= MIN_READ, "read {n}: {} bytes", bytes.len());
        stream.take(Some(Completion::Data(bytes)));
    }
    assert_eq!(reader.read(MIN_READ).poll(), None, "nothing left: the next read waits");
    assert_eq!(stream.events, r.env.inner().delivered, "all three, whole, in order");
}

#[test]
fn a_reader_attaching_mid_stream_starts_at_the_next_record() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    for tid in 0..10 {
        r.thread(10, tid);
    }
    r.run();
    let reader = r.device.open_reader().unwrap();
    for tid in 10..15 {
        r.thread(10, tid);
    }
    r.run();
    let mut stream = Stream::default();
    stream.take(reader.read(MIN_READ).poll());
    assert_eq!(stream.events.first().map(|e| e.0), Some(11));
    assert!(stream.lost.is_empty(), "records before the attach are not the reader's losses");
    stream.assert_gapless(11, 15);
}

#[test]
fn one_reader_at_a_time_and_closing_cancels_its_pending_read() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    assert_eq!(r.device.open_reader().err(), Some(OpenError::ReaderAttached));
    let pending = reader.read(MIN_READ);
    reader.close();
    assert_eq!(pending.poll(), Some(Completion::Cancelled));
    assert_eq!(pending.completions(), 1);
    assert_eq!(r.device.leaks(), 0);
    assert!(!r.device.attached());
    // Events while nobody reads go nowhere (and are nobody's losses).
    r.thread(10, 1);
    r.run();
    let again = r.device.open_reader().expect("the device is free again");
    r.thread(10, 2);
    r.run();
    let mut stream = Stream::default();
    stream.take(again.read(MIN_READ).poll());
    assert_eq!(stream.events.len(), 1);
    assert_eq!(r.device.counters().attaches, 2);
}

/// An administrator's `MAXIMUM_ALLOWED` open names no right in `DesiredAccess`; the rights
/// the I/O manager granted it (`PreviouslyGrantedAccess`) make it the reader. One
/// granted only attributes may ask for the status: its reads are refused, and it keeps
/// no reader out.
#[test]
fn a_maximum_allowed_open_is_the_reader_when_granted_read_access() {
    use notifyring::reader::open::{Access, MAXIMUM_ALLOWED};
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    // FILE_READ_ATTRIBUTES | SYNCHRONIZE.
    let attributes = Access { desired: MAXIMUM_ALLOWED, granted: 0x0010_0080 };
    let status_only = r.device.open("", Some(attributes)).expect("a status-only open");
    assert!(!r.device.attached(), "granted no read access: not the reader");
    assert_eq!(status_only.read(MIN_READ).poll(), Some(Completion::Refused));
    // FILE_ALL_ACCESS, what the DACL grants Administrators (GENERIC_ALL, mapped).
    let everything = Access { desired: MAXIMUM_ALLOWED, granted: 0x001f_01ff };
    let reader = r.device.open("", Some(everything)).expect("the reader");
    assert!(r.device.attached());
    assert_eq!(r.device.open("", Some(everything)).err(), Some(OpenError::ReaderAttached), "one reader at a time");
    let pending = reader.read(MIN_READ);
    r.thread(10, 1);
    r.run();
    let mut stream = Stream::default();
    stream.take(pending.poll());
    assert_eq!(stream.events.len(), 1, "it reads");
    drop(status_only);
    assert!(r.device.attached(), "the status-only handle's close detaches nobody");
}

/// `\\.\Global\NotifyRing\x` names something inside the device, which has no namespace:
/// not found, whatever the access, and nothing is attached.
#[test]
fn a_name_inside_the_device_is_not_found() {
    use notifyring::reader::open::{Access, GENERIC_READ, MAXIMUM_ALLOWED};
    let r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let read = Some(Access { desired: GENERIC_READ, granted: 0 });
    let everything = Some(Access { desired: MAXIMUM_ALLOWED, granted: 0x001f_01ff });
    for name in [r"\x", r"\", r"\x\y"] {
        for access in [read, everything, Some(Access { desired: 0x80, granted: 0 }), None] {
            assert_eq!(r.device.open(name, access).err(), Some(OpenError::NoSuchName), "{name} with {access:?}");
        }
    }
    assert!(!r.device.attached(), "nothing attached");
    let reader = r.device.open("", read).expect("the device itself opens");
    assert!(r.device.attached());
    drop(reader);
}

/// Wine's creates carry no security context, so the driver cannot tell a reader's open
/// from a status-only one: such an open becomes the reader at its first read.
#[test]
fn an_open_without_a_security_context_becomes_the_reader_by_reading() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let status_only = r.device.open_unclassified();
    let first = r.device.open_unclassified();
    assert!(!r.device.attached(), "opening attaches nothing");
    let pending = first.read(MIN_READ);
    assert!(r.device.attached(), "its first read attached it");
    assert_eq!(pending.poll(), None, "and is pending: nothing delivered yet");
    // Another such open's read is refused while the first is the reader, and so is a
    // classified reader's open.
    let second = r.device.open_unclassified();
    assert_eq!(second.read(MIN_READ).poll(), Some(Completion::Refused));
    assert_eq!(r.device.open_reader().err(), Some(OpenError::ReaderAttached));
    r.thread(10, 1);
    r.run();
    let mut stream = Stream::default();
    stream.take(pending.poll());
    assert_eq!(stream.events.len(), 1, "the reader got the event");
    // Closing (Wine sends IRP_MJ_CLOSE, no cleanup) frees the device for the next one;
    // an open that never read is nobody's reader and blocks nobody.
    first.close();
    assert!(!r.device.attached());
    drop(status_only);
    let next = second.read(MIN_READ);
    assert!(r.device.attached(), "the other open now reads");
    assert_eq!(next.poll(), None);
    assert_eq!(r.device.counters().attaches, 2);
    second.close();
    assert_eq!(next.poll(), Some(Completion::Cancelled));
    assert_eq!(r.device.leaks(), 0);
}

/// A reader may keep `MAX_PENDING_READS` reads waiting; one more is refused at once
/// (`STATUS_TOO_MANY_COMMANDS`), which queues nothing. A cancel frees a place; the
/// worker fills the oldest; closing cancels the rest, each read ending exactly once.
#[test]
fn at_most_max_pending_reads_wait_and_one_more_is_refused_at_once() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    let waiting: Vec<_> = (0..wire::MAX_PENDING_READS).map(|_| reader.read(MIN_READ)).collect();
    assert!(waiting.iter().all(|t| t.poll().is_none()), "all wait");
    let refused = reader.read(MIN_READ);
    assert_eq!(refused.poll(), Some(Completion::TooMany));
    assert_eq!(refused.completions(), 1);
    assert_eq!(r.device.counters().reads_pended, wire::MAX_PENDING_READS as u64, "the refused read never waited");
    // A cancel frees a place for the next read.
    waiting[1].cancel();
    let again = reader.read(MIN_READ);
    assert_eq!(again.poll(), None, "waits in the freed place");
    assert_eq!(reader.read(MIN_READ).poll(), Some(Completion::TooMany));
    // The worker fills the oldest waiting read; the others still wait.
    r.thread(10, 1);
    r.run();
    let mut stream = Stream::default();
    stream.take(waiting[0].poll());
    assert_eq!(stream.events.len(), 1);
    assert!([&waiting[2], &waiting[3], &again].iter().all(|t| t.poll().is_none()));
    reader.close();
    for ticket in waiting.iter().skip(1).chain([&again]) {
        assert_eq!((ticket.poll(), ticket.completions()), (Some(Completion::Cancelled), 1));
    }
    assert_eq!(r.device.leaks(), 0);
}

#[test]
fn cancel_io_ex_completes_a_pending_read_once_and_the_next_read_still_works() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    let pending = reader.read(MIN_READ);
    pending.cancel();
    pending.cancel();
    assert_eq!(pending.poll(), Some(Completion::Cancelled));
    assert_eq!(pending.completions(), 1);
    r.thread(10, 1);
    r.run();
    let mut stream = Stream::default();
    stream.take(reader.read(MIN_READ).poll());
    assert_eq!(stream.events.len(), 1, "the event waited in the buffer for the next read");
    assert_eq!(pending.completions(), 1, "a cancelled read is never completed again");
}

#[test]
fn unload_with_a_pending_read_completes_it_and_leaves_nothing_queued() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    let pending = reader.read(MIN_READ);
    r.thread(10, 1);
    // Unload's order: stop, (idle), final drain through the same env, then the device.
    r.pipeline.stop();
    // The queued routine still runs (and finds the schedule stopping).
    r.run();
    r.pipeline.shutdown(&mut r.env).unwrap();
    let mut stream = Stream::default();
    stream.take(pending.poll());
    assert_eq!(stream.events.len(), 1, "the final drain reached the reader");
    let second = reader.read(MIN_READ);
    r.device.unload();
    assert_eq!(second.poll(), Some(Completion::Cancelled));
    assert_eq!((pending.completions(), second.completions()), (1, 1));
    assert_eq!(r.device.leaks(), 0);
    drop(reader);
}

#[test]
fn reads_from_other_handles_or_too_small_buffers_are_refused() {
    let r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    assert_eq!(reader.read(MIN_READ - 1).poll(), Some(Completion::Refused));
    reader.close();
    let stale = r.device.open_reader().unwrap();
    drop(stale);
    assert_eq!(r.device.leaks(), 0);
}

#[test]
fn debugger_output_follows_its_setting() {
    for (output, before, during) in [
        (DebuggerOutput::Always, true, true),
        (DebuggerOutput::WithoutReader, true, false),
        (DebuggerOutput::Never, false, false),
    ] {
        let mut r = rig(1 << 20, output, &Config::DEFAULT);
        r.thread(10, 1);
        r.run();
        let reader = r.device.open_reader().unwrap();
        r.thread(10, 2);
        r.run();
        let lines = &r.env.inner().inner.lines;
        let printed = |tid: u64| lines.iter().any(|l| l.contains(&format!(" tid={tid} ")));
        assert_eq!((printed(1), printed(2)), (before, during), "{output:?}: {lines:?}");
        let mut stream = Stream::default();
        stream.take(reader.read(MIN_READ).poll());
        assert_eq!(stream.events.len(), 1, "{output:?}: the reader gets it either way");
        r.pipeline.stop();
        r.run();
        r.pipeline.shutdown(&mut r.env).unwrap();
        assert!(
            r.env.inner().inner.lines.iter().any(|l| l.contains("final-stats")),
            "{output:?}: statistics lines are always printed"
        );
    }
}

#[test]
fn omitted_command_lines_never_reach_the_reader() {
    let config = Config { omit_command_line: true, ..Config::DEFAULT };
    let mut r = rig(1 << 20, DebuggerOutput::Always, &config);
    r.device.omit_command_lines(config.omit_command_line);
    let reader = r.device.open_reader().unwrap();
    let image: Vec<u16> = r"\??\C:\Windows\System32\cmd.exe".encode_utf16().collect();
    let secret: Vec<u16> = "cmd /c set PASSWORD=hunter2".encode_utf16().collect();
    let event = Event::ProcessCreate {
        pid: 77,
        parent_pid: 4,
        creator: ClientId { pid: 4, tid: 8 },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(&image),
        command_line: Some(&secret),
    };
    r.pipeline.record(Stamp::default(), &event);
    r.run();
    let Some(Completion::Data(bytes)) = reader.read(MIN_READ).poll() else { panic!("data") };
    let batch = Batch::parse(&bytes).unwrap();
    assert!(batch.command_lines_omitted(), "the batch says so, for the CLI's <omitted>");
    let Some(Ok(Entry::Event { record, .. })) = batch.entries().next() else { panic!("an event") };
    let cmd = record.command_line.expect("the kernel gave one");
    assert_eq!(cmd.stored_len(), 0, "not one unit of it was copied");
    assert!(!bytes.windows(4).any(|w| w == [b'h', 0, b'u', 0]), "the secret is nowhere in the batch");
    let line = r.env.inner().inner.lines.iter().find(|l| l.contains("process-create")).unwrap();
    assert!(line.contains("cmdline=<omitted>"), "{line}");
}

#[test]
fn a_batch_of_another_version_or_truncated_is_a_clear_error() {
    let mut r = rig(1 << 20, DebuggerOutput::Always, &Config::DEFAULT);
    let reader = r.device.open_reader().unwrap();
    r.thread(10, 1);
    r.run();
    let Some(Completion::Data(mut bytes)) = reader.read(MIN_READ).poll() else { panic!("data") };
    for cut in 0..bytes.len() {
        // Never a panic; a short header is an error, a short body ends in an error item.
        if let Ok(batch) = Batch::parse(&bytes[..cut]) {
            assert!(batch.entries().all(|e| e.is_err()), "cut at {cut}");
        }
    }
    let other = wire::VERSION + 1;
    bytes[4..6].copy_from_slice(&other.to_le_bytes());
    assert_eq!(Batch::parse(&bytes).err(), Some(WireError::Version { found: other }));
    assert!(WireError::Version { found: other }.to_string().contains("protocol version mismatch"));
    bytes[0] = b'X';
    assert_eq!(Batch::parse(&bytes).err(), Some(WireError::Magic));
}

#[test]
fn a_status_reply_round_trips() {
    let mut out = [0u8; wire::STATUS_MAX];
    let n = wire::encode_status(&mut out, "0.1.0", [("RingBytes", 4 << 20), ("reader_lost", 7)]).unwrap();
    let status = wire::Status::parse(&out[..n]).unwrap();
    assert_eq!(status.driver_version, "0.1.0");
    assert_eq!(status.items().collect::<Vec<_>>(), [("RingBytes", 4 << 20), ("reader_lost", 7)]);
    assert_eq!(wire::encode_status(&mut out[..20], "0.1.0", [("RingBytes", 1)]), None, "too small: refused");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes: parsing and iterating a batch or a status reply never panics, and
        /// iteration ends.
        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
            let mut bytes = bytes;
            if magic && bytes.len() >= 16 {
                bytes[..4].copy_from_slice(&wire::BATCH_MAGIC);
                bytes[4..6].copy_from_slice(&wire::VERSION.to_le_bytes());
                bytes[6..8].copy_from_slice(&32u16.to_le_bytes());
                let len = u32::try_from(bytes.len()).unwrap();
                bytes[8..12].copy_from_slice(&len.to_le_bytes());
            }
            if let Ok(batch) = Batch::parse(&bytes) {
                prop_assert!(batch.entries().count() <= bytes.len() / 8);
            }
            if let Ok(status) = wire::Status::parse(&bytes) {
                prop_assert!(status.items().count() <= bytes.len());
            }
        }

        /// Any interleaving of bursts and reads against a small buffer: the reader's
        /// stream has every position exactly once, as an event or inside a LOST count.
        #[test]
        fn a_reader_stream_is_gapless_whatever_the_pace(
            steps in proptest::collection::vec((0u64..40, any::<bool>()), 1..30),
            bytes in prop_oneof![Just(1024usize), Just(4096), Just(1 << 16)],
        ) {
            let mut r = rig(bytes, DebuggerOutput::Never, &Config::DEFAULT);
            let reader = r.device.open_reader().unwrap();
            let mut stream = Stream::default();
            let mut pending = None;
            let mut tid = 0;
            for (burst, read) in steps {
                for _ in 0..burst {
                    tid += 1;
                    r.thread(10, tid);
                }
                r.run();
                if read {
                    let ticket = pending.take().unwrap_or_else(|| reader.read(MIN_READ));
                    match ticket.poll() {
                        Some(c) => stream.take(Some(c)),
                        None => pending = Some(ticket),
                    }
                }
            }
            if let Some(ticket) = pending.take() {
                match ticket.poll() {
                    Some(c) => stream.take(Some(c)),
                    None => ticket.cancel(),
                }
            }
            while let Some(c @ Completion::Data(_)) = reader.read(MIN_READ).poll() {
                stream.take(Some(c));
            }
            if tid > 0 {
                stream.assert_gapless(1, tid);
            }
            let c = r.device.counters();
            prop_assert_eq!(c.events_read + c.lost_read, tid);
            reader.close();
            prop_assert_eq!(r.device.leaks(), 0);
        }
    }
}

// The channel by hand, without a worker: what unload does to the reader and its queue.

fn bare_channel() -> Channel<SimLock> {
    let clock = Clock { start_ticks: 0, frequency: 1 };
    Channel::try_new(wire::MIN_READ, clock, SimLock::default()).expect("allocates")
}

#[test]
fn unload_detaches_the_reader_and_cancels_its_pending_reads() {
    let (channel, queue) = (bare_channel(), VecReads::default());
    assert!(channel.attach(7));
    assert!(matches!(channel.read(7, &queue, Buf(vec![0; wire::MIN_READ])), ReadOutcome::Pending));
    let mut cancelled = 0;
    channel.detach_any(&queue, |_| cancelled += 1);
    assert_eq!(cancelled, 1);
    assert!(!channel.with(|s| s.attached()));
    assert!(channel.attach(8), "a new reader may attach after unload's detach");
}

#[test]
fn unload_without_a_reader_never_touches_the_queue() {
    struct Untouchable;
    impl Pending<SimLock> for Untouchable {
        type Read = Buf;
        fn insert(&self, _: &Held<'_, SimLock>, read: Buf) -> Result<(), Buf> {
            Err(read)
        }
        fn queued(&self, _: &Held<'_, SimLock>) -> usize {
            panic!("the queue was counted without a reader")
        }
        fn remove_next(&self, _: Option<&Held<'_, SimLock>>) -> Option<Buf> {
            panic!("the queue was touched without a reader")
        }
        fn complete(&self, _: Buf, _: usize) {
            panic!("a read was completed without a reader")
        }
    }
    bare_channel().detach_any(&Untouchable, |_| panic!("nothing to cancel"));
}
