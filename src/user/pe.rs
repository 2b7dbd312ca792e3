//! An image file's facts from its bytes: version-resource strings and Sysmon's hashes.
//!
//! Portable: the CLI feeds it the file on disk (its `DiskFacts`, cli/src/disk.rs), tests
//! feed it Wine's own PE files.
//!
//! * [`version_strings`]: `OriginalFilename`, `FileDescription`, `ProductName`,
//!   `CompanyName`, `FileVersion` from the `StringFileInfo` of the first `RT_VERSION`
//!   resource: its first name, in US English (0x409) if the file has that language,
//!   else language-neutral (0), else its first language (Wine's DLLs carry one version
//!   resource per language; Windows' own files one, in 0x409 or neutral). `VS_VERSIONINFO` is parsed by hand (the
//!   `object` crate finds the resource, it does not decode it). One string table is
//!   chosen, in this order: `040904B0` (US English, Unicode), `040904E4` (US English,
//!   Windows-1252), the one the first `VarFileInfo\Translation` entry names (what
//!   `VerQueryValue` callers look up), the first table in the file. English first
//!   because detection rules compare English strings, and a multilingual file (Wine's
//!   kernel32.dll lists Arabic first) should read as it does on an English system.
//!   A value is the text up to its first NUL (`wValueLength` is unreliable in real
//!   files); an empty value is absent.
//! * [`imphash`]: pefile's `get_imphash`: for each import of the import directory (not
//!   the delay-load one), in file order, `dll.function` lowercased, the DLL name without
//!   a `.dll`, `.ocx` or `.sys` extension; an import by ordinal is named from pefile's
//!   `ordlookup` tables for `oleaut32.dll`, `ws2_32.dll` and `wsock32.dll` (the same
//!   tables, `ordinals`) and is `ord<N>` otherwise; joined by `,`, MD5 of that. A file
//!   without imports (or not a PE) has none: Sysmon then prints 32 zeros (seen in the
//!   traces, e.g. for `win32u.dll`), and so does [`Hashes::format`].
//! * [`Hashes`]: which algorithms, and the `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` string
//!   (uppercase hex, always in that order, as Sysmon writes it).
//! * [`exports`]: the exported function at each address of the mapped image (Sysmon's
//!   `StartFunction`), from the export directory: a named export whose address is exactly
//!   that RVA (forwarders name another DLL's function and never match).
//!
//! Bad input never panics: anything malformed or truncated makes the affected fact
//! absent (a property test feeds arbitrary and mutated bytes).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use md5::Md5;
use object::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageThunkData as _, PeFile, ResourceDirectory, ResourceNameOrId};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use super::facts::FileFacts;

mod ordinals;

/// The version resource's strings Sysmon prints. Absent: no resource, no such string,
/// or an empty one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionStrings {
    /// `OriginalFilename`.
    pub original_file_name: Option<String>,
    /// `FileDescription`.
    pub description: Option<String>,
    /// `ProductName`.
    pub product: Option<String>,
    /// `CompanyName`.
    pub company: Option<String>,
    /// `FileVersion` (the string, not the fixed binary version).
    pub file_version: Option<String>,
}

/// The hash algorithms to print. Sysmon's order is fixed: SHA1, MD5, SHA256, IMPHASH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "one switch per algorithm, as Sysmon's HashAlgorithms")]
pub struct Hashes {
    /// `SHA1=`.
    pub sha1: bool,
    /// `MD5=`.
    pub md5: bool,
    /// `SHA256=`.
    pub sha256: bool,
    /// `IMPHASH=`.
    pub imphash: bool,
}

impl Default for Hashes {
    /// All four: what every hash in the recorded Sysmon traces carries
    /// (`SHA1=…,MD5=…,SHA256=…,IMPHASH=…`, the OTRF recordings' configuration).
    fn default() -> Self {
        Self::ALL
    }
}

impl Hashes {
    /// Every algorithm (Sysmon's `*`).
    pub const ALL: Self = Self { sha1: true, md5: true, sha256: true, imphash: true };
    /// None: no `Hashes` field.
    pub const NONE: Self = Self { sha1: false, md5: false, sha256: false, imphash: false };

    /// Parses a comma list of `sha1`, `md5`, `sha256`, `imphash` (any case, spaces
    /// allowed), `*` for all, or `none`.
    ///
    /// # Errors
    /// A one-line message naming the unknown word, or saying the list is empty.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut hashes = Self::NONE;
        let mut words = 0usize;
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            words += 1;
            match word.to_ascii_lowercase().as_str() {
                "sha1" => hashes.sha1 = true,
                "md5" => hashes.md5 = true,
                "sha256" => hashes.sha256 = true,
                "imphash" => hashes.imphash = true,
                "*" => hashes = Self::ALL,
                "none" => {}
                _ => {
                    return Err(alloc::format!(
                        "unknown hash {word:?} (expected sha1, md5, sha256, imphash, * or none)"
                    ));
                }
            }
        }
        if words == 0 {
            return Err(String::from("no hash algorithms given (expected sha1, md5, sha256, imphash, * or none)"));
        }
        Ok(hashes)
    }

    /// Whether no algorithm is chosen.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        !(self.sha1 || self.md5 || self.sha256 || self.imphash)
    }

    /// The `Hashes` value for a file's bytes, or `None` if no algorithm is chosen.
    /// `IMPHASH` is 32 zeros where the file has no imports (as Sysmon writes it).
    #[must_use]
    pub fn format(self, data: &[u8]) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut out = String::new();
        let mut field = |name: &str, digest: &[u8]| {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
            out.push('=');
            push_hex(&mut out, digest);
        };
        if self.sha1 {
            field("SHA1", &Sha1::digest(data));
        }
        if self.md5 {
            field("MD5", &Md5::digest(data));
        }
        if self.sha256 {
            field("SHA256", &Sha256::digest(data));
        }
        if self.imphash {
            field("IMPHASH", &imphash(data).unwrap_or([0; 16]));
        }
        Some(out)
    }
}

/// Appends `bytes` as uppercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02X}");
    }
}

/// The facts a file's bytes give: its version strings and the chosen hashes (the
/// signature fields are the caller's: Windows verifies the file, not its bytes).
#[must_use]
pub fn file_facts(data: &[u8], hashes: Hashes) -> FileFacts {
    let v = version_strings(data);
    FileFacts {
        original_file_name: v.original_file_name,
        description: v.description,
        product: v.product,
        company: v.company,
        file_version: v.file_version,
        hashes: hashes.format(data),
        ..FileFacts::default()
    }
}

/// Runs `f` on the file parsed as PE32 or PE32+; `None` for anything else.
fn with_pe<'a, T>(
    data: &'a [u8],
    f32: impl FnOnce(&PeFile<'a, pe::ImageNtHeaders32>) -> Option<T>,
    f64: impl FnOnce(&PeFile<'a, pe::ImageNtHeaders64>) -> Option<T>,
) -> Option<T> {
    match object::FileKind::parse(data).ok()? {
        object::FileKind::Pe32 => f32(&PeFile::parse(data).ok()?),
        object::FileKind::Pe64 => f64(&PeFile::parse(data).ok()?),
        _ => None,
    }
}

// --- Exports ---------------------------------------------------------------------------

/// A file's named exports by address: (RVA, name), sorted by RVA, one name per address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exports(Vec<(u32, String)>);

impl Exports {
    /// The named function exported at `rva` (an offset into the mapped image), if any.
    #[must_use]
    pub fn at(&self, rva: u32) -> Option<&str> {
        let i = self.0.binary_search_by_key(&rva, |&(a, _)| a).ok()?;
        self.0.get(i).map(|(_, name)| name.as_str())
    }

    /// How many addresses have a name.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none has.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The named exports of `data` (empty for a file that is not a PE or exports nothing).
///
/// Where several names share an address, the first in the export name table (which is
/// sorted) names it. Forwarders name another DLL's function and are left out.
#[must_use]
pub fn exports(data: &[u8]) -> Exports {
    with_pe(data, |f| Some(named_exports(f)), |f| Some(named_exports(f))).unwrap_or_default()
}

fn named_exports<Pe: ImageNtHeaders>(file: &PeFile<'_, Pe>) -> Exports {
    let Ok(Some(table)) = file.export_table() else { return Exports::default() };
    let mut named: Vec<(u32, String)> = Vec::new();
    for (name, index) in table.name_iter() {
        let Ok(address) = table.address_by_index(u32::from(index)) else { continue };
        let Ok(name) = table.name_from_pointer(name) else { continue };
        if !table.is_forward(address) {
            named.push((address, String::from_utf8_lossy(name).into_owned()));
        }
    }
    // Stable: names stay in table order within an address, and the first is kept.
    named.sort_by_key(|&(address, _)| address);
    named.dedup_by_key(|&mut (address, _)| address);
    Exports(named)
}

// --- Imports ---------------------------------------------------------------------------

/// The import hash (MD5 of pefile's import string, see the module doc), or `None` for a
/// file that is not a PE or has no imports.
#[must_use]
pub fn imphash(data: &[u8]) -> Option<[u8; 16]> {
    let list = import_string(data)?;
    Some(Md5::digest(list.as_bytes()).into())
}

/// pefile's import string: `dll.function,…`, lowercase; `None` without imports.
#[must_use]
pub fn import_string(data: &[u8]) -> Option<String> {
    let names = with_pe(data, |f| imports(f, data), |f| imports(f, data))?;
    (!names.is_empty()).then(|| names.join(","))
}

/// The `dll.function` names of the import directory, in file order. A malformed
/// descriptor or thunk ends the list (what was read before it stays), as pefile stops.
fn imports<Pe: ImageNtHeaders>(file: &PeFile<'_, Pe>, data: &[u8]) -> Option<Vec<String>> {
    let table = file.data_directories().import_table(data, &file.section_table()).ok()??;
    let mut descriptors = table.descriptors().ok()?;
    let mut names = Vec::new();
    while let Ok(Some(descriptor)) = descriptors.next() {
        let Ok(dll) = table.name(descriptor.name.get(LE)) else { break };
        let dll = String::from_utf8_lossy(dll).to_lowercase();
        let stem = match dll.rsplit_once('.') {
            Some((stem, "dll" | "ocx" | "sys")) => String::from(stem),
            _ => dll.clone(),
        };
        // The lookup table (OriginalFirstThunk) unless absent, then the IAT.
        let lookup = match descriptor.original_first_thunk.get(LE) {
            0 => descriptor.first_thunk.get(LE),
            rva => rva,
        };
        let Ok(mut thunks) = table.thunks(lookup) else { break };
        while let Ok(Some(thunk)) = thunks.next::<Pe>() {
            let function = if thunk.is_ordinal() {
                ordinal_name(&dll, thunk.ordinal())
            } else {
                match table.hint_name(thunk.address()) {
                    Ok((_, name)) => String::from_utf8_lossy(name).to_lowercase(),
                    Err(_) => break,
                }
            };
            names.push(alloc::format!("{stem}.{function}"));
        }
    }
    Some(names)
}

/// pefile's name for import `ordinal` of `dll` (full name, lowercase), lowercased.
fn ordinal_name(dll: &str, ordinal: u16) -> String {
    let table: &[(u16, &str)] = match dll {
        "oleaut32.dll" => ordinals::OLEAUT32,
        "ws2_32.dll" => ordinals::WS2_32,
        "wsock32.dll" => ordinals::WSOCK32,
        _ => &[],
    };
    table
        .binary_search_by_key(&ordinal, |&(o, _)| o)
        .ok()
        .and_then(|i| table.get(i))
        .map_or_else(|| alloc::format!("ord{ordinal}"), |&(_, name)| name.to_lowercase())
}

// --- The version resource ----------------------------------------------------------------

/// `RT_VERSION`.
const RT_VERSION: u16 = 16;

/// The version resource's strings (see the module doc for which table); all absent if
/// the file has none or is not a PE.
#[must_use]
pub fn version_strings(data: &[u8]) -> VersionStrings {
    with_pe(data, |f| version_resource(f, data), |f| version_resource(f, data))
        .map(parse_version_info)
        .unwrap_or_default()
}

/// The bytes of the first `RT_VERSION` resource (first name; language as the module doc says).
fn version_resource<'a, Pe: ImageNtHeaders>(file: &PeFile<'a, Pe>, data: &'a [u8]) -> Option<&'a [u8]> {
    let sections = file.section_table();
    let dir: ResourceDirectory<'a> = file.data_directories().resource_directory(data, &sections).ok()??;
    let root = dir.root().ok()?;
    let types = root.entries.iter().find(|e| matches!(e.name_or_id(), ResourceNameOrId::Id(RT_VERSION)))?;
    let names = types.data(dir).ok()?.table()?;
    let languages = names.entries.first()?.data(dir).ok()?.table()?;
    let id = |e: &&pe::ImageResourceDirectoryEntry| match e.name_or_id() {
        ResourceNameOrId::Id(id) => Some(id),
        ResourceNameOrId::Name(_) => None,
    };
    let language = [0x0409, 0]
        .iter()
        .find_map(|&want| languages.entries.iter().find(|e| id(e) == Some(want)))
        .or_else(|| languages.entries.first())?;
    let entry = language.data(dir).ok()?.data()?;
    let bytes = sections.pe_data_at(data, entry.offset_to_data.get(LE))?;
    let size = usize::try_from(entry.size.get(LE)).ok()?;
    Some(bytes.get(..size).unwrap_or(bytes))
}

/// One `VS_VERSIONINFO`-style block: `wLength`, `wValueLength`, `wType`, `szKey`,
/// padding, value, padding, children.
struct Block<'a> {
    key: Vec<u16>,
    /// From the value's start to the block's end (the value, then the children).
    value: &'a [u8],
    /// `wValueLength` (bytes for binary values, UTF-16 units for text).
    value_length: usize,
    /// Whether `wType` says text.
    text: bool,
    /// The children's bytes (after the value, 4-aligned).
    children: &'a [u8],
}

const fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Parses the block at the start of `data`; also returns its length (`wLength`,
/// clamped to `data`). `None` if it is too short to be one.
fn block(data: &[u8]) -> Option<(Block<'_>, usize)> {
    let length = usize::from(crate::bytes::le16(data, 0)?).min(data.len());
    if length < 6 {
        return None;
    }
    let data = data.get(..length)?;
    let value_length = usize::from(crate::bytes::le16(data, 2)?);
    let text = crate::bytes::le16(data, 4)? == 1;
    let mut key = Vec::new();
    let mut at = 6;
    loop {
        let unit = crate::bytes::le16(data, at)?;
        at += 2;
        if unit == 0 {
            break;
        }
        key.push(unit);
    }
    let value_start = align4(at).min(length);
    let value = data.get(value_start..).unwrap_or(&[]);
    let value_bytes = if text { value_length.saturating_mul(2) } else { value_length };
    let children_start = align4(value_start.saturating_add(value_bytes)).min(length);
    let children = data.get(children_start..).unwrap_or(&[]);
    Some((Block { key, value, value_length, text, children }, length))
}

/// The blocks in `data`, one after another at 4-byte boundaries.
fn children(mut data: &[u8]) -> impl Iterator<Item = Block<'_>> {
    core::iter::from_fn(move || {
        let (b, length) = block(data)?;
        data = data.get(align4(length)..).unwrap_or(&[]);
        Some(b)
    })
}

fn key_is(block: &Block<'_>, name: &str) -> bool {
    block.key.iter().copied().eq(name.encode_utf16())
}

/// A string block's value: UTF-16 up to the first NUL; `None` if empty.
fn text_value(block: &Block<'_>) -> Option<String> {
    let units: Vec<u16> = crate::bytes::utf16(block.value).take_while(|&u| u != 0).collect();
    // A string block without a value (wValueLength 0) has none, even if bytes follow.
    if units.is_empty() || (block.text && block.value_length == 0) {
        return None;
    }
    Some(String::from_utf16_lossy(&units))
}

fn parse_version_info(resource: &[u8]) -> VersionStrings {
    let Some((root, _)) = block(resource) else { return VersionStrings::default() };
    let mut tables: Vec<Block<'_>> = Vec::new();
    let mut translation: Option<String> = None;
    for child in children(root.children) {
        if key_is(&child, "StringFileInfo") {
            tables.extend(children(child.children));
        } else if key_is(&child, "VarFileInfo") && translation.is_none() {
            translation = children(child.children).find(|v| key_is(v, "Translation")).and_then(|v| {
                let lang = crate::bytes::le16(v.value, 0)?;
                let codepage = crate::bytes::le16(v.value, 2)?;
                (v.value_length >= 4).then(|| alloc::format!("{lang:04X}{codepage:04X}"))
            });
        }
    }
    let named = |name: &str| tables.iter().position(|t| String::from_utf16_lossy(&t.key).eq_ignore_ascii_case(name));
    let chosen = named("040904B0")
        .or_else(|| named("040904E4"))
        .or_else(|| translation.as_deref().and_then(named))
        .or_else(|| (!tables.is_empty()).then_some(0));
    let Some(table) = chosen.and_then(|i| tables.get(i)) else { return VersionStrings::default() };
    let mut v = VersionStrings::default();
    for string in children(table.children) {
        let slot = match String::from_utf16_lossy(&string.key).as_str() {
            "OriginalFilename" => &mut v.original_file_name,
            "FileDescription" => &mut v.description,
            "ProductName" => &mut v.product,
            "CompanyName" => &mut v.company,
            "FileVersion" => &mut v.file_version,
            _ => continue,
        };
        if slot.is_none() {
            *slot = text_value(&string);
        }
    }
    v
}
