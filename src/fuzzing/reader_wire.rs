//! Fuzz harness: the reader's wire format and channel (src/reader/).
//!
//! Mode 0: untrusted bytes as a batch and as a status reply (half the inputs get a
//! valid batch header, so the entry parser sees them): parsing never panics, iteration
//! ends, and every decoded event formats into well-formed debugger lines, as the CLI
//! formats them.
//! Mode 1: the real `Channel` under an arbitrary sequence of deliveries (any strings),
//! losses, reads (any size), detaches and re-attaches, against an exact model: every
//! read decodes; within one attachment the stream holds every position once (an event
//! with the very bytes delivered, or inside a LOST count), in order; a read below
//! `MIN_READ` is refused; nothing pends while data is buffered.

use super::common::{Input, check_line};
use crate::delivered::Delivered;
use crate::reader::wire::{self, Batch, Entry};
use crate::reader::{Channel, ReadOutcome};
use crate::record::{self, Caps};
use crate::sim::device::{SimLock, VecRead as Buf, VecReads as Queue};
use crate::vocab::clock::Clock;
use crate::vocab::process::ProcessName;
use crate::vocab::process::{Name, Origin};
use crate::vocab::start::{StartRegion, ThreadStart};
use crate::vocab::token::{Sid, TokenFacts};
use crate::worker::format::{self, Context, LINE_BUF};
use crate::{ClientId, Event, Stamp};
use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

/// Runs the harness on one input (see the module doc); panics on a broken check.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8().is_multiple_of(2) {
        bytes(data.get(1..).unwrap_or(&[]));
    } else {
        channel(&mut input);
    }
}

fn bytes(data: &[u8]) {
    let mut data = data.to_vec();
    if data.first().is_some_and(|b| b.is_multiple_of(2)) && data.len() >= 32 {
        data[..4].copy_from_slice(&wire::BATCH_MAGIC);
        data[4..6].copy_from_slice(&wire::VERSION.to_le_bytes());
        data[6..8].copy_from_slice(&32u16.to_le_bytes());
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        data[8..12].copy_from_slice(&len.to_le_bytes());
    }
    if let Ok(batch) = Batch::parse(&data) {
        let mut n = 0usize;
        for entry in batch.entries() {
            n += 1;
            assert!(n <= data.len() / 8, "iteration must end");
            if let Ok(entry) = entry {
                print(&entry, batch.clock);
            }
        }
    }
    if let Ok(status) = wire::Status::parse(&data) {
        assert!(status.items().count() <= data.len());
    }
}

/// Formats an entry as `notifyring watch` prints it; every line must be well-formed.
fn print(entry: &Entry<'_>, clock: Clock) {
    let mut buf = [0u8; LINE_BUF];
    match *entry {
        Entry::Event { seq, origin, process, record, token, start, .. } => {
            let mut name = Name::EMPTY;
            let ctx = Context {
                seq,
                clock,
                omit_command_line: false,
                process: process.name_in(&mut name),
                origin,
                token: token.as_ref(),
                start,
            };
            format::record(&record, &ctx, &mut buf, |l| check_line(&l));
        }
        Entry::Lost { count, .. } => format::lost(count, &mut buf, |l| check_line(&l)),
    }
}

/// What the reader of one attachment has seen: position → (bytes or a LOST count).
#[derive(Default)]
struct Seen {
    events: BTreeMap<u64, Vec<u8>>,
    lost: Vec<(u64, u64)>,
}

fn take(seen: &mut Seen, bytes: &[u8], clock: Clock) {
    let batch = Batch::parse(bytes).expect("a read's batch decodes");
    assert_eq!(batch.clock, clock);
    let mut last = None;
    for entry in batch.entries() {
        let entry = entry.expect("a read's entries decode");
        print(&entry, clock);
        let seq = match entry {
            Entry::Event { seq, bytes, token, start, .. } => {
                assert_eq!(record::held(bytes), None, "a kernel address on the wire");
                // The record as it left, then its token facts' wire form and its start
                // address (if any).
                let mut got = bytes.to_vec();
                got.extend(token.map(|t| wire::token_bytes(&t)).iter().flatten());
                got.extend(start.map(start_bytes).iter().flatten());
                assert!(seen.events.insert(seq, got).is_none(), "position {seq} twice");
                seq
            }
            Entry::Lost { seq, count, .. } => {
                assert!(count > 0);
                seen.lost.push((seq, count));
                seq + count
            }
        };
        assert!(last.is_none_or(|l| seq > l), "entries in stream order");
        last = Some(seq);
    }
}

/// Start facts as their 16 wire bytes (address, image base or 0), for comparing streams.
fn start_bytes(start: ThreadStart) -> [u8; 16] {
    let base = match start.region {
        StartRegion::Image { base } => base,
        StartRegion::Unknown | StartRegion::NoImage => 0,
    };
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&start.address.to_le_bytes());
    b[8..].copy_from_slice(&base.to_le_bytes());
    b
}

/// One event as the worker delivers it: a thread create, an image load, or a process
/// create holding its process, with token facts (all from `input`).
fn encoded_event(input: &mut Input<'_>, caps: Caps) -> (Vec<u8>, Option<TokenFacts>) {
    let image = input.string(3000);
    let which = input.u8() % 3;
    let event = if which == 2 {
        Event::ProcessCreate {
            pid: input.u64(),
            parent_pid: input.u64(),
            creator: ClientId::default(),
            file_open_name_available: input.bool(),
            subsystem_process: false,
            image: image.as_deref(),
            command_line: None,
        }
    } else if which == 1 {
        Event::ThreadCreate { pid: input.u64(), tid: input.u64(), creator: ClientId::default() }
    } else {
        Event::ImageLoad {
            pid: input.u64(),
            base: input.u64(),
            size: input.u64(),
            kernel_image: input.bool(),
            signature_level: input.u8(),
            signature_type: input.u8(),
            image: image.as_deref(),
        }
    };
    let mut encoded = record::encode(Stamp { ticks: input.u64(), cpu: 0 }, &event, caps);
    // A process create holds its process, and its token facts travel with it.
    let token = (which == 2).then(|| {
        encoded.hold(input.u64());
        let subs: Vec<u32> = (0..input.u8() % 16).map(|_| input.u32()).collect();
        TokenFacts {
            user: if input.bool() { Sid::from_parts(input.u64() >> 16, &subs) } else { None },
            integrity: input.bool().then(|| input.u32()),
            app_container: input.bool(),
            logon_id: input.bool().then(|| input.u64()),
        }
    });
    let mut bytes = encoded.head.to_vec();
    bytes.extend(encoded.first.iter().chain(encoded.second).flat_map(|u| u.to_ne_bytes()));
    (bytes, token)
}

fn channel(input: &mut Input<'_>) {
    let clock = Clock { start_ticks: input.u64(), frequency: input.u64() };
    let capacity = usize::from(input.u16() % 8192) + 64;
    let channel = Channel::try_new(capacity, clock, SimLock::default()).expect("alloc");
    let queue = Queue::default();
    let caps = Caps { image: u32::from(input.u16() % 2048), command_line: u32::from(input.u16() % 4096) };
    let mut file = 1usize;
    assert!(channel.attach(file));
    let (mut seq, mut first) = (0u64, 1u64);
    let mut delivered: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut seen = Seen::default();
    let check = |seen: &Seen, delivered: &BTreeMap<u64, Vec<u8>>, first: u64, upto: u64| {
        // Every position from `first` to `upto` once: an event with its bytes, or lost.
        let mut marks: Vec<(u64, u64)> = seen.events.keys().map(|&s| (s, 1)).collect();
        marks.extend(seen.lost.iter().map(|&(s, c)| (s + 1, c)));
        marks.sort_unstable();
        let mut next = first;
        for (start, count) in marks {
            assert_eq!(start, next, "position {next} missing or doubled");
            next = start + count;
        }
        assert_eq!(next, upto + 1);
        for (s, bytes) in &seen.events {
            assert_eq!(Some(bytes), delivered.get(s), "the bytes delivered at {s}");
        }
    };
    while !input.is_empty() {
        match input.u8() % 8 {
            0..=3 => {
                let (bytes, token) = encoded_event(input, caps);
                let rec = record::decode(&bytes).expect("encoded records decode");
                seq += 1;
                let name_len = usize::from(input.u8() % 80);
                let name = Name::from_path(input.units(name_len).into_iter());
                let process = match input.u8() % 4 {
                    0 => ProcessName::Known(&name),
                    1 => ProcessName::NoImageFile,
                    2 => ProcessName::Unknown,
                    _ => ProcessName::NotApplicable,
                };
                let start = input.bool().then(|| ThreadStart {
                    address: input.u64(),
                    region: match input.u8() % 3 {
                        0 => StartRegion::Unknown,
                        1 => StartRegion::NoImage,
                        // A base of 0 is "no image" on the wire: never an image's base.
                        _ => StartRegion::Image { base: input.u64().max(1) },
                    },
                });
                let d = Delivered {
                    seq,
                    record: &rec,
                    bytes: &bytes,
                    origin: Origin::Remote,
                    process,
                    token: token.as_ref(),
                    start,
                };
                let mut expected = bytes.clone();
                record::scrub_held(&mut expected);
                expected.extend(token.map(|t| wire::token_bytes(&t)).iter().flatten());
                expected.extend(start.map(start_bytes).iter().flatten());
                delivered.insert(seq, expected);
                if let Some((read, n)) = channel.deliver(&queue, &d) {
                    take(&mut seen, &read.0[..n], clock);
                }
            }
            4 => {
                let count = u64::from(input.u8() % 5);
                if let Some((read, n)) = channel.lost(&queue, seq, count) {
                    take(&mut seen, &read.0[..n], clock);
                }
                seq += count;
            }
            5 | 6 => {
                let len = wire::MIN_READ - 64 + usize::from(input.u16() % 256);
                match channel.read(file, &queue, Buf(vec![0; len])) {
                    ReadOutcome::Filled(read, n) => take(&mut seen, &read.0[..n], clock),
                    ReadOutcome::Pending => assert_eq!(channel.with(|s| s.buffered()), 0),
                    ReadOutcome::TooSmall(_) => assert!(len < wire::MIN_READ),
                    ReadOutcome::TooMany(_) => {
                        assert_eq!(queue.queue.borrow().len(), wire::MAX_PENDING_READS, "a read refused below the cap");
                    }
                    ReadOutcome::Cancelled(_) | ReadOutcome::NotReader(_) => panic!("the reader's read refused"),
                }
            }
            _ => {
                // Drain what is left, check this attachment's stream, re-attach.
                while let ReadOutcome::Filled(read, n) = channel.read(file, &queue, Buf(vec![0; wire::MIN_READ])) {
                    take(&mut seen, &read.0[..n], clock);
                }
                check(&seen, &delivered, first, seq);
                channel.detach(file, &queue, drop);
                assert!(queue.queue.borrow().is_empty(), "detach hands back every pending read");
                file += 1;
                assert!(channel.attach(file));
                seen = Seen::default();
                first = seq + 1;
            }
        }
    }
}
