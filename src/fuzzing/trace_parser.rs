//! Fuzz harness: the replay's trace reader ([`crate::replay::trace`]) fed
//! arbitrary files (plain or gzip, told apart by the magic bytes), and its JSON string
//! decoder checked against `serde_json`.
//!
//! Checks: `trace::load` returns (a workload or an error) and never panics; a loaded
//! workload counts its malformed lines; every string `serde_json` accepts decodes to
//! the same text through `json_string_utf16`.

use crate::replay::trace;
use std::format;
use std::path::PathBuf;
use std::string::String;

/// One scratch file per process and thread (the loader reads files, not buffers; the
/// stable test runs harnesses on several threads), in memory where the system offers
/// it: a disk round trip per input costs ~3 ms.
fn scratch() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let thread: String = format!("{:?}", std::thread::current().id()).chars().filter(char::is_ascii_digit).collect();
    dir.join(format!("notifyring-fuzz-trace-{}-{thread}.jsonl", std::process::id()))
}

/// Runs the harness on one input (see the module doc); panics on a broken check.
pub fn run(data: &[u8]) {
    let path = scratch();
    std::fs::write(&path, data).expect("scratch file");
    let loaded = trace::load(std::slice::from_ref(&path));
    let _ = std::fs::remove_file(&path);
    match loaded {
        Ok(workload) => {
            assert!(workload.malformed.len() as u64 <= workload.malformed_lines, "shown ≤ counted malformed lines");
            assert_eq!(workload.sources.len(), 1, "one source line per file");
        }
        Err(e) => assert!(!e.reason.is_empty(), "an error says why"),
    }
    // The string decoder on arbitrary text, and against serde_json where it accepts it.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let decoded = trace::json_string_utf16(text);
    // The decoder takes the literal exactly as the parser delimited it (no whitespace).
    if let (Ok(reference), true) = (serde_json::from_str::<String>(text), text.trim() == text) {
        let units = decoded.unwrap_or_else(|| panic!("serde_json accepts {text:?} but json_string_utf16 does not"));
        assert_eq!(String::from_utf16(&units).ok().as_deref(), Some(reference.as_str()), "decoding {text:?}");
    }
}
