//! The replay's stand-in for `KeQueryPerformanceCounter`: a cheap tick source that
//! stamps events and times each record call with the same read.
//!
//! On x86-64 it reads the TSC (`rdtsc`, invariant on the machines this runs on),
//! calibrated once against the monotonic clock; elsewhere it counts nanoseconds with
//! `Instant`. `Instant::now()` costs ~25 ns more than `rdtsc` (measured here), which
//! would be most of what it measures.

use std::borrow::ToOwned;
use std::format;
use std::string::String;
use std::time::{Duration, Instant};

/// A calibrated tick source. Copy it into each thread; reading it touches nothing shared.
#[derive(Clone, Copy, Debug)]
pub struct Ticker {
    origin: Instant,
    /// Ticks per second.
    frequency: u64,
    tsc: bool,
}

impl Ticker {
    /// Calibrates the TSC over `window` (x86-64), or uses nanoseconds elsewhere.
    #[must_use]
    pub fn calibrate(window: Duration) -> Self {
        let origin = Instant::now();
        if cfg!(target_arch = "x86_64") {
            let (t0, c0) = (Instant::now(), read_tsc());
            std::thread::sleep(window);
            let (t1, c1) = (Instant::now(), read_tsc());
            let nanos = t1.duration_since(t0).as_nanos().max(1);
            let frequency = u128::from(c1.wrapping_sub(c0)) * 1_000_000_000 / nanos;
            if let Ok(frequency) = u64::try_from(frequency)
                && frequency > 1_000_000
            {
                return Self { origin, frequency, tsc: true };
            }
        }
        Self { origin, frequency: 1_000_000_000, tsc: false }
    }

    /// Current ticks.
    #[inline]
    #[must_use]
    pub fn now(&self) -> u64 {
        if self.tsc { read_tsc() } else { u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX) }
    }

    /// Ticks per second.
    #[must_use]
    pub const fn frequency(&self) -> u64 {
        self.frequency
    }

    /// `ticks` in nanoseconds.
    #[must_use]
    pub fn nanos(&self, ticks: u64) -> u64 {
        u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(self.frequency)).unwrap_or(u64::MAX)
    }

    /// What this ticker reads, for reports (`rdtsc @ 2.595 GHz` or `Instant (ns)`).
    #[must_use]
    pub fn describe(&self) -> String {
        if self.tsc {
            let mhz = u32::try_from(self.frequency / 1_000_000).unwrap_or(u32::MAX);
            format!("rdtsc @ {:.3} GHz (calibrated)", f64::from(mhz) / 1e3)
        } else {
            "std::time::Instant (ns)".to_owned()
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86-64; it only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
const fn read_tsc() -> u64 {
    0
}
