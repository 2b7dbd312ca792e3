//! The CLI's errors: one line on stderr and the exit code docs/cli.md documents.
//! - Win32 errors map to their exit codes;
//! - what `Watch` makes of bytes that are not a batch this program reads: another
//!   protocol version is exit 5, saying what to do; anything else is a bad reply, exit 1.
//!
//! (Which error each cut, flipped or miscounted batch is: the driver crate's
//! `tests/cli_watch.rs`, on batches its own encoder made.)

use notifyring::reader::wire::{self, WireError};
use notifyring::user::paths::PathMap;
use notifyring::user::watch::{Anchor, Filter, Format, Watch, WatchError};
use notifyring_cli::error::CliError;

#[test]
fn win32_errors_map_to_the_documented_exit_codes() {
    let cases = [
        (2, 2, "driver not loaded"),
        (3, 2, "driver not loaded"),
        (5, 3, "elevated"),
        (32, 4, "another reader"),
        (56, 6, "4 reads of this reader are waiting already"),
    ];
    for (code, exit, says) in cases {
        let err = CliError::from_win32("opening", code);
        assert_eq!(err.exit_code(), exit, "{code}");
        assert!(err.to_string().contains(says), "{err}");
    }
    let err = CliError::from_win32("reading", 1167);
    assert_eq!(err.exit_code(), 1);
    assert_eq!(err.to_string(), "notifyring: reading failed: Windows error 1167");
    assert_eq!(
        CliError::from_win32("opening", 2).to_string(),
        r"notifyring: driver not loaded (\\.\Global\NotifyRing does not exist): start the notifyring service"
    );
}

/// One read's bytes through a text watch: the CLI's error for them.
fn batch_error(bytes: &[u8]) -> CliError {
    let mut watch = Watch::new(Format::Text, Filter::default(), PathMap::default());
    let anchor = || Anchor { wall_ns: 0, ticks: 0 };
    CliError::from(watch.batch(bytes, anchor, |_| None, |_| panic!("nothing is printed")).expect_err("not a batch"))
}

/// The start of a batch header: its magic and protocol version.
fn header(version: u16) -> Vec<u8> {
    [&wire::BATCH_MAGIC[..], &version.to_le_bytes()].concat()
}

#[test]
fn another_protocol_version_is_exit_5() {
    let err = batch_error(&header(wire::VERSION + 1));
    assert_eq!(err, CliError::Wire(WireError::Version { found: wire::VERSION + 1 }));
    assert_eq!(err.exit_code(), 5);
    assert_eq!(
        err.to_string(),
        format!(
            "notifyring: protocol version mismatch: the driver speaks {}, this program {}: use the CLI built with the driver",
            wire::VERSION + 1,
            wire::VERSION
        )
    );
    // Garbage after a batch's magic reads as a version, too.
    let mut garbage = vec![0x5a_u8; 4096];
    garbage[..4].copy_from_slice(&wire::BATCH_MAGIC);
    assert_eq!(batch_error(&garbage).exit_code(), 5);
}

#[test]
fn a_bad_reply_is_exit_1_and_says_what_is_wrong() {
    let bad = |says: &str| format!("notifyring: bad reply from the driver: {says}");
    // Through the watch: not a batch at all, and a header cut anywhere.
    let err = batch_error(b"hello");
    assert_eq!(err, CliError::Wire(WireError::Magic));
    assert_eq!((err.exit_code(), err.to_string()), (1, bad("not a notifyring reply")));
    let cut = header(wire::VERSION);
    for n in 0..=cut.len() {
        let err = batch_error(&cut[..n]);
        assert_eq!((err.exit_code(), err.to_string()), (1, bad("truncated reply")), "{n}");
    }
    // Every other error a watch reports.
    let cases = [
        (WatchError::Wire(WireError::Short), "truncated reply"),
        (WatchError::Wire(WireError::Magic), "not a notifyring reply"),
        (WatchError::Wire(WireError::Entry { at: 40 }), "malformed entry at byte 40"),
        (WatchError::EntryCount { announced: 7, found: 6 }, "batch announces 7 entries, holds 6"),
    ];
    for (watch_error, says) in cases {
        let err = CliError::from(watch_error);
        assert_eq!((err.exit_code(), err.to_string()), (1, bad(says)), "{watch_error:?}");
    }
    assert_eq!(
        CliError::from(WatchError::EntryCount { announced: 7, found: 6 }),
        CliError::EntryCount { announced: 7, found: 6 }
    );
}
