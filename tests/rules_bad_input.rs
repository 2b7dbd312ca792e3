//! Bad rule folders through `Rules::load`: every case puts one good rule beside the bad
//! files and checks that the load returns, the good rule loads and fires, each bad
//! `.yml` file is named once in `failures` with a one-line reason (other files are
//! counted as ignored), and the counts are exact. A case that crashed the process or
//! hung would fail the whole binary: that is what these tests are for.

use notifyring::user::rules::{
    Loaded, MAX_CONDITION_NESTING, MAX_CONDITION_WORDS, MAX_FLOW_NESTING, MAX_RULE_FILE, Rules,
};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The good rule every folder holds.
const GOOD: &str = r"
title: Whoami run
id: 11111111-1111-1111-1111-111111111111
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\whoami.exe'
    condition: selection
level: high
";

/// [`GOOD`]'s id.
const GOOD_ID: &str = "11111111-1111-1111-1111-111111111111";

/// An event [`GOOD`] matches.
const EVENT: &str =
    r#"{"EventID":1,"Sequence":1,"ProcessId":42,"Image":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami"}"#;

/// A rule like [`GOOD`] (another id), its detection's `selection` map and its condition
/// replaced.
fn rule(id: u32, selection: &str, condition: &str) -> String {
    format!(
        "title: Rule {id}\nid: 00000000-0000-0000-0000-{id:012}\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    selection:\n        {selection}\n    condition: {condition}\nlevel: low\n"
    )
}

/// A scratch folder under the system's temporary folder, removed when dropped.
struct Folder {
    root: PathBuf,
}

impl Folder {
    fn new(case: &str) -> Self {
        let root = std::env::temp_dir().join(format!("notifyring-rules-bad-{}-{case}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("scratch folder");
        let folder = Self { root };
        folder.write("good.yml", GOOD.as_bytes());
        folder
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("scratch subfolder");
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Loads the folder; checks the good rule, the failures (files relative to the
    /// folder, in load order) and the ignored count; returns what loaded, for more checks.
    fn check(&self, rules: usize, failed: &[&str], ignored: usize) -> Loaded {
        let start = std::time::Instant::now();
        let loaded_rules = Rules::load(std::slice::from_ref(&self.root));
        let loaded = loaded_rules.loaded().clone();
        println!("{:?} to load:\n{}", start.elapsed(), loaded.report().join("\n"));
        let files: Vec<PathBuf> = loaded.failures.iter().map(|f| PathBuf::from(&f.file)).collect();
        let expected: Vec<PathBuf> = failed.iter().map(|f| self.path(f)).collect();
        assert_eq!(files, expected, "the failures, each named once");
        for f in &loaded.failures {
            assert!(!f.reason.trim().is_empty(), "{}: a failure says why", f.file);
            assert!(!f.reason.contains('\n'), "{}: one line: {:?}", f.file, f.reason);
        }
        assert_eq!(loaded.rules, rules, "rules loaded");
        assert_eq!(loaded.by_category[0], rules, "all of them process_creation");
        assert_eq!(loaded.skipped, 0, "none skipped");
        assert_eq!(loaded.ignored, ignored, "files ignored");
        let mut ids = Vec::new();
        loaded_rules.evaluate(EVENT, |a| ids.push(a.rule_id));
        assert!(ids.iter().any(|id| id == GOOD_ID), "the good rule still fires: {ids:?}");
        loaded
    }

    /// The reason given for `name`.
    fn reason<'a>(&self, loaded: &'a Loaded, name: &str) -> &'a str {
        let file = self.path(name).display().to_string();
        loaded
            .failures
            .iter()
            .find(|f| f.file == file)
            .map_or_else(|| panic!("{name} is not among the failures"), |f| f.reason.as_str())
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn assert_mentions(reason: &str, words: &[&str]) {
    let lower = reason.to_lowercase();
    assert!(words.iter().any(|w| lower.contains(w)), "{reason:?} mentions one of {words:?}");
}

#[test]
fn the_good_rule_alone_loads_and_fires() {
    let folder = Folder::new("alone");
    folder.check(1, &[], 0);
}

#[test]
fn yaml_errors_are_failures() {
    let folder = Folder::new("yaml");
    folder.write("a_unclosed.yml", b"title: [unclosed\n");
    folder.write("b_tab.yml", b"title: x\n\tdetection: y\n");
    folder.write("c_indent.yml", b"title: x\n  logsource: y\n bad: z\n");
    folder.write("d_scalar.yml", b"just a string\n");
    folder.write("e_second_doc.yml", format!("{}---\ntitle: [\n", rule(2, "Image: x", "selection")).as_bytes());
    folder.write(
        "f_no_detection.yml",
        b"title: no detection\nlogsource:\n    product: windows\n    category: process_creation\n",
    );
    // Aliases that would expand to 9^10 nodes.
    let mut laughs = String::from("title: laughs\na0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let _ = writeln!(laughs, "a{i}: &a{i} [{}]", vec![format!("*a{}", i - 1); 9].join(", "));
    }
    folder.write("g_laughs.yml", laughs.as_bytes());
    // Collection actions alone: no error from the parser, and no rule either.
    folder.write("h_global_only.yml", b"action: global\ntitle: shared\n");
    folder.write("i_reset_only.yml", b"action: reset\n");
    let loaded = folder.check(
        2,
        &[
            "a_unclosed.yml",
            "b_tab.yml",
            "c_indent.yml",
            "d_scalar.yml",
            "e_second_doc.yml",
            "f_no_detection.yml",
            "g_laughs.yml",
            "h_global_only.yml",
            "i_reset_only.yml",
        ],
        0,
    );
    assert_mentions(folder.reason(&loaded, "a_unclosed.yml"), &["yaml"]);
    assert_mentions(folder.reason(&loaded, "g_laughs.yml"), &["repetition limit"]);
    assert_eq!(folder.reason(&loaded, "h_global_only.yml"), "no Sigma rule in it");
    assert_eq!(folder.reason(&loaded, "i_reset_only.yml"), "no Sigma rule in it");
}

#[test]
fn an_unknown_modifier_is_a_failure() {
    let folder = Folder::new("modifier");
    folder.write("modifier.yml", rule(2, r"Image|endswithh: '\whoami.exe'", "selection").as_bytes());
    let loaded = folder.check(1, &["modifier.yml"], 0);
    assert_mentions(folder.reason(&loaded, "modifier.yml"), &["endswithh"]);
}

#[test]
fn a_regex_too_big_to_compile_is_a_failure() {
    let folder = Folder::new("regex");
    folder.write("huge.yml", rule(2, "Image|re: '(a{1000}){1000}'", "selection").as_bytes());
    folder.write("huge_class.yml", rule(3, r"Image|re: '\w{1000}\w{1000}\w{1000}'", "selection").as_bytes());
    folder.write("syntax.yml", rule(4, "Image|re: '(unclosed'", "selection").as_bytes());
    let loaded = folder.check(1, &["huge.yml", "huge_class.yml", "syntax.yml"], 0);
    assert_mentions(folder.reason(&loaded, "huge.yml"), &["size limit", "too big", "regex"]);
}

#[test]
fn deeply_nested_conditions_fail_without_crashing() {
    let folder = Folder::new("condition");
    // Parentheses: the parser's own limit (64), its message cut to its two ends.
    let parens = format!("'{}selection{}'", "(".repeat(30_000), ")".repeat(30_000));
    folder.write("parens.yml", rule(2, "Image: x", &parens).as_bytes());
    // `not`s in a row, past the nesting limit but few enough words to be parsed.
    let nots = format!("'{}selection'", "not ".repeat(MAX_CONDITION_NESTING));
    folder.write("nots.yml", rule(3, "Image: x", &nots).as_bytes());
    // As many `not`s as a condition can hold (16,000 in 64 KiB), spelled with escapes
    // that no look at the text counts: the parser recurses once per `not` (this crashed
    // a 2 MiB thread's stack, a test's), on a stack of its own now.
    let escaped = format!("\"{}selection\"", r"not\t".repeat(16_000));
    folder.write("escaped_nots.yml", rule(4, "Image: x", &escaped).as_bytes());
    // Plain ones are refused before parsing, by their number.
    let plain = format!("'{}selection'", "not ".repeat(16_000));
    folder.write("plain_nots.yml", rule(5, "Image: x", &plain).as_bytes());
    let mixed = format!("'{}selection{}'", "not (".repeat(10_000), ")".repeat(10_000));
    folder.write("not_parens.yml", rule(6, "Image: x", &mixed).as_bytes());
    // Longer than a condition may be (64 KiB).
    let long = format!("'selection{}'", "_".repeat(70_000));
    folder.write("too_long.yml", rule(7, "Image: x", &long).as_bytes());
    let loaded = folder.check(
        1,
        &["escaped_nots.yml", "not_parens.yml", "nots.yml", "parens.yml", "plain_nots.yml", "too_long.yml"],
        0,
    );
    let reason = folder.reason(&loaded, "parens.yml");
    assert!(reason.ends_with("condition nesting exceeds maximum depth (64)"), "{reason}");
    assert!(reason.chars().count() < 300, "a long message is cut: {reason}");
    for name in ["nots.yml", "escaped_nots.yml"] {
        assert!(
            folder.reason(&loaded, name).ends_with(&format!("condition nested deeper than {MAX_CONDITION_NESTING}")),
            "{name}"
        );
    }
    for name in ["plain_nots.yml", "not_parens.yml"] {
        assert_mentions(folder.reason(&loaded, name), &["and/or/not words"]);
    }
    assert_mentions(folder.reason(&loaded, "too_long.yml"), &["too long"]);
}

#[test]
fn nesting_up_to_the_limit_loads() {
    let folder = Folder::new("nesting-limit");
    // MAX_CONDITION_NESTING levels: the `and`, its `not`s (an even number: it still
    // matches) and the identifier under them.
    let nots = format!("'selection and {}selection'", "not ".repeat(MAX_CONDITION_NESTING - 2));
    folder.write("nots.yml", rule(2, r"Image|endswith: '\whoami.exe'", &nots).as_bytes());
    // MAX_FLOW_NESTING brackets in all: a value list in lists in the detection.
    let depth = MAX_FLOW_NESTING;
    let lists =
        rule(3, &format!(r"Image|endswith: {}'\whoami.exe'{}", "[".repeat(depth), "]".repeat(depth)), "selection");
    folder.write("lists.yml", lists.as_bytes());
    // Nested lists load (what they match is the engine's business).
    let too_deep = rule(4, &format!("Image: {}x{}", "[".repeat(depth + 1), "]".repeat(depth + 1)), "selection");
    folder.write("too_deep.yml", too_deep.as_bytes());
    let loaded = folder.check(3, &["too_deep.yml"], 0);
    assert_eq!(
        folder.reason(&loaded, "too_deep.yml"),
        format!("nested deeper than {MAX_FLOW_NESTING} [ and {{ (line 8)")
    );
    let rules = Rules::load(std::slice::from_ref(&folder.root));
    let mut ids = Vec::new();
    rules.evaluate(EVENT, |a| ids.push(a.rule_id));
    ids.sort();
    assert_eq!(ids, ["00000000-0000-0000-0000-000000000002", GOOD_ID], "a condition nested as deep as allowed fires");
}

#[test]
fn a_long_and_chain_loads_up_to_the_word_limit() {
    let folder = Folder::new("chain");
    // MAX_CONDITION_WORDS `and`s: a valid rule, which matches what `selection` matches.
    let chain = format!("'selection{}'", " and selection".repeat(MAX_CONDITION_WORDS));
    folder.write("chain.yml", rule(2, r"Image|endswith: '\whoami.exe'", &chain).as_bytes());
    let longer = format!("'selection{}'", " or selection".repeat(MAX_CONDITION_WORDS + 1));
    folder.write("longer.yml", rule(3, r"Image|endswith: '\whoami.exe'", &longer).as_bytes());
    let loaded = folder.check(2, &["longer.yml"], 0);
    assert_eq!(
        folder.reason(&loaded, "longer.yml"),
        format!("{} and/or/not words, more than {MAX_CONDITION_WORDS}: too long a condition", MAX_CONDITION_WORDS + 1)
    );
    let rules = Rules::load(std::slice::from_ref(&folder.root));
    let mut ids = Vec::new();
    rules.evaluate(EVENT, |a| ids.push(a.rule_id));
    ids.sort();
    assert_eq!(ids, ["00000000-0000-0000-0000-000000000002", GOOD_ID]);
}

#[test]
fn deeply_nested_yaml_fails_without_crashing() {
    let folder = Folder::new("yaml-depth");
    // A million `[` took the YAML scanner hours (its time grows with the square of the
    // depth); refused before parsing now.
    let n = 500_000;
    folder.write("flow_lists.yml", format!("title: {}x{}\n", "[".repeat(n), "]".repeat(n)).as_bytes());
    folder.write("flow_maps.yml", format!("title: {}x{}\n", "{a: ".repeat(n / 4), "}".repeat(n / 4)).as_bytes());
    // Block style: the YAML deserializer's own limit (128).
    folder.write("block_lists.yml", format!("title:\n{}x\n", "- ".repeat(n)).as_bytes());
    let mut block_maps = String::new();
    for depth in 0..1200 {
        let _ = writeln!(block_maps, "{}k:", " ".repeat(depth));
    }
    folder.write("block_maps.yml", block_maps.as_bytes());
    let loaded = folder.check(1, &["block_lists.yml", "block_maps.yml", "flow_lists.yml", "flow_maps.yml"], 0);
    for name in ["block_lists.yml", "block_maps.yml"] {
        assert_mentions(folder.reason(&loaded, name), &["recursion limit exceeded"]);
    }
    for name in ["flow_lists.yml", "flow_maps.yml"] {
        assert_eq!(folder.reason(&loaded, name), format!("nested deeper than {MAX_FLOW_NESTING} [ and {{ (line 1)"));
    }
}

#[test]
fn files_that_are_not_rules() {
    let folder = Folder::new("not-rules");
    folder.write("notes.txt", b"some notes\n");
    folder.write("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89");
    folder.write("README", b"no extension\n");
    folder.write(
        "workflow.yml",
        b"name: CI\non:\n  push:\n    branches: [main]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: cargo test\n",
    );
    folder.write("binary.yml", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01");
    folder.write("latin1.yml", b"title: caf\xe9\n");
    folder.write("empty.yml", b"");
    folder.write("blank.yaml", b"\n# only a comment\n\n");
    let loaded = folder.check(1, &["binary.yml", "blank.yaml", "empty.yml", "latin1.yml", "workflow.yml"], 3);
    assert_mentions(folder.reason(&loaded, "latin1.yml"), &["utf-8"]);
    // An empty text is one empty document to the parser.
    assert_mentions(folder.reason(&loaded, "empty.yml"), &["not a yaml mapping"]);
    assert_mentions(folder.reason(&loaded, "blank.yaml"), &["not a yaml mapping"]);
    assert_mentions(folder.reason(&loaded, "workflow.yml"), &["title"]);
    assert!(loaded.first_ignored.is_some());
}

#[test]
fn a_file_larger_than_the_limit_is_refused_unread() {
    let folder = Folder::new("large");
    let mut big = GOOD.replace("1111", "2222").into_bytes();
    big.resize(usize::try_from(MAX_RULE_FILE).unwrap() + 1, b'#');
    folder.write("large.yml", &big);
    let mut limit = GOOD.replace("1111", "3333").into_bytes();
    limit.push(b'#');
    limit.resize(usize::try_from(MAX_RULE_FILE).unwrap(), b'#');
    folder.write("at_limit.yml", &limit);
    let loaded = folder.check(2, &["large.yml"], 0);
    assert_mentions(folder.reason(&loaded, "large.yml"), &["larger than"]);
}

#[test]
fn a_folder_symlink_loop_is_searched_once() {
    let folder = Folder::new("loop");
    std::fs::create_dir_all(folder.path("sub")).unwrap();
    folder.write("sub/other.yml", rule(2, "Image: x", "selection").as_bytes());
    // Two loops per folder: followed blindly, 2^40 paths before the system says ELOOP.
    std::os::unix::fs::symlink(".", folder.path("sub/self")).unwrap();
    std::os::unix::fs::symlink("..", folder.path("sub/up")).unwrap();
    std::os::unix::fs::symlink("sub", folder.path("z_again")).unwrap();
    let loaded = folder.check(2, &["sub/self", "sub/up", "z_again"], 0);
    let again = format!("the folder {} again, searched once", folder.root.display());
    assert!(folder.reason(&loaded, "sub/up").starts_with(&again), "{again}");
}

#[test]
fn special_files_are_not_read() {
    let folder = Folder::new("special");
    std::os::unix::fs::symlink("nowhere.yml", folder.path("dangling.yml")).unwrap();
    // A named pipe: opening it for reading waits for a writer that never comes.
    let fifo = folder.path("pipe.yml");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(status) if status.success() => {}
        other => {
            eprintln!("SKIPPED: the named pipe case (mkfifo: {other:?})");
            folder.check(1, &["dangling.yml"], 0);
            return;
        }
    }
    let loaded = folder.check(1, &["dangling.yml", "pipe.yml"], 0);
    assert_mentions(folder.reason(&loaded, "pipe.yml"), &["not a regular file"]);
}

#[test]
fn an_unreadable_file_is_a_failure_unless_root() {
    use std::os::unix::fs::PermissionsExt as _;
    let folder = Folder::new("unreadable");
    folder.write("secret.yml", rule(2, "Image: x", "selection").as_bytes());
    std::fs::set_permissions(folder.path("secret.yml"), std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads a mode-000 file all the same: then it loads like any other. Which of
    // the two applies is decided by whether the file can actually be opened, not assumed.
    if std::fs::File::open(folder.path("secret.yml")).is_ok() {
        eprintln!("NOTE: running as root (or with CAP_DAC_OVERRIDE): a mode-000 file is readable, so it loads");
        folder.check(2, &[], 0);
        return;
    }
    let loaded = folder.check(1, &["secret.yml"], 0);
    assert_mentions(folder.reason(&loaded, "secret.yml"), &["permission denied"]);
}

#[test]
fn a_file_that_fails_to_read_is_a_failure() {
    let folder = Folder::new("read-error");
    // A regular file that opens, even for root, and fails to read: the first page of this
    // process's memory is never mapped (were /proc missing, the link would dangle: a
    // failure too).
    std::os::unix::fs::symlink("/proc/self/mem", folder.path("mem.yml")).unwrap();
    let loaded = folder.check(1, &["mem.yml"], 0);
    println!("mem.yml: {}", folder.reason(&loaded, "mem.yml"));
}

#[test]
fn files_named_directly() {
    let folder = Folder::new("named");
    folder.write("rule.txt", rule(2, r"Image|endswith: '\whoami.exe'", "selection").as_bytes());
    // A file given by name is read whatever its extension and kind (a pipe, say), never
    // more than the limit; a missing path is a failure.
    let zero = Path::new("/dev/zero");
    let null = Path::new("/dev/null");
    let rules = Rules::load(&[
        folder.path("good.yml"),
        folder.path("rule.txt"),
        folder.path("missing"),
        zero.into(),
        null.into(),
    ]);
    let loaded = rules.loaded();
    assert_eq!(loaded.rules, 2);
    let files: Vec<&str> = loaded.failures.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(files, [folder.path("missing").to_str().unwrap(), "/dev/zero", "/dev/null"]);
    assert_eq!(loaded.failures[1].reason, format!("larger than {MAX_RULE_FILE} bytes"));
    assert_mentions(&loaded.failures[2].reason, &["not a yaml mapping"]);
}
