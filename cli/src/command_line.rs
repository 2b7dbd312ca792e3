//! The command line of a running process, from the reply of
//! `NtQueryInformationProcess(ProcessCommandLineInformation)` (class 60, Windows 8.1 and
//! later): a `UNICODE_STRING` whose `Buffer` points into the caller's own buffer, after
//! the header. Kept apart from the call (`windows.rs`) so that the parsing, which decides
//! what of the reply is trusted, is tested on any host.

/// Bytes of a pointer; `UNICODE_STRING` is `Length: u16, MaximumLength: u16`, then
/// `Buffer` at the pointer's alignment.
const PTR: usize = size_of::<usize>();
/// Bytes of the `UNICODE_STRING` header (two pointers' worth on 32 and 64 bits).
pub const HEADER: usize = 2 * PTR;

/// The command line in `reply`, the bytes the call wrote into a buffer that starts at
/// address `base`.
///
/// `None` for anything this cannot trust or that says nothing: a reply shorter than the
/// header, an empty string, a `Buffer` that does not point inside `reply` after the
/// header (or is not 2-aligned), a `Length` that runs past the reply. An odd `Length`
/// loses its last byte; trailing NULs are dropped; unpaired surrogates become U+FFFD.
pub fn from_reply(reply: &[u8], base: usize) -> Option<String> {
    let length = usize::from(u16::from_ne_bytes(reply.get(..2)?.try_into().ok()?)) & !1;
    let buffer = usize::from_ne_bytes(reply.get(PTR..HEADER)?.try_into().ok()?);
    let start = buffer.checked_sub(base)?;
    if length == 0 || start < HEADER || start % 2 != 0 {
        return None;
    }
    let bytes = reply.get(start..start.checked_add(length)?)?;
    let mut units: Vec<u16> =
        bytes.chunks_exact(2).map(|pair| <[u8; 2]>::try_from(pair).map_or(0, u16::from_ne_bytes)).collect();
    while units.last() == Some(&0) {
        units.pop();
    }
    (!units.is_empty()).then(|| String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: usize = 0x7ff6_1234_0000;

    /// A reply as Windows lays it out: the header, then `units` at `at` bytes from the
    /// start, with `length` as the header's `Length`.
    fn reply(units: &[u16], at: usize, length: u16) -> Vec<u8> {
        let mut out = vec![0u8; at];
        out[..2].copy_from_slice(&length.to_ne_bytes());
        out[2..4].copy_from_slice(&length.saturating_add(2).to_ne_bytes());
        out[PTR..HEADER].copy_from_slice(&(BASE + at).to_ne_bytes());
        out.extend(units.iter().flat_map(|u| u.to_ne_bytes()));
        out.extend([0, 0]);
        out
    }

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn bytes(units: &[u16]) -> u16 {
        u16::try_from(units.len() * 2).unwrap()
    }

    #[test]
    fn the_string_after_the_header() {
        let line = utf16(r#""C:\Windows\system32\svchost.exe" -k netsvcs -p -s Schedule"#);
        let got = from_reply(&reply(&line, HEADER, bytes(&line)), BASE);
        assert_eq!(got.as_deref(), Some(r#""C:\Windows\system32\svchost.exe" -k netsvcs -p -s Schedule"#));
        // Not right after the header (padding): still inside the reply, still read.
        let got = from_reply(&reply(&line, HEADER + 8, bytes(&line)), BASE);
        assert_eq!(got.as_deref(), Some(r#""C:\Windows\system32\svchost.exe" -k netsvcs -p -s Schedule"#));
    }

    #[test]
    fn length_counts_bytes_not_the_whole_buffer() {
        let line = utf16("notepad.exe C:\\a.txt");
        // Length covering "notepad.exe" only: the rest of the buffer is not the line.
        let got = from_reply(&reply(&line, HEADER, 22), BASE);
        assert_eq!(got.as_deref(), Some("notepad.exe"));
        // An odd Length drops its half unit.
        assert_eq!(from_reply(&reply(&line, HEADER, 23), BASE).as_deref(), Some("notepad.exe"));
        // A NUL counted in Length is not part of the line.
        let mut with_nul = utf16("cmd.exe");
        with_nul.push(0);
        assert_eq!(from_reply(&reply(&with_nul, HEADER, bytes(&with_nul)), BASE).as_deref(), Some("cmd.exe"));
    }

    #[test]
    fn non_ascii_is_decoded_and_a_lone_surrogate_replaced() {
        let line = utf16("C:\\Users\\Jörg\\😀.exe");
        assert_eq!(from_reply(&reply(&line, HEADER, bytes(&line)), BASE).as_deref(), Some("C:\\Users\\Jörg\\😀.exe"));
        let unpaired = [u16::from(b'a'), 0xd800, u16::from(b'b')];
        assert_eq!(from_reply(&reply(&unpaired, HEADER, 6), BASE).as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn what_cannot_be_trusted_is_none() {
        let line = utf16("x.exe");
        let good = reply(&line, HEADER, bytes(&line));
        assert_eq!(from_reply(&good, BASE).as_deref(), Some("x.exe"));
        // Another base: Buffer points elsewhere (before the reply, or past its end).
        assert_eq!(from_reply(&good, BASE + 0x1000), None);
        assert_eq!(from_reply(&good, BASE - 0x10_0000), None);
        // Length past the end of what was written.
        assert_eq!(from_reply(&reply(&line, HEADER, bytes(&line) + 4), BASE), None);
        // Buffer inside the header, or odd.
        let mut inside = good.clone();
        inside[PTR..HEADER].copy_from_slice(&(BASE + 2).to_ne_bytes());
        assert_eq!(from_reply(&inside, BASE), None);
        let mut odd = good.clone();
        odd[PTR..HEADER].copy_from_slice(&(BASE + HEADER + 1).to_ne_bytes());
        assert_eq!(from_reply(&odd, BASE), None);
        // Empty, null Buffer, short replies.
        assert_eq!(from_reply(&reply(&[], HEADER, 0), BASE), None);
        let mut null = good.clone();
        null[PTR..HEADER].copy_from_slice(&0usize.to_ne_bytes());
        assert_eq!(from_reply(&null, BASE), None);
        for n in 0..HEADER {
            assert_eq!(from_reply(&good[..n], BASE), None, "{n} bytes");
        }
        // Only NULs.
        assert_eq!(from_reply(&reply(&[0, 0], HEADER, 4), BASE), None);
    }
}
