//! Step 6: the user-mode reader's share of the stream (`\\.\Global\NotifyRing`), after the
//! worker.
//!
//! The worker hands each delivered record and each loss to the [`Channel`]; the
//! read dispatch takes batches out of it, or leaves its read pending until the worker
//! completes it. Nothing here runs in a notify callback.
//!
//! * [`wire`]: the versioned binary format of a read and of the status reply, encoder
//!   and decoder (user mode decodes with this same code).
//! * [`channel`]: the reader's fixed buffer, its loss accounting and the protocol
//!   between the worker, the read dispatch and cancellation.
//! * [`open`]: what an open of the device is (the reader, status-only, or not yet known),
//!   from the access its create carries.
//! * [`status`]: the status IOCTL's items (configuration and counters).
//! * [`sink`]: the worker's sink with a reader device: feeds the channel, completes the
//!   read it fills, mutes the debugger as `DebuggerOutput` says.
//!
//! The worker never waits for the reader: when the reader's buffer is full, events are
//! dropped from the reader's stream only, counted, and the reader gets a LOST entry at
//! their place. For the reader, from the moment it attaches, every event the worker
//! delivers or reports lost arrives as an event or inside a LOST count, exactly once.

pub mod channel;
pub mod device;
pub mod open;
pub mod sink;
pub mod status;
pub mod wire;

pub use channel::{Channel, FILL_BUDGET, Held, Lock, MAX_BATCH, Pending, Read, ReadOutcome, ReaderCounters};
pub use sink::{Device, ReaderSink};
