//! Diagnostics for files that people write: the daemon's config file and the
//! users files.
//!
//! One problem is a [`Diagnostic`]: the file, the line (and column, where the
//! parser gives one), the dotted key and what is wrong, displayed as
//! `FILE:LINE: KEY: MESSAGE` so an administrator can go straight to it. The
//! daemon's config loader and both users-file crates report with this one
//! type, so every file reads its problems out the same way.
//!
//! [`line_of`] turns a byte offset into a line; with the `toml` feature,
//! [`key_at`] and [`line_of_unplaced_error`] find the key and line of what a
//! TOML parser reported.
//!
//! This crate depends on no other oxftp crate: every layer may use it.

#![warn(missing_docs)]

use std::fmt;
use std::path::PathBuf;

#[cfg(feature = "toml")]
mod toml_position;

#[cfg(feature = "toml")]
pub use toml_position::{key_at, line_of_unplaced_error};

/// One problem in a file, with as much position as is known.
///
/// Displays as `FILE:LINE:COLUMN: KEY: MESSAGE`, leaving out what is unknown;
/// a diagnostic whose file has no path yet (text given directly) starts with
/// [`kind`](Diagnostic::kind) instead (`config: server.listen: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The file the problem is in, when it is known.
    pub file: Option<PathBuf>,
    /// 1-based line, when the problem has a position.
    pub line: Option<usize>,
    /// 1-based column on that line, when the parser gives one.
    pub column: Option<usize>,
    /// Dotted key (`server.listen`, `user.class`), or the command-line
    /// option, the problem is about.
    pub key: Option<String>,
    /// What is wrong and what was expected, without the position.
    pub message: String,
    /// What the file is (`"config"`, `"users file"`): shown in place of its
    /// path while the path is unknown.
    pub kind: &'static str,
}

impl Diagnostic {
    /// A problem described by `message` in a file of `kind`, with no
    /// position yet.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { file: None, line: None, column: None, key: None, message: message.into(), kind }
    }

    /// Sets the file the problem is in.
    #[must_use]
    pub fn with_file(mut self, file: impl Into<Option<PathBuf>>) -> Self {
        self.file = file.into();
        self
    }

    /// Sets the 1-based line.
    #[must_use]
    pub fn with_line(mut self, line: impl Into<Option<usize>>) -> Self {
        self.line = line.into();
        self
    }

    /// Sets the 1-based column.
    #[must_use]
    pub fn with_column(mut self, column: impl Into<Option<usize>>) -> Self {
        self.column = column.into();
        self
    }

    /// Sets the dotted key the problem is about.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Option<String>>) -> Self {
        self.key = key.into();
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str(self.kind)?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// 1-based line number of byte `offset` in `text` (offsets past the end
/// count as the last line). `text` may be bytes that are not UTF-8 (the line
/// of the first invalid byte of a file).
pub fn line_of(text: impl AsRef<[u8]>, offset: usize) -> usize {
    let text = text.as_ref();
    let end = offset.min(text.len());
    // Count on bytes: an offset inside a multi-byte character still lands on
    // the right line, and slicing `str` there would panic.
    text.get(..end).map_or(0, |head| head.iter().filter(|&&b| b == b'\n').count()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_key() {
        let d = Diagnostic::new("users file", "expected \"user\" or \"guest\"")
            .with_file(PathBuf::from("/etc/oxftpd/users.toml"))
            .with_line(7)
            .with_key("user.class".to_string());
        assert_eq!(d.to_string(), "/etc/oxftpd/users.toml:7: user.class: expected \"user\" or \"guest\"");
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        assert_eq!(Diagnostic::new("config", "bad").to_string(), "config: bad");
        let d = Diagnostic::new("config", "bad").with_key("--root".to_string());
        assert_eq!(d.to_string(), "config: --root: bad");
        // A column without a line says nothing on its own.
        assert_eq!(Diagnostic::new("users file", "bad").with_column(4).to_string(), "users file: bad");
        let d = Diagnostic::new("users file", "bad").with_file(PathBuf::from("u.json")).with_line(2).with_column(3);
        assert_eq!(d.to_string(), "u.json:2:3: bad");
    }

    #[test]
    fn lines_are_one_based_and_clamped() {
        let text = "a = 1\nb = 2\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 5), 1);
        assert_eq!(line_of(text, 6), 2);
        assert_eq!(line_of(text, 1000), 3);
        assert_eq!(line_of("", 0), 1);
    }

    #[test]
    fn offsets_inside_a_character_count_on_its_line() {
        assert_eq!(line_of("é\né", 1), 1);
        assert_eq!(line_of("é\né", 4), 2);
        assert_eq!(line_of(b"a\n\xff", 2), 2);
    }
}
