//! `[log]`: where log lines go and how many, and the transfer log file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::Validator;

/// `[log]`: where log lines go and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Human-readable or JSON lines (both on stderr).
    pub format: LogFormat,
    /// Least severe level logged.
    pub level: LogLevel,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Coloured (on a terminal) human-readable lines.
    Terminal,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `log.level`, least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Plus things an administrator should look at.
    Warning,
    /// Plus sessions, logins and transfers.
    Info,
    /// Plus every command and reply.
    Debug,
    /// Everything the engine can say.
    Trace,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Terminal, level: LogLevel::Info }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLog {
    format: Option<Spanned<String>>,
    level: Option<Spanned<String>>,
    pub(super) xferlog: Option<Spanned<String>>,
}

impl Validator<'_> {
    /// `log.xferlog`: a file in an existing directory (created at start-up
    /// when missing), never a directory.
    pub(super) fn xferlog(&mut self, value: Spanned<String>, base: &Path) -> Option<PathBuf> {
        let path = base.join(value.get_ref());
        let problem = if value.get_ref().is_empty() {
            "expected a file path such as \"/var/log/oxftpd/xferlog\"".to_string()
        } else if path.is_dir() {
            format!("{} is a directory; expected a file path such as \"/var/log/oxftpd/xferlog\"", path.display())
        } else {
            match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => {
                    format!("{} is not an existing directory; create it for the transfer log", dir.display())
                }
                _ => return Some(path),
            }
        };
        self.error(value.span(), "log.xferlog", problem);
        None
    }

    pub(super) fn log(&mut self, raw: RawLog) -> LogConfig {
        let mut log = LogConfig::default();
        if let Some(format) = raw.format {
            match format.get_ref().as_str() {
                "terminal" => log.format = LogFormat::Terminal,
                "json" => log.format = LogFormat::Json,
                other => self.error(
                    format.span(),
                    "log.format",
                    format!("expected \"terminal\" or \"json\", found {other:?}"),
                ),
            }
        }
        if let Some(level) = raw.level {
            match level.get_ref().as_str() {
                "error" => log.level = LogLevel::Error,
                "warning" | "warn" => log.level = LogLevel::Warning,
                "info" => log.level = LogLevel::Info,
                "debug" => log.level = LogLevel::Debug,
                "trace" => log.level = LogLevel::Trace,
                other => self.error(
                    level.span(),
                    "log.level",
                    format!("expected \"error\", \"warning\", \"info\", \"debug\" or \"trace\", found {other:?}"),
                ),
            }
        }
        log
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, only_error, parse, tree};
    use super::super::*;

    #[test]
    fn log_values_are_checked() {
        let dir = tree();
        let errs = errors(&dir, "[log]\nformat = \"xml\"\nlevel = \"loud\"\n");
        assert_eq!(errs.len(), 2);
        assert_eq!((errs[0].line, errs[0].key.as_deref()), (Some(2), Some("log.format")));
        assert!(errs[0].message.contains("\"terminal\" or \"json\""));
        assert_eq!((errs[1].line, errs[1].key.as_deref()), (Some(3), Some("log.level")));
        let config = parse(&dir, "[log]\nlevel = \"warning\"\n").unwrap();
        assert_eq!(config.log.level, LogLevel::Warning);
    }

    #[test]
    fn xferlog_needs_an_existing_directory() {
        let dir = tree();
        let config = parse(&dir, "[log]\nxferlog = \"xferlog\"\n").unwrap();
        assert_eq!(config.xferlog, Some(dir.path().join("xferlog")));
        assert!(parse(&dir, "").unwrap().xferlog.is_none());
        let (line, key, message) = only_error(&dir, "[log]\nlevel = \"info\"\nxferlog = \"nowhere/xferlog\"\n");
        assert_eq!((line, key.as_deref()), (Some(3), Some("log.xferlog")));
        assert!(message.contains("not an existing directory"), "{message}");
        let (_, key, message) = only_error(&dir, "[log]\nxferlog = \"srv\"\n");
        assert_eq!(key.as_deref(), Some("log.xferlog"));
        assert!(message.contains("is a directory"), "{message}");
    }
}
