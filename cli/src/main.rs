//! `notifyring`: the user-mode reader of the notifyring driver (`\\.\Global\NotifyRing`).
//!
//! * `notifyring watch`: prints events as they arrive, as the debugger's text lines or
//!   as JSON, filtered in user mode, until Ctrl+C; then a one-line summary on stderr.
//! * `notifyring status`: the driver's version, settings and counters.
//! * `notifyring facts FILE`: what `watch --json` adds for an image file.
//! * `notifyring account SID`: the account name `watch --json` gives a user SID.
//!
//! This file is the command line and the four commands. What a read's bytes become is
//! the driver crate's (`notifyring::user::watch`, tested on any host); the Windows calls
//! are the CLI's library's (`notifyring_cli::sys`: those calls on Windows, a one-line
//! refusal elsewhere), as are its errors: one line on stderr and an exit code
//! (docs/cli.md, "Exit codes").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use notifyring::event::Kind;
use notifyring::user::facts::{FileEvent, FileFactsSource as _};
use notifyring::user::pe::Hashes;
use notifyring::user::rules::{Level, Rules};
use notifyring::user::watch::{Filter, Format, Kinds, Watch};
use notifyring::vocab::token::Sid;
use notifyring_cli::disk::{DiskConfig, DiskFacts};
use notifyring_cli::error::CliError;
use notifyring_cli::output::Output;
use notifyring_cli::status::status_text;
use notifyring_cli::sys;

/// Reads the notifyring driver's event stream.
#[derive(Parser, Debug)]
#[command(name = "notifyring", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print events as they arrive, until Ctrl+C.
    Watch(WatchArgs),
    /// Print the driver's version, settings and counters.
    Status,
    /// Print what `watch --json` adds for an image file: its version resource, hashes
    /// and (on Windows) signature, one `Name=value` per line. Needs no driver.
    Facts(FactsArgs),
    /// Print the account name `watch --json` gives a user SID (its `User`, `DOMAIN\user`),
    /// looked up as the watch does (`LookupAccountSidW`). Needs no driver.
    Account(AccountArgs),
}

#[derive(clap::Args, Debug)]
struct AccountArgs {
    /// The SID, in its string form (`S-1-5-18`).
    #[arg(value_name = "SID")]
    sid: String,
}

#[derive(clap::Args, Debug)]
struct FactsArgs {
    /// The file.
    #[arg(value_name = "FILE")]
    file: String,
    /// The hashes to print, as for `watch`.
    #[arg(long, value_name = "LIST", value_parser = Hashes::parse, default_value = "sha1,md5,sha256,imphash")]
    hashes: Hashes,
}

#[derive(clap::Args, Debug)]
struct WatchArgs {
    /// One JSON object per line, in Sysmon's vocabulary (docs/json.md), instead of the
    /// debugger's lines.
    #[arg(long)]
    json: bool,
    /// Only these kinds: a comma list of process, thread, image.
    #[arg(long, value_name = "LIST", value_parser = Kinds::parse)]
    kinds: Option<Kinds>,
    /// Only events of this process id.
    #[arg(long, value_name = "N")]
    pid: Option<u64>,
    /// Only events whose image path (or, without one, process name) contains this,
    /// in any case.
    #[arg(long, value_name = "TEXT")]
    image: Option<String>,
    /// Append the output to this file instead of printing it.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// With --json, the image files' hashes to print (Sysmon's `Hashes`): a comma list
    /// of sha1, md5, sha256, imphash (printed in that order), `*` for all, or none.
    #[arg(long, value_name = "LIST", value_parser = Hashes::parse, default_value = "sha1,md5,sha256,imphash")]
    hashes: Hashes,
    /// With --json, do not read image files (no version resource, hashes or signature).
    #[arg(long)]
    no_file_facts: bool,
    /// With --json, how long an event waits for its image file's facts, in ms; one not
    /// ready by then is printed without them (and counted), the file's next event has them.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    facts_wait: u64,
    /// Sigma rules: files, or folders searched for .yml/.yaml files. Each event is
    /// evaluated, and an alert printed right after each event a rule matches.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    rules: Vec<PathBuf>,
    /// With --rules, print only the alerts (and LOST reports), not the events.
    #[arg(long, requires = "rules")]
    alerts_only: bool,
    /// With --rules, no alert below this level: informational, low, medium, high, critical.
    #[arg(long, value_name = "LEVEL", value_parser = Level::parse, requires = "rules")]
    min_level: Option<Level>,
}

impl WatchArgs {
    /// The file-facts source for this watch: the disk, unless the output is text or
    /// the user said no.
    fn disk_facts(&self) -> Option<DiskFacts> {
        if !self.json || self.no_file_facts {
            return None;
        }
        let config = DiskConfig {
            hashes: self.hashes,
            wait: std::time::Duration::from_millis(self.facts_wait),
            ..DiskConfig::default()
        };
        Some(DiskFacts::with_files(config, sys::files(), sys::signature()))
    }
}

fn watch(args: &WatchArgs) -> Result<(), CliError> {
    // The device first: a missing driver is reported before any file is created.
    let reader = sys::Reader::open()?;
    let mut out = Output::open(args.output.as_deref())?;
    let format = if args.json { Format::Json } else { Format::Text };
    let filter = Filter::new(args.kinds.unwrap_or(Kinds::ALL), args.pid, args.image.as_deref());
    let mut watch = Watch::new(format, filter, sys::path_map());
    let disk = args.disk_facts();
    let facts_stats = disk.as_ref().map(DiskFacts::stats_handle);
    if let Some(disk) = disk {
        watch = watch.with_file_facts(Box::new(disk));
    }
    // JSON's `User`: the account name of the token's SID, each SID asked once.
    if args.json
        && let Some(names) = sys::account_names()
    {
        watch = watch.with_account_names(names);
    }
    // JSON's `StartModule`/`StartFunction`: the file mapped at a thread's start, its export.
    if args.json
        && let Some(places) = sys::start_places(sys::path_map())
    {
        watch = watch.with_start_places(places);
    }
    // The rules after the device: a missing driver is reported before a long load.
    if !args.rules.is_empty() {
        let rules = Rules::load(&args.rules).min_level(args.min_level.unwrap_or(Level::Informational));
        for line in rules.loaded().report() {
            eprintln!("{line}");
        }
        watch = watch.with_rules(std::sync::Arc::new(rules), args.alerts_only);
    }
    reader.run(&mut watch, &mut out)?;
    out.flush()?;
    eprintln!("{}", watch.summary());
    if let Some(stats) = facts_stats {
        eprintln!("{}", stats.disk_stats());
    }
    Ok(())
}

fn status() -> Result<(), CliError> {
    let reply = sys::status_reply()?;
    let text = status_text(&reply)?;
    let mut out = Output::open(None)?;
    out.line(text.trim_end());
    out.flush()
}

/// `notifyring facts FILE`: the same `DiskFacts` path `watch` uses, for one image load.
fn facts(args: &FactsArgs) -> Result<(), CliError> {
    let config = DiskConfig { hashes: args.hashes, wait: std::time::Duration::from_mins(10), ..DiskConfig::default() };
    let mut disk = DiskFacts::with_files(config, sys::files(), sys::signature());
    let event = FileEvent { kind: Kind::ImageLoad, pid: 0, ticks: 0, path: &args.file, win32_path: &args.file };
    let facts = disk.file_facts(&event).ok_or_else(|| CliError::File(args.file.clone()))?;
    let mut out = Output::open(None)?;
    let fields = [
        ("OriginalFileName", facts.original_file_name),
        ("Description", facts.description),
        ("Product", facts.product),
        ("Company", facts.company),
        ("FileVersion", facts.file_version),
        ("Hashes", facts.hashes),
        ("Signed", facts.signed.map(|s| s.to_string())),
        ("Signature", facts.signature),
        ("SignatureStatus", facts.signature_status),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            out.line(&format!("{name}={value}"));
        }
    }
    out.flush()
}

/// `notifyring account SID`: the same look-up `watch --json` names `User` with.
fn account(args: &AccountArgs) -> Result<(), CliError> {
    let sid = Sid::parse(&args.sid).ok_or_else(|| CliError::NotASid(args.sid.clone()))?;
    let name = sys::lookup_account(&sid)?;
    let mut out = Output::open(None)?;
    out.line(&name);
    out.flush()
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` go to stdout and succeed. A usage error exits 1,
            // not clap's 2, which means "driver not loaded" here.
            let _ = e.print();
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Watch(args) => watch(&args),
        Command::Status => status(),
        Command::Facts(args) => facts(&args),
        Command::Account(args) => account(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn watch_options_parse() {
        let cli = Cli::try_parse_from([
            "notifyring",
            "watch",
            "--json",
            "--kinds",
            "process,image",
            "--pid",
            "42",
            "--image",
            "Note",
        ])
        .expect("parses");
        let Command::Watch(args) = cli.command else { panic!("not watch: {cli:?}") };
        assert!(args.json);
        assert_eq!(args.kinds, Some(Kinds::parse("image,process").expect("kinds")));
        assert_eq!((args.pid, args.image.as_deref(), args.output.as_deref()), (Some(42), Some("Note"), None));
        assert_eq!((args.hashes, args.no_file_facts, args.facts_wait), (Hashes::ALL, false, 5));
        assert!(args.disk_facts().is_some());
        let cli =
            Cli::try_parse_from(["notifyring", "watch", "--json", "--hashes", "sha256,IMPHASH", "--facts-wait", "20"])
                .expect("parses");
        let Command::Watch(args) = cli.command else { panic!("not watch: {cli:?}") };
        assert_eq!(args.hashes, Hashes { sha1: false, md5: false, sha256: true, imphash: true });
        assert_eq!(args.facts_wait, 20);
        let cli = Cli::try_parse_from([
            "notifyring",
            "watch",
            "--rules",
            "a.yml",
            "rules/",
            "--alerts-only",
            "--min-level",
            "High",
        ])
        .expect("parses");
        let Command::Watch(args) = cli.command else { panic!("not watch: {cli:?}") };
        assert_eq!(args.rules, [PathBuf::from("a.yml"), PathBuf::from("rules/")]);
        assert_eq!((args.alerts_only, args.min_level), (true, Some(Level::High)));
        assert!(Cli::try_parse_from(["notifyring", "watch", "--alerts-only"]).is_err(), "needs --rules");
        assert!(Cli::try_parse_from(["notifyring", "watch", "--rules", "r", "--min-level", "severe"]).is_err());
        let cli = Cli::try_parse_from(["notifyring", "watch", "--json", "--no-file-facts"]).expect("parses");
        let Command::Watch(args) = cli.command else { panic!("not watch: {cli:?}") };
        assert!(args.disk_facts().is_none(), "--no-file-facts reads no files");
        let cli = Cli::try_parse_from(["notifyring", "watch"]).expect("parses");
        let Command::Watch(args) = cli.command else { panic!("not watch: {cli:?}") };
        assert!(args.disk_facts().is_none(), "text output has no file facts");
        let err = Cli::try_parse_from(["notifyring", "watch", "--hashes", "crc32"]).expect_err("bad hash");
        assert!(err.to_string().contains(r#"unknown hash "crc32""#), "{err}");
        let err = Cli::try_parse_from(["notifyring", "watch", "--kinds", "files"]).expect_err("bad kind");
        assert!(err.to_string().contains(r#"unknown kind "files""#), "{err}");
        assert!(Cli::try_parse_from(["notifyring", "watch", "--pid", "-1"]).is_err());
    }

    #[test]
    fn facts_of_a_file_and_of_none() {
        let path = std::env::temp_dir().join(format!("notifyring-cli-facts-{}.bin", std::process::id()));
        std::fs::write(&path, "abc").expect("write");
        let file = path.to_str().expect("utf-8").to_owned();
        let hashes = Hashes::parse("md5").expect("md5");
        assert_eq!(facts(&FactsArgs { file: file.clone(), hashes }), Ok(()));
        std::fs::remove_file(&path).expect("remove");
        let err = facts(&FactsArgs { file: file.clone(), hashes }).expect_err("gone");
        assert_eq!((err.exit_code(), err.to_string()), (1, format!("notifyring: cannot read {file}")));
    }

    #[test]
    fn account_refuses_what_is_not_a_sid() {
        for text in [
            "",
            "S-1-",
            "S-1-5-",
            "S-2-5-18",
            "S-1-5-x",
            "NT AUTHORITY\\SYSTEM",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        ] {
            let err = account(&AccountArgs { sid: text.into() }).expect_err(text);
            assert_eq!(err, CliError::NotASid(text.into()));
            assert_eq!(err.exit_code(), 1);
            assert_eq!(
                err.to_string(),
                format!("notifyring: not a SID: {text:?} (expected S-1-<authority>-<sub-authority>-...)")
            );
        }
        let cli = Cli::try_parse_from(["notifyring", "account", "S-1-5-18"]).expect("parses");
        let Command::Account(args) = cli.command else { panic!("not account: {cli:?}") };
        assert_eq!(args.sid, "S-1-5-18");
        assert!(Cli::try_parse_from(["notifyring", "account"]).is_err(), "the SID is required");
        assert_eq!(
            CliError::NoAccount("S-1-5-21-1-2-3-1001".into()).to_string(),
            "notifyring: no account name for S-1-5-21-1-2-3-1001"
        );
    }

    #[cfg(not(windows))]
    #[test]
    fn elsewhere_every_command_says_windows_only() {
        assert_eq!(
            watch(&WatchArgs {
                json: false,
                kinds: None,
                pid: None,
                image: None,
                output: None,
                hashes: Hashes::ALL,
                no_file_facts: false,
                facts_wait: 5,
                rules: Vec::new(),
                alerts_only: false,
                min_level: None,
            }),
            Err(CliError::NotWindows)
        );
        assert_eq!(status(), Err(CliError::NotWindows));
        let system = AccountArgs { sid: "S-1-5-18".into() };
        assert_eq!(account(&system), Err(CliError::NotWindows));
        assert_eq!(CliError::NotWindows.to_string(), "notifyring: this program runs on Windows only");
    }
}
