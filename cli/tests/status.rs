//! `notifyring status`: the driver's reply as text, and a reply cut short, of another
//! version or truncated, as an error.

use notifyring::reader::wire;
use notifyring_cli::error::CliError;
use notifyring_cli::status::status_text;

#[test]
fn status_reply_as_text() {
    let mut buf = [0u8; wire::STATUS_MAX];
    let items = [("reader_attached", 1), ("events", 1234), ("lost", 5)];
    let n = wire::encode_status(&mut buf, "0.1.0", items).expect("fits");
    assert_eq!(
        status_text(&buf[..n]).expect("status"),
        format!("driver 0.1.0 (protocol {})\nreader_attached=1\nevents=1234\nlost=5\n", wire::VERSION)
    );
    // Total length pulled back by one: the last item no longer fits.
    let mut cut = buf;
    cut[8..12].copy_from_slice(&u32::try_from(n - 1).expect("small").to_le_bytes());
    assert_eq!(status_text(&cut[..n]), Err(CliError::StatusItems { announced: 3, found: 2 }));
    let mut other = buf;
    other[4..6].copy_from_slice(&7u16.to_le_bytes());
    assert_eq!(status_text(&other[..n]).map_err(|e| e.exit_code()), Err(5));
    for end in 0..n {
        assert!(status_text(&buf[..end]).is_err(), "{end}");
    }
}
