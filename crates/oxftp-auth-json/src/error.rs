//! Why a JSON users file was refused, with the position serde_json reported.

use std::fmt;
use std::path::Path;

use oxftp_diag::Diagnostic;

/// What a users file is called in a diagnostic while its path is unknown.
const KIND: &str = "users file";

/// A JSON users file could not be read or is invalid.
///
/// Displays as `FILE:LINE:COLUMN: MESSAGE`, leaving out what is unknown (text
/// given directly has no file name; an unreadable file has no position): the
/// [`Diagnostic`] it carries.
#[derive(Debug)]
pub struct JsonUsersError {
    // Boxed: errors are rare, and a small `Result` keeps the success path lean.
    diagnostic: Box<Diagnostic>,
    source: Option<std::io::Error>,
}

impl JsonUsersError {
    /// An error in the contents at a 1-based position, when known.
    pub(crate) fn invalid(line: Option<usize>, column: Option<usize>, message: impl Into<String>) -> Self {
        JsonUsersError {
            diagnostic: Box::new(Diagnostic::new(KIND, message).with_line(line).with_column(column)),
            source: None,
        }
    }

    /// Converts serde_json's error, keeping its position apart from its text
    /// so the position is printed once, in the `FILE:LINE:COLUMN` form.
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        let text = e.to_string();
        if e.line() == 0 {
            return JsonUsersError::invalid(None, None, text);
        }
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
        JsonUsersError::invalid(Some(e.line()), Some(e.column()), message)
    }

    /// The file could not be read at all.
    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        JsonUsersError {
            diagnostic: Box::new(
                Diagnostic::new(KIND, format!("cannot read users file: {source}")).with_file(file.to_path_buf()),
            ),
            source: Some(source),
        }
    }

    /// Names the file the error is in (`load` knows it, `from_json` does not).
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

    /// 1-based column of the offending text, when the error has a position.
    pub fn column(&self) -> Option<usize> {
        self.diagnostic.column
    }

    /// What is wrong and what was expected, without the position.
    pub fn message(&self) -> &str {
        &self.diagnostic.message
    }

    /// The whole position and message.
    pub fn diagnostic(&self) -> &Diagnostic {
        &self.diagnostic
    }
}

impl fmt::Display for JsonUsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diagnostic.fmt(f)
    }
}

impl std::error::Error for JsonUsersError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_position_is_split_from_the_message() {
        let e = serde_json::from_str::<Vec<u32>>("[1,\n  x]").unwrap_err();
        let ours = JsonUsersError::from_json(&e).in_file(Path::new("/etc/oxftpd/users.json"));
        assert_eq!((ours.line(), ours.column()), (Some(2), Some(3)));
        assert!(!ours.message().contains("line"), "{}", ours.message());
        assert_eq!(ours.to_string(), format!("/etc/oxftpd/users.json:2:3: {}", ours.message()));
    }

    #[test]
    fn display_leaves_out_what_is_unknown() {
        assert_eq!(JsonUsersError::invalid(None, None, "bad").to_string(), "users file: bad");
        let io = JsonUsersError::io(Path::new("u.json"), std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(io.to_string().starts_with("u.json: cannot read users file"), "{io}");
        assert_eq!((io.line(), io.column()), (None, None));
        assert!(std::error::Error::source(&io).is_some());
    }
}
