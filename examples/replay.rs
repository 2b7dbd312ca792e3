//! Replays process, thread and image-load events through the real pipeline on a
//! simulated kernel, printing exactly what the driver would print to the debugger
//! (stdout) and a summary of what it cost (stderr). The replay itself is the library's
//! `notifyring::replay` (src/replay/, built with the `host` feature).
//!
//! ```text
//! cargo run --release --example replay                       # the vendored recording, 100x its pace
//! cargo run --release --example replay -- --format json | jq # the same as Sysmon-style JSON
//! cargo run --release --example replay -- --synthetic        # overload: 100,000 events, no pacing
//! cargo run --release --example replay -- --trace FILE.jsonl.gz --speed 10
//! ```
//!
//! Exit status: 0 when every check held, 1 when a check failed (events lost without
//! being counted, a double queue, …), 2 for bad options or unreadable input.

fn main() -> std::process::ExitCode {
    notifyring::replay::cli::main()
}
