//! Remote threads in the recordings, replayed through the real pipeline as JSON.
//!
//! * Every recorded trace, event by event: each thread that another process created
//!   (`creator_pid`: Sysmon's event 8 where it was recorded) comes out as `EventID` 8 with
//!   `SourceProcessId`, `SourceImage`, `TargetImage`, `StartAddress`, `StartModule` and
//!   `StartFunction` as recorded (a start outside every image: both empty strings), whether
//!   or not the trace saw the target created, and no other thread does; the counts equal
//!   ../shared/traces/README.md's table.
//! * The two recordings the remote-thread rules are about: in `run_keys`, csrss.exe's 82
//!   console-control threads, 79 of them in processes the recording never saw created
//!   (running before the driver, in a live system); in mavinject, mavinject.exe's thread
//!   into a notepad.exe that another process created, starting at `LoadLibraryW`.

mod common;

use common::{json_schema, recordings};
use engine::{Format, Options, Output};
use json_schema::{recorded_traces, schema, shared_traces_dir};
use notifyring::replay::{engine, trace};
use notifyring::user::starts::parse_start_address;
use recordings::{input_lines, readme_column, readme_counts};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What one trace's replay showed of its remote threads.
struct Seen {
    /// `EventID` 8 objects.
    remote: u64,
    /// Of them, into a process the trace had not created before the thread.
    into_unseen: u64,
    /// Of them, starting in kernel space, withheld.
    withheld: u64,
    /// The objects, by (target pid, thread id).
    objects: HashMap<(u64, u64), Value>,
}

/// Replays `path` as JSON and checks every thread create another process made, event by
/// event, against its input line. With `kernel_addresses` (`KernelImageBases=1`) a start
/// in kernel space is shown as recorded; without, it is withheld with its place.
fn check_trace(path: &Path, kernel_addresses: bool) -> Seen {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let schema = schema();
    let options = Options {
        producers: 4,
        ring_bytes: 64 << 20,
        kernel_image_bases: kernel_addresses,
        output: Output::Keep,
        format: Format::Json,
        ..Options::default()
    };
    let workload = trace::load(&[path.to_owned()]).unwrap();
    let report = engine::run(&workload, &options).expect("the replay starts");
    assert_eq!(report.violations(), Vec::<String>::new(), "{name}: broken invariants");
    assert_eq!(report.stats.lost_total(), 0, "{name}: a roomy ring loses nothing");
    let objects: HashMap<(u64, u64), Value> = report
        .lines
        .iter()
        .map(|l| schema.check(l))
        .filter(|o| o["EventID"] == 8)
        .map(|o| ((o["TargetProcessId"].as_u64().unwrap(), o["NewThreadId"].as_u64().unwrap()), o))
        .collect();

    let mut created = HashSet::new();
    let (mut remote, mut into_unseen, mut withheld) = (0, 0, 0);
    for line in input_lines(path) {
        let pid = line["pid"].as_u64().unwrap_or(0);
        if line["kind"] == "process_create" {
            created.insert(pid);
        }
        let creator = line.get("creator_pid").and_then(Value::as_u64);
        if line["kind"] != "thread_create" || creator.is_none_or(|c| c == pid) {
            continue;
        }
        let tid = line["tid"].as_u64().unwrap();
        let o = objects.get(&(pid, tid)).unwrap_or_else(|| panic!("{name}: no EventID 8 for {line}"));
        assert_eq!(o["SourceProcessId"].as_u64(), creator, "{name}: {o}");
        for (input, output) in [("creator_image", "SourceImage"), ("process_image", "TargetImage")] {
            assert_eq!(o.get(output), line.get(input), "{name}: {output} of {line}: {o}");
        }
        let recorded = line.get("start_address").and_then(Value::as_str).and_then(parse_start_address);
        if recorded.is_some_and(|a| a >= 0xffff_8000_0000_0000) && !kernel_addresses {
            // A kernel address (a thread in win32k's session space, say): withheld.
            for key in ["StartAddress", "StartModule", "StartFunction"] {
                assert!(o.get(key).is_none(), "{name}: a kernel-space start shown: {o}");
            }
            withheld += 1;
        } else if line.get("start_address").is_some() {
            assert_eq!(o.get("StartAddress"), line.get("start_address"), "{name}: {o}");
            // Without a module the thread started outside every image: Sysmon's empty strings.
            let (module, function) = if line.get("start_module").is_some() {
                (line.get("start_module").cloned(), line.get("start_function").cloned())
            } else {
                (Some(Value::from("")), Some(Value::from("")))
            };
            assert_eq!(o.get("StartModule").cloned(), module, "{name}: {o}");
            assert_eq!(o.get("StartFunction").cloned(), function, "{name}: {o}");
        } else {
            assert!(o.get("StartAddress").is_none(), "{name}: {o}");
        }
        remote += 1;
        into_unseen += u64::from(!created.contains(&pid));
    }
    assert_eq!(objects.len() as u64, remote, "{name}: an EventID 8 with no remote thread in the input");
    eprintln!(
        "{name}: {remote} remote threads, {into_unseen} into processes the trace never saw created, \
         {withheld} kernel-space starts withheld"
    );
    Seen { remote, into_unseen, withheld, objects }
}

#[test]
fn every_recorded_remote_thread_is_event_8_with_its_start_facts() {
    let readme = readme_counts();
    let mut withheld = 0;
    for path in recorded_traces() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        withheld += check_trace(&path, false).withheld;
        let seen = check_trace(&path, true);
        assert_eq!(seen.withheld, 0, "{name}: KernelImageBases=1 shows every start");
        let Some(table) = &readme else {
            assert!(std::env::var_os("CI").is_none(), "CI has ../shared/traces/README.md");
            continue;
        };
        let column = readme_column(table["creator_pid"].keys(), &name);
        assert_eq!(Some(&seen.remote), table["creator_pid"].get(&column), "{name}: vs the README's creator_pid");
        let with_module = seen.objects.values().filter(|o| o.get("StartModule").is_some_and(|m| m != "")).count();
        assert_eq!(Some(&(with_module as u64)), table["start_module"].get(&column), "{name}: vs the README");
        let with_address = seen.objects.values().filter(|o| o.get("StartAddress").is_some()).count();
        assert_eq!(Some(&(with_address as u64)), table["start_address"].get(&column), "{name}: vs the README");
    }
    // Not vacuous where the shared traces are: lsass_05 has win32k's VBoxTray thread in
    // csrss.exe, which starts in kernel space.
    assert!(withheld > 0 || readme.is_none(), "no kernel-space start in the recordings");
}

#[test]
fn csrss_control_threads_and_mavinjects_thread_are_remote() {
    let traces = shared_traces_dir();
    let run_keys = traces.join("otrf_2020_run_keys_standard_user.jsonl.gz");
    let mavinject = traces.join("otrf_inject_psh_mavinject_dll_notepad.jsonl.gz");
    if !run_keys.exists() || !mavinject.exists() {
        assert!(std::env::var_os("CI").is_none(), "CI has ../shared/traces");
        eprintln!("NOTE: no shared traces beside the checkout: the recordings' remote threads are not checked");
        return;
    }
    let seen = check_trace(&run_keys, false);
    assert_eq!((seen.remote, seen.into_unseen), (82, 79), "run_keys: csrss.exe's control threads");
    for o in seen.objects.values() {
        assert_eq!(o["SourceImage"], r"C:\Windows\System32\csrss.exe", "{o}");
        assert_eq!(o["StartFunction"], "CtrlRoutine", "{o}");
    }
    let seen = check_trace(&mavinject, false);
    assert_eq!((seen.remote, seen.into_unseen), (1, 0), "mavinject: one thread into a notepad.exe it saw created");
    let o = seen.objects.values().next().unwrap();
    assert_eq!(o["SourceImage"], r"C:\Windows\System32\mavinject.exe", "{o}");
    assert_eq!(o["TargetImage"], r"C:\Windows\System32\notepad.exe", "{o}");
    assert_eq!(o["StartModule"], r"C:\windows\System32\KERNEL32.DLL", "{o}");
    assert_eq!(o["StartFunction"], "LoadLibraryW", "{o}");
}
