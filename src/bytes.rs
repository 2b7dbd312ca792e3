//! Floor 0: reading and writing little-endian numbers and UTF-16LE text at byte offsets,
//! never panicking: an offset past the end reads as `None` and writes nothing.
//!
//! The ring's records, the reader's wire format and PE files are all little-endian (every
//! target this crate builds for is little-endian, so the ring's native layout is too).

const _: () = assert!(cfg!(target_endian = "little"), "records are laid out little-endian");

/// The `u16` at `at`.
#[must_use]
pub fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    bytes.get(at..at.checked_add(2)?)?.try_into().ok().map(u16::from_le_bytes)
}

/// The `u32` at `at`.
#[must_use]
pub fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at.checked_add(4)?)?.try_into().ok().map(u32::from_le_bytes)
}

/// The `u64` at `at`.
#[must_use]
pub fn le64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at.checked_add(8)?)?.try_into().ok().map(u64::from_le_bytes)
}

/// Copies `src` into `dst` at `at`, if it fits (else writes nothing).
pub fn put(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(slot) = at.checked_add(src.len()).and_then(|end| dst.get_mut(at..end)) {
        slot.copy_from_slice(src);
    }
}

/// UTF-16LE bytes as code units (an odd trailing byte is ignored).
pub fn utf16(bytes: &[u8]) -> impl Iterator<Item = u16> + Clone + '_ {
    bytes.chunks_exact(2).map(|p| if let [a, b] = *p { u16::from_le_bytes([a, b]) } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn numbers_read_where_they_fit_and_nowhere_else() {
        let b = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(le16(&b, 0), Some(0x0201));
        assert_eq!(le32(&b, 1), Some(0x0504_0302));
        assert_eq!(le64(&b, 1), Some(0x0908_0706_0504_0302));
        assert_eq!(le64(&b, 2), None);
        assert_eq!(le16(&b, usize::MAX), None);
        let mut out = [0u8; 4];
        put(&mut out, 2, &[7, 8]);
        put(&mut out, 3, &[9, 9]);
        put(&mut out, usize::MAX, &[9]);
        assert_eq!(out, [0, 0, 7, 8]);
        assert_eq!(utf16(&[0x41, 0, 0x3d, 0xd8, 1]).collect::<Vec<_>>(), [0x41, 0xd83d]);
    }
}
