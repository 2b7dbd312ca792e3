//! For tests that step the real pipeline by hand: `IoQueueWorkItem` as a flag the test
//! clears when it runs the routine itself. Queueing a queued item is bug check 0xE4.

use notifyring::WorkQueue;
use std::cell::Cell;

/// The work item: queued or not.
#[derive(Default)]
pub struct Queue(pub Cell<bool>);

impl WorkQueue for Queue {
    fn queue(&self) {
        assert!(!self.0.replace(true), "work item queued while already queued");
    }
}
