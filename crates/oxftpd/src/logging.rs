//! The daemon's logger: terminal or JSON lines on stderr, filtered by level.
//!
//! stdout is kept for the few lines scripts parse (`oxftpd listening on
//! ADDR`), so logs never mix with them. Records go through slog-async: a
//! session never blocks on a slow stderr, and the bounded channel drops (and
//! counts) records rather than growing when stderr cannot keep up.

use slog::{Drain, Level, Logger, o};

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
            let format = slog_term::FullFormat::new(decorator).build().fuse();
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

    #[test]
    fn both_formats_build_and_flush() {
        for format in [LogFormat::Terminal, LogFormat::Json] {
            let logging = logger(&LogConfig { format, level: LogLevel::Debug });
            slog::info!(logging.logger, "logging test"; "format" => ?format);
            drop(logging);
        }
    }
}
