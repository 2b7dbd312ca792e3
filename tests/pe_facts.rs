//! `user::pe` against real PE files and independent tools:
//!
//! * Wine's own PE files (/usr/lib/x86_64-linux-gnu/wine/x86_64-windows/): the version
//!   strings and IMPHASH of every `.exe`, `.dll` and `.sys` there, against pefile
//!   (`tests/tools/pefile_facts.py`); SHA1, MD5 and SHA256 of a few against coreutils'
//!   `sha1sum`/`md5sum`/`sha256sum`; a few version strings known by hand;
//! * the project's own release driver (target/wine-smoke/notifyring.sys, built by
//!   tools/smoke-wine.sh) the same way;
//! * arbitrary and mutated bytes: no panic.
//!
//! What this machine lacks (Wine, pefile, the .sys) is said on stderr, never passed
//! silently: such a check prints `SKIPPED: …`. Under CI (`CI` set) a missing Wine or
//! pefile fails instead (.ci/run installs both first), and so does a missing .sys when
//! `NOTIFYRING_REQUIRE_SYS` is set (.ci/run runs this test again after the Wine lane).

use std::path::{Path, PathBuf};
use std::process::Command;

use notifyring::user::pe::{self, Hashes};
use proptest::prelude::*;

const WINE_DIR: &str = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";

/// A check this machine cannot make: said on stderr, or a failure where `require_var`
/// is set (CI must make it).
fn skipped(require_var: &str, why: &str) {
    assert!(std::env::var_os(require_var).is_none(), "{require_var} is set, but: {why}");
    eprintln!("SKIPPED: {why}");
}

fn wine_file(name: &str) -> Option<PathBuf> {
    let path = Path::new(WINE_DIR).join(name);
    if path.is_file() {
        Some(path)
    } else {
        skipped("CI", &format!("{} is missing (Debian package wine64)", path.display()));
        None
    }
}

/// The PE files of Wine's directory, sorted.
fn wine_files() -> Vec<PathBuf> {
    let Ok(dir) = std::fs::read_dir(WINE_DIR) else {
        skipped("CI", &format!("no {WINE_DIR} (Debian package wine64)"));
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| ["exe", "dll", "sys"].iter().any(|e| x.eq_ignore_ascii_case(e))))
        .collect();
    files.sort();
    files
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `tool FILE`'s digest, uppercase.
fn coreutils_digest(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(out.status.success(), "{tool} failed");
    String::from_utf8(out.stdout).expect("utf-8").split_whitespace().next().expect("digest").to_uppercase()
}

fn hashes_match_coreutils(path: &Path) {
    let data = std::fs::read(path).expect("read");
    let want_imphash = pe::imphash(&data).map_or_else(|| "0".repeat(32), |h| hex(&h).to_uppercase());
    let want = format!(
        "SHA1={},MD5={},SHA256={},IMPHASH={want_imphash}",
        coreutils_digest("sha1sum", path),
        coreutils_digest("md5sum", path),
        coreutils_digest("sha256sum", path),
    );
    assert_eq!(Hashes::default().format(&data).as_deref(), Some(want.as_str()), "{}", path.display());
    let only = Hashes::parse("sha256, IMPHASH").expect("parse");
    let sha256 = coreutils_digest("sha256sum", path);
    assert_eq!(only.format(&data), Some(format!("SHA256={sha256},IMPHASH={want_imphash}")));
}

#[test]
fn hashes_match_coreutils_on_wine_files() {
    for name in ["notepad.exe", "kernel32.dll", "ntoskrnl.exe", "ws2_32.dll"] {
        if let Some(path) = wine_file(name) {
            hashes_match_coreutils(&path);
        }
    }
}

#[test]
fn version_strings_of_known_wine_files() {
    let Some(path) = wine_file("ntoskrnl.exe") else { return };
    let v = pe::version_strings(&std::fs::read(path).expect("read"));
    assert_eq!(v.original_file_name.as_deref(), Some("ntoskrnl.exe"));
    assert_eq!(v.company.as_deref(), Some("Microsoft Corporation"));
    assert_eq!(v.product.as_deref(), Some("Wine"));
    assert!(v.file_version.is_some_and(|s| s.starts_with("6.1.")));
    // kernel32.dll's first translation is not English: the English table wins.
    let Some(path) = wine_file("kernel32.dll") else { return };
    let v = pe::version_strings(&std::fs::read(path).expect("read"));
    assert_eq!(v.original_file_name.as_deref(), Some("kernel32.dll"));
    assert_eq!(v.product.as_deref(), Some("Wine"));
}

/// What pefile says about `files` (one JSON object per file), or `None` if this
/// machine has no python3 with pefile.
fn pefile_facts(files: &[PathBuf]) -> Option<Vec<serde_json::Value>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/pefile_facts.py");
    let probe = Command::new("python3").args(["-c", "import pefile"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skipped("CI", "no python3 module pefile (pip install pefile): IMPHASH and version strings not compared");
        return None;
    }
    let out = Command::new("python3").arg(script).args(files).output().expect("python3");
    assert!(out.status.success(), "pefile_facts.py: {}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8(out.stdout).expect("utf-8");
    Some(lines.lines().map(|l| serde_json::from_str(l).expect("json")).collect())
}

/// Compares `files` with pefile; returns (files compared, with imports, with strings,
/// exported addresses).
fn compare_with_pefile(files: &[PathBuf]) -> Option<(usize, usize, usize, usize)> {
    let reference = pefile_facts(files)?;
    assert_eq!(reference.len(), files.len());
    let (mut imports, mut strings, mut compared, mut exports) = (0, 0, 0, 0);
    for (path, want) in files.iter().zip(&reference) {
        let data = std::fs::read(path).expect("read");
        if want.get("error").is_some() {
            // pefile refuses it: ours must not invent facts either.
            assert_eq!(pe::import_string(&data), None, "{}", path.display());
            continue;
        }
        compared += 1;
        let imphash = pe::imphash(&data).map_or_else(String::new, |h| hex(&h));
        assert_eq!(imphash, want["imphash"].as_str().expect("imphash"), "IMPHASH of {}", path.display());
        imports += usize::from(!imphash.is_empty());
        let v = pe::version_strings(&data);
        let s = &want["strings"];
        for (key, ours) in [
            ("OriginalFilename", &v.original_file_name),
            ("FileDescription", &v.description),
            ("ProductName", &v.product),
            ("CompanyName", &v.company),
            ("FileVersion", &v.file_version),
        ] {
            assert_eq!(ours.as_deref(), s.get(key).and_then(|x| x.as_str()), "{key} of {}", path.display());
        }
        strings += usize::from(v.original_file_name.is_some() || v.file_version.is_some());
        exports += exports_match(&data, path, &want["exports"]);
    }
    Some((compared, imports, strings, exports))
}

/// `StartFunction`'s look-up against pefile's export list: at every exported address the
/// first name (in name order) pefile gives there; one byte past it, nothing unless
/// another export starts there.
fn exports_match(data: &[u8], path: &Path, want: &serde_json::Value) -> usize {
    let mut first: std::collections::BTreeMap<u32, &str> = std::collections::BTreeMap::new();
    for export in want.as_array().expect("exports") {
        let rva = u32::try_from(export[0].as_u64().expect("rva")).expect("an RVA fits 32 bits");
        first.entry(rva).or_insert_with(|| export[1].as_str().expect("name"));
    }
    let exports = pe::exports(data);
    assert_eq!(exports.len(), first.len(), "exported addresses of {}", path.display());
    for (&rva, &name) in &first {
        assert_eq!(exports.at(rva), Some(name), "export at {rva:#x} of {}", path.display());
        if !first.contains_key(&(rva + 1)) {
            assert_eq!(exports.at(rva + 1), None, "{rva:#x} + 1 of {}", path.display());
        }
    }
    first.len()
}

#[test]
fn every_wine_pe_file_matches_pefile() {
    let files = wine_files();
    if files.is_empty() {
        return;
    }
    if let Some((compared, imports, strings, exports)) = compare_with_pefile(&files) {
        eprintln!(
            "pefile agrees on {compared} of {} Wine PE files ({imports} with imports, {strings} with version \
             strings, {exports} exported addresses)",
            files.len()
        );
        // Not vacuous: most of Wine's files import something; about a third carry a
        // version resource (224 of 665 with Wine 8); kernel32.dll alone exports ~1,600.
        assert!(compared > files.len() / 2 && imports > compared / 2 && strings > compared / 5 && exports > 10_000);
    }
}

#[test]
fn the_projects_driver_matches_pefile_and_coreutils() {
    let sys = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wine-smoke/notifyring.sys");
    if !sys.is_file() {
        skipped("NOTIFYRING_REQUIRE_SYS", &format!("no {} (bash tools/smoke-wine.sh builds it)", sys.display()));
        return;
    }
    hashes_match_coreutils(&sys);
    let data = std::fs::read(&sys).expect("read");
    let imports = pe::import_string(&data).expect("the driver imports from ntoskrnl");
    assert!(imports.split(',').all(|i| i.starts_with("ntoskrnl.exe.") || i.starts_with("hal.")), "{imports}");
    if let Some((compared, with_imports, _, _)) = compare_with_pefile(std::slice::from_ref(&sys)) {
        assert_eq!((compared, with_imports), (1, 1));
    }
}

#[test]
fn not_a_pe_has_no_facts_but_hashes() {
    let data = b"#!/bin/sh\necho not a PE\n";
    assert_eq!(pe::version_strings(data), pe::VersionStrings::default());
    assert_eq!(pe::imphash(data), None);
    let hashes = Hashes::parse("md5,imphash").expect("parse").format(data).expect("hashes");
    assert_eq!(hashes, format!("MD5={:X},IMPHASH={}", md5_of(data), "0".repeat(32)));
    assert_eq!(Hashes::NONE.format(data), None);
}

fn md5_of(data: &[u8]) -> u128 {
    use md5::Digest as _;
    u128::from_be_bytes(md5::Md5::digest(data).into())
}

#[test]
fn hash_lists_parse() {
    assert_eq!(Hashes::parse("*"), Ok(Hashes::ALL));
    assert_eq!(Hashes::parse("none"), Ok(Hashes::NONE));
    assert_eq!(Hashes::parse(" SHA1 ,imphash"), Ok(Hashes { sha1: true, md5: false, sha256: false, imphash: true }));
    assert!(Hashes::parse("sha512").expect_err("unknown").contains("\"sha512\""));
    assert!(Hashes::parse(" , ").is_err());
}

/// A real PE with bytes overwritten or cut: facts may vanish, nothing panics.
fn mutated(data: &[u8], cut: usize, flips: &[(usize, u8)]) -> Vec<u8> {
    let mut d = data.get(..cut.min(data.len())).unwrap_or(data).to_vec();
    for &(at, byte) in flips {
        if !d.is_empty() {
            let i = at % d.len();
            d[i] = byte;
        }
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = pe::file_facts(&data, Hashes::ALL);
    }

    #[test]
    fn mutated_pe_files_never_panic(cut in 0usize..200_000, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16)) {
        static DATA: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let data = DATA.get_or_init(|| std::fs::read(Path::new(WINE_DIR).join("ntoskrnl.exe")).unwrap_or_default());
        let _ = pe::file_facts(&mutated(data, cut, &flips), Hashes::ALL);
    }
}
