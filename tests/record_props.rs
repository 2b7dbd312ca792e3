//! Property tests of the record layout and the formatter: encode/decode round trip for
//! arbitrary events and strings, lines that always fit one `DbgPrint`, continuations
//! that reassemble to the whole text, and no input that makes either panic.

use notifyring::record::{self, Caps, Detail, HEAD};
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::Origin;
use notifyring::vocab::process::ProcessName;
use notifyring::vocab::start::{StartRegion, ThreadStart};
use notifyring::vocab::token::{Sid, TokenFacts};
use notifyring::worker::format::{self, Context, LINE_BUF, LINE_MAX};
use notifyring::{ClientId, Event, Kind, Stamp};
use proptest::prelude::*;
use std::fmt::Write as _;

/// UTF-16 that kernels hand over: mostly ASCII, with surrogates (paired and not),
/// NULs, controls, quotes, backslashes, RTL overrides and CJK.
fn units(max: usize) -> impl Strategy<Value = Vec<u16>> {
    let unit = prop_oneof![
        8 => 0x20u16..0x7f,
        1 => Just(0u16),
        1 => 0xd800u16..0xe000,
        1 => prop::sample::select(vec![0x22u16, 0x5c, 0x0a, 0x1b, 0x7f, 0x85, 0x202e, 0x200f, 0x4e2d, 0xfeff]),
        1 => any::<u16>(),
    ];
    prop::collection::vec(unit, 0..max)
}

fn long_units() -> impl Strategy<Value = Vec<u16>> {
    prop_oneof![8 => units(300), 1 => units(9000), 1 => Just(vec![u16::from(b'x'); 32_767])]
}

#[derive(Debug, Clone)]
struct Case {
    kind: u8,
    ids: [u64; 4],
    flags: [bool; 2],
    sig: (u8, u8),
    image: Option<Vec<u16>>,
    command_line: Option<Vec<u16>>,
    stamp: Stamp,
    caps: Caps,
}

impl Case {
    fn event(&self) -> Event<'_> {
        let [a, b, c, d] = self.ids;
        match self.kind % 5 {
            0 => Event::ProcessCreate {
                pid: a,
                parent_pid: b,
                creator: ClientId { pid: c, tid: d },
                file_open_name_available: self.flags[0],
                subsystem_process: self.flags[1],
                image: self.image.as_deref(),
                command_line: self.command_line.as_deref(),
            },
            1 => Event::ProcessExit { pid: a, exit_status: u32::try_from(b & 0xffff_ffff).unwrap() },
            2 => Event::ThreadCreate { pid: a, tid: b, creator: ClientId { pid: c, tid: d } },
            3 => Event::ThreadExit { pid: a, tid: b },
            _ => Event::ImageLoad {
                pid: a,
                base: b,
                size: c,
                kernel_image: self.flags[0],
                signature_level: self.sig.0,
                signature_type: self.sig.1,
                image: self.image.as_deref(),
            },
        }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u8>(),
        any::<[u64; 4]>(),
        any::<[bool; 2]>(),
        any::<(u8, u8)>(),
        prop::option::of(long_units()),
        prop::option::of(long_units()),
        (any::<u64>(), any::<u32>()),
        (0u32..2000, 0u32..10_000),
    )
        .prop_map(|(kind, ids, flags, sig, image, command_line, (ticks, cpu), (i, c))| Case {
            kind,
            ids,
            flags,
            sig,
            image,
            command_line,
            stamp: Stamp { ticks, cpu },
            caps: Caps { image: i, command_line: c },
        })
}

fn bytes_of(encoded: &record::Encoded<'_>) -> Vec<u8> {
    let mut bytes = encoded.head.to_vec();
    for u in encoded.first.iter().chain(encoded.second) {
        bytes.extend_from_slice(&u.to_ne_bytes());
    }
    bytes
}

/// The reference escaping docs/output.md documents, written independently with std:
/// printable ASCII as is, everything else `\u{hex}` (a pair as its code point, an
/// unpaired surrogate as itself), `\"` for a quote.
fn reference_quoted(units: &[u16]) -> String {
    let items: Vec<Result<char, u16>> =
        char::decode_utf16(units.iter().copied()).map(|c| c.map_err(|e| e.unpaired_surrogate())).collect();
    let mut s = String::from("\"");
    for (i, item) in items.iter().enumerate() {
        match *item {
            Ok('"') => s.push_str("\\\""),
            Ok('\\') if matches!(items.get(i + 1), None | Some(Ok('u'))) => s.push_str("\\u{5c}"),
            Ok(c) if (' '..='~').contains(&c) => s.push(c),
            Ok(c) => write!(s, "\\u{{{:x}}}", c as u32).unwrap(),
            Err(unit) => write!(s, "\\u{{{unit:x}}}").unwrap(),
        }
    }
    s.push('"');
    s
}

/// docs/output.md's parsing rule: inside quotes, `\"` is a quote and `\u{hex}` a code
/// point (or a lone surrogate); every other backslash is literal. Returns the UTF-16
/// units and what follows the closing quote.
fn parse_quoted(s: &str) -> Option<(Vec<u16>, &str)> {
    let mut out = Vec::new();
    let rest = s.strip_prefix('"')?;
    let mut it = rest.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, &rest[i + 1..])),
            '\\' if rest[i + 1..].starts_with('"') => {
                out.push(u16::from(b'"'));
                it.next();
            }
            '\\' if rest[i + 1..].starts_with("u{") => {
                let close = rest[i..].find('}')?;
                let code = u32::from_str_radix(&rest[i + 3..i + close], 16).ok()?;
                match char::from_u32(code) {
                    Some(c) => out.extend(c.encode_utf16(&mut [0; 2]).iter()),
                    None => out.push(u16::try_from(code).ok()?),
                }
                while it.peek().is_some_and(|&(j, _)| j <= i + close) {
                    it.next();
                }
            }
            c => out.extend(c.encode_utf16(&mut [0; 2]).iter()),
        }
    }
    None
}

/// Formats a record and returns the physical lines.
fn lines_of(rec: &record::Record<'_>, seq: u64, omit: bool) -> Vec<Vec<u8>> {
    lines_with(rec, seq, omit, None)
}

/// [`lines_of`], with a process create's token facts.
fn lines_with(rec: &record::Record<'_>, seq: u64, omit: bool, token: Option<&TokenFacts>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; LINE_BUF];
    let ctx = Context {
        seq,
        clock: Clock { start_ticks: 1000, frequency: 10_000_000 },
        omit_command_line: omit,
        process: if rec.kind == Kind::ProcessCreate { ProcessName::NotApplicable } else { ProcessName::Unknown },
        origin: Origin::Remote,
        token,
        // The longest start facts a thread line can carry.
        start: Some(ThreadStart { address: u64::MAX, region: StartRegion::Image { base: u64::MAX } }),
    };
    format::record(rec, &ctx, &mut buf, |l| {
        assert_eq!(l.with_nul().last(), Some(&0), "every line is NUL-terminated");
        assert!(!l.text().contains(&0), "no NUL inside a line");
        out.push(l.text().to_vec());
    });
    out
}

/// Joins physical lines back into the logical line, checking continuation prefixes.
fn reassemble(lines: &[Vec<u8>], seq: u64) -> String {
    let mut whole = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        assert!(line.len() <= LINE_MAX, "line of {} bytes", line.len());
        let prefix =
            if i == 0 { format!("notifyring: #{seq} ") } else { format!("notifyring: #{seq} cont={} ", i + 1) };
        assert!(line.starts_with(prefix.as_bytes()), "line {i} lacks prefix {prefix:?}");
        whole.extend_from_slice(if i == 0 { line } else { &line[prefix.len()..] });
    }
    String::from_utf8(whole).expect("lines are UTF-8")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trip(case in case()) {
        let event = case.event();
        let encoded = record::encode(case.stamp, &event, case.caps);
        let bytes = bytes_of(&encoded);
        prop_assert_eq!(bytes.len(), encoded.payload_len());
        let rec = record::decode(&bytes).unwrap();
        prop_assert_eq!(rec.kind, event.kind());
        prop_assert_eq!(rec.stamp, case.stamp);
        let check = |text: Option<record::Text<'_>>, original: Option<&[u16]>, cap: u32| -> Result<(), TestCaseError> {
            match (text, original) {
                (None, None) => {}
                (Some(t), Some(o)) => {
                    let kept = o.len().min(cap as usize);
                    prop_assert_eq!(t.units().collect::<Vec<_>>(), o[..kept].to_vec());
                    prop_assert_eq!(t.original_len() as usize, o.len());
                    prop_assert_eq!(t.truncated(), o.len() > cap as usize);
                }
                (t, o) => prop_assert!(false, "presence differs: {:?} vs {:?}", t.is_some(), o.is_some()),
            }
            Ok(())
        };
        match (event, rec.detail) {
            (Event::ProcessCreate { pid, parent_pid, creator, file_open_name_available, subsystem_process, image, command_line },
             Detail::ProcessCreate { parent_pid: p, creator: c, file_open_name_available: f, subsystem_process: s }) => {
                prop_assert_eq!((rec.pid, p, c, f, s), (pid, parent_pid, creator, file_open_name_available, subsystem_process));
                check(rec.image, image, case.caps.image)?;
                check(rec.command_line, command_line, case.caps.command_line)?;
            }
            (Event::ProcessExit { pid, exit_status }, Detail::ProcessExit { exit_status: e }) => {
                prop_assert_eq!((rec.pid, e), (pid, exit_status));
            }
            (Event::ThreadCreate { pid, tid, creator }, Detail::ThreadCreate { tid: t, creator: c }) => {
                prop_assert_eq!((rec.pid, t, c), (pid, tid, creator));
            }
            (Event::ThreadExit { pid, tid }, Detail::ThreadExit { tid: t }) => prop_assert_eq!((rec.pid, t), (pid, tid)),
            (Event::ImageLoad { pid, base, size, kernel_image, signature_level, signature_type, image },
             Detail::ImageLoad { base: b, size: s, kernel_image: k, signature_level: l, signature_type: t }) => {
                prop_assert_eq!((rec.pid, b, s, k, l, t), (pid, base, size, kernel_image, signature_level, signature_type));
                check(rec.image, image, case.caps.image)?;
            }
            (e, d) => prop_assert!(false, "kind mismatch {:?} / {:?}", e, d),
        }
    }

    #[test]
    fn lines_fit_one_dbgprint_and_reassemble_to_the_full_text(case in case(), seq in any::<u64>(), omit in any::<bool>()) {
        let event = case.event();
        let encoded = record::encode(case.stamp, &event, case.caps);
        let bytes = bytes_of(&encoded);
        let rec = record::decode(&bytes).unwrap();
        let lines = lines_of(&rec, seq, omit);
        let whole = reassemble(&lines, seq);
        let kind_and_pid = format!(" {} pid={}", rec.kind.name(), rec.pid);
        prop_assert!(whole.contains(&kind_and_pid), "{} missing", kind_and_pid);
        for (key, text, cap) in [("image", rec.image, case.caps.image), ("cmdline", rec.command_line, case.caps.command_line)] {
            if key == "cmdline" && omit && rec.kind == Kind::ProcessCreate {
                prop_assert!(whole.contains(" cmdline=<omitted>"));
                continue;
            }
            let Some(t) = text else { continue };
            let stored: Vec<u16> = t.units().collect();
            prop_assert!(whole.contains(&format!(" {key}={}", reference_quoted(&stored))), "{} missing in {}", key, whole);
            if t.truncated() {
                let marker = format!(" {key}_truncated={}/{}", cap, t.original_len());
                prop_assert!(whole.contains(&marker), "missing {}", marker);
            }
        }
    }

    #[test]
    fn a_held_object_round_trips_and_scrubbing_hides_only_it(case in case(), object in any::<u64>()) {
        let event = case.event();
        let plain = bytes_of(&record::encode(case.stamp, &event, case.caps));
        let mut encoded = record::encode(case.stamp, &event, case.caps);
        encoded.hold(object);
        let held = bytes_of(&encoded);
        prop_assert_eq!(held.len(), plain.len(), "the slot is part of every head");
        let expect = (object != 0).then_some(object);
        prop_assert_eq!(record::held(&held), expect);
        prop_assert_eq!(record::decode(&held).unwrap().held, expect);
        prop_assert_eq!(record::held(&plain), None);
        // Scrubbed (what a reader gets): no address, and otherwise the same record.
        let mut scrubbed = held;
        record::scrub_held(&mut scrubbed);
        prop_assert_eq!(record::held(&scrubbed), None);
        let (a, b) = (record::decode(&scrubbed).unwrap(), record::decode(&plain).unwrap());
        prop_assert_eq!((a.kind, a.stamp, a.pid, a.detail, a.image, a.command_line), (b.kind, b.stamp, b.pid, b.detail, b.image, b.command_line));
    }

    #[test]
    fn sids_round_trip_through_their_text_and_bytes(authority in 0u64..(1 << 48), subs in prop::collection::vec(any::<u32>(), 0..=15)) {
        let sid = Sid::from_parts(authority, &subs).unwrap();
        prop_assert_eq!(Sid::parse(&sid.to_string()), Some(sid));
        prop_assert_eq!(Sid::from_bytes(sid.as_bytes()), Some(sid));
        prop_assert_eq!(&sid.sub_authorities().collect::<Vec<_>>(), &subs);
        prop_assert_eq!(sid.authority(), authority);
        prop_assert_eq!(sid.rid(), subs.last().copied());
        // A process create's line carries it, the integrity word and the logon id.
        let create = Event::ProcessCreate {
            pid: 8, parent_pid: 4, creator: ClientId { pid: 4, tid: 1 },
            file_open_name_available: true, subsystem_process: false, image: None, command_line: None,
        };
        let bytes = bytes_of(&record::encode(Stamp::default(), &create, Caps::DEFAULT));
        let rec = record::decode(&bytes).unwrap();
        let token = TokenFacts { user: Some(sid), integrity: Some(0x3000), app_container: false, logon_id: Some(0x3e7) };
        let whole = reassemble(&lines_with(&rec, 1, false, Some(&token)), 1);
        let expected = format!(" user={sid} integrity=High logon=0x3e7");
        prop_assert!(whole.contains(&expected), "{} in {}", expected, whole);
    }

    #[test]
    fn quoted_text_is_ascii_and_parses_back_to_the_exact_original(text in units(400)) {
        let encoded: Vec<u8> = text.iter().flat_map(|u| u.to_ne_bytes()).collect();
        let mut head = [0u8; HEAD];
        head[0] = Kind::ImageLoad as u8;
        head[1] = 1; // image present
        head[48..52].copy_from_slice(&u32::try_from(text.len()).unwrap().to_ne_bytes());
        head[52..56].copy_from_slice(&u32::try_from(text.len()).unwrap().to_ne_bytes());
        let bytes: Vec<u8> = head.iter().copied().chain(encoded).collect();
        let rec = record::decode(&bytes).unwrap();
        let whole = reassemble(&lines_of(&rec, 3, false), 3);
        let value = &whole[whole.rfind(" image=").unwrap() + 7..];
        prop_assert!(whole.bytes().all(|b| (0x20..0x7f).contains(&b)), "printable ASCII only: {}", whole);
        let (parsed, rest) = parse_quoted(value).expect("terminated quote");
        prop_assert_eq!(parsed, text);
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder_or_formatter(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(rec) = record::decode(&bytes) {
            let lines = lines_of(&rec, 7, false);
            prop_assert!(lines.iter().all(|l| l.len() <= LINE_MAX));
        }
    }

    #[test]
    fn caps_always_fit_a_quarter_of_the_ring(image in 0u32..40_000, command_line in 0u32..40_000, log2 in 12u32..29) {
        let budget = (1u64 << log2) / 4 - 8;
        let fitted = Caps { image, command_line }.fit(budget);
        prop_assert!(fitted.max_payload() <= budget);
        prop_assert!(fitted.image <= image && fitted.command_line <= command_line);
    }
}

#[test]
fn a_32767_unit_command_line_is_truncated_not_rejected() {
    let cmd = vec![u16::from(b'a'); 32_767];
    let event = Event::ProcessCreate {
        pid: 8,
        parent_pid: 4,
        creator: ClientId { pid: 4, tid: 12 },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(&[]),
        command_line: Some(&cmd),
    };
    let encoded = record::encode(Stamp::default(), &event, Caps::DEFAULT);
    assert_eq!(encoded.payload_len(), HEAD + 2 * 8192);
    let bytes = bytes_of(&encoded);
    let rec = record::decode(&bytes).unwrap();
    let lines = lines_of(&rec, 1, false);
    let whole = reassemble(&lines, 1);
    assert!(whole.contains(" image=\"\" "), "empty, not absent: {whole:.200}");
    assert!(whole.ends_with(" cmdline_truncated=8192/32767"), "{}", &whole[whole.len() - 60..]);
    // The command line's continuation lines are exactly as long as one DbgPrint call
    // allows: the driver prints "%s\n", and 510 bytes, the newline and the NUL make the
    // 512 it transmits.
    assert_eq!(LINE_MAX + "\n".len() + 1, 512);
    // (The first holds the head fields, the last two the end of the quote and its cut.)
    let middle = &lines[1..lines.len() - 2];
    assert!(middle.len() > 10 && middle.iter().all(|l| l.len() == LINE_MAX), "lines filled to the limit");
}

#[test]
fn sample_lines_look_as_documented() {
    let image: Vec<u16> = r"\Device\HarddiskVolume3\Windows\System32\notepad.exe".encode_utf16().collect();
    let cmd: Vec<u16> = r"notepad.exe C:\a.txt".encode_utf16().collect();
    let event = Event::ProcessCreate {
        pid: 4242,
        parent_pid: 600,
        creator: ClientId { pid: 600, tid: 1212 },
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(&image),
        command_line: Some(&cmd),
    };
    let stamp = Stamp { ticks: 1000 + 123_456_789, cpu: 1 };
    let bytes = bytes_of(&record::encode(stamp, &event, Caps::DEFAULT));
    let lines = lines_of(&record::decode(&bytes).unwrap(), 1234, false);
    assert_eq!(
        String::from_utf8(lines[0].clone()).unwrap(),
        r#"notifyring: #1234 +12.345678s cpu1 process-create pid=4242 ppid=600 by=600:1212 fileopen=1 image="\Device\HarddiskVolume3\Windows\System32\notepad.exe" cmdline="notepad.exe C:\a.txt""#
    );
}
