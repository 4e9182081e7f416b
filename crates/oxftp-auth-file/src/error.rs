//! Why a users file was refused, with enough position to fix it.

use std::fmt;
use std::path::Path;

use oxftp_diag::Diagnostic;

/// What a users file is called in a diagnostic while its path is unknown.
const KIND: &str = "users file";

/// A users file could not be read or is invalid.
///
/// Displays as `FILE:LINE: KEY: MESSAGE`, leaving out what is unknown (a file
/// given as text has no name; an unreadable file has no line): the
/// [`Diagnostic`] it carries.
#[derive(Debug)]
pub struct UsersFileError {
    // Boxed: errors are rare, and a small `Result` keeps the success path lean.
    diagnostic: Box<Diagnostic>,
    source: Option<std::io::Error>,
}

impl UsersFileError {
    /// An error in the contents, at `line` (1-based) and `key` if known.
    pub(crate) fn invalid(line: Option<usize>, key: Option<String>, message: impl Into<String>) -> Self {
        UsersFileError {
            diagnostic: Box::new(Diagnostic::new(KIND, message).with_line(line).with_key(key)),
            source: None,
        }
    }

    /// The file could not be read at all.
    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        UsersFileError {
            diagnostic: Box::new(
                Diagnostic::new(KIND, format!("cannot read users file: {source}")).with_file(file.to_path_buf()),
            ),
            source: Some(source),
        }
    }

    /// Names the file the error is in (`load` knows it, `from_toml` does not).
    pub(crate) fn in_file(mut self, file: &Path) -> Self {
        self.diagnostic.file = Some(file.to_path_buf());
        self
    }

    /// The users file, when it was loaded from disk.
    pub fn file(&self) -> Option<&Path> {
        self.diagnostic.file.as_deref()
    }

    /// 1-based line of the offending text, when the error has a position.
    pub fn line(&self) -> Option<usize> {
        self.diagnostic.line
    }

    /// Dotted key the error is about (`user.class`), when known.
    pub fn key(&self) -> Option<&str> {
        self.diagnostic.key.as_deref()
    }

    /// What is wrong and what was expected, without the position.
    pub fn message(&self) -> &str {
        &self.diagnostic.message
    }

    /// The whole position and message, as the daemon's config errors carry it.
    pub fn diagnostic(&self) -> &Diagnostic {
        &self.diagnostic
    }
}

impl fmt::Display for UsersFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diagnostic.fmt(f)
    }
}

impl std::error::Error for UsersFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_and_key() {
        let e = UsersFileError::invalid(Some(7), Some("user.class".into()), "expected \"user\" or \"guest\"")
            .in_file(Path::new("/etc/oxftpd/users.toml"));
        assert_eq!(e.to_string(), "/etc/oxftpd/users.toml:7: user.class: expected \"user\" or \"guest\"");
        assert_eq!(e.line(), Some(7));
        assert_eq!(e.key(), Some("user.class"));
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        let e = UsersFileError::invalid(None, None, "bad");
        assert_eq!(e.to_string(), "users file: bad");
        let io = UsersFileError::io(Path::new("u.toml"), std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(io.to_string().starts_with("u.toml: cannot read users file"), "{io}");
        assert!(std::error::Error::source(&io).is_some());
    }
}
