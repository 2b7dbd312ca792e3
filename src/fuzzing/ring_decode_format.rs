//! Fuzz harness: untrusted ring bytes through the worker's decoder and formatter, and
//! the real `Ring` driven by a single thread through arbitrary reserve / commit / pop
//! sequences against an exact model.
//!
//! Checks: `record::decode` and `format::{record, lost, stats}` never panic; every
//! physical line is at most 510 bytes plus one NUL, and continuation lines number
//! themselves 2, 3, … under the record's sequence number; the ring hands records back
//! in reservation order with their exact bytes and loss counts, reports Busy (never a
//! record) at an uncommitted head, never reports "no work" when a committed record or a
//! loss is waiting, and fails a reservation exactly when the model says it is full.

use super::common::{Input, check_line, seq_and_part};
use crate::record::{self, Caps, HEAD};
use crate::ring::{Pop, Reservation, Ring, Scan};
use crate::stats::Snapshot;
use crate::vocab::clock::Clock;
use crate::vocab::process::ProcessName;
use crate::vocab::process::{Name, Origin};
use crate::worker::format::{self, Context, LINE_BUF, Line};
use crate::{ClientId, Event, Stamp};
use std::collections::VecDeque;
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Runs the harness on one input (see the module doc); panics on a broken check.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 4 {
        0 => payloads(data.get(1..).unwrap_or(&[])),
        1 => ring_ops(&mut input),
        2 => round_trip(&mut input),
        _ => counters(&mut input),
    }
}

/// Collects the lines of one logical line and checks their shape and numbering.
struct Collector {
    seq: Option<u64>,
    lines: u64,
}

impl Collector {
    fn take(&mut self, line: Line<'_>) {
        check_line(&line);
        self.lines += 1;
        let (seq, part) = seq_and_part(line.text());
        if self.lines > 1 {
            assert_eq!(
                part,
                self.lines,
                "continuation parts count 2, 3, …: {:?}",
                String::from_utf8_lossy(line.text())
            );
            assert_eq!(seq, self.seq, "continuations carry the record's sequence number");
        } else if self.seq.is_some() {
            assert_eq!(seq, self.seq, "the first line starts with #SEQ");
        }
    }
}

fn format_record(rec: &record::Record<'_>, seq: u64, clock: Clock, omit: bool, process: ProcessName<'_>) {
    let mut buf = [0u8; LINE_BUF];
    let mut c = Collector { seq: Some(seq), lines: 0 };
    let origin = [Origin::Local, Origin::Initial, Origin::Remote, Origin::Unknown][(seq % 4) as usize];
    let start = (seq % 8 >= 4).then_some(crate::vocab::start::ThreadStart {
        address: seq.rotate_left(40),
        region: match seq % 3 {
            0 => crate::vocab::start::StartRegion::Unknown,
            1 => crate::vocab::start::StartRegion::NoImage,
            _ => crate::vocab::start::StartRegion::Image { base: seq.rotate_left(24) },
        },
    });
    let ctx = Context { seq, clock, omit_command_line: omit, process, origin, token: None, start };
    format::record(rec, &ctx, &mut buf, |l| c.take(l));
    assert!(c.lines >= 1, "a record prints at least one line");
}

/// The bytes as a ring's contents: the whole input as one payload, then as a run of
/// length-prefixed payloads (what the consumer lends the decoder).
fn payloads(data: &[u8]) {
    let mut input = Input::new(data);
    let clock = Clock { start_ticks: input.u64(), frequency: input.u64() >> (input.u8() % 64) };
    let name_len = usize::from(input.u8());
    let name = Name::from_path(input.units(name_len).into_iter());
    let mut rest = data;
    let mut seq = 0u64;
    let mut chunks = vec![data];
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = len.min(body.len());
        chunks.push(&body[..take]);
        rest = &body[take..];
    }
    for bytes in chunks {
        seq = seq.wrapping_add(1);
        let Ok(rec) = record::decode(bytes) else { continue };
        for text in [rec.image, rec.command_line].into_iter().flatten() {
            assert!(
                text.stored_len() as usize * 2 <= bytes.len().saturating_sub(HEAD),
                "a decoded string lies inside the payload"
            );
            assert_eq!(text.units().count(), text.stored_len() as usize);
        }
        for (i, process) in
            [ProcessName::NotApplicable, ProcessName::Known(&name), ProcessName::Unknown, ProcessName::NoImageFile]
                .into_iter()
                .enumerate()
        {
            format_record(&rec, seq.wrapping_mul(3).wrapping_add(i as u64), clock, i == 1, process);
        }
        format_record(&rec, u64::MAX, Clock { start_ticks: 0, frequency: 0 }, false, ProcessName::Known(&name));
    }
}

/// LOST and statistics lines with arbitrary counters.
fn counters(input: &mut Input<'_>) {
    let mut buf = [0u8; LINE_BUF];
    let mut c = Collector { seq: None, lines: 0 };
    format::lost(input.u64(), &mut buf, |l| c.take(l));
    let mut s = Snapshot::default();
    for v in s.delivered.iter_mut().chain(s.lost.iter_mut()) {
        *v = input.u64();
    }
    for v in [
        &mut s.lost_contended,
        &mut s.lost_reported,
        &mut s.truncated_strings,
        &mut s.worker_runs,
        &mut s.largest_batch,
        &mut s.high_water,
        &mut s.busy_stops,
        &mut s.sweeps,
        &mut s.sweep_wakes,
        &mut s.lines,
        &mut s.lookup_failures,
        &mut s.names_dropped,
        &mut s.longest_run_ticks,
    ] {
        *v = input.u64();
    }
    for label in [&b"stats"[..], b"final-stats"] {
        let mut c = Collector { seq: None, lines: 0 };
        let clock = Clock { start_ticks: input.u64(), frequency: input.u64() };
        format::stats(label, &s, input.u64(), clock, &mut buf, |l| c.take(l));
    }
}

/// An arbitrary event encoded and decoded: the same fields, the strings clipped to the
/// caps with their original lengths kept.
fn round_trip(input: &mut Input<'_>) {
    let caps = Caps { image: u32::from(input.u16() % 2048), command_line: u32::from(input.u16() % 4096) };
    let image = input.string(4096);
    let command_line = input.string(9000);
    let stamp = Stamp { ticks: input.u64(), cpu: input.u32() };
    let ids = [input.u64(), input.u64(), input.u64(), input.u64()];
    let event = match input.u8() % 5 {
        0 => Event::ProcessCreate {
            pid: ids[0],
            parent_pid: ids[1],
            creator: ClientId { pid: ids[2], tid: ids[3] },
            file_open_name_available: input.bool(),
            subsystem_process: input.bool(),
            image: image.as_deref(),
            command_line: command_line.as_deref(),
        },
        1 => Event::ProcessExit { pid: ids[0], exit_status: input.u32() },
        2 => Event::ThreadCreate { pid: ids[0], tid: ids[1], creator: ClientId { pid: ids[2], tid: ids[3] } },
        3 => Event::ThreadExit { pid: ids[0], tid: ids[1] },
        _ => Event::ImageLoad {
            pid: ids[0],
            base: ids[1],
            size: ids[2],
            kernel_image: input.bool(),
            signature_level: input.u8(),
            signature_type: input.u8(),
            image: image.as_deref(),
        },
    };
    let encoded = record::encode(stamp, &event, caps);
    let mut payload = encoded.head.to_vec();
    for unit in encoded.first.iter().chain(encoded.second) {
        payload.extend_from_slice(&unit.to_ne_bytes());
    }
    assert_eq!(payload.len(), encoded.payload_len());
    let rec = record::decode(&payload).expect("an encoded event decodes");
    assert_eq!(rec.kind, event.kind());
    assert_eq!(rec.stamp, stamp);
    assert_eq!(rec.pid, ids[0]);
    let (want_image, want_cmd) = match event {
        Event::ProcessCreate { image, command_line, .. } => (image, command_line),
        Event::ImageLoad { image, .. } => (image, None),
        _ => (None, None),
    };
    for (got, want, cap) in [(rec.image, want_image, caps.image), (rec.command_line, want_cmd, caps.command_line)] {
        assert_eq!(got.is_some(), want.is_some(), "presence survives");
        if let (Some(got), Some(want)) = (got, want) {
            let keep = want.len().min(cap as usize);
            assert_eq!(got.units().collect::<Vec<_>>(), want[..keep], "the clipped units survive");
            assert_eq!(got.original_len() as usize, want.len(), "the original length survives");
        }
    }
    format_record(&rec, 1, Clock { start_ticks: 0, frequency: 10_000_000 }, false, ProcessName::Unknown);
}

/// What the model knows of one reserved record.
struct Expected {
    id: u64,
    payload: Vec<u8>,
    lost_before: u32,
    committed: bool,
    /// Bytes of the skip record in front of it, not yet consumed (the ring may report
    /// "work" while the consumer sits on one).
    pad: u64,
}

/// Exact model of the ring's byte positions (same rounding and wrap rule as `ring.rs`).
struct Model {
    capacity: u64,
    producer: u64,
    consumer: u64,
    records: VecDeque<Expected>,
    /// Consumer positions at which each queued record ends (in order).
    ends: VecDeque<u64>,
    pending_lost: u64,
    next_id: u64,
}

impl Model {
    /// Where a reservation of `len` payload bytes would go, or None if it must fail.
    fn place(&self, len: usize) -> Option<(u64, u64)> {
        let total = (len as u64 + 8 + 7) & !7;
        if len as u64 >= 1 << 29 || total > self.capacity {
            return None;
        }
        let offset = self.producer & (self.capacity - 1);
        let pad = if offset + total > self.capacity { self.capacity - offset } else { 0 };
        let end = self.producer + pad + total;
        (end - self.consumer <= self.capacity).then_some((pad, end))
    }
}

fn ring_ops(input: &mut Input<'_>) {
    let capacity = 4096usize << (input.u8() % 3);
    let ring = Ring::try_new(capacity).expect("a valid ring size");
    let mut model = Model {
        capacity: capacity as u64,
        producer: 0,
        consumer: 0,
        records: VecDeque::new(),
        ends: VecDeque::new(),
        pending_lost: 0,
        next_id: 0,
    };
    let mut open: Vec<(u64, Reservation<'_>)> = Vec::new();
    let mut steps = 0;
    while !input.is_empty() && steps < 2000 {
        steps += 1;
        match input.u8() % 6 {
            0 | 1 => {
                // Reserve and write a record (sometimes one that can never fit).
                let (first_len, second_len) = if input.u8() == 0xff {
                    (capacity, 0)
                } else {
                    (usize::from(input.u16() % 700), usize::from(input.u8()))
                };
                let mut head = [0u8; HEAD];
                head.copy_from_slice(&{
                    let mut h = input.bytes(HEAD).to_vec();
                    h.resize(HEAD, 0);
                    h
                });
                let first = input.units(first_len);
                let second = input.units(second_len);
                let len = HEAD + 2 * (first.len() + second.len());
                let expected = model.place(len);
                match (ring.reserve(len), expected) {
                    (Ok(reservation), Some((pad, end))) => {
                        assert!(reservation.write(&head, &first, &second));
                        let mut payload = head.to_vec();
                        for u in first.iter().chain(&second) {
                            payload.extend_from_slice(&u.to_ne_bytes());
                        }
                        let id = model.next_id;
                        model.next_id += 1;
                        let lost_before = u32::try_from(model.pending_lost).unwrap_or(u32::MAX);
                        model.pending_lost -= u64::from(lost_before);
                        model.records.push_back(Expected { id, payload, lost_before, committed: false, pad });
                        model.ends.push_back(end);
                        model.producer = end;
                        open.push((id, reservation));
                    }
                    (Err(_), None) => model.pending_lost += 1,
                    (Ok(_), None) => panic!("reserve({len}) succeeded where the model has no room"),
                    (Err(loss), Some(_)) => panic!("reserve({len}) failed ({loss:?}) with room for it"),
                }
            }
            2 if !open.is_empty() => {
                let (id, reservation) = open.remove(usize::from(input.u8()) % open.len());
                reservation.commit();
                model.records.iter_mut().find(|r| r.id == id).expect("reserved").committed = true;
            }
            3 | 4 => pop_and_check(&ring, &mut model),
            _ => {
                // A committed head (or the skip record before it) is work; else a reserved
                // head is in flight; else losses on the empty ring are work.
                let want = match model.records.front() {
                    Some(r) if r.committed || r.pad > 0 => Scan::Ready,
                    Some(_) => Scan::InFlight,
                    None if model.pending_lost > 0 => Scan::Ready,
                    None => Scan::Empty,
                };
                assert_eq!(ring.scan(), want, "the scan disagrees with the model");
            }
        }
        assert_eq!(ring.used(), model.producer - model.consumer, "bytes in use");
    }
    // Everything still open commits; the consumer then gets every record, in order.
    for (id, reservation) in open {
        reservation.commit();
        model.records.iter_mut().find(|r| r.id == id).expect("reserved").committed = true;
    }
    while !model.records.is_empty() {
        pop_and_check(&ring, &mut model);
    }
    pop_and_check(&ring, &mut model);
    assert_eq!(ring.used(), 0);
}

fn pop_and_check(ring: &Ring, model: &mut Model) {
    // SAFETY: this thread is the ring's only consumer.
    let popped = unsafe { ring.pop(|lost, bytes| (lost, bytes.to_vec())) };
    match (popped, model.records.front()) {
        (Pop::Empty, None) => {
            assert_eq!(model.producer, model.consumer);
            // SAFETY: single consumer, right after `pop` returned Empty.
            let trailing = unsafe { ring.take_trailing_losses() };
            assert_eq!(trailing, model.pending_lost, "losses no record carried");
            model.pending_lost = 0;
        }
        (Pop::Busy, Some(head)) => {
            assert!(!head.committed, "Busy at a committed head record");
            // Any skip record in front of it is consumed.
            let head = model.records.front_mut().expect("head");
            model.consumer += std::mem::take(&mut head.pad);
        }
        (Pop::Record { lost_before, value: (lost, bytes) }, Some(head)) => {
            assert!(head.committed, "an uncommitted record was handed to the consumer");
            assert_eq!(lost_before, lost);
            assert_eq!(lost_before, head.lost_before, "LOST count at its place");
            assert_eq!(bytes, head.payload, "payload bytes of record {}", head.id);
            model.records.pop_front();
            model.consumer = model.ends.pop_front().expect("end of the record");
        }
        (other, head) => panic!(
            "pop returned {:?} with the model's head {:?}",
            match other {
                Pop::Empty => "Empty",
                Pop::Busy => "Busy",
                Pop::Record { .. } => "Record",
            },
            head.map(|h| (h.id, h.committed))
        ),
    }
}
