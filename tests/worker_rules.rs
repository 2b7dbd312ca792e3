//! What the worker prints and how long it may run, on the real pipeline driven one step
//! at a time with a virtual clock (deterministic: no threads, no wall time):
//! - a new process's first thread is not "remote" (it is created by the parent's
//!   creating thread inside process creation); a real remote thread is; when the
//!   worker cannot know, it says `remote=?`;
//! - pid 4 is `System` without a look-up, a process without an image file prints
//!   `proc=-` and is not a look-up failure;
//! - `subsystem=` appears only for subsystem processes;
//! - a run stops once it has run for its time budget (plus the line it was on), a
//!   record's lines may be split across runs, and nothing is lost or printed twice;
//! - the periodic timer's tick prints a statistics line with no events at all.

mod common;

use common::stepped;
use notifyring::sim::{CollectEnv, SimKernel};
use notifyring::vocab::clock::Clock;
use notifyring::vocab::process::{Lookup, Name};
use notifyring::vocab::start::{StartRegion, ThreadStart};
use notifyring::worker::format::Line;
use notifyring::{ClientId, Config, Event, Host, Pipeline, Sink, Stamp, Stats};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use stepped::Queue;

/// A debugger whose every line costs `line_cost` ticks of a virtual clock, a process
/// table, and that clock.
#[derive(Default)]
struct Env {
    lines: Vec<String>,
    processes: HashMap<u64, &'static str>,
    lookups: Vec<u64>,
    now: u64,
    line_cost: u64,
    /// Creation times (system time) the kernel reports by pid; absent: the look-up fails.
    created: HashMap<u64, u64>,
    /// Start facts by (pid, tid); absent: the thread is gone.
    starts: HashMap<(u64, u64), ThreadStart>,
    /// The threads whose start address was asked for.
    start_lookups: Vec<u64>,
}

impl Host for Env {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.lookups.push(pid);
        match self.processes.get(&pid) {
            Some(&"") => Lookup::NoImageFile,
            Some(path) => {
                *name = Name::from_path(path.encode_utf16());
                Lookup::Found
            }
            None => Lookup::Failed,
        }
    }
    fn now_ticks(&mut self) -> u64 {
        self.now
    }
    fn process_created(&mut self, pid: u64) -> Option<u64> {
        self.created.get(&pid).copied()
    }
    fn thread_start(&mut self, pid: u64, tid: u64) -> Option<ThreadStart> {
        self.start_lookups.push(tid);
        self.starts.get(&(pid, tid)).copied()
    }
}

impl Sink for Env {
    fn print(&mut self, line: Line<'_>) {
        self.now += self.line_cost;
        self.lines.push(String::from_utf8(line.text().to_vec()).expect("ASCII"));
    }
}

/// 1 MHz virtual clock: one tick is a microsecond.
const CLOCK: Clock = Clock { start_ticks: 0, frequency: 1_000_000 };

fn pipeline(config: &Config) -> Pipeline<Queue> {
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    Pipeline::new(config, CLOCK, Queue::default(), stats).unwrap()
}

/// Runs the work item while it is queued; returns how many runs it took.
fn run_all(p: &Pipeline<Queue>, env: &mut Env) -> u32 {
    let mut runs = 0;
    while p.queue().0.replace(false) {
        p.run_worker(env);
        runs += 1;
    }
    runs
}

fn record(p: &Pipeline<Queue>, event: &Event<'_>) {
    p.record(Stamp::default(), event);
}

const fn create(pid: u64, creator: ClientId, image: &[u16]) -> Event<'_> {
    Event::ProcessCreate {
        pid,
        parent_pid: creator.pid,
        creator,
        file_open_name_available: true,
        subsystem_process: false,
        image: Some(image),
        command_line: None,
    }
}

const fn thread(pid: u64, tid: u64, creator: ClientId) -> Event<'static> {
    Event::ThreadCreate { pid, tid, creator }
}

/// The printed line of the thread-create of `tid`.
fn thread_line(env: &Env, tid: u64) -> &str {
    let tag = format!(" tid={tid} ");
    env.lines.iter().find(|l| l.contains(" thread-create ") && l.contains(&tag)).expect("thread line")
}

#[test]
fn a_new_processs_first_thread_is_not_remote_but_a_later_one_from_outside_is() {
    let p = pipeline(&Config::DEFAULT);
    let mut env = Env::default();
    let parent = ClientId { pid: 868, tid: 6016 };
    let image: Vec<u16> = r"\??\C:\Windows\System32\notepad.exe".encode_utf16().collect();
    record(&p, &create(7212, parent, &image));
    record(&p, &thread(7212, 7216, parent)); // inside process creation, by the parent
    record(&p, &thread(7212, 7220, ClientId { pid: 7212, tid: 7216 })); // its own
    record(&p, &thread(7212, 7224, parent)); // the same parent thread again: injection
    record(&p, &thread(7212, 7228, ClientId { pid: 640, tid: 9000 })); // another process
    run_all(&p, &mut env);
    assert!(
        thread_line(&env, 7216).ends_with(r#"by=868:6016 remote=0 initial=1 proc="notepad.exe""#),
        "{env:?}",
        env = env.lines
    );
    assert!(thread_line(&env, 7220).contains(" remote=0 proc="));
    assert!(thread_line(&env, 7224).contains(" remote=1 proc="), "a second thread from the parent is remote");
    assert!(thread_line(&env, 7228).contains(" remote=1 proc="));
}

#[test]
fn a_thread_from_another_process_into_one_never_seen_created_is_unknown() {
    let p = pipeline(&Config::DEFAULT);
    let mut env = Env::default();
    env.processes.insert(1000, r"C:\Windows\explorer.exe");
    env.processes.insert(2000, r"C:\Windows\System32\svchost.exe");
    // Started before the driver: the worker cannot tell its first thread from others.
    record(&p, &thread(1000, 1, ClientId { pid: 666, tid: 2 }));
    // Started before the driver, but a thread of it was seen since: not its first.
    record(&p, &Event::ThreadExit { pid: 2000, tid: 3 });
    record(&p, &thread(2000, 4, ClientId { pid: 666, tid: 2 }));
    run_all(&p, &mut env);
    assert!(thread_line(&env, 1).contains(" remote=? proc=\"explorer.exe\""), "{:?}", env.lines);
    assert!(thread_line(&env, 4).contains(" remote=1 proc=\"svchost.exe\""), "{:?}", env.lines);
}

#[test]
fn a_thread_from_another_process_into_one_created_before_the_watch_is_remote() {
    let p = pipeline(&Config::DEFAULT);
    // The system time just before the process routine was registered.
    p.watching_since(50_000);
    let mut env = Env::default();
    let injector = ClientId { pid: 666, tid: 2 };
    for (pid, created) in [(1000, 49_999), (1004, 50_000), (1008, 50_001)] {
        env.created.insert(pid, created);
    }
    env.processes.insert(1000, r"C:\Windows\System32\lsass.exe");
    env.starts.insert((1000, 1), ThreadStart { address: 0x2ba_a070_0000, region: StartRegion::NoImage });
    let in_image = StartRegion::Image { base: 0x7ffb_9284_0000 };
    env.starts.insert((1004, 2), ThreadStart { address: 0x7ffb_9285_e540, region: in_image });
    env.starts.insert((1008, 3), ThreadStart::at(0x7ffb_0000_1000));
    // Created before the watch: it had its first thread then too, so this one is remote.
    record(&p, &thread(1000, 1, injector));
    // A tie on the coarse clock says nothing.
    record(&p, &thread(1004, 2, injector));
    // Created after the watch started, its create not seen (lost, or just before the
    // routine was registered): undecided.
    record(&p, &thread(1008, 3, injector));
    // The look-up fails (the process is gone): undecided.
    record(&p, &thread(1012, 4, injector));
    // A second thread into the old process: remote as ever; its thread is gone by now.
    record(&p, &thread(1000, 5, injector));
    // Its own thread: local, and no start address is read for it.
    record(&p, &thread(1000, 6, ClientId { pid: 1000, tid: 9 }));
    run_all(&p, &mut env);
    assert!(
        thread_line(&env, 1).ends_with(r#"by=666:2 remote=1 start=0x2baa0700000 start_image=- proc="lsass.exe""#),
        "{:?}",
        env.lines
    );
    assert!(
        thread_line(&env, 2).contains(" remote=? start=0x7ffb9285e540 start_image=0x7ffb92840000 proc="),
        "{:?}",
        env.lines
    );
    assert!(thread_line(&env, 3).contains(" remote=? start=0x7ffb00001000 proc="), "region unknown: {:?}", env.lines);
    assert!(thread_line(&env, 4).contains(" remote=? proc=?"), "{:?}", env.lines);
    assert!(thread_line(&env, 5).contains(" remote=1 proc="), "no start address, none printed: {:?}", env.lines);
    assert!(thread_line(&env, 6).contains(" remote=0 proc="), "{:?}", env.lines);
    assert_eq!(env.start_lookups, [1, 2, 3, 4, 5], "asked for every thread from another process, once");
    assert_eq!(p.stats().snapshot().start_failures, 2, "threads 4 and 5 were gone");
}

#[test]
fn a_start_in_kernel_space_is_shown_only_where_kernel_addresses_may_be() {
    for show in [false, true] {
        let mut config = Config::DEFAULT;
        config.apply("KernelImageBases", u32::from(show)).unwrap();
        let p = pipeline(&config);
        p.watching_since(50_000);
        let mut env = Env::default();
        env.created.insert(4, 1);
        // A system thread a driver started from process 700's context.
        env.starts.insert((4, 9000), ThreadStart::at(0xffff_f805_3a2c_1e40));
        record(&p, &thread(4, 9000, ClientId { pid: 700, tid: 12 }));
        run_all(&p, &mut env);
        let line = thread_line(&env, 9000);
        assert!(line.contains(" remote=1 "), "{line}");
        assert_eq!(line.contains(" start=0xfffff8053a2c1e40 "), show, "{line}");
        assert_eq!(p.stats().snapshot().start_failures, 0, "withheld, not failed");
    }
}

#[test]
fn without_a_watch_start_a_thread_into_an_unseen_process_stays_unknown() {
    let p = pipeline(&Config::DEFAULT);
    let mut env = Env::default();
    env.created.insert(1000, 1);
    record(&p, &thread(1000, 1, ClientId { pid: 666, tid: 2 }));
    run_all(&p, &mut env);
    assert!(thread_line(&env, 1).contains(" remote=? proc=?"), "{:?}", env.lines);
}

#[test]
fn a_process_seen_created_is_never_asked_its_age() {
    let p = pipeline(&Config::DEFAULT);
    p.watching_since(50_000);
    let mut env = Env::default();
    // Its creation time would say "before the watch": it is not asked, the create decides.
    env.created.insert(7212, 1);
    let parent = ClientId { pid: 868, tid: 6016 };
    let image: Vec<u16> = r"\??\C:\Windows\System32\notepad.exe".encode_utf16().collect();
    record(&p, &create(7212, parent, &image));
    record(&p, &thread(7212, 7216, parent));
    run_all(&p, &mut env);
    assert!(thread_line(&env, 7216).contains(" remote=0 initial=1 proc="), "{:?}", env.lines);
    assert!(env.start_lookups.is_empty(), "no start address for a first thread");
}

#[test]
fn a_loss_between_the_create_and_the_first_thread_makes_it_unknown() {
    // A 4 KiB ring: a burst of long process creates fills it while the worker waits.
    let config = Config { ring_bytes: 4096, ..Config::DEFAULT };
    let p = pipeline(&config);
    let mut env = Env::default();
    let parent = ClientId { pid: 868, tid: 6016 };
    let image: Vec<u16> = "x".repeat(200).encode_utf16().collect();
    record(&p, &create(500, parent, &image));
    let mut filler = 0u64;
    while p.record(Stamp::default(), &create(10_000 + 4 * filler, parent, &image)) != notifyring::Recorded::Lost {
        filler += 1;
    }
    run_all(&p, &mut env);
    // The loss was reported (its LOST line came before this record was printed)...
    record(&p, &thread(500, 504, parent));
    run_all(&p, &mut env);
    assert!(env.lines.iter().any(|l| l.starts_with("notifyring: LOST ")));
    // ...so this may be the first thread, or a remote one after a lost first thread.
    assert!(thread_line(&env, 504).contains(" remote=? "), "{:?}", env.lines);
}

#[test]
fn system_is_named_without_a_lookup_and_fileless_processes_print_a_dash() {
    let p = pipeline(&Config::DEFAULT);
    let mut env = Env::default();
    env.processes.insert(88, ""); // e.g. Registry, MemCompression: no image file
    record(&p, &thread(4, 100, ClientId { pid: 4, tid: 8 }));
    record(&p, &thread(88, 104, ClientId { pid: 4, tid: 8 }));
    record(&p, &thread(92, 108, ClientId { pid: 92, tid: 8 })); // gone: look-up fails
    run_all(&p, &mut env);
    assert!(thread_line(&env, 100).ends_with(r#"proc="System""#), "{:?}", env.lines);
    assert!(thread_line(&env, 104).ends_with(" proc=-"), "{:?}", env.lines);
    assert!(thread_line(&env, 108).ends_with(" proc=?"), "{:?}", env.lines);
    assert_eq!(env.lookups, [88, 92], "pid 4 is never looked up");
    assert_eq!(p.stats().snapshot().lookup_failures, 1, "only the vanished process counts as a failure");
}

#[test]
fn subsystem_is_printed_only_for_subsystem_processes() {
    let p = pipeline(&Config::DEFAULT);
    let mut env = Env::default();
    let by = ClientId { pid: 4, tid: 8 };
    for (pid, subsystem_process) in [(40, false), (44, true)] {
        let event = Event::ProcessCreate {
            pid,
            parent_pid: 4,
            creator: by,
            file_open_name_available: false,
            subsystem_process,
            image: None,
            command_line: None,
        };
        record(&p, &event);
    }
    run_all(&p, &mut env);
    let created: Vec<&String> = env.lines.iter().filter(|l| l.contains(" process-create ")).collect();
    assert!(!created[0].contains("subsystem"), "{}", created[0]);
    assert!(created[1].contains(" fileopen=0 subsystem=1 image=-"), "{}", created[1]);
}

/// Every delivered record's lines, joined, in order: what a reader reassembles.
fn logical_lines(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        let body = l.strip_prefix("notifyring: ").unwrap();
        let mut words = body.splitn(3, ' ');
        let (first, second) = (words.next().unwrap(), words.next().unwrap_or(""));
        if first.starts_with('#') && second.starts_with("cont=") {
            out.last_mut().unwrap().push_str(words.next().unwrap_or(""));
        } else {
            out.push(body.to_owned());
        }
    }
    out
}

#[test]
fn a_run_stops_at_its_time_budget_and_the_next_run_resumes_mid_record() {
    // 10 ms budget, each line costs 1 ms, records of ~20 lines each (long command lines).
    let config = Config { run_budget_ms: 10, batch: 256, stats_interval_s: 0, ..Config::DEFAULT };
    let p = pipeline(&config);
    let mut env = Env { line_cost: 1000, ..Env::default() };
    let by = ClientId { pid: 4, tid: 8 };
    let command_line: Vec<u16> = "a".repeat(8000).encode_utf16().collect();
    let image: Vec<u16> = r"C:\a.exe".encode_utf16().collect();
    let events = 12u64;
    for i in 0..events {
        let event = Event::ProcessCreate {
            pid: 100 + 4 * i,
            parent_pid: 4,
            creator: by,
            file_open_name_available: true,
            subsystem_process: false,
            image: Some(&image),
            command_line: Some(&command_line),
        };
        record(&p, &event);
    }
    let mut runs = 0usize;
    let mut longest = 0;
    while p.queue().0.replace(false) {
        let start = env.now;
        p.run_worker(&mut env);
        longest = longest.max(env.now - start);
        runs += 1;
    }
    let s = p.stats().snapshot();
    assert_eq!(s.delivered_total(), events, "every record delivered once");
    assert_eq!(s.longest_run_ticks, longest, "the pipeline measures runs with the env's clock");
    assert!(longest <= 10_000 + 1000, "a run lasts at most the budget plus one line: {longest} µs");
    assert!(runs >= env.lines.len() / 11, "{runs} runs for {} lines", env.lines.len());
    // Split records reassemble: each is one logical line with the whole command line.
    let logical = logical_lines(&env.lines);
    assert_eq!(logical.len(), usize::try_from(events).unwrap());
    for (i, line) in logical.iter().enumerate() {
        assert!(line.starts_with(&format!("#{} ", i + 1)), "{line:.60}");
        assert!(line.ends_with(&format!("cmdline=\"{}\"", "a".repeat(8000))), "record {i} whole");
    }
}

#[test]
fn unload_drains_a_record_left_half_printed() {
    let config = Config { run_budget_ms: 1, stats_interval_s: 0, ..Config::DEFAULT };
    let p = pipeline(&config);
    let mut env = Env { line_cost: 600, ..Env::default() };
    let command_line: Vec<u16> = "b".repeat(3000).encode_utf16().collect();
    let event = Event::ProcessCreate {
        pid: 8,
        parent_pid: 4,
        creator: ClientId { pid: 4, tid: 8 },
        file_open_name_available: true,
        subsystem_process: false,
        image: None,
        command_line: Some(&command_line),
    };
    record(&p, &event);
    // One run: a 1 ms budget lets two 0.6 ms lines out, then the record is kept.
    assert!(p.queue().0.replace(false));
    p.run_worker(&mut env);
    assert_eq!(env.lines.len(), 2);
    p.stop();
    while p.queue().0.replace(false) {
        p.run_worker(&mut env);
    }
    let s = p.shutdown(&mut env).unwrap();
    assert_eq!(s.delivered_total(), 1);
    let logical = logical_lines(&env.lines);
    assert!(logical[0].ends_with(&format!("cmdline=\"{}\"", "b".repeat(3000))));
    assert!(logical[1].starts_with("final-stats delivered=1 "), "{:?}", logical[1]);
}

/// A simulated-kernel environment whose clock the test moves.
struct TickEnv {
    inner: CollectEnv,
    now: Arc<AtomicU64>,
}

impl Host for TickEnv {
    fn process_image(&mut self, pid: u64, name: &mut Name) -> Lookup {
        self.inner.process_image(pid, name)
    }
    fn now_ticks(&mut self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl Sink for TickEnv {
    fn print(&mut self, line: Line<'_>) {
        self.inner.print(line);
    }
}

#[test]
fn the_timer_prints_the_stats_line_on_an_idle_system() {
    for fire in [false, true] {
        let now = Arc::new(AtomicU64::new(0));
        let env = TickEnv { inner: CollectEnv::default(), now: now.clone() };
        let config = Config { stats_interval_s: 1, ..Config::DEFAULT };
        let kernel = SimKernel::start(&config, Clock { start_ticks: 0, frequency: 1000 }, env).unwrap();
        now.store(1500, Ordering::SeqCst); // 1.5 s later, not one event
        if fire {
            kernel.tick();
        }
        let unloaded = kernel.unload();
        let lines = &unloaded.env.inner.lines;
        let periodic = lines.iter().filter(|l| l.starts_with("notifyring: stats delivered=0 ")).count();
        assert_eq!(periodic, usize::from(fire), "tick fired: {fire}; lines {lines:?}");
        assert!(lines.last().unwrap().starts_with("notifyring: final-stats delivered=0 "));
        assert_eq!(unloaded.queue.double_queues, 0);
    }
}
