//! Floor 2: a record as the worker delivers it, with what it decided about it.
//!
//! The stream position, the process's name, a thread's origin and start, a create's token
//! facts: what the sinks (the debugger, the reader) and user mode receive.

use crate::record::Record;
use crate::vocab::process::{Origin, ProcessName};
use crate::vocab::start::ThreadStart;
use crate::vocab::token::TokenFacts;

/// A record with the worker's facts about it, for `Sink::delivered`.
#[derive(Clone, Copy, Debug)]
pub struct Delivered<'a> {
    /// Stream position (gaps equal the losses reported before it).
    pub seq: u64,
    /// The decoded record.
    pub record: &'a Record<'a>,
    /// The record as it sits in the ring (what the reader's wire format carries).
    pub bytes: &'a [u8],
    /// For a thread-create: whether it came from another process.
    pub origin: Origin,
    /// What the pid table knows of the record's process (the `proc=` field).
    pub process: ProcessName<'a>,
    /// A process create's token facts, read through the reference the record held.
    pub token: Option<&'a TokenFacts>,
    /// A thread from another process (remote, or undecided): where it starts, where the
    /// host could read it.
    pub start: Option<ThreadStart>,
}
