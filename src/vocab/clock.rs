//! The performance-counter time base every stamp is relative to.

/// Performance-counter time base, for `+seconds` stamps relative to driver start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Ticks at driver start.
    pub start_ticks: u64,
    /// Ticks per second (`KeQueryPerformanceCounter`'s frequency).
    pub frequency: u64,
}
