//! The callback path allocates nothing: a counting global allocator watches 100,000
//! record calls of every kind (including a ring that overflows) on this thread.

use notifyring::vocab::clock::Clock;
use notifyring::{ClientId, Config, Event, Pipeline, Recorded, Stamp, Stats, WorkQueue};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; counting has no effect on the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A work queue that only counts (the worker never runs, so the ring also fills up and
/// the loss path is exercised).
struct CountQueue(Cell<u64>);
// SAFETY: used from this test's thread only.
unsafe impl Sync for CountQueue {}
impl WorkQueue for CountQueue {
    fn queue(&self) {
        self.0.set(self.0.get() + 1);
    }
    fn arm_sweep(&self) {}
}

#[test]
fn record_path_makes_zero_allocations() {
    let stats: &'static Stats = Box::leak(Box::new(Stats::new()));
    let config = Config { ring_bytes: 1 << 20, ..Config::DEFAULT };
    let pipeline =
        Pipeline::new(&config, Clock { start_ticks: 0, frequency: 1 }, CountQueue(Cell::new(0)), stats).unwrap();
    let image: Vec<u16> = r"\Device\HarddiskVolume3\Windows\System32\svchost.exe".encode_utf16().collect();
    let cmd: Vec<u16> = "svchost.exe -k netsvcs -p -s Schedule ".repeat(6).encode_utf16().collect();
    let long: Vec<u16> = vec![0xd800; 32_767];
    let creator = ClientId { pid: 4, tid: 8 };
    let events = [
        Event::ProcessCreate {
            pid: 100,
            parent_pid: 4,
            creator,
            file_open_name_available: true,
            subsystem_process: false,
            image: Some(&image),
            command_line: Some(&cmd),
        },
        Event::ProcessCreate {
            pid: 104,
            parent_pid: 4,
            creator,
            file_open_name_available: false,
            subsystem_process: true,
            image: None,
            command_line: Some(&long),
        },
        Event::ThreadCreate { pid: 100, tid: 200, creator },
        Event::ThreadExit { pid: 100, tid: 200 },
        Event::ImageLoad {
            pid: 100,
            base: 0x7ff0_0000_0000,
            size: 0x1000,
            kernel_image: false,
            signature_level: 12,
            signature_type: 1,
            image: Some(&image),
        },
        Event::ProcessExit { pid: 100, exit_status: 0 },
    ];
    let before = ALLOCATIONS.with(Cell::get);
    let mut lost = 0;
    for i in 0..100_000u64 {
        let e = &events[(i % 6) as usize];
        if pipeline.record(Stamp { ticks: i, cpu: 0 }, e) == Recorded::Lost {
            lost += 1;
        }
    }
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(after - before, 0, "allocations on the record path");
    assert!(lost > 0, "the loss path was exercised too");
    assert_eq!(pipeline.queue().0.get(), 1, "queued once: the worker never ran");
}
