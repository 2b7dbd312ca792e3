//! Where a command's lines go: standard output, or a file appended to (`watch
//! --output`); a write error is kept for the end of the batch, and then the command's
//! error.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::CliError;

/// Where the output goes; keeps the first write error for the end of a batch.
pub struct Output {
    writer: BufWriter<Box<dyn Write>>,
    error: Option<io::Error>,
}

impl Output {
    /// Standard output, or `path` opened for appending (created if missing).
    ///
    /// # Errors
    /// [`CliError::Output`] if `path` cannot be opened.
    pub fn open(path: Option<&Path>) -> Result<Self, CliError> {
        let writer: Box<dyn Write> = match path {
            None => Box::new(io::stdout()),
            Some(path) => Box::new(
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .map_err(|e| CliError::Output(format!("{}: {e}", path.display())))?,
            ),
        };
        Ok(Self { writer: BufWriter::with_capacity(1 << 16, writer), error: None })
    }

    /// Writes one line (a text line or a JSON object).
    pub fn line(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self.writer.write_all(text.as_bytes()).and_then(|()| self.writer.write_all(b"\n"))
        {
            self.error = Some(e);
        }
    }

    /// Flushes what a batch wrote, so events show as they arrive.
    ///
    /// # Errors
    /// [`CliError::Output`] for the first write that failed since the last flush, or
    /// for the flush itself.
    pub fn flush(&mut self) -> Result<(), CliError> {
        if let Some(e) = self.error.take() {
            return Err(CliError::Output(e.to_string()));
        }
        self.writer.flush().map_err(|e| CliError::Output(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_appends_to_a_file() {
        let path = std::env::temp_dir().join(format!("notifyring-cli-test-{}.log", std::process::id()));
        std::fs::write(&path, "before\n").expect("write");
        let mut out = Output::open(Some(&path)).expect("open");
        out.line("one");
        out.line(r#"{"EventID":1000}"#);
        out.flush().expect("flush");
        drop(out);
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(text, "before\none\n{\"EventID\":1000}\n");
        let missing = std::env::temp_dir().join("notifyring-no-such-dir").join("x.log");
        let err = Output::open(Some(&missing)).err().expect("no directory");
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().starts_with("notifyring: writing the output failed: "), "{err}");
    }
}
