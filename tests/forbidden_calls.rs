//! The notify callbacks never reach a blocking or forbidden call.
//!
//! Reads the crate's own source (the Windows-only driver included, as text), builds a
//! call graph from `on_process`, `on_thread`, `on_image` and the timer DPCs `timer_dpc`
//! and `sweep_dpc`
//! (see `callgraph`), and fails
//! with the call chain and the rule broken for every wait, blocking lock, registry or
//! Zw/Nt call, allocation, print, panic, notify-routine (un)registration, or work-item
//! queue that bypasses `Schedule::wake`. Kernel routines are denied by default; the
//! vetted ones are `callgraph::CALLBACK_SAFE` (every callback) and
//! `callgraph::CALLBACK_SAFE_IN` (one callback: `ObfReferenceObject` in `on_process`).
//! The planted-source tests prove the checker catches what it claims to.

mod callgraph;

use callgraph::{PANIC, QUEUE_GATE, Report, Settings, SourceFile, UNVETTED, WAIT, check, read_crate_sources};
use std::path::Path;

/// The crate's source, or a copy of it named by `FORBIDDEN_CALLS_ROOT` (to show the
/// check failing on a mutated tree without touching this one).
fn real_report() -> Report {
    let root = std::env::var_os("FORBIDDEN_CALLS_ROOT")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(), std::path::PathBuf::from);
    let files = read_crate_sources(&root).unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()));
    check(&files, &Settings::notifyring())
}

#[test]
fn callbacks_never_reach_a_forbidden_call() {
    let report = real_report();
    println!(
        "checked {} files, {} functions, {} call edges; modules left out of the driver build: {:?}",
        report.files, report.functions, report.edges, report.excluded_modules
    );
    for (callback, reached) in &report.reachable {
        println!("{callback} reaches {} functions:", reached.len());
        for f in reached {
            println!("    {f}");
        }
    }
    if let Some(failure) = report.failure() {
        panic!("the notify callbacks can reach forbidden calls:\n{failure}");
    }
    // The graph really connects the callbacks to the pipeline: a resolution bug must not
    // turn into a vacuous pass.
    for callback in Settings::notifyring().callbacks {
        let entry = match callback {
            "timer_dpc" => "Pipeline::tick",
            "sweep_dpc" => "Pipeline::sweep",
            _ => "Pipeline::record",
        };
        // A process create records through `record_holding` (its reference), an exit through `record`.
        let holding = if callback == "on_process" { "Pipeline::record_holding" } else { entry };
        for needed in [entry, holding, "Schedule::wake", "<WorkItemQueue as WorkQueue>::queue"] {
            assert!(
                report.reaches(callback, needed),
                "{callback} does not reach {needed}: the checker lost the record path, so its pass means nothing"
            );
        }
    }
}

/// A fake crate: a callback that records through the gate, an allowed kernel query, and
/// the pieces the planted violations hang on.
fn planted(thread_rs: &str) -> Vec<SourceFile> {
    let file = |path: &str, text: &str| SourceFile { path: path.to_owned(), text: text.to_owned() };
    vec![
        file(
            "src/lib.rs",
            r#"
            pub mod schedule;
            #[cfg(target_os = "windows")]
            mod driver;
            #[cfg(not(target_os = "windows"))]
            pub mod sim;
            "#,
        ),
        file(
            "src/schedule.rs",
            r"
            pub trait WorkQueue { fn queue(&self); }
            pub struct Schedule;
            impl Schedule {
                pub fn wake(&self, queue: &impl WorkQueue) { queue.queue(); }
            }
            ",
        ),
        file(
            "src/sim.rs",
            r"
            // Host-only: never in the driver build, so its waits do not count.
            pub fn on_thread() { std::thread::sleep(core::time::Duration::from_secs(1)); }
            ",
        ),
        file(
            "src/driver/mod.rs",
            r"
            mod thread;
            mod work_item;
            ",
        ),
        file(
            "src/driver/work_item.rs",
            r"
            use wdk_sys::ntddk::IoQueueWorkItem;
            use crate::schedule::WorkQueue;
            pub struct WorkItemQueue { pub item: usize }
            impl WorkQueue for WorkItemQueue {
                fn queue(&self) {
                    unsafe { IoQueueWorkItem(self.item, Some(routine), 1, core::ptr::null_mut()) };
                }
            }
            ",
        ),
        file("src/driver/thread.rs", thread_rs),
    ]
}

fn planted_report(thread_rs: &str) -> Report {
    let report = check(&planted(thread_rs), &Settings { callbacks: vec!["on_thread"], ..Settings::notifyring() });
    assert!(report.parse_errors.is_empty(), "planted source does not parse: {:?}", report.parse_errors);
    report
}

#[test]
fn planted_wait_two_levels_down_is_caught() {
    let report = planted_report(
        r#"
        use wdk_sys::ntddk::{KeQueryPerformanceCounter, KeWaitForSingleObject, PsGetCurrentThreadId};
        use crate::schedule::Schedule;
        use super::work_item::WorkItemQueue;

        unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {
            let ticks = unsafe { KeQueryPerformanceCounter(core::ptr::null_mut()) };
            let tid = unsafe { PsGetCurrentThreadId() };
            helper(ticks);
            Schedule.wake(&WorkItemQueue { item: 0 });
        }

        fn helper(ticks: u64) {
            if ticks > 0 { helper2() }
        }

        fn helper2() {
            let mut event = core::mem::zeroed();
            unsafe { KeWaitForSingleObject(&raw mut event, 0, 0, 0, core::ptr::null_mut()) };
        }
        "#,
    );
    let failure = report.failure().expect("the planted wait must fail the check");
    println!("{failure}");
    let caught = report.violations_through(&WAIT, "driver::thread::helper2");
    assert_eq!(caught.len(), 1, "exactly the planted wait: {failure}");
    let names: Vec<&str> = caught[0].chain.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["driver::thread::on_thread", "driver::thread::helper", "driver::thread::helper2", "KeWaitForSingleObject"]
    );
    assert!(failure.contains(
        "chain: driver::thread::on_thread → driver::thread::helper → driver::thread::helper2 → KeWaitForSingleObject"
    ));
    assert!(failure.contains("[wait]"), "the message names the rule: {failure}");
    // The allowed kernel queries, the gate and the host-only simulator are not violations.
    assert_eq!(report.violations.len(), 1, "only the planted wait: {failure}");
}

#[test]
fn planted_direct_work_item_queue_is_caught() {
    let report = planted_report(
        r#"
        use wdk_sys::ntddk::IoQueueWorkItem;
        use crate::schedule::WorkQueue;
        use super::work_item::WorkItemQueue;

        unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {
            kick(&WorkItemQueue { item: 0 });
            sneak(&WorkItemQueue { item: 0 });
        }

        /// Queues the item itself: bypasses the gate.
        fn kick(q: &WorkItemQueue) {
            unsafe { IoQueueWorkItem(q.item, None, 1, core::ptr::null_mut()) };
        }

        /// Calls the queue impl directly instead of through Schedule::wake.
        fn sneak(q: &WorkItemQueue) {
            q.queue();
        }
        "#,
    );
    let failure = report.failure().expect("the planted queue calls must fail the check");
    println!("{failure}");
    let direct = report.violations_through(&QUEUE_GATE, "driver::thread::kick");
    assert_eq!(direct.len(), 1, "{failure}");
    let names: Vec<&str> = direct[0].chain.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["driver::thread::on_thread", "driver::thread::kick", "IoQueueWorkItem"]);
    let bypass = report.violations_through(&QUEUE_GATE, "driver::thread::sneak");
    assert_eq!(bypass.len(), 1, "{failure}");
    let names: Vec<&str> = bypass[0].chain.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["driver::thread::on_thread", "driver::thread::sneak", "<WorkItemQueue as WorkQueue>::queue"]);
    assert!(failure.contains("[work-item-gate]"), "the message names the rule: {failure}");
    assert_eq!(report.violations.len(), 2, "{failure}");
}

#[test]
fn planted_queue_call_outside_the_gate_is_caught_even_when_unreachable() {
    let report = planted_report(
        r#"
        unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {}
        fn never_called(item: usize) {
            unsafe { wdk_sys::ntddk::IoQueueWorkItem(item, None, 1, core::ptr::null_mut()) };
        }
        "#,
    );
    let failure = report.failure().expect("a queue call outside the impl must fail");
    assert_eq!(report.violations_through(&QUEUE_GATE, "driver::thread::never_called").len(), 1, "{failure}");
}

#[test]
fn planted_evasions_are_caught() {
    // A renamed import, a panic hidden in a macro argument, a `Drop` impl that waits,
    // and a method reached by name only.
    let report = planted_report(
        r#"
        use wdk_sys::ntddk::KeDelayExecutionThread as nap;
        struct Guard;
        impl Drop for Guard {
            fn drop(&mut self) { unsafe { nap(0, 0, core::ptr::null_mut()) }; }
        }
        struct Table;
        impl Table { fn lookup(&self, v: Option<u32>) -> u32 { v.unwrap() } }

        unsafe extern "C" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {
            unsafe { wdk_sys::ntddk::MmProbeAndLockPages(core::ptr::null_mut(), 0, 0) };
            let _g = Guard;
            let table = pick();
            let _ = matches!(table.lookup(None), 0);
        }
        fn pick() -> &'static Table { &Table }
        "#,
    );
    let failure = report.failure().expect("the evasions must fail the check");
    println!("{failure}");
    assert_eq!(report.violations_through(&WAIT, "<Guard as Drop>::drop").len(), 1, "{failure}");
    assert!(failure.contains("`use KeDelayExecutionThread as nap`"), "{failure}");
    assert_eq!(report.violations_through(&PANIC, "Table::lookup").len(), 1, "{failure}");
    // Default deny: a kernel routine on no forbidden list and not vetted is refused too.
    assert_eq!(report.violations_through(&UNVETTED, "wdk_sys::ntddk::MmProbeAndLockPages").len(), 1, "{failure}");
}

#[test]
fn object_reference_is_allowed_in_the_process_callback_only() {
    // The same ObfReferenceObject call: vetted for on_process (its record's reference on
    // the new process), refused in on_thread like any other unvetted kernel routine.
    let call = "unsafe { wdk_sys::ntddk::ObfReferenceObject(core::ptr::null_mut()) };";
    let mut files = planted(&format!(
        "unsafe extern \"C\" fn on_thread(process_id: HANDLE, thread_id: HANDLE, create: BOOLEAN) {{ {call} }}"
    ));
    files.push(SourceFile {
        path: "src/driver/process.rs".to_owned(),
        text: format!("unsafe extern \"C\" fn on_process(process: PEPROCESS) {{ take(|| {{ {call} }}); }}\nfn take(f: impl FnOnce()) {{ f() }}"),
    });
    if let Some(m) = files.iter_mut().find(|f| f.path == "src/driver/mod.rs") {
        m.text.push_str("mod process;\n");
    }
    let report = check(&files, &Settings { callbacks: vec!["on_process", "on_thread"], ..Settings::notifyring() });
    assert!(report.parse_errors.is_empty(), "{:?}", report.parse_errors);
    let failure = report.failure().expect("ObfReferenceObject in on_thread must fail the check");
    let caught = report.violations_through(&UNVETTED, "wdk_sys::ntddk::ObfReferenceObject");
    assert_eq!(caught.len(), 1, "{failure}");
    assert_eq!(caught[0].chain[0].name, "driver::thread::on_thread", "{failure}");
    assert_eq!(report.violations.len(), 1, "only on_thread's call: {failure}");
}

#[test]
fn a_missing_callback_fails_instead_of_passing_vacuously() {
    let mut files = planted("unsafe extern \"C\" fn on_thread() {}");
    files.retain(|f| !f.path.starts_with("src/driver/thread"));
    let report = check(&files, &Settings { callbacks: vec!["on_thread"], ..Settings::notifyring() });
    let failure = report.failure().expect("no callback must mean failure, never a pass");
    assert!(failure.contains("callback `on_thread` not found (no `fn on_thread` under src/driver/)"), "{failure}");
}
