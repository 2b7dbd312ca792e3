//! Step 5b: the token facts of a new process (who it runs as, at which integrity, in which
//! logon session), read by the worker, never by the callback.
//!
//! The process callback takes a reference on the new process once its record has a place
//! in the ring, and the record carries that reference (`Record::held`). The worker asks
//! its host for the process's token facts through it (`Host::process_token`)
//! and then drops it (`Host::release_process`): a `cmd /c whoami` that is
//! gone by the time the worker runs still has its token read. The driver opens the
//! primary token and queries it (`ObOpenObjectByPointer`, `ZwOpenProcessTokenEx`,
//! `ZwQueryInformationToken`); the simulated kernel serves what a recording says.
//!
//! Only numbers cross to user mode: the user's SID (user mode turns it into
//! `DOMAIN\user`), the integrity label's RID and the logon session's LUID. This module
//! holds them and their text forms (`S-1-5-18`, Sysmon's integrity words, `0x3e7`),
//! without allocating: the debugger line is formatted from them in the kernel.

/// `SECURITY_MAX_SID_SIZE`: revision, count, 6-byte authority, 15 sub-authorities.
pub const SID_MAX: usize = 8 + 4 * SID_MAX_SUB_AUTHORITIES;
/// `SID_MAX_SUB_AUTHORITIES`.
pub const SID_MAX_SUB_AUTHORITIES: usize = 15;

/// A security identifier in its binary form (as `SID` is laid out in memory), validated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sid {
    bytes: [u8; SID_MAX],
    len: u8,
}

impl core::fmt::Debug for Sid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl Sid {
    /// The SID whose binary form starts `bytes` (revision 1, at most 15 sub-authorities,
    /// all of them present); trailing bytes are ignored. `None` for anything else.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (&revision, &count) = (bytes.first()?, bytes.get(1)?);
        let count = usize::from(count);
        if revision != 1 || count > SID_MAX_SUB_AUTHORITIES {
            return None;
        }
        let len = 8 + 4 * count;
        let src = bytes.get(..len)?;
        let mut sid = Self { bytes: [0; SID_MAX], len: u8::try_from(len).ok()? };
        sid.bytes.get_mut(..len)?.copy_from_slice(src);
        Some(sid)
    }

    /// A SID from its identifier authority (48 bits) and sub-authorities.
    #[must_use]
    pub fn from_parts(authority: u64, sub_authorities: &[u32]) -> Option<Self> {
        if sub_authorities.len() > SID_MAX_SUB_AUTHORITIES || authority >> 48 != 0 {
            return None;
        }
        let mut bytes = [0u8; SID_MAX];
        bytes[0] = 1;
        bytes[1] = u8::try_from(sub_authorities.len()).ok()?;
        // The authority is big-endian, the sub-authorities native (little) endian.
        bytes.get_mut(2..8)?.copy_from_slice(authority.to_be_bytes().get(2..8)?);
        for (i, sub) in sub_authorities.iter().enumerate() {
            bytes.get_mut(8 + 4 * i..12 + 4 * i)?.copy_from_slice(&sub.to_le_bytes());
        }
        Self::from_bytes(&bytes)
    }

    /// Parses the string form `S-1-<authority>-<sub>-…` (decimal; an authority of 2^32
    /// or more may be hex, `0x…`, as `ConvertSidToStringSid` writes it).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix("S-1-").or_else(|| text.strip_prefix("s-1-"))?.split('-');
        let authority = parts.next()?;
        let authority = match authority.strip_prefix("0x").or_else(|| authority.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok()?,
            None => authority.parse().ok()?,
        };
        let mut subs = [0u32; SID_MAX_SUB_AUTHORITIES];
        let mut n = 0;
        for part in parts {
            *subs.get_mut(n)? = part.parse().ok()?;
            n += 1;
        }
        Self::from_parts(authority, subs.get(..n)?)
    }

    /// The binary form (8 + 4 × sub-authority count bytes).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The identifier authority.
    #[must_use]
    pub fn authority(&self) -> u64 {
        self.bytes.get(2..8).map_or(0, |b| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
    }

    /// The sub-authorities, in order.
    pub fn sub_authorities(&self) -> impl Iterator<Item = u32> + '_ {
        self.as_bytes().get(8..).unwrap_or(&[]).chunks_exact(4).map(|c| {
            u32::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
                c.get(2).copied().unwrap_or(0),
                c.get(3).copied().unwrap_or(0),
            ])
        })
    }

    /// The last sub-authority (an integrity label's level, an account's RID).
    #[must_use]
    pub fn rid(&self) -> Option<u32> {
        self.sub_authorities().last()
    }

    /// Writes the string form, `S-1-5-21-…`, through `put` (no allocation).
    pub fn write(&self, mut put: impl FnMut(&[u8])) {
        let mut buf = [0u8; 20];
        put(b"S-1-");
        let authority = self.authority();
        if authority >> 32 == 0 {
            put(crate::digits::dec(authority, &mut buf));
        } else {
            let mut hex = [0u8; 18];
            put(crate::digits::hex(authority, 12, &mut hex));
        }
        for sub in self.sub_authorities() {
            put(b"-");
            put(crate::digits::dec(u64::from(sub), &mut buf));
        }
    }
}

impl core::fmt::Display for Sid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_fmt(f, |put| self.write(put))
    }
}

/// Runs a `put`-style writer (ASCII pieces) into a formatter.
fn write_fmt(f: &mut core::fmt::Formatter<'_>, writer: impl FnOnce(&mut dyn FnMut(&[u8]))) -> core::fmt::Result {
    let mut result = Ok(());
    writer(&mut |piece: &[u8]| {
        if result.is_ok() {
            result = f.write_str(core::str::from_utf8(piece).unwrap_or("?"));
        }
    });
    result
}

/// What the worker learned from a new process's primary token. A field the host could
/// not read stays `None` (and the worker counts the failure): never guessed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenFacts {
    /// `TokenUser`: the account.
    pub user: Option<Sid>,
    /// `TokenIntegrityLevel`: the mandatory label's RID (`SECURITY_MANDATORY_*_RID`).
    pub integrity: Option<u32>,
    /// `TokenIsAppContainer`: an app container's token (Sysmon then says `AppContainer`).
    pub app_container: bool,
    /// `TokenStatistics`' `AuthenticationId`: the logon session.
    pub logon_id: Option<u64>,
}

impl TokenFacts {
    /// Whether nothing at all is known.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.user.is_none() && self.integrity.is_none() && self.logon_id.is_none()
    }

    /// Writes ` user=S-1-… integrity=… logon=0x…` through `put`: each fact it knows, and
    /// for one it does not, `unknown` (or nothing at all, with `None`).
    pub fn write(&self, unknown: Option<&[u8]>, mut put: impl FnMut(&[u8])) {
        match (self.user, unknown) {
            (Some(user), _) => {
                put(b" user=");
                user.write(&mut put);
            }
            (None, Some(unknown)) => {
                put(b" user=");
                put(unknown);
            }
            (None, None) => {}
        }
        match (self.integrity_level(), unknown) {
            (Some(level), _) => {
                put(b" integrity=");
                write_integrity(level, &mut put);
            }
            (None, Some(unknown)) => {
                put(b" integrity=");
                put(unknown);
            }
            (None, None) => {}
        }
        match (self.logon_id, unknown) {
            (Some(id), _) => {
                put(b" logon=");
                write_logon_id(id, &mut put);
            }
            (None, Some(unknown)) => {
                put(b" logon=");
                put(unknown);
            }
            (None, None) => {}
        }
    }

    /// The integrity level as Sysmon writes it ([`integrity_word`]), if known.
    #[must_use]
    pub fn integrity_level(&self) -> Option<Integrity> {
        self.integrity.map(|rid| integrity_word(rid, self.app_container))
    }
}

/// An integrity level's text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Integrity {
    /// A level with a name.
    Word(&'static str),
    /// A RID between the named levels, written `0x…`.
    Rid(u32),
}

/// The name of mandatory-label RID `rid`.
///
/// Sysmon's words for the levels Windows uses (`Untrusted`, `Low`, `Medium`, `High`,
/// `System`, and `AppContainer` for an app container's token, whatever its label), the
/// SDK's names for the other two it defines (`MediumPlus`, `Protected`), the RID in hex
/// for anything else.
#[must_use]
pub const fn integrity_word(rid: u32, app_container: bool) -> Integrity {
    if app_container {
        return Integrity::Word("AppContainer");
    }
    match rid {
        0x0000 => Integrity::Word("Untrusted"),
        0x1000 => Integrity::Word("Low"),
        0x2000 => Integrity::Word("Medium"),
        0x2100 => Integrity::Word("MediumPlus"),
        0x3000 => Integrity::Word("High"),
        0x4000 => Integrity::Word("System"),
        0x5000 => Integrity::Word("Protected"),
        other => Integrity::Rid(other),
    }
}

/// The RID Sysmon's integrity word names (the inverse of [`integrity_word`]; an
/// `AppContainer` token's label is Low).
#[must_use]
pub fn integrity_rid(word: &str) -> Option<(u32, bool)> {
    Some(match word {
        "Untrusted" => (0x0000, false),
        "Low" => (0x1000, false),
        "Medium" => (0x2000, false),
        "MediumPlus" => (0x2100, false),
        "High" => (0x3000, false),
        "System" => (0x4000, false),
        "Protected" => (0x5000, false),
        "AppContainer" => (0x1000, true),
        _ => return None,
    })
}

/// Writes an integrity level's text through `put`.
pub fn write_integrity(level: Integrity, mut put: impl FnMut(&[u8])) {
    match level {
        Integrity::Word(word) => put(word.as_bytes()),
        Integrity::Rid(rid) => {
            let mut hex = [0u8; 18];
            put(crate::digits::hex(u64::from(rid), 4, &mut hex));
        }
    }
}

/// A LUID as one number (`HighPart` in the upper half), as Sysmon prints it: `0x3e7`.
#[must_use]
pub const fn luid(low: u32, high: i32) -> u64 {
    ((high.cast_unsigned() as u64) << 32) | low as u64
}

/// Writes a logon id in Sysmon's form (`0x` and lower-case hex, no padding).
pub fn write_logon_id(id: u64, mut put: impl FnMut(&[u8])) {
    let mut hex = [0u8; 18];
    put(crate::digits::hex(id, 1, &mut hex));
}

/// Parses Sysmon's logon id form (`0x3e7`).
#[must_use]
pub fn parse_logon_id(text: &str) -> Option<u64> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))?;
    u64::from_str_radix(hex, 16).ok()
}

/// [`TokenFacts::write`] as `Display`, `-` for each fact not known (the driver's
/// token-probe line).
pub struct Shown<'a>(pub &'a TokenFacts);

impl core::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write_fmt(f, |put| self.0.write(Some(b"-"), put))
    }
}
