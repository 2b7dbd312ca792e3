//! What the status IOCTL reports, as `name=value` items.
//!
//! For [`super::wire::encode_status`]: the configuration in force, every counter under
//! the name the statistics line prints, and the reader's counters (prefixed `reader_`).
//!
//! Portable, so that a host test holds the names to the statistics line's; the driver
//! only gathers the inputs.

use super::channel::ReaderCounters;
use crate::config::Config;
use crate::digits::micros;
use crate::event::Kind;
use crate::record::Caps;
use crate::stats::Snapshot;

/// Items [`items`] returns.
pub const ITEMS: usize = 53;

/// The inputs: what the driver knows when the IOCTL arrives.
#[derive(Clone, Copy, Debug)]
pub struct Inputs {
    /// The settings read at entry.
    pub config: Config,
    /// Rings made (one per processor counted at entry).
    pub rings: u64,
    /// Bytes of each ring.
    pub ring_bytes: u64,
    /// The string caps in force (fitted to the ring).
    pub caps: Caps,
    /// The counters now.
    pub stats: Snapshot,
    /// Performance-counter frequency, for `longest_run_us`.
    pub frequency: u64,
    /// The reader's counters now.
    pub reader: ReaderCounters,
    /// Whether a reader is attached.
    pub attached: bool,
    /// Bytes waiting in the reader's buffer.
    pub buffered: u64,
}

/// The status items, in a fixed order.
#[must_use]
pub fn items(i: &Inputs) -> [(&'static str, u64); ITEMS] {
    let c = &i.config;
    let s = &i.stats;
    let r = &i.reader;
    let kind = |k: Kind| (k.name(), s.delivered.get(k.index()).copied().unwrap_or(0));
    [
        ("RingBytes", c.ring_bytes as u64),
        ("Rings", i.rings),
        ("RingBytesEach", i.ring_bytes),
        ("ImagePathCap", u64::from(c.caps.image)),
        ("CommandLineCap", u64::from(c.caps.command_line)),
        ("ImagePathCapInForce", u64::from(i.caps.image)),
        ("CommandLineCapInForce", u64::from(i.caps.command_line)),
        ("BatchSize", u64::from(c.batch)),
        ("RunBudgetMilliseconds", u64::from(c.run_budget_ms)),
        ("PidTableSize", c.names as u64),
        ("OmitCommandLine", u64::from(c.omit_command_line)),
        ("ReaderBytes", c.reader_bytes as u64),
        ("DebuggerOutput", u64::from(c.debugger_output.value())),
        ("KernelImageBases", u64::from(c.kernel_image_bases)),
        ("StatsIntervalSeconds", u64::from(c.stats_interval_s)),
        ("EnableProcess", u64::from(c.sources.process)),
        ("EnableThread", u64::from(c.sources.thread)),
        ("EnableImage", u64::from(c.sources.image)),
        ("DebugLevel", u64::from(c.level)),
        ("delivered", s.delivered_total()),
        kind(Kind::ProcessCreate),
        kind(Kind::ProcessExit),
        kind(Kind::ThreadCreate),
        kind(Kind::ThreadExit),
        kind(Kind::ImageLoad),
        ("lost", s.lost_total()),
        ("lost_contended", s.lost_contended),
        ("lost_reported", s.lost_reported),
        ("truncated", s.truncated_strings),
        ("runs", s.worker_runs),
        ("max_batch", s.largest_batch),
        ("high_water", s.high_water),
        ("busy_stops", s.busy_stops),
        ("sweeps", s.sweeps),
        ("sweep_wakes", s.sweep_wakes),
        ("lookup_failures", s.lookup_failures),
        ("token_failures", s.token_failures),
        ("start_failures", s.start_failures),
        ("names_dropped", s.names_dropped),
        ("longest_run_us", micros(s.longest_run_ticks, i.frequency)),
        // Not on the statistics line (it would count itself), but a counter all the same.
        ("lines", s.lines),
        ("reader_attaches", r.attaches),
        ("reader_events", r.events),
        ("reader_lost", r.lost),
        ("reader_dropped_full", r.dropped_full),
        ("reader_events_read", r.events_read),
        ("reader_lost_read", r.lost_read),
        ("reader_reads", r.reads),
        ("reader_reads_pended", r.reads_pended),
        ("reader_attached", u64::from(i.attached)),
        ("reader_buffered", i.buffered),
        ("reader_capacity", c.reader_bytes as u64),
        ("clock_frequency", i.frequency),
    ]
}

#[cfg(all(test, not(any(target_os = "windows", loom, notifyring_no_std))))]
mod tests {
    use super::*;
    use crate::reader::wire::{STATUS_MAX, Status, encode_status};
    use crate::vocab::clock::Clock;
    use crate::worker::format::LINE_BUF;

    fn inputs() -> Inputs {
        let config = Config::DEFAULT;
        Inputs {
            config,
            rings: 2,
            ring_bytes: 1 << 21,
            caps: config.effective_caps(),
            stats: Snapshot { delivered: [1, 2, 3, 4, 5], lost_contended: 7, lines: 9, ..Snapshot::default() },
            frequency: 10_000_000,
            reader: ReaderCounters { attaches: 1, reads: 3, ..ReaderCounters::default() },
            attached: true,
            buffered: 48,
        }
    }

    #[test]
    fn every_statistics_line_counter_is_reported_under_its_name() {
        let i = inputs();
        let items = items(&i);
        let mut line = [0u8; LINE_BUF];
        let mut text = std::string::String::new();
        crate::worker::format::stats(
            b"stats",
            &i.stats,
            i.ring_bytes,
            Clock { start_ticks: 0, frequency: 1 },
            &mut line,
            |l| {
                text.push_str(core::str::from_utf8(l.text()).unwrap_or(""));
                text.push(' ');
            },
        );
        // Every `name=value` of the line (a long line continues on more lines).
        let names: std::vec::Vec<_> =
            text.split(' ').filter_map(|pair| pair.split_once('=').map(|(name, _)| name)).collect();
        assert!(names.len() >= 17, "the stats line lost its counters: {text}");
        for name in names {
            assert!(items.iter().any(|(n, _)| *n == name), "`{name}` of the stats line is not a status item");
        }
    }

    #[test]
    fn status_reply_round_trips_within_its_bound() {
        let i = inputs();
        let mut out = [0u8; STATUS_MAX];
        let n = encode_status(&mut out, "0.1.0", items(&i)).expect("fits STATUS_MAX");
        let status = Status::parse(&out[..n]).expect("parses");
        assert_eq!(status.driver_version, "0.1.0");
        let got: std::vec::Vec<_> = status.items().collect();
        assert_eq!(got.len(), ITEMS);
        assert!(got.contains(&("reader_attached", 1)));
        assert!(got.contains(&("thread-create", 3)));
        assert!(got.contains(&("DebuggerOutput", 0)));
    }
}
