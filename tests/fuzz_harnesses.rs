//! The cargo-fuzz harnesses (`notifyring::fuzzing`, src/fuzzing/), run on stable: every
//! checked-in seed and regression input (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`), then random inputs from proptest. This is the fuzzing lane's documented alternative where
//! cargo-fuzz or nightly is unavailable (`tools/fuzz-smoke.sh` says which one ran);
//! `FUZZ_HARNESS_CASES` sets the number of random inputs per target (default 256).

use notifyring::fuzzing::{reader_wire, record_path, ring_decode_format, rules, trace_parser};
use proptest::prelude::*;
use std::path::Path;

fn cases() -> u32 {
    std::env::var("FUZZ_HARNESS_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Runs `harness` on every file under `fuzz/{seeds,regressions}/<target>/`; returns how many.
fn replay_inputs(target: &str, harness: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            println!("{target}: {}", path.display());
            harness(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn checked_in_fuzz_inputs_still_pass() {
    let n = replay_inputs("ring_decode_format", ring_decode_format::run)
        + replay_inputs("record_path", record_path::run)
        + replay_inputs("trace_parser", trace_parser::run)
        + replay_inputs("reader_wire", reader_wire::run)
        + replay_inputs("rules", rules::run);
    println!("{n} checked-in inputs replayed");
}

/// Bytes biased to small values: short strings and lengths, so that one input holds many
/// events and operations (uniform bytes mostly ask for a single 30,000-unit string).
fn input(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![3 => 0u8..16, 1 => any::<u8>()], 0..max)
}

/// Rule files made of the pieces a rule is made of (uniform bytes are never YAML, let
/// alone a rule), NUL between files.
fn rule_files() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "title: t\n",
        "id: 1\n",
        "id: 2\n",
        "logsource:\n",
        "    product: windows\n",
        "    category: process_creation\n",
        "    category: image_load\n",
        "    category: network_connection\n",
        "detection:\n",
        "    selection:\n",
        "    filter:\n",
        "        Image|endswith: '\\whoami.exe'\n",
        "        CommandLine|contains|all:\n",
        "            - 'who'\n",
        "        ImageLoaded|re: '(a+)+'\n",
        "        Image|endswithh: x\n",
        "    condition: selection\n",
        "    condition: selection and not filter\n",
        "    condition: 1 of selection* or (not filter)\n",
        "    condition: not not not (selection\n",
        "level: high\n",
        "level: severe\n",
        "action: global\n",
        "---\n",
        "[[[[",
        "]]",
        "{a: ",
        "}",
        "'",
        "\t",
        "\0",
        "\u{e9}",
    ];
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|pieces| pieces.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ring_decode_format_harness_holds(data in input(4096)) {
        ring_decode_format::run(&data);
    }

    #[test]
    fn record_path_harness_holds(data in input(4096)) {
        record_path::run(&data);
    }

    #[test]
    fn reader_wire_harness_holds(data in input(4096)) {
        reader_wire::run(&data);
    }

    #[test]
    fn trace_parser_harness_holds(data in input(2048)) {
        trace_parser::run(&data);
    }

    #[test]
    fn rules_harness_holds(data in rule_files()) {
        rules::run(&data);
    }
}
