//! Property tests of the ring against a model: random interleavings of reserve, commit
//! (in any order) and pop, through wrap-around and full, single-threaded, from position 0
//! and from just before the point where positions wrap; every loss is reported exactly
//! where it happened (before the first record reserved after it).

use notifyring::ring::{POSITION_WRAP, Pop, Reservation, Ring, Scan};
use proptest::prelude::*;
use std::collections::VecDeque;

const HEAD: usize = notifyring::record::HEAD;

#[derive(Clone, Debug)]
enum Op {
    /// Reserve a record with this many string units.
    Reserve(usize),
    /// Commit the n-th (mod count) outstanding reservation.
    Commit(usize),
    /// Pop once.
    Pop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..300).prop_map(Op::Reserve),
        3 => any::<usize>().prop_map(Op::Commit),
        2 => Just(Op::Pop),
    ]
}

const fn total(units: usize) -> usize {
    (8 + HEAD + 2 * units + 7) & !7
}

/// A payload whose every byte names its record, so any mix-up shows.
fn payload(id: u32, units: usize) -> ([u8; HEAD], Vec<u16>) {
    let mut head = [0u8; HEAD];
    head[..4].copy_from_slice(&id.to_le_bytes());
    head[4..8].copy_from_slice(&u32::try_from(units).unwrap().to_le_bytes());
    let text = (0..units).map(|i| u16::try_from((id as usize ^ i) & 0xffff).unwrap()).collect();
    (head, text)
}

fn check(bytes: &[u8]) -> (u32, usize) {
    let id = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let units = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let (head, text) = payload(id, units);
    assert_eq!(bytes.len(), HEAD + 2 * units, "payload length of record {id}");
    assert_eq!(&bytes[..HEAD], &head);
    let got: Vec<u16> = bytes[HEAD..].chunks_exact(2).map(|p| u16::from_ne_bytes([p[0], p[1]])).collect();
    assert_eq!(got, text, "payload of record {id}");
    (id, units)
}

proptest! {
    // Under miri (which checks every access of these runs) a handful of cases suffices.
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 300 },
        failure_persistence: if cfg!(miri) { None } else { ProptestConfig::default().failure_persistence },
        ..ProptestConfig::default()
    })]

    #[test]
    fn ring_matches_model(
        ops in prop::collection::vec(op(), 1..if cfg!(miri) { 120 } else { 400 }),
        log2 in 12u32..14,
        start in prop_oneof![Just(0u64), (1u64..4096).prop_map(|b| POSITION_WRAP - 8 * b)],
    ) {
        let ring = Ring::try_new_at(1 << log2, start).unwrap();
        let capacity = 1usize << log2;
        // Reserved records in reservation order: (id, units, committed).
        let mut model: VecDeque<(u32, usize, bool)> = VecDeque::new();
        // The losses each record must carry: those since the reservation before it.
        let mut expected_lost: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
        let mut pending = 0u64;
        let mut outstanding: Vec<(u32, Reservation<'_>)> = Vec::new();
        let mut next_id = 0u32;
        let mut lost = 0u64;
        let mut reported = 0u64;
        let max_total = total(300);
        for op in ops {
            match op {
                Op::Reserve(units) => {
                    let live: usize = model.iter().map(|&(_, u, _)| total(u)).sum();
                    if let Ok(r) = ring.reserve(HEAD + 2 * units) {
                        let (head, text) = payload(next_id, units);
                        assert!(r.write(&head, &text, &[]));
                        model.push_back((next_id, units, false));
                        outstanding.push((next_id, r));
                        expected_lost.insert(next_id, std::mem::take(&mut pending));
                        next_id += 1;
                    } else {
                        lost += 1;
                        pending += 1;
                        // A pad is smaller than the record that caused it, and the live
                        // span holds at most one, plus the one this record needs.
                        prop_assert!(live + total(units) + 2 * max_total > capacity,
                            "refused with only {live} live bytes");
                    }
                }
                Op::Commit(n) => {
                    if !outstanding.is_empty() {
                        let (id, r) = outstanding.swap_remove(n % outstanding.len());
                        r.commit();
                        model.iter_mut().find(|e| e.0 == id).unwrap().2 = true;
                    }
                }
                Op::Pop => {
                    // SAFETY: this test is the only consumer.
                    let popped = unsafe { ring.pop(|lost_before, bytes| (lost_before, check(bytes))) };
                    match (popped, model.front()) {
                        (Pop::Record { value: (lost_before, (id, units)), .. }, Some(&(mid, munits, true))) => {
                            prop_assert_eq!((id, units), (mid, munits), "records come out in reservation order");
                            prop_assert_eq!(u64::from(lost_before), expected_lost[&id], "losses at their place");
                            reported += u64::from(lost_before);
                            model.pop_front();
                        }
                        (Pop::Busy, Some(&(_, _, false))) => {}
                        (Pop::Empty, None) => {
                            // SAFETY: sole consumer, after Empty.
                            let trailing = unsafe { ring.take_trailing_losses() };
                            prop_assert_eq!(trailing, std::mem::take(&mut pending), "the losses since the last record");
                            reported += trailing;
                        }
                        (got, want) => prop_assert!(false, "pop gave {:?}, model head {:?}",
                            match got { Pop::Record{..} => "record", Pop::Busy => "busy", Pop::Empty => "empty" }, want),
                    }
                }
            }
        }
        // Commit the rest and drain: everything reserved comes out, losses are all reported.
        for (id, r) in outstanding {
            r.commit();
            model.iter_mut().find(|e| e.0 == id).unwrap().2 = true;
        }
        loop {
            // SAFETY: sole consumer.
            match unsafe { ring.pop(|lost_before, bytes| (lost_before, check(bytes))) } {
                Pop::Record { value: (lost_before, (id, _)), .. } => {
                    prop_assert_eq!(Some(id), model.pop_front().map(|e| e.0));
                    prop_assert_eq!(u64::from(lost_before), expected_lost[&id], "losses at their place");
                    reported += u64::from(lost_before);
                }
                Pop::Empty => {
                    // SAFETY: sole consumer, after Empty.
                    let trailing = unsafe { ring.take_trailing_losses() };
                    prop_assert_eq!(trailing, pending, "the losses since the last record");
                    reported += trailing;
                    break;
                }
                Pop::Busy => prop_assert!(false, "busy with every record committed"),
            }
        }
        prop_assert!(model.is_empty());
        prop_assert_eq!(lost, reported, "every loss is reported exactly once");
        prop_assert_eq!(ring.used(), 0);
    }
}

#[test]
#[cfg_attr(miri, ignore = "zeroing 256 MiB under miri takes hours; the native run covers it")]
fn sizes_outside_4k_to_256m_or_not_power_of_two_are_refused() {
    assert!(Ring::try_new(2048).is_none());
    assert!(Ring::try_new(4096 + 8).is_none());
    assert!(Ring::try_new(512 << 20).is_none());
    assert!(Ring::try_new(4096).is_some());
    assert!(Ring::try_new(256 << 20).is_some());
}

#[test]
fn a_full_ring_fails_at_once_and_reports_the_loss_before_the_next_record() {
    let ring = Ring::try_new(4096).unwrap();
    let mut ok = 0;
    while let Ok(r) = ring.reserve(HEAD) {
        assert!(r.write(&[1; HEAD], &[], &[]));
        r.commit();
        ok += 1;
    }
    assert_eq!(ok, 4096 / (8 + HEAD));
    // The refusal that ended the loop, and two more: three losses.
    assert!(ring.reserve(HEAD).is_err());
    assert!(ring.reserve(HEAD).is_err());
    // Make room for one, then record it: it carries the three losses before it.
    // SAFETY: sole consumer.
    assert!(matches!(unsafe { ring.pop(|l, _| l) }, Pop::Record { value: 0, .. }));
    let r = ring.reserve(HEAD).unwrap();
    assert!(r.write(&[2; HEAD], &[], &[]));
    r.commit();
    let mut lost_seen = Vec::new();
    // SAFETY: sole consumer.
    while let Pop::Record { value, .. } = unsafe { ring.pop(|l, b| (l, b[0])) } {
        lost_seen.push(value);
    }
    assert_eq!(lost_seen.iter().map(|&(l, _)| u64::from(l)).sum::<u64>(), 3);
    assert_eq!(lost_seen.last(), Some(&(3, 2)), "the LOST count sits right before the record after it");
}

#[test]
fn a_kept_record_is_lent_again_with_its_losses_and_then_consumed() {
    let ring = Ring::try_new(4096).unwrap();
    while let Ok(r) = ring.reserve(HEAD) {
        assert!(r.write(&[1; HEAD], &[], &[]));
        r.commit();
    }
    // The refusal that ended the loop, and one more: two losses.
    assert!(ring.reserve(HEAD).is_err());
    // SAFETY: sole consumer.
    assert!(matches!(unsafe { ring.pop(|l, _| l) }, Pop::Record { value: 0, .. }));
    let r = ring.reserve(HEAD).unwrap();
    assert!(r.write(&[2; HEAD], &[], &[]));
    r.commit();
    // Drain to the record that carries the loss, keeping it twice.
    loop {
        // SAFETY: sole consumer.
        match unsafe { ring.pop_or_keep(|l, b| (l == 0).then_some(b[0])) } {
            Pop::Record { value: Some(1), lost_before: 0 } => {}
            Pop::Record { value: None, lost_before: 2 } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let used = ring.used();
    // SAFETY: sole consumer.
    let again = unsafe { ring.pop_or_keep(|l, b| (l == 0).then_some(b[0])) };
    assert_eq!(again, Pop::Record { value: None, lost_before: 2 }, "kept: the same record, the same losses");
    assert_eq!(ring.used(), used, "keeping releases nothing");
    assert_eq!(ring.scan(), Scan::Ready, "a kept record is still work");
    // SAFETY: sole consumer.
    let consumed = unsafe { ring.pop_or_keep(|l, b| Some((l, b[0]))) };
    assert_eq!(consumed, Pop::Record { value: Some((2, 2)), lost_before: 2 });
    // SAFETY: sole consumer.
    assert_eq!(unsafe { ring.pop(|_, _| ()) }, Pop::Empty);
}

#[test]
fn a_write_of_another_length_is_refused_and_its_record_holds_nothing() {
    use notifyring::event::{ClientId, Event, Stamp};
    use notifyring::record::{self, Caps};
    let ring = Ring::try_new(4096).unwrap();
    let image: Vec<u16> = "x.exe".encode_utf16().collect();
    let event = Event::ProcessCreate {
        pid: 8,
        parent_pid: 4,
        creator: ClientId { pid: 4, tid: 12 },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(&image),
        command_line: None,
    };
    let mut encoded = record::encode(Stamp::default(), &event, Caps::DEFAULT);
    encoded.hold(0xffff_c000_0000_1000);
    assert!(record::held(&encoded.head).is_some(), "the head says it holds the object");
    // Reserved one unit short of what the write brings.
    let r = ring.reserve(encoded.payload_len() - 2).unwrap();
    assert!(!r.write(&encoded.head, encoded.first, encoded.second), "a longer payload is refused");
    r.commit();
    // SAFETY: sole consumer.
    let popped = unsafe { ring.pop(|_, bytes| (record::held(bytes), bytes.iter().all(|&b| b == 0))) };
    assert_eq!(popped, Pop::Record { lost_before: 0, value: (None, true) }, "zeros, holding nothing to release");
}
