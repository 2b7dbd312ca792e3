//! A new process's token facts: `User`, `IntegrityLevel`, `LogonId`.
//!
//! * Every recorded trace, replayed as JSON: each token fact a process create's input
//!   line has reaches that event's object under Sysmon's name and in Sysmon's form, each
//!   one it lacks stays absent, and the counts equal ../shared/traces/README.md's table;
//!   every process object the records held is released once (the simulated kernel's
//!   reference counts balance).
//! * With events lost: a lost create never took a reference, a delivered one gets its
//!   own line's facts, and everything balances.
//! * The reference protocol on the pipeline stepped by hand: taken only for a record
//!   that got its place, dropped exactly once by the worker (also for a record the
//!   worker keeps at the ring's head across runs), by unload's final drain for records
//!   still in the ring; an env that leaks or double-releases is caught.

mod common;

use common::{json_schema, recordings, stepped};
use engine::{Format, Options, Output};
use json_schema::{recorded_traces, schema};
use notifyring::replay::{engine, trace};
use notifyring::sim::objects::SimObjects;
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name};
use notifyring::vocab::token::{Sid, TokenFacts};
use notifyring::worker::format::Line;
use notifyring::{ClientId, Config, Delivered, Event, Host, Pipeline, Recorded, Sink, Stamp, Stats};
use recordings::{input_lines, readme_column, readme_counts};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Trace key → Sysmon's key.
const TOKEN_KEYS: [(&str, &str); 3] =
    [("user", "User"), ("integrity_level", "IntegrityLevel"), ("logon_id", "LogonId")];

#[test]
fn every_recorded_token_fact_reaches_its_creates_json_and_every_reference_is_released() {
    let schema = schema();
    let readme = readme_counts();
    let options = Options {
        producers: 4,
        ring_bytes: 64 << 20,
        output: Output::Keep,
        format: Format::Json,
        ..Options::default()
    };
    let traces = recorded_traces();
    for path in &traces {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let workload = trace::load(std::slice::from_ref(path)).unwrap();
        let report = engine::run(&workload, &options).expect("the replay starts");
        assert_eq!(report.violations(), Vec::<String>::new(), "{name}: broken invariants");
        assert_eq!(report.stats.lost_total(), 0, "{name}: a roomy ring loses nothing");
        let objects: Vec<Value> = report.lines.iter().map(|l| schema.check(l)).collect();

        // Each process's create lines in order; its EventID 1 objects come in that order.
        let mut creates: HashMap<u64, VecDeque<Value>> = HashMap::new();
        let mut in_input: BTreeMap<&str, u64> = BTreeMap::new();
        for line in input_lines(path).into_iter().filter(|l| l["kind"] == "process_create") {
            for (key, _) in TOKEN_KEYS {
                *in_input.entry(key).or_default() += u64::from(line.get(key).is_some());
            }
            creates.entry(line["pid"].as_u64().unwrap()).or_default().push_back(line);
        }
        let mut in_json: BTreeMap<&str, u64> = BTreeMap::new();
        let mut checked = 0u64;
        for o in objects.iter().filter(|o| o["EventID"] == 1) {
            let pid = o["ProcessId"].as_u64().unwrap();
            let line = creates.get_mut(&pid).and_then(VecDeque::pop_front).unwrap_or_else(|| {
                panic!("{name}: a create with no input line left for process {pid}: {o}");
            });
            for (input_key, json_key) in TOKEN_KEYS {
                assert_eq!(o.get(json_key), line.get(input_key), "{name}: {json_key} of {line}: {o}");
                *in_json.entry(input_key).or_default() += u64::from(o.get(json_key).is_some());
            }
            // The SID the account was given stands next to its name.
            let sid = o.get("UserSid").and_then(Value::as_str).map(|s| Sid::parse(s).expect("a SID"));
            assert_eq!(sid.is_some(), line.get("user").is_some(), "{name}: {o}");
            if line["user"] == "NT AUTHORITY\\SYSTEM" {
                assert_eq!(o["UserSid"], "S-1-5-18", "{name}: {o}");
            }
            checked += 1;
        }
        assert!(creates.values().all(VecDeque::is_empty), "{name}: every create has its object");

        // A created process's User follows it: its children's ParentUser, its image
        // loads' and its exit's User, until it exits.
        let mut users: HashMap<u64, String> = HashMap::new();
        let mut followed = 0u64;
        for o in &objects {
            let pid = o.get("ProcessId").and_then(Value::as_u64).unwrap_or(0);
            let (key, of) = match o["EventID"].as_u64().unwrap() {
                1 => ("ParentUser", o["ParentProcessId"].as_u64().unwrap()),
                5 | 7 => ("User", pid),
                _ => continue,
            };
            let want = users.get(&of).map(|u| Value::String(u.clone()));
            assert_eq!(o.get(key), want.as_ref(), "{name}: {key} of {o}");
            followed += u64::from(want.is_some());
            match o["EventID"].as_u64().unwrap() {
                1 => {
                    // A create without a User forgets the pid's earlier one.
                    match o.get("User").and_then(Value::as_str) {
                        Some(user) => users.insert(pid, user.to_owned()),
                        None => users.remove(&pid),
                    };
                }
                5 => {
                    users.remove(&pid);
                }
                _ => {}
            }
        }
        eprintln!("{name}: {followed} later events carry their process's or parent's User");
        assert_eq!(in_json, in_input, "{name}: creates carrying each token fact, JSON vs input");

        // Every create's record held its process; the worker released each one once.
        let o = &report.objects;
        assert_eq!((o.created, o.referenced, o.token_reads, o.freed), (checked, checked, checked, checked), "{name}");
        assert_eq!(o.balanced(), Ok(()), "{name}");
        let missing: u64 = in_input.values().map(|n| checked - n).sum();
        assert_eq!(report.token_facts_not_recorded, missing, "{name}: each fact the recording lacks is counted");
        assert_eq!(report.stats.token_failures, 0, "{name}: a fact the recording lacks is no failed query");
        eprintln!("{name}: {checked} process creates checked field by field; token facts in the JSON: {in_json:?}");
        if let Some(table) = &readme {
            let column = readme_column(table["user"].keys(), &name);
            for (key, count) in &in_json {
                assert_eq!(Some(count), table[*key].get(&column), "{name}: {key} vs the README's {column} column");
            }
        } else {
            assert!(std::env::var_os("CI").is_none(), "CI has ../shared/traces/README.md");
        }
    }
}

/// A trace of process creates whose logon id numbers the line, so a misplaced fact shows.
fn numbered_creates(path: &Path, count: u64) {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..count {
        let integrity = ["Low", "Medium", "High", "System", "AppContainer"][usize::try_from(n % 5).unwrap()];
        let line = serde_json::json!({
            "t_ns": n * 1000, "kind": "process_create", "pid": 1000 + n % 7, "ppid": 4, "tid": null,
            "image": r"C:\Tools\x.exe", "cmdline": format!("x.exe {n}"), "base": null, "size": null,
            "exit_code": null, "is_kernel": false, "source": "test",
            "user": if n % 3 == 0 { "NT AUTHORITY\\SYSTEM" } else { "LAB\\someone" },
            "integrity_level": integrity,
            "logon_id": format!("{:#x}", 0x1000 + n),
        });
        writeln!(out, "{line}").unwrap();
    }
}

#[test]
fn with_creates_lost_a_lost_one_holds_nothing_and_a_delivered_one_gets_its_own_facts() {
    let path = std::env::temp_dir().join(format!("notifyring-token-facts-{}.jsonl", std::process::id()));
    numbered_creates(&path, 4000);
    let workload = trace::load(std::slice::from_ref(&path)).unwrap();
    let _ = std::fs::remove_file(&path);
    let options = Options {
        producers: 2,
        speed: Some(0.2),
        ring_bytes: 16 << 10,
        stall_worker: Duration::from_millis(20),
        output: Output::Keep,
        format: Format::Json,
        ..Options::default()
    };
    let report = engine::run(&workload, &options).expect("the replay starts");
    assert_eq!(report.violations(), Vec::<String>::new(), "broken invariants");
    let lost = report.stats.lost_total();
    assert!(lost > 0, "a stalled worker and a small ring lose creates");
    let schema = schema();
    let mut delivered = 0u64;
    for o in report.lines.iter().map(|l| schema.check(l)).filter(|o| o["EventID"] == 1) {
        let n: u64 = o["CommandLine"].as_str().unwrap().trim_start_matches("x.exe ").parse().unwrap();
        assert_eq!(o["LogonId"], format!("{:#x}", 0x1000 + n), "line {n}'s create: {o}");
        let user = if n.is_multiple_of(3) { "NT AUTHORITY\\SYSTEM" } else { "LAB\\someone" };
        assert_eq!(o["User"], user, "{o}");
        delivered += 1;
    }
    let o = &report.objects;
    assert_eq!(o.created, 4000, "every create made a process");
    assert_eq!(o.referenced, delivered, "only the creates that got a place took a reference");
    assert_eq!(delivered + lost, 4000);
    assert_eq!(o.balanced(), Ok(()), "{o:?}");
    eprintln!("{delivered} creates delivered, {lost} lost: {o:?}");
}

/// A worker env over [`SimObjects`], with ways to get the protocol wrong.
struct ObjectsEnv {
    objects: Arc<SimObjects>,
    tokens: Vec<TokenFacts>,
    /// Release twice (a double release), or never (a leak).
    releases: u32,
    /// Lines the worker may print before `now_ticks` says the run's budget is spent.
    lines_per_run: u32,
    printed: u32,
}

impl Host for ObjectsEnv {
    fn process_image(&mut self, _: u64, _: &mut Name) -> Lookup {
        Lookup::Failed
    }
    fn now_ticks(&mut self) -> u64 {
        // Past the budget once this run printed its share.
        if self.printed >= self.lines_per_run { u64::MAX / 2 } else { 0 }
    }
    fn process_token(&mut self, object: u64, facts: &mut TokenFacts) -> u32 {
        *facts = self.objects.token(object).unwrap_or_default();
        0
    }
    fn release_process(&mut self, object: u64) {
        for _ in 0..self.releases {
            self.objects.dereference(object);
        }
    }
}

impl Sink for ObjectsEnv {
    fn print(&mut self, _: Line<'_>) {
        self.printed += 1;
    }
    fn delivered(&mut self, event: &Delivered<'_>) {
        if let Some(token) = event.token {
            self.tokens.push(*token);
        }
    }
}

const fn create(pid: u64) -> Event<'static> {
    Event::ProcessCreate {
        pid,
        parent_pid: 4,
        creator: ClientId { pid: 4, tid: 8 },
        file_open_name_available: false,
        subsystem_process: false,
        image: None,
        command_line: None,
    }
}

/// A pipeline stepped by hand, with a ring that holds `ring_bytes`.
fn stepped(ring_bytes: usize) -> Pipeline<stepped::Queue> {
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let clock = Clock { start_ticks: 0, frequency: 1_000_000 };
    let config = Config { ring_bytes, processors: 1, ..Config::DEFAULT };
    Pipeline::new(&config, clock, stepped::Queue::default(), stats).unwrap()
}

/// Records `n` creates, each a new process object that exits as soon as the callback
/// returns; returns how many got a place.
fn record_creates(p: &Pipeline<stepped::Queue>, objects: &SimObjects, n: u64) -> u64 {
    let mut recorded = 0;
    for i in 0..n {
        let token = TokenFacts { logon_id: Some(i), ..TokenFacts::default() };
        let object = objects.create(token);
        let outcome =
            p.record_holding(Stamp { ticks: i, cpu: 0 }, &create(100 + i), object, || objects.reference(object));
        objects.exit(object);
        recorded += u64::from(outcome != Recorded::Lost);
    }
    recorded
}

fn env(objects: &Arc<SimObjects>, releases: u32) -> ObjectsEnv {
    ObjectsEnv { objects: Arc::clone(objects), tokens: Vec::new(), releases, lines_per_run: u32::MAX, printed: 0 }
}

#[test]
fn a_full_ring_takes_no_reference_and_unloads_final_drain_releases_what_is_left() {
    let objects = Arc::new(SimObjects::new());
    let p = stepped(4096);
    let recorded = record_creates(&p, &objects, 200);
    assert!(recorded > 0 && recorded < 200, "a 4 KiB ring takes some creates: {recorded}");
    let report = objects.report();
    assert_eq!((report.created, report.referenced), (200, recorded), "only the placed records referenced");
    assert_eq!(report.live(), recorded, "the lost creates' processes are freed at exit already");
    // The worker never ran: unload's final drain is what releases them.
    // Unload: stop, the queued routine runs once (one line's budget: one record), and
    // the final drain gets the rest.
    let mut env = ObjectsEnv { lines_per_run: 1, ..env(&objects, 1) };
    p.stop();
    assert!(p.queue().0.replace(false), "the first record queued the work item");
    p.run_worker(&mut env);
    assert!(!p.queue().0.get(), "a stopping pipeline does not re-queue");
    let left = objects.report().live();
    assert!(left > 0 && left < recorded, "the routine released some, the ring still holds {left}");
    let _final = p.shutdown(&mut env).expect("stopped and idle");
    let report = objects.report();
    assert_eq!(report.balanced(), Ok(()), "{report:?}");
    assert_eq!(env.tokens.len() as u64, recorded, "every held record's token was read before release");
    assert!(env.tokens.iter().enumerate().all(|(i, t)| t.logon_id == Some(i as u64)), "in order, each its own");
}

#[test]
fn a_record_kept_at_the_head_across_runs_is_released_once_and_keeps_its_facts() {
    let objects = Arc::new(SimObjects::new());
    let p = stepped(1 << 20);
    assert_eq!(record_creates(&p, &objects, 3), 3);
    // One line per run: the worker stops after each line, several runs per record.
    let mut env = ObjectsEnv { lines_per_run: 1, ..env(&objects, 1) };
    let mut runs = 0;
    while p.queue().0.replace(false) {
        env.printed = 0;
        p.run_worker(&mut env);
        runs += 1;
    }
    assert!(runs >= 3, "{runs} runs");
    let report = objects.report();
    assert_eq!(report.balanced(), Ok(()), "{report:?}");
    assert_eq!(report.token_reads, 3, "each token read once, on the record's first visit");
}

#[test]
fn an_env_that_leaks_or_releases_twice_is_caught() {
    for (releases, expect) in [(0, "leak: 3 of 3"), (2, "double release")] {
        let objects = Arc::new(SimObjects::new());
        let p = stepped(1 << 20);
        assert_eq!(record_creates(&p, &objects, 3), 3);
        let mut env = env(&objects, releases);
        while p.queue().0.replace(false) {
            p.run_worker(&mut env);
        }
        let err = objects.report().balanced().expect_err("the misuse shows");
        assert!(err.contains(expect), "{releases} releases per record: {err}");
    }
}

/// `ParentImage` and `ParentCommandLine` against the recording, create by create.
///
/// The formatter names a parent from its own create event when the stream had it (and
/// no exit since), else from what the host knows of a process started earlier (the
/// replay: the recording's `parent_image`/`parent_cmdline`, as the CLI asks Windows).
/// Where the recording names the parent, the JSON must say the same, except where the
/// recording reused a pid without recording the previous holder's exit or the newer
/// holder's create (the stream's answer is then stale on the recording's own terms, and
/// on a live system the exit would have been seen): those creates are printed and
/// counted, at most 2 per trace. A parent's command line longer than 2048 units is cut.
/// One producer, so that the stream keeps the recording's order across processes.
#[test]
fn parent_image_and_command_line_match_the_recording_create_by_create() {
    let schema = schema();
    let options = Options {
        producers: 1,
        ring_bytes: 64 << 20,
        output: Output::Keep,
        format: Format::Json,
        ..Options::default()
    };
    for path in &recorded_traces() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let workload = trace::load(std::slice::from_ref(path)).unwrap();
        let report = engine::run(&workload, &options).expect("the replay starts");
        assert_eq!(report.violations(), Vec::<String>::new(), "{name}");
        let mut creates: HashMap<u64, VecDeque<Value>> = HashMap::new();
        for line in input_lines(path).into_iter().filter(|l| l["kind"] == "process_create") {
            creates.entry(line["pid"].as_u64().unwrap()).or_default().push_back(line);
        }
        let (mut checked, mut agree, mut stale) = (0u64, 0u64, 0u64);
        for o in report.lines.iter().map(|l| schema.check(l)).filter(|o| o["EventID"] == 1) {
            let pid = o["ProcessId"].as_u64().unwrap();
            let line = creates.get_mut(&pid).and_then(VecDeque::pop_front).unwrap();
            checked += 1;
            let Some(image) = line.get("parent_image") else { continue };
            let cmdline = line.get("parent_cmdline").and_then(Value::as_str).map(|c| Value::String(cut(c)));
            if o.get("ParentImage") == Some(image) && o.get("ParentCommandLine") == cmdline.as_ref() {
                agree += 1;
                let long = line["parent_cmdline"].as_str().is_some_and(|c| c.encode_utf16().count() > 2048);
                assert_eq!(o.get("ParentCommandLineTruncated").is_some(), long, "{name}: {o}");
            } else {
                eprintln!(
                    "{name}: pid {} reused without a recorded exit or create: the recording says parent {image} \
                     {:?}, the stream {} {:?}",
                    line["ppid"],
                    line.get("parent_cmdline"),
                    o["ParentImage"],
                    o.get("ParentCommandLine")
                );
                stale += 1;
            }
        }
        assert!(stale <= 2, "{name}: {stale} creates disagree with the recording about their parent");
        eprintln!("{name}: {checked} creates; {agree} name their parent as the recording does, {stale} stale pids");
    }
}

/// A command line as the formatter keeps a parent's: at most 2048 UTF-16 units.
fn cut(c: &str) -> String {
    let mut n = 0;
    c.chars()
        .take_while(|ch| {
            n += ch.len_utf16();
            n <= notifyring::user::json::PARENT_COMMAND_LINE_UNITS
        })
        .collect()
}
