//! The replay's command line (`examples/replay.rs` is a thin `main` around [`main`]):
//! options, which input, the run, the summary, the exit status.
//!
//! Exit status: 0 when every check held, 1 when a check failed (events lost without
//! being counted, a double queue, …), 2 for bad options or unreadable input.

use super::{engine, summary, synthetic, trace};
use crate::record::Caps;
use crate::user::paths::PathMap;
use crate::user::rules::{Level, Rules};
use clap::Parser;
use std::borrow::ToOwned;
use std::path::PathBuf;
use std::process::ExitCode;
use std::string::{String, ToString};
use std::sync::Arc;
use std::time::Duration;
use std::vec::Vec;
use std::{eprint, eprintln, format};

/// Replays process, thread and image-load events through the notifyring pipeline on a
/// simulated kernel: debugger lines on stdout, a summary on stderr.
#[derive(Parser, Debug)]
#[command(version)]
#[expect(clippy::struct_excessive_bools, reason = "independent command-line switches")]
struct Args {
    /// JSON Lines trace to replay (plain or .gz; repeatable, replayed one after the
    /// other). Without it (and without --synthetic), the recording vendored in
    /// examples/data/ is replayed at 100x its pace.
    #[arg(long, value_name = "FILE")]
    trace: Vec<PathBuf>,

    /// Replay a synthetic workload instead: as fast as possible (unless --speed), so the
    /// producers outrun the worker and the ring overflows, and says so in-band.
    #[arg(long, conflicts_with = "trace")]
    synthetic: bool,

    /// Seed of the synthetic workload.
    #[arg(long, default_value_t = 1, requires = "synthetic")]
    seed: u64,

    /// Events in the synthetic workload.
    #[arg(long, default_value_t = 100_000, requires = "synthetic")]
    events: usize,

    /// Replay at the recorded timing scaled by X (2 = twice as fast); default: as fast
    /// as possible for --trace and --synthetic, 100 for the vendored recording.
    #[arg(long, value_name = "X", value_parser = parse_speed)]
    speed: Option<f64>,

    /// What stdout gets: the debugger lines, or one Sysmon-compatible JSON object per
    /// event (docs/json.md).
    #[arg(long, value_enum, default_value_t = engine::Format::Text)]
    format: engine::Format,

    /// For JSON paths: the drive an NT volume device stands for, as `DEVICE=DRIVE`
    /// (e.g. `\Device\HarddiskVolume3=C:`); repeatable. Unmapped volumes stay as given.
    #[arg(long, value_name = "DEVICE=DRIVE", value_parser = parse_volume)]
    volume: Vec<(String, String)>,

    /// For JSON paths: what `\SystemRoot` stands for.
    #[arg(long, value_name = "DIR", default_value = r"C:\Windows")]
    system_root: String,

    /// Producer threads calling the record entry point (events of one process stay on
    /// one producer).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    producers: u16,

    /// Ring capacity in bytes: a power of two from 4096 to 268435456.
    #[arg(long, value_name = "BYTES", default_value_t = crate::Config::DEFAULT.ring_bytes)]
    ring_size: usize,

    /// Image path cap in UTF-16 units (16–32767).
    #[arg(long, value_name = "UNITS", default_value_t = Caps::DEFAULT.image,
          value_parser = clap::value_parser!(u32).range(16..=32_767))]
    image_cap: u32,

    /// Command line cap in UTF-16 units (0–32767).
    #[arg(long, value_name = "UNITS", default_value_t = Caps::DEFAULT.command_line,
          value_parser = clap::value_parser!(u32).range(0..=32_767))]
    cmdline_cap: u32,

    /// The worker sleeps N ms before each run (shows overflow and LOST lines).
    #[arg(long, value_name = "N", default_value_t = 0)]
    stall_worker_ms: u64,

    /// Each printed line costs the worker N µs, as a synchronous round trip to an
    /// attached kernel debugger would (shows the worker's time budget at work).
    #[arg(long, value_name = "N", default_value_t = 0)]
    print_delay_us: u64,

    /// The worker's time budget per run, in ms (1–1000; the driver's `RunBudgetMilliseconds`).
    #[arg(long, value_name = "MS", default_value_t = crate::Config::DEFAULT.run_budget_ms,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    run_budget_ms: u32,

    /// Record kernel images' bases (the driver's `KernelImageBases=1`; by default they
    /// are not recorded: they would tell where the kernel's modules lie).
    #[arg(long)]
    kernel_image_bases: bool,

    /// Do not print the debugger lines (they are still formatted and counted).
    #[arg(long)]
    quiet: bool,

    /// Also write the summary as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,

    /// Sigma rules: files, or folders searched for .yml/.yaml files. Each event is
    /// evaluated as its JSON object, and an alert printed right after each event a rule
    /// matches (as `notifyring watch --rules` does).
    #[arg(long, value_name = "PATH", num_args = 1..)]
    rules: Vec<PathBuf>,

    /// With --rules, print only the alerts (and LOST reports), not the events.
    #[arg(long, requires = "rules")]
    alerts_only: bool,

    /// With --rules, no alert below this level: informational, low, medium, high, critical.
    #[arg(long, value_name = "LEVEL", value_parser = Level::parse, requires = "rules")]
    min_level: Option<Level>,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if x.is_finite() && (1e-6..=1e9).contains(&x) {
        Ok(x)
    } else {
        Err("must be a number from 0.000001 to 1000000000".to_owned())
    }
}

fn parse_volume(s: &str) -> Result<(String, String), String> {
    let (device, drive) = s.split_once('=').ok_or("expected DEVICE=DRIVE, e.g. \\Device\\HarddiskVolume3=C:")?;
    if !device.starts_with('\\') || drive.is_empty() {
        return Err("expected DEVICE=DRIVE, e.g. \\Device\\HarddiskVolume3=C:".to_owned());
    }
    Ok((device.to_owned(), drive.to_owned()))
}

/// The small real recording shipped with the source (see examples/data/README.md).
const VENDORED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/procmon_win10x64_process.jsonl.gz");

/// Parses the command line, replays, prints the summary: `examples/replay.rs`'s `main`.
#[must_use]
pub fn main() -> ExitCode {
    let args = Args::parse();
    let vendored = !args.synthetic && args.trace.is_empty();
    let workload = if args.synthetic {
        synthetic::generate(args.seed, args.events)
    } else {
        let vendored_file = [PathBuf::from(VENDORED)];
        let files = if vendored { &vendored_file[..] } else { &args.trace[..] };
        match trace::load(files) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("replay: error: {e}");
                return ExitCode::from(2);
            }
        }
    };
    for m in &workload.malformed {
        eprintln!("replay: {}: {}", m.at, m.reason);
    }
    let malformed_lines = workload.malformed_lines;
    let stall = Duration::from_millis(args.stall_worker_ms);
    let speed = args.speed.or_else(|| vendored.then_some(100.0));
    let mut paths = PathMap::new(&args.system_root);
    for (device, drive) in &args.volume {
        paths.add_volume(device, drive);
    }
    let rules = (!args.rules.is_empty()).then(|| {
        let rules = Rules::load(&args.rules).min_level(args.min_level.unwrap_or(Level::Informational));
        for line in rules.loaded().report() {
            eprintln!("{line}");
        }
        Arc::new(rules)
    });
    let options = engine::Options {
        producers: usize::from(args.producers),
        speed,
        ring_bytes: args.ring_size,
        caps: Caps { image: args.image_cap, command_line: args.cmdline_cap },
        stall_worker: stall,
        print_delay: Duration::from_micros(args.print_delay_us),
        run_budget_ms: args.run_budget_ms,
        kernel_image_bases: args.kernel_image_bases,
        output: if args.quiet { engine::Output::Discard } else { engine::Output::Stdout },
        format: args.format,
        paths,
        rules,
        alerts_only: args.alerts_only,
    };
    let report = match engine::run(&workload, &options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("replay: error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(e) = &report.write_error {
        eprintln!("replay: stopped printing lines: {e}");
    }
    let summary = summary::Summary::new(&report, workload.sources, malformed_lines, speed, stall);
    eprint!("{}", summary.human());
    if let Some(path) = &args.summary_json {
        let written = serde_json::to_string_pretty(&summary)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(path, json + "\n").map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("replay: error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if summary.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
