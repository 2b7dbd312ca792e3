//! Shared by every fuzz harness: a byte reader that never runs dry, and the check every
//! debugger line must pass.

use crate::worker::format::{LINE_MAX, Line, PREFIX};
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Reads fuzz bytes as numbers and strings; past the end it yields zeros, so every
/// input, however short, is a complete scenario.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// A reader at the start of `data`.
    #[must_use]
    pub const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Whether every byte was read (reads past the end yield zeros).
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte, 0 past the end.
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// The next byte's low bit.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// Up to `n` of the remaining bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// `len` UTF-16 units: the next `2 * len` bytes, repeated if the input runs short, so
    /// a 32,767-unit command line costs a few bytes of fuzz input.
    pub fn units(&mut self, len: usize) -> Vec<u16> {
        let raw = self.bytes(len.saturating_mul(2));
        let pattern: Vec<u16> = raw.chunks(2).map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])).collect();
        if pattern.is_empty() {
            return vec![u16::from(b'x'); len];
        }
        pattern.iter().copied().cycle().take(len).collect()
    }

    /// A kernel string: absent, or `0..=max` units.
    pub fn string(&mut self, max: u16) -> Option<Vec<u16>> {
        if self.u8().is_multiple_of(8) {
            return None;
        }
        let len = self.u16() % max.saturating_add(1);
        Some(self.units(usize::from(len)))
    }
}

/// What one physical line must be for `DbgPrintEx("%s\n", line)`: at most 510 bytes
/// plus exactly one NUL, at the end, starting with the prefix.
pub fn check_line(line: &Line<'_>) {
    let text = line.text();
    let with_nul = line.with_nul();
    assert!(text.len() <= LINE_MAX, "line of {} bytes > {LINE_MAX}: {:?}", text.len(), String::from_utf8_lossy(text));
    assert_eq!(with_nul.len(), text.len() + 1, "the NUL form is the text plus one byte");
    assert_eq!(with_nul.last(), Some(&0), "the line ends in its NUL");
    assert!(!text.contains(&0), "a NUL inside the text would cut the line: {text:?}");
    assert!(text.starts_with(PREFIX), "every line starts with the prefix: {:?}", String::from_utf8_lossy(text));
}

/// The sequence number and continuation part of a physical line:
/// `notifyring: #SEQ ...` → (Some(SEQ), 1); `notifyring: #SEQ cont=N ...` → (Some(SEQ), N).
#[must_use]
pub fn seq_and_part(text: &[u8]) -> (Option<u64>, u64) {
    let rest = text.strip_prefix(PREFIX).unwrap_or(text);
    let (seq, rest) = rest.strip_prefix(b"#").map_or((None, rest), |r| {
        let (digits, rest) = r.split_at(r.iter().take_while(|b| b.is_ascii_digit()).count());
        (parse(digits), rest)
    });
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    rest.strip_prefix(b"cont=").map_or((seq, 1), |r| {
        let digits = r.iter().take_while(|b| b.is_ascii_digit()).count();
        (seq, parse(&r[..digits]).unwrap_or(0))
    })
}

/// A decimal number (None if empty or too long).
#[must_use]
pub fn parse(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}
