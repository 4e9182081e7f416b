//! The daemon's logger: terminal or JSON lines on stderr, filtered by level.
//!
//! stdout is kept for the few lines scripts parse (`oxftpd listening on
//! ADDR`), so logs never mix with them. Records go through slog-async: a
//! session never blocks on a slow stderr, and the bounded channel drops (and
//! counts) records rather than growing when stderr cannot keep up.

use std::fmt::Write as _;

use slog::{BorrowedKV, Drain, Key, Level, Logger, OwnedKV, OwnedKVList, Record, RecordStatic, o};

use crate::config::{LogConfig, LogFormat, LogLevel};

/// Log records queued for the writer thread before new ones are dropped.
const QUEUE_LEN: usize = 4096;

/// A logger and the guard that flushes it: keep the guard alive until exit.
pub struct Logging {
    /// The root logger handed to the engine.
    pub logger: Logger,
    /// Dropping it waits for queued records to be written (hence held, never read).
    _guard: slog_async::AsyncGuard,
}

/// Builds the logger `config` asks for.
pub fn logger(config: &LogConfig) -> Logging {
    let level = slog_level(config.level);
    let (drain, guard) = match config.format {
        LogFormat::Terminal => {
            let decorator = slog_term::TermDecorator::new().stderr().build();
            let format = Printable(slog_term::FullFormat::new(decorator).build().fuse());
            asynchronous(format.filter_level(level).fuse())
        }
        LogFormat::Json => {
            let json = slog_json::Json::new(std::io::stderr()).add_default_keys().build().fuse();
            asynchronous(json.filter_level(level).fuse())
        }
    };
    // Filtered again in front of the queue: a record below the level (a
    // command at debug, with the log at info) is dropped before slog-async
    // copies its values, so a quiet log costs a session nothing per command.
    let logger = Logger::root(drain.filter_level(level).fuse(), o!("daemon" => "oxftpd"));
    Logging { logger, _guard: guard }
}

/// Moves formatting and writing to slog-async's thread.
fn asynchronous<D>(drain: D) -> (slog_async::Async, slog_async::AsyncGuard)
where
    D: Drain<Ok = (), Err = slog::Never> + Send + 'static,
{
    slog_async::Async::new(drain).chan_size(QUEUE_LEN).thread_name("oxftpd-log".into()).build_with_guard()
}

/// A terminal drain that writes every control character of a record (its
/// message, its values and the logger's context) as an escape such as
/// `\x1b`. User names, anonymous passwords and paths come from clients and
/// reach the log as they are: raw, an escape sequence in one would repaint
/// the operator's terminal, and a backspace or a newline (SFTP paths may
/// hold one) would hide text or forge a log line. JSON lines escape them
/// already.
struct Printable<D>(D);

/// The key-value pairs of a record, made printable, in the order they came.
#[derive(Default)]
struct Collected(Vec<(Key, String)>);

impl slog::Serializer for Collected {
    fn emit_arguments(&mut self, key: Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        self.0.push((key, printable(&val.to_string())));
        Ok(())
    }
}

impl slog::KV for Collected {
    fn serialize(&self, _: &Record<'_>, serializer: &mut dyn slog::Serializer) -> slog::Result {
        for (key, value) in &self.0 {
            serializer.emit_str(key, value)?;
        }
        Ok(())
    }
}

impl<D: Drain> Drain for Printable<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        let mut own = Collected::default();
        let _ = slog::KV::serialize(&record.kv(), record, &mut own);
        let mut context = Collected::default();
        let _ = slog::KV::serialize(values, record, &mut context);
        let message = printable(&record.msg().to_string());
        let statics = RecordStatic { location: record.location(), tag: record.tag(), level: record.level() };
        let context = OwnedKVList::from(OwnedKV(context));
        self.0.log(&Record::new(&statics, &format_args!("{message}"), BorrowedKV(&own)), &context)
    }
}

/// `text` with control characters (Unicode's Cc: C0, DEL and C1) written as `\xNN`.
fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// The slog level for a configured level.
pub fn slog_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Error => Level::Error,
        LogLevel::Warning => Level::Warning,
        LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
        LogLevel::Trace => Level::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_in_order() {
        let levels = [LogLevel::Error, LogLevel::Warning, LogLevel::Info, LogLevel::Debug, LogLevel::Trace];
        let mapped: Vec<Level> = levels.iter().map(|l| slog_level(*l)).collect();
        assert_eq!(mapped, vec![Level::Error, Level::Warning, Level::Info, Level::Debug, Level::Trace]);
        // slog orders from most to least severe; "at least as severe as info"
        // must keep errors and drop debug.
        assert!(Level::Error.is_at_least(slog_level(LogLevel::Info)));
        assert!(!Level::Debug.is_at_least(slog_level(LogLevel::Info)));
    }

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn terminal_lines_escape_control_characters_from_clients() {
        let out = Shared::default();
        let decorator = slog_term::PlainSyncDecorator::new(out.clone());
        let drain = Printable(slog_term::FullFormat::new(decorator).build().fuse()).fuse();
        let root = Logger::root(drain, o!("peer" => "127.0.0.1:1"));
        let session = root.new(o!("user" => "evil\x1b[2J\x08\x08name"));
        slog::warn!(session, "login failed {}", "\x07"; "password" => "mail\x1b[31m\x0bx@y", "path" => "/a\nFAKE LINE", "n" => 7);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "one record, one line: {text:?}");
        assert!(!text.trim_end().chars().any(char::is_control), "{text:?}");
        for escaped in [
            "login failed \\x07",
            "user: evil\\x1b[2J\\x08\\x08name",
            "password: mail\\x1b[31m\\x0bx@y",
            "path: /a\\x0aFAKE LINE",
            "n: 7",
            "peer: 127.0.0.1:1",
        ] {
            assert!(text.contains(escaped), "{escaped:?} missing from {text:?}");
        }
        assert_eq!(printable("caf\u{e9} \u{85}\u{9b}"), "caf\u{e9} \\x85\\x9b");
        assert_eq!(printable("\u{2028}ok"), "\u{2028}ok", "only control characters (Cc) are escaped");
    }

    #[test]
    fn both_formats_build_and_flush() {
        for format in [LogFormat::Terminal, LogFormat::Json] {
            let logging = logger(&LogConfig { format, level: LogLevel::Debug });
            slog::info!(logging.logger, "logging test"; "format" => ?format);
            drop(logging);
        }
    }
}
