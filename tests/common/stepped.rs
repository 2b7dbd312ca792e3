//! For tests that step the real pipeline by hand: `IoQueueWorkItem` as a flag the test
//! clears when it runs the routine itself, and the idle sweep's timer as a count of the
//! times it was armed. Queueing a queued item is bug check 0xE4.

use notifyring::WorkQueue;
use std::cell::Cell;

/// The work item: queued or not; and how often the idle sweep was armed.
#[derive(Default)]
pub struct Queue(pub Cell<bool>, pub Cell<u32>);

impl WorkQueue for Queue {
    fn queue(&self) {
        assert!(!self.0.replace(true), "work item queued while already queued");
    }
    fn arm_sweep(&self) {
        self.1.set(self.1.get() + 1);
    }
}
