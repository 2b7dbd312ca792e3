//! Regressions found while fuzzing. Each test reproduces one finding
//! with the smallest input; crash inputs of the cargo-fuzz targets themselves live in
//! `fuzz/regressions/<target>/` and are replayed by `tests/fuzz_harnesses.rs`.

use notifyring::record::HEAD;
use notifyring::ring::{Pop, Ring};

/// Found writing the `ring_decode_format` harness: `Reservation::write` copies however
/// many bytes it is given, not the reserved length, so the safe API can write past its
/// reservation. Here a 0-byte reservation is written with a 64-byte head whose first
/// word looks like a committed header: the consumer then pops a record nobody reserved
/// and moves past the producer. With a second producer the same spill is a data race
/// on words another reservation owns (undefined behaviour from safe code). The driver's
/// own caller (`Pipeline::record`) sizes the reservation from the same strings, so it
/// is not affected; the public `Ring` API is.
#[test]
fn reservation_write_cannot_spill_past_its_reservation() {
    let ring = Ring::try_new(4096).expect("ring");
    let reservation = ring.reserve(0).expect("room for an empty payload");
    let mut head = [0u8; HEAD];
    // COMMITTED (bit 29) with length 8: what a published header looks like.
    head[..8].copy_from_slice(&((1u64 << 29) | 8).to_ne_bytes());
    assert!(!reservation.write(&head, &[], &[]), "a payload longer than the reservation is refused");
    reservation.commit();
    // SAFETY: this thread is the only consumer.
    let first = unsafe { ring.pop(|_, bytes| bytes.len()) };
    assert_eq!(first, Pop::Record { lost_before: 0, value: 0 }, "the reserved record");
    // SAFETY: as above.
    let second = unsafe { ring.pop(|_, bytes| bytes.len()) };
    assert_eq!(second, Pop::Empty, "nothing else was reserved, so nothing else may be popped");
}
