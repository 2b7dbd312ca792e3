//! Reading recorded traces: JSON Lines in the trace schema (docs/replay.md, "Input"),
//! plain or gzip-compressed (told apart by the gzip magic, not the file name).
//!
//! Null fields are normal and become 0, `false` or "no string". The optional file facts
//! of process creates and image loads (`original_file_name`, …, `signature_status`: what
//! Sysmon read from the image file) are kept per event, for the JSON output
//! ([`super::facts`]), and so are a remote thread's start facts (`start_address`,
//! `start_module`, `start_function`); a thread create with `creator_pid` is created by
//! that process, and `process_image`/`creator_image` name processes the trace never
//! creates, for the host's look-ups. A line that does not
//! fit the schema is skipped and reported as `FILE:LINE: reason`; a file that cannot be
//! read, is not JSON Lines at all, or holds no event is an error. Nothing here panics
//! on any input.

use super::workload::{Item, Malformed, Timed, Workload};
use crate::event::ClientId;
use crate::user::facts::FileFacts;
use crate::user::starts::{StartPlace, StartRegion, ThreadStart, parse_start_address};
use crate::vocab::token::{TokenFacts, integrity_rid, parse_logon_id};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::ToOwned;
use std::boxed::Box;
use std::fmt;
use std::format;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// Malformed lines kept (with their reasons) per file; further ones are only counted.
pub const MALFORMED_SHOWN_PER_FILE: usize = 1000;

/// Gap put between the end of one file's timeline and the start of the next.
const GAP_BETWEEN_FILES_NS: u64 = 1_000_000;

/// A trace that cannot be replayed at all.
#[derive(Debug)]
pub struct LoadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for LoadError {}

/// One line as recorded. Strings stay raw JSON so that escapes decode straight to UTF-16
/// (keeping unpaired surrogates, which a Rust `String` cannot hold).
#[derive(Deserialize)]
struct Line<'a> {
    t_ns: Option<u64>,
    kind: Option<String>,
    pid: Option<u64>,
    ppid: Option<u64>,
    tid: Option<u64>,
    #[serde(borrow)]
    image: Option<&'a RawValue>,
    #[serde(borrow)]
    cmdline: Option<&'a RawValue>,
    base: Option<u64>,
    size: Option<u64>,
    exit_code: Option<u64>,
    is_kernel: Option<bool>,
    /// Optional (Sysmon-derived traces): the parent's image, which the recording
    /// machine could name at that moment.
    #[serde(borrow)]
    parent_image: Option<&'a RawValue>,
    /// Optional (Sysmon-derived traces): the parent's command line, likewise.
    #[serde(borrow)]
    parent_cmdline: Option<&'a RawValue>,
    /// Optional: the new process's token facts, in Sysmon's forms.
    #[serde(borrow)]
    user: Option<&'a RawValue>,
    #[serde(borrow)]
    integrity_level: Option<&'a RawValue>,
    #[serde(borrow)]
    logon_id: Option<&'a RawValue>,
    /// Optional (Sysmon-derived traces): the image file's facts, as Sysmon wrote them.
    #[serde(borrow)]
    original_file_name: Option<&'a RawValue>,
    #[serde(borrow)]
    description: Option<&'a RawValue>,
    #[serde(borrow)]
    product: Option<&'a RawValue>,
    #[serde(borrow)]
    company: Option<&'a RawValue>,
    #[serde(borrow)]
    file_version: Option<&'a RawValue>,
    #[serde(borrow)]
    hashes: Option<&'a RawValue>,
    signed: Option<bool>,
    #[serde(borrow)]
    signature: Option<&'a RawValue>,
    #[serde(borrow)]
    signature_status: Option<&'a RawValue>,
    /// Optional (thread creates from Sysmon's event 8): the new thread's start address,
    /// the image holding it and the export at it.
    #[serde(borrow)]
    start_address: Option<&'a RawValue>,
    #[serde(borrow)]
    start_module: Option<&'a RawValue>,
    #[serde(borrow)]
    start_function: Option<&'a RawValue>,
    /// Optional (thread creates): the process whose thread created this one, and its image.
    creator_pid: Option<u64>,
    #[serde(borrow)]
    creator_image: Option<&'a RawValue>,
    /// Optional: the image the recording machine gave the event's own process.
    #[serde(borrow)]
    process_image: Option<&'a RawValue>,
}

/// Per-file counts, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Events taken from the file.
    pub events: u64,
    /// Lines skipped.
    pub malformed: u64,
}

/// Loads `paths` in order into one workload; each file's timeline follows the previous
/// one's.
///
/// # Errors
/// The first file that cannot be read, is not JSON Lines, or holds no event.
pub fn load(paths: &[PathBuf]) -> Result<Workload, LoadError> {
    let mut workload = Workload::default();
    let mut offset = 0u64;
    for path in paths {
        let before = workload.events.len();
        let stats = load_file(path, offset, &mut workload)?;
        offset = workload
            .events
            .get(before..)
            .and_then(|added| added.iter().map(|e| e.t_ns).max())
            .map_or(offset, |end| end.saturating_add(GAP_BETWEEN_FILES_NS));
        workload.sources.push(format!(
            "{} ({} events, {} malformed lines)",
            path.display(),
            stats.events,
            stats.malformed
        ));
    }
    Ok(workload)
}

fn open(path: &Path) -> Result<Box<dyn BufRead>, LoadError> {
    let error = |e: std::io::Error| LoadError { path: path.to_owned(), reason: format!("cannot read: {e}") };
    let mut file = BufReader::new(File::open(path).map_err(error)?);
    let gzip = file.fill_buf().map_err(error)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(BufReader::new(MultiGzDecoder::new(file))) } else { Box::new(file) })
}

fn load_file(path: &Path, offset: u64, workload: &mut Workload) -> Result<FileStats, LoadError> {
    let fail = |reason: String| LoadError { path: path.to_owned(), reason };
    let mut reader = open(path)?;
    let mut stats = FileStats::default();
    let mut buf = Vec::new();
    let mut number = 0u64;
    let mut seen_json = false;
    let mut last_t = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| fail(format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        number += 1;
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim_end_matches(['\n', '\r']),
            Err(e) if !seen_json => {
                return Err(fail(format!("not a JSON Lines trace (line {number}: not UTF-8: {e})")));
            }
            Err(e) => {
                skip(path, number, format!("not UTF-8: {e}"), &mut stats, workload);
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        if !seen_json {
            // The first line decides whether this is JSON Lines at all.
            let value: Result<Box<RawValue>, _> = serde_json::from_str(text);
            match value {
                Ok(v) if v.get().starts_with('{') => seen_json = true,
                Ok(_) => return Err(fail(format!("not a JSON Lines trace (line {number} is not a JSON object)"))),
                Err(e) => return Err(fail(format!("not a JSON Lines trace (line {number}: {e})"))),
            }
        }
        match parse_line(text, &mut last_t) {
            Ok(Parsed { t_ns, item, known, facts, token, start }) => {
                // The first name and the first command line the recording gives a pid: an
                // image load's `process_image` may name it before a create's
                // `parent_cmdline` gives its command line.
                for (pid, image, command_line) in known {
                    workload.processes.entry(pid).or_insert(image);
                    if let Some(command_line) = command_line {
                        workload.command_lines.entry(pid).or_insert(command_line);
                    }
                }
                if let Some(facts) = facts {
                    workload.file_facts.insert(workload.events.len(), facts);
                }
                if let Some(token) = token {
                    let user = token.user.as_ref().map(|name| (name, workload.accounts.sid_of(name)));
                    if let Some((name, None)) = user {
                        skip(path, number, format!("user {name:?}: no SID for it"), &mut stats, workload);
                        continue;
                    }
                    let user = user.and_then(|(_, sid)| sid);
                    let (integrity, app_container) = token.integrity.map_or((None, false), |(r, a)| (Some(r), a));
                    let facts = TokenFacts { user, integrity, app_container, logon_id: token.logon_id };
                    workload.tokens.insert(workload.events.len(), facts);
                }
                if let (Some((address, place)), Item::ThreadCreate { pid, tid, .. }) = (start, &item) {
                    let region = if place == StartPlace::NoImage { StartRegion::NoImage } else { StartRegion::Unknown };
                    workload.thread_starts.insert((*pid, *tid), ThreadStart { address, region });
                    workload.start_places.insert((*pid, address), place);
                }
                workload.events.push(Timed { t_ns: offset.saturating_add(t_ns), item });
                stats.events += 1;
            }
            Err(reason) => skip(path, number, reason, &mut stats, workload),
        }
    }
    if stats.events == 0 {
        return Err(fail(format!("no event in this file ({} malformed lines)", stats.malformed)));
    }
    Ok(stats)
}

fn skip(path: &Path, number: u64, reason: String, stats: &mut FileStats, workload: &mut Workload) {
    stats.malformed += 1;
    workload.malformed_lines += 1;
    let at = format!("{}:{number}", path.display());
    if usize::try_from(stats.malformed).is_ok_and(|n| n <= MALFORMED_SHOWN_PER_FILE) {
        workload.malformed.push(Malformed { at, reason });
    } else if usize::try_from(stats.malformed).is_ok_and(|n| n == MALFORMED_SHOWN_PER_FILE + 1) {
        workload
            .malformed
            .push(Malformed { at, reason: "further malformed lines in this file are counted, not shown".into() });
    }
}

/// Processes the host could name: pid, image path and command line where known (the
/// event's own process, and a process-create's parent where the recording names it).
type Known = Vec<(u64, Box<[u16]>, Option<Box<[u16]>>)>;

/// A process create's token facts as recorded: the account's name, the integrity
/// label's RID (and whether it is an app container's), the logon id.
#[derive(Default)]
struct RecordedToken {
    user: Option<String>,
    integrity: Option<(u32, bool)>,
    logon_id: Option<u64>,
}

/// One parsed line.
struct Parsed {
    t_ns: u64,
    item: Item,
    known: Known,
    facts: Option<FileFacts>,
    token: Option<RecordedToken>,
    /// A thread create's start address and its place, as recorded.
    start: Option<(u64, StartPlace)>,
}

/// The line's token facts (process creates). A value Sysmon would not write (an
/// integrity word it has no level for, a logon id not in `0x…` form) makes the line
/// malformed.
fn token(line: &Line<'_>) -> Result<Option<RecordedToken>, String> {
    let text = |raw, key| string(raw, key).map(|s| s.map(|units| String::from_utf16_lossy(&units)));
    let user = text(line.user, "user")?;
    let integrity = text(line.integrity_level, "integrity_level")?
        .map(|w| integrity_rid(&w).ok_or_else(|| format!("integrity_level {w:?} is no integrity level")))
        .transpose()?;
    let logon_id = text(line.logon_id, "logon_id")?
        .map(|w| parse_logon_id(&w).ok_or_else(|| format!("logon_id {w:?} is not 0x and hex digits")))
        .transpose()?;
    let token = RecordedToken { user, integrity, logon_id };
    let any = token.user.is_some() || token.integrity.is_some() || token.logon_id.is_some();
    Ok(any.then_some(token))
}

/// One line → its time, event, the process names learnt, its image file's facts and
/// a process create's token facts. `last_t` stands in for a null time.
fn parse_line(text: &str, last_t: &mut u64) -> Result<Parsed, String> {
    let line: Line<'_> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let t_ns = line.t_ns.unwrap_or(*last_t);
    *last_t = t_ns;
    let pid = line.pid.unwrap_or(0);
    let image = string(line.image, "image")?;
    let item = match line.kind.as_deref() {
        Some("process_create") => Item::ProcessCreate {
            pid,
            parent_pid: line.ppid.unwrap_or(0),
            // The recordings name the creating thread at most, never its process: the
            // parent is the usual creator.
            creator: ClientId { pid: line.ppid.unwrap_or(0), tid: line.tid.unwrap_or(0) },
            file_open_name_available: image.is_some(),
            subsystem_process: false,
            image: image.clone(),
            command_line: string(line.cmdline, "cmdline")?,
        },
        Some("process_exit") => {
            let exit_code = line.exit_code.unwrap_or(0);
            let exit_status =
                u32::try_from(exit_code).map_err(|_| format!("exit_code {exit_code} does not fit 32 bits"))?;
            Item::ProcessExit { pid, exit_status }
        }
        // Created by `creator_pid`'s thread where recorded (its thread id is not), else by
        // its own process.
        Some("thread_create") => Item::ThreadCreate {
            pid,
            tid: line.tid.unwrap_or(0),
            creator: ClientId { pid: line.creator_pid.unwrap_or(pid), tid: 0 },
        },
        Some("thread_exit") => Item::ThreadExit { pid, tid: line.tid.unwrap_or(0) },
        Some("image_load") => Item::ImageLoad {
            pid,
            base: line.base.unwrap_or(0),
            size: line.size.unwrap_or(0),
            kernel_image: line.is_kernel.unwrap_or(false),
            signature_level: 0,
            signature_type: 0,
            image: image.clone(),
        },
        Some(other) => return Err(format!("unknown kind {other:?}")),
        None => return Err("no kind".to_owned()),
    };
    let mut known = Vec::new();
    if let (Item::ProcessCreate { .. } | Item::ProcessExit { .. }, Some(image)) = (&item, image)
        && pid != 0
    {
        let command_line = match &item {
            Item::ProcessCreate { command_line, .. } => command_line.clone(),
            _ => None,
        };
        known.push((pid, image, command_line));
    }
    if let (Item::ProcessCreate { parent_pid, .. }, Some(parent)) = (&item, string(line.parent_image, "parent_image")?)
        && *parent_pid != 0
    {
        known.push((*parent_pid, parent, string(line.parent_cmdline, "parent_cmdline")?));
    }
    // What the recording machine answered for the event's own process and a thread's
    // creator: the host's look-up serves it for processes the trace never creates.
    if let Some(image) = string(line.process_image, "process_image")?
        && pid != 0
    {
        known.push((pid, image, None));
    }
    if let (Some(creator), Some(image)) = (line.creator_pid, string(line.creator_image, "creator_image")?)
        && creator != 0
    {
        known.push((creator, image, None));
    }
    // File facts belong to the events that name an image file.
    let facts = match item {
        Item::ProcessCreate { .. } | Item::ImageLoad { .. } => file_facts(&line)?,
        _ => None,
    };
    let token = if matches!(item, Item::ProcessCreate { .. }) { token(&line)? } else { None };
    let start = if matches!(item, Item::ThreadCreate { .. }) { start(&line)? } else { None };
    Ok(Parsed { t_ns, item, known, facts, token, start })
}

/// A thread create's start address and where it lies, as recorded. Without
/// `start_module` the thread started outside every image: the traces drop Sysmon's empty
/// `StartModule` and `StartFunction`. A start address that is not `0x` and hex digits
/// makes the line malformed.
fn start(line: &Line<'_>) -> Result<Option<(u64, StartPlace)>, String> {
    let text = |raw, key| string(raw, key).map(|s| s.map(|units| String::from_utf16_lossy(&units)));
    let Some(address) = text(line.start_address, "start_address")? else { return Ok(None) };
    let address =
        parse_start_address(&address).ok_or_else(|| format!("start_address {address:?} is not 0x and hex digits"))?;
    let place = match text(line.start_module, "start_module")? {
        Some(path) => StartPlace::Image { path, function: text(line.start_function, "start_function")? },
        None => StartPlace::NoImage,
    };
    Ok(Some((address, place)))
}

/// The line's file facts, if it has any. A string that is not one makes the line
/// malformed; an unpaired surrogate (which a fact, read as Rust text, cannot hold)
/// becomes U+FFFD, as it would when the CLI reads the version resource.
fn file_facts(line: &Line<'_>) -> Result<Option<FileFacts>, String> {
    let text = |raw, key| string(raw, key).map(|s| s.map(|units| String::from_utf16_lossy(&units)));
    let facts = FileFacts {
        original_file_name: text(line.original_file_name, "original_file_name")?,
        description: text(line.description, "description")?,
        product: text(line.product, "product")?,
        company: text(line.company, "company")?,
        file_version: text(line.file_version, "file_version")?,
        hashes: text(line.hashes, "hashes")?,
        signed: line.signed,
        signature: text(line.signature, "signature")?,
        signature_status: text(line.signature_status, "signature_status")?,
    };
    Ok((!facts.is_empty()).then_some(facts))
}

/// A raw JSON value that must be a string or absent, as UTF-16.
fn string(raw: Option<&RawValue>, key: &str) -> Result<Option<Box<[u16]>>, String> {
    raw.map(|r| json_string_utf16(r.get()).ok_or_else(|| format!("{key}: expected a string or null"))).transpose()
}

/// Decodes a JSON string literal (already validated by the parser) to UTF-16 units,
/// `\uXXXX` escapes verbatim, so unpaired surrogates survive.
#[must_use]
pub fn json_string_utf16(literal: &str) -> Option<Box<[u16]>> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut units = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut pair = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut pair));
            continue;
        }
        let unit = match chars.next()? {
            '"' => 0x22,
            '\\' => 0x5c,
            '/' => 0x2f,
            'b' => 0x08,
            'f' => 0x0c,
            'n' => 0x0a,
            'r' => 0x0d,
            't' => 0x09,
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 {
                    return None;
                }
                u16::from_str_radix(&hex, 16).ok()?
            }
            _ => return None,
        };
        units.push(unit);
    }
    Some(units.into_boxed_slice())
}
