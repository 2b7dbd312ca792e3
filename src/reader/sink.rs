//! The reader's [`Sink`]: what the worker's output does once a reader may be attached.
//! The driver, the simulated device, the tests and the link-time proof all run this one.
//!
//! Each delivered record and each loss goes into the device's [`Channel`] under its lock;
//! the read it fills (if one was pending) is completed outside the lock. Event and LOST
//! lines go to the debugger, or not, as [`DebuggerOutput`] says; statistics lines always do.

use super::channel::{Channel, Lock, Pending};
use crate::config::DebuggerOutput;
use crate::delivered::Delivered;
use crate::vocab::process::ProcessName;
use crate::worker::Sink;
use crate::worker::format::Line;

/// The reader's end of the device: its channel and its queue of pending reads.
pub trait Device {
    /// The channel's lock.
    type Lock: Lock;
    /// The pending reads.
    type Pending: Pending<Self::Lock>;
    /// The channel.
    fn channel(&self) -> &Channel<Self::Lock>;
    /// The queue of pending reads.
    fn pending(&self) -> &Self::Pending;
}

impl<D: Device + ?Sized> Device for &D {
    type Lock = D::Lock;
    type Pending = D::Pending;
    fn channel(&self) -> &Channel<Self::Lock> {
        (**self).channel()
    }
    fn pending(&self) -> &Self::Pending {
        (**self).pending()
    }
}

/// The worker's sink with a reader device: feeds the device's channel and passes lines
/// on to `debugger` as `output` says.
pub struct ReaderSink<D, S> {
    /// The device whose channel is fed.
    pub device: D,
    /// When event and LOST lines go to the debugger.
    pub output: DebuggerOutput,
    /// The debugger's sink (it also sees each record and loss).
    pub debugger: S,
}

impl<D: Device, S: Sink> Sink for ReaderSink<D, S> {
    fn print(&mut self, line: Line<'_>) {
        self.debugger.print(line);
    }

    fn delivered(&mut self, event: &Delivered<'_>) {
        self.debugger.delivered(event);
        // The channel copies under its lock (a spin lock in the kernel: DISPATCH_LEVEL),
        // and a known process name lives in the pid table, in paged pool: copy it to
        // this stack first.
        let name;
        let process = match event.process {
            ProcessName::Known(known) => {
                name = *known;
                ProcessName::Known(&name)
            }
            other => other,
        };
        let event = Delivered { process, ..*event };
        let (channel, pending) = (self.device.channel(), self.device.pending());
        if let Some((read, bytes)) = channel.deliver(pending, &event) {
            pending.complete(read, bytes);
        }
    }

    fn lost(&mut self, seq: u64, count: u64) {
        self.debugger.lost(seq, count);
        let (channel, pending) = (self.device.channel(), self.device.pending());
        if let Some((read, bytes)) = channel.lost(pending, seq, count) {
            pending.complete(read, bytes);
        }
    }

    fn event_lines(&mut self) -> bool {
        // Only `WithoutReader` needs to know whether a reader is attached: the channel's
        // hint, as `delivered` uses it.
        let attached = self.output == DebuggerOutput::WithoutReader && self.device.channel().reader_hint();
        self.output.prints(attached) && self.debugger.event_lines()
    }
}
