//! Floor 0: ASCII number writers into caller buffers.
//!
//! Decimal, hex, the `\u{…}` escape, and ticks to microseconds. No allocation, no
//! `core::fmt`, no panic: the worker formats its lines with them in the kernel, and the
//! token facts their text forms.

/// Decimal digits of `n`.
#[must_use]
pub fn dec(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        // n % 10 < 10, so the narrowing and the add cannot overflow.
        *slot = b'0'.wrapping_add((n % 10) as u8);
        n /= 10;
        start = start.saturating_sub(1);
        if n == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or(&[])
}

/// `0x` and at least `width` lowercase hex digits of `n`.
#[must_use]
pub fn hex(mut n: u64, width: usize, buf: &mut [u8; 18]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut start = buf.len();
    let mut written = 0;
    for slot in buf.iter_mut().skip(2).rev() {
        *slot = DIGITS.get((n & 15) as usize).copied().unwrap_or(b'?');
        n >>= 4;
        start = start.saturating_sub(1);
        written += 1;
        if n == 0 && written >= width {
            break;
        }
    }
    start = start.saturating_sub(2);
    if let Some(p) = buf.get_mut(start..start.saturating_add(2)) {
        p.copy_from_slice(b"0x");
    }
    buf.get(start..).unwrap_or(&[])
}

/// `\u{hex}` for the code point (or lone surrogate) `code`: at most 6 hex digits.
#[must_use]
pub fn escape(code: u32, buf: &mut [u8; 12]) -> &[u8] {
    let mut digits = [0u8; 18];
    let h = hex(u64::from(code), 1, &mut digits);
    let h = h.get(2..).unwrap_or(&[]);
    let mut len = 0;
    for &b in b"\\u{".iter().chain(h).chain(b"}") {
        if let Some(slot) = buf.get_mut(len) {
            *slot = b;
            len += 1;
        }
    }
    buf.get(..len).unwrap_or(&[])
}

/// `ticks` of a `frequency` Hz counter in whole microseconds (0 for an unknown frequency).
#[must_use]
pub fn micros(ticks: u64, frequency: u64) -> u64 {
    if frequency == 0 {
        return 0;
    }
    u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(frequency)).unwrap_or(u64::MAX)
}
