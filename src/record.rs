//! Step 2: the byte layout of one event in the ring, and its decoder.
//!
//! A record payload is a fixed 72-byte head (ids, stamp, flags, string lengths, and the
//! object the record holds a reference on) followed by the UTF-16 units of at most two
//! strings. Encoding is a handful of stores with no
//! branch on string content (the callback path); decoding treats the bytes as untrusted
//! and never panics, so the worker cannot be crashed by a corrupt ring.

use crate::event::{ClientId, Event, Kind, Stamp};
/// Bytes of a record's payload before its strings.
pub const HEAD: usize = 72;

/// Flag: the first string (image path) is present.
const HAS_IMAGE: u8 = 1;
/// Flag: the second string (command line) is present.
const HAS_COMMAND_LINE: u8 = 1 << 1;
/// Flag: `FileOpenNameAvailable`.
const FILE_OPEN_NAME: u8 = 1 << 2;
/// Flag: `IsSubsystemProcess`.
const SUBSYSTEM: u8 = 1 << 3;
/// Flag: `SystemModeImage`.
const KERNEL_IMAGE: u8 = 1 << 4;
/// Flag: the record holds a reference on the object at bytes 64..72 (a process create's
/// new process; see `worker::token`), which the worker must drop exactly once.
const HELD: u8 = 1 << 5;
/// Where the held object's address sits in the head.
const HELD_AT: usize = 64;

/// Per-kind string caps in UTF-16 units, fixed when the pipeline is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// Image paths (process create, image load).
    pub image: u32,
    /// Command lines (process create).
    pub command_line: u32,
}

impl Caps {
    /// The defaults: 1024 units of image path, 8192 of command line.
    pub const DEFAULT: Self = Self { image: 1024, command_line: 8192 };

    /// The largest payload these caps allow.
    #[must_use]
    pub const fn max_payload(self) -> u64 {
        HEAD as u64 + 2 * (self.image as u64 + self.command_line as u64)
    }

    /// Shrinks the caps so that the largest record takes at most `budget` payload bytes:
    /// the command line gives way first, then the image path, which keeps at least a
    /// quarter of the string budget.
    #[must_use]
    pub const fn fit(self, budget: u64) -> Self {
        if self.max_payload() <= budget {
            return self;
        }
        let units = budget.saturating_sub(HEAD as u64) / 2;
        let image_floor = units / 4;
        let image = if (self.image as u64) < image_floor { self.image as u64 } else { image_floor };
        let command_line = units - image;
        let command_line =
            if (self.command_line as u64) < command_line { self.command_line as u64 } else { command_line };
        // Both are at most the originals, which were u32.
        let (image, command_line) = (image & 0xffff_ffff, command_line & 0xffff_ffff);
        #[expect(clippy::cast_possible_truncation, reason = "masked to 32 bits above")]
        Self { image: image as u32, command_line: command_line as u32 }
    }
}

/// The at most `cap` leading units of `s`, and the original length (saturated to u32).
#[inline]
fn clip(s: Option<&[u16]>, cap: u32) -> (&[u16], u32) {
    let Some(s) = s else { return (&[], 0) };
    let original = u32::try_from(s.len()).unwrap_or(u32::MAX);
    let keep = if original > cap { cap } else { original } as usize;
    (s.get(..keep).unwrap_or(s), original)
}

/// An event ready to be copied: its fixed head and the clipped strings.
pub struct Encoded<'a> {
    /// The fixed head.
    pub head: [u8; HEAD],
    /// The clipped image path.
    pub first: &'a [u16],
    /// The clipped command line.
    pub second: &'a [u16],
}

impl Encoded<'_> {
    /// Marks the record as holding a reference on `object` (non-zero), which the worker
    /// will release: set before the reservation, taken between write and commit.
    #[inline]
    pub fn hold(&mut self, object: u64) {
        if object == 0 {
            return;
        }
        if let Some(flags) = self.head.get_mut(1) {
            *flags |= HELD;
        }
        if let Some(slot) = self.head.get_mut(HELD_AT..HELD_AT + 8) {
            slot.copy_from_slice(&object.to_le_bytes());
        }
    }

    /// Payload length in bytes (head + strings).
    #[must_use]
    #[inline]
    pub const fn payload_len(&self) -> usize {
        HEAD + 2 * (self.first.len() + self.second.len())
    }
}

/// Lays out `event` for the ring: builds the head, clips the strings to `caps`.
#[inline]
#[must_use]
pub fn encode<'a>(stamp: Stamp, event: &Event<'a>, caps: Caps) -> Encoded<'a> {
    let mut flags = 0u8;
    let (mut sig_level, mut sig_type) = (0u8, 0u8);
    let (pid, a, b, c, image, command_line) = match *event {
        Event::ProcessCreate {
            pid,
            parent_pid,
            creator,
            file_open_name_available,
            subsystem_process,
            image,
            command_line,
        } => {
            if file_open_name_available {
                flags |= FILE_OPEN_NAME;
            }
            if subsystem_process {
                flags |= SUBSYSTEM;
            }
            (pid, parent_pid, creator.pid, creator.tid, image, command_line)
        }
        Event::ProcessExit { pid, exit_status } => (pid, u64::from(exit_status), 0, 0, None, None),
        Event::ThreadCreate { pid, tid, creator } => (pid, tid, creator.pid, creator.tid, None, None),
        Event::ThreadExit { pid, tid } => (pid, tid, 0, 0, None, None),
        Event::ImageLoad { pid, base, size, kernel_image, signature_level, signature_type, image } => {
            if kernel_image {
                flags |= KERNEL_IMAGE;
            }
            sig_level = signature_level;
            sig_type = signature_type;
            (pid, base, size, 0, image, None)
        }
    };
    if image.is_some() {
        flags |= HAS_IMAGE;
    }
    if command_line.is_some() {
        flags |= HAS_COMMAND_LINE;
    }
    let (first, first_len) = clip(image, caps.image);
    let (second, second_len) = clip(command_line, caps.command_line);
    let mut head = [0u8; HEAD];
    head[0] = event.kind() as u8;
    head[1] = flags;
    head[2] = sig_level;
    head[3] = sig_type;
    head[4..8].copy_from_slice(&stamp.cpu.to_le_bytes());
    head[8..16].copy_from_slice(&stamp.ticks.to_le_bytes());
    head[16..24].copy_from_slice(&pid.to_le_bytes());
    head[24..32].copy_from_slice(&a.to_le_bytes());
    head[32..40].copy_from_slice(&b.to_le_bytes());
    head[40..48].copy_from_slice(&c.to_le_bytes());
    head[48..52].copy_from_slice(&first_len.to_le_bytes());
    // Clipped lengths fit u32: they are at most the caps.
    head[52..56].copy_from_slice(&u32::try_from(first.len()).unwrap_or(u32::MAX).to_le_bytes());
    head[56..60].copy_from_slice(&second_len.to_le_bytes());
    head[60..64].copy_from_slice(&u32::try_from(second.len()).unwrap_or(u32::MAX).to_le_bytes());
    Encoded { head, first, second }
}

/// A string as stored: UTF-16LE units (possibly unaligned) plus the length
/// the kernel gave before the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text<'a> {
    bytes: &'a [u8],
    original: u32,
}

impl<'a> Text<'a> {
    /// The stored units, in order.
    pub fn units(&self) -> impl Iterator<Item = u16> + Clone + 'a {
        crate::bytes::utf16(self.bytes)
    }

    /// Number of stored units.
    #[must_use]
    pub fn stored_len(&self) -> u32 {
        u32::try_from(self.bytes.len() / 2).unwrap_or(u32::MAX)
    }

    /// Length in units before the cap.
    #[must_use]
    pub const fn original_len(&self) -> u32 {
        self.original
    }

    /// Whether the cap cut this string.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.stored_len() < self.original
    }
}

/// One decoded record: the event with its strings as [`Text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Event kind.
    pub kind: Kind,
    /// Timestamp and processor.
    pub stamp: Stamp,
    /// Process id the event is about.
    pub pid: u64,
    /// Kind-specific fields.
    pub detail: Detail,
    /// Image path (process create, image load), if given.
    pub image: Option<Text<'a>>,
    /// Command line (process create), if given.
    pub command_line: Option<Text<'a>>,
    /// The object this record holds a reference on ([`held`]).
    pub held: Option<u64>,
}

/// The kind-specific numbers of a [`Record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Process create.
    ProcessCreate {
        /// Parent process id.
        parent_pid: u64,
        /// Creating process and thread.
        creator: ClientId,
        /// `FileOpenNameAvailable`.
        file_open_name_available: bool,
        /// `IsSubsystemProcess`.
        subsystem_process: bool,
    },
    /// Process exit.
    ProcessExit {
        /// NTSTATUS exit status.
        exit_status: u32,
    },
    /// Thread create.
    ThreadCreate {
        /// New thread id.
        tid: u64,
        /// Creating process and thread.
        creator: ClientId,
    },
    /// Thread exit.
    ThreadExit {
        /// Exiting thread id.
        tid: u64,
    },
    /// Image load.
    ImageLoad {
        /// Image base address.
        base: u64,
        /// Image size in bytes.
        size: u64,
        /// `SystemModeImage`.
        kernel_image: bool,
        /// Signature level.
        signature_level: u8,
        /// Signature type.
        signature_type: u8,
    },
}

/// Why bytes did not decode as a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the fixed head.
    Short,
    /// The kind byte names no kind.
    Kind(u8),
    /// The string lengths point past the payload.
    Strings,
}

/// The `u32` at `at` (0 past the end: the decoder checks lengths itself).
#[inline]
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    crate::bytes::le32(bytes, at).unwrap_or(0)
}

/// The `u64` at `at` (0 past the end).
#[inline]
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    crate::bytes::le64(bytes, at).unwrap_or(0)
}

/// The stamp's ticks of an encoded record (0 if it is too short to have them): what the
/// worker merges the processors' rings by, without decoding the rest.
#[must_use]
pub fn stamp_ticks(bytes: &[u8]) -> u64 {
    u64_at(bytes, 8)
}

/// The object a record's bytes hold a reference on, if any: read from the head alone, so
/// that even a record that does not decode has its reference dropped.
#[must_use]
pub fn held(bytes: &[u8]) -> Option<u64> {
    let flags = bytes.get(1).copied().unwrap_or(0);
    let object = u64_at(bytes, HELD_AT);
    (flags & HELD != 0 && object != 0).then_some(object)
}

/// `bytes` (a record) with the held object's address zeroed, for anyone outside the
/// kernel: the flag stays, so the reader still knows the record had one.
pub fn scrub_held(head: &mut [u8]) {
    if let Some(slot) = head.get_mut(HELD_AT..HELD_AT + 8) {
        slot.fill(0);
    }
}

/// Decodes a payload. Never panics, whatever the bytes.
///
/// # Errors
/// [`DecodeError`] when the bytes are not a record this module encoded.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, DecodeError> {
    let (Some(head), Some(rest)) = (bytes.get(..HEAD), bytes.get(HEAD..)) else {
        return Err(DecodeError::Short);
    };
    let kind_byte = head.first().copied().unwrap_or(u8::MAX);
    let kind = Kind::from_u8(kind_byte).ok_or(DecodeError::Kind(kind_byte))?;
    let flags = head.get(1).copied().unwrap_or(0);
    let sig_level = head.get(2).copied().unwrap_or(0);
    let sig_type = head.get(3).copied().unwrap_or(0);
    let stamp = Stamp { cpu: u32_at(head, 4), ticks: u64_at(head, 8) };
    let (pid, a, b, c) = (u64_at(head, 16), u64_at(head, 24), u64_at(head, 32), u64_at(head, 40));
    let first_bytes = (u32_at(head, 52) as usize).saturating_mul(2);
    let second_bytes = (u32_at(head, 60) as usize).saturating_mul(2);
    let first = rest.get(..first_bytes).ok_or(DecodeError::Strings)?;
    let second = rest.get(first_bytes..first_bytes.saturating_add(second_bytes)).ok_or(DecodeError::Strings)?;
    let text = |present: u8, bytes, original| (flags & present != 0).then_some(Text { bytes, original });
    let image = text(HAS_IMAGE, first, u32_at(head, 48));
    let command_line = text(HAS_COMMAND_LINE, second, u32_at(head, 56));
    let detail = match kind {
        Kind::ProcessCreate => Detail::ProcessCreate {
            parent_pid: a,
            creator: ClientId { pid: b, tid: c },
            file_open_name_available: flags & FILE_OPEN_NAME != 0,
            subsystem_process: flags & SUBSYSTEM != 0,
        },
        // The status was widened from u32 on encode; the low half is the status.
        Kind::ProcessExit => Detail::ProcessExit { exit_status: (a & 0xffff_ffff) as u32 },
        Kind::ThreadCreate => Detail::ThreadCreate { tid: a, creator: ClientId { pid: b, tid: c } },
        Kind::ThreadExit => Detail::ThreadExit { tid: a },
        Kind::ImageLoad => Detail::ImageLoad {
            base: a,
            size: b,
            kernel_image: flags & KERNEL_IMAGE != 0,
            signature_level: sig_level,
            signature_type: sig_type,
        },
    };
    Ok(Record { kind, stamp, pid, detail, image, command_line, held: held(bytes) })
}
