//! The reader's wire format: what one read of `\\.\Global\NotifyRing` returns, and what the
//! status IOCTL returns.
//!
//! Versioned binary, little-endian, 8-byte aligned entries; the
//! driver encodes, user mode decodes with the same code ([`Batch::parse`],
//! [`Status::parse`]), so the kernel never formats text for a program.
//!
//! A read returns one batch:
//!
//! ```text
//! batch header (40 bytes)
//!   0  magic "NRB1"     4  version u16     6  header bytes u16 (40)
//!   8  total bytes u32 (header + entries)  12 entries u32
//!   16 clock frequency u64                 24 clock start ticks u64
//!   32 flags u32 (bit 0: command lines omitted, `OmitCommandLine=1`)  36 0 u32
//! entry (a multiple of 8 bytes)
//!   0  entry bytes u32  4  tag u8 (1 event, 2 lost)  5 origin u8  6 process u8
//!   7  event: token facts bytes / 8 (0: none, else 11)
//!   8  seq u64
//!   event: 16 name units u16, 18 extras u8 (bit 0: start facts follow the token facts;
//!          bit 1: their region is known), 19 0 u8, 20 record bytes u32,
//!          24 name (UTF-16LE), then the token facts (if any), then the start facts (if
//!          bit 0: the thread's start address u64, and the base of the image holding it
//!          u64, 0 for none), then the record as in the ring (`record::decode`) except
//!          that a held object's address is zeroed
//!   token facts (88 bytes): 0 which u8 (bit 0 user, 1 integrity, 2 logon id,
//!          3 AppContainer), 1 SID bytes u8, 2 0 u16, 4 integrity RID u32,
//!          8 logon id u64, 16 the user's SID (68 bytes, zero-padded), 84 0 u32
//!   lost:  16 count u64 (events lost just before stream position seq + 1);
//!          byte 5 says where: bit 0 before the worker (ring full), bit 1 the reader's
//!          own buffer was full (both, when the two kinds of loss are adjacent)
//! ```
//!
//! Nothing in it is a kernel address: records carry ids, ticks, sizes and strings, never
//! object, pool or record addresses (the process object a process create's record holds
//! is zeroed on the way out), and a kernel image's base only where the driver's
//! `KernelImageBases=1` lets the callback record it at all.
//!
//! The record payload is the ring's own record (`record::encode`'s layout, native-endian,
//! which is little-endian on every Windows target), copied as it is. That is a decision:
//! the worker then writes each event once, with no second encoding at `DISPATCH_LEVEL`
//! under the channel's lock, and the driver and the CLI decode it with the same
//! `record::decode`. The price is that the record's layout is part of this protocol: a
//! change to it is a change of [`VERSION`], which the CLI refuses with a clear error
//! rather than misreading. Everything the wire adds around the record (this module's
//! entry head, names, token and start facts) has its offsets named here, once.

use crate::bytes::{le16, le32, le64, put};
use crate::record::{self, Record};
use crate::vocab::clock::Clock;
use crate::vocab::process::{NAME_UNITS, Name, Origin};
use crate::vocab::start::{StartRegion, ThreadStart};
use crate::vocab::token::{SID_MAX, Sid, TokenFacts};

/// Output buffer the status IOCTL needs at most.
pub const STATUS_MAX: usize = 4096;

/// The protocol version a batch and a status reply carry. Bump it on any layout change.
pub const VERSION: u16 = 3;
/// A batch's first four bytes.
pub const BATCH_MAGIC: [u8; 4] = *b"NRB1";
/// A status reply's first four bytes.
pub const STATUS_MAGIC: [u8; 4] = *b"NRS1";
/// Bytes of a batch header.
pub const BATCH_HEADER: usize = 40;
/// Batch flag: the driver omits command lines (`OmitCommandLine=1`); records carry none.
pub const FLAG_COMMAND_LINES_OMITTED: u32 = 1;
/// LOST reason bit: lost before the worker (a full ring, or reservation contention).
pub const LOST_RING: u8 = 1;
/// LOST reason bit: dropped for this reader, its buffer full.
pub const LOST_READER: u8 = 2;
/// Bytes of an entry's fixed part (an event's name and record follow it).
pub const ENTRY_HEAD: usize = 24;
/// Bytes of an event's token facts, when it has them.
pub const TOKEN_BYTES: usize = 88;
/// Bytes of an event's start facts, when it has them.
pub const START_BYTES: usize = 16;
/// Entry extras bit: start facts follow the token facts.
const EXTRA_START: u8 = 1;
/// Entry extras bit: the start facts' region is known (their image base, or 0: none).
const EXTRA_REGION: u8 = 2;
const _: () = assert!(16 + SID_MAX + 4 == TOKEN_BYTES && TOKEN_BYTES.is_multiple_of(8));
/// Bytes of a LOST entry.
pub const LOST_ENTRY: usize = 24;
/// The largest event entry: the longest record (both strings at their 32,767-unit
/// maximum) with the longest name.
pub const MAX_ENTRY: usize =
    align8(ENTRY_HEAD + 2 * NAME_UNITS + TOKEN_BYTES + START_BYTES + record::HEAD + 4 * 32_767);
/// The smallest read the driver accepts: one batch header and the largest entry fit.
pub const MIN_READ: usize = 256 << 10;
const _: () = assert!(BATCH_HEADER + MAX_ENTRY <= MIN_READ);
// The smallest channel buffer the settings allow holds one read's worth.
const _: () = assert!(crate::config::READER_MIN >= MIN_READ);
/// The most reads that wait at once for the worker.
///
/// All are the attached reader's: any other handle's read is refused before it could
/// wait. One more is refused at once with
/// `STATUS_TOO_MANY_COMMANDS` (Win32 `ERROR_TOO_MANY_CMDS`, 56): a limit on outstanding
/// requests, which is what that status names, and distinct from
/// `STATUS_INSUFFICIENT_RESOURCES`, which the I/O manager itself returns when it cannot
/// allocate a read's buffer. The CLI keeps one read waiting; without a cap, one handle
/// could pin any amount of non-paged memory (each waiting read holds its system buffer).
pub const MAX_PENDING_READS: usize = 4;

const TAG_EVENT: u8 = 1;
const TAG_LOST: u8 = 2;

/// Byte offsets in a batch header (the layout above).
mod header_at {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const SIZE: usize = 6;
    pub const TOTAL: usize = 8;
    pub const ENTRIES: usize = 12;
    pub const FREQUENCY: usize = 16;
    pub const START_TICKS: usize = 24;
    pub const FLAGS: usize = 32;
}

/// Byte offsets in an entry (the layout above).
mod entry_at {
    pub const LEN: usize = 0;
    /// The tag, then one byte each: origin (a LOST entry's reason), process, token words.
    pub const TAG: usize = 4;
    pub const ORIGIN: usize = 5;
    pub const PROCESS: usize = 6;
    pub const TOKEN_WORDS: usize = 7;
    pub const SEQ: usize = 8;
    /// An event's.
    pub const NAME_UNITS: usize = 16;
    pub const EXTRAS: usize = 18;
    pub const RECORD_BYTES: usize = 20;
    /// A LOST entry's.
    pub const LOST_COUNT: usize = 16;
}

/// The size of the entry whose first bytes are `head` (at least its length word).
pub(crate) fn entry_len(head: &[u8]) -> Option<usize> {
    le32(head, entry_at::LEN).map(|n| n as usize)
}

/// The count of a whole LOST entry, `None` for any other entry.
pub(crate) fn lost_count(whole: &[u8]) -> Option<u64> {
    if whole.get(entry_at::TAG) == Some(&TAG_LOST) { le64(whole, entry_at::LOST_COUNT) } else { None }
}

/// `n` rounded up to a multiple of 8.
#[must_use]
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// The `proc=` knowledge as it travels: [`crate::vocab::process::ProcessName`] with the
/// name still in the entry's bytes ([`Process::name_in`] turns it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process<'a> {
    /// Not printed for this kind.
    NotApplicable,
    /// The image's file name, UTF-16LE bytes.
    Known(&'a [u8]),
    /// The process has no image file.
    NoImageFile,
    /// Look-up failed or not possible.
    Unknown,
}

impl Process<'_> {
    /// As [`crate::vocab::process::ProcessName`] takes it, with `name` as storage.
    #[must_use]
    pub fn name_in<'n>(&self, name: &'n mut Name) -> crate::vocab::process::ProcessName<'n> {
        use crate::vocab::process::ProcessName;
        match *self {
            Self::NotApplicable => ProcessName::NotApplicable,
            Self::NoImageFile => ProcessName::NoImageFile,
            Self::Unknown => ProcessName::Unknown,
            Self::Known(bytes) => {
                *name = Name::from_path(crate::bytes::utf16(bytes));
                ProcessName::Known(name)
            }
        }
    }
}

/// A [`Process`]'s byte in an entry, and its name (UTF-16 units) if it has one.
fn process_byte(process: crate::vocab::process::ProcessName<'_>) -> (u8, &[u16]) {
    use crate::vocab::process::ProcessName;
    match process {
        ProcessName::NotApplicable => (0, &[]),
        ProcessName::Known(name) => (1, name.units()),
        ProcessName::NoImageFile => (2, &[]),
        ProcessName::Unknown => (3, &[]),
    }
}

/// The [`Process`] an entry's byte says, with `name` (UTF-16LE bytes) for a known one.
const fn process_of(byte: u8, name: &[u8]) -> Option<Process<'_>> {
    Some(match byte {
        0 => Process::NotApplicable,
        1 => Process::Known(name),
        2 => Process::NoImageFile,
        3 => Process::Unknown,
        _ => return None,
    })
}

const fn origin_byte(origin: Origin) -> u8 {
    match origin {
        Origin::Local => 0,
        Origin::Initial => 1,
        Origin::Remote => 2,
        Origin::Unknown => 3,
    }
}

const fn origin_of(byte: u8) -> Option<Origin> {
    match byte {
        0 => Some(Origin::Local),
        1 => Some(Origin::Initial),
        2 => Some(Origin::Remote),
        3 => Some(Origin::Unknown),
        _ => None,
    }
}

/// The bytes of an event entry for `d` (header, name, token facts, the record's head
/// with its held object zeroed, the rest of the record, padding), as parts.
pub(crate) struct EventEntry<'a> {
    pub head: [u8; ENTRY_HEAD],
    pub name: &'a [u16],
    pub token: &'a [u8],
    pub start: [u8; START_BYTES],
    pub start_len: usize,
    pub record_head: [u8; record::HEAD],
    pub record_head_len: usize,
    pub record_rest: &'a [u8],
    pub pad: usize,
}

impl EventEntry<'_> {
    /// Total bytes (a multiple of 8).
    pub const fn len(&self) -> usize {
        ENTRY_HEAD
            .wrapping_add(self.name.len().wrapping_mul(2))
            .wrapping_add(self.token.len())
            .wrapping_add(self.start_len)
            .wrapping_add(self.record_head_len)
            .wrapping_add(self.record_rest.len())
            .wrapping_add(self.pad)
    }

    /// The start address as it goes out (empty if the event has none).
    pub fn start(&self) -> &[u8] {
        self.start.get(..self.start_len).unwrap_or(&[])
    }

    /// The record's head as it goes out.
    pub fn record_head(&self) -> &[u8] {
        self.record_head.get(..self.record_head_len).unwrap_or(&[])
    }
}

/// The wire form of `token` (see the module documentation).
#[must_use]
pub fn token_bytes(token: &TokenFacts) -> [u8; TOKEN_BYTES] {
    let mut b = [0u8; TOKEN_BYTES];
    let mut which = 0u8;
    if let Some(user) = &token.user {
        which |= 1;
        let sid = user.as_bytes();
        put(&mut b, 1, &[u8::try_from(sid.len()).unwrap_or(0)]);
        put(&mut b, 16, sid);
    }
    if let Some(rid) = token.integrity {
        which |= 2;
        put(&mut b, 4, &rid.to_le_bytes());
    }
    if let Some(id) = token.logon_id {
        which |= 4;
        put(&mut b, 8, &id.to_le_bytes());
    }
    if token.app_container {
        which |= 8;
    }
    put(&mut b, 0, &[which]);
    b
}

/// The wire form of start facts (zeros for none).
fn start_bytes(start: Option<ThreadStart>) -> [u8; START_BYTES] {
    let mut b = [0u8; START_BYTES];
    if let Some(start) = start {
        put(&mut b, 0, &start.address.to_le_bytes());
        if let StartRegion::Image { base } = start.region {
            put(&mut b, 8, &base.to_le_bytes());
        }
    }
    b
}

/// Token facts from their wire form; `None` if they are malformed.
fn parse_token(b: &[u8]) -> Option<TokenFacts> {
    let which = *b.first()?;
    let sid_len = usize::from(*b.get(1)?);
    let user = if which & 1 != 0 {
        let sid = Sid::from_bytes(b.get(16..16usize.checked_add(sid_len)?)?)?;
        (sid.as_bytes().len() == sid_len).then_some(sid)?;
        Some(sid)
    } else {
        None
    };
    Some(TokenFacts {
        user,
        integrity: if which & 2 != 0 { Some(le32(b, 4)?) } else { None },
        logon_id: if which & 4 != 0 { Some(le64(b, 8)?) } else { None },
        app_container: which & 8 != 0,
    })
}

/// Lays out the event entry for a delivered record; `token` is `token_bytes` of its
/// token facts (or empty).
pub(crate) fn event_entry<'a>(d: &crate::delivered::Delivered<'a>, token: &'a [u8]) -> EventEntry<'a> {
    let (process, name) = process_byte(d.process);
    let start_len = if d.start.is_some() { START_BYTES } else { 0 };
    // Bounded by the ring's record size, NAME_UNITS, TOKEN_BYTES and START_BYTES: far
    // from overflowing.
    let unpadded = ENTRY_HEAD
        .wrapping_add(name.len().wrapping_mul(2))
        .wrapping_add(token.len())
        .wrapping_add(start_len)
        .wrapping_add(d.bytes.len());
    let total = unpadded.wrapping_add(7) & !7;
    let mut head = [0u8; ENTRY_HEAD];
    put(&mut head, entry_at::LEN, &u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes());
    let token_words = u8::try_from(token.len() / 8).unwrap_or(0);
    put(&mut head, entry_at::TAG, &[TAG_EVENT, origin_byte(d.origin), process, token_words]);
    put(&mut head, entry_at::SEQ, &d.seq.to_le_bytes());
    put(&mut head, entry_at::NAME_UNITS, &u16::try_from(name.len()).unwrap_or(0).to_le_bytes());
    let extras = match d.start.map(|s| s.region) {
        None => 0,
        Some(StartRegion::Unknown) => EXTRA_START,
        Some(_) => EXTRA_START | EXTRA_REGION,
    };
    put(&mut head, entry_at::EXTRAS, &[extras]);
    put(&mut head, entry_at::RECORD_BYTES, &u32::try_from(d.bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
    // The held object's address stays in the kernel.
    let split = d.bytes.len().min(record::HEAD);
    let mut record_head = [0u8; record::HEAD];
    put(&mut record_head, 0, d.bytes.get(..split).unwrap_or(&[]));
    record::scrub_held(&mut record_head);
    let record_rest = d.bytes.get(split..).unwrap_or(&[]);
    EventEntry {
        head,
        name,
        token,
        start: start_bytes(d.start),
        start_len,
        record_head,
        record_head_len: split,
        record_rest,
        pad: total.wrapping_sub(unpadded),
    }
}

/// A LOST entry.
pub(crate) fn lost_entry(seq: u64, count: u64, reason: u8) -> [u8; LOST_ENTRY] {
    let mut lost = [0u8; LOST_ENTRY];
    put(&mut lost, entry_at::LEN, &u32::try_from(LOST_ENTRY).unwrap_or(0).to_le_bytes());
    put(&mut lost, entry_at::TAG, &[TAG_LOST, reason, 0, 0]);
    put(&mut lost, entry_at::SEQ, &seq.to_le_bytes());
    put(&mut lost, entry_at::LOST_COUNT, &count.to_le_bytes());
    lost
}

/// A batch header.
pub(crate) fn batch_header(total: usize, entries: u32, clock: Clock, flags: u32) -> [u8; BATCH_HEADER] {
    let mut h = [0u8; BATCH_HEADER];
    put(&mut h, header_at::MAGIC, &BATCH_MAGIC);
    put(&mut h, header_at::VERSION, &VERSION.to_le_bytes());
    put(&mut h, header_at::SIZE, &u16::try_from(BATCH_HEADER).unwrap_or(0).to_le_bytes());
    put(&mut h, header_at::TOTAL, &u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes());
    put(&mut h, header_at::ENTRIES, &entries.to_le_bytes());
    put(&mut h, header_at::FREQUENCY, &clock.frequency.to_le_bytes());
    put(&mut h, header_at::START_TICKS, &clock.start_ticks.to_le_bytes());
    put(&mut h, header_at::FLAGS, &flags.to_le_bytes());
    h
}

/// Why bytes are not a batch or a status reply of this version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than a header, or shorter than the header says.
    Short,
    /// Not a notifyring batch or status reply.
    Magic,
    /// Another protocol version (the driver's and this program's differ).
    Version {
        /// What the bytes carry.
        found: u16,
    },
    /// An entry is malformed (bad length, tag, origin or process byte, or record).
    Entry {
        /// Byte offset of the entry in the batch.
        at: usize,
    },
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Short => f.write_str("truncated reply"),
            Self::Magic => f.write_str("not a notifyring reply"),
            Self::Version { found } => {
                write!(f, "protocol version mismatch: the driver speaks {found}, this program {VERSION}")
            }
            Self::Entry { at } => write!(f, "malformed entry at byte {at}"),
        }
    }
}

/// Checks magic, version and length; returns (header bytes, total bytes).
fn check_header(bytes: &[u8], magic: [u8; 4]) -> Result<(usize, usize), WireError> {
    let found_magic = bytes.get(header_at::MAGIC..header_at::VERSION).ok_or(WireError::Short)?;
    if found_magic != magic {
        return Err(WireError::Magic);
    }
    let version = le16(bytes, header_at::VERSION).ok_or(WireError::Short)?;
    if version != VERSION {
        return Err(WireError::Version { found: version });
    }
    let header = usize::from(le16(bytes, header_at::SIZE).ok_or(WireError::Short)?);
    let total = le32(bytes, header_at::TOTAL).ok_or(WireError::Short)? as usize;
    if total > bytes.len() || header > total || header < 16 {
        return Err(WireError::Short);
    }
    Ok((header, total))
}

/// One read's batch, checked.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The driver's time base (ticks → microseconds since load, and UTC in the CLI).
    pub clock: Clock,
    /// Entries the header announces.
    pub entries: u32,
    /// [`FLAG_COMMAND_LINES_OMITTED`], …
    pub flags: u32,
    body: &'a [u8],
    header: usize,
}

/// One entry of a batch.
#[expect(clippy::large_enum_variant, reason = "entries are parsed one at a time, never stored in bulk")]
#[derive(Clone, Copy, Debug)]
pub enum Entry<'a> {
    /// A delivered event.
    Event {
        /// Stream position.
        seq: u64,
        /// Thread-create origin.
        origin: Origin,
        /// The worker's `proc=` knowledge.
        process: Process<'a>,
        /// The record's bytes, as `record::decode` takes them.
        bytes: &'a [u8],
        /// The decoded record.
        record: Record<'a>,
        /// A process create's token facts.
        token: Option<TokenFacts>,
        /// A thread from another process: where it starts, where read.
        start: Option<ThreadStart>,
    },
    /// `count` events lost just before stream position `seq + 1`.
    Lost {
        /// Stream position before the loss.
        seq: u64,
        /// Events lost.
        count: u64,
        /// Where: [`LOST_RING`], [`LOST_READER`] or both.
        reason: u8,
    },
}

impl Entry<'_> {
    /// An event entry as the worker delivered it, its process name decoded into `name`;
    /// `None` for a LOST entry.
    #[must_use]
    pub fn delivered<'e>(&'e self, name: &'e mut Name) -> Option<crate::delivered::Delivered<'e>> {
        let Self::Event { seq, origin, process, bytes, ref record, ref token, start } = *self else { return None };
        Some(crate::delivered::Delivered {
            seq,
            record,
            bytes,
            origin,
            process: process.name_in(name),
            token: token.as_ref(),
            start,
        })
    }
}

impl<'a> Batch<'a> {
    /// Checks a batch's header. Entries are checked as they are iterated.
    ///
    /// # Errors
    /// [`WireError`] for a short, foreign or other-version batch.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        let (header, total) = check_header(bytes, BATCH_MAGIC)?;
        let frequency = le64(bytes, header_at::FREQUENCY).ok_or(WireError::Short)?;
        let start_ticks = le64(bytes, header_at::START_TICKS).ok_or(WireError::Short)?;
        let entries = le32(bytes, header_at::ENTRIES).ok_or(WireError::Short)?;
        if header < BATCH_HEADER {
            return Err(WireError::Short);
        }
        let flags = le32(bytes, header_at::FLAGS).ok_or(WireError::Short)?;
        let body = bytes.get(..total).unwrap_or(&[]);
        Ok(Self { clock: Clock { start_ticks, frequency }, entries, flags, body, header })
    }

    /// Whether the driver omits command lines (`OmitCommandLine=1`).
    #[must_use]
    pub const fn command_lines_omitted(&self) -> bool {
        self.flags & FLAG_COMMAND_LINES_OMITTED != 0
    }

    /// The entries in order; an `Err` item ends the iteration.
    #[must_use]
    pub const fn entries(&self) -> Entries<'a> {
        Entries { body: self.body, at: self.header, failed: false }
    }
}

/// Iterator over a batch's entries.
pub struct Entries<'a> {
    body: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.body.len() {
            return None;
        }
        let at = self.at;
        let entry = parse_entry(self.body, at).ok_or(WireError::Entry { at });
        match entry {
            Ok((entry, len)) => {
                self.at = at.saturating_add(len);
                Some(Ok(entry))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn parse_entry(body: &[u8], at: usize) -> Option<(Entry<'_>, usize)> {
    let len = entry_len(body.get(at..)?)?;
    if len < ENTRY_HEAD || !len.is_multiple_of(8) {
        return None;
    }
    let entry = body.get(at..at.checked_add(len)?)?;
    let byte = |at: usize| entry.get(at).copied();
    let (tag, origin) = (byte(entry_at::TAG)?, byte(entry_at::ORIGIN)?);
    let (process, token_words) = (byte(entry_at::PROCESS)?, byte(entry_at::TOKEN_WORDS)?);
    let seq = le64(entry, entry_at::SEQ)?;
    match tag {
        TAG_LOST => Some((Entry::Lost { seq, count: le64(entry, entry_at::LOST_COUNT)?, reason: origin }, len)),
        TAG_EVENT => {
            let name_bytes = usize::from(le16(entry, entry_at::NAME_UNITS)?).wrapping_mul(2);
            let record_bytes = le32(entry, entry_at::RECORD_BYTES)? as usize;
            let name = entry.get(ENTRY_HEAD..ENTRY_HEAD.checked_add(name_bytes)?)?;
            let token_at = ENTRY_HEAD.wrapping_add(name_bytes);
            let token = match usize::from(token_words).wrapping_mul(8) {
                0 => None,
                TOKEN_BYTES => Some(parse_token(entry.get(token_at..token_at.checked_add(TOKEN_BYTES)?)?)?),
                _ => return None,
            };
            let start_at = token_at.wrapping_add(usize::from(token_words).wrapping_mul(8));
            let extras = byte(entry_at::EXTRAS)?;
            let (start, record_at) = if extras == 0 {
                (None, start_at)
            } else {
                let address = le64(entry, start_at)?;
                let base = le64(entry, start_at.checked_add(8)?)?;
                let region = match (extras, base) {
                    (EXTRA_START, 0) => StartRegion::Unknown,
                    (x, 0) if x == EXTRA_START | EXTRA_REGION => StartRegion::NoImage,
                    (x, base) if x == EXTRA_START | EXTRA_REGION => StartRegion::Image { base },
                    _ => return None,
                };
                (Some(ThreadStart { address, region }), start_at.checked_add(START_BYTES)?)
            };
            let bytes = entry.get(record_at..record_at.checked_add(record_bytes)?)?;
            let process = process_of(process, name)?;
            let record = record::decode(bytes).ok()?;
            Some((Entry::Event { seq, origin: origin_of(origin)?, process, bytes, record, token, start }, len))
        }
        _ => None,
    }
}

/// A status reply: the driver's version and `name=value` items (configuration and
/// counters, as `dx notifyring!NOTIFYRING_STATS` shows them).
///
/// ```text
///  0 magic "NRS1"  4 version u16  6 header bytes u16 (16)  8 total bytes u32  12 items u32
/// 16 driver version: length u8, ASCII
///    then per item: name length u8, ASCII name, value u64 (unaligned)
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Status<'a> {
    /// The driver's crate version.
    pub driver_version: &'a str,
    items: u32,
    rest: &'a [u8],
}

impl<'a> Status<'a> {
    /// Checks a status reply.
    ///
    /// # Errors
    /// [`WireError`] for a short, foreign or other-version reply.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WireError> {
        let (header, total) = check_header(bytes, STATUS_MAGIC)?;
        let items = le32(bytes, 12).ok_or(WireError::Short)?;
        let body = bytes.get(header..total).ok_or(WireError::Short)?;
        let n = usize::from(*body.first().ok_or(WireError::Short)?);
        let version = body.get(1..=n).ok_or(WireError::Short)?;
        let driver_version = core::str::from_utf8(version).map_err(|_| WireError::Entry { at: header })?;
        Ok(Self { driver_version, items, rest: body.get(n + 1..).unwrap_or(&[]) })
    }

    /// Items the reply announces ([`Self::items`] yields fewer if it is cut short).
    #[must_use]
    pub const fn announced(&self) -> u32 {
        self.items
    }

    /// The items, in the driver's order; stops at the first malformed one.
    pub fn items(&self) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let mut rest = self.rest;
        (0..self.items).map_while(move |_| {
            let n = usize::from(*rest.first()?);
            let name = core::str::from_utf8(rest.get(1..=n)?).ok()?;
            let value = le64(rest, n + 1)?;
            rest = rest.get(n + 9..)?;
            Some((name, value))
        })
    }
}

/// Writes a status reply into `out`; returns the bytes written, or `None` if `out` is too
/// small. Names longer than 255 bytes are cut.
pub fn encode_status<'i>(
    out: &mut [u8],
    driver_version: &str,
    items: impl IntoIterator<Item = (&'i str, u64)>,
) -> Option<usize> {
    let mut w = Writer { out, at: 16 };
    let version = driver_version.as_bytes().get(..driver_version.len().min(255)).unwrap_or(&[]);
    w.byte(u8::try_from(version.len()).ok()?)?;
    w.bytes(version)?;
    let mut count = 0u32;
    for (name, value) in items {
        let name = name.as_bytes().get(..name.len().min(255)).unwrap_or(&[]);
        w.byte(u8::try_from(name.len()).ok()?)?;
        w.bytes(name)?;
        w.bytes(&value.to_le_bytes())?;
        count = count.wrapping_add(1);
    }
    let total = w.at;
    let out = w.out;
    put(out, 0, &STATUS_MAGIC);
    put(out, 4, &VERSION.to_le_bytes());
    put(out, 6, &16u16.to_le_bytes());
    put(out, 8, &u32::try_from(total).ok()?.to_le_bytes());
    put(out, 12, &count.to_le_bytes());
    Some(total)
}

struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.at.checked_add(b.len())?;
        self.out.get_mut(self.at..end)?.copy_from_slice(b);
        self.at = end;
        Some(())
    }

    fn byte(&mut self, b: u8) -> Option<()> {
        self.bytes(&[b])
    }
}
